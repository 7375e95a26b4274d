//! The end of an event's turn: PROCESSED, FAILED, or claimable again later; only ever for events
//! still RECEIVED.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::EventStatus;
use crate::connection::DbConnection;
use crate::error::StoreError;
use crate::types::{SqlTime, SqlUuid};

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

/// What becomes of events that are still RECEIVED.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Settle<'a> {
    /// Decided: PROCESSED at this time, no error.
    Processed(DateTime<Utc>),
    /// PROCESSED at this time without a decision, the reason kept in `last_error` (an event
    /// type that does not concern a payment).
    Ignored(DateTime<Utc>, &'a str),
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
        Settle::Ignored(at, reason) => (EventStatus::Processed, Some(reason), Some(at), None),
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
            // The three ends (PROCESSED, ignored, FAILED) differ only in the values bound.
            let changed = match settle {
                Settle::Processed(at) | Settle::Ignored(at, _) | Settle::Failed(at, _) => {
                    diesel::update(target)
                        .set((
                            status.eq(to_status.as_str()),
                            processed_at.eq(SqlTime(at)),
                            last_error.eq(error),
                            attempts.eq(attempts + claims),
                        ))
                        .returning(id)
                        .get_results(c)?
                }
                Settle::Retry(at, _) => diesel::update(target)
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

/// Ends a RECEIVED event as PROCESSED without a decision, keeping why in `last_error` (its type
/// does not concern a payment). `count_attempt`: it was claimed in the caller's transaction
/// (`lock_claimable`), which no lease counted. Returns false when it was not RECEIVED.
pub fn mark_ignored(
    conn: &mut DbConnection,
    event: Uuid,
    reason: &str,
    now: DateTime<Utc>,
    count_attempt: bool,
) -> Result<bool, StoreError> {
    Ok(settle_received(conn, &[event], Settle::Ignored(now, reason), count_attempt)?.len() == 1)
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
