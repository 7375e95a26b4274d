//! Prometheus metrics of the receiver: requests by provider and outcome, and their latency.
//! The recorder is process-wide (the `metrics` facade has one global recorder), installed once.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub const REQUESTS: &str = "webhook_requests_total";
pub const REQUEST_SECONDS: &str = "webhook_request_duration_seconds";
/// Deliveries recorded per transaction (group commit).
pub const BATCH_SIZE: &str = "webhook_record_batch_size";

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the recorder on first use; later calls (more apps in one test process) share it.
pub fn metrics_handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(REQUEST_SECONDS.to_owned()),
                    &[
                        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                    ],
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(BATCH_SIZE.to_owned()),
                        &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0],
                    )
                })
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Fails only when another recorder is installed already (a test process embedding
            // both services); metrics then go to that one and this handle renders none.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

pub fn record_request(provider: &str, outcome: &'static str, elapsed: Duration) {
    metrics::counter!(REQUESTS, "provider" => provider.to_owned(), "outcome" => outcome)
        .increment(1);
    metrics::histogram!(REQUEST_SECONDS, "provider" => provider.to_owned())
        .record(elapsed.as_secs_f64());
}
