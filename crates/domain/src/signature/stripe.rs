//! Stripe's scheme: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]`, HMAC-SHA256 (hex) of
//! `{t}.{raw body}` keyed with the whole `whsec_...` string. Only `v1` counts (`v0` and unknown
//! schemes are ignored, against downgrades); several `v1` appear while a secret is rolled.

use serde::Deserialize;

use super::headers::{present, HeaderLookup};
use super::mac::{self, Encoding, HmacAlgorithm};
use super::{check_tolerance, SignatureError, SigningSecret, Verified, DEFAULT_TOLERANCE_SECS};

pub(crate) const HEADER: &str = "Stripe-Signature";

/// Configuration of the `stripe` scheme.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StripeScheme {
    /// Largest accepted distance between the signed `t` and now, in either direction.
    #[serde(default = "default_tolerance")]
    pub tolerance_secs: u64,
}

fn default_tolerance() -> u64 {
    DEFAULT_TOLERANCE_SECS
}

impl Default for StripeScheme {
    fn default() -> Self {
        Self {
            tolerance_secs: DEFAULT_TOLERANCE_SECS,
        }
    }
}

/// The parts of the header that matter: the timestamp as sent (it is signed as text) and
/// every `v1` signature that decodes as hex.
struct Parsed<'a> {
    timestamp: &'a str,
    signed_at: i64,
    v1: Vec<Vec<u8>>,
}

fn parse(value: &str) -> Result<Parsed<'_>, SignatureError> {
    let mut timestamp = None;
    let mut v1 = Vec::new();
    let mut v1_entries = 0;
    for (key, val) in value.split(',').filter_map(|item| item.split_once('=')) {
        match key.trim() {
            "t" if timestamp.is_some() => {
                return Err(SignatureError::malformed("more than one `t`"))
            }
            "t" => timestamp = Some(val.trim()),
            "v1" if v1_entries == mac::MAX_SIGNATURES => {
                return Err(SignatureError::malformed("more than 8 `v1` signatures"))
            }
            "v1" => {
                v1_entries += 1;
                // A v1 that is not hex cannot match; it must not hide the other v1 values.
                v1.extend(Encoding::Hex.decode(val.trim()));
            }
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or_else(|| SignatureError::malformed("no `t` timestamp"))?;
    let signed_at = timestamp
        .parse::<i64>()
        .map_err(|_| SignatureError::malformed("`t` is not an integer"))?;
    if v1_entries == 0 {
        return Err(SignatureError::malformed("no `v1` signature"));
    }
    Ok(Parsed {
        timestamp,
        signed_at,
        v1,
    })
}

impl StripeScheme {
    pub(crate) fn verify<H: HeaderLookup + ?Sized>(
        &self,
        secrets: &[SigningSecret],
        headers: &H,
        body: &[u8],
        now: i64,
    ) -> Result<Verified, SignatureError> {
        let value = present(headers, HEADER).ok_or_else(|| SignatureError::missing(HEADER))?;
        let parsed = parse(value)?;
        let parts: [&[u8]; 3] = [parsed.timestamp.as_bytes(), b".", body];
        let index = mac::first_matching_secret(HmacAlgorithm::Sha256, secrets, &parts, &parsed.v1)
            .ok_or_else(|| SignatureError::no_match(secrets.len()))?;
        check_tolerance(parsed.signed_at, now, self.tolerance_secs)?;
        Ok(Verified {
            signed_at: Some(parsed.signed_at),
            secret_index: Some(index),
            signature: Some(value.to_string()),
            ..Verified::default()
        })
    }

    pub(crate) fn sign(
        &self,
        secret: &SigningSecret,
        body: &[u8],
        now: i64,
    ) -> Vec<(String, String)> {
        let t = now.to_string();
        let tag = mac::tag(
            HmacAlgorithm::Sha256,
            secret.key(),
            &[t.as_bytes(), b".", body],
        );
        vec![(HEADER.to_string(), format!("t={t},v1={}", hex::encode(tag)))]
    }
}

#[cfg(test)]
mod tests {
    use super::super::{sign, verify, InvalidReason, Scheme};
    use super::*;

    const SECRET: &str = "whsec_test_secret";
    const BODY: &[u8] = br#"{"id":"evt_test_webhook","object":"event"}"#;
    const T: i64 = 1_700_000_000;
    // HMAC-SHA256 hex of "1700000000." + BODY keyed with the bytes of "whsec_test_secret",
    // computed independently (Python hmac), as stripe-ruby's compute_signature does.
    const V1: &str = "d95c6b7477fbd7e9f90b1b0ef5f9c7ac25abca5382460e0d988c2b2a5b71b990";

    fn scheme() -> Scheme {
        Scheme::Stripe(StripeScheme::default())
    }

    fn keys(raw: &[&str]) -> Vec<SigningSecret> {
        raw.iter().map(|s| scheme().secret(s).unwrap()).collect()
    }

    fn check(header: &str, secrets: &[&str], now: i64) -> Result<Verified, SignatureError> {
        verify(
            &scheme(),
            &keys(secrets),
            &[("stripe-signature", header)],
            BODY,
            now,
        )
    }

    #[test]
    fn an_independently_computed_signature_verifies_with_the_whole_whsec_string_as_key() {
        let header = format!("t={T},v1={V1}");
        let verified = check(&header, &[SECRET], T + 10).unwrap();
        assert_eq!(verified.signed_at, Some(T));
        assert_eq!(
            sign(&scheme(), &keys(&[SECRET])[0], BODY, T, None),
            vec![(HEADER.to_string(), header)]
        );
    }

    #[test]
    fn test_mode_v0_and_spaces_after_commas_are_ignored() {
        let header = format!(
            "t={T}, v1={V1}, v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39"
        );
        assert!(check(&header, &[SECRET], T).is_ok());
    }

    #[test]
    fn several_v1_pass_when_only_the_second_matches() {
        let header = format!("t={T},v1={},v1={V1}", "ab".repeat(32));
        assert_eq!(check(&header, &[SECRET], T).unwrap().secret_index, Some(0));
        let with_junk = format!("t={T},v1=not-hex,v1={V1}");
        assert!(check(&with_junk, &[SECRET], T).is_ok());
    }

    #[test]
    fn more_than_eight_v1_are_refused_before_any_mac() {
        // The valid signature last: a caller must not buy one MAC per entry it adds.
        let header = |junk: usize| format!("t={T},{}v1={V1}", "v1=00,".repeat(junk));
        assert!(check(&header(7), &[SECRET], T).is_ok());
        assert_eq!(
            check(&header(999), &[SECRET], T),
            Err(SignatureError::Invalid {
                reason: InvalidReason::Malformed("more than 8 `v1` signatures")
            })
        );
    }

    #[test]
    fn an_expired_timestamp_is_out_of_tolerance() {
        let header = format!("t={T},v1={V1}");
        assert_eq!(
            check(&header, &[SECRET], T + 301),
            Err(SignatureError::TimestampOutOfTolerance {
                skew_secs: 301,
                tolerance_secs: 300
            })
        );
        assert!(check(&header, &[SECRET], T + 300).is_ok());
        assert!(
            check(&header, &[SECRET], T - 301).is_err(),
            "far future is refused too"
        );
    }

    #[test]
    fn a_wrong_secret_is_invalid_even_when_the_timestamp_is_stale() {
        let header = format!("t={T},v1={V1}");
        let invalid = Err(SignatureError::Invalid {
            reason: InvalidReason::NoMatch,
        });
        assert_eq!(check(&header, &["whsec_other"], T), invalid);
        // Signature is judged before time: a forger is told "invalid", not "stale".
        assert_eq!(check(&header, &["whsec_other"], T + 10_000), invalid);
    }

    #[test]
    fn a_base64_decoded_stripe_secret_would_not_match() {
        // The trap this module avoids: Stripe does not decode its whsec_ secret.
        let decoded = Scheme::StandardWebhooks(Default::default())
            .secret("whsec_dGVzdA==")
            .unwrap();
        let header = sign(&scheme(), &decoded, BODY, T, None);
        assert!(verify(&scheme(), &keys(&["whsec_dGVzdA=="]), &header, BODY, T).is_err());
    }

    #[test]
    fn malformed_headers_are_invalid_and_an_absent_one_is_missing() {
        let none: [(&str, &str); 0] = [];
        assert_eq!(
            verify(&scheme(), &keys(&[SECRET]), &none, BODY, T),
            Err(SignatureError::missing(HEADER))
        );
        for (header, why) in [
            (format!("v1={V1}"), "no `t` timestamp"),
            (format!("t=soon,v1={V1}"), "`t` is not an integer"),
            (format!("t={T},t={T},v1={V1}"), "more than one `t`"),
            (format!("t={T}"), "no `v1` signature"),
            (format!("t={T},v0={V1}"), "no `v1` signature"),
            ("garbage".to_string(), "no `t` timestamp"),
        ] {
            assert_eq!(
                check(&header, &[SECRET], T),
                Err(SignatureError::malformed(why)),
                "{header}"
            );
        }
    }

    #[test]
    fn an_empty_secret_list_rejects_a_genuine_request() {
        let header = format!("t={T},v1={V1}");
        assert_eq!(
            check(&header, &[], T),
            Err(SignatureError::Invalid {
                reason: InvalidReason::NoSecrets
            })
        );
    }
}
