//! Target `payload_extraction`: any body the receiver could store, read by every preset's profile
//! with and without a stored reference. Input: the body (JSON or not).

use serde_json::Value;
use uuid::Uuid;

use crate::amount_check::Amount;
use crate::extract::{is_decimal, Extracted};
use crate::money::Money;
use crate::plan::Request;
use crate::provider::{dedup_key, PayloadProfile, Preset, MAX_KEY_LEN};
use crate::reading::{read_request, Read, Unreadable};
use crate::signature::Verified;
use crate::status::CollectionStatus;
use crate::transition::Authority;

const EVENT: Uuid = Uuid::from_u128(0x5eed);

pub fn payload_extraction(data: &[u8]) {
    let body_key = dedup_key(None, data);
    assert!(body_key.starts_with("sha256:") && body_key.len() == 7 + 64);
    // What the receiver refuses (400) never reaches a profile.
    let Ok(payload) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let long_ref = "R".repeat(MAX_KEY_LEN + 1);
    let stored_refs = [
        None,
        Some(""),
        Some(" \t"),
        Some("REQ-STORED"),
        Some(&*long_ref),
    ];
    for preset in Preset::ALL {
        let profile = preset.payload();
        let extracted = profile.read(&payload, &Verified::default());
        fields_are_usable(&extracted);
        dedup_key_is_bounded(extracted.event_id.as_deref(), data);
        let mut ignored = None;
        for stored in stored_refs {
            let read = read_request(&profile, EVENT, stored, &payload);
            if let Ok(Read::Ignored(kind)) = &read {
                assert!(profile.outcomes.is_some(), "{preset:?} has no table");
                ignored.get_or_insert(kind.clone());
                assert_eq!(
                    ignored.as_ref(),
                    Some(kind),
                    "ignored whatever the stored ref"
                );
            }
            request_respects_the_bounds(&profile, &extracted, &payload, stored, read);
        }
    }
}

/// Found values are never blank nor padded; an amount is a decimal or the text of a JSON number;
/// a currency is upper case.
fn fields_are_usable(extracted: &Extracted) {
    let texts = [
        &extracted.event_id,
        &extracted.request_ref,
        &extracted.status,
        &extracted.provider_ref,
        &extracted.amount,
    ];
    for text in texts.into_iter().flatten() {
        assert!(!text.is_empty() && text.trim() == text, "{text:?}");
    }
    if let Some(amount) = &extracted.amount {
        let number = serde_json::from_str::<serde_json::Number>(amount).is_ok();
        assert!(is_decimal(amount) || number, "{amount:?}");
    }
    if let Some(currency) = &extracted.currency {
        assert_eq!(*currency, currency.to_uppercase());
    }
}

/// The key fits the indexed column; a short id is the key as it is, a long one its hash.
fn dedup_key_is_bounded(event_id: Option<&str>, body: &[u8]) {
    let key = dedup_key(event_id, body);
    assert!(key.len() <= MAX_KEY_LEN, "{} bytes", key.len());
    match event_id {
        Some(id) if id.len() <= MAX_KEY_LEN => assert_eq!(key, id),
        Some(_) => assert!(key.starts_with("sha256-id:") && key.len() == 10 + 64),
        None => assert_eq!(key, dedup_key(None, body)),
    }
}

fn request_respects_the_bounds(
    profile: &PayloadProfile,
    extracted: &Extracted,
    payload: &Value,
    stored: Option<&str>,
    read: Result<Read, Unreadable>,
) {
    let stored = stored.filter(|r| !r.trim().is_empty());
    let chosen = stored.map(str::to_owned).or(extracted.request_ref.clone());
    assert_eq!(
        matches!(read, Err(Unreadable::NotAnObject)),
        !payload.is_object()
    );
    match read {
        Ok(Read::Request(request)) => {
            assert_eq!(Some(&request.request_ref), chosen.as_ref());
            assert!(request.request_ref.len() <= MAX_KEY_LEN);
            assert!(!request.request_ref.trim().is_empty());
            request_matches_its_fields(profile, extracted, &request);
        }
        Ok(Read::Ignored(_)) | Err(Unreadable::NotAnObject) => {}
        Err(Unreadable::NoRequestRef) => assert_eq!(chosen, None),
        Err(Unreadable::RequestRefTooLong(len)) => {
            assert!(len > MAX_KEY_LEN);
            assert_eq!(Some(len), chosen.map(|r| r.len()));
        }
        Err(Unreadable::NoStatus) => assert_eq!(extracted.status, None),
        Err(Unreadable::UnknownStatus(unknown)) => {
            assert!(CollectionStatus::normalise(&unknown.0).is_err());
            assert_eq!(Some(&unknown.0), extracted.status.as_ref());
        }
    }
}

/// A request carries the event, the provider's reference and amount as read, the profile's
/// amount rule, and (without an outcome table) the normalised status word.
fn request_matches_its_fields(profile: &PayloadProfile, extracted: &Extracted, request: &Request) {
    assert_eq!(request.event, Some(EVENT));
    assert_eq!(request.authority, Authority::Event);
    assert_eq!(request.provider_ref, extracted.provider_ref);
    assert_eq!(request.amount_check, profile.amount_check);
    if profile.outcomes.is_none() {
        let word = extracted.status.as_deref().unwrap_or_default();
        assert_eq!(CollectionStatus::normalise(word), Ok(request.status));
    }
    let unit = profile.amount_unit;
    match (&request.amount, &extracted.amount, &extracted.currency) {
        (Amount::Absent, None, _) => {}
        (Amount::Unreadable { error: None, .. }, Some(_), None) => {}
        (Amount::Known(money), Some(amount), Some(currency)) => {
            assert_eq!(
                Money::from_provider(amount, currency, unit).as_ref(),
                Ok(money)
            );
        }
        (Amount::Unreadable { error: Some(e), .. }, Some(amount), Some(currency)) => {
            assert_eq!(
                Money::from_provider(amount, currency, unit).as_ref(),
                Err(e)
            );
        }
        (amount, text, currency) => panic!("{amount:?} from {text:?} {currency:?}"),
    }
}
