//! Prometheus metrics of the API: requests by route (the matched pattern, so that arbitrary
//! paths cannot grow the series) and status, and their latency. docs/operations.md lists them.

use std::sync::OnceLock;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::Error;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub const REQUESTS: &str = "webhook_inbox_api_requests_total";
pub const REQUEST_SECONDS: &str = "webhook_inbox_api_request_duration_seconds";

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
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Fails only when another recorder is installed already (a test process embedding
            // several services); metrics then go to that one.
            if metrics::set_global_recorder(recorder).is_ok() {
                metrics::describe_counter!(
                    REQUESTS,
                    "Host API requests by route (its pattern) and HTTP status."
                );
                metrics::describe_histogram!(
                    REQUEST_SECONDS,
                    metrics::Unit::Seconds,
                    "Time to answer a host API request."
                );
            }
            handle
        })
        .clone()
}

pub async fn count_requests(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let route = request
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let response = next.call(request).await?;
    let status = response.status().as_u16().to_string();
    metrics::counter!(REQUESTS, "route" => route.clone(), "status" => status).increment(1);
    metrics::histogram!(REQUEST_SECONDS, "route" => route).record(started.elapsed().as_secs_f64());
    Ok(response)
}
