//! Webhook signature schemes: which headers carry a signature, what is signed, and how a
//! configured secret becomes a key. Pure functions of (scheme, secrets, headers, body, now):
//! no I/O, no clock, no randomness. Every comparison of secret material is constant-time.
//!
//! Order of checks in [`verify`], the same for every scheme:
//! 1. a required header absent or blank -> [`SignatureError::Missing`];
//! 2. a header present but unparseable -> [`SignatureError::Invalid`] (`Malformed`);
//! 3. no configured secret produces a matching signature -> [`SignatureError::Invalid`];
//! 4. only then, for schemes that sign a timestamp, the timestamp is compared with `now`
//!    -> [`SignatureError::TimestampOutOfTolerance`].
//!
//! Signature before timestamp is deliberate: `timestamp_out_of_tolerance` is only ever said of a
//! request that really carries our provider's signature, so it reliably means "genuine but
//! replayed or clock skew" to an operator, and a forger learns nothing about our tolerance.

mod error;
mod headers;
mod hmac_body;
mod mac;
mod presets;
mod scheme;
mod secret;
mod standard_webhooks;
mod static_token;
mod stripe;

#[cfg(test)]
mod roundtrip;

pub use error::{InvalidReason, SignatureError};
pub use headers::HeaderLookup;
pub use hmac_body::HmacScheme;
pub use mac::{Encoding, HmacAlgorithm};
pub use scheme::Scheme;
pub use secret::{SecretError, SigningSecret};
pub use standard_webhooks::StandardWebhooksScheme;
pub use static_token::StaticTokenScheme;
pub use stripe::StripeScheme;

/// Tolerance for signed timestamps when the configuration does not give one (Stripe's and the
/// Standard Webhooks libraries' default).
pub const DEFAULT_TOLERANCE_SECS: u64 = 300;

/// What a successful verification learned about the request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Verified {
    /// The sender's message id when the scheme signs one (Standard Webhooks `webhook-id`): a
    /// sound event id for deduplication.
    pub message_id: Option<String>,
    /// The signed timestamp (unix seconds) for schemes that sign one.
    pub signed_at: Option<i64>,
    /// Index in `secrets` of the secret that matched: tells an operator during a rotation
    /// whether the old secret is still in use. `None` for [`Scheme::None`].
    pub secret_index: Option<usize>,
    /// The value of the header that carried the signature, for the event record. `None` for
    /// [`Scheme::None`] and for [`Scheme::StaticToken`] (that value is the secret itself).
    pub signature: Option<String>,
}

/// Checks a request against `scheme`; valid if ANY of `secrets` matches (rotation).
///
/// `now` is the receiver's clock in unix seconds. See the module documentation for the order
/// in which failures are reported.
pub fn verify<H: HeaderLookup + ?Sized>(
    scheme: &Scheme,
    secrets: &[SigningSecret],
    headers: &H,
    body: &[u8],
    now: i64,
) -> Result<Verified, SignatureError> {
    match scheme {
        Scheme::Hmac(s) => s.verify(secrets, headers, body),
        Scheme::Stripe(s) => s.verify(secrets, headers, body, now),
        Scheme::StandardWebhooks(s) => s.verify(secrets, headers, body, now),
        Scheme::StaticToken(s) => s.verify(secrets, headers),
        Scheme::None => Ok(Verified::default()),
    }
}

/// The headers a sender using `scheme` would add to a request carrying `body` at time `now`
/// (for `inboxctl send` and tests). `message_id` is used by Standard Webhooks; without one a
/// deterministic id is derived from `now` and the body.
pub fn sign(
    scheme: &Scheme,
    secret: &SigningSecret,
    body: &[u8],
    now: i64,
    message_id: Option<&str>,
) -> Vec<(String, String)> {
    match scheme {
        Scheme::Hmac(s) => s.sign(secret, body),
        Scheme::Stripe(s) => s.sign(secret, body, now),
        Scheme::StandardWebhooks(s) => s.sign(secret, body, now, message_id),
        Scheme::StaticToken(s) => s.sign(secret),
        Scheme::None => Vec::new(),
    }
}

/// Shared by the timestamped schemes: the tolerance applies in both directions, and a
/// timestamp exactly `tolerance_secs` away is still accepted.
fn check_tolerance(signed_at: i64, now: i64, tolerance_secs: u64) -> Result<(), SignatureError> {
    if now.abs_diff(signed_at) > tolerance_secs {
        return Err(SignatureError::TimestampOutOfTolerance {
            skew_secs: now.saturating_sub(signed_at),
            tolerance_secs,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn none_accepts_anything_and_signs_nothing() {
        let headers: [(&str, &str); 0] = [];
        let verified = verify(&Scheme::None, &[], &headers[..], b"anything", 0).unwrap();
        assert_eq!(verified, Verified::default());
        let secret = Scheme::None.secret("unused").unwrap();
        assert!(sign(&Scheme::None, &secret, b"{}", 0, None).is_empty());
    }

    #[test]
    fn tolerance_is_inclusive_and_applies_both_ways() {
        assert!(check_tolerance(1_000, 1_300, 300).is_ok());
        assert!(check_tolerance(1_300, 1_000, 300).is_ok());
        assert_eq!(
            check_tolerance(1_000, 1_301, 300),
            Err(SignatureError::TimestampOutOfTolerance {
                skew_secs: 301,
                tolerance_secs: 300
            })
        );
        assert!(check_tolerance(1_302, 1_001, 300).is_err());
        // An adversarial timestamp must not overflow.
        assert!(check_tolerance(i64::MIN, i64::MAX, 300).is_err());
    }
}
