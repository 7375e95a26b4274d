//! `/console/`: is the inbox keeping up? The receivers' answers per minute and provider (charts
//! of the last hour), the queue and its oldest event, lag percentiles, failures, events by
//! status, decisions by outcome, notifications by delivery state. The page refreshes itself.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::{web, HttpResponse};
use askama::Template;
use chrono::{DateTime, TimeDelta, Utc};
use persistence::{
    backlog, count_replayable, intake_counts_since, notification_counts, now, recent_lags,
    run_blocking, stats, DbConnection, EventStatus, ReplayFilter, Stats, StoreError,
};

use crate::console::chart::{Chart, Series};
use crate::console::error::ConsoleError;
use crate::console::session::Operator;
use crate::console::traffic::{by_provider, window_start, Kind};
use crate::console::{page, Chrome, Console};
use crate::state::AppState;

/// Seconds between the page's own reloads (`<meta http-equiv="refresh">`; no script).
pub const REFRESH_SECS: u32 = 15;
/// Lags are those of the events settled (PROCESSED or FAILED) this recently...
const LAG_WINDOW: TimeDelta = TimeDelta::minutes(15);
/// ...at most this many of them, the latest received first: the cost is bounded whatever the
/// table holds, and 10,000 lags give a p99 from the 100 slowest.
const LAG_SAMPLE: i64 = 10_000;
const LAG_SAMPLE_TEXT: &str = "10,000";
/// Events received longer ago than this before the window are not read (see `recent_lags`).
const LAG_MAX: TimeDelta = TimeDelta::hours(1);
/// The totals (events by status, duplicates, decisions by outcome, notifications by status)
/// read whole tables, which grow for as long as the inbox keeps its history: 43 ms with 100,000
/// events, several hundred with millions (docs/benchmarks.md). Counted again at most this often
/// per api process, however many consoles reload the page. What an operator acts on (failed
/// events, the queue, its oldest event, lags, the charts) is read on every load, through bounded
/// reads (partial indexes, recent windows).
pub const TOTALS_TTL: Duration = Duration::from_secs(60);

/// The totals and when they were counted.
#[derive(Clone)]
struct Totals {
    counted: Instant,
    counted_at: DateTime<Utc>,
    stats: Stats,
    notifications: Vec<(String, i64)>,
}

#[derive(Default)]
pub struct TotalsCache(Mutex<Option<Totals>>);

impl TotalsCache {
    fn fresh(&self, now: Instant) -> Option<Totals> {
        let cached = self.0.lock().unwrap_or_else(|e| e.into_inner());
        cached
            .as_ref()
            .filter(|t| now.duration_since(t.counted) < TOTALS_TTL)
            .cloned()
    }

    fn keep(&self, totals: Totals) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(totals);
    }
}

/// What every load reads: each bounded whatever the tables hold.
struct Live {
    queue_depth: i64,
    oldest_pending: Option<DateTime<Utc>>,
    failed_events: i64,
}

fn live(conn: &mut DbConnection) -> Result<Live, StoreError> {
    // Through the partial indexes of RECEIVED and of FAILED events.
    let (queue_depth, oldest_pending) = backlog(conn)?;
    let failed_events = count_replayable(
        conn,
        &ReplayFilter {
            status: EventStatus::Failed,
            provider: None,
            received_after: None,
            received_before: None,
        },
    )?;
    Ok(Live {
        queue_depth,
        oldest_pending,
        failed_events,
    })
}

#[derive(Template)]
#[template(path = "console/overview.html")]
struct Overview {
    chrome: Chrome,
    refresh_secs: u32,
    stats: Stats,
    notifications: Vec<(String, i64)>,
    totals_at: DateTime<Utc>,
    totals_ttl_secs: u64,
    queue_depth: i64,
    oldest_pending: Option<DateTime<Utc>>,
    oldest_pending_age: String,
    failed_events: i64,
    failed_notifications: i64,
    lag: Option<Lag>,
    lag_window_min: i64,
    lag_limit: &'static str,
    legend: [Series; 4],
    charts: Vec<Chart>,
}

/// Percentiles of the end-to-end lag (received -> settled), as text.
#[derive(Debug, PartialEq, Eq)]
struct Lag {
    sample: usize,
    p50: String,
    p90: String,
    p99: String,
}

fn count(counts: &[(String, i64)], status: &str) -> i64 {
    counts
        .iter()
        .find(|(name, _)| name == status)
        .map_or(0, |(_, n)| *n)
}

/// "3 min", "2 h 5 min": how long the oldest pending event has waited.
fn age(since: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    let Some(since) = since else {
        return "none waiting".to_owned();
    };
    let secs = (now - since).num_seconds().max(0);
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs / 60),
        _ => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
    }
}

/// Nearest-rank percentiles of `lags`; `None` without any.
fn lag_percentiles(mut lags: Vec<TimeDelta>) -> Option<Lag> {
    lags.sort_unstable();
    let at = |p: usize| {
        let rank = (p * lags.len()).div_ceil(100).max(1);
        lags.get(rank - 1).map(|d| duration(*d))
    };
    Some(Lag {
        p50: at(50)?,
        p90: at(90)?,
        p99: at(99)?,
        sample: lags.len(),
    })
}

/// "85 ms", "4.2 s", "3 min 5 s".
fn duration(d: TimeDelta) -> String {
    let ms = d.num_milliseconds().max(0);
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        _ => format!("{} min {} s", ms / 60_000, ms % 60_000 / 1000),
    }
}

pub async fn show(
    operator: Operator,
    state: web::Data<AppState>,
    console: web::Data<Console>,
) -> Result<HttpResponse, ConsoleError> {
    let at = now();
    let start = window_start(at);
    let cached = console.totals.fresh(Instant::now());
    let (live, totals, recounted, intake, lags) = run_blocking(&state.pool, move |conn| {
        let recounted = cached.is_none();
        let totals = match cached {
            Some(totals) => totals,
            None => Totals {
                counted: Instant::now(),
                counted_at: at,
                stats: stats(conn)?,
                notifications: notification_counts(conn)?,
            },
        };
        Ok((
            live(conn)?,
            totals,
            recounted,
            intake_counts_since(conn, start)?,
            recent_lags(conn, at - LAG_WINDOW, LAG_MAX, LAG_SAMPLE)?,
        ))
    })
    .await?;
    if recounted {
        console.totals.keep(totals.clone());
    }
    let configured: Vec<&str> = console.providers.iter().map(|p| p.name.as_str()).collect();
    let charts = by_provider(&intake, &configured, start)
        .iter()
        .map(|t| t.chart(start))
        .collect();
    page(&Overview {
        chrome: Chrome::of(&operator, "overview"),
        refresh_secs: REFRESH_SECS,
        queue_depth: live.queue_depth,
        failed_events: live.failed_events,
        failed_notifications: count(&totals.notifications, "FAILED"),
        oldest_pending_age: age(live.oldest_pending, at),
        oldest_pending: live.oldest_pending,
        totals_at: totals.counted_at,
        totals_ttl_secs: TOTALS_TTL.as_secs(),
        stats: totals.stats,
        notifications: totals.notifications,
        lag: lag_percentiles(lags),
        lag_window_min: LAG_WINDOW.num_minutes(),
        lag_limit: LAG_SAMPLE_TEXT,
        legend: Kind::ALL.map(Kind::series),
        charts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_are_counted_again_once_their_time_is_up() {
        let cache = TotalsCache::default();
        let counted = Instant::now();
        assert!(cache.fresh(counted).is_none(), "nothing counted yet");
        cache.keep(Totals {
            counted,
            counted_at: now(),
            stats: Stats {
                events: Vec::new(),
                duplicates_suppressed: 3,
                decisions: Vec::new(),
                oldest_pending_received_at: None,
            },
            notifications: Vec::new(),
        });
        let kept = cache.fresh(counted + TOTALS_TTL - Duration::from_millis(1));
        assert_eq!(kept.map(|t| t.stats.duplicates_suppressed), Some(3));
        assert!(cache.fresh(counted + TOTALS_TTL).is_none(), "stale");
    }

    #[test]
    fn ages_read_as_an_operator_would_say_them() {
        let now = now();
        assert_eq!(age(None, now), "none waiting");
        assert_eq!(age(Some(now - TimeDelta::seconds(42)), now), "42 s");
        assert_eq!(age(Some(now - TimeDelta::seconds(600)), now), "10 min");
        assert_eq!(age(Some(now - TimeDelta::seconds(7500)), now), "2 h 5 min");
        assert_eq!(age(Some(now + TimeDelta::seconds(5)), now), "0 s");
    }

    #[test]
    fn lag_percentiles_are_nearest_rank() {
        assert_eq!(lag_percentiles(Vec::new()), None);
        let one = lag_percentiles(vec![TimeDelta::milliseconds(85)]).unwrap();
        assert_eq!(
            (one.sample, one.p50.as_str(), one.p99.as_str()),
            (1, "85 ms", "85 ms")
        );
        // 1..=200 ms, shuffled: p50 is the 100th, p90 the 180th, p99 the 198th.
        let lags = (1..=200).rev().map(TimeDelta::milliseconds).collect();
        assert_eq!(
            lag_percentiles(lags).unwrap(),
            Lag {
                sample: 200,
                p50: "100 ms".into(),
                p90: "180 ms".into(),
                p99: "198 ms".into(),
            }
        );
    }

    #[test]
    fn durations_read_as_an_operator_would_say_them() {
        assert_eq!(duration(TimeDelta::milliseconds(999)), "999 ms");
        assert_eq!(duration(TimeDelta::milliseconds(4_240)), "4.2 s");
        assert_eq!(duration(TimeDelta::seconds(185)), "3 min 5 s");
        assert_eq!(duration(TimeDelta::milliseconds(-3)), "0 ms");
    }
}
