//! The webhook-inbox processor: claims recorded events, takes the payment's lock, applies the
//! status rule and records the decision exactly once; retries transient trouble with back-off;
//! shuts down cleanly. No HTTP but `/healthz`, `/readyz` and `/metrics`. See `docs/processor.md`.
//!
//! Errors: [`Error`] is only raised while starting. Once running, every failure is handled where
//! it happens (an event is retried or failed with its reason; the loop backs off), so `run`
//! returns when it is cancelled.

mod app;
mod batch;
mod claim_loop;
mod direct;
mod error;
mod http;
mod inflight;
mod liveness;
pub mod lock;
mod metrics;
mod queue;
mod retry;
mod settle;
mod wake;

pub use app::Processor;
pub use error::Error;
