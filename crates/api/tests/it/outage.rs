//! A database the API cannot reach: 503 with Retry-After, fast, for reads and writes alike, never
//! a 4xx or a 500; readiness turns 503; both come back with the database.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{spawn_api_with, Backend, APP_KEY, READER_KEY};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_database_gives_503_and_recovers() {
    let test = "outage::a_cut_database_gives_503_and_recovers";
    let Some(api) = spawn_api_with(Backend::Postgres, test, true).await else {
        return;
    };
    let body = json!({"request_ref": "REQ-out", "amount": "1", "currency": "USD"});
    assert_eq!(
        api.call("POST", "/v1/collections", Some(APP_KEY), Some(body.clone()))
            .await
            .status,
        201
    );
    api.proxy.as_ref().unwrap().cut();
    for (method, path, key, body) in [
        ("GET", "/v1/collections/REQ-out", READER_KEY, None),
        ("GET", "/v1/collections", READER_KEY, None),
        ("GET", "/v1/events", READER_KEY, None),
        ("POST", "/v1/collections", APP_KEY, Some(body.clone())),
    ] {
        let started = Instant::now();
        let answer = api.call(method, path, Some(key), body).await;
        assert_eq!(answer.status, 503, "{method} {path}: {}", answer.body);
        assert_eq!(answer.body["error"]["code"], "storage_unavailable");
        assert_eq!(
            answer.headers.get("retry-after").map(String::as_str),
            Some("5")
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{method} {path}: {:?}",
            started.elapsed()
        );
    }
    assert_eq!(api.call("GET", "/readyz", None, None).await.status, 503);
    assert_eq!(api.call("GET", "/healthz", None, None).await.status, 200);
    api.proxy.as_ref().unwrap().restore();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = api
            .call("GET", "/v1/collections/REQ-out", Some(READER_KEY), None)
            .await;
        if answer.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "not back: {}", answer.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(api.call("GET", "/readyz", None, None).await.status, 200);
    assert_eq!(api.backend, Backend::Postgres);
}
