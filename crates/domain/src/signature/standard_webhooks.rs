//! Standard Webhooks (spec 1.0, also Svix's format): `webhook-id`, `webhook-timestamp` and
//! `webhook-signature` (space-separated `v1,<base64>` entries), HMAC-SHA256 of
//! `{id}.{timestamp}.{body}` keyed with the base64-decoded `whsec_` secret.

use serde::Deserialize;

use super::headers::{present, HeaderLookup};
use super::mac::{self, Encoding, HmacAlgorithm};
use super::{check_tolerance, SignatureError, SigningSecret, Verified, DEFAULT_TOLERANCE_SECS};

const ID: &str = "webhook-id";
const TIMESTAMP: &str = "webhook-timestamp";
const SIGNATURE: &str = "webhook-signature";
/// The symmetric (HMAC) version; `v1a` (ed25519) and unknown versions are ignored.
const VERSION: &str = "v1";

/// Configuration of the `standard-webhooks` scheme.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StandardWebhooksScheme {
    /// Largest accepted distance between `webhook-timestamp` and now, in either direction.
    #[serde(default = "default_tolerance")]
    pub tolerance_secs: u64,
}

fn default_tolerance() -> u64 {
    DEFAULT_TOLERANCE_SECS
}

impl Default for StandardWebhooksScheme {
    fn default() -> Self {
        Self {
            tolerance_secs: DEFAULT_TOLERANCE_SECS,
        }
    }
}

impl StandardWebhooksScheme {
    pub(crate) fn verify<H: HeaderLookup + ?Sized>(
        &self,
        secrets: &[SigningSecret],
        headers: &H,
        body: &[u8],
        now: i64,
    ) -> Result<Verified, SignatureError> {
        let id = present(headers, ID).ok_or_else(|| SignatureError::missing(ID))?;
        let timestamp =
            present(headers, TIMESTAMP).ok_or_else(|| SignatureError::missing(TIMESTAMP))?;
        let value =
            present(headers, SIGNATURE).ok_or_else(|| SignatureError::missing(SIGNATURE))?;

        let signed_at = timestamp
            .parse::<i64>()
            .map_err(|_| SignatureError::malformed("`webhook-timestamp` is not an integer"))?;
        let entries: Vec<&str> = value
            .split_whitespace()
            .filter_map(|entry| entry.split_once(','))
            .filter(|(version, _)| *version == VERSION)
            .map(|(_, signature)| signature)
            .collect();
        if entries.is_empty() {
            return Err(SignatureError::malformed(
                "no `v1,` entry in `webhook-signature`",
            ));
        }
        if entries.len() > mac::MAX_SIGNATURES {
            return Err(SignatureError::malformed(
                "more than 8 `v1,` entries in `webhook-signature`",
            ));
        }
        let candidates: Vec<Vec<u8>> = entries
            .iter()
            .filter_map(|s| Encoding::Base64.decode(s))
            .collect();

        let parts: [&[u8]; 5] = [id.as_bytes(), b".", timestamp.as_bytes(), b".", body];
        let index = mac::first_matching_secret(HmacAlgorithm::Sha256, secrets, &parts, &candidates)
            .ok_or_else(|| SignatureError::no_match(secrets.len()))?;
        check_tolerance(signed_at, now, self.tolerance_secs)?;
        Ok(Verified {
            message_id: Some(id.to_string()),
            signed_at: Some(signed_at),
            secret_index: Some(index),
            signature: Some(value.to_string()),
        })
    }

    pub(crate) fn sign(
        &self,
        secret: &SigningSecret,
        body: &[u8],
        now: i64,
        message_id: Option<&str>,
    ) -> Vec<(String, String)> {
        let id = message_id.map_or_else(|| derived_id(now, body), str::to_string);
        let t = now.to_string();
        let parts: [&[u8]; 5] = [id.as_bytes(), b".", t.as_bytes(), b".", body];
        let tag = mac::tag(HmacAlgorithm::Sha256, secret.key(), &parts);
        vec![
            (ID.to_string(), id),
            (TIMESTAMP.to_string(), t),
            (
                SIGNATURE.to_string(),
                format!("{VERSION},{}", Encoding::Base64.encode(&tag)),
            ),
        ]
    }
}

/// Without a caller-supplied id: `msg_` + 24 hex digits of SHA-256(now || body), stable for
/// the same body and second (a resend of the same message keeps its id) and free of `.`.
fn derived_id(now: i64, body: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(now.to_be_bytes())
        .chain_update(body)
        .finalize();
    format!("msg_{}", hex::encode(&digest[..12]))
}

#[cfg(test)]
mod tests {
    use super::super::{sign, verify, InvalidReason, Scheme};
    use super::*;

    fn scheme() -> Scheme {
        Scheme::StandardWebhooks(StandardWebhooksScheme::default())
    }

    fn key(raw: &str) -> SigningSecret {
        scheme().secret(raw).unwrap()
    }

    /// The specification's test vectors: `TestWebhookSign` in the reference Go library
    /// (libraries/go/webhook_test.go) and `test_sign` in the reference Rust library
    /// (libraries/rust/src/lib.rs) of github.com/standard-webhooks/standard-webhooks.
    const VECTORS: [(&str, &str, i64, &str, &str); 2] = [
        (
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            r#"{"test": 2432232314}"#,
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        ),
        (
            "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            1_649_367_553,
            r#"{"email":"test@example.com","username":"test_user"}"#,
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
        ),
    ];

    #[test]
    fn the_published_test_vectors_sign_and_verify() {
        for (secret, id, t, body, expected) in VECTORS {
            let headers = sign(&scheme(), &key(secret), body.as_bytes(), t, Some(id));
            assert_eq!(headers[2], (SIGNATURE.to_string(), expected.to_string()));

            let received = [
                ("Webhook-Id", id),
                ("Webhook-Timestamp", &t.to_string()),
                ("Webhook-Signature", expected),
            ];
            let verified =
                verify(&scheme(), &[key(secret)], &received, body.as_bytes(), t).unwrap();
            assert_eq!(verified.message_id.as_deref(), Some(id));
            assert_eq!(verified.signed_at, Some(t));
        }
    }

    #[test]
    fn other_versions_and_wrong_v1_entries_are_skipped() {
        let (secret, id, t, body, good) = VECTORS[0];
        let list = format!(
            "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v2,abc= v1a,xyz== v1,%%% {good}"
        );
        let headers = [
            (ID, id),
            (TIMESTAMP, &t.to_string()),
            (SIGNATURE, list.as_str()),
        ];
        assert!(verify(&scheme(), &[key(secret)], &headers, body.as_bytes(), t).is_ok());

        let only_other = [
            (ID, id),
            (TIMESTAMP, &t.to_string()),
            (SIGNATURE, "v1a,hnO3f9T8Ytu9HwrXslvum"),
        ];
        assert_eq!(
            verify(&scheme(), &[key(secret)], &only_other, body.as_bytes(), t),
            Err(SignatureError::malformed(
                "no `v1,` entry in `webhook-signature`"
            ))
        );
    }

    #[test]
    fn more_than_eight_v1_entries_are_refused_before_any_mac() {
        let (secret, id, t, body, good) = VECTORS[0];
        let t_text = t.to_string();
        let list = |junk: usize| format!("{}{good}", "v1,AAAA ".repeat(junk));
        let check = |list: &str| {
            let headers = [(ID, id), (TIMESTAMP, t_text.as_str()), (SIGNATURE, list)];
            verify(&scheme(), &[key(secret)], &headers, body.as_bytes(), t)
        };
        assert!(check(&list(7)).is_ok());
        assert_eq!(
            check(&list(999)),
            Err(SignatureError::malformed(
                "more than 8 `v1,` entries in `webhook-signature`"
            ))
        );
    }

    #[test]
    fn the_timestamp_is_checked_both_ways_after_the_signature() {
        let (secret, id, t, body, good) = VECTORS[0];
        let headers = [(ID, id), (TIMESTAMP, &t.to_string()), (SIGNATURE, good)];
        let at = |now| verify(&scheme(), &[key(secret)], &headers, body.as_bytes(), now);
        assert!(at(t + 300).is_ok());
        assert_eq!(
            at(t + 301).unwrap_err().code(),
            "timestamp_out_of_tolerance"
        );
        assert_eq!(
            at(t - 301).unwrap_err().code(),
            "timestamp_out_of_tolerance"
        );
        let wrong = verify(
            &scheme(),
            &[key("whsec_dGVzdHRlc3R0ZXN0")],
            &headers,
            body.as_bytes(),
            t + 9_999,
        );
        assert_eq!(
            wrong,
            Err(SignatureError::Invalid {
                reason: InvalidReason::NoMatch
            })
        );
    }

    #[test]
    fn each_missing_header_is_named() {
        let (secret, id, t, body, good) = VECTORS[0];
        let t = t.to_string();
        let all = [(ID, id), (TIMESTAMP, t.as_str()), (SIGNATURE, good)];
        for skip in [ID, TIMESTAMP, SIGNATURE] {
            let partial: Vec<_> = all
                .iter()
                .filter(|(name, _)| *name != skip)
                .copied()
                .collect();
            assert_eq!(
                verify(&scheme(), &[key(secret)], &partial, body.as_bytes(), 0),
                Err(SignatureError::missing(skip))
            );
        }
        let bad_time = [(ID, id), (TIMESTAMP, "yesterday"), (SIGNATURE, good)];
        assert_eq!(
            verify(&scheme(), &[key(secret)], &bad_time, body.as_bytes(), 0)
                .unwrap_err()
                .code(),
            "invalid_signature"
        );
    }

    #[test]
    fn a_derived_message_id_is_stable_and_dot_free() {
        let a = sign(&scheme(), &key(VECTORS[0].0), b"{}", 5, None);
        let b = sign(&scheme(), &key(VECTORS[0].0), b"{}", 5, None);
        assert_eq!(a, b);
        assert!(a[0].1.starts_with("msg_") && !a[0].1.contains('.'));
        assert_ne!(
            a[0].1,
            sign(&scheme(), &key(VECTORS[0].0), b"{ }", 5, None)[0].1
        );
    }
}
