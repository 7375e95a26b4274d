//! Creating and reading collections.

use domain::CollectionStatus;
use persistence::{create_collection, find_collection, now, NewCollection, StoreError};
use serde_json::json;

use crate::helpers::TestDb;

on_both_backends!(
    create_then_find,
    request_ref_is_unique,
    amounts_must_be_decimal
);

fn create_then_find(db: TestDb) {
    let mut conn = db.conn();
    let metadata = json!({"order": 42});
    let new = NewCollection {
        request_ref: "REQ-1",
        status: CollectionStatus::Initiated,
        provider: Some("paystack"),
        provider_ref: None,
        amount: Some("5000.00"),
        currency: Some("NGN"),
        metadata: Some(&metadata),
    };
    let at = now();
    let created = create_collection(&mut conn, &new, at).unwrap();
    assert_eq!(created.request_ref, "REQ-1");
    assert_eq!(created.status, CollectionStatus::Initiated);
    assert_eq!(created.amount.as_deref(), Some("5000.00"));
    assert_eq!(created.metadata, metadata);
    assert_eq!(created.version, 1);
    assert_eq!(created.created_at, at);

    let found = find_collection(&mut conn, "REQ-1").unwrap().unwrap();
    assert_eq!(found, created);
    assert_eq!(find_collection(&mut conn, "REQ-unknown").unwrap(), None);
}

fn request_ref_is_unique(db: TestDb) {
    let mut conn = db.conn();
    create_collection(&mut conn, &NewCollection::initiated("REQ-1"), now()).unwrap();
    let err = create_collection(&mut conn, &NewCollection::initiated("REQ-1"), now()).unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(m) if m.contains("REQ-1")),
        "{err}"
    );
}

fn amounts_must_be_decimal(db: TestDb) {
    let mut conn = db.conn();
    let mut new = NewCollection::initiated("REQ-2");
    new.amount = Some("12,5");
    assert!(create_collection(&mut conn, &new, now()).is_err());
    assert_eq!(find_collection(&mut conn, "REQ-2").unwrap(), None);
}
