//! The receiver: the HTTP service payment providers call. It verifies each delivery (provider,
//! content type, size, signature, timestamp, JSON), records it durably once per provider event,
//! and only then answers 2xx; when it cannot record, it answers 503 so the provider retries.
//! It never touches collections: the processor does.
//!
//! Errors: handlers return [`error::ReceiveError`], which maps each refusal to its status and
//! code; storage failures arrive as `persistence::StoreError` and always become 503.

pub mod error;
pub mod ids;
pub mod intake;
pub mod recorder;
pub mod routes;
pub mod startup;
pub mod state;
pub mod tally;
pub mod telemetry;

pub use inbox_web::request_id;
pub use startup::{Application, StartupError};
