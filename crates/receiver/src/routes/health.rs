//! Liveness (the process answers), readiness (the database answers) and Prometheus metrics.

use actix_web::{web, HttpResponse};
use std::time::Duration;

use persistence::{ping, run_blocking, StoreError};
use serde_json::json;

use crate::error::error_body;
use crate::state::AppState;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// How long readiness waits for a pooled `SELECT 1`: below the probes' 2 s timeout, so that a
/// silent database gets our 503 rather than a probe timeout.
const DATABASE_CHECK: Duration = Duration::from_secs(1);

pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let checked = tokio::time::timeout(DATABASE_CHECK, run_blocking(&state.pool, ping)).await;
    match checked.unwrap_or_else(|_| Err(StoreError::Unavailable("no answer within 1 s".into()))) {
        Ok(()) => HttpResponse::Ok().json(json!({"status": "ready"})),
        Err(e) => {
            tracing::warn!(error = %e, "not ready: database unavailable");
            HttpResponse::ServiceUnavailable().json(error_body(
                "storage_unavailable",
                "the database does not answer",
            ))
        }
    }
}

pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}

pub async fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(error_body("not_found", "no such endpoint"))
}
