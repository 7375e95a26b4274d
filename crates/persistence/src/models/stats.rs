//! Figures for operators (`inboxctl stats`, the console) and for the processors' gauges.

use chrono::{DateTime, TimeDelta, Utc};
use diesel::dsl::{count_star, min};
use diesel::prelude::*;
use serde::Serialize;

use crate::connection::DbConnection;
use crate::error::StoreError;
use crate::models::events::{is_received, EventStatus};
use crate::schema::{collection_transitions, webhook_events};
use crate::types::SqlTime;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    /// Events by status (RECEIVED, PROCESSED, FAILED), every status present.
    pub events: Vec<(String, i64)>,
    /// Repeat deliveries recorded and answered but never processed again.
    pub duplicates_suppressed: i64,
    /// Decisions taken on collections, by outcome.
    pub decisions: Vec<(String, i64)>,
    /// When the oldest event still waiting (RECEIVED) arrived.
    pub oldest_pending_received_at: Option<DateTime<Utc>>,
}

/// How many events wait (RECEIVED), and when the oldest of them arrived: the processors' queue
/// gauges, sampled every few seconds. One query over RECEIVED rows only, through the partial
/// index of claimable events, however many finished events the table keeps. Counting in the same
/// query is also what keeps `min` from being answered by walking the `received_at` index from the
/// table's oldest (finished) rows, which PostgreSQL may choose for a lone `min`.
pub fn backlog(conn: &mut DbConnection) -> Result<(i64, Option<DateTime<Utc>>), StoreError> {
    Ok(webhook_events::table
        .filter(is_received())
        .select((count_star(), min(webhook_events::received_at)))
        .first(conn)?)
}

pub fn stats(conn: &mut DbConnection) -> Result<Stats, StoreError> {
    // One pass over the table for both figures (the console's overview reads them every 15 s):
    // counting and summing in two queries read every row twice. SUM(bigint) is numeric on
    // PostgreSQL; the cast gives a bigint on both backends.
    let counted: Vec<(String, i64, Option<i64>)> = webhook_events::table
        .group_by(webhook_events::status)
        .select((
            webhook_events::status,
            count_star(),
            diesel::dsl::sql::<diesel::sql_types::Nullable<diesel::sql_types::BigInt>>(
                "CAST(SUM(duplicate_count) AS BIGINT)",
            ),
        ))
        .load(conn)?;
    let events = EventStatus::ALL
        .iter()
        .map(|s| {
            let n = counted
                .iter()
                .find(|(name, ..)| name == s.as_str())
                .map_or(0, |(_, n, _)| *n);
            (s.as_str().to_owned(), n)
        })
        .collect();
    let duplicates: i64 = counted.iter().filter_map(|(.., sum)| *sum).sum();
    let decisions = collection_transitions::table
        .group_by(collection_transitions::outcome)
        .select((collection_transitions::outcome, count_star()))
        .order(collection_transitions::outcome.asc())
        .load(conn)?;
    let (_, oldest) = backlog(conn)?;
    Ok(Stats {
        events,
        duplicates_suppressed: duplicates,
        decisions,
        oldest_pending_received_at: oldest,
    })
}

/// End-to-end lags (`processed_at - received_at`) of the events settled (PROCESSED or FAILED)
/// since `since`, at most `limit` of them, the latest received first: the console's percentiles.
/// Only events received within `max_lag` before `since` are read, so the query walks the
/// `received_at` index over the recent end of the table and stops after `limit` rows, however
/// many events the table keeps (a sequential scan otherwise: `processed_at` has no index, and one
/// would cost every processed event a further index write). Measured on PostgreSQL with 200,000
/// events, 90,000 of them in the window: a backward scan of that index, 2 ms. An event that waited
/// longer than `max_lag` is left out; the oldest pending event's age shows such a backlog.
pub fn recent_lags(
    conn: &mut DbConnection,
    since: DateTime<Utc>,
    max_lag: TimeDelta,
    limit: i64,
) -> Result<Vec<TimeDelta>, StoreError> {
    use crate::schema::webhook_events::dsl::*;
    let rows: Vec<(DateTime<Utc>, Option<DateTime<Utc>>)> = webhook_events
        .select((received_at, processed_at))
        .filter(received_at.ge(SqlTime(since - max_lag)))
        .filter(processed_at.ge(SqlTime(since)))
        .order(received_at.desc())
        .limit(limit)
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(received, processed)| {
            processed.map(|at| (at - received).max(TimeDelta::zero()))
        })
        .collect())
}
