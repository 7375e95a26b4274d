//! Signing secrets: the key bytes derived from a configured secret string. They never print
//! (`Debug` shows `SigningSecret(***)`, there is no `Display`) and error messages never quote them.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// The key one provider signs with. Build it with [`super::Scheme::secret`], which knows how
/// that scheme turns the configured string into key bytes.
#[derive(Clone)]
pub struct SigningSecret {
    key: Vec<u8>,
}

/// A configured secret that cannot be a key. Names the problem, never the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("the signing secret is empty")]
    Empty,
    #[error("a Standard Webhooks secret must be base64 after its optional `whsec_` prefix")]
    NotBase64,
}

/// The prefix Standard Webhooks (and Svix) put before the base64 of the key.
const STANDARD_WEBHOOKS_PREFIX: &str = "whsec_";

impl SigningSecret {
    /// The string's own bytes are the key: Paystack's secret key, Flutterwave's secret hash, a
    /// generic sender's shared secret and Stripe's `whsec_...` endpoint secret (Stripe's
    /// libraries HMAC with the whole string, prefix included; they do not decode it).
    pub(crate) fn raw(configured: &str) -> Result<Self, SecretError> {
        if configured.is_empty() {
            return Err(SecretError::Empty);
        }
        Ok(Self {
            key: configured.as_bytes().to_vec(),
        })
    }

    /// Standard Webhooks: `whsec_` (optional, as in the reference libraries) followed by the
    /// standard base64 of the key.
    pub(crate) fn standard_webhooks(configured: &str) -> Result<Self, SecretError> {
        let encoded = configured
            .strip_prefix(STANDARD_WEBHOOKS_PREFIX)
            .unwrap_or(configured);
        if encoded.is_empty() {
            return Err(SecretError::Empty);
        }
        let key = STANDARD
            .decode(encoded)
            .map_err(|_| SecretError::NotBase64)?;
        if key.is_empty() {
            return Err(SecretError::Empty);
        }
        Ok(Self { key })
    }

    /// The key bytes, for the HMAC and the static-token comparison only.
    pub(crate) fn key(&self) -> &[u8] {
        &self.key
    }
}

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let secret = SigningSecret::raw("sk_live_very_secret").unwrap();
        assert_eq!(format!("{secret:?}"), "SigningSecret(***)");
        assert_eq!(format!("{:?}", vec![secret]), "[SigningSecret(***)]");
    }

    #[test]
    fn raw_secrets_keep_every_byte_including_a_whsec_prefix() {
        let stripe = SigningSecret::raw("whsec_abc").unwrap();
        assert_eq!(stripe.key(), b"whsec_abc");
    }

    #[test]
    fn standard_webhooks_secrets_are_base64_with_an_optional_prefix() {
        let with =
            SigningSecret::standard_webhooks("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let without = SigningSecret::standard_webhooks("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(with.key(), without.key());
        assert_eq!(with.key().len(), 24);
    }

    #[test]
    fn unusable_secrets_are_refused_without_quoting_them() {
        assert_eq!(SigningSecret::raw("").unwrap_err(), SecretError::Empty);
        assert_eq!(
            SigningSecret::standard_webhooks("whsec_").unwrap_err(),
            SecretError::Empty
        );
        let err = SigningSecret::standard_webhooks("whsec_not base64!").unwrap_err();
        assert_eq!(err, SecretError::NotBase64);
        assert!(!err.to_string().contains("not base64!"));
    }
}
