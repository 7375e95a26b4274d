//! The `hmac` scheme: an HMAC of the raw body alone, hex or base64, optionally behind a prefix
//! such as `sha256=`, in the first present of a list of headers. Signs no timestamp, so it
//! cannot detect a replay; deduplication by event id is the defence there.

use serde::{Deserialize, Deserializer};

use super::headers::{present, HeaderLookup};
use super::mac::{self, Encoding, HmacAlgorithm};
use super::{SignatureError, SigningSecret, Verified};

/// Configuration of the `hmac` scheme.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HmacScheme {
    pub algorithm: HmacAlgorithm,
    pub encoding: Encoding,
    /// Header names tried in order; the first one present carries the signature.
    #[serde(deserialize_with = "non_empty")]
    pub headers: Vec<String>,
    /// Text before the encoded tag, e.g. `sha256=`; a signature without it is malformed.
    #[serde(default)]
    pub prefix: Option<String>,
}

fn non_empty<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    let headers = Vec::<String>::deserialize(deserializer)?;
    if headers.iter().any(|h| h.trim().is_empty()) || headers.is_empty() {
        return Err(serde::de::Error::custom(
            "`headers` needs at least one non-blank header name",
        ));
    }
    Ok(headers)
}

impl HmacScheme {
    pub(crate) fn verify<H: HeaderLookup + ?Sized>(
        &self,
        secrets: &[SigningSecret],
        headers: &H,
        body: &[u8],
    ) -> Result<Verified, SignatureError> {
        let value = self
            .headers
            .iter()
            .find_map(|name| present(headers, name))
            .ok_or_else(|| SignatureError::missing(self.headers.join(" | ")))?;
        let encoded = match &self.prefix {
            Some(prefix) => value
                .strip_prefix(prefix.as_str())
                .ok_or_else(|| SignatureError::malformed("signature lacks its prefix"))?,
            None => value,
        };
        let presented = self.encoding.decode(encoded).ok_or_else(|| {
            SignatureError::malformed("signature is not in the configured encoding")
        })?;
        let index = mac::first_matching_secret(self.algorithm, secrets, &[body], &[presented])
            .ok_or_else(|| SignatureError::no_match(secrets.len()))?;
        Ok(Verified {
            secret_index: Some(index),
            signature: Some(value.to_string()),
            ..Verified::default()
        })
    }

    pub(crate) fn sign(&self, secret: &SigningSecret, body: &[u8]) -> Vec<(String, String)> {
        let tag = mac::tag(self.algorithm, secret.key(), &[body]);
        let value = format!(
            "{}{}",
            self.prefix.as_deref().unwrap_or(""),
            self.encoding.encode(&tag)
        );
        // A sender sets one header; the first configured name is the preferred one.
        self.headers
            .iter()
            .take(1)
            .map(|name| (name.clone(), value.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{sign, verify, InvalidReason, Scheme};
    use super::*;

    const PAYSTACK_KEY: &str = "sk_test_4eC39HqLyjWDarjtT1zdp7dc";
    const PAYSTACK_BODY: &[u8] = br#"{"event":"charge.success","data":{"id":302961,"status":"success","reference":"qTPrJoy9Bx","amount":10000,"currency":"NGN"}}"#;
    // HMAC-SHA512 of PAYSTACK_BODY under PAYSTACK_KEY, hex, computed independently with
    // Python's hmac module, as Paystack's documented Node snippet does
    // (crypto.createHmac('sha512', secret).update(rawBody).digest('hex')).
    const PAYSTACK_SIGNATURE: &str = "788f9981245eb56340ec422b52239ef940f52f63b40df2a9846a947b9f65f975137865b66eb4443be7218605170dfc8eb73d5405c318630fa7503a625a9fa510";

    fn secrets(scheme: &Scheme, raw: &[&str]) -> Vec<SigningSecret> {
        raw.iter().map(|s| scheme.secret(s).unwrap()).collect()
    }

    #[test]
    fn paystack_signature_computed_per_its_docs_verifies() {
        let scheme = Scheme::paystack();
        let headers = [("X-Paystack-Signature", PAYSTACK_SIGNATURE)];
        let verified = verify(
            &scheme,
            &secrets(&scheme, &[PAYSTACK_KEY]),
            &headers,
            PAYSTACK_BODY,
            0,
        )
        .unwrap();
        assert_eq!(verified.secret_index, Some(0));
        assert_eq!(verified.signature.as_deref(), Some(PAYSTACK_SIGNATURE));
        // And we sign exactly what Paystack would send.
        let signed = sign(
            &scheme,
            &scheme.secret(PAYSTACK_KEY).unwrap(),
            PAYSTACK_BODY,
            0,
            None,
        );
        assert_eq!(
            signed,
            vec![(
                "x-paystack-signature".to_string(),
                PAYSTACK_SIGNATURE.to_string()
            )]
        );
    }

    #[test]
    fn upper_case_hex_is_the_same_signature() {
        let scheme = Scheme::paystack();
        let upper = PAYSTACK_SIGNATURE.to_uppercase();
        let headers = [("x-paystack-signature", upper.as_str())];
        assert!(verify(
            &scheme,
            &secrets(&scheme, &[PAYSTACK_KEY]),
            &headers,
            PAYSTACK_BODY,
            0
        )
        .is_ok());
    }

    #[test]
    fn rotation_accepts_either_secret_and_forgets_a_removed_one() {
        let scheme = Scheme::paystack();
        let old = "sk_live_old";
        let new = "sk_live_new";
        let by_old = sign(
            &scheme,
            &scheme.secret(old).unwrap(),
            PAYSTACK_BODY,
            0,
            None,
        );
        let by_new = sign(
            &scheme,
            &scheme.secret(new).unwrap(),
            PAYSTACK_BODY,
            0,
            None,
        );

        let both = secrets(&scheme, &[new, old]);
        assert_eq!(
            verify(&scheme, &both, &by_new, PAYSTACK_BODY, 0)
                .unwrap()
                .secret_index,
            Some(0)
        );
        assert_eq!(
            verify(&scheme, &both, &by_old, PAYSTACK_BODY, 0)
                .unwrap()
                .secret_index,
            Some(1)
        );

        let after_rotation = secrets(&scheme, &[new]);
        assert_eq!(
            verify(&scheme, &after_rotation, &by_old, PAYSTACK_BODY, 0),
            Err(SignatureError::Invalid {
                reason: InvalidReason::NoMatch
            })
        );
    }

    #[test]
    fn the_generic_preset_takes_the_first_present_of_its_headers() {
        let scheme = Scheme::generic();
        let body = br#"{"event_id":"evt_1","request_ref":"REQ-1","status":"success"}"#;
        // Independently computed: HMAC-SHA256 hex of `body` under "generic-secret".
        let sig = "69eaeab6661c8c9957cd11ce6febcabbaa5bcbf30d8dd57d718a2d3ceeb0e5c2";
        let keys = secrets(&scheme, &["generic-secret"]);
        for name in ["Signature", "X-Kore-Signature", "x-signature"] {
            assert!(
                verify(&scheme, &keys, &[(name, sig)], body, 0).is_ok(),
                "{name}"
            );
        }
        // `Signature` is looked at first: a wrong value there is not rescued by a later header.
        let both = [("X-Signature", sig), ("Signature", "00")];
        assert!(verify(&scheme, &keys, &both, body, 0).is_err());
    }

    #[test]
    fn a_configured_prefix_is_required_and_stripped() {
        let scheme = Scheme::Hmac(HmacScheme {
            algorithm: HmacAlgorithm::Sha256,
            encoding: Encoding::Hex,
            headers: vec!["X-Hub-Signature-256".into()],
            prefix: Some("sha256=".into()),
        });
        let key = scheme.secret("s3cret").unwrap();
        let signed = sign(&scheme, &key, b"{}", 0, None);
        assert!(signed[0].1.starts_with("sha256="));
        assert!(verify(&scheme, std::slice::from_ref(&key), &signed, b"{}", 0).is_ok());

        let bare = signed[0].1.trim_start_matches("sha256=").to_string();
        let headers = [("x-hub-signature-256", bare.as_str())];
        assert_eq!(
            verify(&scheme, &[key], &headers, b"{}", 0),
            Err(SignatureError::malformed("signature lacks its prefix"))
        );
    }

    #[test]
    fn missing_malformed_and_unconfigured_are_told_apart() {
        let scheme = Scheme::paystack();
        let keys = secrets(&scheme, &[PAYSTACK_KEY]);
        let none: [(&str, &str); 0] = [];
        assert_eq!(
            verify(&scheme, &keys, &none, PAYSTACK_BODY, 0),
            Err(SignatureError::missing("x-paystack-signature"))
        );
        let blank = [("x-paystack-signature", "  ")];
        assert_eq!(
            verify(&scheme, &keys, &blank, PAYSTACK_BODY, 0)
                .unwrap_err()
                .code(),
            "missing_signature"
        );
        let garbage = [("x-paystack-signature", "not-hex")];
        assert_eq!(
            verify(&scheme, &keys, &garbage, PAYSTACK_BODY, 0),
            Err(SignatureError::malformed(
                "signature is not in the configured encoding"
            ))
        );
        let good = [("x-paystack-signature", PAYSTACK_SIGNATURE)];
        assert_eq!(
            verify(&scheme, &[], &good, PAYSTACK_BODY, 0),
            Err(SignatureError::Invalid {
                reason: InvalidReason::NoSecrets
            })
        );
    }
}
