//! The processor as a library: `Processor::build` opens the pools and the metrics port,
//! `run` works until cancelled, `run_until_idle` works until nothing is claimable (tests).
//! Several processors may share one database, in one process or many.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use domain::signature::SigningSecret;
use inbox_config::Settings;
use persistence::{build_pool, DatabaseUrl, StoreError};
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::claim_loop::Driver;
use crate::context::Context;
use crate::dispatch::{Dispatcher, Target};
use crate::error::Error;
use crate::liveness::Liveness;
use crate::lock::{Locks, RedisLock};
use crate::metrics::Metrics;
use crate::retry::RetryPolicy;
use crate::{http, queue, wake};

pub struct Processor {
    ctx: Arc<Context>,
    /// Delivers notifications when `[notify]` names an endpoint.
    dispatcher: Option<Arc<Dispatcher>>,
    /// Stops the metrics server and the queue sampler when the processor is dropped.
    background: CancellationToken,
}

impl Processor {
    /// Connects to the database (and prepares Redis, which may be down: locks then come from
    /// the database), binds `processor.metrics_addr` and starts serving `/healthz`, `/readyz`
    /// and `/metrics`. Returns the bound address (useful with port 0). Migrations are the caller's.
    /// Only the providers' payload profiles are taken from `settings`: the processor never reads
    /// a provider's signing secret, so its environment need not hold any. The notification
    /// secrets (`[notify] secrets`) are read from the process environment when `[notify] url` is
    /// set.
    pub async fn build(settings: Settings) -> Result<(Processor, SocketAddr), Error> {
        let secrets = settings
            .notify
            .resolve_secrets(&inbox_config::ProcessEnvironment)?;
        Processor::build_with(settings, secrets).await
    }

    /// `build`, with the notification signing secrets given (tests).
    pub async fn build_with(
        settings: Settings,
        notify_secrets: Vec<SigningSecret>,
    ) -> Result<(Processor, SocketAddr), Error> {
        let p = &settings.processor;
        let url = settings.database.database_url()?;
        let pool_settings = settings.database.pool_settings();
        let pool_url = url.clone();
        let pool = tokio::task::spawn_blocking(move || build_pool(&pool_url, &pool_settings))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))??;
        let concurrency = usize::try_from(p.concurrency).unwrap_or(usize::MAX).max(1);
        let redis = match settings
            .redis
            .url
            .as_ref()
            .map(|u| u.expose_secret().to_owned())
        {
            // One connection per queue slot, which is the most that ever lock at once, and
            // spares: running out must never look like Redis being down.
            Some(url) if !url.is_empty() => Some(
                RedisLock::new(&url, Duration::from_millis(p.lock_ttl_ms), concurrency + 2)
                    .map_err(|e| Error::Redis(e.to_string()))?,
            ),
            _ => None,
        };
        let profiles = settings.payload_profiles();
        let metrics = Metrics::new(profiles.keys().map(String::as_str));
        let lock_wait = Duration::from_millis(p.lock_wait_ms);
        let has_redis = redis.is_some();
        let locks = Locks::new(redis, metrics.clone());
        let listener = TcpListener::bind(p.metrics_addr)
            .await
            .map_err(|source| Error::Bind {
                addr: p.metrics_addr,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: p.metrics_addr,
            source,
        })?;
        let background = CancellationToken::new();
        let liveness = Liveness::new(Duration::from_millis(p.poll_interval_ms), lock_wait);
        let probes = http::Probes {
            metrics: metrics.clone(),
            liveness: liveness.clone(),
            pool: pool.clone(),
        };
        tokio::spawn(http::serve(listener, probes, background.clone()));
        let dispatcher = match settings.notify.endpoint() {
            None => None,
            Some(url) => {
                let n = &settings.notify;
                let concurrency = usize::try_from(n.concurrency).unwrap_or(usize::MAX).max(1);
                let target = Target::new(
                    url.to_owned(),
                    notify_secrets,
                    Duration::from_millis(n.timeout_ms),
                    concurrency,
                )
                .map_err(Error::Notify)?;
                Some(Arc::new(Dispatcher {
                    pool: pool.clone(),
                    target: Arc::new(target),
                    retry: RetryPolicy {
                        base: Duration::from_millis(n.retry_base_ms),
                        max: Duration::from_millis(n.retry_max_ms),
                        max_attempts: n.max_attempts,
                    },
                    lease: Duration::from_secs(n.lease_secs),
                    concurrency,
                    poll_interval: Duration::from_millis(n.poll_interval_ms),
                    wake: Arc::new(Notify::new()),
                    metrics: metrics.clone(),
                }))
            }
        };
        tokio::spawn(queue::sample_queue(
            pool.clone(),
            metrics.clone(),
            background.clone(),
        ));
        let listen_url = match &url {
            DatabaseUrl::Postgres(raw) => Some(raw.clone()),
            DatabaseUrl::Sqlite(_) => None,
        };
        tracing::info!(
            database = %url,
            locks = if has_redis { "redis, database as fallback" } else { "database" },
            metrics = %addr,
            "Processor ready"
        );
        let ctx = Context {
            pool,
            profiles: Arc::new(profiles),
            locks,
            metrics,
            retry: RetryPolicy {
                base: Duration::from_millis(p.retry_base_ms),
                max: Duration::from_millis(p.retry_max_ms),
                max_attempts: p.max_attempts,
            },
            wake: Arc::new(Notify::new()),
            batch_size: usize::try_from(p.batch_size).unwrap_or(usize::MAX).max(1),
            concurrency,
            lease: Duration::from_secs(p.lease_secs),
            lock_wait,
            poll_interval: Duration::from_millis(p.poll_interval_ms),
            shutdown_grace: Duration::from_secs(p.shutdown_grace_secs),
            listen_url,
            liveness,
        };
        let processor = Processor {
            ctx: Arc::new(ctx),
            dispatcher,
            background,
        };
        Ok((processor, addr))
    }

    /// Works until `cancel` fires; then stops claiming, finishes the events in hand within
    /// `processor.shutdown_grace_secs`, gives back the events not started, and returns.
    pub async fn run(&self, cancel: CancellationToken) -> Result<(), Error> {
        if let Some(url) = &self.ctx.listen_url {
            let stop = cancel.child_token();
            let wakes = wake::Wakes {
                events: self.ctx.wake.clone(),
                notifications: self.dispatcher.as_ref().map(|d| d.wake.clone()),
            };
            if let Err(error) = wake::spawn_listener(url.clone(), wakes, stop) {
                tracing::warn!(%error, "No LISTEN thread: polling only");
            }
        }
        let delivering = self
            .dispatcher
            .clone()
            .map(|dispatcher| tokio::spawn(dispatcher.run(cancel.child_token())));
        Driver::new(self.ctx.clone(), cancel).run().await;
        if let Some(delivering) = delivering {
            let _ = delivering.await;
        }
        tracing::info!("Processor stopped");
        Ok(())
    }

    /// Claims and works until no event is claimable and none is in hand, then returns how many
    /// claims were made. Events scheduled for a later retry are not waited for. Lets tests
    /// drain the queue deterministically instead of sleeping.
    pub async fn run_until_idle(&self) -> Result<usize, Error> {
        Ok(Driver::new(self.ctx.clone(), CancellationToken::new())
            .run_until_idle()
            .await?)
    }
}

impl Drop for Processor {
    fn drop(&mut self) {
        self.background.cancel();
    }
}
