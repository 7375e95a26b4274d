//! The receivers' answers of the last hour, per provider, from `intake_counts`: totals by
//! outcome, the share refused and per-minute columns for the charts. Pure: the pages read the
//! rows and hand them here. Outcome labels come from the database: they are only ever shown
//! through the templates' escaping, never trusted to be one of the receiver's codes.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use persistence::{minute_of, IntakeCount};

use crate::console::chart::{Chart, Series};

/// The pages' window, in minutes, the current (partial) one included.
pub const WINDOW_MINUTES: usize = 60;

/// What an answer meant for the sender, the charts' series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// 202: a new event recorded.
    Accepted,
    /// 200: a repeat of a recorded event.
    Duplicate,
    /// 4xx: refused (signature, content type, size, JSON, unknown provider...).
    Refused,
    /// 503: the event could not be recorded; the provider retries.
    Unavailable,
}

impl Kind {
    pub const ALL: [Kind; 4] = [
        Kind::Accepted,
        Kind::Duplicate,
        Kind::Refused,
        Kind::Unavailable,
    ];

    pub fn of(outcome: &str) -> Kind {
        match outcome {
            "accepted" => Kind::Accepted,
            "duplicate" => Kind::Duplicate,
            "storage_unavailable" => Kind::Unavailable,
            _ => Kind::Refused,
        }
    }

    pub fn series(self) -> Series {
        let (class, label) = match self {
            Kind::Accepted => ("k-accepted", "accepted"),
            Kind::Duplicate => ("k-duplicate", "duplicate"),
            Kind::Refused => ("k-refused", "refused"),
            Kind::Unavailable => ("k-unavailable", "unavailable"),
        };
        Series { class, label }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One provider's last hour.
#[derive(Debug)]
pub struct Traffic {
    pub provider: String,
    /// Whether this api process has the provider in its configuration; `(unknown)` and names
    /// only another process knows are not.
    pub configured: bool,
    /// Answers by kind, in [`Kind::ALL`]'s order.
    pub totals: [i64; 4],
    /// Refusals by error code, the most frequent first.
    pub refusals: Vec<(String, i64)>,
    /// `[minute][kind]`, oldest minute first, [`WINDOW_MINUTES`] of them.
    pub per_minute: Vec<Vec<i64>>,
}

impl Traffic {
    fn new(provider: &str, configured: bool) -> Traffic {
        Traffic {
            provider: provider.to_owned(),
            configured,
            totals: [0; 4],
            refusals: Vec::new(),
            per_minute: vec![vec![0; Kind::ALL.len()]; WINDOW_MINUTES],
        }
    }

    pub fn total(&self, kind: Kind) -> i64 {
        self.totals[kind.index()]
    }

    pub fn answered(&self) -> i64 {
        self.totals.iter().sum()
    }

    /// The refused share of every answer, "2.5 %", or "-" when nothing was answered.
    pub fn refused_share(&self) -> String {
        let answered = self.answered();
        if answered == 0 {
            return "-".to_owned();
        }
        let share = 100.0 * self.total(Kind::Refused) as f64 / answered as f64;
        format!("{share:.1} %")
    }

    pub fn chart(&self, start: DateTime<Utc>) -> Chart {
        let series = Kind::ALL.map(Kind::series);
        Chart::stacked(&self.provider, &series, start, &self.per_minute)
    }
}

/// The first minute of the window that ends with the minute of `now`.
pub fn window_start(now: DateTime<Utc>) -> DateTime<Utc> {
    minute_of(now) - TimeDelta::minutes(WINDOW_MINUTES as i64 - 1)
}

/// Each configured provider (in the given order, with or without answers), then every other
/// name the rows hold (`(unknown)`, or one configured only in the receivers), by name. Rows
/// outside the window starting at `start` are ignored.
pub fn by_provider(
    rows: &[IntakeCount],
    configured: &[&str],
    start: DateTime<Utc>,
) -> Vec<Traffic> {
    let mut traffic: Vec<Traffic> = configured.iter().map(|p| Traffic::new(p, true)).collect();
    let mut others: BTreeMap<&str, Traffic> = BTreeMap::new();
    let mut refusals: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    for row in rows {
        let minute = (row.minute - start).num_minutes();
        let Some(minute) = usize::try_from(minute).ok().filter(|m| *m < WINDOW_MINUTES) else {
            continue;
        };
        let entry = match traffic.iter_mut().find(|t| t.provider == row.provider) {
            Some(known) => known,
            None => others
                .entry(&row.provider)
                .or_insert_with(|| Traffic::new(&row.provider, false)),
        };
        let kind = Kind::of(&row.outcome).index();
        entry.totals[kind] += row.count;
        entry.per_minute[minute][kind] += row.count;
        if Kind::of(&row.outcome) == Kind::Refused {
            *refusals.entry((&row.provider, &row.outcome)).or_default() += row.count;
        }
    }
    traffic.extend(others.into_values());
    for t in &mut traffic {
        t.refusals = refusals
            .iter()
            .filter(|((provider, _), _)| *provider == t.provider)
            .map(|((_, code), n)| ((*code).to_owned(), *n))
            .collect();
        t.refusals
            .sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    }
    traffic
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        start: DateTime<Utc>,
        minute: i64,
        provider: &str,
        outcome: &str,
        n: i64,
    ) -> IntakeCount {
        IntakeCount {
            minute: start + TimeDelta::minutes(minute),
            provider: provider.to_owned(),
            outcome: outcome.to_owned(),
            count: n,
        }
    }

    #[test]
    fn answers_are_grouped_by_provider_kind_and_minute() {
        let now = DateTime::parse_from_rfc3339("2026-12-01T11:04:30Z")
            .unwrap()
            .to_utc();
        let start = window_start(now);
        assert_eq!(start.format("%H:%M").to_string(), "10:05");
        let rows = [
            row(start, -1, "demo", "accepted", 100),
            row(start, 0, "demo", "accepted", 6),
            row(start, 0, "demo", "invalid_signature", 1),
            row(start, 59, "demo", "duplicate", 1),
            row(start, 59, "demo", "timestamp_out_of_tolerance", 1),
            row(start, 59, "demo", "invalid_signature", 1),
            row(start, 59, "demo", "storage_unavailable", 2),
            row(start, 3, "(unknown)", "unknown_provider", 4),
            row(start, 3, "<b>elsewhere</b>", "accepted", 1),
        ];
        let traffic = by_provider(&rows, &["paystack", "demo"], start);
        let names: Vec<(&str, bool)> = traffic
            .iter()
            .map(|t| (t.provider.as_str(), t.configured))
            .collect();
        assert_eq!(
            names,
            [
                ("paystack", true),
                ("demo", true),
                ("(unknown)", false),
                ("<b>elsewhere</b>", false)
            ]
        );
        let demo = &traffic[1];
        assert_eq!(
            demo.totals,
            [6, 1, 3, 2],
            "the minute before the window is left out"
        );
        assert_eq!(demo.answered(), 12);
        assert_eq!(demo.refused_share(), "25.0 %");
        assert_eq!(
            demo.refusals,
            [
                ("invalid_signature".to_owned(), 2),
                ("timestamp_out_of_tolerance".to_owned(), 1)
            ]
        );
        assert_eq!(demo.per_minute[0], [6, 0, 1, 0]);
        assert_eq!(demo.per_minute[59], [0, 1, 2, 2]);
        assert_eq!(traffic[0].refused_share(), "-");
        assert_eq!(traffic[2].total(Kind::Refused), 4);
    }
}
