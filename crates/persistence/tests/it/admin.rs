//! Operator queries: list, replay, purge, stats.

use chrono::TimeDelta;
use domain::{Authority, CollectionStatus, Request};
use persistence::{
    count_purgeable, create_collection, find_event, list_events, mark_failed, now, purge_batch,
    record_event, replay_event, stats, EventFilter, EventStatus, NewCollection, NewWebhookEvent,
    Replayed,
};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::TestDb;

on_both_backends!(
    list_filters_and_orders_newest_first,
    replay_sends_finished_events_back_and_leaves_pending_ones,
    purge_deletes_old_finished_events_in_batches,
    stats_count_statuses_duplicates_and_decisions,
);

fn record(db: &TestDb, provider: &str, key: &str, at: chrono::DateTime<chrono::Utc>) -> Uuid {
    let payload = json!({"id": key});
    let new =
        NewWebhookEvent::received(provider, Some(key), key, Some("REQ-1"), &payload, None, at);
    record_event(&mut db.conn(), &new).unwrap().event().id
}

fn list_filters_and_orders_newest_first(db: TestDb) {
    let t0 = now() - TimeDelta::hours(1);
    let a = record(&db, "paystack", "a", t0);
    let b = record(&db, "stripe", "b", t0 + TimeDelta::minutes(10));
    let c = record(&db, "stripe", "c", t0 + TimeDelta::minutes(20));
    mark_failed(&mut db.conn(), c, "bad", now()).unwrap();
    let ids = |filter: EventFilter| -> Vec<Uuid> {
        list_events(&mut db.conn(), &filter)
            .unwrap()
            .into_iter()
            .map(|e| e.id)
            .collect()
    };
    assert_eq!(
        ids(EventFilter {
            limit: 10,
            ..Default::default()
        }),
        vec![c, b, a]
    );
    assert_eq!(
        ids(EventFilter {
            limit: 2,
            ..Default::default()
        }),
        vec![c, b]
    );
    assert_eq!(
        ids(EventFilter {
            provider: Some("stripe"),
            limit: 10,
            ..Default::default()
        }),
        vec![c, b]
    );
    assert_eq!(
        ids(EventFilter {
            status: Some(EventStatus::Failed),
            limit: 10,
            ..Default::default()
        }),
        vec![c]
    );
    assert_eq!(
        ids(EventFilter {
            since: Some(t0 + TimeDelta::minutes(5)),
            limit: 10,
            ..Default::default()
        }),
        vec![c, b]
    );
}

fn replay_sends_finished_events_back_and_leaves_pending_ones(db: TestDb) {
    let failed = record(&db, "demo", "f", now());
    mark_failed(&mut db.conn(), failed, "collection not found", now()).unwrap();
    let at = now();
    let Replayed::Queued(event) =
        replay_event(&mut db.conn(), failed, "replayed by ops:alice", at).unwrap()
    else {
        panic!("a failed event is replayed");
    };
    assert_eq!(event.status, EventStatus::Received);
    assert_eq!(event.attempts, 0);
    assert_eq!(event.next_attempt_at, at);
    assert_eq!(event.processed_at, None);
    assert_eq!(
        event.last_error.as_deref(),
        Some("replayed by ops:alice (was FAILED: collection not found)")
    );

    assert_eq!(
        replay_event(&mut db.conn(), failed, "again", now()).unwrap(),
        Replayed::AlreadyPending
    );
    assert_eq!(
        replay_event(&mut db.conn(), Uuid::new_v4(), "x", now()).unwrap(),
        Replayed::NotFound
    );
}

fn purge_deletes_old_finished_events_in_batches(db: TestDb) {
    let old = now() - TimeDelta::days(40);
    let mut finished = Vec::new();
    for n in 0..25 {
        let id = record(&db, "demo", &format!("old-{n}"), old);
        mark_failed(&mut db.conn(), id, "x", now()).unwrap();
        finished.push(id);
    }
    let pending_old = record(&db, "demo", "old-pending", old);
    let recent = record(&db, "demo", "recent", now());
    mark_failed(&mut db.conn(), recent, "x", now()).unwrap();

    let cutoff = now() - TimeDelta::days(30);
    assert_eq!(count_purgeable(&mut db.conn(), cutoff).unwrap(), 25);
    let mut batches = Vec::new();
    loop {
        let n = purge_batch(&mut db.conn(), cutoff, 10).unwrap();
        if n == 0 {
            break;
        }
        batches.push(n);
    }
    assert_eq!(batches, vec![10, 10, 5]);
    assert!(find_event(&mut db.conn(), finished[0]).unwrap().is_none());
    assert!(
        find_event(&mut db.conn(), pending_old).unwrap().is_some(),
        "RECEIVED events stay"
    );
    assert!(
        find_event(&mut db.conn(), recent).unwrap().is_some(),
        "recent events stay"
    );
}

fn stats_count_statuses_duplicates_and_decisions(db: TestDb) {
    let empty = stats(&mut db.conn()).unwrap();
    assert_eq!(empty.duplicates_suppressed, 0);
    assert_eq!(empty.oldest_pending_received_at, None);

    let first_at = now() - TimeDelta::minutes(5);
    record(&db, "demo", "a", first_at);
    record(&db, "demo", "a", now());
    record(&db, "demo", "a", now());
    let b = record(&db, "demo", "b", now());
    mark_failed(&mut db.conn(), b, "x", now()).unwrap();
    create_collection(&mut db.conn(), &NewCollection::initiated("REQ-1"), now()).unwrap();
    let by_hand = Request::from_operator(
        "REQ-1".into(),
        CollectionStatus::Success,
        Authority::Event,
        None,
    );
    crate::helpers::decide_requests(&mut db.conn(), &[by_hand], "test", now(), None).unwrap();

    let figures = stats(&mut db.conn()).unwrap();
    assert_eq!(
        figures.events,
        vec![
            ("RECEIVED".into(), 1),
            ("PROCESSED".into(), 0),
            ("FAILED".into(), 1)
        ]
    );
    assert_eq!(figures.duplicates_suppressed, 2);
    assert_eq!(figures.decisions, vec![("applied".into(), 1)]);
    assert_eq!(figures.oldest_pending_received_at, Some(first_at));
}
