//! Recording deliveries once, claiming them exactly once, failing and retrying them.

use std::collections::HashSet;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use chrono::TimeDelta;
use persistence::{
    claim_events, find_event, mark_failed, now, record_event, schedule_retry, write_transaction,
    EventStatus, NewWebhookEvent, Recorded, StoreError,
};
use serde_json::json;

use crate::helpers::TestDb;

on_both_backends!(
    first_delivery_is_new_and_a_repeat_is_a_duplicate,
    fifty_threads_record_one_event_once,
    same_key_for_another_provider_is_another_event,
    eight_claimers_claim_two_thousand_events_exactly_once,
    claims_skip_future_and_leased_events_and_come_oldest_first,
    failed_and_retried_events,
);

const LEASE: Duration = Duration::from_secs(300);

fn first_delivery_is_new_and_a_repeat_is_a_duplicate(db: TestDb) {
    let mut conn = db.conn();
    let payload = json!({"event_id": "evt_1", "request_ref": "REQ-1", "status": "success"});
    let first_at = now();
    let first = NewWebhookEvent::received(
        "demo",
        Some("evt_1"),
        "evt_1",
        Some("REQ-1"),
        &payload,
        Some("sig"),
        first_at,
    );
    let Recorded::New(recorded) = record_event(&mut conn, &first).unwrap() else {
        panic!("the first delivery must be new");
    };
    assert_eq!(recorded.id, first.id);
    assert_eq!(recorded.status, EventStatus::Received);
    assert_eq!(recorded.payload, payload);
    assert_eq!(recorded.received_at, first_at);
    assert_eq!(recorded.duplicate_count, 0);

    let later = first_at + TimeDelta::seconds(5);
    let repeat = NewWebhookEvent::received(
        "demo",
        Some("evt_1"),
        "evt_1",
        Some("REQ-1"),
        &payload,
        Some("sig"),
        later,
    );
    let Recorded::Duplicate(existing) = record_event(&mut conn, &repeat).unwrap() else {
        panic!("the repeat must be a duplicate");
    };
    assert_eq!(
        existing.id, first.id,
        "a repeat answers with the first event's id"
    );
    assert_eq!(existing.duplicate_count, 1);
    assert_eq!(existing.last_seen_at, later);
    assert_eq!(existing.received_at, first_at);
}

fn fifty_threads_record_one_event_once(db: TestDb) {
    let pool = db.pool_of(32);
    let barrier = Arc::new(Barrier::new(50));
    let payload = json!({"id": "evt_race"});
    let handles: Vec<_> = (0..50)
        .map(|_| {
            let pool = pool.clone();
            let barrier = barrier.clone();
            let payload = payload.clone();
            std::thread::spawn(move || {
                let new = NewWebhookEvent::received(
                    "demo",
                    Some("evt_race"),
                    "evt_race",
                    None,
                    &payload,
                    None,
                    now(),
                );
                // Check out after the barrier: the pool is smaller than the crowd.
                barrier.wait();
                record_event(&mut pool.get().unwrap(), &new).unwrap()
            })
        })
        .collect();
    let results: Vec<Recorded> = handles.into_iter().map(|h| h.join().unwrap()).collect();

    let new: Vec<_> = results.iter().filter(|r| !r.is_duplicate()).collect();
    assert_eq!(new.len(), 1, "exactly one caller records the event");
    assert_eq!(results.len() - new.len(), 49);
    let first_id = new[0].event().id;
    assert!(results.iter().all(|r| r.event().id == first_id));

    let stored = find_event(&mut db.conn(), first_id).unwrap().unwrap();
    assert_eq!(stored.duplicate_count, 49);
    assert_eq!(count_events(&db), 1);
}

fn same_key_for_another_provider_is_another_event(db: TestDb) {
    let mut conn = db.conn();
    let payload = json!({"id": "evt_1"});
    for provider in ["paystack", "stripe"] {
        let new = NewWebhookEvent::received(provider, None, "evt_1", None, &payload, None, now());
        assert!(!record_event(&mut conn, &new).unwrap().is_duplicate());
    }
    assert_eq!(count_events(&db), 2);
}

fn eight_claimers_claim_two_thousand_events_exactly_once(db: TestDb) {
    let payload = json!({"n": 0});
    let received_at = now() - TimeDelta::seconds(1);
    write_transaction(&mut db.conn(), |conn| -> Result<(), StoreError> {
        for n in 0..2000 {
            let key = format!("evt_{n}");
            let new =
                NewWebhookEvent::received("demo", None, &key, None, &payload, None, received_at);
            record_event(conn, &new)?;
        }
        Ok(())
    })
    .unwrap();

    let pool = db.pool_of(8);
    let barrier = Arc::new(Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let pool = pool.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let mut conn = pool.get().unwrap();
                barrier.wait();
                let mut mine = Vec::new();
                loop {
                    let batch = claim_events(&mut conn, 25, now(), LEASE).unwrap();
                    if batch.is_empty() {
                        return mine;
                    }
                    mine.extend(batch.into_iter().map(|e| (e.id, e.attempts)));
                }
            })
        })
        .collect();
    let claimed: Vec<_> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();

    let distinct: HashSet<_> = claimed.iter().map(|(id, _)| *id).collect();
    assert_eq!(claimed.len(), 2000, "every event claimed, none twice");
    assert_eq!(distinct.len(), 2000);
    assert!(claimed.iter().all(|(_, attempts)| *attempts == 1));
    assert!(claim_events(&mut db.conn(), 10, now(), LEASE)
        .unwrap()
        .is_empty());
}

fn claims_skip_future_and_leased_events_and_come_oldest_first(db: TestDb) {
    let mut conn = db.conn();
    let t0 = now();
    let payload = json!({});
    let mut record = |key: &str, at| {
        let new = NewWebhookEvent::received("demo", None, key, None, &payload, None, at);
        record_event(&mut conn, &new).unwrap().event().id
    };
    let newer = record("newer", t0 - TimeDelta::seconds(1));
    let older = record("older", t0 - TimeDelta::seconds(10));
    let future = record("future", t0 + TimeDelta::seconds(60));

    let claimed = claim_events(&mut db.conn(), 10, t0, LEASE).unwrap();
    let ids: Vec<_> = claimed.iter().map(|e| e.id).collect();
    assert_eq!(
        ids,
        vec![older, newer],
        "oldest first, future events not yet"
    );
    assert!(claimed
        .iter()
        .all(|e| e.next_attempt_at == t0 + TimeDelta::seconds(300)));

    // Leased events come back only once the lease has run out, with another attempt counted.
    assert!(
        claim_events(&mut db.conn(), 10, t0 + TimeDelta::seconds(1), LEASE)
            .unwrap()
            .is_empty()
    );
    let after_lease = t0 + TimeDelta::seconds(301);
    let again = claim_events(&mut db.conn(), 10, after_lease, LEASE).unwrap();
    let mut ids: Vec<_> = again.iter().map(|e| (e.id, e.attempts)).collect();
    ids.sort();
    let mut expected = vec![(older, 2), (newer, 2), (future, 1)];
    expected.sort();
    assert_eq!(ids, expected);
}

fn failed_and_retried_events(db: TestDb) {
    let mut conn = db.conn();
    let payload = json!({});
    let t0 = now();
    let a = NewWebhookEvent::received("demo", None, "a", None, &payload, None, t0);
    let b = NewWebhookEvent::received("demo", None, "b", None, &payload, None, t0);
    record_event(&mut conn, &a).unwrap();
    record_event(&mut conn, &b).unwrap();

    assert!(mark_failed(&mut conn, a.id, "no request_ref", t0).unwrap());
    let failed = find_event(&mut conn, a.id).unwrap().unwrap();
    assert_eq!(failed.status, EventStatus::Failed);
    assert_eq!(failed.last_error.as_deref(), Some("no request_ref"));
    assert_eq!(failed.processed_at, Some(t0));
    // A finished event is never changed again.
    assert!(!mark_failed(&mut conn, a.id, "again", t0).unwrap());
    assert!(!schedule_retry(&mut conn, a.id, t0, "again").unwrap());

    let retry_at = t0 + TimeDelta::seconds(30);
    assert!(schedule_retry(&mut conn, b.id, retry_at, "collection not found").unwrap());
    let waiting = find_event(&mut conn, b.id).unwrap().unwrap();
    assert_eq!(waiting.status, EventStatus::Received);
    assert_eq!(waiting.next_attempt_at, retry_at);
    assert_eq!(waiting.last_error.as_deref(), Some("collection not found"));
    assert!(claim_events(&mut conn, 10, t0, LEASE).unwrap().is_empty());
    assert_eq!(
        claim_events(&mut conn, 10, retry_at, LEASE).unwrap().len(),
        1
    );
}

pub fn count_events(db: &TestDb) -> i64 {
    use diesel::prelude::*;
    persistence::schema::webhook_events::table
        .count()
        .get_result(&mut db.conn())
        .unwrap()
}

/// The claim queries must be answered from the partial index of claimable events however the
/// statement is planned: PostgreSQL moves a prepared statement to a generic plan after five runs,
/// and a generic plan can only use the index when `status = 'RECEIVED'` is in the statement's
/// text (with the status bound, it scanned the whole table instead).
#[test]
fn postgres_claims_use_the_claimable_index_under_a_generic_plan() {
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;
    let Some(db) = crate::helpers::postgres("events::generic_plan") else {
        return;
    };
    let mut conn = db.conn();
    let payload = json!({});
    for n in 0..20 {
        let key = format!("g{n}");
        let new = NewWebhookEvent::received("demo", None, &key, None, &payload, None, now());
        record_event(&mut conn, &new).unwrap();
    }
    let persistence::DbConnection::Pg(pg) = &mut *conn else {
        panic!("a PostgreSQL connection");
    };
    // A 20-row table is cheaper to read whole than through any index: rule that choice out, so
    // that the plan shows which indexes it could use.
    pg.batch_execute("SET plan_cache_mode = force_generic_plan; SET enable_seqscan = off")
        .unwrap();
    let index_scans = |conn: &mut persistence::DbConnection| -> Result<i64, StoreError> {
        let persistence::DbConnection::Pg(pg) = conn else {
            unreachable!()
        };
        // This backend's counts, including those not yet reported.
        Ok(diesel::sql_query(
            "SELECT pg_stat_get_xact_numscans('webhook_events_claimable_idx'::regclass) AS n",
        )
        .get_result::<Count>(pg)?
        .n)
    };
    let scans = write_transaction(&mut conn, |conn| -> Result<_, StoreError> {
        let before = index_scans(conn)?;
        let locked = persistence::lock_claimable(conn, 5, now())?;
        let leased = claim_events(conn, 5, now(), LEASE)?;
        assert_eq!((locked.len(), leased.len()), (5, 5));
        Ok(index_scans(conn)? - before)
    })
    .unwrap();
    assert_eq!(scans, 2, "each claim reads the claimable index");
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}
