//! Permanent failures: an event that cannot be understood ends FAILED at once, on its first
//! claim, with a reason an operator can act on; good events beside it are applied.

use domain::CollectionStatus;
use persistence::{find_collection, find_event, EventStatus};
use serde_json::json;

use crate::fixtures::{create_collections, deliver_raw, unique_prefix};
use crate::harness::{build, metric, Knobs};
use crate::helpers::Env;

on_backends!(bad_events_fail_at_once_with_their_reason);

async fn bad_events_fail_at_once_with_their_reason(env: Env) {
    let reference = format!("{}-ok", unique_prefix());
    create_collections(&env.db, std::slice::from_ref(&reference));
    let db = &env.db;
    let good = deliver_raw(
        db,
        "demo",
        Some(&reference),
        json!({"request_ref": reference, "status": "paid"}),
    );
    let cases = [
        (
            deliver_raw(db, "demo", None, json!({"status": "success"})),
            "the payload has no request_ref",
        ),
        (
            deliver_raw(
                db,
                "demo",
                Some(&reference),
                json!({"request_ref": reference, "status": "refunded?"}),
            ),
            "unknown status \"refunded?\": not a payment status this provider's rules know",
        ),
        (
            deliver_raw(
                db,
                "demo",
                Some(&reference),
                json!({"request_ref": reference}),
            ),
            "the payload has no status",
        ),
        (
            deliver_raw(
                db,
                "retired",
                Some(&reference),
                json!({"request_ref": reference, "status": "paid"}),
            ),
            "unknown provider \"retired\": not in this processor's configuration",
        ),
        (
            deliver_raw(
                db,
                "demo",
                Some(&reference),
                json!(["request_ref", "status"]),
            ),
            "the payload is not a JSON object",
        ),
    ];

    let (processor, addr) = build(&env, &Knobs::default()).await;
    let claims = processor.run_until_idle().await.unwrap();
    // One claim each: nothing was retried.
    assert_eq!(claims, cases.len() + 1);

    for (id, reason) in cases {
        let event = find_event(&mut db.conn(), id).unwrap().unwrap();
        assert_eq!(event.status, EventStatus::Failed, "{event:?}");
        assert_eq!(event.last_error.as_deref(), Some(reason));
        assert_eq!(event.attempts, 1);
        assert!(event.processed_at.is_some());
    }
    let good = find_event(&mut db.conn(), good).unwrap().unwrap();
    assert_eq!(good.status, EventStatus::Processed);
    let collection = find_collection(&mut db.conn(), &reference)
        .unwrap()
        .unwrap();
    assert_eq!(collection.status, CollectionStatus::Success);
    assert_eq!(
        metric(
            addr,
            "webhook_inbox_processor_events_total{outcome=\"failed\"}"
        )
        .await,
        5.0
    );
    assert_eq!(
        metric(
            addr,
            "webhook_inbox_processor_events_total{outcome=\"applied\"}"
        )
        .await,
        1.0
    );
    assert_eq!(
        metric(
            addr,
            "webhook_inbox_processor_events_total{outcome=\"retried\"}"
        )
        .await,
        0.0
    );
}
