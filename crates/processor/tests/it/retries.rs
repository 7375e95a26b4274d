//! Transient failures: an event whose collection does not exist yet is tried again with
//! back-off and applied once the collection appears; one whose collection never appears ends
//! FAILED after `max_attempts`, with the reason.

use std::time::{Duration, Instant};

use domain::CollectionStatus;
use persistence::{find_collection, EventStatus};

use crate::fixtures::{create_collections, deliver, unique_prefix, Delivery};
use crate::harness::{eventually, metric, Knobs, Running};
use crate::helpers::Env;

on_backends!(
    a_late_collection_is_applied_after_retries,
    a_missing_collection_fails_after_max_attempts
);

const RETRIED: &str = "webhook_inbox_processor_events_total{outcome=\"retried\"}";
const FAILED: &str = "webhook_inbox_processor_events_total{outcome=\"failed\"}";

fn event_of(env: &Env, event_id: &str) -> persistence::WebhookEvent {
    crate::fixtures::event_by_event_id(&env.db, event_id)
}

async fn a_late_collection_is_applied_after_retries(env: Env) {
    let reference = format!("{}-late", unique_prefix());
    let delivered_at = Instant::now();
    deliver(
        &env.db,
        &[Delivery::new(
            &format!("{reference}-e"),
            &reference,
            CollectionStatus::Success,
        )],
    );
    let knobs = Knobs {
        retry_base_ms: 100,
        retry_max_ms: 400,
        max_attempts: 30,
        ..Knobs::default()
    };
    let processor = Running::start(&env, &knobs).await;
    let event_id = format!("{reference}-e");
    eventually("a second attempt", Duration::from_secs(5), || {
        event_of(&env, &event_id).attempts >= 2
    })
    .await;
    let waiting = event_of(&env, &event_id);
    assert_eq!(waiting.status, EventStatus::Received);
    assert!(
        waiting
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("no collection"),
        "{waiting:?}"
    );

    // The host application creates the payment three seconds after the provider's event.
    tokio::time::sleep_until((delivered_at + Duration::from_secs(3)).into()).await;
    create_collections(&env.db, std::slice::from_ref(&reference));
    eventually("the event to be applied", Duration::from_secs(10), || {
        event_of(&env, &event_id).status != EventStatus::Received
    })
    .await;
    let done = event_of(&env, &event_id);
    assert_eq!(done.status, EventStatus::Processed, "{done:?}");
    assert!(done.attempts > 2, "{done:?}");
    assert_eq!(done.last_error, None);
    let collection = find_collection(&mut env.db.conn(), &reference)
        .unwrap()
        .unwrap();
    assert_eq!(collection.status, CollectionStatus::Success);
    assert!(metric(processor.addr, RETRIED).await >= 2.0);
    assert_eq!(metric(processor.addr, FAILED).await, 0.0);
    processor.stop().await;
}

async fn a_missing_collection_fails_after_max_attempts(env: Env) {
    let reference = format!("{}-never", unique_prefix());
    let event_id = format!("{reference}-e");
    deliver(
        &env.db,
        &[Delivery::new(
            &event_id,
            &reference,
            CollectionStatus::Pending,
        )],
    );
    let knobs = Knobs {
        retry_base_ms: 20,
        retry_max_ms: 100,
        max_attempts: 4,
        ..Knobs::default()
    };
    let processor = Running::start(&env, &knobs).await;
    eventually("the event to fail", Duration::from_secs(10), || {
        event_of(&env, &event_id).status != EventStatus::Received
    })
    .await;
    let failed = event_of(&env, &event_id);
    assert_eq!(failed.status, EventStatus::Failed, "{failed:?}");
    assert_eq!(failed.attempts, 4);
    let reason = failed.last_error.unwrap_or_default();
    assert!(reason.starts_with("gave up after 4 attempts"), "{reason}");
    assert!(
        reason.contains(&format!("no collection with request_ref {reference:?}")),
        "{reason}"
    );
    assert!(failed.processed_at.is_some());
    assert_eq!(metric(processor.addr, RETRIED).await, 3.0);
    assert_eq!(metric(processor.addr, FAILED).await, 1.0);
    processor.stop().await;
}
