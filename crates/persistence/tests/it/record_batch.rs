//! Group commit: a batch gives each delivery the answer `record_event` would have.

use std::collections::HashMap;
use std::sync::{Arc, Barrier};

use persistence::{find_event, now, record_event, record_events, NewWebhookEvent, Recorded};
use serde_json::json;

use crate::helpers::TestDb;

on_both_backends!(
    batch_answers_each_delivery_like_one_by_one,
    concurrent_batches_with_overlapping_keys_record_each_key_once,
);

fn batch_answers_each_delivery_like_one_by_one(db: TestDb) {
    let payload = json!({"x": 1});
    let earlier = NewWebhookEvent::received("demo", None, "old", None, &payload, None, now());
    record_event(&mut db.conn(), &earlier).unwrap();

    let t = now();
    let batch = vec![
        NewWebhookEvent::received("demo", None, "a", None, &payload, None, t),
        NewWebhookEvent::received("demo", None, "old", None, &payload, None, t),
        NewWebhookEvent::received("demo", None, "a", None, &payload, None, t),
        NewWebhookEvent::received("other", None, "a", None, &payload, None, t),
        NewWebhookEvent::received("demo", None, "a", None, &payload, None, t),
    ];
    let results = record_events(&mut db.conn(), &batch).unwrap();
    let kinds: Vec<bool> = results.iter().map(Recorded::is_duplicate).collect();
    assert_eq!(kinds, [false, true, true, false, true]);
    assert_eq!(results[0].event().id, batch[0].id);
    assert_eq!(
        results[2].event().id,
        batch[0].id,
        "a repeat names the first delivery"
    );
    assert_eq!(results[1].event().id, earlier.id);
    assert_eq!(results[3].event().id, batch[3].id);

    let a = find_event(&mut db.conn(), batch[0].id).unwrap().unwrap();
    assert_eq!(a.duplicate_count, 2);
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
                    let recorded = record_events(&mut pool.get().unwrap(), &batch).unwrap();
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
