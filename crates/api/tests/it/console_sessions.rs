//! Console sessions shared by api replicas through the database: a session opened on one replica
//! is served by another (pages and forms alike), survives a restart, and a sign-out on either ends
//! it on both; a key removed from a replica's configuration is refused there; an idle or too old
//! session ends; a database outage while loading a session is a 503, never a sign-out.

use std::time::{Duration, Instant};

use chrono::TimeDelta;
use diesel::prelude::*;
use persistence::schema::console_sessions;
use persistence::types::SqlTime;
use persistence::{now, EventStatus};

use crate::console::{failed, status_of, Browser};
use crate::helpers::{spawn_api_with, spawn_replica, Backend, TestApi, OPS_KEY, READER_KEY};

on_both_backends!(
    a_session_is_served_by_every_replica_and_ends_on_all,
    a_replica_without_the_key_refuses_its_sessions,
    an_idle_or_old_session_ends_and_a_use_is_recorded_once_a_minute,
);

fn on(browser: &mut Browser, api: &TestApi) {
    browser.base = api.base();
}

fn stored_sessions(api: &TestApi) -> Vec<(String, chrono::DateTime<chrono::Utc>)> {
    console_sessions::table
        .select((console_sessions::key_name, console_sessions::last_seen_at))
        .load(&mut api.pool.get().unwrap())
        .unwrap()
}

async fn a_session_is_served_by_every_replica_and_ends_on_all(first: TestApi) {
    let second = spawn_replica(&first, None).await;
    let event = failed(&first, "paystack", "evt-1", "no collection");

    let mut ops = Browser::signed_in(&first, OPS_KEY).await;
    let id = ops.cookies["inbox_console"].clone();
    let stored = console_sessions::table
        .select(console_sessions::id_hash)
        .load::<String>(&mut first.pool.get().unwrap())
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_ne!(
        stored[0], id,
        "the table holds a hash of the id, not the id"
    );

    // The other replica serves the page, and takes the form the first one drew.
    on(&mut ops, &second);
    let overview = ops.get("/console/").await;
    assert_eq!(overview.status, 200, "{}", overview.body);
    assert!(overview.body.contains("ops"));
    on(&mut ops, &first);
    let page = ops.get(&format!("/console/events/{event}")).await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.csrf(),
        overview.csrf(),
        "both replicas derive the same token"
    );
    on(&mut ops, &second);
    let replayed = ops
        .post(
            &format!("/console/events/{event}/replay"),
            &[("csrf", &page.csrf())],
        )
        .await;
    assert_eq!(replayed.status, 303, "{}", replayed.body);
    assert_eq!(status_of(&first, event), EventStatus::Received);

    // A restart signs no one out: a new process on the same database serves the cookie.
    drop(second);
    let restarted = spawn_replica(&first, None).await;
    on(&mut ops, &restarted);
    assert_eq!(ops.get("/console/").await.status, 200);

    // Signed out on this one, the cookie opens nothing on the first either.
    let csrf = ops.get("/console/").await.csrf();
    let out = ops.post("/console/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, 303);
    assert_eq!(out.header("location"), Some("/console/login"));
    assert!(stored_sessions(&first).is_empty(), "the row is gone");
    let mut kept_cookie = Browser::new(&first);
    kept_cookie.cookies.insert("inbox_console".into(), id);
    let refused = kept_cookie.get("/console/").await;
    assert_eq!(refused.status, 303);
    assert_eq!(refused.header("location"), Some("/console/login"));
    on(&mut kept_cookie, &restarted);
    assert_eq!(kept_cookie.get("/console/").await.status, 303);
}

async fn a_replica_without_the_key_refuses_its_sessions(first: TestApi) {
    let mut reader = Browser::signed_in(&first, READER_KEY).await;
    let mut ops = Browser::signed_in(&first, OPS_KEY).await;
    let without_reader = spawn_replica(&first, Some("reader")).await;

    on(&mut reader, &without_reader);
    let refused = reader.get("/console/").await;
    assert_eq!(refused.status, 303, "{}", refused.body);
    assert_eq!(refused.header("location"), Some("/console/login"));
    on(&mut ops, &without_reader);
    assert_eq!(
        ops.get("/console/").await.status,
        200,
        "other keys still in"
    );

    // The key is refused where it is not configured, but its row is left for the replicas that
    // still have it (a rolling deploy that adds a key must not end the new replicas' sessions).
    on(&mut reader, &first);
    assert_eq!(reader.get("/console/").await.status, 200);
}

async fn an_idle_or_old_session_ends_and_a_use_is_recorded_once_a_minute(api: TestApi) {
    let set = |column: &str, at: chrono::DateTime<chrono::Utc>| {
        let mut conn = api.pool.get().unwrap();
        let rows = match column {
            "last_seen_at" => diesel::update(console_sessions::table)
                .set(console_sessions::last_seen_at.eq(SqlTime(at)))
                .execute(&mut conn),
            _ => diesel::update(console_sessions::table)
                .set(console_sessions::started_at.eq(SqlTime(at)))
                .execute(&mut conn),
        };
        assert_eq!(rows.unwrap(), 1);
    };
    let mut ops = Browser::signed_in(&api, OPS_KEY).await;

    // Used 20 s ago: a page view writes nothing.
    let recent = now() - TimeDelta::seconds(20);
    set("last_seen_at", recent);
    assert_eq!(ops.get("/console/").await.status, 200);
    assert_eq!(stored_sessions(&api)[0].1, recent);
    // Used 2 minutes ago: the view moves the last use to now.
    let before = now();
    set("last_seen_at", before - TimeDelta::minutes(2));
    assert_eq!(ops.get("/console/").await.status, 200);
    assert!(stored_sessions(&api)[0].1 >= before);

    // Unused for 31 minutes: over, and deleted.
    set("last_seen_at", now() - TimeDelta::minutes(31));
    let idle = ops.get("/console/").await;
    assert_eq!(idle.status, 303);
    assert_eq!(idle.header("location"), Some("/console/login"));
    assert!(stored_sessions(&api).is_empty());

    // Signed in 12 hours ago, used a moment ago: over all the same.
    let mut ops = Browser::signed_in(&api, OPS_KEY).await;
    set("started_at", now() - TimeDelta::hours(12));
    assert_eq!(ops.get("/console/").await.status, 303);
    assert!(stored_sessions(&api).is_empty());
}

/// The database cut while a session is loaded: 503 with Retry-After on every console page, the
/// sign-in page included, never the sign-in page; the same cookie works once it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_database_is_503_not_a_sign_out() {
    let test = "console_sessions::a_cut_database_is_503_not_a_sign_out";
    let Some(api) = spawn_api_with(Backend::Postgres, test, true).await else {
        return;
    };
    let mut ops = Browser::signed_in(&api, OPS_KEY).await;
    assert_eq!(ops.get("/console/").await.status, 200);
    api.proxy.as_ref().unwrap().cut();
    for path in ["/console/", "/console/events", "/console/login"] {
        let started = Instant::now();
        let page = ops.get(path).await;
        assert_eq!(page.status, 503, "{path}: {}", page.body);
        assert_eq!(page.header("retry-after"), Some("5"), "{path}");
        assert!(started.elapsed() < Duration::from_secs(5), "{path}");
    }
    let csrf_less = ops.post("/console/logout", &[("csrf", "x")]).await;
    assert_eq!(
        csrf_less.status, 503,
        "the session cannot be read: 503 first"
    );
    assert!(ops.cookies.contains_key("inbox_console"), "still signed in");
    api.proxy.as_ref().unwrap().restore();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let page = ops.get("/console/").await;
        if page.status == 200 {
            break;
        }
        assert_eq!(page.status, 503, "{}", page.body);
        assert!(Instant::now() < deadline, "not back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
