//! Why a request failed signature verification. Each variant maps to one error code of the
//! receiver's contract (`code()`); the details are for logs and must never reach the client.

/// A request that did not pass [`super::verify`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// A header the scheme needs is absent or blank. `header` names it (or the alternatives).
    #[error("missing signature header {header}")]
    Missing { header: String },
    /// The header is malformed, or no configured secret produces the signature it carries.
    #[error("invalid signature: {reason}")]
    Invalid { reason: InvalidReason },
    /// The signature is genuine but its signed timestamp is too far from `now`.
    /// `skew_secs` is `now - signed_at`: positive for an old request, negative for a future one.
    #[error("signed timestamp is {skew_secs}s from now, tolerance is {tolerance_secs}s")]
    TimestampOutOfTolerance { skew_secs: i64, tolerance_secs: u64 },
}

impl SignatureError {
    /// The error code of the receiver's contract.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Missing { .. } => "missing_signature",
            Self::Invalid { .. } => "invalid_signature",
            Self::TimestampOutOfTolerance { .. } => "timestamp_out_of_tolerance",
        }
    }

    pub(crate) fn missing(header: impl Into<String>) -> Self {
        Self::Missing {
            header: header.into(),
        }
    }

    pub(crate) fn malformed(what: &'static str) -> Self {
        Self::Invalid {
            reason: InvalidReason::Malformed(what),
        }
    }

    /// No secret matched; distinguishes "nothing configured" for the operator's log.
    pub(crate) fn no_match(secret_count: usize) -> Self {
        let reason = if secret_count == 0 {
            InvalidReason::NoSecrets
        } else {
            InvalidReason::NoMatch
        };
        Self::Invalid { reason }
    }
}

/// Why a signature was judged invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidReason {
    /// The header could not be parsed; the text says which part.
    #[error("malformed header: {0}")]
    Malformed(&'static str),
    /// Well-formed, but no configured secret produces it.
    #[error("no configured secret matches")]
    NoMatch,
    /// The provider has no secret configured, so nothing can match (fail closed).
    #[error("no secret is configured for this provider")]
    NoSecrets,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_receiver_contract() {
        assert_eq!(SignatureError::missing("x").code(), "missing_signature");
        assert_eq!(SignatureError::malformed("t").code(), "invalid_signature");
        assert_eq!(SignatureError::no_match(0).code(), "invalid_signature");
        let stale = SignatureError::TimestampOutOfTolerance {
            skew_secs: 400,
            tolerance_secs: 300,
        };
        assert_eq!(stale.code(), "timestamp_out_of_tolerance");
    }

    #[test]
    fn an_empty_secret_list_is_named_as_such_in_the_log() {
        assert_eq!(
            SignatureError::no_match(0),
            SignatureError::Invalid {
                reason: InvalidReason::NoSecrets
            }
        );
        assert_eq!(
            SignatureError::no_match(2),
            SignatureError::Invalid {
                reason: InvalidReason::NoMatch
            }
        );
        assert!(SignatureError::no_match(0)
            .to_string()
            .contains("no secret is configured"));
    }
}
