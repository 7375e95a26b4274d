//! The processor's own small HTTP port: `/healthz`, `/readyz` and `/metrics`, nothing else.
//! `/readyz` says 503 while the claim loop has not gone round (built, never run) or the
//! database does not answer (cut through a proxy), and 200 again once it does.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::Value;
use test_support::proxy::Proxy;

use crate::harness::{build, http_get, http_request, Knobs, Running};
use crate::helpers::{pg_env, sqlite_env};

async fn readyz(addr: SocketAddr) -> (u16, Value) {
    let (status, body) = http_get(addr, "/readyz").await;
    let body = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    (status, body)
}

/// Asks `/readyz` until it answers `status`; fails the test after `timeout`.
async fn readyz_becomes(addr: SocketAddr, status: u16, timeout: Duration) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let (got, body) = readyz(addr).await;
        if got == status {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz still {got} after {timeout:?}, not {status}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn health_and_metrics_are_served() {
    let env = sqlite_env();
    let (processor, addr) = build(&env, &Knobs::default()).await;
    let (status, body) = http_get(addr, "/healthz").await;
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#));

    processor.run_until_idle().await.unwrap();
    let (status, body) = http_get(addr, "/metrics").await;
    assert_eq!(status, 200);
    for name in [
        "webhook_inbox_processor_events_total{outcome=\"applied\"} 0",
        "webhook_inbox_processor_lock_fallbacks_total 0",
        "# TYPE webhook_inbox_processor_lag_seconds histogram",
        "# TYPE webhook_inbox_processor_lock_wait_seconds histogram",
        "webhook_inbox_processor_queue_depth",
        "webhook_inbox_processor_oldest_pending_age_seconds",
    ] {
        assert!(body.contains(name), "{name} missing from:\n{body}");
    }
    // Every metric registered, and only those, in docs/operations.md with its type and labels.
    test_support::metrics_doc::assert_documented("Processor metrics", &body);
    assert_eq!(http_get(addr, "/nothing").await.0, 404);
    assert_eq!(http_request(addr, "POST", "/metrics").await.0, 405);
}

#[tokio::test]
async fn not_ready_while_the_claim_loop_has_not_gone_round() {
    let env = sqlite_env();
    let (processor, addr) = build(&env, &Knobs::default()).await;
    // Built and drained once, but its claim loop never ran: alive, not ready.
    processor.run_until_idle().await.unwrap();
    assert_eq!(http_get(addr, "/healthz").await.0, 200);
    let (status, body) = readyz(addr).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["database"], "ok");
    assert_eq!(body["claim_loop"], "not_started");
    assert_eq!(body["last_pass_seconds_ago"], Value::Null);
    // max(3 x poll_interval_ms, lock_wait_ms + 10 s): the rule in docs/processor.md.
    assert_eq!(body["stale_after_seconds"], 15.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ready_follows_the_database() {
    let test = "http::ready_follows_the_database";
    let Some(mut env) = pg_env(test) else { return };
    let (proxy, url) = Proxy::in_front_of(&env.db.url).await;
    env.db.url = url;
    let processor = Running::start(&env, &Knobs::default()).await;
    let addr = processor.addr;

    let body = readyz_becomes(addr, 200, Duration::from_secs(5)).await;
    assert_eq!(body["status"], "ready");
    assert_eq!(
        (&body["database"], &body["claim_loop"]),
        (&"ok".into(), &"running".into())
    );

    proxy.cut();
    let body = readyz_becomes(addr, 503, Duration::from_secs(5)).await;
    assert_eq!(body["database"], "unreachable", "{body}");
    // The loop keeps going round (backing off), so only the database is at fault.
    assert_eq!(body["claim_loop"], "running", "{body}");
    assert_eq!(http_get(addr, "/healthz").await.0, 200);

    proxy.restore();
    let body = readyz_becomes(addr, 200, Duration::from_secs(10)).await;
    assert_eq!(body["database"], "ok");
    processor.stop().await;
}
