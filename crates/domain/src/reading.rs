//! What a recorded event asks of its collection, read from its payload by its provider's
//! profile: the outcome table (`outcomes`) first, then the fields. A payload that cannot ask for
//! anything is the event's own, permanent problem: retrying cannot help; an operator can fix it
//! and replay.

use serde_json::Value;
use uuid::Uuid;

use crate::amount_check::Amount;
use crate::money::Money;
use crate::outcomes::Meaning;
use crate::plan::Request;
use crate::provider::{PayloadProfile, MAX_KEY_LEN};
use crate::signature::Verified;
use crate::status::{CollectionStatus, UnknownStatus};

/// Why an event asks for nothing; the text is the event's `last_error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unreadable {
    #[error("the payload is not a JSON object")]
    NotAnObject,
    #[error("the payload has no request_ref")]
    NoRequestRef,
    #[error("the request_ref is {0} bytes long; at most 1024 are accepted")]
    RequestRefTooLong(usize),
    #[error("the payload has no status")]
    NoStatus,
    #[error("{0}: not a payment status this provider's rules know")]
    UnknownStatus(UnknownStatus),
}

/// What an event asks: a change of its collection, or nothing (its type does not concern a
/// payment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    Request(Request),
    /// The event type, for the reason and the count.
    Ignored(String),
}

/// What event `event` asks, by its provider's outcome table and fields. `stored_ref` is the
/// reference the receiver read and stored; the payload is searched for one only without it.
pub fn read_request(
    profile: &PayloadProfile,
    event: Uuid,
    stored_ref: Option<&str>,
    payload: &Value,
) -> Result<Read, Unreadable> {
    if !payload.is_object() {
        return Err(Unreadable::NotAnObject);
    }
    let meaning = profile
        .outcomes
        .map_or(Meaning::StatusWord, |table| table.meaning(payload));
    let extracted = match meaning {
        Meaning::Ignored(kind) => return Ok(Read::Ignored(kind)),
        _ => profile.read(payload, &Verified::default()),
    };
    let request_ref = stored_ref
        .filter(|r| !r.trim().is_empty())
        .map(str::to_owned)
        .or(extracted.request_ref)
        .ok_or(Unreadable::NoRequestRef)?;
    if request_ref.len() > MAX_KEY_LEN {
        return Err(Unreadable::RequestRefTooLong(request_ref.len()));
    }
    let status = match meaning {
        Meaning::Status(status) => status,
        // Another attempt may follow: nothing past PENDING.
        Meaning::FailedAttempt => CollectionStatus::Pending,
        Meaning::StatusWord | Meaning::Ignored(_) => {
            let word = extracted.status.ok_or(Unreadable::NoStatus)?;
            CollectionStatus::normalise(&word).map_err(Unreadable::UnknownStatus)?
        }
    };
    let unit = profile.amount_unit;
    let amount = Amount::read(
        extracted.amount.as_deref(),
        extracted.currency.as_deref(),
        |amount, currency| Money::from_provider(amount, currency, unit),
    );
    let request = Request::from_event(event, request_ref, status, extracted.provider_ref)
        .with_amount(amount, profile.amount_check);
    Ok(Read::Request(request))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::provider::Preset;

    fn read(stored_ref: Option<&str>, payload: Value) -> Result<Request, Unreadable> {
        match read_request(
            &Preset::Generic.payload(),
            Uuid::nil(),
            stored_ref,
            &payload,
        )? {
            Read::Request(request) => Ok(request),
            Read::Ignored(kind) => panic!("the generic preset ignores nothing, not {kind}"),
        }
    }

    #[test]
    fn the_stored_reference_comes_first() {
        let request = read(
            Some("REQ-STORED"),
            json!({"request_ref": "REQ-PAYLOAD", "status": "successful", "provider_ref": "P-1"}),
        )
        .map_err(|e| e.to_string());
        assert_eq!(
            request,
            Ok(Request::from_event(
                Uuid::nil(),
                "REQ-STORED".into(),
                CollectionStatus::Success,
                Some("P-1".into())
            )
            .with_amount(Amount::Absent, crate::AmountCheck::WhenPresent))
        );
        let from_payload = read(
            Some("  "),
            json!({"request_ref": "REQ-P", "status": "pending"}),
        );
        assert_eq!(from_payload.map(|r| r.request_ref), Ok("REQ-P".to_owned()));
    }

    #[test]
    fn unreadable_payloads_say_why() {
        let cases = [
            (json!([1]), "the payload is not a JSON object"),
            (json!({"status": "paid"}), "the payload has no request_ref"),
            (json!({"request_ref": "R"}), "the payload has no status"),
            (
                json!({"request_ref": "R".repeat(1025), "status": "paid"}),
                "the request_ref is 1025 bytes long; at most 1024 are accepted",
            ),
            (
                json!({"request_ref": "R", "status": "teleported"}),
                "unknown status \"teleported\": not a payment status this provider's rules know",
            ),
        ];
        for (payload, reason) in cases {
            assert_eq!(
                read(None, payload).map_err(|e| e.to_string()),
                Err(reason.to_owned())
            );
        }
    }
}
