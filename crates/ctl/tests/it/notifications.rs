//! Notifications: list with filters, show, replay (FAILED or DELIVERED back to PENDING; a
//! PENDING or unknown one refused), on both backends. The notifications are written by
//! decisions taken with `inboxctl collections set-status`, as an operator's would be.

use persistence::{mark_delivered, mark_undelivered, now};
use serde_json::Value;

use crate::helpers::Ctl;

#[test]
fn list_show_and_replay_on_sqlite() {
    list_show_and_replay(Ctl::sqlite());
}

#[test]
fn list_show_and_replay_on_postgres() {
    if let Some(ctl) = Ctl::postgres("notifications::list_show_and_replay_on_postgres") {
        list_show_and_replay(ctl);
    }
}

fn ids(listed: &Value) -> Vec<String> {
    listed
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_owned())
        .collect()
}

fn list_show_and_replay(ctl: Ctl) {
    ctl.run(&["migrate"]).ok();
    let empty = ctl.run(&["notifications", "list"]).ok().stdout;
    assert_eq!(empty.trim(), "(no notifications)");
    for reference in ["REQ-1", "REQ-2"] {
        ctl.run(&["collections", "create", "--request-ref", reference])
            .ok();
    }
    // Three changes, three notifications; a refused change tells nothing.
    ctl.run(&["collections", "set-status", "REQ-1", "PENDING"])
        .ok();
    ctl.run(&["collections", "set-status", "REQ-1", "SUCCESS"])
        .ok();
    assert_eq!(
        ctl.run(&["collections", "set-status", "REQ-1", "PENDING"])
            .code,
        1
    );
    ctl.run(&["collections", "set-status", "REQ-2", "FAILED"])
        .ok();

    let all = ctl.run(&["--json", "notifications", "list"]).ok().json();
    let kinds: Vec<(&str, &str)> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["type"].as_str().unwrap(),
                n["request_ref"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("collection.failed", "REQ-2"),
            ("collection.succeeded", "REQ-1"),
            ("collection.updated", "REQ-1"),
        ],
        "newest first"
    );
    assert!(all
        .as_array()
        .unwrap()
        .iter()
        .all(|n| n["status"] == "PENDING" && n["attempts"] == 0));
    assert_eq!(all[1]["payload"]["data"]["version"], 3);
    let [failed, succeeded, updated] = <[String; 3]>::try_from(ids(&all)).unwrap();

    // One delivered, one failed for good, as the dispatcher would leave them.
    let mut conn = ctl.connect();
    mark_delivered(&mut conn, &[succeeded.parse().unwrap()], now()).unwrap();
    mark_undelivered(&mut conn, failed.parse().unwrap(), "HTTP 500: down", None).unwrap();
    drop(conn);

    let only_failed = ctl
        .run(&["--json", "notifications", "list", "--status", "failed"])
        .ok()
        .json();
    assert_eq!(ids(&only_failed), [failed.as_str()]);
    let of_req_1 = ctl
        .run(&["--json", "notifications", "list", "--request-ref", "REQ-1"])
        .ok()
        .json();
    assert_eq!(ids(&of_req_1), [succeeded.as_str(), updated.as_str()]);
    let limited = ctl
        .run(&["--json", "notifications", "list", "--limit", "1"])
        .ok()
        .json();
    assert_eq!(ids(&limited), [failed.as_str()]);
    let text = ctl.run(&["notifications", "list"]).ok().stdout;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[0].starts_with(&failed)
            && lines[0].contains("FAILED")
            && lines[0].contains("collection.failed")
            && lines[0].contains("request_ref=REQ-2")
            && lines[0].contains("error=HTTP 500: down"),
        "{text}"
    );
    assert!(
        lines[1].contains("DELIVERED") && lines[1].contains("version=3"),
        "{text}"
    );
    let bad = ctl.run(&["notifications", "list", "--status", "LOST"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(
        bad.stderr.contains("PENDING, DELIVERED or FAILED"),
        "{}",
        bad.stderr
    );

    let shown = ctl
        .run(&["--json", "notifications", "show", &succeeded])
        .ok()
        .json();
    assert_eq!(shown["status"], "DELIVERED");
    assert_eq!(shown["request_ref"], "REQ-1");
    assert!(shown["delivered_at"].is_string());
    assert_eq!(shown["payload"]["type"], "collection.succeeded");
    assert_eq!(shown["payload"]["data"]["previous_status"], "PENDING");
    let text = ctl.run(&["notifications", "show", &failed]).ok().stdout;
    assert!(
        text.contains("status           FAILED")
            && text.contains("last_error       HTTP 500: down")
            && text.contains(r#""status":"FAILED""#),
        "{text}"
    );
    let unknown = uuid::Uuid::new_v4().to_string();
    let missing = ctl.run(&["notifications", "show", &unknown]);
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains("no notification"),
        "{}",
        missing.stderr
    );

    // Replay: a FAILED and a DELIVERED one go back to PENDING; a PENDING or unknown one is
    // refused with exit 1.
    let replayed = ctl.run(&["notifications", "replay", &failed]).ok().stdout;
    assert!(replayed.contains("PENDING again"), "{replayed}");
    let after = ctl
        .run(&["--json", "notifications", "show", &failed])
        .ok()
        .json();
    assert_eq!(after["status"], "PENDING");
    assert_eq!(after["attempts"], 0);
    let again = ctl.run(&["notifications", "replay", &failed]);
    assert_eq!(again.code, 1, "{}", again.stdout);
    assert!(again.stderr.contains("PENDING already"), "{}", again.stderr);
    let delivered_again = ctl
        .run(&["--json", "notifications", "replay", &succeeded])
        .ok()
        .json();
    assert_eq!(delivered_again["status"], "PENDING");
    assert_eq!(delivered_again["delivered_at"], Value::Null);
    let pending = ctl.run(&["notifications", "replay", &updated]);
    assert_eq!(pending.code, 1);
    let nobody = ctl.run(&["notifications", "replay", &unknown]);
    assert_eq!(nobody.code, 1);
    assert!(
        nobody.stderr.contains("no notification"),
        "{}",
        nobody.stderr
    );
    assert_eq!(ctl.run(&["notifications", "replay", "not-a-uuid"]).code, 2);
}
