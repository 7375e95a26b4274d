//! Liveness (the process answers), readiness (the database answers), Prometheus text, and the
//! answer for a path no route serves.

use std::time::Duration;

use actix_web::http::header;
use actix_web::HttpResponse;
use metrics_exporter_prometheus::PrometheusHandle;
use persistence::{ping, run_blocking, DbPool, StoreError};
use serde_json::json;

use crate::{error_body, RETRY_AFTER_SECS};

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// How long readiness waits for a pooled `SELECT 1`: below the probes' 2 s timeout, so that a
/// silent database gets our 503 rather than a probe timeout.
const DATABASE_CHECK: Duration = Duration::from_secs(1);

/// 200 when the database answers a pooled `SELECT 1` within a second, else 503.
pub async fn readiness(pool: &DbPool) -> HttpResponse {
    let checked = tokio::time::timeout(DATABASE_CHECK, run_blocking(pool, ping)).await;
    match checked.unwrap_or_else(|_| Err(StoreError::Unavailable("no answer within 1 s".into()))) {
        Ok(()) => HttpResponse::Ok().json(json!({"status": "ready"})),
        Err(e) => {
            tracing::warn!(error = %e, "not ready: database unavailable");
            HttpResponse::ServiceUnavailable()
                .insert_header((header::RETRY_AFTER, RETRY_AFTER_SECS.to_string()))
                .json(error_body(
                    "storage_unavailable",
                    "the database does not answer",
                ))
        }
    }
}

pub fn prometheus_text(handle: &PrometheusHandle) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(handle.render())
}

pub async fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(error_body("not_found", "no such endpoint"))
}
