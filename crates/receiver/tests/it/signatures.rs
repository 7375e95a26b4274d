//! Provider schemes end to end: Standard Webhooks (the spec's vector), Stripe's timestamp
//! tolerance, and secret rotation.

use domain::provider::Preset;
use serde_json::json;

use crate::helpers::{
    now, sign, TestApp, DEMO_SECRET, ROTATED_OUT_SECRET, STANDARD_SECRET, STRIPE_SECRET,
};

on_both_backends!(
    standard_webhooks_spec_vector_is_genuine_but_old,
    standard_webhooks_id_is_the_event_id,
    stripe_expired_timestamp_is_401,
    rotated_out_secret_is_401_and_the_current_one_202,
);

async fn standard_webhooks_spec_vector_is_genuine_but_old(app: TestApp) {
    // The specification's test vector: a valid signature made in 2021. It must get past the
    // signature check and fail only on the timestamp.
    let body = br#"{"test": 2432232314}"#;
    let headers = [
        ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
        ("webhook-timestamp", "1614265330"),
        (
            "webhook-signature",
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        ),
        ("Content-Type", "application/json"),
    ];
    let response = app.post("standard", &headers, body).await;
    assert_eq!(
        (response.status, response.error_code().as_str()),
        (401, "timestamp_out_of_tolerance")
    );
    // One flipped character of the signature and it is a forgery instead.
    let forged = [
        headers[0],
        headers[1],
        (
            "webhook-signature",
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OF=",
        ),
        headers[3],
    ];
    let response = app.post("standard", &forged, body).await;
    assert_eq!(
        (response.status, response.error_code().as_str()),
        (401, "invalid_signature")
    );
}

async fn standard_webhooks_id_is_the_event_id(app: TestApp) {
    let body =
        json!({"type": "payment.updated", "data": {"request_ref": "REQ-1", "status": "paid"}})
            .to_string();
    let response = app
        .post_signed(
            "standard",
            Preset::StandardWebhooks,
            STANDARD_SECRET,
            body.as_bytes(),
        )
        .await;
    assert_eq!(response.status, 202);
    let answer = response.json();
    assert!(
        answer["event_id"].as_str().unwrap().starts_with("msg_"),
        "{answer}"
    );
    assert_eq!(answer["request_ref"], "REQ-1");
}

async fn stripe_expired_timestamp_is_401(app: TestApp) {
    let body = json!({"id": "evt_1", "type": "payment_intent.succeeded",
                      "data": {"object": {"id": "pi_1", "metadata": {"request_ref": "REQ-1"}}}})
    .to_string();
    let old = sign(Preset::Stripe, STRIPE_SECRET, body.as_bytes(), now() - 600);
    let headers = [
        (old[0].0.as_str(), old[0].1.as_str()),
        ("Content-Type", "application/json"),
    ];
    let response = app.post("stripe", &headers, body.as_bytes()).await;
    assert_eq!(
        (response.status, response.error_code().as_str()),
        (401, "timestamp_out_of_tolerance")
    );
    let fresh = app
        .post_signed("stripe", Preset::Stripe, STRIPE_SECRET, body.as_bytes())
        .await;
    assert_eq!(fresh.status, 202);
    assert_eq!(fresh.json()["event_id"], "evt_1");
}

async fn rotated_out_secret_is_401_and_the_current_one_202(app: TestApp) {
    let body = |n: u32| format!(r#"{{"event_id":"evt_rot_{n}"}}"#);
    let during = app
        .post_signed(
            "rotating",
            Preset::Generic,
            ROTATED_OUT_SECRET,
            body(1).as_bytes(),
        )
        .await;
    assert_eq!(
        during.status, 202,
        "the old secret works during the rotation"
    );
    let after = app
        .post_signed(
            "rotated",
            Preset::Generic,
            ROTATED_OUT_SECRET,
            body(2).as_bytes(),
        )
        .await;
    assert_eq!(
        (after.status, after.error_code().as_str()),
        (401, "invalid_signature")
    );
    let current = app
        .post_signed("rotated", Preset::Generic, DEMO_SECRET, body(3).as_bytes())
        .await;
    assert_eq!(current.status, 202);
}
