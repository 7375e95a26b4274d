//! The lock per payment, `webhook_processing:{request_ref}`, held across the read-decide-write
//! of one event. Redis when configured and answering; otherwise the database lock
//! (`persistence::lock`): never nothing. The lock saves work (no two processors deciding on one
//! payment at once); correctness rests on `apply_decision`'s conditional update, so the moments
//! when two processors use different locks (Redis just failed or just came back) cost at most a
//! re-decision, never a wrong status.

mod redis;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use persistence::lock::{with_database_lock, Locked};
use persistence::{run_blocking, DbConnection, DbPool, StoreError};
use tokio_util::sync::CancellationToken;

use crate::metrics::{LockBackend, Metrics};

pub use self::redis::{Acquired, RedisGuard, RedisLock, RedisUnavailable};

/// After a Redis failure, locks come from the database for this long before Redis is tried
/// again: a Redis that is down costs one failed call per second, not one per event.
const REDIS_COOL_DOWN: Duration = Duration::from_secs(1);

/// The name of the lock on one payment.
pub fn lock_key(request_ref: &str) -> String {
    format!("webhook_processing:{request_ref}")
}

#[derive(Debug)]
pub(crate) enum LockError {
    /// The lock was held by someone else for the whole wait.
    TimedOut(LockBackend),
    /// Shutdown began while waiting; nothing ran.
    Cancelled,
    /// The database failed (while locking or in the work).
    Store(StoreError),
}

pub(crate) struct Locks {
    redis: Option<RedisLock>,
    pool: DbPool,
    wait: Duration,
    metrics: Metrics,
    /// When Redis failed last and until when it is left alone.
    redis_down_until: Mutex<Option<Instant>>,
}

impl Locks {
    pub(crate) fn new(
        redis: Option<RedisLock>,
        pool: DbPool,
        wait: Duration,
        metrics: Metrics,
    ) -> Locks {
        Locks {
            redis,
            pool,
            wait,
            metrics,
            redis_down_until: Mutex::new(None),
        }
    }

    /// Runs `work` (database work, on a blocking thread) while holding the payment's lock.
    pub(crate) async fn run_locked<T, F>(
        &self,
        request_ref: &str,
        cancel: &CancellationToken,
        work: F,
    ) -> Result<T, LockError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let key = lock_key(request_ref);
        let started = Instant::now();
        if let Some(redis) = &self.redis {
            if self.redis_usable() {
                match redis.acquire(&key, self.wait, cancel).await {
                    Ok(Acquired::Held(guard)) => {
                        self.redis_answered();
                        self.metrics
                            .lock_acquired(LockBackend::Redis, started.elapsed());
                        tracing::debug!("Acquired Redis lock: {key}");
                        let result = run_blocking(&self.pool, work).await;
                        self.release(redis, guard).await;
                        return result.map_err(LockError::Store);
                    }
                    Ok(Acquired::TimedOut) => {
                        self.redis_answered();
                        let waited = started.elapsed();
                        self.metrics.lock_timeout(LockBackend::Redis, waited);
                        tracing::warn!(
                            %key,
                            ?waited,
                            "Failed to acquire Redis lock after {:?}",
                            self.wait
                        );
                        return Err(LockError::TimedOut(LockBackend::Redis));
                    }
                    Ok(Acquired::Cancelled) => return Err(LockError::Cancelled),
                    Err(error) => {
                        self.redis_failed();
                        tracing::warn!(%key, %error, "Redis unavailable: using the database lock");
                    }
                }
            }
            self.metrics.lock_fallback();
        }
        // A Redis that failed mid-wait has used part of it: the whole wait stays bounded.
        let wait = self.wait.saturating_sub(started.elapsed());
        self.run_under_database_lock(key, wait, work).await
    }

    async fn run_under_database_lock<T, F>(
        &self,
        key: String,
        wait: Duration,
        work: F,
    ) -> Result<T, LockError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let metrics = self.metrics.clone();
        let name = key.clone();
        let locked = run_blocking(&self.pool, move |conn| {
            let started = Instant::now();
            let locked = with_database_lock(conn, &name, wait, |conn| {
                metrics.lock_acquired(LockBackend::Database, started.elapsed());
                tracing::debug!("Acquired database lock: {name}");
                work(conn)
            })?;
            Ok((locked, started.elapsed()))
        })
        .await
        .map_err(LockError::Store)?;
        match locked {
            (Locked::Held(value), _) => Ok(value),
            (Locked::TimedOut, waited) => {
                self.metrics.lock_timeout(LockBackend::Database, waited);
                tracing::warn!(
                    %key,
                    ?waited,
                    "Failed to acquire database lock after {:?}",
                    self.wait
                );
                Err(LockError::TimedOut(LockBackend::Database))
            }
        }
    }

    async fn release(&self, redis: &RedisLock, guard: RedisGuard) {
        let key = guard.key().to_owned();
        match redis.release(guard).await {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                %key,
                "Redis lock expired before its release: processor.lock_ttl_ms is shorter than \
                 the work it guards"
            ),
            // The lock expires after its time to live.
            Err(error) => tracing::warn!(%key, %error, "Redis lock not released"),
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
