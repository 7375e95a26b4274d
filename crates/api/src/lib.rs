//! The host application's API: the service a payments team's own application calls to create
//! the collections it expects to be paid, read their outcome, force a status (audited), and read
//! or replay events and the notifications sent to it, authenticated by bearer API keys with
//! scopes. docs/host-api.md is the guide, docs/host-api.openapi.yaml the contract.
//!
//! The operator console (`console`) is served by the same app at `/console/`.
//!
//! Errors: handlers return [`error::ApiError`], which maps each refusal to its status and code;
//! storage failures arrive as `persistence::StoreError` and become 503 (never a 4xx or a 500).

pub mod auth;
pub mod console;
pub mod cursor;
pub mod error;
pub mod input;
pub mod routes;
pub mod startup;
pub mod state;
pub mod telemetry;

pub use startup::{Application, StartupError};
