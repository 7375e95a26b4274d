//! Group commit: a batch gives each delivery the answer `record_event` would have.

use std::collections::HashMap;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use chrono::TimeDelta;
use diesel::connection::SimpleConnection;
use diesel::Connection;
use persistence::{
    find_event, now, record_event, record_events, BatchEvent, NewWebhookEvent, Receipt,
    NEW_EVENTS_CHANNEL,
};
use serde_json::json;

use crate::helpers::TestDb;

on_both_backends!(
    batch_answers_each_delivery_like_one_by_one,
    concurrent_batches_with_overlapping_keys_record_each_key_once,
    a_payload_given_as_text_is_stored_as_that_document,
);

/// Deliveries without their JSON text: the payload is serialised.
fn batch_of<'a>(events: &[NewWebhookEvent<'a>]) -> Vec<BatchEvent<'a>> {
    events
        .iter()
        .map(|event| BatchEvent {
            event: event.clone(),
            payload_json: None,
        })
        .collect()
}

fn batch_answers_each_delivery_like_one_by_one(db: TestDb) {
    let payload = json!({"x": 1});
    let earlier = NewWebhookEvent::received("demo", None, "old", None, &payload, None, now());
    record_event(&mut db.conn(), &earlier).unwrap();

    let t = now();
    let later = t + TimeDelta::milliseconds(5);
    let mut batch = vec![
        NewWebhookEvent::received("demo", None, "a", None, &payload, None, t),
        NewWebhookEvent::received("demo", None, "old", None, &payload, None, t),
        NewWebhookEvent::received("demo", None, "a", None, &payload, None, t),
        NewWebhookEvent::received("other", None, "a", None, &payload, None, t),
        NewWebhookEvent::received("demo", None, "a", None, &payload, None, t),
    ];
    // The last repeat of "a" was seen last.
    batch[4].last_seen_at = later;
    let results = record_events(&mut db.conn(), &batch_of(&batch)).unwrap();
    let kinds: Vec<bool> = results.iter().map(Receipt::is_duplicate).collect();
    assert_eq!(kinds, [false, true, true, false, true]);
    assert_eq!(results[0].event().id, batch[0].id);
    assert_eq!(
        results[2].event().id,
        batch[0].id,
        "a repeat names the first delivery"
    );
    assert_eq!(results[1].event().id, earlier.id);
    assert_eq!(results[3].event().id, batch[3].id);
    assert_eq!(results[4].event().duplicate_count, 2);

    let a = find_event(&mut db.conn(), batch[0].id).unwrap().unwrap();
    assert_eq!(a.duplicate_count, 2);
    assert_eq!(a.received_at, t);
    assert_eq!(a.last_seen_at, later);
    let old = find_event(&mut db.conn(), earlier.id).unwrap().unwrap();
    assert_eq!(old.duplicate_count, 1);
    assert_eq!(old.last_seen_at, t);
}

fn concurrent_batches_with_overlapping_keys_record_each_key_once(db: TestDb) {
    let pool = db.pool_of(8);
    let barrier = Arc::new(Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|thread| {
            let (pool, barrier) = (pool.clone(), barrier.clone());
            std::thread::spawn(move || {
                let payload = json!({"thread": thread});
                let keys: Vec<String> = (0..40)
                    .map(|n| format!("k{}", (n * 7 + thread) % 50))
                    .collect();
                let mut results = Vec::new();
                barrier.wait();
                for chunk in keys.chunks(10) {
                    let batch: Vec<_> = chunk
                        .iter()
                        .map(|k| {
                            NewWebhookEvent::received("demo", None, k, None, &payload, None, now())
                        })
                        .collect();
                    let recorded =
                        record_events(&mut pool.get().unwrap(), &batch_of(&batch)).unwrap();
                    results.extend(
                        recorded
                            .into_iter()
                            .map(|r| (r.event().dedup_key.clone(), r.is_duplicate())),
                    );
                }
                results
            })
        })
        .collect();
    let all: Vec<(String, bool)> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let mut new_per_key: HashMap<String, usize> = HashMap::new();
    for (key, duplicate) in &all {
        let entry = new_per_key.entry(key.clone()).or_default();
        if !duplicate {
            *entry += 1;
        }
    }
    assert!(new_per_key.values().all(|n| *n == 1), "{new_per_key:?}");
    let total_duplicates: i64 = {
        use diesel::prelude::*;
        use persistence::schema::webhook_events::dsl::*;
        let counts: Vec<i64> = webhook_events
            .select(duplicate_count)
            .load(&mut db.conn())
            .unwrap();
        counts.iter().sum()
    };
    assert_eq!(total_duplicates as usize, all.len() - new_per_key.len());
}

fn a_payload_given_as_text_is_stored_as_that_document(db: TestDb) {
    let text = br#"{ "event_id": "evt_text", "amount": 5000.10, "nested": {"b": [1, "x"]} }"#;
    let payload: serde_json::Value = serde_json::from_slice(text).unwrap();
    let event = NewWebhookEvent::received("demo", None, "evt_text", None, &payload, None, now());
    let batch = [BatchEvent {
        event: event.clone(),
        payload_json: Some(text),
    }];
    let results = record_events(&mut db.conn(), &batch).unwrap();
    assert!(!results[0].is_duplicate());
    let stored = find_event(&mut db.conn(), event.id).unwrap().unwrap();
    assert_eq!(stored.payload, payload);
}

#[test]
fn postgres_keeps_the_numbers_of_a_payload_given_as_text_exactly() {
    let Some(db) = crate::helpers::postgres("record_batch::numbers_exactly") else {
        return;
    };
    // Read as f64 these would lose digits; stored from the text they keep them.
    let text = br#"{"amount": 5000.10, "big": 123456789012345678901234567890}"#;
    let payload: serde_json::Value = serde_json::from_slice(text).unwrap();
    let event = NewWebhookEvent::received("demo", None, "num", None, &payload, None, now());
    let batch = [BatchEvent {
        event: event.clone(),
        payload_json: Some(text),
    }];
    record_events(&mut db.conn(), &batch).unwrap();
    use diesel::prelude::*;
    let (amount, big): (String, String) = diesel::sql_query(
        "SELECT payload->>'amount' AS amount, payload->>'big' AS big FROM webhook_events",
    )
    .get_result::<Numbers>(&mut db.conn())
    .map(|n| (n.amount, n.big))
    .unwrap();
    assert_eq!(amount, "5000.10");
    assert_eq!(big, "123456789012345678901234567890");
}

#[derive(diesel::QueryableByName)]
struct Numbers {
    #[diesel(sql_type = diesel::sql_types::Text)]
    amount: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    big: String,
}

#[test]
fn postgres_announces_a_batch_with_new_events_once_and_a_batch_of_repeats_never() {
    let Some(db) = crate::helpers::postgres("record_batch::announces") else {
        return;
    };
    let mut listener = diesel::PgConnection::establish(&test_support::pg_url()).unwrap();
    listener
        .batch_execute(&format!("LISTEN {NEW_EVENTS_CHANNEL}"))
        .unwrap();
    let payload = json!({});
    let t = now();
    let news = [
        NewWebhookEvent::received("demo", None, "n1", None, &payload, None, t),
        NewWebhookEvent::received("demo", None, "n2", None, &payload, None, t),
    ];
    let results = record_events(&mut db.conn(), &batch_of(&news)).unwrap();
    let ids: Vec<String> = results.iter().map(|r| r.event().id.to_string()).collect();
    let repeats = [
        NewWebhookEvent::received("demo", None, "n1", None, &payload, None, t),
        NewWebhookEvent::received("demo", None, "n2", None, &payload, None, t),
    ];
    let results = record_events(&mut db.conn(), &batch_of(&repeats)).unwrap();
    assert!(results.iter().all(Receipt::is_duplicate));

    // Other tests share the channel: count only notifications naming our events.
    let mut ours = 0;
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        for notification in listener.notifications_iter() {
            if ids.contains(&notification.unwrap().payload) {
                ours += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(ours, 1, "one notification for the batch with new events");
}
