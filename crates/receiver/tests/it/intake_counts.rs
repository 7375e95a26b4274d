//! Every answer counted per minute, provider and outcome in `intake_counts`: written by the
//! background task within seconds, the last ones at a graceful stop, names that are not
//! configured under one label, and counts kept through a database outage.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use domain::provider::Preset;
use persistence::{intake_counts_since, DbPool};
use receiver::tally::{FLUSH_INTERVAL, UNKNOWN_PROVIDER};

use crate::helpers::{spawn_app_with, Backend, Options, TestApp, DEMO_SECRET};

on_both_backends!(answers_are_counted_per_provider_and_outcome);

const JSON: (&str, &str) = ("Content-Type", "application/json");

/// (provider, outcome) -> count, over every minute stored.
fn totals(pool: &DbPool) -> BTreeMap<(String, String), i64> {
    let epoch = chrono::DateTime::UNIX_EPOCH;
    let mut totals = BTreeMap::new();
    for row in intake_counts_since(&mut pool.get().unwrap(), epoch).unwrap() {
        *totals.entry((row.provider, row.outcome)).or_default() += row.count;
    }
    totals
}

/// The totals once they are `expected` (a flush may land between two requests), or as they
/// are after a few flush intervals.
async fn totals_when(
    pool: &DbPool,
    expected: &BTreeMap<(String, String), i64>,
) -> BTreeMap<(String, String), i64> {
    let deadline = Instant::now() + FLUSH_INTERVAL * 3;
    loop {
        let seen = totals(pool);
        if seen == *expected || Instant::now() > deadline {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn expect(rows: &[(&str, &str, i64)]) -> BTreeMap<(String, String), i64> {
    rows.iter()
        .map(|(p, o, n)| ((p.to_string(), o.to_string()), *n))
        .collect()
}

async fn answers_are_counted_per_provider_and_outcome(mut app: TestApp) {
    let body = br#"{"event_id":"evt_count_1","request_ref":"REQ-1","status":"pending"}"#;
    let demo = |secret| app.post_signed("demo", Preset::Generic, secret, body);
    assert_eq!(demo(DEMO_SECRET).await.status, 202);
    assert_eq!(demo(DEMO_SECRET).await.status, 200);
    assert_eq!(demo(DEMO_SECRET).await.status, 200);
    assert_eq!(demo("not-the-secret").await.status, 401);
    assert_eq!(app.post("demo", &[JSON], body).await.status, 401);
    assert_eq!(app.post("open", &[JSON], b"[1]").await.status, 400);
    // Names that are not configured, hostile ones included, share one label.
    for name in ["no-such-provider", "%3Cscript%3Ealert(1)%3C%2Fscript%3E"] {
        assert_eq!(app.post(name, &[JSON], body).await.status, 404, "{name}");
    }

    // Written by the task within a flush interval or two, while the receiver serves.
    let expected = expect(&[
        ("demo", "accepted", 1),
        ("demo", "duplicate", 2),
        ("demo", "invalid_signature", 1),
        ("demo", "missing_signature", 1),
        ("open", "invalid_json", 1),
        (UNKNOWN_PROVIDER, "unknown_provider", 2),
    ]);
    assert_eq!(totals_when(&app.pool, &expected).await, expected);

    // The answers just before a graceful stop are written by the stop.
    assert_eq!(app.post("open", &[JSON], b"[2]").await.status, 400);
    assert_eq!(
        app.post("open", &[("Content-Type", "text/plain")], b"{}")
            .await
            .status,
        415
    );
    app.stop().await;
    let mut expected = expected;
    *expected
        .get_mut(&("open".to_owned(), "invalid_json".to_owned()))
        .unwrap() += 1;
    expected.insert(("open".into(), "unsupported_media_type".into()), 1);
    assert_eq!(totals(&app.pool), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_wait_out_a_database_outage() {
    let options = Options {
        via_proxy: true,
        ..Options::default()
    };
    let test = "intake_counts::counts_wait_out_a_database_outage";
    let Some(app) = spawn_app_with(Backend::Postgres, test, options).await else {
        return;
    };
    let proxy = app.proxy.as_ref().unwrap();
    proxy.cut();
    // Refusals need no database: they are answered, and counted, during the outage.
    for _ in 0..3 {
        let answer = app
            .post_signed("demo", Preset::Generic, "not-the-secret", b"{}")
            .await;
        assert_eq!(answer.status, 401);
    }
    // At least one flush fails meanwhile (its wait for a connection is one second).
    tokio::time::sleep(FLUSH_INTERVAL + Duration::from_secs(2)).await;
    proxy.restore();
    let expected = expect(&[("demo", "invalid_signature", 3)]);
    assert_eq!(totals_when(&app.pool, &expected).await, expected);
    assert!(
        crate::helpers::captured_logs().contains("cannot write intake counts"),
        "the failed flush is logged"
    );
}
