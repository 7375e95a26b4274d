//! The transactional outbox: a decision that changes a collection (or refuses a success for its
//! amount) writes its notification in the same transaction; one that changes nothing, or rolls
//! back, writes none.

use chrono::TimeDelta;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use domain::{Amount, AmountCheck, Authority, CollectionStatus, Money, Request};
use persistence::schema::notifications;
use persistence::types::{SqlTime, SqlUuid};
use persistence::{
    claim_notifications, create_collection, held_until, mark_delivered, mark_undelivered,
    notifications_of, now, record_event, release_next, release_orphans, replay_notification,
    settle_notifications, NewCollection, NewWebhookEvent, Notification, StoreError,
};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::TestDb;

on_both_backends!(
    changes_are_told_in_order_and_non_changes_are_not,
    a_rolled_back_decision_tells_nothing,
    only_the_first_undelivered_notification_of_a_collection_is_due,
);

fn event(db: &TestDb, key: &str, reference: &str) -> Uuid {
    let payload = json!({"id": key});
    let new = NewWebhookEvent::received(
        "paystack",
        Some(key),
        key,
        Some(reference),
        &payload,
        None,
        now(),
    );
    record_event(&mut db.conn(), &new).unwrap().event().id
}

fn changes_are_told_in_order_and_non_changes_are_not(db: TestDb) {
    let new = NewCollection {
        amount: Some("100.00"),
        currency: Some("NGN"),
        ..NewCollection::initiated("REQ-1")
    };
    let collection = create_collection(&mut db.conn(), &new, now()).unwrap();
    let (e1, e2, e3, e4) = (
        event(&db, "e1", "REQ-1"),
        event(&db, "e2", "REQ-1"),
        event(&db, "e3", "REQ-1"),
        event(&db, "e4", "REQ-1"),
    );
    let paid = |event, value: &str| {
        let mut request = Request::from_event(
            event,
            "REQ-1".into(),
            CollectionStatus::Success,
            Some("PSK-9".into()),
        );
        request.amount = Amount::Known(Money::parse_major(value, "NGN").unwrap());
        request.amount_check = AmountCheck::Strict;
        request
    };
    // One round: PENDING (told), PENDING again (unchanged: not told), a success of another
    // amount (told as a mismatch), the success (told).
    let requests = [
        Request::from_event(e1, "REQ-1".into(), CollectionStatus::Pending, None),
        Request::from_event(e2, "REQ-1".into(), CollectionStatus::Pending, None),
        paid(e3, "100.01"),
        paid(e4, "100.00"),
    ];
    crate::helpers::decide_requests(&mut db.conn(), &requests, "processor", now(), None).unwrap();
    let told = notifications_of(&mut db.conn(), collection.id).unwrap();
    let kinds: Vec<&str> = told.iter().map(|n| n.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "collection.updated",
            "collection.amount_mismatch",
            "collection.succeeded"
        ]
    );
    let data: Vec<_> = told.iter().map(|n| n.payload["data"].clone()).collect();
    assert_eq!(data[0]["status"], "PENDING");
    assert_eq!(data[0]["previous_status"], "INITIATED");
    assert_eq!(data[0]["version"], 2);
    assert_eq!(data[0]["event_id"], json!(e1));
    assert_eq!(data[0]["provider"], "paystack");
    assert_eq!(
        data[1]["status"], "PENDING",
        "a mismatch leaves the collection as it was"
    );
    assert_eq!(data[1]["version"], 2);
    assert_eq!(data[2]["status"], "SUCCESS");
    assert_eq!(data[2]["previous_status"], "PENDING");
    assert_eq!(data[2]["version"], 3);
    assert_eq!(data[2]["amount"], "100.00");
    assert_eq!(data[2]["currency"], "NGN");
    assert_eq!(data[2]["provider_ref"], "PSK-9");
    assert_eq!(told[2].payload["type"], "collection.succeeded");
    assert!(told
        .iter()
        .all(|n| n.status == "PENDING" && n.attempts == 0));
    assert!(told
        .windows(2)
        .all(|w| w[0].transition_id < w[1].transition_id));

    // A success again changes nothing: nothing told.
    let e5 = event(&db, "e5", "REQ-1");
    crate::helpers::decide_requests(
        &mut db.conn(),
        &[paid(e5, "100.00")],
        "processor",
        now(),
        None,
    )
    .unwrap();
    assert_eq!(
        notifications_of(&mut db.conn(), collection.id)
            .unwrap()
            .len(),
        3
    );
}

fn a_rolled_back_decision_tells_nothing(db: TestDb) {
    let collection =
        create_collection(&mut db.conn(), &NewCollection::initiated("REQ-2"), now()).unwrap();
    let e1 = event(&db, "r1", "REQ-2");
    let request = Request::from_event(e1, "REQ-2".into(), CollectionStatus::Processing, None);
    let result = persistence::write_transaction(&mut db.conn(), |conn| {
        let decide = persistence::Decide {
            actor: "processor",
            events: persistence::EventsHeld::Leased,
            now: now(),
        };
        persistence::apply_requests(conn, std::slice::from_ref(&request), &decide)?;
        Err::<(), _>(StoreError::Unavailable("the commit never happens".into()))
    });
    assert!(result.is_err());
    assert!(notifications_of(&mut db.conn(), collection.id)
        .unwrap()
        .is_empty());
}

/// Overrides `reference` to `status`, one round: one notification.
fn override_to(db: &TestDb, reference: &str, status: CollectionStatus) {
    let request = Request::from_operator(
        reference.to_owned(),
        status,
        Authority::Override,
        Some("test".to_owned()),
    );
    crate::helpers::decide_requests(&mut db.conn(), &[request], "test", now(), None).unwrap();
}

fn only_the_first_undelivered_notification_of_a_collection_is_due(db: TestDb) {
    let q = create_collection(&mut db.conn(), &NewCollection::initiated("REQ-Q"), now()).unwrap();
    let r = create_collection(&mut db.conn(), &NewCollection::initiated("REQ-R"), now()).unwrap();
    for status in [
        CollectionStatus::Pending,
        CollectionStatus::Processing,
        CollectionStatus::Pending,
    ] {
        override_to(&db, "REQ-Q", status);
    }
    override_to(&db, "REQ-R", CollectionStatus::Pending);
    let of = |id| notifications_of(&mut db.conn(), id).unwrap();
    let due = |told: &[Notification]| -> Vec<bool> {
        told.iter().map(|n| n.next_attempt().is_some()).collect()
    };
    let (told_q, told_r) = (of(q.id), of(r.id));
    assert_eq!(due(&told_q), [true, false, false], "Q's later ones wait");
    assert_eq!(due(&told_r), [true]);
    assert_eq!(
        serde_json::to_value(&told_q[1]).unwrap()["next_attempt_at"],
        serde_json::Value::Null,
        "a waiting one has no time of its own"
    );

    let claim = || {
        let at = now();
        claim_notifications(&mut db.conn(), 10, at, at + TimeDelta::seconds(30)).unwrap()
    };
    let ids =
        |claimed: Vec<Notification>| -> Vec<_> { claimed.into_iter().map(|n| n.id).collect() };
    let mut first = ids(claim());
    first.sort();
    let mut expected = vec![told_q[0].id, told_r[0].id];
    expected.sort();
    assert_eq!(
        first, expected,
        "the first of each collection, nothing behind them"
    );
    assert!(claim().is_empty(), "claimed ones are leased; the rest wait");

    // Delivered: the next one is due; the one after it still waits.
    mark_delivered(&mut db.conn(), &[told_q[0].id], now()).unwrap();
    assert_eq!(due(&of(q.id)[1..]), [true, false]);
    assert_eq!(ids(claim()), [told_q[1].id]);
    // A failed attempt with attempts left keeps the rest waiting; a last one lets them go.
    let retry = now() + TimeDelta::hours(1);
    mark_undelivered(&mut db.conn(), told_q[1].id, "HTTP 500", Some(retry)).unwrap();
    assert_eq!(due(&of(q.id)[2..]), [false]);
    mark_undelivered(&mut db.conn(), told_q[1].id, "HTTP 500", None).unwrap();
    let now_q = of(q.id);
    assert_eq!(now_q[1].status, "FAILED");
    assert_eq!(due(&now_q[2..]), [true], "a FAILED one holds nothing back");

    // A replay waits for an earlier PENDING one of its collection, not for a later one.
    assert!(replay_notification(&mut db.conn(), told_q[0].id, now()).unwrap());
    assert!(replay_notification(&mut db.conn(), told_q[1].id, now()).unwrap());
    assert_eq!(due(&of(q.id)), [true, false, true]);
    mark_delivered(&mut db.conn(), &[told_q[0].id], now()).unwrap();
    assert_eq!(due(&of(q.id)), [true, true, true]);

    // One left waiting with nothing before it (written by an older version, or by hand) is
    // released by the sweep, and only it.
    assert_eq!(release_orphans(&mut db.conn(), now()).unwrap(), 0);
    diesel::update(notifications::table.filter(notifications::id.eq(SqlUuid(told_r[0].id))))
        .set(notifications::next_attempt_at.eq(SqlTime(held_until())))
        .execute(&mut *db.conn())
        .unwrap();
    assert_eq!(due(&of(r.id)), [false]);
    assert_eq!(release_orphans(&mut db.conn(), now()).unwrap(), 1);
    assert_eq!(due(&of(r.id)), [true]);
}

/// A settle does not wait for a collection a decision holds: it records the delivery at once and
/// leaves the next notification of that collection to `release_next`, which waits for the
/// decision to end (and then sees what it wrote).
#[test]
fn postgres_settles_at_once_and_releases_a_held_collection_after_its_decision() {
    let Some(db) = crate::helpers::postgres("outbox::held_collection") else {
        return;
    };
    let c = create_collection(&mut db.conn(), &NewCollection::initiated("REQ-H"), now()).unwrap();
    override_to(&db, "REQ-H", CollectionStatus::Pending);
    override_to(&db, "REQ-H", CollectionStatus::Processing);
    let told = notifications_of(&mut db.conn(), c.id).unwrap();
    let at = now();
    claim_notifications(&mut db.conn(), 10, at, at + TimeDelta::seconds(30)).unwrap();

    // A decision holds the collection: its row locked as `lock_collections` locks it.
    let mut decision = db.conn();
    decision.batch_execute("BEGIN").unwrap();
    decision
        .batch_execute(&format!(
            "SELECT id FROM collections WHERE id = '{}' FOR UPDATE",
            c.id
        ))
        .unwrap();
    let busy = settle_notifications(&mut db.conn(), &[told[0].id], &[], now()).unwrap();
    assert_eq!(busy, [c.id], "the held collection is left for release_next");
    let now_told = notifications_of(&mut db.conn(), c.id).unwrap();
    assert_eq!(
        now_told[0].status, "DELIVERED",
        "the delivery is recorded at once"
    );
    assert_eq!(now_told[1].next_attempt(), None, "the next one still waits");

    // release_next waits for the decision, then makes the next one due.
    let pool = db.pool_of(2);
    let releasing = std::thread::spawn(move || {
        release_next(&mut pool.get().unwrap(), &busy, now()).unwrap();
    });
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(!releasing.is_finished(), "it waits for the decision's lock");
    decision.batch_execute("COMMIT").unwrap();
    releasing.join().unwrap();
    let now_told = notifications_of(&mut db.conn(), c.id).unwrap();
    assert!(now_told[1].next_attempt().is_some());
}
