//! The HTTP surface: `POST /webhooks/{provider}`, `GET /healthz`, `GET /readyz`, `GET /metrics`.

pub mod health;
pub mod webhooks;
