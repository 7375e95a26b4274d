//! The receivers' per-minute counts: batches summed into the same rows, read back from a minute
//! on, purged by minute in batches; and the lags of recently settled events.

use chrono::{DateTime, TimeDelta, Utc};
use persistence::{
    add_intake_counts, count_purgeable_intake_counts, intake_counts_since, mark_failed, minute_of,
    now, purge_intake_counts_batch, recent_lags, record_event, IntakeCount, NewWebhookEvent,
};
use serde_json::json;

use crate::helpers::TestDb;

on_both_backends!(
    counts_are_summed_per_minute_provider_and_outcome,
    old_minutes_are_purged_in_batches,
    lags_of_recently_settled_events,
);

fn count(minute: DateTime<Utc>, provider: &str, outcome: &str, n: i64) -> IntakeCount {
    IntakeCount {
        minute,
        provider: provider.to_owned(),
        outcome: outcome.to_owned(),
        count: n,
    }
}

fn counts_are_summed_per_minute_provider_and_outcome(db: TestDb) {
    let this = minute_of(now());
    let before = this - TimeDelta::minutes(1);
    let long_ago = this - TimeDelta::hours(2);
    add_intake_counts(
        &mut db.conn(),
        &[
            count(before, "paystack", "accepted", 3),
            count(long_ago, "paystack", "accepted", 9),
            // Twice in one batch, and not at the minute's start: summed into one row.
            count(
                this + TimeDelta::seconds(7),
                "paystack",
                "invalid_signature",
                1,
            ),
            count(
                this + TimeDelta::seconds(40),
                "paystack",
                "invalid_signature",
                1,
            ),
            count(this, "(unknown)", "unknown_provider", 0),
        ],
    )
    .unwrap();
    // A second receiver adds to the same rows.
    add_intake_counts(
        &mut db.conn(),
        &[
            count(before, "paystack", "accepted", 2),
            count(this, "paystack", "duplicate", 1),
        ],
    )
    .unwrap();
    add_intake_counts(&mut db.conn(), &[]).unwrap();

    let read = intake_counts_since(&mut db.conn(), this - TimeDelta::minutes(59)).unwrap();
    assert_eq!(
        read,
        [
            count(before, "paystack", "accepted", 5),
            count(this, "paystack", "duplicate", 1),
            count(this, "paystack", "invalid_signature", 2),
        ],
        "a zero count writes no row, the two-hour-old minute is not read"
    );
}

fn old_minutes_are_purged_in_batches(db: TestDb) {
    let this = minute_of(now());
    let mut rows = Vec::new();
    for m in 0..10 {
        let at = this - TimeDelta::days(40) + TimeDelta::minutes(m);
        rows.push(count(at, "demo", "accepted", 1));
        rows.push(count(at, "demo", "invalid_json", 1));
    }
    rows.push(count(this, "demo", "accepted", 1));
    add_intake_counts(&mut db.conn(), &rows).unwrap();
    let cutoff = now() - TimeDelta::days(30);
    assert_eq!(
        count_purgeable_intake_counts(&mut db.conn(), cutoff).unwrap(),
        20
    );
    // Batches of 3 rows end on a whole minute: 4, 4, 4, 4, 4 (two rows per minute).
    let mut batches = Vec::new();
    loop {
        let n = purge_intake_counts_batch(&mut db.conn(), cutoff, 3).unwrap();
        if n == 0 {
            break;
        }
        batches.push(n);
    }
    assert_eq!(batches, [4, 4, 4, 4, 4]);
    let left = intake_counts_since(&mut db.conn(), this - TimeDelta::days(365)).unwrap();
    assert_eq!(left, [count(this, "demo", "accepted", 1)]);
}

fn lags_of_recently_settled_events(db: TestDb) {
    let t = now();
    let payload = json!({});
    let settle = |key: &str, received: DateTime<Utc>, processed: Option<DateTime<Utc>>| {
        let new = NewWebhookEvent::received("demo", None, key, None, &payload, None, received);
        let id = record_event(&mut db.conn(), &new).unwrap().event().id;
        if let Some(at) = processed {
            mark_failed(&mut db.conn(), id, "settled", at).unwrap();
        }
    };
    settle(
        "fast",
        t - TimeDelta::seconds(10),
        Some(t - TimeDelta::seconds(9)),
    );
    settle(
        "slow",
        t - TimeDelta::minutes(5),
        Some(t - TimeDelta::minutes(1)),
    );
    settle("pending", t - TimeDelta::minutes(1), None);
    settle(
        "settled-long-ago",
        t - TimeDelta::hours(3),
        Some(t - TimeDelta::hours(2)),
    );
    // Received before the window allows: left out, even though settled within it.
    settle(
        "waited-hours",
        t - TimeDelta::hours(5),
        Some(t - TimeDelta::minutes(2)),
    );

    let since = t - TimeDelta::minutes(15);
    let lags = recent_lags(&mut db.conn(), since, TimeDelta::hours(1), 100).unwrap();
    assert_eq!(lags, [TimeDelta::seconds(1), TimeDelta::minutes(4)]);
    let latest = recent_lags(&mut db.conn(), since, TimeDelta::hours(1), 1).unwrap();
    assert_eq!(latest, [TimeDelta::seconds(1)], "the latest received first");
}
