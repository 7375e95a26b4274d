//! Liveness (the process answers) and readiness (the database answers), as every service of
//! webhook-inbox answers them (`web::health`).

use actix_web::{web, HttpResponse};

use crate::state::AppState;

pub use inbox_web::health::{healthz, not_found};

pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    inbox_web::health::readiness(&state.pool).await
}
