//! The decision transaction of a round: many events' decisions in one commit, decided per
//! collection in the round's order exactly as one-by-one decisions would be, with the same
//! fences; and the direct claim's pieces (lock, settle or lease, in one transaction).

use chrono::{DateTime, Utc};
use domain::{CollectionStatus, Outcome, Request};
use persistence::lock::try_database_locks;
use persistence::{
    apply_requests, collection_history, create_collection, find_collection, find_event,
    lease_events, lock_claimable, mark_claimed_failed, mark_failed, now, record_event,
    write_transaction, DbConnection, Decide, EventStatus, EventsHeld, NewCollection,
    NewWebhookEvent, RequestOutcome, StoreError,
};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::TestDb;

use CollectionStatus::*;

on_both_backends!(
    a_batch_decides_each_collection_in_order,
    missing_finished_and_repeated_events_write_nothing,
    a_direct_claim_settles_or_leases_each_event_and_counts_one_attempt,
);

fn lock_name(request_ref: &str) -> String {
    format!("webhook_processing:{request_ref}")
}

type BatchOutcome = RequestOutcome;

/// A round's transaction over `items`, with `row_wait` as its bound on held rows.
fn apply_batch(
    conn: &mut DbConnection,
    items: &[Request],
    row_wait: Option<std::time::Duration>,
    at: DateTime<Utc>,
) -> Result<Vec<RequestOutcome>, StoreError> {
    crate::helpers::decide_requests(conn, items, "processor", at, row_wait)
}

fn new_event(db: &TestDb, key: &str, request_ref: &str) -> Uuid {
    let payload = json!({"id": key});
    let new = NewWebhookEvent::received(
        "demo",
        Some(key),
        key,
        Some(request_ref),
        &payload,
        None,
        now(),
    );
    record_event(&mut db.conn(), &new).unwrap().event().id
}

fn item(event_id: Uuid, request_ref: &str, requested: CollectionStatus) -> Request {
    Request::from_event(
        event_id,
        request_ref.to_owned(),
        requested,
        Some(format!("PSK-{request_ref}")),
    )
}

fn outcome_of(result: &BatchOutcome) -> Option<Outcome> {
    match result {
        BatchOutcome::Recorded(decision) => Some(decision.outcome),
        _ => None,
    }
}

fn a_batch_decides_each_collection_in_order(db: TestDb) {
    for reference in ["A", "B"] {
        create_collection(&mut db.conn(), &NewCollection::initiated(reference), now()).unwrap();
    }
    // A: PENDING, SUCCESS, then a late FAILED and a backward PROCESSING; B: PROCESSING twice.
    let plan = [
        ("a1", "A", Pending),
        ("b1", "B", Processing),
        ("a2", "A", Success),
        ("a3", "A", Failed),
        ("b2", "B", Processing),
        ("a4", "A", Processing),
    ];
    let items: Vec<Request> = plan
        .iter()
        .map(|(key, reference, status)| item(new_event(&db, key, reference), reference, *status))
        .collect();
    let at = now();

    let results = apply_batch(&mut db.conn(), &items, None, at).unwrap();

    let outcomes: Vec<Option<Outcome>> = results.iter().map(outcome_of).collect();
    assert_eq!(
        outcomes,
        vec![
            Some(Outcome::Applied),
            Some(Outcome::Applied),
            Some(Outcome::Applied),
            Some(Outcome::SkippedTerminal),
            Some(Outcome::Unchanged),
            Some(Outcome::SkippedTerminal),
        ]
    );
    let a = find_collection(&mut db.conn(), "A").unwrap().unwrap();
    assert_eq!(
        (a.status, a.version),
        (Success, 3),
        "two changes from version 1"
    );
    assert_eq!(a.provider_ref.as_deref(), Some("PSK-A"));
    assert_eq!(
        a.provider.as_deref(),
        Some("demo"),
        "the provider that changed it"
    );
    assert_eq!(a.updated_at, at);
    let b = find_collection(&mut db.conn(), "B").unwrap().unwrap();
    assert_eq!((b.status, b.version), (Processing, 2));

    // The audit rows of A follow the batch's order, each from the status the one before left.
    let history = collection_history(&mut db.conn(), a.id).unwrap();
    let steps: Vec<(CollectionStatus, CollectionStatus, Outcome)> = history
        .iter()
        .map(|t| (t.from_status, t.to_status, t.outcome))
        .collect();
    assert_eq!(
        steps,
        vec![
            (Initiated, Pending, Outcome::Applied),
            (Pending, Success, Outcome::Applied),
            (Success, Failed, Outcome::SkippedTerminal),
            (Success, Processing, Outcome::SkippedTerminal),
        ]
    );
    for item in &items {
        let event = find_event(&mut db.conn(), item.event.unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(event.status, EventStatus::Processed);
        assert_eq!(event.processed_at, Some(at));
    }
}

fn missing_finished_and_repeated_events_write_nothing(db: TestDb) {
    create_collection(&mut db.conn(), &NewCollection::initiated("A"), now()).unwrap();
    let fresh = new_event(&db, "e1", "A");
    let finished = new_event(&db, "e2", "A");
    assert!(mark_failed(&mut db.conn(), finished, "by hand", now()).unwrap());
    let orphan = new_event(&db, "e3", "NOPE");
    let items = vec![
        item(fresh, "A", Pending),
        item(finished, "A", Success),
        item(orphan, "NOPE", Success),
        // The same event again, as a processor that re-claimed it after its lease may hold it.
        item(fresh, "A", Success),
    ];

    let results = apply_batch(&mut db.conn(), &items, None, now()).unwrap();

    assert_eq!(outcome_of(&results[0]), Some(Outcome::Applied));
    assert_eq!(results[1], BatchOutcome::AlreadyFinished);
    assert_eq!(results[2], BatchOutcome::CollectionMissing);
    assert_eq!(results[3], BatchOutcome::AlreadyFinished);
    let a = find_collection(&mut db.conn(), "A").unwrap().unwrap();
    assert_eq!(a.status, Pending);
    assert_eq!(collection_history(&mut db.conn(), a.id).unwrap().len(), 1);
    let orphan = find_event(&mut db.conn(), orphan).unwrap().unwrap();
    assert_eq!(orphan.status, EventStatus::Received);
}

/// A collection row another transaction holds fails the batch after `row_wait`, with an error
/// the caller can tell from others, instead of waiting for as long as it is held.
#[test]
fn a_held_collection_row_fails_the_batch_after_the_row_wait() {
    use diesel::prelude::*;
    let Some(db) = crate::helpers::postgres("apply_batch::a_held_collection_row") else {
        return;
    };
    create_collection(&mut db.conn(), &NewCollection::initiated("A"), now()).unwrap();
    let a = new_event(&db, "a1", "A");
    let items = vec![item(a, "A", Success)];
    let mut holder = db.conn();
    let (error, waited) = write_transaction(&mut holder, |conn: &mut DbConnection| {
        // A host application's transaction on the collection.
        let DbConnection::Pg(pg) = conn else {
            unreachable!()
        };
        diesel::sql_query("SELECT 1 FROM collections WHERE request_ref = 'A' FOR UPDATE")
            .execute(pg)?;
        let started = std::time::Instant::now();
        let wait = Some(std::time::Duration::from_millis(200));
        let error = apply_batch(&mut db.conn(), &items, wait, now()).expect_err("the row is held");
        Ok::<_, StoreError>((error, started.elapsed()))
    })
    .unwrap();
    assert!(error.is_lock_timeout(), "{error}");
    assert!(!error.is_transient(), "{error}");
    assert!(
        waited >= std::time::Duration::from_millis(200),
        "{waited:?}"
    );
    assert!(waited < std::time::Duration::from_secs(5), "{waited:?}");
    // Nothing was written; alone again, it goes through.
    assert_eq!(
        find_event(&mut db.conn(), a).unwrap().unwrap().status,
        EventStatus::Received
    );
    let results = apply_batch(&mut db.conn(), &items, None, now()).unwrap();
    assert_eq!(outcome_of(&results[0]), Some(Outcome::Applied));
}

/// A payment lock another transaction holds is not had, the others are (the processor's `apply`
/// step leaves that payment out of its round; the processor's lock tests show it end to end);
/// the lock ends with the transaction that took it.
#[test]
fn a_busy_database_lock_is_not_had_until_its_transaction_ends() {
    let Some(db) = crate::helpers::postgres(
        "apply_batch::a_busy_database_lock_is_not_had_until_its_transaction_ends",
    ) else {
        return;
    };
    let (a, b) = (lock_name("A"), lock_name("B"));
    let mut holder = db.conn();
    let had = write_transaction(&mut holder, |conn: &mut DbConnection| {
        // Another processor's round holds A's lock.
        assert_eq!(try_database_locks(conn, &[&a])?, vec![true]);
        write_transaction(&mut db.conn(), |other| try_database_locks(other, &[&a, &b]))
    })
    .unwrap();
    assert_eq!(had, vec![false, true]);
    let after = write_transaction(&mut db.conn(), |conn| try_database_locks(conn, &[&a])).unwrap();
    assert_eq!(after, vec![true]);
}

fn a_direct_claim_settles_or_leases_each_event_and_counts_one_attempt(db: TestDb) {
    create_collection(&mut db.conn(), &NewCollection::initiated("A"), now()).unwrap();
    let decided = new_event(&db, "d1", "A");
    let failed = new_event(&db, "d2", "A");
    let leased = new_event(&db, "d3", "LATER");
    let at = now();
    let until = at + chrono::TimeDelta::seconds(60);

    let (claimed, outcomes, leased_rows) = write_transaction(&mut db.conn(), |conn| {
        let claimed = lock_claimable(conn, 10, at)?;
        let decide = Decide {
            actor: "processor",
            events: EventsHeld::Claimed,
            now: at,
        };
        let outcomes = apply_requests(conn, &[item(decided, "A", Pending)], &decide)?;
        assert!(mark_claimed_failed(conn, failed, "no status", at)?);
        let leased_rows = lease_events(conn, &[leased], until)?;
        Ok::<_, StoreError>((claimed, outcomes, leased_rows))
    })
    .unwrap();

    let ids: Vec<Uuid> = claimed.iter().map(|e| e.id).collect();
    assert_eq!(ids, vec![decided, failed, leased], "oldest first");
    assert_eq!(outcome_of(&outcomes[0]), Some(Outcome::Applied));
    assert_eq!(leased_rows.len(), 1);
    for (id, status) in [
        (decided, EventStatus::Processed),
        (failed, EventStatus::Failed),
        (leased, EventStatus::Received),
    ] {
        let event = find_event(&mut db.conn(), id).unwrap().unwrap();
        assert_eq!(event.status, status);
        assert_eq!(event.attempts, 1, "one claim, counted once");
    }
    let hidden = find_event(&mut db.conn(), leased).unwrap().unwrap();
    assert_eq!(hidden.next_attempt_at, until);
    // Nothing is claimable now: two settled, one leased.
    let again = write_transaction(&mut db.conn(), |conn| lock_claimable(conn, 10, at)).unwrap();
    assert!(again.is_empty());
}

/// Two direct claimers at once never lock the same event.
#[test]
fn concurrent_direct_claims_skip_each_others_events() {
    let Some(db) =
        crate::helpers::postgres("apply_batch::concurrent_direct_claims_skip_each_others_events")
    else {
        return;
    };
    for n in 0..20 {
        new_event(&db, &format!("c{n}"), "A");
    }
    let at = now();
    let mut first = db.conn();
    let mut second = db.conn();
    let both = write_transaction(&mut first, |a| {
        let mine = lock_claimable(a, 12, at)?;
        let theirs = write_transaction(&mut second, |b| lock_claimable(b, 12, at))?;
        Ok::<_, StoreError>((mine, theirs))
    })
    .unwrap();
    let mine: std::collections::HashSet<Uuid> = both.0.iter().map(|e| e.id).collect();
    let theirs: std::collections::HashSet<Uuid> = both.1.iter().map(|e| e.id).collect();
    assert_eq!((mine.len(), theirs.len()), (12, 8));
    assert!(mine.is_disjoint(&theirs));
}
