//! The processor's own small HTTP port: `/healthz` and `/metrics`, nothing else.

use crate::harness::{build, http_get, http_request, Knobs};
use crate::helpers::sqlite_env;

#[tokio::test]
async fn health_and_metrics_are_served() {
    let env = sqlite_env();
    let (processor, addr) = build(&env, &Knobs::default()).await;
    assert_eq!(http_get(addr, "/healthz").await, (200, "ok\n".to_owned()));

    processor.run_until_idle().await.unwrap();
    let (status, body) = http_get(addr, "/metrics").await;
    assert_eq!(status, 200);
    for name in [
        "inbox_processor_events_total{outcome=\"applied\"} 0",
        "inbox_processor_lock_fallbacks_total 0",
        "# TYPE inbox_processor_lag_seconds histogram",
        "# TYPE inbox_processor_lock_wait_seconds histogram",
        "inbox_processor_queue_depth",
        "inbox_processor_oldest_pending_age_seconds",
    ] {
        assert!(body.contains(name), "{name} missing from:\n{body}");
    }
    assert_eq!(http_get(addr, "/nothing").await.0, 404);
    assert_eq!(http_request(addr, "POST", "/metrics").await.0, 405);
}
