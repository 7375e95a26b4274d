//! Target `signature_header`: every scheme against header values it has never seen, and what a
//! sender signs against what a receiver accepts. Input: 17 control bytes, then text lines: the
//! signature header's value, `webhook-id`, `webhook-timestamp`, and the rest is the body.

mod signed;

use super::Choices;
use crate::signature::{
    verify, Encoding, HmacAlgorithm, HmacScheme, InvalidReason, Scheme, SignatureError,
    SigningSecret, StandardWebhooksScheme, StripeScheme, Verified,
};
use signed::{over_the_cap, signed_round_trip, tampered_body};

/// The documented cap on the signatures one header may carry (`signature/mac.rs`).
const MAX_SIGNATURES: usize = 8;
/// The receiver's clock for the raw headers: near the seeds' signed timestamps.
const NOW: i64 = 1_700_000_000;
/// Every header a scheme below reads its signature from; the raw value goes into all of them.
const SIGNATURE_HEADERS: [&str; 7] = [
    "x-paystack-signature",
    "Signature",
    "flutterwave-signature",
    "verif-hash",
    "Stripe-Signature",
    "webhook-signature",
    "X-Hub-Signature-512",
];

fn schemes() -> [Scheme; 8] {
    [
        Scheme::paystack(),
        Scheme::generic(),
        Scheme::flutterwave_signature(),
        Scheme::flutterwave_verif_hash(),
        Scheme::Stripe(StripeScheme::default()),
        Scheme::StandardWebhooks(StandardWebhooksScheme::default()),
        Scheme::None,
        // A configured prefix, base64 and SHA-512: the combination no preset has.
        Scheme::Hmac(HmacScheme {
            algorithm: HmacAlgorithm::Sha512,
            encoding: Encoding::Base64,
            headers: vec!["X-Hub-Signature-512".into()],
            prefix: Some("sha512=".into()),
        }),
    ]
}

/// A configured secret in the form `scheme` expects (Standard Webhooks: `whsec_` + base64).
fn secret_text(scheme: &Scheme, seed: &[u8]) -> String {
    use base64::Engine;
    match scheme {
        Scheme::StandardWebhooks(_) => format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(seed)
        ),
        _ => hex::encode(seed),
    }
}

fn key(scheme: &Scheme, seed: &[u8]) -> SigningSecret {
    match scheme.secret(&secret_text(scheme, seed)) {
        Ok(secret) => secret,
        Err(e) => panic!("a non-empty seed is a valid secret for {scheme:?}: {e}"),
    }
}

fn signs_body(scheme: &Scheme) -> bool {
    !matches!(scheme, Scheme::StaticToken(_) | Scheme::None)
}

fn is_timestamped(scheme: &Scheme) -> bool {
    matches!(scheme, Scheme::Stripe(_) | Scheme::StandardWebhooks(_))
}

fn no_match() -> Result<Verified, SignatureError> {
    Err(SignatureError::Invalid {
        reason: InvalidReason::NoMatch,
    })
}

pub fn signature_header(data: &[u8]) {
    let mut choices = Choices::new(data);
    let pick = usize::from(choices.byte());
    let now = choices.i64();
    let skew = choices.i16();
    let junk = usize::from(choices.byte() % 12);
    let flip_at = usize::from(choices.u16());
    let flip_bits = choices.byte();
    let seed: [u8; 2] = choices.bytes();
    let mut lines = choices.rest().splitn(4, |&b| b == b'\n');
    let mut line = || String::from_utf8_lossy(lines.next().unwrap_or_default()).into_owned();
    let (value, id, timestamp) = (line(), line(), line());
    let body = lines.next().unwrap_or_default();

    for scheme in schemes() {
        unknown_header(&scheme, &value, &id, &timestamp, body);
    }
    let scheme = &schemes()[pick % 8];
    let seed = [seed[0], seed[1], 0x5a];
    signed_round_trip(scheme, &seed, body, now, skew);
    tampered_body(scheme, &seed, body, now, flip_at, flip_bits);
    if is_timestamped(scheme) {
        over_the_cap(scheme, &seed, body, now, junk, flip_bits & 1 == 1);
    }
}

/// A header the fuzzer wrote, checked with a secret it does not know: blank is `Missing`, more
/// signatures than the cap are refused before any MAC, and acceptance (or a stale timestamp,
/// which is only said of a matching signature) depends on both the secret and the body.
fn unknown_header(scheme: &Scheme, value: &str, id: &str, timestamp: &str, body: &[u8]) {
    let mut headers: Vec<(&str, &str)> = SIGNATURE_HEADERS.iter().map(|h| (*h, value)).collect();
    headers.extend([("webhook-id", id), ("webhook-timestamp", timestamp)]);
    let secret = key(scheme, b"fuzz-fixed-secret");
    let outcome = verify(scheme, std::slice::from_ref(&secret), &headers, body, NOW);

    let blank = |v: &str| v.trim().is_empty();
    let missing = match scheme {
        Scheme::None => false,
        Scheme::StandardWebhooks(_) => blank(id) || blank(timestamp) || blank(value),
        _ => blank(value),
    };
    assert_eq!(
        matches!(outcome, Err(SignatureError::Missing { .. })),
        missing,
        "{scheme:?}: {outcome:?}"
    );
    if !missing && signatures_in(scheme, value.trim()) > MAX_SIGNATURES {
        assert!(
            matches!(
                outcome,
                Err(SignatureError::Invalid {
                    reason: InvalidReason::Malformed(_)
                })
            ),
            "{scheme:?} took a header over the cap: {outcome:?}"
        );
    }
    match scheme {
        Scheme::None => assert_eq!(outcome, Ok(Verified::default())),
        Scheme::StaticToken(_) => {
            let expected = secret_text(scheme, b"fuzz-fixed-secret");
            assert_eq!(outcome.is_ok(), value.trim() == expected, "{outcome:?}");
        }
        _ => {
            let matched = matches!(
                outcome,
                Ok(_) | Err(SignatureError::TimestampOutOfTolerance { .. })
            );
            if matched {
                let other = key(scheme, b"another-secret");
                let with_other = verify(scheme, &[other], &headers, body, NOW);
                assert_eq!(with_other, no_match(), "{scheme:?} ignores the secret");
                let longer = [body, b" "].concat();
                let with_longer = verify(scheme, &[secret], &headers, &longer, NOW);
                assert_eq!(with_longer, no_match(), "{scheme:?} ignores the body");
            }
        }
    }
}

/// How many signatures the documented header format counts in `value` (already trimmed).
fn signatures_in(scheme: &Scheme, value: &str) -> usize {
    match scheme {
        Scheme::Stripe(_) => value
            .split(',')
            .filter_map(|item| item.split_once('='))
            .filter(|(key, _)| key.trim() == "v1")
            .count(),
        Scheme::StandardWebhooks(_) => value
            .split_whitespace()
            .filter(|entry| entry.split_once(',').is_some_and(|(v, _)| v == "v1"))
            .count(),
        _ => 1,
    }
}
