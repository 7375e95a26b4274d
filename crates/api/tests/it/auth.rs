//! Bearer keys: 401 without a valid one, 403 without the scope, both keys of a rotation; the
//! health endpoints open; a request id on every answer.

use serde_json::json;

use crate::helpers::{TestApi, APP_KEY, APP_KEY_NEXT, OPS_KEY, READER_KEY};

on_both_backends!(
    keys_and_scopes_decide_who_may_do_what,
    health_is_open_and_metrics_apart
);

async fn keys_and_scopes_decide_who_may_do_what(api: TestApi) {
    for key in [None, Some("nope"), Some("app-key-0123456789abcdefghijk")] {
        let answer = api.call("GET", "/v1/collections", key, None).await;
        assert_eq!(answer.status, 401, "{key:?}");
        assert_eq!(answer.body["error"]["code"], "unauthorized");
        assert_eq!(
            answer.headers.get("www-authenticate").map(String::as_str),
            Some("Bearer")
        );
    }
    let basic = api
        .raw(
            "GET",
            "/v1/collections",
            vec![("Authorization".into(), format!("Basic {APP_KEY}"))],
            None,
        )
        .await;
    assert_eq!(basic.status, 401, "only the Bearer scheme");

    // Both keys of a rotation work, the same way.
    for key in [APP_KEY, APP_KEY_NEXT] {
        assert_eq!(
            api.call("GET", "/v1/collections", Some(key), None)
                .await
                .status,
            200
        );
    }
    let body = json!({"request_ref": "REQ-auth", "amount": "10.00", "currency": "NGN"});
    let refused = api
        .call(
            "POST",
            "/v1/collections",
            Some(READER_KEY),
            Some(body.clone()),
        )
        .await;
    assert_eq!(refused.status, 403);
    assert_eq!(refused.body["error"]["code"], "forbidden");
    assert!(refused.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("write"));
    // admin is not write, and write is not admin.
    assert_eq!(
        api.call("POST", "/v1/collections", Some(OPS_KEY), Some(body.clone()))
            .await
            .status,
        403
    );
    assert_eq!(
        api.call("POST", "/v1/collections", Some(APP_KEY), Some(body))
            .await
            .status,
        201
    );
    let force = json!({"status": "SUCCESS", "reason": "paid by bank transfer"});
    let path = "/v1/collections/REQ-auth/status";
    assert_eq!(
        api.call("POST", path, Some(APP_KEY), Some(force.clone()))
            .await
            .status,
        403
    );
    assert_eq!(
        api.call("POST", path, Some(OPS_KEY), Some(force))
            .await
            .status,
        200
    );

    // An answer carries the caller's request id, or a new one.
    let mine = api
        .raw(
            "GET",
            "/v1/collections",
            vec![
                ("Authorization".into(), format!("Bearer {READER_KEY}")),
                ("X-Request-Id".into(), "trace-42".into()),
            ],
            None,
        )
        .await;
    assert_eq!(
        mine.headers.get("x-request-id").map(String::as_str),
        Some("trace-42")
    );
    let new = api.call("GET", "/v1/collections", None, None).await;
    assert_eq!(new.headers.get("x-request-id").map(|v| v.len()), Some(36));
}

async fn health_is_open_and_metrics_apart(api: TestApi) {
    let wrong = api
        .call("DELETE", "/v1/collections", Some(READER_KEY), None)
        .await;
    assert_eq!(wrong.status, 405);
    assert_eq!(wrong.body["error"]["code"], "method_not_allowed");
    let nowhere = api.call("GET", "/v1/nothing", Some(READER_KEY), None).await;
    assert_eq!(
        (nowhere.status, nowhere.body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    assert_eq!(api.call("GET", "/healthz", None, None).await.status, 200);
    assert_eq!(api.call("GET", "/readyz", None, None).await.status, 200);
    let missing = api.call("GET", "/metrics", None, None).await;
    assert_eq!(missing.status, 404, "metrics are not on the public port");
    assert_eq!(missing.body["error"]["code"], "not_found");
    api.call("GET", "/v1/collections", Some(READER_KEY), None)
        .await;
    let metrics = crate::helpers::send(
        "GET",
        &format!("http://127.0.0.1:{}/metrics", api.metrics_port),
        &[],
        None,
    );
    let text = metrics.body.as_str().unwrap().to_owned();
    assert!(
        text.contains(r#"webhook_inbox_api_requests_total{route="/v1/collections",status="200"}"#),
        "{text}"
    );
    test_support::metrics_doc::assert_documented("API metrics", &text);
}
