//! `webhook_events`: recording deliveries once per (provider, dedup_key), claiming them for
//! processing, and marking their end. Claims are leases: a claim moves `next_attempt_at` forward
//! by the lease, so a processor that dies mid-work loses nothing; the event is claimable again
//! once the lease runs out, and `apply_decision` only finishes events still RECEIVED.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::connection::{write_transaction, DbConnection};
use crate::error::StoreError;
use crate::per_backend;
use crate::schema::webhook_events;
use crate::types::{SqlJson, SqlTime, SqlUuid};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventStatus {
    Received,
    Processed,
    Failed,
}

/// `status = 'RECEIVED'` written into the statement's text, not bound as a parameter: only then
/// can the planner prove that a query stays inside the partial index of claimable events
/// (`WHERE status = 'RECEIVED'`). A bound value is unknown to the generic plan PostgreSQL switches
/// a prepared statement to after five runs, which then scanned the whole table and sorted it (seen
/// in the benchmark, a fresh table: 9 ms per claim with 60k rows, and it grows with the table);
/// SQLite's planner never uses a partial index for a bound value.
pub fn is_received() -> diesel::expression::SqlLiteral<diesel::sql_types::Bool> {
    diesel::dsl::sql("status = 'RECEIVED'")
}

impl EventStatus {
    pub const ALL: [EventStatus; 3] = [
        EventStatus::Received,
        EventStatus::Processed,
        EventStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventStatus::Received => "RECEIVED",
            EventStatus::Processed => "PROCESSED",
            EventStatus::Failed => "FAILED",
        }
    }
}

impl fmt::Display for EventStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventStatus::ALL
            .into_iter()
            .find(|status| status.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown event status {s:?}"))
    }
}

impl TryFrom<String> for EventStatus {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize)]
#[diesel(table_name = webhook_events)]
pub struct WebhookEvent {
    pub id: Uuid,
    pub provider: String,
    pub event_id: Option<String>,
    pub dedup_key: String,
    pub request_ref: Option<String>,
    pub payload: Value,
    pub signature: Option<String>,
    #[diesel(deserialize_as = String)]
    pub status: EventStatus,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub duplicate_count: i64,
    pub received_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub processed_at: Option<DateTime<Utc>>,
}

/// A delivery to record. `id` is chosen by the caller, which is how `record_event` tells a new
/// row from an existing one.
#[derive(Debug, Clone)]
pub struct NewWebhookEvent<'a> {
    pub id: Uuid,
    pub provider: &'a str,
    pub event_id: Option<&'a str>,
    pub dedup_key: &'a str,
    pub request_ref: Option<&'a str>,
    pub payload: &'a Value,
    pub signature: Option<&'a str>,
    pub next_attempt_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

impl<'a> NewWebhookEvent<'a> {
    /// A delivery received at `now`, claimable at once.
    pub fn received(
        provider: &'a str,
        event_id: Option<&'a str>,
        dedup_key: &'a str,
        request_ref: Option<&'a str>,
        payload: &'a Value,
        signature: Option<&'a str>,
        now: DateTime<Utc>,
    ) -> Self {
        NewWebhookEvent {
            id: Uuid::new_v4(),
            provider,
            event_id,
            dedup_key,
            request_ref,
            payload,
            signature,
            next_attempt_at: now,
            received_at: now,
            last_seen_at: now,
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = webhook_events)]
pub(crate) struct EventRow<'a> {
    id: SqlUuid,
    provider: &'a str,
    event_id: Option<&'a str>,
    dedup_key: &'a str,
    request_ref: Option<&'a str>,
    payload: SqlJson,
    signature: Option<&'a str>,
    next_attempt_at: SqlTime,
    received_at: SqlTime,
    last_seen_at: SqlTime,
}

impl<'a> From<&'a NewWebhookEvent<'a>> for EventRow<'a> {
    fn from(new: &'a NewWebhookEvent<'a>) -> Self {
        EventRow {
            id: SqlUuid(new.id),
            provider: new.provider,
            event_id: new.event_id,
            dedup_key: new.dedup_key,
            request_ref: new.request_ref,
            payload: SqlJson(new.payload.clone()),
            signature: new.signature,
            next_attempt_at: SqlTime(new.next_attempt_at),
            received_at: SqlTime(new.received_at),
            last_seen_at: SqlTime(new.last_seen_at),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Recorded {
    /// The first delivery of this event: a new row.
    New(WebhookEvent),
    /// A repeat: the existing row, with `duplicate_count` and `last_seen_at` already bumped.
    Duplicate(WebhookEvent),
}

impl Recorded {
    pub fn event(&self) -> &WebhookEvent {
        match self {
            Recorded::New(event) | Recorded::Duplicate(event) => event,
        }
    }

    pub fn is_duplicate(&self) -> bool {
        matches!(self, Recorded::Duplicate(_))
    }
}

/// Records a delivery once per (provider, dedup_key), in one statement: the insert, or on
/// conflict the bump of the existing row. Both backends serialise concurrent upserts of one key,
/// so exactly one caller sees `New`.
pub fn record_event<'a>(
    conn: &mut DbConnection,
    new: &'a NewWebhookEvent<'a>,
) -> Result<Recorded, StoreError> {
    use crate::schema::webhook_events::dsl::*;
    let values = EventRow::from(new);
    let row: WebhookEvent = per_backend!(conn, |c| diesel::insert_into(webhook_events)
        .values(&values)
        .on_conflict((provider, dedup_key))
        .do_update()
        .set((
            duplicate_count.eq(duplicate_count + 1),
            last_seen_at.eq(excluded(last_seen_at)),
        ))
        .returning(WebhookEvent::as_returning())
        .get_result(c))?;
    Ok(if row.id == new.id {
        Recorded::New(row)
    } else {
        Recorded::Duplicate(row)
    })
}

/// Claims up to `limit` of the oldest claimable events (RECEIVED, `next_attempt_at <= now`):
/// each gets `attempts + 1` and becomes invisible to other claimers until `now + lease`.
/// PostgreSQL skips rows other claimers hold (SKIP LOCKED); SQLite's single writer serialises
/// claims. Returned oldest first.
pub fn claim_events(
    conn: &mut DbConnection,
    limit: i64,
    now: DateTime<Utc>,
    lease: Duration,
) -> Result<Vec<WebhookEvent>, StoreError> {
    use crate::schema::webhook_events::dsl::*;
    let lease_until = lease_end(now, lease)?;
    // Two statements, not `UPDATE … WHERE id IN (SELECT … LIMIT n FOR UPDATE SKIP LOCKED)`:
    // PostgreSQL may run such a subquery again for each row it updates, and each run skips the
    // rows the statement itself has just changed and takes the next ones, so the claim grew past
    // `limit` (seen under a generic plan: 20 rows leased for a limit of 5).
    let claimed = write_transaction(conn, |conn| -> Result<_, StoreError> {
        let claimable = webhook_events
            .select(id)
            .filter(is_received())
            .filter(next_attempt_at.le(SqlTime(now)))
            .order(next_attempt_at.asc())
            .limit(limit);
        let ids: Vec<Uuid> = match conn {
            DbConnection::Pg(c) => claimable.for_update().skip_locked().load(c)?,
            DbConnection::Sqlite(c) => claimable.load(c)?,
        };
        lease_events(conn, &ids, lease_until)
    })?;
    Ok(claimed)
}

/// Locks up to `limit` of the oldest claimable events for the caller's transaction without
/// writing them: PostgreSQL `FOR UPDATE SKIP LOCKED`; on SQLite the caller's immediate
/// transaction already excludes other claimers. Before it commits, the caller settles each of
/// them (`apply_claimed`, `mark_claimed_failed`) or leases it (`lease_events`); what it does not
/// touch is claimable again at once. Returned oldest first.
pub fn lock_claimable(
    conn: &mut DbConnection,
    limit: i64,
    now: DateTime<Utc>,
) -> Result<Vec<WebhookEvent>, StoreError> {
    use crate::schema::webhook_events::dsl::*;
    let query = webhook_events
        .filter(is_received())
        .filter(next_attempt_at.le(SqlTime(now)))
        .order(next_attempt_at.asc())
        .limit(limit);
    let mut rows: Vec<WebhookEvent> = match conn {
        DbConnection::Pg(c) => query
            .for_update()
            .skip_locked()
            .select(WebhookEvent::as_select())
            .load(c)?,
        DbConnection::Sqlite(c) => query.select(WebhookEvent::as_select()).load(c)?,
    };
    rows.sort_by_key(|e| (e.received_at, e.id));
    Ok(rows)
}

/// Leases events the caller holds (`lock_claimable`) as `claim_events` would have: counts the
/// claim and hides them from other claimers until `until`. Returned oldest first.
pub fn lease_events(
    conn: &mut DbConnection,
    ids: &[Uuid],
    until: DateTime<Utc>,
) -> Result<Vec<WebhookEvent>, StoreError> {
    use crate::schema::webhook_events::dsl::*;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<SqlUuid> = ids.iter().copied().map(SqlUuid).collect();
    // By primary key only (no status filter: the caller holds the rows, still RECEIVED).
    let target = webhook_events.filter(id.eq_any(&ids));
    let mut rows: Vec<WebhookEvent> = per_backend!(conn, |c| diesel::update(target)
        .set((
            attempts.eq(attempts + 1),
            next_attempt_at.eq(SqlTime(until))
        ))
        .returning(WebhookEvent::as_returning())
        .get_results(c))?;
    rows.sort_by_key(|e| (e.received_at, e.id));
    Ok(rows)
}

/// Ends as FAILED an event the caller claimed in its own transaction (`lock_claimable`),
/// counting the claim.
pub fn mark_claimed_failed(
    conn: &mut DbConnection,
    event: Uuid,
    error: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    Ok(settle_received(conn, &[event], Settle::Failed(now, error), true)?.len() == 1)
}

/// When a lease taken at `now` runs out: what `lease_events` is given.
pub fn lease_end(now: DateTime<Utc>, lease: Duration) -> Result<DateTime<Utc>, StoreError> {
    chrono::TimeDelta::from_std(lease)
        .ok()
        .and_then(|delta| now.checked_add_signed(delta))
        .ok_or_else(|| {
            StoreError::Query(diesel::result::Error::QueryBuilderError(
                format!("lease of {lease:?} is out of range").into(),
            ))
        })
}

/// What becomes of events that are still RECEIVED.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Settle<'a> {
    /// Decided: PROCESSED at this time, no error.
    Processed(DateTime<Utc>),
    /// FAILED at this time, with the reason.
    Failed(DateTime<Utc>, &'a str),
    /// Claimable again at this time, with the reason of the failed attempt.
    Retry(DateTime<Utc>, &'a str),
}

/// Applies `settle` to those of `ids` still RECEIVED and returns their ids; the others (finished
/// by someone else) are left alone.
///
/// On PostgreSQL the rows are found by primary key only, then locked, and their status is
/// checked under the lock. The plain `UPDATE … WHERE id = $1 AND status = 'RECEIVED'` matches
/// the predicate of the partial index of claimable events, and on a large table whose
/// statistics say almost nothing is RECEIVED (the normal state, and a backlog of a few percent
/// does not trigger a re-analyse) the planner walks that index, i.e. the whole backlog, for each
/// event: measured 26x slower with 5M rows and a 100k backlog.
///
/// `count_attempt` also counts a claim: for events claimed and settled in one transaction
/// (`lock_claimable`), which no lease counted.
pub(crate) fn settle_received(
    conn: &mut DbConnection,
    ids: &[Uuid],
    settle: Settle<'_>,
    count_attempt: bool,
) -> Result<Vec<Uuid>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let (to_status, error, finished_at, retry_at) = match settle {
        Settle::Processed(at) => (EventStatus::Processed, None, Some(at), None),
        Settle::Failed(at, error) => (EventStatus::Failed, Some(error), Some(at), None),
        Settle::Retry(at, error) => (EventStatus::Received, Some(error), None, Some(at)),
    };
    let claims = i32::from(count_attempt);
    match conn {
        DbConnection::Pg(c) => {
            use diesel::sql_types::{Array, Integer, Nullable, Text, Timestamptz};
            #[derive(QueryableByName)]
            struct Id {
                #[diesel(sql_type = diesel::sql_types::Uuid)]
                id: Uuid,
            }
            let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
            let rows: Vec<Id> = diesel::sql_query(
                "WITH locked AS ( \
                   SELECT id, status FROM webhook_events \
                   WHERE id = ANY($1::text[]::uuid[]) FOR UPDATE) \
                 UPDATE webhook_events AS w SET status = $2, last_error = $3, \
                   processed_at = COALESCE($4, w.processed_at), \
                   next_attempt_at = COALESCE($5, w.next_attempt_at), \
                   attempts = w.attempts + $6 \
                 FROM locked WHERE w.id = locked.id AND locked.status = 'RECEIVED' \
                 RETURNING w.id",
            )
            .bind::<Array<Text>, _>(&ids)
            .bind::<Text, _>(to_status.as_str())
            .bind::<Nullable<Text>, _>(error)
            .bind::<Nullable<Timestamptz>, _>(finished_at)
            .bind::<Nullable<Timestamptz>, _>(retry_at)
            .bind::<Integer, _>(claims)
            .load(c)?;
            Ok(rows.into_iter().map(|row| row.id).collect())
        }
        DbConnection::Sqlite(c) => {
            use crate::schema::webhook_events::dsl::*;
            let ids: Vec<SqlUuid> = ids.iter().copied().map(SqlUuid).collect();
            let target = webhook_events
                .filter(id.eq_any(&ids))
                .filter(status.eq(EventStatus::Received.as_str()));
            let changed = match settle {
                Settle::Processed(at) => diesel::update(target)
                    .set((
                        status.eq(EventStatus::Processed.as_str()),
                        processed_at.eq(SqlTime(at)),
                        last_error.eq(None::<String>),
                        attempts.eq(attempts + claims),
                    ))
                    .returning(id)
                    .get_results(c)?,
                Settle::Failed(at, error) => diesel::update(target)
                    .set((
                        status.eq(EventStatus::Failed.as_str()),
                        processed_at.eq(SqlTime(at)),
                        last_error.eq(error),
                        attempts.eq(attempts + claims),
                    ))
                    .returning(id)
                    .get_results(c)?,
                Settle::Retry(at, error) => diesel::update(target)
                    .set((
                        next_attempt_at.eq(SqlTime(at)),
                        last_error.eq(error),
                        attempts.eq(attempts + claims),
                    ))
                    .returning(id)
                    .get_results(c)?,
            };
            Ok(changed)
        }
    }
}

/// Ends a RECEIVED event as FAILED with its reason. Returns false when the event was not
/// RECEIVED (already finished by someone else), in which case nothing changes.
pub fn mark_failed(
    conn: &mut DbConnection,
    event: Uuid,
    error: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    Ok(settle_received(conn, &[event], Settle::Failed(now, error), false)?.len() == 1)
}

/// Makes a RECEIVED event claimable again at `at`, keeping the reason of this failed attempt.
/// Returns false when the event was not RECEIVED.
pub fn schedule_retry(
    conn: &mut DbConnection,
    event: Uuid,
    at: DateTime<Utc>,
    error: &str,
) -> Result<bool, StoreError> {
    Ok(settle_received(conn, &[event], Settle::Retry(at, error), false)?.len() == 1)
}

pub fn find_event(
    conn: &mut DbConnection,
    event: Uuid,
) -> Result<Option<WebhookEvent>, StoreError> {
    use crate::schema::webhook_events::dsl::*;
    Ok(webhook_events
        .filter(id.eq(SqlUuid(event)))
        .select(WebhookEvent::as_select())
        .first(conn)
        .optional()?)
}

/// The PostgreSQL channel on which new events are announced; processors `LISTEN` on it and fall
/// back to polling, so a lost notification only delays work.
pub const NEW_EVENTS_CHANNEL: &str = "webhook_inbox_events";

/// Wakes listening processors (PostgreSQL; a no-op on SQLite, whose processors poll). Sent after
/// the commit, so a woken processor finds the rows. The payload names one new event, if given
/// (useful when tracing).
pub fn notify_new_events(conn: &mut DbConnection, event: Option<Uuid>) -> Result<(), StoreError> {
    if let DbConnection::Pg(c) = conn {
        use diesel::connection::SimpleConnection;
        // A UUID's text form holds no quote, so it is safe inside the literal.
        let payload = event.map(|id| id.to_string()).unwrap_or_default();
        c.batch_execute(&format!("NOTIFY {NEW_EVENTS_CHANNEL}, '{payload}'"))?;
    }
    Ok(())
}
