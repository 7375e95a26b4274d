//! `/console/`: is the inbox keeping up? Events by status, the oldest one still waiting,
//! decisions by outcome, notifications by delivery state.

use actix_web::{web, HttpResponse};
use askama::Template;
use chrono::{DateTime, Utc};
use persistence::{notification_counts, now, run_blocking, stats, Stats};

use crate::console::error::ConsoleError;
use crate::console::session::Operator;
use crate::console::{page, Chrome};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "console/overview.html")]
struct Overview {
    chrome: Chrome,
    stats: Stats,
    notifications: Vec<(String, i64)>,
    oldest_pending: Option<DateTime<Utc>>,
    oldest_pending_age: String,
    failed_events: i64,
    failed_notifications: i64,
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

pub async fn show(
    operator: Operator,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let (stats, notifications) = run_blocking(&state.pool, |conn| {
        Ok((stats(conn)?, notification_counts(conn)?))
    })
    .await?;
    let oldest_pending = stats.oldest_pending_received_at;
    page(&Overview {
        chrome: Chrome::of(&operator, "overview"),
        failed_events: count(&stats.events, "FAILED"),
        failed_notifications: count(&notifications, "FAILED"),
        oldest_pending_age: age(oldest_pending, now()),
        oldest_pending,
        stats,
        notifications,
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    #[test]
    fn ages_read_as_an_operator_would_say_them() {
        let now = now();
        assert_eq!(age(None, now), "none waiting");
        assert_eq!(age(Some(now - TimeDelta::seconds(42)), now), "42 s");
        assert_eq!(age(Some(now - TimeDelta::seconds(600)), now), "10 min");
        assert_eq!(age(Some(now - TimeDelta::seconds(7500)), now), "2 h 5 min");
        assert_eq!(age(Some(now + TimeDelta::seconds(5)), now), "0 s");
    }
}
