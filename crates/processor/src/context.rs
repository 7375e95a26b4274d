//! What every step of a running processor reads: the pool, the providers' payload profiles,
//! the locks, the metrics and the knobs. It imports no step, so the steps (`claim`, `rounds`,
//! `apply`, `settle`) and the loop that drives them never import each other in a circle.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use domain::PayloadProfile;
use persistence::DbPool;
use tokio::sync::Notify;

use crate::liveness::Liveness;
use crate::lock::Locks;
use crate::metrics::Metrics;
use crate::retry::RetryPolicy;

pub(crate) struct Context {
    pub(crate) pool: DbPool,
    /// How to read each provider's payloads; never its signing secrets (the receiver's alone).
    pub(crate) profiles: Arc<BTreeMap<String, PayloadProfile>>,
    pub(crate) locks: Locks,
    pub(crate) metrics: Metrics,
    pub(crate) retry: RetryPolicy,
    /// Woken by the LISTEN thread when receivers announce new events.
    pub(crate) wake: Arc<Notify>,
    pub(crate) batch_size: usize,
    pub(crate) concurrency: usize,
    pub(crate) lease: Duration,
    pub(crate) lock_wait: Duration,
    pub(crate) poll_interval: Duration,
    pub(crate) shutdown_grace: Duration,
    /// The PostgreSQL URL to LISTEN on; `None` on SQLite, which only polls.
    pub(crate) listen_url: Option<String>,
    /// Beaten by the claim loop at every pass, read by `/readyz`.
    pub(crate) liveness: Liveness,
}
