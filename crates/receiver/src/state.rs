//! What every request handler shares: the pool, the providers, the limits, the metrics and
//! the per-minute counts.

use std::collections::BTreeMap;
use std::sync::Arc;

use inbox_config::Provider;
use metrics_exporter_prometheus::PrometheusHandle;
use persistence::DbPool;

use crate::recorder::Recorder;
use crate::telemetry::RequestMetrics;

pub struct AppState {
    pub pool: DbPool,
    pub providers: Arc<BTreeMap<String, Provider>>,
    pub body_limit: usize,
    /// The whole body must arrive within this once the headers are in.
    pub request_timeout: std::time::Duration,
    pub recorder: Recorder,
    pub metrics: PrometheusHandle,
    /// Prometheus' counters and the per-minute counts (`IntakeTally`) of every answer.
    pub request_metrics: RequestMetrics,
}
