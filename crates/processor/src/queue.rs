//! The queue gauges: how many events wait (RECEIVED) and how old the oldest is, sampled every
//! few seconds with two queries over RECEIVED rows only (the partial index of claimable events
//! covers them, however many finished events the table keeps), plus the
//! recorder's upkeep. Runs beside the claim loop until the processor is dropped.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use persistence::schema::webhook_events;
use persistence::{now, run_blocking, DbConnection, DbPool, EventStatus, StoreError};
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

const SAMPLE_EVERY: Duration = Duration::from_secs(5);

pub(crate) async fn sample_queue(pool: DbPool, metrics: Metrics, stop: CancellationToken) {
    let mut ticker = tokio::time::interval(SAMPLE_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.cancelled() => return,
        }
        match run_blocking(&pool, pending).await {
            Ok((depth, oldest)) => {
                let age = oldest
                    .and_then(|at| (now() - at).to_std().ok())
                    .unwrap_or_default();
                metrics.queue(depth, age);
            }
            Err(error) => tracing::debug!(%error, "Queue depth not sampled"),
        }
        metrics.upkeep();
    }
}

/// Events RECEIVED, and when the oldest of them was received.
// Kept here rather than in persistence until `inboxctl stats` needs the same numbers.
fn pending(conn: &mut DbConnection) -> Result<(i64, Option<DateTime<Utc>>), StoreError> {
    let received = EventStatus::Received.as_str();
    let depth: i64 = webhook_events::table
        .filter(webhook_events::status.eq(received))
        .count()
        .get_result(conn)?;
    let oldest: Option<DateTime<Utc>> = webhook_events::table
        .filter(webhook_events::status.eq(received))
        .order(webhook_events::received_at.asc())
        .select(webhook_events::received_at)
        .first(conn)
        .optional()?;
    Ok((depth, oldest))
}
