//! What a new collection may be: a request_ref within the indexable bound, an amount in major
//! units of an ISO 4217 currency (exact, no more decimals than the currency has), metadata as a
//! JSON object. One rule for every way a collection is created (`inboxctl`, the host API), each
//! failure naming the field.

use serde_json::Value;

use crate::money::Money;
use crate::provider::MAX_KEY_LEN;

/// A validated new collection, normalised: the reference trimmed, the currency upper-case, the
/// amount written with the currency's decimal places (`"10250"` NGN is `"10250.00"`).
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub request_ref: String,
    pub amount: Option<String>,
    pub currency: Option<String>,
    /// An object; `{}` when none was given.
    pub metadata: Value,
}

/// Which field is wrong, and why, in words for the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

fn invalid(field: &'static str, message: impl Into<String>) -> FieldError {
    FieldError {
        field,
        message: message.into(),
    }
}

impl Draft {
    pub fn validate(
        request_ref: &str,
        amount: Option<&str>,
        currency: Option<&str>,
        metadata: Option<Value>,
    ) -> Result<Draft, FieldError> {
        let reference = request_ref.trim();
        if reference.is_empty() || reference.len() > MAX_KEY_LEN {
            return Err(invalid(
                "request_ref",
                format!("must be 1 to {MAX_KEY_LEN} bytes long"),
            ));
        }
        let currency = currency.map(|c| c.trim().to_ascii_uppercase());
        if let Some(code) = &currency {
            Money::parse_major("0", code).map_err(|e| invalid("currency", e.to_string()))?;
        }
        let amount = match (amount, &currency) {
            (Some(amount), Some(code)) => Some(
                Money::parse_major(amount.trim(), code)
                    .map_err(|e| invalid("amount", e.to_string()))?
                    .major(),
            ),
            (Some(_), None) => {
                return Err(invalid(
                    "currency",
                    "an amount needs its currency (an ISO 4217 code such as NGN)",
                ))
            }
            (None, _) => None,
        };
        let metadata = match metadata {
            None | Some(Value::Null) => Value::Object(Default::default()),
            Some(object @ Value::Object(_)) => object,
            Some(_) => return Err(invalid("metadata", "must be a JSON object")),
        };
        Ok(Draft {
            request_ref: reference.to_owned(),
            amount,
            currency,
            metadata,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_draft_is_normalised() {
        let draft = Draft::validate(" REQ-1 ", Some("10250"), Some("ngn"), None).unwrap();
        assert_eq!(draft.request_ref, "REQ-1");
        assert_eq!(draft.amount.as_deref(), Some("10250.00"));
        assert_eq!(draft.currency.as_deref(), Some("NGN"));
        assert_eq!(draft.metadata, json!({}));
        let bare = Draft::validate("REQ-2", None, None, Some(json!({"order": 7}))).unwrap();
        assert_eq!((bare.amount, bare.currency), (None, None));
        assert_eq!(bare.metadata, json!({"order": 7}));
    }

    #[test]
    fn each_bad_field_is_named() {
        let field = |r: &str, a: Option<&str>, c: Option<&str>, m: Option<Value>| {
            Draft::validate(r, a, c, m).unwrap_err().field
        };
        assert_eq!(field("  ", None, None, None), "request_ref");
        assert_eq!(field(&"x".repeat(1025), None, None, None), "request_ref");
        assert_eq!(field("R", Some("10"), None, None), "currency");
        assert_eq!(field("R", Some("10"), Some("XYZ"), None), "currency");
        assert_eq!(field("R", None, Some("XYZ"), None), "currency");
        assert_eq!(field("R", Some("10.001"), Some("NGN"), None), "amount");
        assert_eq!(field("R", Some("ten"), Some("NGN"), None), "amount");
        assert_eq!(field("R", None, None, Some(json!([1]))), "metadata");
        let err = Draft::validate("R", Some("1.5"), Some("JPY"), None).unwrap_err();
        assert!(err.to_string().starts_with("amount: "), "{err}");
    }
}
