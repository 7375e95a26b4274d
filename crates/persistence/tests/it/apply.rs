//! The decision transaction for one request: effect, audit row and event mark together, fenced
//! by the status the plan was made from.

use chrono::{DateTime, Utc};
use domain::plan::{plan_round, CollectionState};
use domain::{Amount, AmountCheck, Authority, CollectionStatus, Money, Outcome, Request, Unit};
use persistence::{
    collection_history, create_collection, find_collection, find_event, lock_collections,
    mark_failed, now, record_event, write_plan, write_transaction, Collection, Decide, EventStatus,
    EventsHeld, LockedCollection, NewCollection, NewWebhookEvent, RequestOutcome, StoreError,
};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::TestDb;

on_both_backends!(
    applied_decision_writes_all_three,
    stale_decision_changes_nothing,
    skipped_decision_audits_but_leaves_the_collection,
    finished_event_is_never_applied_again,
    operator_override_without_event,
    missing_collection_changes_nothing,
    a_success_of_another_amount_is_audited_and_fails_its_event,
);

fn new_event(db: &TestDb, key: &str) -> Uuid {
    let payload = json!({"id": key});
    let new =
        NewWebhookEvent::received("demo", Some(key), key, Some("REQ-1"), &payload, None, now());
    record_event(&mut db.conn(), &new).unwrap().event().id
}

/// What event `event` asks of REQ-1, with the provider's reference PSK-123.
fn request(to: CollectionStatus, event: Uuid) -> Request {
    Request::from_event(event, "REQ-1".into(), to, Some("PSK-123".into()))
}

fn apply(db: &TestDb, request: Request, actor: &str, at: DateTime<Utc>) -> RequestOutcome {
    let outcomes = crate::helpers::decide_requests(&mut db.conn(), &[request], actor, at, None);
    outcomes.unwrap().remove(0)
}

fn stored(db: &TestDb) -> Collection {
    find_collection(&mut db.conn(), "REQ-1").unwrap().unwrap()
}

fn applied_decision_writes_all_three(db: TestDb) {
    let collection =
        create_collection(&mut db.conn(), &NewCollection::initiated("REQ-1"), now()).unwrap();
    let event = new_event(&db, "evt_1");
    let at = now();

    let RequestOutcome::Recorded(decision) = apply(
        &db,
        request(CollectionStatus::Success, event),
        "processor",
        at,
    ) else {
        panic!("expected the decision to be recorded");
    };
    assert_eq!(decision.outcome, Outcome::Applied);
    let after = stored(&db);
    assert_eq!(after.status, CollectionStatus::Success);
    assert_eq!(after.version, 2);
    assert_eq!(after.provider_ref.as_deref(), Some("PSK-123"));
    assert_eq!(
        after.provider.as_deref(),
        Some("demo"),
        "the provider that changed it"
    );
    assert_eq!(after.updated_at, at);

    let history = collection_history(&mut db.conn(), collection.id).unwrap();
    assert_eq!(history.len(), 1);
    let row = &history[0];
    assert_eq!(row.webhook_event_id, Some(event));
    assert_eq!(
        (row.from_status, row.to_status),
        (CollectionStatus::Initiated, CollectionStatus::Success)
    );
    assert_eq!(row.outcome, Outcome::Applied);
    assert_eq!(row.actor, "processor");

    let event = find_event(&mut db.conn(), event).unwrap().unwrap();
    assert_eq!(event.status, EventStatus::Processed);
    assert_eq!(event.processed_at, Some(at));
}

fn stale_decision_changes_nothing(db: TestDb) {
    let collection =
        create_collection(&mut db.conn(), &NewCollection::initiated("REQ-1"), now()).unwrap();
    let first = new_event(&db, "evt_1");
    apply(
        &db,
        request(CollectionStatus::Pending, first),
        "processor",
        now(),
    );

    // A plan made from INITIATED, read before the first change committed: it must not overwrite.
    let second = new_event(&db, "evt_2");
    let stale = LockedCollection {
        id: collection.id,
        state: CollectionState {
            request_ref: "REQ-1".into(),
            status: CollectionStatus::Initiated,
            provider_ref: None,
            amount: Amount::Absent,
        },
        facts: Default::default(),
    };
    let plan = plan_round(
        std::slice::from_ref(&stale.state),
        &[request(CollectionStatus::Processing, second)],
    );
    let decide = Decide {
        actor: "processor",
        events: EventsHeld::Leased,
        now: now(),
    };
    let error = write_transaction(&mut db.conn(), |conn| {
        lock_collections(conn, &["REQ-1"])?;
        write_plan(conn, &plan, std::slice::from_ref(&stale), &decide)
    })
    .expect_err("a stale plan is refused");
    assert!(matches!(error, StoreError::Conflict(_)), "{error}");
    let now_stored = stored(&db);
    assert_eq!(now_stored.status, CollectionStatus::Pending);
    assert_eq!(now_stored.version, 2);
    assert_eq!(
        collection_history(&mut db.conn(), collection.id)
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        find_event(&mut db.conn(), second).unwrap().unwrap().status,
        EventStatus::Received
    );
}

fn skipped_decision_audits_but_leaves_the_collection(db: TestDb) {
    let collection =
        create_collection(&mut db.conn(), &NewCollection::initiated("REQ-1"), now()).unwrap();
    let success = new_event(&db, "evt_success");
    apply(
        &db,
        request(CollectionStatus::Success, success),
        "processor",
        now(),
    );
    let late = new_event(&db, "evt_pending");

    let RequestOutcome::Recorded(decision) = apply(
        &db,
        request(CollectionStatus::Pending, late),
        "processor",
        now(),
    ) else {
        panic!("a skipped decision is still recorded");
    };
    assert_eq!(decision.outcome, Outcome::SkippedTerminal);
    let after = stored(&db);
    assert_eq!(after.status, CollectionStatus::Success);
    assert_eq!(
        after.version, 2,
        "skipping writes nothing to the collection"
    );
    let history = collection_history(&mut db.conn(), collection.id).unwrap();
    let outcomes: Vec<_> = history.iter().map(|t| t.outcome).collect();
    assert_eq!(outcomes, vec![Outcome::Applied, Outcome::SkippedTerminal]);
    assert_eq!(
        history[1].reason,
        "Skipping status update: already in terminal status SUCCESS"
    );
    assert_eq!(
        find_event(&mut db.conn(), late).unwrap().unwrap().status,
        EventStatus::Processed
    );
}

fn finished_event_is_never_applied_again(db: TestDb) {
    let collection =
        create_collection(&mut db.conn(), &NewCollection::initiated("REQ-1"), now()).unwrap();
    let event = new_event(&db, "evt_1");
    apply(
        &db,
        request(CollectionStatus::Pending, event),
        "processor",
        now(),
    );
    // The same event applied again (a second processor after a lease ran out): nothing happens.
    assert_eq!(
        apply(
            &db,
            request(CollectionStatus::Processing, event),
            "processor",
            now()
        ),
        RequestOutcome::AlreadyFinished
    );
    let failed = new_event(&db, "evt_2");
    mark_failed(&mut db.conn(), failed, "bad", now()).unwrap();
    assert_eq!(
        apply(
            &db,
            request(CollectionStatus::Processing, failed),
            "processor",
            now()
        ),
        RequestOutcome::AlreadyFinished
    );

    let stored = stored(&db);
    assert_eq!(stored.status, CollectionStatus::Pending);
    assert_eq!(
        collection_history(&mut db.conn(), collection.id)
            .unwrap()
            .len(),
        1
    );
}

fn operator_override_without_event(db: TestDb) {
    let collection =
        create_collection(&mut db.conn(), &NewCollection::initiated("REQ-1"), now()).unwrap();
    let by_hand = |status, authority, reason: Option<&str>| {
        Request::from_operator("REQ-1".into(), status, authority, reason.map(str::to_owned))
    };
    apply(
        &db,
        by_hand(CollectionStatus::Success, Authority::Event, None),
        "ops:alice",
        now(),
    );
    let forced = by_hand(
        CollectionStatus::Failed,
        Authority::Override,
        Some("chargeback confirmed by provider"),
    );
    let RequestOutcome::Recorded(decision) = apply(&db, forced, "ops:alice", now()) else {
        panic!("override must be recorded");
    };
    assert_eq!(decision.outcome, Outcome::Override);
    assert_eq!(stored(&db).status, CollectionStatus::Failed);
    let history = collection_history(&mut db.conn(), collection.id).unwrap();
    let last = history.last().unwrap();
    assert_eq!(last.outcome, Outcome::Override);
    assert_eq!(last.webhook_event_id, None);
    assert_eq!(last.actor, "ops:alice");
    assert_eq!(last.reason, "chargeback confirmed by provider");
}

fn missing_collection_changes_nothing(db: TestDb) {
    let event = new_event(&db, "evt_1");
    assert_eq!(
        apply(
            &db,
            request(CollectionStatus::Success, event),
            "processor",
            now()
        ),
        RequestOutcome::CollectionMissing
    );
    assert_eq!(
        find_event(&mut db.conn(), event).unwrap().unwrap().status,
        EventStatus::Received
    );
}

fn a_success_of_another_amount_is_audited_and_fails_its_event(db: TestDb) {
    let new = NewCollection {
        amount: Some("10250.00"),
        currency: Some("NGN"),
        ..NewCollection::initiated("REQ-1")
    };
    let collection = create_collection(&mut db.conn(), &new, now()).unwrap();
    let paid = |event, kobo: &str| {
        let amount = Amount::read(Some(kobo), Some("ngn"), |a, c| {
            Money::from_provider(a, c, Unit::Minor)
        });
        request(CollectionStatus::Success, event).with_amount(amount, AmountCheck::Strict)
    };
    let short = new_event(&db, "evt_short");
    let reason = "expected 10250.00 NGN, got 10250.01 NGN";
    let outcome = apply(&db, paid(short, "1025001"), "processor", now());
    let RequestOutcome::Failed(decision, why) = outcome else {
        panic!("expected a mismatch, got {outcome:?}");
    };
    assert_eq!(
        (decision.outcome, why.as_str()),
        (Outcome::AmountMismatch, reason)
    );
    let after = stored(&db);
    assert_eq!(
        (after.status, after.version),
        (CollectionStatus::Initiated, 1)
    );
    let failed = find_event(&mut db.conn(), short).unwrap().unwrap();
    assert_eq!(failed.status, EventStatus::Failed);
    assert_eq!(failed.last_error.as_deref(), Some(reason));
    let history = collection_history(&mut db.conn(), collection.id).unwrap();
    assert_eq!(history[0].outcome, Outcome::AmountMismatch);
    assert_eq!(history[0].reason, reason);

    // The right amount still applies.
    let right = new_event(&db, "evt_right");
    let outcome = apply(&db, paid(right, "1025000"), "processor", now());
    assert!(matches!(outcome, RequestOutcome::Recorded(d) if d.outcome == Outcome::Applied));
    assert_eq!(stored(&db).status, CollectionStatus::Success);
}
