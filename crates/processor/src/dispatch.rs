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

use bytes::Bytes;
use domain::signature::{self, Scheme, SigningSecret};
use http_body_util::{BodyExt, Full};
use hyper::{Request, Uri};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
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
    uri: Uri,
    timeout: Duration,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl Target {
    /// `connections`: deliveries at once, each of which may keep its connection open for the next.
    /// Fails on a URL that is not an absolute http(s) URI.
    pub(crate) fn new(
        url: String,
        secrets: Vec<SigningSecret>,
        timeout: Duration,
        connections: usize,
    ) -> Result<Target, String> {
        let uri: Uri = url
            .parse()
            .map_err(|e| format!("notify.url {url:?}: {e}"))?;
        // Deliveries run on the processor's runtime, on asynchronous I/O: one in flight is a
        // future, not a thread blocked on its socket. A blocking client cost 5.5 thread
        // switches per delivery, a third of the processor's time while delivering
        // (docs/benchmarks.md).
        let connector = HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new())
            // Enough idle connections for every delivery at once to find one open.
            .pool_max_idle_per_host(connections)
            .build(connector);
        Ok(Target {
            url,
            secrets,
            uri,
            timeout,
            client,
        })
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

    /// One attempt, bounded by the timeout: `Ok` on 2xx, else what went wrong, in words for
    /// `last_error`. Any answer is the endpoint's: a non-2xx (a redirect too, which is not
    /// followed: it would send the signed body elsewhere) is a failed attempt.
    async fn post(&self, id: &str, body: Vec<u8>) -> Result<(), String> {
        let mut request = Request::post(self.uri.clone())
            .header("content-type", "application/json")
            .header("user-agent", "webhook-inbox");
        for (name, value) in self.headers(id, chrono::Utc::now().timestamp(), &body) {
            request = request.header(name, value);
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let attempt = async {
            let response = self.client.request(request).await.map_err(describe)?;
            let status = response.status().as_u16();
            if (200..300).contains(&status) {
                return Ok(());
            }
            // The first 200 characters of what it said, read within the same timeout.
            let text = match response.into_body().collect().await {
                Ok(collected) => String::from_utf8_lossy(&collected.to_bytes()).into_owned(),
                Err(_) => String::new(),
            };
            let snippet: String = text.chars().take(200).collect();
            Err(format!("HTTP {status}: {snippet}"))
        };
        match tokio::time::timeout(self.timeout, attempt).await {
            Ok(result) => result,
            Err(_) => Err(format!("timed out after {} ms", self.timeout.as_millis())),
        }
    }
}

/// A failed request in words, with its causes (hyper's own message is only "client error").
fn describe(error: hyper_util::client::legacy::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
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
        // Its own task: with many notifications waiting a sweep reads them all, which the claim
        // loop would otherwise wait for.
        let sweeper = tokio::spawn(self.clone().sweep(cancel.clone()));
        let mut failures: u32 = 0;
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
        let _ = sweeper.await;
    }

    /// Makes due the waiting notifications that nothing else would (`release_orphans`): as it
    /// starts, then every `ORPHAN_SWEEP` until `cancel` fires.
    async fn sweep(self: Arc<Self>, cancel: CancellationToken) {
        loop {
            match run_blocking(&self.pool, |conn| release_orphans(conn, now())).await {
                Ok(0) => {}
                Ok(released) => {
                    self.wake.notify_one();
                    tracing::warn!(
                        released,
                        "Released notifications that waited for no earlier one"
                    )
                }
                Err(error) => tracing::warn!(%error, "Could not look for orphaned notifications"),
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(ORPHAN_SWEEP) => {}
            }
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
        let result = target.post(&id, body).await;
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
