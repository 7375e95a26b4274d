//! Reads the fields webhook-inbox needs out of a provider's JSON payload: event id, request_ref,
//! status word, provider reference, amount and currency. Each field is searched along an ordered
//! list of dotted paths and the first usable value wins. Only strings and numbers count (an object
//! is never turned into text) and blank strings are skipped.

use serde::Serialize;
use serde_json::Value;

/// A dotted path into a JSON object, e.g. `data.reference`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath(Vec<String>);

impl FieldPath {
    pub fn parse(dotted: &str) -> Result<FieldPath, InvalidFieldPath> {
        let keys: Vec<String> = dotted.split('.').map(str::to_owned).collect();
        if keys.iter().any(|k| k.trim().is_empty()) {
            return Err(InvalidFieldPath(dotted.to_owned()));
        }
        Ok(FieldPath(keys))
    }

    fn lookup<'v>(&self, root: &'v Value) -> Option<&'v Value> {
        self.0.iter().try_fold(root, |value, key| value.get(key))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid field path {0:?}: expected dot-separated, non-empty keys")]
pub struct InvalidFieldPath(pub String);

/// Where each field lives in one kind of payload (one provider preset).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldMap {
    pub event_id: Vec<FieldPath>,
    pub request_ref: Vec<FieldPath>,
    pub status: Vec<FieldPath>,
    pub provider_ref: Vec<FieldPath>,
    pub amount: Vec<FieldPath>,
    pub currency: Vec<FieldPath>,
}

/// What was found in one payload; each field is `None` when no path gave a usable value.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Extracted {
    pub event_id: Option<String>,
    pub request_ref: Option<String>,
    /// The provider's own status word, not yet normalised (see `CollectionStatus::normalise`).
    pub status: Option<String>,
    pub provider_ref: Option<String>,
    /// A decimal number as text, exactly as the provider sent it (no float rounding).
    pub amount: Option<String>,
    /// Upper-cased currency code.
    pub currency: Option<String>,
}

impl FieldMap {
    /// Builds a map from lists of dotted paths; used by presets and configuration.
    pub fn from_paths(
        event_id: &[&str],
        request_ref: &[&str],
        status: &[&str],
        provider_ref: &[&str],
        amount: &[&str],
        currency: &[&str],
    ) -> Result<FieldMap, InvalidFieldPath> {
        let parse = |paths: &[&str]| -> Result<Vec<FieldPath>, InvalidFieldPath> {
            paths.iter().map(|p| FieldPath::parse(p)).collect()
        };
        Ok(FieldMap {
            event_id: parse(event_id)?,
            request_ref: parse(request_ref)?,
            status: parse(status)?,
            provider_ref: parse(provider_ref)?,
            amount: parse(amount)?,
            currency: parse(currency)?,
        })
    }

    /// The field lists of the implementation webhook-inbox replaces (the `generic` preset).
    pub fn generic() -> FieldMap {
        FieldMap {
            event_id: static_paths(GENERIC_EVENT_ID),
            request_ref: static_paths(GENERIC_REQUEST_REF),
            status: static_paths(GENERIC_STATUS),
            provider_ref: static_paths(GENERIC_PROVIDER_REF),
            amount: static_paths(GENERIC_AMOUNT),
            currency: static_paths(GENERIC_CURRENCY),
        }
    }

    pub fn extract(&self, payload: &Value) -> Extracted {
        Extracted {
            event_id: first_identifier(payload, &self.event_id),
            request_ref: first_identifier(payload, &self.request_ref),
            status: first_text(payload, &self.status),
            provider_ref: first_identifier(payload, &self.provider_ref),
            amount: first_amount(payload, &self.amount),
            currency: first_text(payload, &self.currency).map(|c| c.to_uppercase()),
        }
    }
}

fn static_paths(paths: &[&str]) -> Vec<FieldPath> {
    // The built-in lists are constants with no empty key, so splitting cannot fail.
    paths
        .iter()
        .map(|p| FieldPath(p.split('.').map(str::to_owned).collect()))
        .collect()
}

fn non_blank(s: &str) -> Option<String> {
    let trimmed = s.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

/// A string or a number; identifiers such as `12345` are often sent as numbers.
fn first_identifier(payload: &Value, paths: &[FieldPath]) -> Option<String> {
    paths.iter().find_map(|path| match path.lookup(payload)? {
        Value::String(s) => non_blank(s),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

/// A string only: status words and currency codes are never numbers.
fn first_text(payload: &Value, paths: &[FieldPath]) -> Option<String> {
    paths.iter().find_map(|path| match path.lookup(payload)? {
        Value::String(s) => non_blank(s),
        _ => None,
    })
}

/// A number, or a string holding one (`"5000"`, `"50.00"`); other strings are passed over.
fn first_amount(payload: &Value, paths: &[FieldPath]) -> Option<String> {
    paths.iter().find_map(|path| match path.lookup(payload)? {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => non_blank(s).filter(|s| is_decimal(s)),
        _ => None,
    })
}

/// A decimal number as text: optional `-`, digits, optionally `.` and digits.
pub fn is_decimal(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let (whole, fraction) = match digits.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (digits, None),
    };
    let all_digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    all_digits(whole) && fraction.is_none_or(all_digits)
}

const GENERIC_EVENT_ID: &[&str] = &[
    "event_id",
    "eventId",
    "event",
    "id",
    "webhook_id",
    "webhookId",
    "event_key",
    "eventKey",
    "flutterwave_event_id",
    "flutterwaveEventId",
    "paystack_reference",
    "monnify_transaction_ref",
    "event.id",
    "event.event_id",
    "data.event_id",
    "data.eventId",
    "data.id",
    "meta.event_id",
    "meta.eventId",
    "payload.event_id",
    "payload.id",
];

const GENERIC_REQUEST_REF: &[&str] = &[
    "request_ref",
    "requestRef",
    "request_reference",
    "requestReference",
    "ref",
    "transaction.request_ref",
    "transaction.requestRef",
    "transaction.reference",
    "data.request_ref",
    "data.requestRef",
    "data.reference",
    "meta.request_ref",
    "meta.requestRef",
    "event.request_ref",
    "event.requestRef",
    "payload.request_ref",
    "payload.requestRef",
];

const GENERIC_PROVIDER_REF: &[&str] = &[
    "provider_ref",
    "providerRef",
    "transaction_ref",
    "transactionRef",
    "txRef",
    "tx_ref",
    "reference",
    "ref",
    "flutterwave_ref",
    "flutterwaveRef",
    "paystack_ref",
    "paystackRef",
    "monnify_ref",
    "monnifyRef",
    "transaction.reference",
    "transaction.ref",
    "transaction.transaction_ref",
    "transaction.transactionRef",
    "data.reference",
    "data.transaction_ref",
    "data.transactionRef",
    "data.txRef",
    "meta.provider_ref",
    "meta.providerRef",
    "event.reference",
];

const GENERIC_STATUS: &[&str] = &[
    "status",
    "transaction_status",
    "transactionStatus",
    "payment_status",
    "paymentStatus",
    "state",
    "transaction.status",
    "transaction.state",
    "data.status",
    "data.transaction_status",
    "data.transactionStatus",
    "event.status",
    "event.state",
    "meta.status",
    "response.status",
];

const GENERIC_AMOUNT: &[&str] = &[
    "amount",
    "value",
    "total",
    "total_amount",
    "totalAmount",
    "transaction_amount",
    "transactionAmount",
    "payable_amount",
    "payableAmount",
    "transaction.amount",
    "transaction.value",
    "transaction.total",
    "data.amount",
    "data.value",
    "data.total",
    "data.transaction_amount",
    "meta.amount",
    "meta.value",
    "body.amount",
    "body.value",
];

const GENERIC_CURRENCY: &[&str] = &[
    "currency",
    "currency_code",
    "currencyCode",
    "currency_type",
    "currencyType",
    "curr",
    "transaction.currency",
    "transaction.currency_code",
    "data.currency",
    "data.currency_code",
    "data.currencyCode",
    "meta.currency",
    "body.currency",
];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event_id(payload: Value) -> Option<String> {
        FieldMap::generic().extract(&payload).event_id
    }

    // The cases of the original implementation's suite.
    #[test]
    fn event_id_is_found_under_each_documented_key() {
        for (payload, expected) in [
            (json!({"event_id": "evt_1"}), "evt_1"),
            (json!({"eventId": "evt_2"}), "evt_2"),
            (json!({"event": "evt_3"}), "evt_3"),
            (json!({"id": "evt_4"}), "evt_4"),
            (json!({"event": {"id": "evt_5"}}), "evt_5"),
            (json!({"data": {"event_id": "evt_6"}}), "evt_6"),
            (json!({"meta": {"event_id": "evt_7"}}), "evt_7"),
            (json!({"flutterwave_event_id": "evt_8"}), "evt_8"),
        ] {
            assert_eq!(
                event_id(payload.clone()).as_deref(),
                Some(expected),
                "{payload}"
            );
        }
    }

    #[test]
    fn event_id_not_found_is_none() {
        assert_eq!(event_id(json!({"something": "else"})), None);
        assert_eq!(event_id(json!({})), None);
        assert_eq!(event_id(json!([1, 2])), None);
    }

    #[test]
    fn first_path_in_order_wins() {
        assert_eq!(
            event_id(json!({"id": "second", "event_id": "first"})).as_deref(),
            Some("first")
        );
    }

    // The two corrections to the original: objects never become text, blanks are skipped.
    #[test]
    fn objects_are_never_turned_into_text() {
        assert_eq!(
            event_id(json!({"event": {"type": "charge"}, "id": "evt_9"})).as_deref(),
            Some("evt_9")
        );
        assert_eq!(event_id(json!({"event": {"type": "charge"}})), None);
    }

    #[test]
    fn blank_strings_are_skipped_and_numbers_count() {
        assert_eq!(
            event_id(json!({"event_id": "   ", "id": 4711})).as_deref(),
            Some("4711")
        );
        assert_eq!(event_id(json!({"event_id": true, "id": null})), None);
    }

    // Note the trap of the generic list: a string `event` (the event TYPE) is taken as the id.
    // Real providers get presets for that reason.
    #[test]
    fn all_fields_of_a_typical_payload() {
        let payload = json!({
            "event": "charge.completed",
            "data": {
                "id": 285959875,
                "tx_ref": "unused-here",
                "request_ref": "REQ-1",
                "reference": "FLW-MOCK-1",
                "status": "successful",
                "amount": "100.50",
                "currency": "ngn"
            }
        });
        let extracted = FieldMap::generic().extract(&payload);
        assert_eq!(extracted.event_id.as_deref(), Some("charge.completed"));
        assert_eq!(extracted.request_ref.as_deref(), Some("REQ-1"));
        assert_eq!(extracted.status.as_deref(), Some("successful"));
        assert_eq!(extracted.provider_ref.as_deref(), Some("FLW-MOCK-1"));
        assert_eq!(extracted.amount.as_deref(), Some("100.50"));
        assert_eq!(extracted.currency.as_deref(), Some("NGN"));
    }

    #[test]
    fn amounts_must_hold_a_number() {
        let amount = |payload: Value| FieldMap::generic().extract(&payload).amount;
        assert_eq!(amount(json!({"amount": 5000})).as_deref(), Some("5000"));
        assert_eq!(amount(json!({"amount": 12.5})).as_deref(), Some("12.5"));
        assert_eq!(amount(json!({"amount": "-3.20"})).as_deref(), Some("-3.20"));
        assert_eq!(
            amount(json!({"amount": "lots", "value": "7"})).as_deref(),
            Some("7")
        );
        for bad in ["1,000", "1.", ".5", "1e3", "--1", ""] {
            assert_eq!(amount(json!({ "amount": bad })), None, "{bad}");
        }
    }

    #[test]
    fn field_paths_reject_empty_keys() {
        assert!(FieldPath::parse("data.reference").is_ok());
        for bad in ["", ".", "data.", ".x", "a..b"] {
            assert_eq!(FieldPath::parse(bad), Err(InvalidFieldPath(bad.to_owned())));
        }
    }
}
