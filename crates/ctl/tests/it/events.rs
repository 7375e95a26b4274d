//! Events: list with filters, show, replay; stats.

use chrono::TimeDelta;
use persistence::{mark_failed, now, record_event, NewWebhookEvent};
use serde_json::json;

use crate::helpers::Ctl;

#[test]
fn list_show_replay_and_stats() {
    let ctl = Ctl::sqlite();
    ctl.run(&["migrate"]).ok();
    let mut conn = ctl.connect();
    let payload = json!({"event_id": "evt_1", "request_ref": "REQ-1", "status": "success"});
    let first = NewWebhookEvent::received(
        "demo",
        Some("evt_1"),
        "evt_1",
        Some("REQ-1"),
        &payload,
        None,
        now() - TimeDelta::hours(3),
    );
    record_event(&mut conn, &first).unwrap();
    record_event(
        &mut conn,
        &NewWebhookEvent {
            id: uuid::Uuid::new_v4(),
            ..first.clone()
        },
    )
    .unwrap();
    let failed =
        NewWebhookEvent::received("other", Some("evt_2"), "evt_2", None, &payload, None, now());
    record_event(&mut conn, &failed).unwrap();
    mark_failed(&mut conn, failed.id, "no request_ref", now()).unwrap();

    let all = ctl.run(&["--json", "events", "list"]).ok().json();
    assert_eq!(all.as_array().unwrap().len(), 2);
    let only_failed = ctl
        .run(&["--json", "events", "list", "--status", "failed"])
        .ok()
        .json();
    assert_eq!(only_failed[0]["id"], failed.id.to_string());
    let recent = ctl
        .run(&["--json", "events", "list", "--since", "1h"])
        .ok()
        .json();
    assert_eq!(recent.as_array().unwrap().len(), 1);
    let by_provider = ctl
        .run(&["--json", "events", "list", "--provider", "demo"])
        .ok()
        .json();
    assert_eq!(by_provider[0]["event_id"], "evt_1");
    let text = ctl.run(&["events", "list"]).ok().stdout;
    assert!(text.contains("error=no request_ref"), "{text}");

    let shown = ctl
        .run(&["--json", "events", "show", &failed.id.to_string()])
        .ok()
        .json();
    assert_eq!(shown["status"], "FAILED");
    assert_eq!(shown["payload"]["event_id"], "evt_1");

    let stats = ctl.run(&["--json", "stats"]).ok().json();
    assert_eq!(stats["events"]["RECEIVED"], 1);
    assert_eq!(stats["events"]["FAILED"], 1);
    assert_eq!(stats["duplicates_suppressed"], 1);
    assert!(stats["oldest_pending_age_secs"].as_f64().unwrap() >= 3.0 * 3600.0 - 5.0);

    ctl.run(&[
        "events",
        "replay",
        &failed.id.to_string(),
        "--reason",
        "request_ref fixed upstream",
    ])
    .ok();
    let replayed = ctl
        .run(&["--json", "events", "show", &failed.id.to_string()])
        .ok()
        .json();
    assert_eq!(replayed["status"], "RECEIVED");
    assert_eq!(replayed["attempts"], 0);
    let trail = replayed["last_error"].as_str().unwrap();
    assert!(
        trail.starts_with("replayed by operator:alice: request_ref fixed upstream (was FAILED"),
        "{trail}"
    );
    let again = ctl.run(&["events", "replay", &failed.id.to_string()]);
    assert_eq!(
        again.code, 1,
        "a RECEIVED event is not replayed: {}",
        again.stderr
    );
}
