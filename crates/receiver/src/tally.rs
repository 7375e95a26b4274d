//! Every answer counted per minute, provider and outcome, for the console's charts and refusal
//! rates (`intake_counts`). A request only adds one to a map in memory; a task writes the map
//! out every few seconds on the blocking pool, and once more at shutdown. It must never put a
//! database call on the request path, nor a provider name that is not configured into the table.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use persistence::{add_intake_counts, run_blocking, DbPool, IntakeCount, StoreError};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

pub use persistence::UNKNOWN_PROVIDER;

/// How often the counts are written: the console's last minute is at most this late.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(5);

/// How long a stop waits for the last write.
pub const STOP_WAIT: Duration = Duration::from_secs(3);

/// Rows kept in memory while the database cannot take them. A configuration of 10 providers
/// answering 4 different outcomes a minute fills it in about 8 hours of outage; past it the
/// oldest minutes are dropped, so memory stays bounded (about 2 MB) however long the outage.
pub const MAX_PENDING_ROWS: usize = 20_000;

/// (minutes since the epoch, provider slot, outcome).
type Key = (i64, usize, &'static str);

/// The counts since the last flush, shared by every worker of the server.
pub struct IntakeTally {
    /// Provider names by slot; the last slot is [`UNKNOWN_PROVIDER`].
    names: Vec<String>,
    counts: Mutex<HashMap<Key, i64>>,
}

impl IntakeTally {
    pub fn new<'a>(providers: impl IntoIterator<Item = &'a String>) -> IntakeTally {
        let mut names: Vec<String> = providers.into_iter().cloned().collect();
        names.push(UNKNOWN_PROVIDER.to_owned());
        IntakeTally {
            names,
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// The slot a provider's answers are counted in: its own if it is configured, else the one
    /// all unknown names share. Looked up once per provider at start-up
    /// (`telemetry::RequestMetrics`), not per request.
    pub fn slot(&self, provider: &str) -> usize {
        let unknown = self.unknown_slot();
        self.names[..unknown]
            .iter()
            .position(|name| name == provider)
            .unwrap_or(unknown)
    }

    /// The slot every name that is not configured shares ([`UNKNOWN_PROVIDER`]).
    pub fn unknown_slot(&self) -> usize {
        self.names.len() - 1
    }

    /// Counts one answer in `slot` (from [`IntakeTally::slot`]) now.
    pub fn count(&self, slot: usize, outcome: &'static str) {
        self.count_at(slot, outcome, Utc::now());
    }

    fn count_at(&self, slot: usize, outcome: &'static str, at: DateTime<Utc>) {
        let key = (at.timestamp().div_euclid(60), slot, outcome);
        // A panic cannot leave the map half-updated (one addition), so a poisoned lock is fine.
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        *counts.entry(key).or_default() += 1;
    }

    fn take(&self) -> HashMap<Key, i64> {
        std::mem::take(&mut *self.counts.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Counts taken from the tally and not written yet, oldest minute first.
#[derive(Debug, Default)]
struct Pending(BTreeMap<Key, i64>);

impl Pending {
    fn add(&mut self, taken: HashMap<Key, i64>) {
        for (key, n) in taken {
            *self.0.entry(key).or_default() += n;
        }
    }

    /// Drops the oldest minutes' rows beyond `max`; returns how many went.
    fn cap(&mut self, max: usize) -> usize {
        let over = self.0.len().saturating_sub(max);
        for _ in 0..over {
            self.0.pop_first();
        }
        over
    }

    fn rows(&self, names: &[String]) -> Vec<IntakeCount> {
        self.0
            .iter()
            .filter_map(|(&(minute, slot, outcome), &count)| {
                Some(IntakeCount {
                    minute: DateTime::from_timestamp(minute.checked_mul(60)?, 0)?,
                    provider: names.get(slot)?.clone(),
                    outcome: outcome.to_owned(),
                    count,
                })
            })
            .collect()
    }
}

/// The task that writes the tally out. Stop it after the server, so that the last answers are
/// written too.
pub struct IntakeFlusher {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl IntakeFlusher {
    pub fn start(pool: DbPool, tally: Arc<IntakeTally>, every: Duration) -> IntakeFlusher {
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(flush_every(pool, tally, every, stopped));
        IntakeFlusher {
            stop: Some(stop),
            task,
        }
    }

    /// Writes what is left (one attempt) and ends the task. A database that does not answer
    /// may cost the last counts, never more than [`STOP_WAIT`] of the shutdown's grace period.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match tokio::time::timeout(STOP_WAIT, &mut self.task).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "the intake counts task ended abnormally"),
            Err(_) => {
                self.task.abort();
                tracing::warn!("the last intake counts were not written within {STOP_WAIT:?}");
            }
        }
    }
}

/// While the database is unreachable: logged once when it starts and once when it ends.
#[derive(Debug, Default)]
struct Outage {
    failed_flushes: u64,
    dropped_rows: usize,
}

async fn flush_every(
    pool: DbPool,
    tally: Arc<IntakeTally>,
    every: Duration,
    mut stopped: oneshot::Receiver<()>,
) {
    let mut pending = Pending::default();
    let mut outage: Option<Outage> = None;
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    // After a slow flush, wait a whole interval again rather than catching up in a burst.
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        // A dropped sender (the application dropped without a stop) also ends the loop.
        let last = tokio::select! {
            _ = ticks.tick() => false,
            _ = &mut stopped => true,
        };
        pending.add(tally.take());
        if !pending.0.is_empty() {
            let rows = pending.rows(&tally.names);
            let written = run_blocking(&pool, move |conn| add_intake_counts(conn, &rows)).await;
            settle(written, &mut pending, &mut outage);
        }
        if last {
            return;
        }
    }
}

/// After a flush: forget what was written, or keep it (capped) for the next tick.
fn settle(written: Result<(), StoreError>, pending: &mut Pending, outage: &mut Option<Outage>) {
    match written {
        Ok(()) => {
            pending.0.clear();
            if let Some(done) = outage.take() {
                tracing::info!(
                    failed_flushes = done.failed_flushes,
                    dropped_rows = done.dropped_rows,
                    "intake counts written again"
                );
            }
        }
        Err(e) => {
            let now = outage.get_or_insert_with(|| {
                tracing::warn!(
                    error = %e,
                    "cannot write intake counts; keeping them for the next attempt (at most \
                     {MAX_PENDING_ROWS} rows, then the oldest minutes are dropped)"
                );
                Outage::default()
            });
            now.failed_flushes += 1;
            let dropped = pending.cap(MAX_PENDING_ROWS);
            if dropped > 0 && now.dropped_rows == 0 {
                tracing::warn!(
                    "intake counts waiting for the database reached {MAX_PENDING_ROWS} rows; \
                     dropping the oldest minutes"
                );
            }
            now.dropped_rows += dropped;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: i64, second: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 / 60 * 60 + minute * 60 + second, 0).unwrap()
    }

    fn tally() -> IntakeTally {
        IntakeTally::new(&["demo".to_owned(), "paystack".to_owned()])
    }

    #[test]
    fn answers_are_counted_per_minute_and_unknown_names_share_one_label() {
        let tally = tally();
        tally.count_at(tally.slot("demo"), "accepted", at(0, 1));
        tally.count_at(tally.slot("demo"), "accepted", at(0, 59));
        tally.count_at(tally.slot("demo"), "accepted", at(1, 0));
        tally.count_at(tally.slot("<script>"), "unknown_provider", at(0, 3));
        tally.count_at(tally.slot("evil"), "unknown_provider", at(0, 4));
        let mut pending = Pending::default();
        pending.add(tally.take());
        let rows = pending.rows(&tally.names);
        let seen: Vec<(i64, &str, &str, i64)> = rows
            .iter()
            .map(|r| {
                let minute = (r.minute - at(0, 0)).num_minutes();
                (minute, r.provider.as_str(), r.outcome.as_str(), r.count)
            })
            .collect();
        assert_eq!(
            seen,
            [
                (0, "demo", "accepted", 2),
                (0, UNKNOWN_PROVIDER, "unknown_provider", 2),
                (1, "demo", "accepted", 1),
            ]
        );
        assert!(tally.take().is_empty(), "taking empties the tally");
    }

    #[test]
    fn a_failed_flush_keeps_the_counts_and_adds_the_next_ones() {
        let tally = tally();
        let mut pending = Pending::default();
        let mut outage = None;
        tally.count_at(tally.slot("demo"), "accepted", at(0, 0));
        pending.add(tally.take());
        settle(
            Err(StoreError::Unavailable("down".into())),
            &mut pending,
            &mut outage,
        );
        tally.count_at(tally.slot("demo"), "accepted", at(0, 30));
        pending.add(tally.take());
        settle(
            Err(StoreError::Unavailable("down".into())),
            &mut pending,
            &mut outage,
        );
        assert_eq!(outage.as_ref().map(|o| o.failed_flushes), Some(2));
        assert_eq!(pending.rows(&tally.names)[0].count, 2);
        settle(Ok(()), &mut pending, &mut outage);
        assert!(pending.0.is_empty());
        assert!(outage.is_none(), "the outage is over");
    }

    #[test]
    fn past_the_cap_the_oldest_minutes_go_first() {
        let tally = tally();
        let mut pending = Pending::default();
        for minute in 0..5 {
            tally.count_at(tally.slot("demo"), "accepted", at(minute, 0));
            tally.count_at(tally.slot("paystack"), "invalid_signature", at(minute, 0));
        }
        pending.add(tally.take());
        assert_eq!(pending.cap(6), 4);
        let minutes: Vec<i64> = pending
            .rows(&tally.names)
            .iter()
            .map(|r| (r.minute - at(0, 0)).num_minutes())
            .collect();
        assert_eq!(minutes, [2, 2, 3, 3, 4, 4]);
        assert_eq!(pending.cap(6), 0);
    }
}
