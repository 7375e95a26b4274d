//! The queue gauges: how many events wait (RECEIVED) and how old the oldest is, and the age of
//! the oldest undelivered notification, sampled every few seconds (`persistence::backlog`), plus the recorder's upkeep. Runs beside the claim loop
//! until the processor is dropped.

use std::time::Duration;

use persistence::{backlog, now, oldest_undelivered, run_blocking, DbPool};
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
        match run_blocking(&pool, backlog).await {
            Ok((depth, oldest)) => {
                let age = oldest
                    .and_then(|at| (now() - at).to_std().ok())
                    .unwrap_or_default();
                metrics.queue(depth, age);
            }
            Err(error) => tracing::debug!(%error, "Queue depth not sampled"),
        }
        if let Ok(oldest) = run_blocking(&pool, oldest_undelivered).await {
            let age = oldest
                .and_then(|at| (now() - at).to_std().ok())
                .unwrap_or_default();
            metrics.oldest_undelivered(age);
        }
        metrics.upkeep();
    }
}
