//! The Redis lock: `SET key token NX PX ttl` with a random token per batch round, for all the
//! round's keys in one pipelined round trip; released by a Lua compare-and-delete so a holder
//! whose lock expired never deletes the next holder's. Waiting for a busy key is the rounds' job
//! (`batch`). Every Redis call has a short timeout: a Redis that hangs must turn into a fallback
//! to the database lock, not into a stuck processor.

use std::collections::HashSet;
use std::time::Duration;

use deadpool_redis::{Manager, Pool, Runtime, Timeouts};
use rand::Rng;
use redis::AsyncConnectionConfig;

/// How long one Redis round trip (or opening a connection) may take before Redis counts as down.
const CALL_TIMEOUT: Duration = Duration::from_secs(1);

const RELEASE: &str = r#"
if redis.call("get", KEYS[1]) == ARGV[1] then
    return redis.call("del", KEYS[1])
else
    return 0
end
"#;

/// Redis could not be used (refused, timed out, protocol error): the caller falls back.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct RedisUnavailable(pub String);

impl From<redis::RedisError> for RedisUnavailable {
    fn from(err: redis::RedisError) -> Self {
        RedisUnavailable(err.to_string())
    }
}

impl From<deadpool_redis::PoolError> for RedisUnavailable {
    fn from(err: deadpool_redis::PoolError) -> Self {
        RedisUnavailable(err.to_string())
    }
}

/// The keys one batch holds under one token; give it to [`RedisLock::release_many`]. Dropped
/// without release, they expire after the lock's time to live.
#[derive(Debug)]
pub struct RedisBatchGuard {
    keys: HashSet<String>,
    token: String,
}

impl RedisBatchGuard {
    /// The keys had.
    pub fn keys(&self) -> impl ExactSizeIterator<Item = &str> {
        self.keys.iter().map(String::as_str)
    }

    pub fn holds(&self, key: &str) -> bool {
        self.keys.contains(key)
    }
}

#[derive(Clone)]
pub struct RedisLock {
    pool: Pool,
    ttl: Duration,
}

impl RedisLock {
    /// A pool of connections to `url`; nothing is connected yet, so an unreachable Redis is
    /// not an error here. `pool_size` bounds concurrent lock calls.
    pub fn new(url: &str, ttl: Duration, pool_size: usize) -> Result<RedisLock, RedisUnavailable> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CALL_TIMEOUT))
            .set_response_timeout(Some(CALL_TIMEOUT));
        let manager = Manager::new_with_config(url, config)?;
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(1))
            .timeouts(Timeouts {
                wait: Some(CALL_TIMEOUT),
                create: Some(CALL_TIMEOUT),
                recycle: Some(CALL_TIMEOUT),
            })
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| RedisUnavailable(e.to_string()))?;
        Ok(RedisLock { pool, ttl })
    }

    /// Tries `SET key token NX PX ttl` once for each key, in one pipelined round trip, under one
    /// token: a batch takes the payments it can have now and comes back for the others. Returns
    /// the guard of the keys had.
    pub async fn try_acquire_many(
        &self,
        keys: &[String],
    ) -> Result<RedisBatchGuard, RedisUnavailable> {
        let token = format!("{:032x}", rand::rng().random::<u128>());
        let ttl_ms = u64::try_from(self.ttl.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let mut pipe = redis::pipe();
        for key in keys {
            pipe.cmd("SET")
                .arg(key)
                .arg(&token)
                .arg("NX")
                .arg("PX")
                .arg(ttl_ms);
        }
        let mut conn = self.pool.get().await?;
        let set: Vec<Option<String>> = pipe.query_async(&mut conn).await?;
        let held = keys
            .iter()
            .zip(&set)
            .filter(|(_, set)| set.is_some())
            .map(|(key, _)| key.clone())
            .collect();
        Ok(RedisBatchGuard { keys: held, token })
    }

    /// Releases a batch's keys (compare-and-delete each, in one pipelined round trip). Returns
    /// how many had expired before their release.
    pub async fn release_many(&self, guard: RedisBatchGuard) -> Result<usize, RedisUnavailable> {
        if guard.keys.is_empty() {
            return Ok(0);
        }
        let mut pipe = redis::pipe();
        for key in &guard.keys {
            // EVAL per key rather than one script over all keys: keys of one script must share
            // a cluster slot, and a payment's keys do not.
            pipe.cmd("EVAL")
                .arg(RELEASE)
                .arg(1)
                .arg(key)
                .arg(&guard.token);
        }
        let mut conn = self.pool.get().await?;
        let deleted: Vec<i64> = pipe.query_async(&mut conn).await?;
        Ok(deleted.iter().filter(|d| **d != 1).count())
    }
}
