//! The host API's lists: keyset pages that stay correct while rows change, and bulk replay.

use std::collections::HashMap;

use chrono::TimeDelta;
use domain::{Authority, CollectionStatus, Request};
use persistence::{
    apply_requests, create_collection, find_event, list_collections, list_event_summaries,
    mark_failed, now, record_event, replay_matching, write_transaction, CollectionQuery, Cursor,
    Decide, EventQuery, EventStatus, EventsHeld, NewCollection, NewWebhookEvent, ReplayFilter,
    StoreError,
};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::TestDb;

on_both_backends!(
    collection_pages_see_every_change_while_rows_change,
    collection_pages_newest_first_within_a_range,
    event_pages_run_newest_first_without_repeats,
    bulk_replay_sends_back_what_matches_once,
);

fn set_status(db: &TestDb, reference: &str, status: CollectionStatus) {
    let request = Request::from_operator(
        reference.to_owned(),
        status,
        Authority::Override,
        Some("test".to_owned()),
    );
    let decide = Decide {
        actor: "test",
        events: EventsHeld::Leased,
        now: now(),
    };
    write_transaction(&mut db.conn(), |conn| -> Result<_, StoreError> {
        apply_requests(conn, std::slice::from_ref(&request), &decide)
    })
    .unwrap();
}

fn collection_pages_see_every_change_while_rows_change(db: TestDb) {
    let t0 = now() - TimeDelta::hours(1);
    for n in 0..25 {
        let reference = format!("REQ-{n:02}");
        let at = t0 + TimeDelta::seconds(n);
        create_collection(&mut db.conn(), &NewCollection::initiated(&reference), at).unwrap();
    }
    // Read in pages of 10; between pages, change one collection already read and one not yet.
    let mut seen: HashMap<String, Vec<i64>> = HashMap::new();
    let mut after: Option<Cursor> = None;
    let mut pages = 0;
    loop {
        let page = list_collections(
            &mut db.conn(),
            &CollectionQuery {
                after,
                limit: 10,
                ..Default::default()
            },
        )
        .unwrap();
        let Some(last) = page.last() else { break };
        after = Some(Cursor {
            at: last.updated_at,
            id: last.id,
        });
        for c in &page {
            seen.entry(c.request_ref.clone())
                .or_default()
                .push(c.version);
        }
        pages += 1;
        if pages == 1 {
            set_status(&db, "REQ-03", CollectionStatus::Pending);
            set_status(&db, "REQ-20", CollectionStatus::Pending);
        }
        assert!(pages < 10, "the pages never end");
    }
    assert_eq!(seen.len(), 25, "every collection is read");
    // One read before its change is read again with the new version; one not yet read is read
    // once, changed.
    assert_eq!(seen["REQ-03"], vec![1, 2]);
    assert_eq!(seen["REQ-20"], vec![2]);
    assert_eq!(seen["REQ-04"], vec![1]);

    let changed = list_collections(
        &mut db.conn(),
        &CollectionQuery {
            status: Some(CollectionStatus::Pending),
            updated_after: Some(t0 + TimeDelta::minutes(30)),
            limit: 10,
            ..Default::default()
        },
    )
    .unwrap();
    let refs: Vec<&str> = changed.iter().map(|c| c.request_ref.as_str()).collect();
    assert_eq!(refs, ["REQ-03", "REQ-20"]);
}

fn collection_pages_newest_first_within_a_range(db: TestDb) {
    let t0 = now() - TimeDelta::hours(1);
    // Two share an instant: the id breaks the tie, backwards too.
    for (n, second) in [(0, 0), (1, 1), (2, 2), (3, 2), (4, 3), (5, 4)] {
        let reference = format!("REQ-{n}");
        let at = t0 + TimeDelta::seconds(second);
        create_collection(&mut db.conn(), &NewCollection::initiated(&reference), at).unwrap();
    }
    let mut read = Vec::new();
    let mut after: Option<Cursor> = None;
    loop {
        let page = list_collections(
            &mut db.conn(),
            &CollectionQuery {
                // (t0, t0 + 4 s): REQ-0 and REQ-5 are out of the range.
                updated_after: Some(t0),
                updated_before: Some(t0 + TimeDelta::seconds(4)),
                newest_first: true,
                after,
                limit: 2,
                ..Default::default()
            },
        )
        .unwrap();
        let Some(last) = page.last() else { break };
        after = Some(Cursor {
            at: last.updated_at,
            id: last.id,
        });
        read.extend(
            page.into_iter()
                .map(|c| (c.updated_at, c.id, c.request_ref)),
        );
        assert!(read.len() < 10, "the pages never end");
    }
    let refs: Vec<&str> = read.iter().map(|(_, _, r)| r.as_str()).collect();
    assert_eq!(refs.len(), 4, "{refs:?}");
    assert_eq!(refs[0], "REQ-4");
    assert_eq!(refs[3], "REQ-1");
    let mut expected = read.clone();
    expected.sort_by_key(|(at, id, _)| std::cmp::Reverse((*at, *id)));
    assert_eq!(
        read, expected,
        "latest change first, ties by id, no repeats"
    );
}

fn record(db: &TestDb, provider: &str, key: &str, at: chrono::DateTime<chrono::Utc>) -> Uuid {
    let payload = json!({"id": key});
    let new =
        NewWebhookEvent::received(provider, Some(key), key, Some("REQ-1"), &payload, None, at);
    record_event(&mut db.conn(), &new).unwrap().event().id
}

fn event_pages_run_newest_first_without_repeats(db: TestDb) {
    let t0 = now() - TimeDelta::hours(1);
    // Three events share one instant: the id breaks the tie.
    let mut ids: Vec<Uuid> = (0..12)
        .map(|n| {
            let at = t0 + TimeDelta::seconds(n.min(9));
            record(&db, "stripe", &format!("evt-{n}"), at)
        })
        .collect();
    let mut read = Vec::new();
    let mut before = None;
    loop {
        let page = list_event_summaries(
            &mut db.conn(),
            &EventQuery {
                provider: Some("stripe"),
                before,
                limit: 5,
                ..Default::default()
            },
        )
        .unwrap();
        let Some(last) = page.last() else { break };
        before = Some(Cursor {
            at: last.received_at,
            id: last.id,
        });
        // An event arriving meanwhile is newer than every page: never in the rest of this read.
        record(&db, "stripe", &format!("late-{}", read.len()), now());
        read.extend(page.iter().map(|e| (e.received_at, e.id)));
    }
    let mut expected: Vec<(chrono::DateTime<chrono::Utc>, Uuid)> = ids
        .drain(..)
        .map(|id| {
            let event = find_event(&mut db.conn(), id).unwrap().unwrap();
            (event.received_at, id)
        })
        .collect();
    expected.sort_by(|a, b| b.cmp(a));
    assert_eq!(read, expected);
}

fn bulk_replay_sends_back_what_matches_once(db: TestDb) {
    let t0 = now() - TimeDelta::hours(2);
    let mut failed = Vec::new();
    for n in 0..7 {
        let provider = if n < 5 { "stripe" } else { "paystack" };
        let id = record(&db, provider, &format!("f-{n}"), t0 + TimeDelta::minutes(n));
        mark_failed(&mut db.conn(), id, "bad", now()).unwrap();
        failed.push(id);
    }
    let pending = record(&db, "stripe", "pending", t0);
    let filter = ReplayFilter {
        status: EventStatus::Failed,
        provider: Some("stripe"),
        received_after: Some(t0 + TimeDelta::minutes(1)),
        received_before: None,
    };
    let count = replay_matching(&mut db.conn(), &filter, "replayed by test", now(), 2).unwrap();
    assert_eq!(count, 4, "stripe's failed events from the second minute on");
    let status_of = |id| find_event(&mut db.conn(), id).unwrap().unwrap();
    assert_eq!(status_of(failed[0]).status, EventStatus::Failed);
    for id in &failed[1..5] {
        let event = status_of(*id);
        assert_eq!(event.status, EventStatus::Received);
        assert_eq!(event.attempts, 0);
        assert!(event
            .last_error
            .unwrap()
            .starts_with("replayed by test (was FAILED)"));
    }
    assert_eq!(status_of(failed[5]).status, EventStatus::Failed);
    assert_eq!(status_of(pending).status, EventStatus::Received);
    assert_eq!(
        replay_matching(&mut db.conn(), &filter, "again", now(), 2).unwrap(),
        0,
        "nothing left to replay"
    );
}
