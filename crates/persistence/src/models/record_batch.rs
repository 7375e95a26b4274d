//! Group commit: many deliveries recorded together, so that concurrent requests share one commit
//! (one WAL flush) instead of paying for one each. Same outcome per delivery as `record_event`:
//! exactly one delivery of a (provider, dedup_key) is `New`, every other one, in this batch or
//! any other, is a `Duplicate` that bumps `duplicate_count`.
//!
//! On PostgreSQL a batch is ONE statement in autocommit (one round trip, atomic on its own), with
//! the same text whatever the batch size (columns bound as arrays, see `upsert`): it is parsed
//! and planned once per connection, not once per batch. It returns what an answer needs, never
//! the payload, and wakes the processors in the same transaction.

mod upsert;

use chrono::{DateTime, Utc};
use diesel::{PgConnection, Queryable, RunQueryDsl};
use uuid::Uuid;

use crate::connection::{write_transaction, DbConnection};
use crate::error::StoreError;
use crate::models::events::{record_event, EventStatus, NewWebhookEvent, Recorded, WebhookEvent};
use upsert::{is_notify_queue_full, UpsertBatch};

/// One delivery of a batch.
#[derive(Debug, Clone)]
pub struct BatchEvent<'a> {
    pub event: NewWebhookEvent<'a>,
    /// The JSON text `event.payload` was parsed from (the request body), when storing that text
    /// stores the same document. PostgreSQL then parses it into jsonb itself, and the payload is
    /// neither copied nor serialised again here. `None`: `event.payload` is serialised. SQLite
    /// always stores the serialised `event.payload`.
    pub payload_json: Option<&'a [u8]>,
}

/// A delivery's stored row as its answer needs it: identity and state, not the payload.
#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct StoredEvent {
    pub id: Uuid,
    pub provider: String,
    pub dedup_key: String,
    pub event_id: Option<String>,
    pub request_ref: Option<String>,
    #[diesel(deserialize_as = String)]
    pub status: EventStatus,
    pub duplicate_count: i64,
    pub received_at: DateTime<Utc>,
    pub processed_at: Option<DateTime<Utc>>,
}

impl StoredEvent {
    /// What makes it one event: `UNIQUE(provider, dedup_key)`.
    fn key(&self) -> (&str, &str) {
        (&self.provider, &self.dedup_key)
    }
}

impl From<WebhookEvent> for StoredEvent {
    fn from(row: WebhookEvent) -> Self {
        StoredEvent {
            id: row.id,
            provider: row.provider,
            dedup_key: row.dedup_key,
            event_id: row.event_id,
            request_ref: row.request_ref,
            status: row.status,
            duplicate_count: row.duplicate_count,
            received_at: row.received_at,
            processed_at: row.processed_at,
        }
    }
}

/// What became of one delivery of a batch.
#[derive(Debug, Clone, PartialEq)]
pub enum Receipt {
    /// The first delivery of this event: a new row.
    New(StoredEvent),
    /// A repeat: the existing row (the first delivery's id), `duplicate_count` already bumped.
    Duplicate(StoredEvent),
}

impl Receipt {
    pub fn event(&self) -> &StoredEvent {
        match self {
            Receipt::New(event) | Receipt::Duplicate(event) => event,
        }
    }

    pub fn into_event(self) -> StoredEvent {
        match self {
            Receipt::New(event) | Receipt::Duplicate(event) => event,
        }
    }

    pub fn is_duplicate(&self) -> bool {
        matches!(self, Receipt::Duplicate(_))
    }
}

impl From<Recorded> for Receipt {
    fn from(recorded: Recorded) -> Self {
        match recorded {
            Recorded::New(row) => Receipt::New(row.into()),
            Recorded::Duplicate(row) => Receipt::Duplicate(row.into()),
        }
    }
}

/// Records a batch atomically, with the outcome of recording its deliveries one by one in batch
/// order; results are in the batch's order. When anything new was recorded,
/// listening processors are notified on commit (PostgreSQL). If it fails, nothing of the batch
/// is recorded (the caller may retry the rows one by one to find a bad one).
pub fn record_events(
    conn: &mut DbConnection,
    batch: &[BatchEvent<'_>],
) -> Result<Vec<Receipt>, StoreError> {
    match conn {
        DbConnection::Pg(pg) => record_on_postgres(pg, batch),
        // SQLite statements cost no round trip: one upsert per delivery, in batch order, inside
        // one transaction (the commit is what group commit saves). A repeated key meets its
        // first delivery's row and is counted as `record_event` counts it.
        DbConnection::Sqlite(_) => write_transaction(conn, |conn| {
            batch
                .iter()
                .map(|e| record_event(conn, &e.event).map(Receipt::from))
                .collect()
        }),
    }
}

/// The deliveries of one key in a batch: the first is upserted, the others are its repeats.
struct KeySlot<'a> {
    key: (&'a str, &'a str),
    first: usize,
    last: usize,
    repeats: i64,
}

fn record_on_postgres(
    conn: &mut PgConnection,
    batch: &[BatchEvent<'_>],
) -> Result<Vec<Receipt>, StoreError> {
    let key_of = |i: usize| (batch[i].event.provider, batch[i].event.dedup_key);
    // One statement may touch a row only once, so deliveries are grouped by key. Key order is
    // also the order rows are locked in, whatever the batch order: two batches sharing keys then
    // wait for each other instead of deadlocking.
    let mut order: Vec<usize> = (0..batch.len()).collect();
    order.sort_by_key(|&i| key_of(i)); // stable: each key's deliveries stay in batch order
    let mut slots: Vec<KeySlot<'_>> = Vec::with_capacity(batch.len());
    for i in order {
        match slots.last_mut() {
            Some(slot) if slot.key == key_of(i) => {
                slot.last = i;
                slot.repeats += 1;
            }
            _ => slots.push(KeySlot {
                key: key_of(i),
                first: i,
                last: i,
                repeats: 0,
            }),
        }
    }

    let columns = UpsertBatch::new(batch, &slots)?;
    let mut rows: Vec<StoredEvent> = match columns.announced().load(conn) {
        Ok(rows) => rows,
        // A notification is only a wake-up (processors also poll): a full notification queue
        // (a listener that stopped reading) must not stop deliveries from being recorded.
        Err(e) if is_notify_queue_full(&e) => {
            tracing::warn!(error = %e, "the NOTIFY queue is full: recording a batch unannounced");
            columns.unannounced().load(conn)?
        }
        Err(e) => return Err(e.into()),
    };
    // One row per key; sorted like the slots, the n-th row is the n-th slot's.
    rows.sort_unstable_by(|a, b| a.key().cmp(&b.key()));
    let matches = rows.len() == slots.len()
        && rows
            .iter()
            .zip(&slots)
            .all(|(row, slot)| row.key() == slot.key);
    if !matches {
        return Err(StoreError::Corrupt(format!(
            "a batch of {} keys returned {} rows that do not match them",
            slots.len(),
            rows.len()
        )));
    }
    let mut rows: Vec<Option<StoredEvent>> = rows.into_iter().map(Some).collect();
    batch
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let missing = || StoreError::NotFound(format!("event {}", e.event.dedup_key));
            let n = slots
                .binary_search_by(|slot| slot.key.cmp(&key_of(i)))
                .map_err(|_| missing())?;
            let slot = &slots[n];
            // The key's last delivery takes the row; earlier ones get a copy.
            let row = if i == slot.last {
                rows[n].take()
            } else {
                rows[n].clone()
            }
            .ok_or_else(missing)?;
            Ok(if i == slot.first && row.id == e.event.id {
                Receipt::New(row)
            } else {
                Receipt::Duplicate(row)
            })
        })
        .collect()
}
