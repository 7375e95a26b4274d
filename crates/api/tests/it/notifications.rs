//! Notifications: the list newest first with filters and cursors, one with its body, and the
//! replay of a finished one (admin only); the notifications are written by overrides made
//! through the API itself.

use std::collections::BTreeSet;

use persistence::{mark_undelivered, now};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{TestApi, APP_KEY, OPS_KEY, READER_KEY};

on_both_backends!(notifications_are_listed_read_and_replayed);

async fn override_to(api: &TestApi, reference: &str, status: &str) {
    let body = json!({"status": status, "reason": "test"});
    let path = format!("/v1/collections/{reference}/status");
    let answer = api.call("POST", &path, Some(OPS_KEY), Some(body)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
}

fn ids(page: &Value) -> Vec<&str> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect()
}

async fn notifications_are_listed_read_and_replayed(api: TestApi) {
    let empty = api
        .call("GET", "/v1/notifications", Some(READER_KEY), None)
        .await;
    assert_eq!(empty.status, 200, "{}", empty.body);
    assert_eq!(
        empty.body,
        json!({"data": [], "has_more": false, "next_cursor": null})
    );
    for reference in ["REQ-1", "REQ-2"] {
        let body = json!({"request_ref": reference, "amount": "5.00", "currency": "USD"});
        let created = api
            .call("POST", "/v1/collections", Some(APP_KEY), Some(body))
            .await;
        assert_eq!(created.status, 201);
    }
    override_to(&api, "REQ-1", "PENDING").await;
    override_to(&api, "REQ-1", "SUCCESS").await;
    override_to(&api, "REQ-2", "FAILED").await;

    // Newest first, in pages, each with its delivery state, reference and body.
    let first = api
        .call("GET", "/v1/notifications?limit=2", Some(READER_KEY), None)
        .await;
    assert_eq!(first.status, 200, "{}", first.body);
    let newest = &first.body["data"][0];
    let keys: BTreeSet<&str> = newest
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "id",
            "type",
            "status",
            "request_ref",
            "attempts",
            "next_attempt_at",
            "last_error",
            "delivered_at",
            "created_at",
            "payload",
        ])
    );
    assert_eq!(newest["type"], "collection.failed");
    assert_eq!(newest["request_ref"], "REQ-2");
    assert_eq!(newest["status"], "PENDING");
    assert_eq!(newest["attempts"], 0);
    assert_eq!(newest["payload"]["data"]["status"], "FAILED");
    assert_eq!(newest["payload"]["data"]["amount"], "5.00");
    assert_eq!(first.body["data"][1]["type"], "collection.succeeded");
    assert_eq!(first.body["has_more"], true);
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let rest = api
        .call(
            "GET",
            &format!("/v1/notifications?limit=2&cursor={cursor}"),
            Some(READER_KEY),
            None,
        )
        .await;
    assert_eq!(rest.body["data"][0]["type"], "collection.updated");
    assert_eq!(rest.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(rest.body["has_more"], false);
    assert_eq!(rest.body["next_cursor"], Value::Null);
    let failed_id = ids(&first.body)[0].to_owned();
    let succeeded_id = ids(&first.body)[1].to_owned();

    // Filters; a cursor of another list and an unknown status are refused.
    mark_undelivered(
        &mut api.pool.get().unwrap(),
        failed_id.parse().unwrap(),
        "HTTP 503: busy",
        None,
    )
    .unwrap();
    let failed = api
        .call(
            "GET",
            "/v1/notifications?status=failed",
            Some(READER_KEY),
            None,
        )
        .await;
    assert_eq!(ids(&failed.body), [failed_id.as_str()]);
    assert_eq!(failed.body["data"][0]["last_error"], "HTTP 503: busy");
    let of_req_1 = api
        .call(
            "GET",
            "/v1/notifications?request_ref=REQ-1&status=PENDING",
            Some(READER_KEY),
            None,
        )
        .await;
    assert_eq!(of_req_1.body["data"].as_array().unwrap().len(), 2);
    for bad in [
        "/v1/notifications?status=LOST".to_owned(),
        format!("/v1/notifications?cursor={}", encode_events_cursor()),
        "/v1/notifications?limit=0".to_owned(),
        "/v1/notifications?provider=stripe".to_owned(),
    ] {
        let answer = api.call("GET", &bad, Some(READER_KEY), None).await;
        assert_eq!(answer.status, 422, "{bad}: {}", answer.body);
    }
    assert_eq!(
        api.call("GET", "/v1/notifications", None, None)
            .await
            .status,
        401
    );

    // One, by id.
    let one = api
        .call(
            "GET",
            &format!("/v1/notifications/{succeeded_id}"),
            Some(READER_KEY),
            None,
        )
        .await;
    assert_eq!(one.status, 200);
    assert_eq!(one.body, first.body["data"][1]);
    for missing in [Uuid::new_v4().to_string(), "not-a-uuid".to_owned()] {
        let path = format!("/v1/notifications/{missing}");
        let answer = api.call("GET", &path, Some(READER_KEY), None).await;
        assert_eq!(answer.status, 404);
        assert_eq!(answer.body["error"]["code"], "not_found");
    }

    // Replay: admin only; a FAILED one is PENDING again (202), a pending one is left (200).
    let path = format!("/v1/notifications/{failed_id}/replay");
    for key in [APP_KEY, READER_KEY] {
        assert_eq!(api.call("POST", &path, Some(key), None).await.status, 403);
    }
    let replayed = api.call("POST", &path, Some(OPS_KEY), None).await;
    assert_eq!(replayed.status, 202, "{}", replayed.body);
    assert_eq!(replayed.body["replayed"], true);
    assert_eq!(replayed.body["notification"]["status"], "PENDING");
    assert_eq!(replayed.body["notification"]["attempts"], 0);
    assert_eq!(replayed.body["notification"]["id"], failed_id.as_str());
    let again = api.call("POST", &path, Some(OPS_KEY), None).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body["replayed"], false);
    assert_eq!(again.body["notification"]["status"], "PENDING");
    let unknown = format!("/v1/notifications/{}/replay", Uuid::new_v4());
    assert_eq!(
        api.call("POST", &unknown, Some(OPS_KEY), None).await.status,
        404
    );
    let wrong_method = api
        .call("DELETE", "/v1/notifications", Some(OPS_KEY), None)
        .await;
    assert_eq!(wrong_method.status, 405);
}

/// A cursor of the events list, which the notifications list must refuse.
fn encode_events_cursor() -> String {
    api::cursor::encode(
        api::cursor::List::Events,
        persistence::Cursor {
            at: now(),
            id: Uuid::new_v4(),
        },
    )
}
