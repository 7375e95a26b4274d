//! Group commit. Requests hand their event to a bounded queue; a few writer threads each take
//! whatever is queued (up to `max_batch`), record it in ONE transaction, and answer every request
//! of the batch after that commit. Under light load a request is written alone at once; under
//! load batches grow by themselves, and one commit (one WAL flush) serves many requests.
//!
//! A batch that fails for a reason other than an unreachable database is retried row by row, so
//! one bad row (say, a payload PostgreSQL's jsonb refuses) never fails its neighbours.

use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::web::Bytes;
use chrono::{DateTime, Utc};
use persistence::{
    record_events, BatchEvent, DbConnection, DbPool, NewWebhookEvent, Receipt, StoreError,
};
use serde_json::Value;
use uuid::Uuid;

/// A writer keeps its pooled connection while batches keep coming, because every checkout from
/// the pool costs a validation round trip (`SELECT 1`). After this long without work it gives the
/// connection back, so that the next batch runs on a freshly validated one (after a database
/// restart, say) and an idle receiver holds no connections.
const KEEP_CONNECTION_IDLE: Duration = Duration::from_secs(1);

/// A delivery to record, owned so that it can cross to a writer thread.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: Uuid,
    pub provider: String,
    pub event_id: Option<String>,
    pub dedup_key: String,
    pub request_ref: Option<String>,
    pub payload: Value,
    /// The body `payload` was parsed from, when it is the document to store (nothing had to be
    /// replaced): PostgreSQL then stores this text, and `payload` is not serialised again.
    pub payload_json: Option<Bytes>,
    pub signature: Option<String>,
    pub received_at: DateTime<Utc>,
}

impl Delivery {
    fn as_batch_event(&self) -> BatchEvent<'_> {
        BatchEvent {
            event: NewWebhookEvent {
                id: self.id,
                provider: &self.provider,
                event_id: self.event_id.as_deref(),
                dedup_key: &self.dedup_key,
                request_ref: self.request_ref.as_deref(),
                payload: &self.payload,
                signature: self.signature.as_deref(),
                next_attempt_at: self.received_at,
                received_at: self.received_at,
                last_seen_at: self.received_at,
            },
            payload_json: self.payload_json.as_deref(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the write queue is full ({0} deliveries waiting)")]
    Overloaded(usize),
    #[error("no answer from the writers within {0:?}")]
    TimedOut(Duration),
    #[error("the writers have stopped")]
    Stopped,
}

struct Job {
    delivery: Delivery,
    reply: tokio::sync::oneshot::Sender<Result<Receipt, StoreError>>,
}

#[derive(Debug, Clone, Copy)]
pub struct RecorderSettings {
    pub writers: usize,
    pub max_batch: usize,
    pub queue_capacity: usize,
    /// How long a request waits for its batch before answering 503 (the event may still commit;
    /// the provider's retry then gets 200): the bound on a 503 whatever the database does.
    pub answer_timeout: Duration,
}

#[derive(Clone)]
pub struct Recorder {
    queue: SyncSender<Job>,
    capacity: usize,
    answer_timeout: Duration,
}

impl Recorder {
    /// Starts the writer threads; they stop once every `Recorder` clone is dropped and the
    /// queue is drained.
    pub fn start(pool: DbPool, settings: RecorderSettings) -> std::io::Result<Recorder> {
        let (queue, jobs) = sync_channel(settings.queue_capacity);
        let jobs = Arc::new(Mutex::new(jobs));
        for n in 0..settings.writers.max(1) {
            let (pool, jobs) = (pool.clone(), jobs.clone());
            let max_batch = settings.max_batch.max(1);
            std::thread::Builder::new()
                .name(format!("recorder-{n}"))
                .spawn(move || write_batches(&pool, &jobs, max_batch))?;
        }
        Ok(Recorder {
            queue,
            capacity: settings.queue_capacity,
            answer_timeout: settings.answer_timeout,
        })
    }

    /// Records one delivery; returns once its batch is committed.
    pub async fn record(&self, delivery: Delivery) -> Result<Receipt, RecordError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.queue
            .try_send(Job { delivery, reply })
            .map_err(|e| match e {
                TrySendError::Full(_) => RecordError::Overloaded(self.capacity),
                TrySendError::Disconnected(_) => RecordError::Stopped,
            })?;
        match tokio::time::timeout(self.answer_timeout, answer).await {
            Ok(Ok(result)) => Ok(result?),
            Ok(Err(_)) => Err(RecordError::Stopped),
            Err(_) => Err(RecordError::TimedOut(self.answer_timeout)),
        }
    }
}

fn write_batches(pool: &DbPool, jobs: &Mutex<Receiver<Job>>, max_batch: usize) {
    let mut held: Option<persistence::pool::PooledConnection> = None;
    loop {
        let batch = {
            // One writer gathers at a time; the others write meanwhile.
            let Ok(jobs) = jobs.lock() else { return };
            let first = if held.is_some() {
                match jobs.recv_timeout(KEEP_CONNECTION_IDLE) {
                    Ok(job) => job,
                    Err(RecvTimeoutError::Timeout) => {
                        held = None;
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            } else {
                let Ok(job) = jobs.recv() else { return };
                job
            };
            let mut batch = vec![first];
            while batch.len() < max_batch {
                match jobs.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            batch
        };
        metrics::histogram!(crate::telemetry::BATCH_SIZE).record(batch.len() as f64);
        let mut conn = match held.take() {
            Some(conn) => conn,
            None => match pool.get() {
                Ok(conn) => conn,
                Err(e) => {
                    let err = StoreError::from(e);
                    tracing::error!(error = %err, size = batch.len(), "cannot record a batch: no connection");
                    answer_all(batch, &err);
                    continue;
                }
            },
        };
        if write(&mut conn, batch) {
            held = Some(conn);
        }
    }
}

/// Records a batch and answers each of its requests. Returns whether a statement succeeded on the
/// connection: only then is it kept for the next batch, so that a connection broken in a way
/// not recognised as such goes back to the pool, which validates it before any reuse.
fn write(conn: &mut DbConnection, batch: Vec<Job>) -> bool {
    let events: Vec<BatchEvent<'_>> = batch.iter().map(|j| j.delivery.as_batch_event()).collect();
    match record_events(conn, &events) {
        Ok(receipts) => {
            drop(events);
            for (job, receipt) in batch.into_iter().zip(receipts) {
                let _ = job.reply.send(Ok(receipt));
            }
            true
        }
        Err(err) if err.is_transient() || batch.len() == 1 => {
            tracing::error!(error = %err, size = batch.len(), "cannot record a batch");
            drop(events);
            answer_all(batch, &err);
            false
        }
        Err(err) => {
            tracing::warn!(error = %err, size = batch.len(), "batch refused; recording its rows one by one");
            let results: Vec<Result<Receipt, StoreError>> = events
                .iter()
                .map(|event| {
                    let result = record_events(conn, std::slice::from_ref(event)).and_then(|mut r| {
                        r.pop().ok_or_else(|| {
                            StoreError::NotFound(format!("event {}", event.event.dedup_key))
                        })
                    });
                    if let Err(e) = &result {
                        tracing::error!(error = %e, dedup_key = %event.event.dedup_key, "cannot record an event");
                    }
                    result
                })
                .collect();
            drop(events);
            let reachable = results.iter().any(Result::is_ok);
            for (job, result) in batch.into_iter().zip(results) {
                let _ = job.reply.send(result);
            }
            reachable
        }
    }
}

fn answer_all(batch: Vec<Job>, err: &StoreError) {
    for job in batch {
        let _ = job
            .reply
            .send(Err(StoreError::Unavailable(err.to_string())));
    }
}
