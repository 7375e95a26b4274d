//! The webhook-inbox processor: claims recorded events, takes the payment's lock, has the domain
//! plan the decisions and records them exactly once; retries transient trouble with back-off;
//! shuts down cleanly. No HTTP but `/healthz`, `/readyz` and `/metrics`. See `docs/processor.md`.
//!
//! One pipeline, one module per step: `claim` -> `apply` (read, lock, plan, write) -> `settle`,
//! driven by `claim_loop`; leased events go through the same `apply` step in `rounds`. The state
//! they share is `context`; `lock` names and takes the payment locks; `failure` types why an
//! event was not decided.
//!
//! Errors: [`Error`] is only raised while starting. Once running, every failure is handled where
//! it happens (an event is retried or failed with its reason; the loop backs off), so `run`
//! returns when it is cancelled.

mod app;
mod apply;
mod claim;
mod claim_loop;
mod context;
mod dispatch;
mod error;
mod failure;
mod http;
mod inflight;
mod liveness;
pub mod lock;
mod metrics;
mod queue;
mod retry;
mod rounds;
mod settle;
mod wake;

pub use app::Processor;
pub use error::Error;
