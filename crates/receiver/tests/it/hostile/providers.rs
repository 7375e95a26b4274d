//! The providers the test's receiver is configured with, and deliveries signed as each of them
//! signs: the genuine article the corpus forges, cuts and replays.

use domain::provider::Preset;
use domain::signature;
use rand::rngs::SmallRng;
use rand::Rng;
use serde_json::json;

use super::request::Draft;

pub struct Provider {
    pub name: &'static str,
    pub preset: Preset,
    /// The environment variable holding the secret, and the secret; `None`: unsigned.
    pub secret: Option<(&'static str, &'static str)>,
}

/// The signed providers, then the unsigned one (`OPEN`).
pub static PROVIDERS: [Provider; 6] = [
    signed(
        "generic",
        Preset::Generic,
        "HOSTILE_GENERIC",
        "generic-secret-7c1d",
    ),
    signed(
        "paystack",
        Preset::Paystack,
        "HOSTILE_PAYSTACK",
        "sk_test_hostile_3e4f",
    ),
    signed(
        "stripe",
        Preset::Stripe,
        "HOSTILE_STRIPE",
        "whsec_hostile_stripe_9a0b",
    ),
    signed(
        "standard",
        Preset::StandardWebhooks,
        "HOSTILE_STANDARD",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    ),
    signed(
        "flutterwave",
        Preset::Flutterwave,
        "HOSTILE_FLUTTERWAVE",
        "flw-hash-5b6c",
    ),
    Provider {
        name: "open",
        preset: Preset::Generic,
        secret: None,
    },
];
/// The index of `open` in `PROVIDERS`, which takes unsigned deliveries.
pub const OPEN: usize = 5;

const fn signed(
    name: &'static str,
    preset: Preset,
    env: &'static str,
    secret: &'static str,
) -> Provider {
    Provider {
        name,
        preset,
        secret: Some((env, secret)),
    }
}

/// A secret of the right shape that is not the configured one (Standard Webhooks needs base64).
pub const FORGED_STANDARD: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

/// An accepted delivery whose answer and row are checked.
#[derive(Debug, Clone)]
pub struct Event {
    pub provider: &'static str,
    /// The event id the answer must carry (for Standard Webhooks, the signed `webhook-id`).
    pub event_id: String,
    /// The request_ref in the payload; the answer carries it only up to `corpus::MAX_KEY_LEN` bytes.
    pub request_ref: String,
    /// Set for the replay pool: which of its deliveries this is.
    pub replay: Option<usize>,
}

/// A signed event of `provider` with an event id and a request_ref of about the given lengths
/// (0: short), and what its answer must say.
pub fn delivery(
    provider: &'static Provider,
    tag: &str,
    id_len: usize,
    ref_len: usize,
    at: i64,
) -> (Draft, Event) {
    let id = padded(&format!("evt-{tag}-"), id_len);
    let reference = padded(&format!("ref-{tag}-"), ref_len);
    let body = event_body(provider.preset, &id, &reference);
    let mut draft = Draft::post(provider.name, body);
    draft.headers_from(sign(provider, None, &draft.body, at, Some(&id)));
    let event_id = match provider.preset {
        Preset::Paystack => format!("charge.success:{id}"),
        Preset::Flutterwave => format!("charge.completed:{id}:successful"),
        _ => id,
    };
    let event = Event {
        provider: provider.name,
        event_id,
        request_ref: reference,
        replay: None,
    };
    (draft, event)
}

fn padded(prefix: &str, len: usize) -> String {
    let mut text = prefix.to_owned();
    while text.len() < len {
        text.push(char::from(b'a' + (text.len() % 26) as u8));
    }
    text
}

/// A payload in the preset's own shape, carrying `id` and `reference` where the preset reads them.
pub fn event_body(preset: Preset, id: &str, reference: &str) -> Vec<u8> {
    let value = match preset {
        Preset::Generic => {
            json!({"event_id": id, "request_ref": reference, "status": "success", "amount": 5000, "currency": "NGN"})
        }
        Preset::Paystack => {
            json!({"event": "charge.success", "data": {"id": id, "reference": reference, "status": "success", "amount": 500000, "currency": "NGN"}})
        }
        Preset::Stripe => {
            json!({"id": id, "type": "payment_intent.succeeded", "data": {"object": {"id": "pi_1", "status": "succeeded", "amount": 5000, "currency": "usd", "metadata": {"request_ref": reference}}}})
        }
        Preset::StandardWebhooks => {
            json!({"type": "payment.succeeded", "request_ref": reference, "status": "success"})
        }
        Preset::Flutterwave => {
            json!({"event": "charge.completed", "data": {"id": id, "tx_ref": reference, "status": "successful", "amount": 50, "currency": "NGN"}})
        }
    };
    serde_json::to_vec(&value).unwrap()
}

/// The headers `provider` would send, signed with its secret or `secret`; none when unsigned.
pub fn sign(
    provider: &Provider,
    secret: Option<&str>,
    body: &[u8],
    at: i64,
    message_id: Option<&str>,
) -> Vec<(String, String)> {
    let Some((_, configured)) = provider.secret else {
        return Vec::new();
    };
    let scheme = provider.preset.scheme();
    let key = scheme.secret(secret.unwrap_or(configured)).unwrap();
    signature::sign(&scheme, &key, body, at, message_id)
}

/// A delivery signed as `provider` signs, with a fresh message id (Standard Webhooks).
pub fn signed_post(provider: &Provider, body: Vec<u8>, at: i64, rng: &mut SmallRng) -> Draft {
    let mut draft = Draft::post(provider.name, body);
    let message_id = format!("msg-{:016x}", rng.random::<u64>());
    draft.headers_from(sign(provider, None, &draft.body, at, Some(&message_id)));
    draft
}
