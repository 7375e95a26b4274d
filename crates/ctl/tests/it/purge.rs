//! Purging 100,000 old events, the old finished notifications and the old per-minute intake
//! counts: in batches, with progress, leaving RECEIVED events, PENDING notifications and recent
//! ones of all three.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use persistence::schema::{collections, intake_counts, notifications, webhook_events};

use crate::helpers::Ctl;

const OLD_FINISHED: i64 = 100_000;

fn fill(ctl: &Ctl) {
    ctl.run(&["migrate"]).ok();
    let mut conn = ctl.connect();
    let sql = match conn {
        persistence::DbConnection::Sqlite(_) => format!(
            "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < {OLD_FINISHED})
             INSERT INTO webhook_events (id, provider, dedup_key, payload, status, attempts,
                 next_attempt_at, duplicate_count, received_at, last_seen_at, processed_at)
             SELECT printf('%08x-0000-4000-8000-%012x', n, n), 'demo', 'old-' || n, '{{}}',
                 CASE WHEN n % 2 = 0 THEN 'PROCESSED' ELSE 'FAILED' END, 1,
                 '2020-01-01 00:00:00.000000', 0, '2020-01-01 00:00:00.000000',
                 '2020-01-01 00:00:00.000000', '2020-01-01 00:00:00.000000' FROM seq;"
        ),
        persistence::DbConnection::Pg(_) => format!(
            "INSERT INTO webhook_events (id, provider, dedup_key, payload, status, attempts,
                 next_attempt_at, duplicate_count, received_at, last_seen_at, processed_at)
             SELECT gen_random_uuid(), 'demo', 'old-' || n, '{{}}',
                 CASE WHEN n % 2 = 0 THEN 'PROCESSED' ELSE 'FAILED' END, 1,
                 '2020-01-01', 0, '2020-01-01', '2020-01-01', '2020-01-01'
             FROM generate_series(1, {OLD_FINISHED}) AS n;"
        ),
    };
    conn.batch_execute(&sql).unwrap();
    // Old but still waiting, and recent finished ones: neither may go.
    let payload = serde_json::json!({});
    let at = chrono::DateTime::parse_from_rfc3339("2020-01-01T00:00:00Z")
        .unwrap()
        .to_utc();
    for n in 0..3 {
        let key = format!("pending-{n}");
        let new =
            persistence::NewWebhookEvent::received("demo", None, &key, None, &payload, None, at);
        persistence::record_event(&mut conn, &new).unwrap();
        let key = format!("recent-{n}");
        let new = persistence::NewWebhookEvent::received(
            "demo",
            None,
            &key,
            None,
            &payload,
            None,
            persistence::now(),
        );
        persistence::record_event(&mut conn, &new).unwrap();
        persistence::mark_failed(&mut conn, new.id, "x", persistence::now()).unwrap();
    }
    fill_notifications(ctl, &mut conn);
    fill_intake_counts(&mut conn);
}

/// Three minutes of counts from 2020 (two rows each) and one from now.
fn fill_intake_counts(conn: &mut persistence::DbConnection) {
    let old = chrono::DateTime::parse_from_rfc3339("2020-01-01T00:00:00Z")
        .unwrap()
        .to_utc();
    let count = |minute, outcome: &str| persistence::IntakeCount {
        minute,
        provider: "demo".into(),
        outcome: outcome.into(),
        count: 7,
    };
    let mut rows = Vec::new();
    for m in 0..3 {
        let minute = old + chrono::TimeDelta::minutes(m);
        rows.extend([
            count(minute, "accepted"),
            count(minute, "invalid_signature"),
        ]);
    }
    rows.push(count(persistence::now(), "accepted"));
    persistence::add_intake_counts(conn, &rows).unwrap();
}

/// One notification per collection, each by an operator's change: old ones DELIVERED, FAILED
/// and PENDING, and a recent DELIVERED one. Only the first two kinds may go.
const NOTIFIED: [(&str, &str); 5] = [
    ("OLD-1", "DELIVERED"),
    ("OLD-2", "FAILED"),
    ("OLD-3", "DELIVERED"),
    ("OLD-PENDING", "PENDING"),
    ("RECENT", "DELIVERED"),
];

fn fill_notifications(ctl: &Ctl, conn: &mut persistence::DbConnection) {
    for (reference, fate) in NOTIFIED {
        ctl.run(&["collections", "create", "--request-ref", reference])
            .ok();
        ctl.run(&["collections", "set-status", reference, "SUCCESS"])
            .ok();
        let id: uuid::Uuid = notifications::table
            .inner_join(collections::table)
            .filter(collections::request_ref.eq(reference))
            .select(notifications::id)
            .first(conn)
            .unwrap();
        match fate {
            "DELIVERED" => persistence::mark_delivered(conn, &[id], persistence::now()).unwrap(),
            "FAILED" => persistence::mark_undelivered(conn, id, "HTTP 500", None).unwrap(),
            _ => {}
        }
    }
    conn.batch_execute(
        "UPDATE notifications SET created_at = '2020-01-01 00:00:00.000000'
         WHERE collection_id IN (SELECT id FROM collections WHERE request_ref LIKE 'OLD-%')",
    )
    .unwrap();
}

fn purge_and_check(ctl: Ctl) {
    fill(&ctl);
    let dry = ctl
        .run(&["--json", "purge", "--older-than", "30d", "--dry-run"])
        .ok()
        .json();
    assert_eq!(dry["events"]["purgeable"], OLD_FINISHED, "{dry}");
    assert_eq!(dry["events"]["deleted"], 0, "{dry}");
    assert_eq!(dry["notifications"]["purgeable"], 3, "{dry}");
    assert_eq!(dry["notifications"]["deleted"], 0, "{dry}");
    assert_eq!(dry["intake_counts"]["purgeable"], 6, "{dry}");
    assert_eq!(dry["intake_counts"]["deleted"], 0, "{dry}");
    let dry_text = ctl
        .run(&["purge", "--older-than", "30d", "--dry-run"])
        .ok()
        .stdout;
    assert!(
        dry_text.starts_with(
            "would delete 100000 processed/failed events, 3 delivered/failed notifications \
             and 6 per-minute intake counts from before "
        ),
        "{dry_text}"
    );

    let run = ctl
        .run(&["purge", "--older-than", "30d", "--batch-size", "5000"])
        .ok();
    let progress = |what: &str| -> Vec<String> {
        run.stderr
            .lines()
            .filter(|l| l.starts_with("purged ") && l.contains(what))
            .map(str::to_owned)
            .collect()
    };
    let events = progress(" events ");
    assert_eq!(
        events.len(),
        20,
        "one progress line per batch: {}",
        run.stderr
    );
    assert!(
        events[0].starts_with("purged 5000/100000 events (5%)"),
        "{}",
        events[0]
    );
    assert!(
        events[19].starts_with("purged 100000/100000 events (100%)"),
        "{}",
        events[19]
    );
    let notified = progress(" notifications ");
    assert_eq!(notified.len(), 1, "{}", run.stderr);
    assert!(
        notified[0].starts_with("purged 3/3 notifications (100%)"),
        "{}",
        notified[0]
    );
    assert!(
        run.stdout.starts_with(
            "deleted 100000 processed/failed events, 3 delivered/failed notifications and 6 \
             per-minute intake counts from before "
        ),
        "{}",
        run.stdout
    );

    let counted = progress(" intake counts ");
    assert_eq!(counted.len(), 1, "{}", run.stderr);
    assert!(
        counted[0].starts_with("purged 6/6 intake counts (100%)"),
        "{}",
        counted[0]
    );

    let mut conn = ctl.connect();
    let minutes_left: i64 = intake_counts::table.count().get_result(&mut conn).unwrap();
    assert_eq!(minutes_left, 1, "the recent minute stays");
    let left: Vec<(String, String)> = webhook_events::table
        .select((webhook_events::dedup_key, webhook_events::status))
        .order(webhook_events::dedup_key.asc())
        .load(&mut conn)
        .unwrap();
    let keys: Vec<&str> = left.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "pending-0",
            "pending-1",
            "pending-2",
            "recent-0",
            "recent-1",
            "recent-2"
        ]
    );
    let notified: Vec<(String, String)> = notifications::table
        .inner_join(collections::table)
        .select((collections::request_ref, notifications::status))
        .order(collections::request_ref.asc())
        .load(&mut conn)
        .unwrap();
    assert_eq!(
        notified,
        [
            ("OLD-PENDING".to_owned(), "PENDING".to_owned()),
            ("RECENT".to_owned(), "DELIVERED".to_owned())
        ]
    );

    // Nothing left to purge: a second run deletes nothing, and says so.
    let again = ctl
        .run(&["--json", "purge", "--older-than", "30d"])
        .ok()
        .json();
    assert_eq!(again["events"]["deleted"], 0, "{again}");
    assert_eq!(again["notifications"]["deleted"], 0, "{again}");
    assert_eq!(again["intake_counts"]["deleted"], 0, "{again}");
}

#[test]
fn purge_100k_on_sqlite() {
    purge_and_check(Ctl::sqlite());
}

#[test]
fn purge_100k_on_postgres() {
    if let Some(ctl) = Ctl::postgres("purge::purge_100k_on_postgres") {
        purge_and_check(ctl);
    }
}

/// Ended console sessions (idle, or past their lifetime) go whatever `--older-than` says; an open
/// one stays.
fn purge_ended_sessions_and_check(ctl: Ctl) {
    use domain::console_session::{cutoffs, IDLE, LIFETIME};
    use persistence::schema::console_sessions;
    use persistence::{now, open_session, touch_session, NewConsoleSession};

    ctl.run(&["migrate"]).ok();
    let mut conn = ctl.connect();
    let t = now();
    // Nothing is over this early: every row is stored, whatever its age.
    let long_ago = cutoffs(t - LIFETIME - chrono::TimeDelta::days(1));
    for (hash, started, last_used) in [
        (
            "past-lifetime",
            t - LIFETIME - chrono::TimeDelta::minutes(30),
            t,
        ),
        ("idle", t - IDLE - chrono::TimeDelta::minutes(5), t - IDLE),
        ("open", t - chrono::TimeDelta::minutes(3), t),
    ] {
        let new = NewConsoleSession {
            id_hash: hash,
            key_name: "ops",
            key_fingerprint: "0123456789abcdef",
            at: started,
        };
        open_session(&mut conn, &new, long_ago, 100).unwrap();
        touch_session(&mut conn, hash, last_used).unwrap();
    }
    let dry = ctl
        .run(&["--json", "purge", "--older-than", "90d", "--dry-run"])
        .ok()
        .json();
    assert_eq!(dry["console_sessions"]["purgeable"], 2, "{dry}");
    assert_eq!(dry["console_sessions"]["deleted"], 0, "{dry}");
    let run = ctl.run(&["purge", "--older-than", "90d"]).ok();
    assert!(
        run.stdout.contains(", and 2 ended console sessions"),
        "{}",
        run.stdout
    );
    let left: Vec<String> = console_sessions::table
        .select(console_sessions::id_hash)
        .load(&mut conn)
        .unwrap();
    assert_eq!(left, ["open"]);
}

#[test]
fn purge_ended_sessions_on_sqlite() {
    purge_ended_sessions_and_check(Ctl::sqlite());
}

#[test]
fn purge_ended_sessions_on_postgres() {
    if let Some(ctl) = Ctl::postgres("purge::purge_ended_sessions_on_postgres") {
        purge_ended_sessions_and_check(ctl);
    }
}
