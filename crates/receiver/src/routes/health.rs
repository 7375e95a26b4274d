//! Liveness (the process answers), readiness (the database answers) and Prometheus metrics.

use actix_web::{web, HttpResponse};
use persistence::{ping, run_blocking};
use serde_json::json;

use crate::error::error_body;
use crate::state::AppState;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match run_blocking(&state.pool, ping).await {
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
