//! The `static-token` scheme: a header whose value must equal the secret (Flutterwave's legacy
//! `verif-hash`). It authenticates the sender only: the body is not signed, so anyone who has
//! seen one request can forge others. Prefer an HMAC scheme wherever the provider offers one.

use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::headers::{present, HeaderLookup};
use super::{SignatureError, SigningSecret, Verified};

/// Configuration of the `static-token` scheme.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticTokenScheme {
    pub header: String,
}

/// Equal in constant time, length included: comparing SHA-256 digests means neither the
/// position of the first difference nor the secret's length shows in the timing.
fn same_token(presented: &[u8], secret: &[u8]) -> bool {
    Sha256::digest(presented)
        .ct_eq(&Sha256::digest(secret))
        .into()
}

impl StaticTokenScheme {
    pub(crate) fn verify<H: HeaderLookup + ?Sized>(
        &self,
        secrets: &[SigningSecret],
        headers: &H,
    ) -> Result<Verified, SignatureError> {
        let value = present(headers, &self.header)
            .ok_or_else(|| SignatureError::missing(self.header.clone()))?;
        let index = secrets
            .iter()
            .position(|secret| same_token(value.as_bytes(), secret.key()))
            .ok_or_else(|| SignatureError::no_match(secrets.len()))?;
        // The header value IS the secret: it is deliberately not returned for storage.
        Ok(Verified {
            secret_index: Some(index),
            ..Verified::default()
        })
    }

    pub(crate) fn sign(&self, secret: &SigningSecret) -> Vec<(String, String)> {
        // Raw secrets come from configured strings, so the bytes are UTF-8.
        vec![(
            self.header.clone(),
            String::from_utf8_lossy(secret.key()).into_owned(),
        )]
    }
}

#[cfg(test)]
mod tests {
    use super::super::{sign, verify, InvalidReason, Scheme};
    use super::*;

    fn keys(raw: &[&str]) -> Vec<SigningSecret> {
        raw.iter()
            .map(|s| Scheme::flutterwave_verif_hash().secret(s).unwrap())
            .collect()
    }

    #[test]
    fn the_header_must_equal_one_of_the_secrets() {
        let scheme = Scheme::flutterwave_verif_hash();
        let secrets = keys(&["old-hash", "new-hash"]);
        assert_eq!(
            verify(&scheme, &secrets, &[("Verif-Hash", "new-hash")], b"{}", 0)
                .unwrap()
                .secret_index,
            Some(1)
        );
        assert!(verify(&scheme, &secrets, &[("verif-hash", "old-hash")], b"{}", 0).is_ok());
        for wrong in ["new-has", "new-hash2", "NEW-HASH"] {
            assert_eq!(
                verify(&scheme, &secrets, &[("verif-hash", wrong)], b"{}", 0),
                Err(SignatureError::Invalid {
                    reason: InvalidReason::NoMatch
                }),
                "{wrong}"
            );
        }
    }

    #[test]
    fn the_token_is_never_echoed_back_for_storage() {
        let scheme = Scheme::flutterwave_verif_hash();
        let verified = verify(&scheme, &keys(&["h"]), &[("verif-hash", "h")], b"{}", 0).unwrap();
        assert_eq!(verified.signature, None);
    }

    #[test]
    fn missing_header_and_empty_secret_list() {
        let scheme = Scheme::flutterwave_verif_hash();
        let none: [(&str, &str); 0] = [];
        assert_eq!(
            verify(&scheme, &keys(&["h"]), &none, b"{}", 0),
            Err(SignatureError::missing("verif-hash"))
        );
        assert_eq!(
            verify(&scheme, &[], &[("verif-hash", "h")], b"{}", 0),
            Err(SignatureError::Invalid {
                reason: InvalidReason::NoSecrets
            })
        );
    }

    #[test]
    fn signing_sets_the_header_to_the_secret() {
        let scheme = Scheme::flutterwave_verif_hash();
        let signed = sign(&scheme, &keys(&["my-hash"])[0], b"{}", 0, None);
        assert_eq!(
            signed,
            vec![("verif-hash".to_string(), "my-hash".to_string())]
        );
    }
}
