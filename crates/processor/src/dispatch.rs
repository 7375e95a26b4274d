//! The dispatcher: delivers the outbox (`notifications`) to the host application's endpoint,
//! signed as a Standard Webhooks sender (`webhook-id` = the notification's id, the same on every
//! attempt, so the application can drop a repeat; `webhook-timestamp`; `webhook-signature` with
//! `v1,<base64 HMAC-SHA256>` per secret). A 2xx is delivered; anything else, or no answer within
//! `notify.timeout_ms`, is tried again with exponential back-off and jitter, then FAILED after
//! `notify.max_attempts`. A collection's notifications go one at a time, in order (only the
//! earliest undelivered one of each is due, and writing how it ended makes the next one due);
//! different collections go in parallel, up to `notify.concurrency`. Several processors share
//! the work through `SKIP LOCKED` claims and leases: one that dies mid-delivery leaves its
//! notifications to be sent again after the lease.

use std::sync::Arc;
use std::time::Duration;

use domain::signature::{self, Scheme, SigningSecret};
use persistence::{
    claim_notifications, now, release_next, release_orphans, run_blocking, settle_notifications,
    DbPool, Notification, Undelivered,
};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::metrics::{Delivery, Metrics};
use crate::retry::RetryPolicy;

/// Where and how notifications are delivered.
pub(crate) struct Target {
    pub url: String,
    pub secrets: Vec<SigningSecret>,
    pub agent: ureq::Agent,
}

impl Target {
    /// `connections`: deliveries at once, each of which may keep its connection open for the next.
    pub(crate) fn new(
        url: String,
        secrets: Vec<SigningSecret>,
        timeout: Duration,
        connections: usize,
    ) -> Target {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            // ureq keeps 3 idle connections per host by default: with more deliveries at once,
            // most would open (and the endpoint accept) a connection of their own each time.
            .max_idle_connections(connections)
            .max_idle_connections_per_host(connections)
            // Any answer is the endpoint's: a non-2xx is a failed attempt, not an error here.
            .http_status_as_error(false)
            // A redirect would send the signed body elsewhere: it is a failed attempt.
            .max_redirects(0)
            .max_redirects_will_error(false)
            .user_agent("webhook-inbox")
            .build()
            .into();
        Target {
            url,
            secrets,
            agent,
        }
    }

    /// The three Standard Webhooks headers for `body`, signed at `timestamp` with every secret.
    fn headers(&self, id: &str, timestamp: i64, body: &[u8]) -> Vec<(String, String)> {
        let scheme = Scheme::StandardWebhooks(Default::default());
        let signatures: Vec<String> = self
            .secrets
            .iter()
            .flat_map(|secret| signature::sign(&scheme, secret, body, timestamp, Some(id)))
            .filter(|(name, _)| name == "webhook-signature")
            .map(|(_, value)| value)
            .collect();
        vec![
            ("webhook-id".to_owned(), id.to_owned()),
            ("webhook-timestamp".to_owned(), timestamp.to_string()),
            ("webhook-signature".to_owned(), signatures.join(" ")),
        ]
    }

    /// One attempt: `Ok` on 2xx, else what went wrong, in words for `last_error`.
    fn post(&self, id: &str, body: &[u8]) -> Result<(), String> {
        let mut request = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/json");
        for (name, value) in self.headers(id, chrono::Utc::now().timestamp(), body) {
            request = request.header(name, value);
        }
        let mut response = request.send(body).map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(());
        }
        let text = response.body_mut().read_to_string().unwrap_or_default();
        let snippet: String = text.chars().take(200).collect();
        Err(format!("HTTP {status}: {snippet}"))
    }
}

pub(crate) struct Dispatcher {
    pub pool: DbPool,
    pub target: Arc<Target>,
    pub retry: RetryPolicy,
    pub lease: Duration,
    pub concurrency: usize,
    pub poll_interval: Duration,
    /// Woken by the LISTEN thread when a decision wrote notifications (PostgreSQL).
    pub wake: Arc<Notify>,
    pub metrics: Metrics,
}

/// What one attempt came to, waiting to be written.
struct Attempt {
    notification: Notification,
    result: Result<(), String>,
}

/// Attempts written per transaction at most.
const SETTLE_BATCH: usize = 500;

/// How long a woken claim loop, and the settler given a first attempt, wait for more work before
/// their transaction. Under load a wake-up comes with every processor's commit and every
/// delivery: without the wait each became a transaction of its own for one or two
/// notifications (2,583 of them for 4,670 notifications in one P1 run, 1,279 with a 10 ms wait;
/// docs/benchmarks.md). A few milliseconds per transaction is a small part of the lag's 100 ms
/// budget, even for a collection's later notification, which waits for the earlier one's write
/// and the next claim.
const GATHER: Duration = Duration::from_millis(3);

/// How often a dispatcher looks for waiting notifications with no earlier one left pending
/// (`persistence::release_orphans`), and once as it starts: a settle releases the next one
/// itself, so this only finds one whose release was not written (the processor stopped, or the
/// database failed, between writing a delivery and releasing the next one of a collection a
/// decision held), rows settled by a version before it (during an upgrade), or rows changed by
/// hand. It reads the waiting notifications only.
const ORPHAN_SWEEP: Duration = Duration::from_secs(30);

impl Dispatcher {
    /// Delivers until `cancel` fires, then lets the deliveries in flight end (each is bounded by
    /// the timeout), writes their outcomes and returns.
    pub(crate) async fn run(self: Arc<Self>, cancel: CancellationToken) {
        tracing::info!(url = %self.target.url, concurrency = self.concurrency, "Delivering notifications");
        let permits = Arc::new(Semaphore::new(self.concurrency));
        let mut deliveries = JoinSet::new();
        // Attempts are written in batches by one task: a delivery costs no transaction of its
        // own, and the next notification of its collection is claimable once the batch commits.
        let (attempts, settling) = tokio::sync::mpsc::unbounded_channel::<Attempt>();
        let settled = Arc::new(Notify::new());
        let settler = tokio::spawn(self.clone().settle(settling, settled.clone()));
        let mut failures: u32 = 0;
        let mut next_sweep = tokio::time::Instant::now();
        loop {
            while deliveries.try_join_next().is_some() {}
            let free = permits.available_permits();
            if free == 0 {
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = deliveries.join_next() => {}
                }
                // Busy: deliveries end one by one, and claiming for each as it ended made a
                // transaction per notification. Let a few more end and claim for them together.
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = tokio::time::sleep(GATHER) => continue,
                }
            }
            if tokio::time::Instant::now() >= next_sweep {
                next_sweep = tokio::time::Instant::now() + ORPHAN_SWEEP;
                self.release_orphans().await;
            }
            let lease = chrono::Duration::from_std(self.lease).unwrap_or(chrono::Duration::MAX);
            let claimed = run_blocking(&self.pool, move |conn| {
                let at = now();
                claim_notifications(conn, free as i64, at, at + lease)
            })
            .await;
            let claimed = match claimed {
                Ok(claimed) => {
                    failures = 0;
                    claimed
                }
                Err(error) => {
                    failures = failures.saturating_add(1);
                    if failures == 1 {
                        tracing::warn!(%error, "Claiming notifications failed; trying again");
                    }
                    tokio::select! {
                        _ = cancel.cancelled() => break,
                        _ = tokio::time::sleep(self.poll_interval) => continue,
                    }
                }
            };
            let full = claimed.len() >= free;
            for notification in claimed {
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    break;
                };
                deliveries.spawn(Self::deliver(
                    self.target.clone(),
                    notification,
                    permit,
                    attempts.clone(),
                ));
            }
            if full {
                continue;
            }
            // A written batch may let its collections' next notifications go: look again then
            // too, not only on a wake-up or the poll.
            tokio::select! {
                biased;
                _ = cancel.cancelled() => break,
                _ = self.wake.notified() => {}
                _ = settled.notified() => {}
                _ = tokio::time::sleep(self.poll_interval) => {}
            }
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep(GATHER) => {}
            }
        }
        // Deliveries in flight end on their own within the timeout; one cut short would come back
        // after its lease anyway (with the same webhook-id).
        while deliveries.join_next().await.is_some() {}
        drop(attempts);
        let _ = settler.await;
    }

    /// Makes due the waiting notifications that nothing else would: see `release_orphans`.
    async fn release_orphans(&self) {
        match run_blocking(&self.pool, |conn| release_orphans(conn, now())).await {
            Ok(0) => {}
            Ok(released) => {
                tracing::warn!(
                    released,
                    "Released notifications that waited for no earlier one"
                )
            }
            Err(error) => tracing::warn!(%error, "Could not look for orphaned notifications"),
        }
    }

    async fn deliver(
        target: Arc<Target>,
        notification: Notification,
        _permit: OwnedSemaphorePermit,
        attempts: tokio::sync::mpsc::UnboundedSender<Attempt>,
    ) {
        let id = notification.id.to_string();
        let body = serde_json::to_vec(&notification.payload).unwrap_or_default();
        let result = tokio::task::spawn_blocking(move || target.post(&id, &body))
            .await
            .unwrap_or_else(|e| Err(format!("delivery task failed: {e}")));
        // The settler ends only after every sender is gone: this cannot fail while it runs.
        let _ = attempts.send(Attempt {
            notification,
            result,
        });
    }

    /// Writes attempts as they come, all that wait in one transaction, until every sender is
    /// gone; wakes the claim loop after each batch.
    async fn settle(
        self: Arc<Self>,
        mut attempts: tokio::sync::mpsc::UnboundedReceiver<Attempt>,
        settled: Arc<Notify>,
    ) {
        // Collections a decision held when their attempts were written: one task makes their
        // next notifications due as those decisions end, a batch at a time, so that at most one
        // connection waits for such locks and the settle never does.
        let (held, releasing) = tokio::sync::mpsc::unbounded_channel::<Vec<Uuid>>();
        let releaser = tokio::spawn(self.clone().release(releasing, settled.clone()));
        let mut batch = Vec::new();
        while attempts.recv_many(&mut batch, SETTLE_BATCH).await > 0 {
            if batch.len() < SETTLE_BATCH {
                tokio::time::sleep(GATHER).await;
                while batch.len() < SETTLE_BATCH {
                    match attempts.try_recv() {
                        Ok(attempt) => batch.push(attempt),
                        Err(_) => break,
                    }
                }
            }
            let at = now();
            let mut delivered = Vec::new();
            let mut undelivered = Vec::new();
            for attempt in batch.drain(..) {
                let n = attempt.notification;
                match attempt.result {
                    Ok(()) => {
                        let latency = (at - n.created_at).to_std().ok();
                        self.metrics.notification(Delivery::Delivered, latency);
                        delivered.push(n.id);
                    }
                    Err(error) => {
                        let retry_at = (!self.retry.exhausted(n.attempts)).then(|| {
                            let delay = self.retry.delay(n.attempts, &mut rand::rng());
                            at + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX)
                        });
                        match retry_at {
                            Some(_) => {
                                self.metrics.notification(Delivery::Retried, None);
                                tracing::info!(notification = %n.id, attempts = n.attempts, %error, "Notification not delivered; trying again later");
                            }
                            None => {
                                self.metrics.notification(Delivery::Failed, None);
                                tracing::warn!(notification = %n.id, attempts = n.attempts, %error, "Notification FAILED after its last attempt");
                            }
                        }
                        undelivered.push(Undelivered {
                            id: n.id,
                            error,
                            retry_at,
                        });
                    }
                }
            }
            let written = run_blocking(&self.pool, move |conn| {
                settle_notifications(conn, &delivered, &undelivered, at)
            })
            .await;
            match written {
                Ok(busy) if !busy.is_empty() => {
                    // The releaser ends only after this sender is dropped, below.
                    let _ = held.send(busy);
                }
                Ok(_) => {}
                // Their leases run out and they are claimed again: delivered twice at worst,
                // with the same webhook-id.
                Err(error) => tracing::warn!(%error, "Could not record delivery attempts"),
            }
            settled.notify_one();
        }
        drop(held);
        let _ = releaser.await;
    }

    /// Makes the next notifications of the collections sent here due (`release_next`), all that
    /// wait in one transaction, until every sender is gone; wakes the claim loop after each.
    async fn release(
        self: Arc<Self>,
        mut held: tokio::sync::mpsc::UnboundedReceiver<Vec<Uuid>>,
        settled: Arc<Notify>,
    ) {
        let mut batches = Vec::new();
        while held.recv_many(&mut batches, SETTLE_BATCH).await > 0 {
            let mut collections: Vec<Uuid> = batches.drain(..).flatten().collect();
            collections.sort_unstable();
            collections.dedup();
            let released = run_blocking(&self.pool, move |conn| {
                release_next(conn, &collections, now())
            })
            .await;
            if let Err(error) = released {
                // The sweep (`ORPHAN_SWEEP`) makes them due later.
                tracing::warn!(%error, "Could not make the next notifications due");
            }
            settled.notify_one();
        }
    }
}
