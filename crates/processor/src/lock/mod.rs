//! The lock per payment, `webhook_processing:{request_ref}`, held across the read-decide-write
//! of its events. Redis when configured and answering; otherwise the database lock
//! (`persistence::lock`): never nothing. A batch tries all its payments' locks at once without
//! waiting, works the ones it had and comes back for the others with back-off, until
//! `processor.lock_wait_ms` has passed for them (`rounds`). Nobody waits while holding, so
//! batches cannot deadlock. The lock saves work (no two processors deciding on one payment at
//! once); correctness rests on the decision transaction's row locks and conditional updates, so
//! the moments when two processors use different locks (Redis just failed or just came back)
//! cost at most some waiting, never a wrong status.

mod redis;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::metrics::{LockBackend, Metrics};

pub use self::redis::{RedisBatchGuard, RedisLock, RedisUnavailable};

/// After a Redis failure, locks come from the database for this long before Redis is tried
/// again: a Redis that is down costs one failed call per second, not one per batch.
const REDIS_COOL_DOWN: Duration = Duration::from_secs(1);

/// The name of the lock on one payment.
pub fn lock_key(request_ref: &str) -> String {
    format!("webhook_processing:{request_ref}")
}

/// The distinct lock names of these payments, sorted.
pub(crate) fn lock_names<'a>(request_refs: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut names: Vec<String> = request_refs.map(lock_key).collect();
    names.sort();
    names.dedup();
    names
}

/// The payment locks one round of a batch holds.
pub(crate) enum BatchLocks {
    /// Held in Redis: the keys the guard names.
    Redis(RedisBatchGuard),
    /// Redis is absent or down: the round's transaction tries these database locks itself
    /// (`apply`), and works the payments whose lock it had.
    Database(Vec<String>),
}

impl BatchLocks {
    pub(crate) fn backend(&self) -> LockBackend {
        match self {
            BatchLocks::Redis(_) => LockBackend::Redis,
            BatchLocks::Database(_) => LockBackend::Database,
        }
    }

    /// The database locks the round's transaction must try itself; none when Redis holds them.
    pub(crate) fn database_names(&self) -> Option<&[String]> {
        match self {
            BatchLocks::Redis(_) => None,
            BatchLocks::Database(names) => Some(names),
        }
    }

    /// Whether the round may work the payment whose lock is `name`: held in Redis, or left to
    /// the transaction's database try-lock.
    pub(crate) fn allows(&self, name: &str) -> bool {
        match self {
            BatchLocks::Redis(guard) => guard.holds(name),
            BatchLocks::Database(_) => true,
        }
    }
}

pub(crate) struct Locks {
    redis: Option<RedisLock>,
    metrics: Metrics,
    /// When Redis failed last and until when it is left alone.
    redis_down_until: Mutex<Option<Instant>>,
}

impl Locks {
    pub(crate) fn new(redis: Option<RedisLock>, metrics: Metrics) -> Locks {
        Locks {
            redis,
            metrics,
            redis_down_until: Mutex::new(None),
        }
    }

    /// Tries each payment's lock once, without waiting: Redis when configured and answering,
    /// all keys in one round trip. When Redis is absent or fails, the round's transaction tries
    /// the database locks itself (`BatchLocks::Database`).
    pub(crate) async fn try_lock_batch(&self, keys: &[String]) -> BatchLocks {
        if let Some(redis) = &self.redis {
            if self.redis_usable() {
                match redis.try_acquire_many(keys).await {
                    Ok(guard) => {
                        self.redis_answered();
                        for key in guard.keys() {
                            tracing::debug!("Acquired Redis lock: {key}");
                        }
                        return BatchLocks::Redis(guard);
                    }
                    Err(error) => {
                        self.redis_failed();
                        tracing::warn!(%error, "Redis unavailable: using the database lock");
                    }
                }
            }
            self.metrics.lock_fallback();
        }
        BatchLocks::Database(keys.to_vec())
    }

    /// Lets go of what `try_lock_batch` took in Redis (database locks end with their
    /// transaction).
    pub(crate) async fn release_batch(&self, locks: BatchLocks) {
        let (Some(redis), BatchLocks::Redis(guard)) = (&self.redis, locks) else {
            return;
        };
        let count = guard.keys().len();
        match redis.release_many(guard).await {
            Ok(0) => {}
            Ok(expired) => tracing::warn!(
                "{expired} of {count} Redis locks expired before their release: \
                 processor.lock_ttl_ms is shorter than the work they guard"
            ),
            // The locks expire after their time to live.
            Err(error) => tracing::warn!(%error, "{count} Redis locks not released"),
        }
    }

    fn redis_usable(&self) -> bool {
        let down_until = self.redis_down_until.lock().map(|g| *g).unwrap_or(None);
        down_until.is_none_or(|until| Instant::now() >= until)
    }

    fn redis_failed(&self) {
        if let Ok(mut down) = self.redis_down_until.lock() {
            *down = Some(Instant::now() + REDIS_COOL_DOWN);
        }
    }

    fn redis_answered(&self) {
        if let Ok(mut down) = self.redis_down_until.lock() {
            if down.take().is_some() {
                tracing::info!("Redis answers again: payment locks use Redis");
            }
        }
    }
}
