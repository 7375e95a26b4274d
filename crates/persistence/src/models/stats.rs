//! Figures for operators (`inboxctl stats`) and for the processors' gauges.

use chrono::{DateTime, Utc};
use diesel::dsl::{count_star, min};
use diesel::prelude::*;
use serde::Serialize;

use crate::connection::DbConnection;
use crate::error::StoreError;
use crate::models::events::{is_received, EventStatus};
use crate::schema::{collection_transitions, webhook_events};

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
    let counted: Vec<(String, i64)> = webhook_events::table
        .group_by(webhook_events::status)
        .select((webhook_events::status, count_star()))
        .load(conn)?;
    let events = EventStatus::ALL
        .iter()
        .map(|s| {
            let n = counted
                .iter()
                .find(|(name, _)| name == s.as_str())
                .map_or(0, |(_, n)| *n);
            (s.as_str().to_owned(), n)
        })
        .collect();
    // SUM(bigint) is numeric on PostgreSQL; the cast gives a bigint on both backends.
    let duplicates: Option<i64> = webhook_events::table
        .select(diesel::dsl::sql::<
            diesel::sql_types::Nullable<diesel::sql_types::BigInt>,
        >("CAST(SUM(duplicate_count) AS BIGINT)"))
        .first(conn)?;
    let decisions = collection_transitions::table
        .group_by(collection_transitions::outcome)
        .select((collection_transitions::outcome, count_star()))
        .order(collection_transitions::outcome.asc())
        .load(conn)?;
    let (_, oldest) = backlog(conn)?;
    Ok(Stats {
        events,
        duplicates_suppressed: duplicates.unwrap_or(0),
        decisions,
        oldest_pending_received_at: oldest,
    })
}
