//! Group commit: deliveries queued together are recorded in one transaction, and a row the
//! database refuses fails alone.

use std::time::Duration;

use diesel::connection::SimpleConnection;
use receiver::recorder::{Delivery, Recorder, RecorderSettings};
use serde_json::json;

use crate::helpers::{captured_logs, spawn_app, Backend};

fn delivery(key: &str, payload: serde_json::Value) -> Delivery {
    Delivery {
        id: uuid::Uuid::new_v4(),
        provider: "demo".into(),
        event_id: Some(key.into()),
        dedup_key: key.into(),
        request_ref: None,
        payload,
        payload_json: None,
        signature: None,
        received_at: persistence::now(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_row_fails_alone_and_its_batch_mates_are_recorded() {
    let Some(app) = spawn_app(Backend::Postgres, "group_commit::a_bad_row_fails_alone").await
    else {
        return;
    };
    let recorder = Recorder::start(
        app.pool.clone(),
        RecorderSettings {
            writers: 1,
            max_batch: 100,
            queue_capacity: 100,
            answer_timeout: Duration::from_secs(10),
        },
    )
    .unwrap();

    // Hold the table so that the writer stalls on its first delivery while the rest queue up.
    let mut blocker = app.pool.get().unwrap();
    blocker
        .batch_execute("BEGIN; LOCK TABLE webhook_events IN EXCLUSIVE MODE")
        .unwrap();
    let first = tokio::spawn({
        let recorder = recorder.clone();
        async move { recorder.record(delivery("first", json!({}))).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await; // the writer is now waiting on the lock
    let mut queued = Vec::new();
    for n in 0..9 {
        let recorder = recorder.clone();
        queued.push(tokio::spawn(async move {
            recorder
                .record(delivery(&format!("good-{n}"), json!({"n": n})))
                .await
        }));
    }
    // PostgreSQL's jsonb cannot hold a NUL character: this row is refused by the database.
    let bad = tokio::spawn({
        let recorder = recorder.clone();
        async move {
            recorder
                .record(delivery("bad", json!({"text": "nul\u{0}byte"})))
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    blocker.batch_execute("COMMIT").unwrap();

    assert!(first.await.unwrap().is_ok());
    for task in queued {
        let recorded = task.await.unwrap().expect("a good row is recorded");
        assert!(!recorded.is_duplicate());
    }
    assert!(bad.await.unwrap().is_err(), "the bad row fails");
    assert_eq!(app.events().len(), 10);
    assert!(
        captured_logs().contains("batch refused; recording its rows one by one"),
        "the good rows were in the refused batch"
    );
}
