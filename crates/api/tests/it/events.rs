//! Events: the list newest first with filters and cursors, one event with its payload, replay one
//! and replay by filter; on PostgreSQL a replayed event is picked up at once by an idle processor
//! (NOTIFY), not at its next poll.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::TimeDelta;
use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use persistence::{
    find_event, mark_failed, now, record_event, EventStatus, NewWebhookEvent, NEW_EVENTS_CHANNEL,
};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::helpers::{Backend, TestApi, APP_KEY, OPS_KEY, READER_KEY};

on_both_backends!(events_are_listed_read_and_replayed);

fn record(api: &TestApi, provider: &str, key: &str, reference: &str, minutes_ago: i64) -> Uuid {
    let payload = json!({"id": key, "reference": reference, "status": "success"});
    let at = now() - TimeDelta::minutes(minutes_ago);
    let new = NewWebhookEvent::received(
        provider,
        Some(key),
        key,
        Some(reference),
        &payload,
        None,
        at,
    );
    record_event(&mut api.pool.get().unwrap(), &new)
        .unwrap()
        .event()
        .id
}

async fn events_are_listed_read_and_replayed(api: TestApi) {
    let mut ids = Vec::new();
    for n in 0..7 {
        let provider = if n % 2 == 0 { "stripe" } else { "paystack" };
        let id = record(&api, provider, &format!("evt-{n}"), "REQ-1", 60 - n);
        ids.push(id);
    }
    for id in &ids[..4] {
        mark_failed(&mut api.pool.get().unwrap(), *id, "no collection", now()).unwrap();
    }
    // Newest first, in pages.
    let first = api
        .call("GET", "/v1/events?limit=4", Some(READER_KEY), None)
        .await;
    assert_eq!(first.status, 200, "{}", first.body);
    let listed: Vec<&str> = first.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    let newest: Vec<String> = ids.iter().rev().take(4).map(Uuid::to_string).collect();
    assert_eq!(listed, newest);
    assert!(
        first.body["data"][0].get("payload").is_none(),
        "lists leave payloads out"
    );
    assert_eq!(first.body["has_more"], true);
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let rest = api
        .call(
            "GET",
            &format!("/v1/events?limit=4&cursor={cursor}"),
            Some(READER_KEY),
            None,
        )
        .await;
    assert_eq!(rest.body["data"].as_array().unwrap().len(), 3);
    assert_eq!(rest.body["has_more"], false);
    assert_eq!(rest.body["next_cursor"], json!(null));
    let failed = api
        .call(
            "GET",
            "/v1/events?status=failed&provider=stripe",
            Some(READER_KEY),
            None,
        )
        .await;
    assert_eq!(failed.body["data"].as_array().unwrap().len(), 2);
    let by_ref = api
        .call(
            "GET",
            "/v1/events?request_ref=REQ-1&limit=100",
            Some(READER_KEY),
            None,
        )
        .await;
    assert_eq!(by_ref.body["data"].as_array().unwrap().len(), 7);
    let wrong = api
        .call(
            "GET",
            &format!("/v1/collections?cursor={cursor}"),
            Some(READER_KEY),
            None,
        )
        .await;
    assert_eq!(
        wrong.status, 422,
        "an events cursor is not a collections cursor"
    );

    // One event, with its payload and without the signature.
    let one = api
        .call(
            "GET",
            &format!("/v1/events/{}", ids[0]),
            Some(READER_KEY),
            None,
        )
        .await;
    assert_eq!(one.status, 200);
    assert_eq!(one.body["status"], "FAILED");
    assert_eq!(one.body["last_error"], "no collection");
    assert_eq!(one.body["payload"]["id"], "evt-0");
    assert!(one.body.get("signature").is_none());
    for missing in [Uuid::new_v4().to_string(), "not-a-uuid".to_owned()] {
        assert_eq!(
            api.call(
                "GET",
                &format!("/v1/events/{missing}"),
                Some(READER_KEY),
                None
            )
            .await
            .status,
            404
        );
    }

    // Replay one: admin only; a pending event is left as it is.
    let path = format!("/v1/events/{}/replay", ids[0]);
    assert_eq!(
        api.call("POST", &path, Some(APP_KEY), None).await.status,
        403
    );
    let replayed = api.call("POST", &path, Some(OPS_KEY), None).await;
    assert_eq!(replayed.status, 202, "{}", replayed.body);
    assert_eq!(replayed.body["replayed"], true);
    assert_eq!(replayed.body["event"]["status"], "RECEIVED");
    assert!(replayed.body["event"]["last_error"]
        .as_str()
        .unwrap()
        .contains("by key ops"));
    let again = api.call("POST", &path, Some(OPS_KEY), None).await;
    assert_eq!(
        (again.status, again.body["replayed"].as_bool()),
        (200, Some(false))
    );

    // Replay by filter: how many were queued.
    let filter = json!({"status": "FAILED", "provider": "paystack"});
    let bulk = api
        .call("POST", "/v1/events/replay", Some(OPS_KEY), Some(filter))
        .await;
    assert_eq!(bulk.status, 202, "{}", bulk.body);
    assert_eq!(bulk.body["replayed"], 2);
    let rest = json!({"received_before": (now() - TimeDelta::minutes(30)).to_rfc3339()});
    assert_eq!(
        api.call("POST", "/v1/events/replay", Some(OPS_KEY), Some(rest))
            .await
            .body["replayed"],
        1
    );
    let pending = json!({"status": "RECEIVED"});
    assert_eq!(
        api.call("POST", "/v1/events/replay", Some(OPS_KEY), Some(pending))
            .await
            .status,
        422
    );
    let failed_left = api
        .call("GET", "/v1/events?status=FAILED", Some(READER_KEY), None)
        .await;
    assert_eq!(failed_left.body["data"].as_array().unwrap().len(), 0);
}

/// A processor that polls once a minute picks a replayed event up within seconds: only the
/// replay's notification can explain it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_event_is_picked_up_at_once() {
    let test = "events::a_replayed_event_is_picked_up_at_once";
    let Some(api) = crate::helpers::spawn_api(Backend::Postgres, test).await else {
        return;
    };
    let collection = json!({"request_ref": "REQ-wake", "amount": "5.00", "currency": "USD"});
    assert_eq!(
        api.call("POST", "/v1/collections", Some(APP_KEY), Some(collection))
            .await
            .status,
        201
    );
    // The event failed while its collection did not exist yet; now it does.
    let id = record(&api, "demo", "evt-wake", "REQ-wake", 5);
    mark_failed(&mut api.pool.get().unwrap(), id, "no collection", now()).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("processor.toml");
    std::fs::write(
        &path,
        format!(
            "[database]\nurl = \"{}\"\npool_size = 4\npool_min_idle = 0\nrun_migrations = false\n\
             [processor]\nmetrics_addr = \"127.0.0.1:0\"\npoll_interval_ms = 60000\n\
             [providers.demo]\npreset = \"generic\"\nsignature = \"none\"\namount_check = \"off\"\n",
            api.url
        ),
    )
    .unwrap();
    let loaded = inbox_config::load_from(
        Some(&path),
        &std::collections::HashMap::<String, String>::new(),
    )
    .unwrap();
    let (processor, _) = processor::Processor::build(loaded.settings).await.unwrap();
    let processor = Arc::new(processor);
    let cancel = CancellationToken::new();
    let task = tokio::spawn({
        let (processor, cancel) = (processor.clone(), cancel.clone());
        async move { processor.run(cancel).await }
    });
    // Let it finish its first look for work and go idle.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // The channel is the database's, shared with every other test's receivers: the proof that
    // the replay itself notified is a notification naming this event.
    let mut listener = PgConnection::establish(&api.url).unwrap();
    listener
        .batch_execute(&format!("LISTEN {NEW_EVENTS_CHANNEL}"))
        .unwrap();
    let replayed = api
        .call(
            "POST",
            &format!("/v1/events/{id}/replay"),
            Some(OPS_KEY),
            None,
        )
        .await;
    assert_eq!(replayed.status, 202);
    let sent = Instant::now();
    let wanted = id.to_string();
    'notified: loop {
        for notification in listener.notifications_iter() {
            if notification.unwrap().payload == wanted {
                break 'notified;
            }
        }
        assert!(
            sent.elapsed() < Duration::from_secs(5),
            "the replay sent no notification"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    loop {
        let event = find_event(&mut api.pool.get().unwrap(), id)
            .unwrap()
            .unwrap();
        if event.status == EventStatus::Processed {
            break;
        }
        assert!(
            sent.elapsed() < Duration::from_secs(15),
            "not picked up: {event:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let read = api
        .call("GET", "/v1/collections/REQ-wake", Some(READER_KEY), None)
        .await;
    assert_eq!(read.body["status"], "SUCCESS");
    cancel.cancel();
    task.await.unwrap().unwrap();
}
