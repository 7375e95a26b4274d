//! Provider presets: for each provider we know, how it signs (a signature `Scheme`) and where its
//! payload keeps the event id, the merchant's reference (our request_ref), its own reference, the
//! status, amount and currency. Sources per provider: docs/providers.md.

use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::amount_check::AmountCheck;
use crate::extract::{Extracted, FieldMap, FieldPath};
use crate::money::Unit;
use crate::outcomes::OutcomeTable;
use crate::signature::{Scheme, Verified};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    Paystack,
    Flutterwave,
    Stripe,
    StandardWebhooks,
    Generic,
}

impl Preset {
    pub const ALL: [Preset; 5] = [
        Preset::Paystack,
        Preset::Flutterwave,
        Preset::Stripe,
        Preset::StandardWebhooks,
        Preset::Generic,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Preset::Paystack => "paystack",
            Preset::Flutterwave => "flutterwave",
            Preset::Stripe => "stripe",
            Preset::StandardWebhooks => "standard-webhooks",
            Preset::Generic => "generic",
        }
    }

    /// The provider's documented signature scheme (configuration may replace it).
    pub fn scheme(self) -> Scheme {
        match self {
            Preset::Paystack => Scheme::paystack(),
            Preset::Flutterwave => Scheme::flutterwave_verif_hash(),
            Preset::Stripe => Scheme::from_name("stripe").unwrap_or(Scheme::None),
            Preset::StandardWebhooks => {
                Scheme::from_name("standard-webhooks").unwrap_or(Scheme::None)
            }
            Preset::Generic => Scheme::generic(),
        }
    }

    pub fn payload(self) -> PayloadProfile {
        let paths = |list: &[&str]| -> Vec<FieldPath> {
            list.iter()
                .filter_map(|p| FieldPath::parse(p).ok())
                .collect()
        };
        match self {
            // Paystack sends no event id; a transaction reaches one outcome once, and a retried
            // delivery repeats its body, so (event type, transaction id) identifies the event.
            Preset::Paystack => PayloadProfile {
                fields: FieldMap {
                    event_id: Vec::new(),
                    request_ref: paths(&["data.reference"]),
                    status: paths(&["data.status"]),
                    provider_ref: paths(&["data.id"]),
                    amount: paths(&["data.amount"]),
                    currency: paths(&["data.currency"]),
                },
                event_id: EventIdRule::Composite(paths(&["event", "data.id"])),
                outcomes: Some(OutcomeTable::Paystack),
                // Subunits: kobo, pesewas, cents.
                amount_unit: Unit::Minor,
                amount_check: AmountCheck::Strict,
            },
            // `charge.completed` carries success and failure alike, so the status is part of the
            // identity: a later status of the same transaction is a new event.
            Preset::Flutterwave => PayloadProfile {
                fields: FieldMap {
                    event_id: Vec::new(),
                    request_ref: paths(&["data.tx_ref", "txRef", "data.reference"]),
                    status: paths(&["data.status", "status"]),
                    provider_ref: paths(&["data.flw_ref", "flwRef", "data.id"]),
                    amount: paths(&["data.amount", "amount"]),
                    currency: paths(&["data.currency", "currency"]),
                },
                event_id: EventIdRule::Composite(paths(&["event", "data.id", "data.status"])),
                outcomes: Some(OutcomeTable::Flutterwave),
                amount_unit: Unit::Major,
                amount_check: AmountCheck::Strict,
            },
            Preset::Stripe => PayloadProfile {
                fields: FieldMap {
                    event_id: paths(&["id"]),
                    request_ref: paths(&[
                        "data.object.metadata.request_ref",
                        "data.object.metadata.requestRef",
                        "data.object.client_reference_id",
                    ]),
                    status: paths(&["data.object.status"]),
                    provider_ref: paths(&["data.object.id"]),
                    // A Checkout Session's total, else a PaymentIntent's or a Charge's amount.
                    amount: paths(&["data.object.amount_total", "data.object.amount"]),
                    currency: paths(&["data.object.currency"]),
                },
                event_id: EventIdRule::Fields,
                outcomes: Some(OutcomeTable::Stripe),
                // The smallest unit, which for zero-decimal currencies (JPY) is the unit itself:
                // the ISO 4217 exponent says which, except where Stripe keeps its own (ISK and UGX
                // in hundredths: Stripe "Supported currencies", "Special cases").
                amount_unit: Unit::MinorExcept(&[("ISK", 2), ("UGX", 2)]),
                amount_check: AmountCheck::Strict,
            },
            Preset::StandardWebhooks => PayloadProfile {
                fields: FieldMap {
                    event_id: Vec::new(),
                    ..FieldMap::generic()
                },
                event_id: EventIdRule::SignedMessageId,
                outcomes: None,
                amount_unit: Unit::Major,
                amount_check: AmountCheck::WhenPresent,
            },
            Preset::Generic => PayloadProfile {
                fields: FieldMap::generic(),
                event_id: EventIdRule::Fields,
                outcomes: None,
                amount_unit: Unit::Major,
                amount_check: AmountCheck::WhenPresent,
            },
        }
    }
}

/// Where an event's id comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventIdRule {
    /// The `event_id` paths of the field map.
    Fields,
    /// The message id the signature scheme signed (Standard Webhooks `webhook-id`).
    SignedMessageId,
    /// Several values joined with `:`; all must be present, else there is no id.
    Composite(Vec<FieldPath>),
}

/// How to read one provider's payloads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadProfile {
    pub fields: FieldMap,
    pub event_id: EventIdRule,
    /// What each event type means for the payment; `None`: the status word alone decides.
    pub outcomes: Option<OutcomeTable>,
    /// The unit of the provider's amounts.
    pub amount_unit: Unit,
    /// How strictly its successes' amounts are checked (configuration may change it).
    pub amount_check: AmountCheck,
}

impl PayloadProfile {
    /// Everything the receiver and the processor need from one verified delivery.
    pub fn read(&self, payload: &Value, verified: &Verified) -> Extracted {
        let mut extracted = self.fields.extract(payload);
        extracted.event_id = match &self.event_id {
            EventIdRule::Fields => extracted.event_id,
            EventIdRule::SignedMessageId => verified.message_id.clone(),
            EventIdRule::Composite(parts) => composite(payload, parts),
        };
        extracted
    }
}

fn composite(payload: &Value, parts: &[FieldPath]) -> Option<String> {
    let values: Option<Vec<String>> = parts
        .iter()
        .map(|part| {
            FieldMap {
                event_id: vec![part.clone()],
                ..FieldMap::default()
            }
            .extract(payload)
            .event_id
        })
        .collect();
    values.map(|v| v.join(":"))
}

/// The longest event id or request_ref (in bytes) used as it is in an indexed column. PostgreSQL's
/// B-tree refuses entries over about 2.7 KB, and a refused insert must never look like an outage
/// (a 503 the provider retries for ever): a longer event id is deduplicated by its hash, a longer
/// request_ref is left to the processor, which fails the event with the reason.
pub const MAX_KEY_LEN: usize = 1024;

/// The deduplication key: the event id when there is one (`sha256-id:` + hex of its hash when it
/// is longer than `MAX_KEY_LEN`), else `sha256:` + hex of the raw body (a byte-identical
/// redelivery is then still recognised).
pub fn dedup_key(event_id: Option<&str>, body: &[u8]) -> String {
    match event_id {
        Some(id) if id.len() <= MAX_KEY_LEN => id.to_owned(),
        Some(id) => format!("sha256-id:{}", hex::encode(Sha256::digest(id.as_bytes()))),
        None => format!("sha256:{}", hex::encode(Sha256::digest(body))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CollectionStatus;
    use serde_json::json;

    fn read(preset: Preset, payload: Value) -> Extracted {
        preset.payload().read(&payload, &Verified::default())
    }

    #[test]
    fn paystack_charges_of_different_transactions_are_different_events() {
        let charge = |id: u64, reference: &str| {
            json!({"event": "charge.success", "data": {"id": id, "status": "success",
                   "reference": reference, "amount": 1000, "currency": "KES"}})
        };
        let a = read(Preset::Paystack, charge(519558290, "uybxnzf71231"));
        let b = read(Preset::Paystack, charge(519558291, "other-ref"));
        assert_eq!(a.event_id.as_deref(), Some("charge.success:519558290"));
        assert_ne!(a.event_id, b.event_id);
        assert_eq!(a.request_ref.as_deref(), Some("uybxnzf71231"));
        assert_eq!(a.provider_ref.as_deref(), Some("519558290"));
        assert_eq!(a.amount.as_deref(), Some("1000"));
        assert_eq!(a.currency.as_deref(), Some("KES"));
        assert_eq!(
            CollectionStatus::normalise(a.status.as_deref().unwrap()),
            Ok(CollectionStatus::Success)
        );
    }

    #[test]
    fn composite_ids_need_every_part() {
        let no_id = read(
            Preset::Paystack,
            json!({"event": "charge.success", "data": {}}),
        );
        assert_eq!(no_id.event_id, None);
    }

    #[test]
    fn flutterwave_status_is_part_of_the_identity() {
        let event = |status: &str| {
            json!({"event": "charge.completed", "data": {"id": 285959875, "tx_ref": "Links-616626414629",
                   "flw_ref": "PeterEkene/FLW270177170", "amount": 100, "currency": "NGN", "status": status}})
        };
        let pending = read(Preset::Flutterwave, event("pending"));
        let done = read(Preset::Flutterwave, event("successful"));
        assert_ne!(pending.event_id, done.event_id);
        assert_eq!(done.request_ref.as_deref(), Some("Links-616626414629"));
        assert_eq!(
            done.provider_ref.as_deref(),
            Some("PeterEkene/FLW270177170")
        );
        assert_eq!(
            CollectionStatus::normalise(done.status.as_deref().unwrap()),
            Ok(CollectionStatus::Success)
        );
    }

    #[test]
    fn stripe_fields_come_from_the_event_object() {
        let failed = read(
            Preset::Stripe,
            json!({"id": "evt_1", "type": "payment_intent.payment_failed",
                   "data": {"object": {"id": "pi_1", "status": "requires_payment_method",
                   "amount": 2000, "currency": "usd", "metadata": {"request_ref": "REQ-9"}}}}),
        );
        assert_eq!(failed.event_id.as_deref(), Some("evt_1"));
        assert_eq!(failed.request_ref.as_deref(), Some("REQ-9"));
        assert_eq!(failed.provider_ref.as_deref(), Some("pi_1"));
        assert_eq!(failed.amount.as_deref(), Some("2000"));
        assert_eq!(failed.currency.as_deref(), Some("USD"));
        // A Checkout Session has a total instead of an amount.
        let session = read(
            Preset::Stripe,
            json!({"id": "evt_2", "type": "checkout.session.completed",
                   "data": {"object": {"id": "cs_1", "amount_total": 5000, "currency": "usd",
                   "client_reference_id": "REQ-10"}}}),
        );
        assert_eq!(session.amount.as_deref(), Some("5000"));
        assert_eq!(session.request_ref.as_deref(), Some("REQ-10"));
    }

    #[test]
    fn standard_webhooks_id_is_the_signed_message_id() {
        let verified = Verified {
            message_id: Some("msg_p5jXN8AQM9LWM0D4loKWxJek".into()),
            ..Verified::default()
        };
        let payload = json!({"type": "payment.updated", "id": "not-this",
                             "data": {"request_ref": "REQ-1", "status": "paid"}});
        let extracted = Preset::StandardWebhooks.payload().read(&payload, &verified);
        assert_eq!(
            extracted.event_id.as_deref(),
            Some("msg_p5jXN8AQM9LWM0D4loKWxJek")
        );
        assert_eq!(extracted.request_ref.as_deref(), Some("REQ-1"));
        assert_eq!(extracted.status.as_deref(), Some("paid"));
    }

    #[test]
    fn dedup_key_is_the_event_id_or_the_body_hash() {
        assert_eq!(dedup_key(Some("evt_1"), b"{}"), "evt_1");
        let long = "e".repeat(MAX_KEY_LEN + 1);
        let key = dedup_key(Some(&long), b"{}");
        assert!(
            key.starts_with("sha256-id:") && key.len() == 10 + 64,
            "{key}"
        );
        assert_eq!(
            key,
            dedup_key(Some(&long), b"other body"),
            "the id decides, not the body"
        );
        assert_eq!(dedup_key(Some(&long[1..]), b"{}"), long[1..]);
        assert_eq!(
            dedup_key(None, b"{}"),
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
    }

    #[test]
    fn every_preset_has_a_signed_scheme() {
        for preset in Preset::ALL {
            assert!(preset.scheme().requires_secret(), "{}", preset.name());
        }
    }
}
