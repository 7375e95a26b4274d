//! What the logs say, and what they must never say.

use domain::provider::Preset;

use crate::helpers::{
    captured_logs, spawn_app, Backend, DEMO_SECRET, PAYSTACK_SECRET, ROTATED_OUT_SECRET,
    STANDARD_SECRET, STRIPE_SECRET,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_are_logged_and_secrets_never_are() {
    let app = spawn_app(Backend::Sqlite, "logs").await.unwrap();
    let body = br#"{"event_id":"evt_log_1","request_ref":"REQ-1","status":"success"}"#;
    app.post_signed("demo", Preset::Generic, DEMO_SECRET, body)
        .await;
    app.post_signed("demo", Preset::Generic, DEMO_SECRET, body)
        .await;
    app.post_signed("demo", Preset::Generic, "wrong-secret", body)
        .await;
    app.post_signed(
        "paystack",
        Preset::Paystack,
        PAYSTACK_SECRET,
        br#"{"event":"charge.success","data":{"id":1}}"#,
    )
    .await;
    app.post_signed(
        "stripe",
        Preset::Stripe,
        STRIPE_SECRET,
        br#"{"id":"evt_s"}"#,
    )
    .await;
    app.post_signed(
        "standard",
        Preset::StandardWebhooks,
        STANDARD_SECRET,
        br#"{"type":"x"}"#,
    )
    .await;

    let logs = captured_logs();
    assert!(
        logs.contains("Duplicate webhook event detected: event_id=evt_log_1"),
        "{logs}"
    );
    assert!(
        logs.contains("request_id="),
        "log lines carry the request id: {logs}"
    );
    for secret in [
        DEMO_SECRET,
        PAYSTACK_SECRET,
        STRIPE_SECRET,
        STANDARD_SECRET,
        ROTATED_OUT_SECRET,
    ] {
        assert!(
            !logs.contains(secret),
            "secret {secret} appears in the logs"
        );
    }
}
