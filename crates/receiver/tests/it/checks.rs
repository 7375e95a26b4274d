//! The contract's checks, each with its status and code, and their order.

use domain::provider::Preset;
use serde_json::json;

use crate::helpers::{sign, TestApp, DEMO_SECRET};
use crate::http;

on_both_backends!(
    unknown_provider_is_404_whatever_the_body,
    content_type_must_be_json,
    oversize_unsigned_body_is_413_not_401,
    missing_and_invalid_signatures_are_401,
    signed_non_objects_are_400,
    new_event_is_202_with_the_contract_shape,
    semantic_problems_are_recorded_not_rejected,
    ids_and_references_too_long_for_an_index_are_recorded,
    unsigned_provider_accepts_only_because_configured,
    health_readiness_and_metrics,
    nul_characters_are_stored_replaced_not_refused_forever,
);

async fn unknown_provider_is_404_whatever_the_body(app: TestApp) {
    let huge = vec![b'x'; 100_000];
    for (headers, body) in [
        (vec![], &huge[..]),
        (vec![("Content-Type", "text/plain")], &b"hello"[..]),
        (vec![("Content-Type", "application/json")], &b"{}"[..]),
    ] {
        let response = app.post("nobody", &headers, body).await;
        assert_eq!(response.status, 404);
        assert_eq!(response.error_code(), "unknown_provider");
    }
    // A long name is echoed only in part: one request cannot make a huge answer or log line.
    let long = "n".repeat(5_000);
    let response = app.post(&long, &[], b"{}").await;
    assert_eq!(response.status, 404);
    let message = response.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.len() < 400, "{} bytes", message.len());
    assert!(app.events().is_empty());
}

async fn content_type_must_be_json(app: TestApp) {
    let body = br#"{"event_id":"evt_ct","request_ref":"REQ-1","status":"success"}"#;
    let signed = sign(Preset::Generic, DEMO_SECRET, body, crate::helpers::now());
    let (name, value) = (&signed[0].0, &signed[0].1);
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let mut headers = vec![(name.as_str(), value.as_str())];
        if let Some(ct) = content_type {
            headers.push(("Content-Type", ct));
        }
        let response = app.post("demo", &headers, body).await;
        assert_eq!(response.status, 415, "{content_type:?}");
        assert_eq!(response.error_code(), "unsupported_media_type");
    }
    let headers = [
        (name.as_str(), value.as_str()),
        (
            "Content-Type",
            "Application/CloudEvents+JSON; charset=utf-8",
        ),
    ];
    assert_eq!(app.post("demo", &headers, body).await.status, 202);
}

async fn oversize_unsigned_body_is_413_not_401(app: TestApp) {
    // The test configuration limits bodies to 4096 bytes.
    let body = format!(r#"{{"event_id":"big","pad":"{}"}}"#, "x".repeat(5000));
    let response = app
        .post(
            "demo",
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        )
        .await;
    assert_eq!(response.status, 413);
    assert_eq!(response.error_code(), "payload_too_large");
    // Exactly at the limit is fine (and then the missing signature is what fails).
    let at_limit = format!(r#"{{"p":"{}"}}"#, "x".repeat(4096 - 8));
    assert_eq!(at_limit.len(), 4096);
    let response = app
        .post(
            "demo",
            &[("Content-Type", "application/json")],
            at_limit.as_bytes(),
        )
        .await;
    assert_eq!(response.status, 401);
}

async fn missing_and_invalid_signatures_are_401(app: TestApp) {
    let body = br#"{"event_id":"evt_sig"}"#;
    let response = app
        .post("demo", &[("Content-Type", "application/json")], body)
        .await;
    assert_eq!(
        (response.status, response.error_code().as_str()),
        (401, "missing_signature")
    );

    let wrong = sign(
        Preset::Generic,
        "not-the-secret",
        body,
        crate::helpers::now(),
    );
    let headers = [
        (wrong[0].0.as_str(), wrong[0].1.as_str()),
        ("Content-Type", "application/json"),
    ];
    let response = app.post("demo", &headers, body).await;
    assert_eq!(
        (response.status, response.error_code().as_str()),
        (401, "invalid_signature")
    );

    // A valid signature of another body.
    let other = sign(Preset::Generic, DEMO_SECRET, b"{}", crate::helpers::now());
    let headers = [
        (other[0].0.as_str(), other[0].1.as_str()),
        ("Content-Type", "application/json"),
    ];
    assert_eq!(app.post("demo", &headers, body).await.status, 401);
    assert!(app.events().is_empty());
}

async fn signed_non_objects_are_400(app: TestApp) {
    for body in [&b"not json"[..], b"[1,2,3]", b"\"text\"", b"{\"a\":"] {
        let response = app
            .post_signed("demo", Preset::Generic, DEMO_SECRET, body)
            .await;
        assert_eq!(response.status, 400, "{}", String::from_utf8_lossy(body));
        assert_eq!(response.error_code(), "invalid_json");
    }
    assert!(app.events().is_empty());
}

async fn new_event_is_202_with_the_contract_shape(app: TestApp) {
    let body =
        json!({"event_id": "evt_shape", "request_ref": "REQ-7", "status": "success"}).to_string();
    let headers = sign(
        Preset::Generic,
        DEMO_SECRET,
        body.as_bytes(),
        crate::helpers::now(),
    );
    let request = [
        (headers[0].0.as_str(), headers[0].1.as_str()),
        ("Content-Type", "application/json"),
        ("X-Request-Id", "req-from-provider-42"),
    ];
    let response = app.post("demo", &request, body.as_bytes()).await;
    assert_eq!(response.status, 202);
    assert_eq!(
        response.header("x-request-id"),
        Some("req-from-provider-42")
    );
    let answer = response.json();
    let keys: Vec<_> = answer.as_object().unwrap().keys().cloned().collect();
    let mut expected = vec![
        "duplicate",
        "event_id",
        "id",
        "processed_at",
        "provider",
        "received_at",
        "request_ref",
        "status",
    ];
    expected.sort();
    let mut keys = keys;
    keys.sort();
    assert_eq!(keys, expected);
    assert_eq!(answer["provider"], "demo");
    assert_eq!(answer["event_id"], "evt_shape");
    assert_eq!(answer["request_ref"], "REQ-7");
    assert_eq!(answer["status"], "RECEIVED");
    assert_eq!(answer["duplicate"], false);
    assert!(answer["processed_at"].is_null());

    let stored = app.events();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].id.to_string(), answer["id"].as_str().unwrap());
    assert_eq!(stored[0].dedup_key, "evt_shape");
    assert_eq!(stored[0].signature.as_deref(), Some(headers[0].1.as_str()));
    // Every answer carries a request id, generated when the caller sent none.
    let health = http::get(app.port, "/healthz").await;
    assert!(health
        .header("x-request-id")
        .is_some_and(|id| id.len() >= 32));
}

async fn semantic_problems_are_recorded_not_rejected(app: TestApp) {
    // No request_ref, an unknown status, no event id: the processor fails it later, visibly.
    let body = br#"{"status":"weird","note":"no reference"}"#;
    let response = app
        .post_signed("demo", Preset::Generic, DEMO_SECRET, body)
        .await;
    assert_eq!(response.status, 202);
    let stored = app.events();
    assert_eq!(stored[0].request_ref, None);
    assert!(
        stored[0].dedup_key.starts_with("sha256:"),
        "{}",
        stored[0].dedup_key
    );
    // The same bytes again are the same event.
    let again = app
        .post_signed("demo", Preset::Generic, DEMO_SECRET, body)
        .await;
    assert_eq!(again.status, 200);
}

/// An id or a reference longer than an index entry may be is recorded, never a 503 (which the
/// provider would retry for ever): the id deduplicates by its hash, the reference is left for the
/// processor to fail with the reason.
async fn ids_and_references_too_long_for_an_index_are_recorded(app: TestApp) {
    let long_id = "e".repeat(3000);
    let body = format!(r#"{{"event_id":"{long_id}","request_ref":"REQ-1","status":"paid"}}"#);
    let first = app
        .post_signed("demo", Preset::Generic, DEMO_SECRET, body.as_bytes())
        .await;
    assert_eq!(first.status, 202);
    let again = app
        .post_signed("demo", Preset::Generic, DEMO_SECRET, body.as_bytes())
        .await;
    assert_eq!(again.status, 200, "the same long id is the same event");

    let long_ref = "R".repeat(3000);
    let body =
        format!(r#"{{"event_id":"evt_long_ref","request_ref":"{long_ref}","status":"paid"}}"#);
    let response = app
        .post_signed("demo", Preset::Generic, DEMO_SECRET, body.as_bytes())
        .await;
    assert_eq!(response.status, 202);
    let stored = app.events();
    let by_id = |id: &str| {
        stored
            .iter()
            .find(|e| e.event_id.as_deref() == Some(id))
            .unwrap()
    };
    assert!(by_id(&long_id).dedup_key.starts_with("sha256-id:"));
    assert_eq!(by_id("evt_long_ref").request_ref, None);
}

async fn unsigned_provider_accepts_only_because_configured(app: TestApp) {
    let body = br#"{"event_id":"evt_open"}"#;
    let response = app
        .post("open", &[("Content-Type", "application/json")], body)
        .await;
    assert_eq!(response.status, 202);
    let response = app
        .post("demo", &[("Content-Type", "application/json")], body)
        .await;
    assert_eq!(response.status, 401);
}

async fn health_readiness_and_metrics(app: TestApp) {
    assert_eq!(http::get(app.port, "/healthz").await.status, 200);
    let ready = http::get(app.port, "/readyz").await;
    assert_eq!(
        (ready.status, ready.json()["status"].as_str()),
        (200, Some("ready"))
    );
    app.post("nobody", &[], b"{}").await;
    app.post_signed(
        "demo",
        Preset::Generic,
        DEMO_SECRET,
        br#"{"event_id":"m1"}"#,
    )
    .await;
    // Metrics have their own listener, never the public webhook port.
    assert_eq!(http::get(app.port, "/metrics").await.status, 404);
    let metrics = http::get(app.metrics_port, "/metrics").await;
    assert_eq!(metrics.status, 200);
    let text = String::from_utf8(metrics.body).unwrap();
    assert!(
        text.contains(
            r#"webhook_inbox_receiver_requests_total{provider="demo",outcome="accepted"}"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"provider="unknown",outcome="unknown_provider""#),
        "{text}"
    );
    assert!(
        text.contains("webhook_inbox_receiver_request_duration_seconds_bucket"),
        "{text}"
    );
    // Every metric registered, and only those, in docs/operations.md with its type and labels.
    test_support::metrics_doc::assert_documented("Receiver metrics", &text);
    let missing = http::get(app.port, "/nowhere").await;
    assert_eq!(
        (missing.status, missing.error_code().as_str()),
        (404, "not_found")
    );
}

async fn nul_characters_are_stored_replaced_not_refused_forever(app: TestApp) {
    // Valid JSON that PostgreSQL's jsonb cannot hold as is.
    let body =
        br#"{"event_id":"evt_nul","request_ref":"REQ-1","status":"success","note":"a\u0000b"}"#;
    let response = app
        .post_signed("demo", Preset::Generic, DEMO_SECRET, body)
        .await;
    assert_eq!(
        response.status,
        202,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    let stored = app.events();
    assert_eq!(stored[0].payload["note"], "a\u{FFFD}b");
    assert_eq!(stored[0].payload["status"], "success");
}
