//! Purging 100,000 old events: in batches, with progress, leaving RECEIVED and recent events.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use persistence::schema::webhook_events;

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
}

fn purge_and_check(ctl: Ctl) {
    fill(&ctl);
    let dry = ctl
        .run(&["--json", "purge", "--older-than", "30d", "--dry-run"])
        .ok()
        .json();
    assert_eq!(dry["purgeable"], OLD_FINISHED);

    let run = ctl
        .run(&["purge", "--older-than", "30d", "--batch-size", "5000"])
        .ok();
    let progress: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("purged "))
        .collect();
    assert_eq!(
        progress.len(),
        20,
        "one progress line per batch: {}",
        run.stderr
    );
    assert!(
        progress[0].starts_with("purged 5000/100000 events (5%)"),
        "{}",
        progress[0]
    );
    assert!(
        progress[19].starts_with("purged 100000/100000 events (100%)"),
        "{}",
        progress[19]
    );
    assert!(run.stdout.contains("deleted 100000"), "{}", run.stdout);

    let mut conn = ctl.connect();
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
