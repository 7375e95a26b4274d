//! Once per provider event: concurrent repeats, and distinct events that look alike.

use std::collections::HashSet;

use domain::provider::Preset;
use serde_json::json;

use crate::helpers::{sign, TestApp, DEMO_SECRET, PAYSTACK_SECRET};
use crate::http;

on_both_backends!(
    two_hundred_concurrent_deliveries_record_one_event,
    paystack_charges_of_different_transactions_are_two_events,
);

async fn two_hundred_concurrent_deliveries_record_one_event(app: TestApp) {
    let body =
        json!({"event_id": "evt_storm", "request_ref": "REQ-1", "status": "success"}).to_string();
    let headers = sign(
        Preset::Generic,
        DEMO_SECRET,
        body.as_bytes(),
        crate::helpers::now(),
    );
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(200));
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let (body, headers, barrier) = (body.clone(), headers.clone(), barrier.clone());
            let port = app.port;
            tokio::spawn(async move {
                let request: Vec<(&str, &str)> = headers
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .chain([("Content-Type", "application/json")])
                    .collect();
                barrier.wait().await;
                http::request(port, "POST", "/webhooks/demo", &request, body.as_bytes()).await
            })
        })
        .collect();
    let mut responses = Vec::new();
    for task in tasks {
        responses.push(task.await.unwrap());
    }
    let statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 202).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        199,
        "{statuses:?}"
    );
    let ids: HashSet<String> = responses
        .iter()
        .map(|r| r.json()["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 1, "every answer names the first event");
    let stored = app.events();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].duplicate_count, 199);
}

async fn paystack_charges_of_different_transactions_are_two_events(app: TestApp) {
    let charge = |id: u64, reference: &str| {
        json!({"event": "charge.success", "data": {"id": id, "status": "success", "reference": reference,
               "amount": 10000, "currency": "NGN"}})
        .to_string()
    };
    let first = charge(302961, "REQ-A");
    let second = charge(302962, "REQ-B");
    for body in [&first, &second, &first] {
        app.post_signed(
            "paystack",
            Preset::Paystack,
            PAYSTACK_SECRET,
            body.as_bytes(),
        )
        .await;
    }
    let stored = app.events();
    assert_eq!(stored.len(), 2, "two transactions, one repeated");
    let keys: Vec<_> = stored.iter().map(|e| e.dedup_key.as_str()).collect();
    assert!(
        keys.contains(&"charge.success:302961") && keys.contains(&"charge.success:302962"),
        "{keys:?}"
    );
    let refs: Vec<_> = stored.iter().map(|e| e.request_ref.as_deref()).collect();
    assert!(refs.contains(&Some("REQ-A")) && refs.contains(&Some("REQ-B")));
    assert_eq!(stored.iter().map(|e| e.duplicate_count).sum::<i64>(), 1);
}
