//! Prometheus metrics of the receiver: requests by provider and outcome, and their latency; the
//! same answers are counted per minute for the console through `tally::IntakeTally`.
//! The recorder is process-wide (the `metrics` facade has one global recorder), installed once.
//! Names share the `webhook_inbox_` prefix with the processor's; docs/operations.md lists them
//! all (a test compares that table with what `/metrics` exposes).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::tally::IntakeTally;

pub const REQUESTS: &str = "webhook_inbox_receiver_requests_total";
pub const REQUEST_SECONDS: &str = "webhook_inbox_receiver_request_duration_seconds";
/// Deliveries recorded per transaction (group commit).
pub const BATCH_SIZE: &str = "webhook_inbox_receiver_record_batch_deliveries";

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
            if metrics::set_global_recorder(recorder).is_ok() {
                describe();
            }
            handle
        })
        .clone()
}

/// The HELP lines; the recorder must be installed first.
fn describe() {
    metrics::describe_counter!(
        REQUESTS,
        "Webhook deliveries by provider and answer: accepted, duplicate or the error code."
    );
    metrics::describe_histogram!(
        REQUEST_SECONDS,
        metrics::Unit::Seconds,
        "Time to answer a delivery, signature check and durable write included."
    );
    metrics::describe_histogram!(
        BATCH_SIZE,
        metrics::Unit::Count,
        "Deliveries recorded per write transaction (group commit)."
    );
}

/// Request metrics, with the handles of each configured provider's successful answers
/// registered once: recording one of those is then an atomic add, not a labelled key to build,
/// hash and look up per request.
pub struct RequestMetrics {
    providers: HashMap<String, ProviderMetrics>,
    /// The same answers per minute for the console (`intake_counts`).
    intake: Arc<IntakeTally>,
    unknown_slot: usize,
}

struct ProviderMetrics {
    accepted: Counter,
    duplicate: Counter,
    seconds: Histogram,
    slot: usize,
}

impl RequestMetrics {
    /// Call after [`metrics_handle`]: handles registered before a recorder is installed record
    /// nothing.
    pub fn new<'a>(
        providers: impl IntoIterator<Item = &'a String>,
        intake: Arc<IntakeTally>,
    ) -> RequestMetrics {
        let providers = providers
            .into_iter()
            .map(|name| {
                let handles = ProviderMetrics {
                    accepted: counter(name, "accepted"),
                    duplicate: counter(name, "duplicate"),
                    seconds: metrics::histogram!(REQUEST_SECONDS, "provider" => name.clone()),
                    slot: intake.slot(name),
                };
                (name.clone(), handles)
            })
            .collect();
        RequestMetrics {
            providers,
            unknown_slot: intake.unknown_slot(),
            intake,
        }
    }

    /// Counts a request by provider and outcome, for Prometheus and for the per-minute
    /// `intake_counts`, and records its latency. Only configured names become labels, others
    /// count as `unknown`: arbitrary paths must not grow the series. Returns the label used.
    pub fn record<'a>(
        &self,
        provider: &'a str,
        outcome: &'static str,
        elapsed: Duration,
    ) -> &'a str {
        let Some(handles) = self.providers.get(provider) else {
            self.intake.count(self.unknown_slot, outcome);
            counter("unknown", outcome).increment(1);
            metrics::histogram!(REQUEST_SECONDS, "provider" => "unknown")
                .record(elapsed.as_secs_f64());
            return "unknown";
        };
        self.intake.count(handles.slot, outcome);
        match outcome {
            "accepted" => handles.accepted.increment(1),
            "duplicate" => handles.duplicate.increment(1),
            refused => counter(provider, refused).increment(1),
        }
        handles.seconds.record(elapsed.as_secs_f64());
        provider
    }
}

fn counter(provider: &str, outcome: &'static str) -> Counter {
    metrics::counter!(REQUESTS, "provider" => provider.to_owned(), "outcome" => outcome)
}
