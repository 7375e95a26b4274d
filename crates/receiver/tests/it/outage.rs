//! When the database cannot record, the answer is a fast 503 with Retry-After, never a 2xx; once
//! the database is back, events are accepted again.

use std::time::{Duration, Instant};

use domain::provider::Preset;

use crate::helpers::{spawn_app_with, Backend, Options, DEMO_SECRET};
use crate::http;

fn body(n: u32) -> Vec<u8> {
    format!(r#"{{"event_id":"evt_outage_{n}","request_ref":"REQ-1","status":"pending"}}"#)
        .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_unreachable_gives_503_fast_and_recovers() {
    let options = Options {
        via_proxy: true,
        ..Options::default()
    };
    let Some(app) = spawn_app_with(
        Backend::Postgres,
        "outage::postgres_unreachable_gives_503_fast_and_recovers",
        options,
    )
    .await
    else {
        return;
    };
    let proxy = app.proxy.as_ref().unwrap();
    assert_eq!(
        app.post_signed("demo", Preset::Generic, DEMO_SECRET, &body(0))
            .await
            .status,
        202
    );

    proxy.cut();
    for n in 1..=5 {
        let started = Instant::now();
        let response = app
            .post_signed("demo", Preset::Generic, DEMO_SECRET, &body(n))
            .await;
        let took = started.elapsed();
        assert_eq!(response.status, 503, "attempt {n}");
        assert_eq!(response.error_code(), "storage_unavailable");
        assert_eq!(response.header("retry-after"), Some("5"));
        assert!(took < Duration::from_secs(2), "attempt {n} took {took:?}");
    }
    assert_eq!(http::get(app.port, "/readyz").await.status, 503);
    assert_eq!(
        http::get(app.port, "/healthz").await.status,
        200,
        "alive, just not ready"
    );

    proxy.restore();
    let response = app
        .post_signed("demo", Preset::Generic, DEMO_SECRET, &body(1))
        .await;
    assert_eq!(
        response.status, 202,
        "the event refused during the outage is accepted now"
    );
    let ids: Vec<_> = app
        .events()
        .into_iter()
        .filter_map(|e| e.event_id)
        .collect();
    assert_eq!(ids, vec!["evt_outage_0", "evt_outage_1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_locked_gives_503_and_recovers() {
    let options = Options {
        sqlite_busy_timeout_ms: 300,
        ..Options::default()
    };
    let app = spawn_app_with(Backend::Sqlite, "outage::sqlite_locked", options)
        .await
        .unwrap();
    // Another process holds the write lock (a stuck migration, a backup tool).
    let mut blocker = app.pool.get().unwrap();
    use diesel::connection::SimpleConnection;
    blocker.batch_execute("BEGIN EXCLUSIVE").unwrap();
    let started = Instant::now();
    let response = app
        .post_signed("demo", Preset::Generic, DEMO_SECRET, &body(1))
        .await;
    assert_eq!(response.status, 503);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    blocker.batch_execute("ROLLBACK").unwrap();
    drop(blocker);
    assert_eq!(
        app.post_signed("demo", Preset::Generic, DEMO_SECRET, &body(1))
            .await
            .status,
        202
    );
}

/// A database that does not answer (here: the event table locked by another session, so every
/// insert waits): every delivery gets its 503 within `receiver.record_timeout_ms`, never a 2xx;
/// once it answers again, deliveries are acknowledged at once, and every acknowledged one is
/// stored. (Before the bound, a delivery waited 10 s for its 503.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_database_gives_503_within_the_bound_and_recovers() {
    use diesel::connection::SimpleConnection;
    let Some(app) = spawn_app_with(
        Backend::Postgres,
        "outage::a_silent_database_gives_503_within_the_bound_and_recovers",
        Options::default(),
    )
    .await
    else {
        return;
    };
    let post = |n: u32| {
        let app = &app;
        async move {
            app.post_signed("demo", Preset::Generic, DEMO_SECRET, &body(n))
                .await
        }
    };
    assert_eq!(post(0).await.status, 202);

    let mut blocker = app.pool.get().unwrap();
    blocker
        .batch_execute("BEGIN; LOCK TABLE webhook_events IN EXCLUSIVE MODE")
        .unwrap();
    let bound = Duration::from_millis(2_000);
    for n in 1..=3 {
        let started = Instant::now();
        let response = post(n).await;
        let took = started.elapsed();
        assert_eq!(response.status, 503, "attempt {n}");
        assert_eq!(response.error_code(), "storage_unavailable");
        assert!(
            took >= bound - Duration::from_millis(100),
            "attempt {n} took {took:?}"
        );
        assert!(
            took < bound + Duration::from_millis(500),
            "attempt {n} took {took:?}"
        );
    }

    blocker.batch_execute("COMMIT").unwrap();
    let back = Instant::now();
    let mut acknowledged = Vec::new();
    for n in 1..=5 {
        let response = post(n).await;
        assert!(
            [200, 202].contains(&response.status),
            "delivery {n} once the database answers: {}",
            response.status
        );
        acknowledged.push(format!("evt_outage_{n}"));
    }
    let recovered = back.elapsed();
    assert!(
        recovered < Duration::from_secs(2),
        "2xx again after {recovered:?}"
    );
    let stored: Vec<String> = app
        .events()
        .into_iter()
        .filter_map(|e| e.event_id)
        .collect();
    for id in acknowledged {
        assert!(
            stored.contains(&id),
            "{id} acknowledged but not stored: {stored:?}"
        );
    }
}
