//! A new event wakes processors: PostgreSQL NOTIFY with the event's id, after the commit.

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::Connection;
use domain::provider::Preset;

use crate::helpers::{spawn_app, Backend, DEMO_SECRET};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_event_is_announced_and_a_repeat_is_not() {
    let Some(app) = spawn_app(Backend::Postgres, "notify::a_new_event_is_announced").await else {
        return;
    };
    let url = test_support::pg_url();
    let mut listener = diesel::PgConnection::establish(&url).unwrap();
    listener
        .batch_execute(&format!("LISTEN {}", persistence::NEW_EVENTS_CHANNEL))
        .unwrap();

    let body = br#"{"event_id":"evt_notify"}"#;
    let first = app
        .post_signed("demo", Preset::Generic, DEMO_SECRET, body)
        .await;
    assert_eq!(first.status, 202);
    let id = first.json()["id"].as_str().unwrap().to_owned();
    let repeat = app
        .post_signed("demo", Preset::Generic, DEMO_SECRET, body)
        .await;
    assert_eq!(repeat.status, 200);

    // Other tests share the channel: count only notifications naming our event.
    let mut ours = 0;
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        for notification in listener.notifications_iter() {
            if notification.unwrap().payload == id {
                ours += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        ours, 1,
        "one notification for the new event, none for its repeat"
    );
}
