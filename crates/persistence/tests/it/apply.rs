//! The decision transaction: effect, audit row and event mark together, fenced by the status the
//! decision was taken from.

use domain::{decide, Authority, CollectionStatus, Outcome};
use persistence::{
    apply_decision, collection_history, create_collection, find_collection, find_event,
    mark_failed, now, record_event, Applied, ApplyRequest, EventStatus, NewCollection,
    NewWebhookEvent,
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
);

fn new_event(db: &TestDb, key: &str) -> Uuid {
    let payload = json!({"id": key});
    let new =
        NewWebhookEvent::received("demo", Some(key), key, Some("REQ-1"), &payload, None, now());
    record_event(&mut db.conn(), &new).unwrap().event().id
}

fn request(
    collection_id: Uuid,
    from: CollectionStatus,
    to: CollectionStatus,
    event: Option<Uuid>,
) -> ApplyRequest<'static> {
    ApplyRequest {
        collection_id,
        decision: decide(from, to, Authority::Event),
        event_id: event,
        provider_ref: Some("PSK-123"),
        actor: "processor",
        reason: None,
        now: now(),
    }
}

fn applied_decision_writes_all_three(db: TestDb) {
    let collection =
        create_collection(&mut db.conn(), &NewCollection::initiated("REQ-1"), now()).unwrap();
    let event = new_event(&db, "evt_1");
    let req = request(
        collection.id,
        CollectionStatus::Initiated,
        CollectionStatus::Success,
        Some(event),
    );

    let Applied::Recorded {
        collection: after,
        transition_id,
    } = apply_decision(&mut db.conn(), &req).unwrap()
    else {
        panic!("expected the decision to be recorded");
    };
    assert_eq!(after.status, CollectionStatus::Success);
    assert_eq!(after.version, 2);
    assert_eq!(after.provider_ref.as_deref(), Some("PSK-123"));
    assert_eq!(after.updated_at, req.now);

    let history = collection_history(&mut db.conn(), collection.id).unwrap();
    assert_eq!(history.len(), 1);
    let row = &history[0];
    assert_eq!(row.id, transition_id);
    assert_eq!(row.webhook_event_id, Some(event));
    assert_eq!(
        (row.from_status, row.to_status),
        (CollectionStatus::Initiated, CollectionStatus::Success)
    );
    assert_eq!(row.outcome, Outcome::Applied);
    assert_eq!(row.actor, "processor");

    let event = find_event(&mut db.conn(), event).unwrap().unwrap();
    assert_eq!(event.status, EventStatus::Processed);
    assert_eq!(event.processed_at, Some(req.now));
}

fn stale_decision_changes_nothing(db: TestDb) {
    let collection =
        create_collection(&mut db.conn(), &NewCollection::initiated("REQ-1"), now()).unwrap();
    let first = new_event(&db, "evt_1");
    apply_decision(
        &mut db.conn(),
        &request(
            collection.id,
            CollectionStatus::Initiated,
            CollectionStatus::Pending,
            Some(first),
        ),
    )
    .unwrap();

    // A second writer decided from INITIATED before the first committed: it must not overwrite.
    let second = new_event(&db, "evt_2");
    let stale = request(
        collection.id,
        CollectionStatus::Initiated,
        CollectionStatus::Processing,
        Some(second),
    );
    assert_eq!(
        apply_decision(&mut db.conn(), &stale).unwrap(),
        Applied::StaleStatus {
            current: CollectionStatus::Pending
        }
    );
    let now_stored = find_collection(&mut db.conn(), "REQ-1").unwrap().unwrap();
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
    apply_decision(
        &mut db.conn(),
        &request(
            collection.id,
            CollectionStatus::Initiated,
            CollectionStatus::Success,
            Some(success),
        ),
    )
    .unwrap();
    let late = new_event(&db, "evt_pending");
    let req = request(
        collection.id,
        CollectionStatus::Success,
        CollectionStatus::Pending,
        Some(late),
    );
    assert_eq!(req.decision.outcome, Outcome::SkippedTerminal);

    let Applied::Recorded {
        collection: after, ..
    } = apply_decision(&mut db.conn(), &req).unwrap()
    else {
        panic!("a skipped decision is still recorded");
    };
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
    let req = request(
        collection.id,
        CollectionStatus::Initiated,
        CollectionStatus::Pending,
        Some(event),
    );
    apply_decision(&mut db.conn(), &req).unwrap();
    // The same event applied again (a second processor after a lease ran out): nothing happens.
    let again = request(
        collection.id,
        CollectionStatus::Pending,
        CollectionStatus::Processing,
        Some(event),
    );
    assert_eq!(
        apply_decision(&mut db.conn(), &again).unwrap(),
        Applied::EventAlreadyFinished
    );
    let failed = new_event(&db, "evt_2");
    mark_failed(&mut db.conn(), failed, "bad", now()).unwrap();
    let on_failed = request(
        collection.id,
        CollectionStatus::Pending,
        CollectionStatus::Processing,
        Some(failed),
    );
    assert_eq!(
        apply_decision(&mut db.conn(), &on_failed).unwrap(),
        Applied::EventAlreadyFinished
    );

    let stored = find_collection(&mut db.conn(), "REQ-1").unwrap().unwrap();
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
    apply_decision(
        &mut db.conn(),
        &request(
            collection.id,
            CollectionStatus::Initiated,
            CollectionStatus::Success,
            None,
        ),
    )
    .unwrap();
    let req = ApplyRequest {
        collection_id: collection.id,
        decision: decide(
            CollectionStatus::Success,
            CollectionStatus::Failed,
            Authority::Override,
        ),
        event_id: None,
        provider_ref: None,
        actor: "ops:alice",
        reason: Some("chargeback confirmed by provider"),
        now: now(),
    };
    let Applied::Recorded {
        collection: after, ..
    } = apply_decision(&mut db.conn(), &req).unwrap()
    else {
        panic!("override must be recorded");
    };
    assert_eq!(after.status, CollectionStatus::Failed);
    let history = collection_history(&mut db.conn(), collection.id).unwrap();
    let last = history.last().unwrap();
    assert_eq!(last.outcome, Outcome::Override);
    assert_eq!(last.webhook_event_id, None);
    assert_eq!(last.actor, "ops:alice");
    assert_eq!(last.reason, "chargeback confirmed by provider");
}

fn missing_collection_changes_nothing(db: TestDb) {
    let event = new_event(&db, "evt_1");
    let req = request(
        Uuid::new_v4(),
        CollectionStatus::Initiated,
        CollectionStatus::Success,
        Some(event),
    );
    assert_eq!(
        apply_decision(&mut db.conn(), &req).unwrap(),
        Applied::CollectionMissing
    );
    assert_eq!(
        find_event(&mut db.conn(), event).unwrap().unwrap().status,
        EventStatus::Received
    );
}
