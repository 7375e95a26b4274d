//! Collections: idempotent create, conflicts named by field, invalid input named by field, read
//! with decisions, pages over more rows than one while rows change, the override audited.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::helpers::{TestApi, APP_KEY, OPS_KEY, READER_KEY};

on_both_backends!(
    create_is_idempotent_and_conflicts_name_the_fields,
    bad_input_is_refused_with_its_field,
    pages_cover_every_collection_while_rows_change,
    the_override_is_audited_with_the_key_name,
);

async fn create_is_idempotent_and_conflicts_name_the_fields(api: TestApi) {
    let body = json!({"request_ref": "REQ-1", "amount": "10250", "currency": "ngn",
                      "metadata": {"order": 7}});
    let created = api
        .call("POST", "/v1/collections", Some(APP_KEY), Some(body.clone()))
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(
        created.headers.get("location").map(String::as_str),
        Some("/v1/collections/REQ-1")
    );
    let c = &created.body;
    assert_eq!(c["request_ref"], "REQ-1");
    assert_eq!(c["status"], "INITIATED");
    assert_eq!(c["amount"], "10250.00");
    assert_eq!(c["currency"], "NGN");
    assert_eq!(c["metadata"], json!({"order": 7}));
    assert_eq!(c["version"], 1);

    // The same again (a retry): the same collection, 200.
    let again = api
        .call("POST", "/v1/collections", Some(APP_KEY), Some(body))
        .await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body["id"], c["id"]);
    // Written differently, meaning the same: still the same.
    let same = json!({"request_ref": "REQ-1", "amount": 10250.00, "currency": "NGN",
                      "metadata": {"order": 7}});
    assert_eq!(
        api.call("POST", "/v1/collections", Some(APP_KEY), Some(same))
            .await
            .status,
        200
    );

    let other = json!({"request_ref": "REQ-1", "amount": "10250.01", "currency": "NGN"});
    let conflict = api
        .call("POST", "/v1/collections", Some(APP_KEY), Some(other))
        .await;
    assert_eq!(conflict.status, 409);
    assert_eq!(conflict.body["error"]["code"], "conflict");
    assert_eq!(
        conflict.body["error"]["fields"],
        json!(["amount", "metadata"])
    );

    let read = api
        .call("GET", "/v1/collections/REQ-1", Some(READER_KEY), None)
        .await;
    assert_eq!(read.status, 200);
    assert_eq!(read.body["id"], c["id"]);
    assert!(read.body.get("decisions").is_none());
    let missing = api
        .call("GET", "/v1/collections/REQ-none", Some(READER_KEY), None)
        .await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body["error"]["code"], "not_found");

    // A reference with characters that need escaping in a path.
    let odd = json!({"request_ref": "order 7/a?b", "amount": "1", "currency": "USD"});
    let created = api
        .call("POST", "/v1/collections", Some(APP_KEY), Some(odd))
        .await;
    assert_eq!(created.status, 201);
    let location = created.headers["location"].clone();
    assert_eq!(
        api.call("GET", &location, Some(READER_KEY), None)
            .await
            .body["request_ref"],
        "order 7/a?b"
    );
}

async fn bad_input_is_refused_with_its_field(api: TestApi) {
    let cases: Vec<(Value, &str)> = vec![
        (json!({"amount": "1", "currency": "NGN"}), "request_ref"),
        (
            json!({"request_ref": "", "amount": "1", "currency": "NGN"}),
            "request_ref",
        ),
        (
            json!({"request_ref": "x".repeat(1025), "amount": "1", "currency": "NGN"}),
            "request_ref",
        ),
        (json!({"request_ref": "R", "currency": "NGN"}), "amount"),
        (json!({"request_ref": "R", "amount": "1"}), "currency"),
        (
            json!({"request_ref": "R", "amount": "1.001", "currency": "NGN"}),
            "amount",
        ),
        (
            json!({"request_ref": "R", "amount": "ten", "currency": "NGN"}),
            "amount",
        ),
        (
            json!({"request_ref": "R", "amount": true, "currency": "NGN"}),
            "amount",
        ),
        (
            json!({"request_ref": "R", "amount": "1", "currency": "XXQ"}),
            "currency",
        ),
        (
            json!({"request_ref": 7, "amount": "1", "currency": "NGN"}),
            "request_ref",
        ),
        (
            json!({"request_ref": "R", "amount": "1", "currency": "NGN", "metadata": [1]}),
            "metadata",
        ),
        (
            json!({"request_ref": "R", "amount": "1", "currency": "NGN", "colour": "red"}),
            "body",
        ),
    ];
    for (body, field) in cases {
        let answer = api
            .call("POST", "/v1/collections", Some(APP_KEY), Some(body.clone()))
            .await;
        assert_eq!(answer.status, 422, "{body}: {}", answer.body);
        assert_eq!(answer.body["error"]["code"], "invalid_request");
        assert_eq!(answer.body["error"]["field"], field, "{body}");
    }
    let auth = ("Authorization".to_owned(), format!("Bearer {APP_KEY}"));
    let json_type = ("Content-Type".to_owned(), "application/json".to_owned());
    let broken = api
        .raw(
            "POST",
            "/v1/collections",
            vec![auth.clone(), json_type.clone()],
            Some(b"{\"request_ref\":".to_vec()),
        )
        .await;
    assert_eq!(
        (broken.status, broken.body["error"]["code"].as_str()),
        (400, Some("invalid_json"))
    );
    let text = api
        .raw(
            "POST",
            "/v1/collections",
            vec![auth.clone(), ("Content-Type".into(), "text/plain".into())],
            Some(b"{}".to_vec()),
        )
        .await;
    assert_eq!(text.status, 415);
    let big = api
        .raw(
            "POST",
            "/v1/collections",
            vec![auth, json_type],
            Some(vec![b' '; 5000]),
        )
        .await;
    assert_eq!(big.status, 413);
    for query in [
        "limit=0",
        "limit=101",
        "limit=x",
        "status=PAID",
        "updated_after=yesterday",
        "cursor=abc",
        "colour=red",
        "limit=1&limit=2",
    ] {
        let answer = api
            .call(
                "GET",
                &format!("/v1/collections?{query}"),
                Some(READER_KEY),
                None,
            )
            .await;
        assert_eq!(answer.status, 422, "{query}: {}", answer.body);
    }
}

async fn page(api: &TestApi, query: &str) -> (Vec<Value>, bool, Option<String>) {
    let answer = api
        .call(
            "GET",
            &format!("/v1/collections?{query}"),
            Some(READER_KEY),
            None,
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let rows = answer.body["data"].as_array().unwrap().clone();
    let more = answer.body["has_more"].as_bool().unwrap();
    let next = answer.body["next_cursor"].as_str().map(str::to_owned);
    (rows, more, next)
}

async fn pages_cover_every_collection_while_rows_change(api: TestApi) {
    for n in 0..120 {
        let body = json!({"request_ref": format!("REQ-{n:03}"), "amount": "5", "currency": "USD"});
        assert_eq!(
            api.call("POST", "/v1/collections", Some(APP_KEY), Some(body))
                .await
                .status,
            201
        );
    }
    let mut seen: HashMap<String, Vec<String>> = HashMap::new();
    let (mut rows, mut more, mut next) = page(&api, "limit=50").await;
    let mut pages = 1;
    loop {
        for row in &rows {
            seen.entry(row["request_ref"].as_str().unwrap().to_owned())
                .or_default()
                .push(row["status"].as_str().unwrap().to_owned());
        }
        if pages == 1 {
            // One collection already read changes, and one not read yet.
            for reference in ["REQ-003", "REQ-100"] {
                let force = json!({"status": "PENDING", "reason": "test"});
                let path = format!("/v1/collections/{reference}/status");
                assert_eq!(
                    api.call("POST", &path, Some(OPS_KEY), Some(force))
                        .await
                        .status,
                    200
                );
            }
        }
        if !more {
            break;
        }
        (rows, more, next) =
            page(&api, &format!("limit=50&cursor={}", next.clone().unwrap())).await;
        pages += 1;
        assert!(pages < 10);
    }
    assert_eq!(seen.len(), 120, "every collection is read");
    assert_eq!(
        seen["REQ-003"],
        ["INITIATED", "PENDING"],
        "read again, changed"
    );
    assert_eq!(seen["REQ-100"], ["PENDING"]);
    assert_eq!(pages, 3);
    // The last cursor is where a reader of changes goes on from: nothing new, nothing listed.
    let (rows, more, again) = page(&api, &format!("cursor={}", next.clone().unwrap())).await;
    assert!(rows.is_empty() && !more);
    assert_eq!(again, next);
    let force = json!({"status": "PROCESSING", "reason": "test"});
    api.call(
        "POST",
        "/v1/collections/REQ-050/status",
        Some(OPS_KEY),
        Some(force),
    )
    .await;
    let (rows, _, _) = page(&api, &format!("cursor={}", next.unwrap())).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["request_ref"], "REQ-050");
    let (pending, _, _) = page(&api, "status=pending").await;
    let refs: Vec<&str> = pending
        .iter()
        .map(|r| r["request_ref"].as_str().unwrap())
        .collect();
    assert_eq!(refs, ["REQ-003", "REQ-100"]);
}

async fn the_override_is_audited_with_the_key_name(api: TestApi) {
    let body = json!({"request_ref": "REQ-9", "amount": "100", "currency": "KES"});
    api.call("POST", "/v1/collections", Some(APP_KEY), Some(body))
        .await;
    let path = "/v1/collections/REQ-9/status";
    let missing = api
        .call(
            "POST",
            path,
            Some(OPS_KEY),
            Some(json!({"status": "SUCCESS"})),
        )
        .await;
    assert_eq!(
        (missing.status, missing.body["error"]["field"].as_str()),
        (422, Some("reason"))
    );
    let bad = api
        .call(
            "POST",
            path,
            Some(OPS_KEY),
            Some(json!({"status": "PAID", "reason": "x"})),
        )
        .await;
    assert_eq!(
        (bad.status, bad.body["error"]["field"].as_str()),
        (422, Some("status"))
    );
    let force = json!({"status": "success", "reason": "confirmed with the bank"});
    let forced = api.call("POST", path, Some(OPS_KEY), Some(force)).await;
    assert_eq!(forced.status, 200, "{}", forced.body);
    assert_eq!(forced.body["outcome"], "override");
    assert_eq!(forced.body["collection"]["status"], "SUCCESS");
    assert_eq!(forced.body["collection"]["version"], 2);
    let read = api
        .call(
            "GET",
            "/v1/collections/REQ-9?include=decisions",
            Some(READER_KEY),
            None,
        )
        .await;
    let decisions = read.body["decisions"].as_array().unwrap();
    assert_eq!(decisions.len(), 1);
    assert_eq!(decisions[0]["outcome"], "override");
    assert_eq!(decisions[0]["actor"], "ops");
    assert_eq!(decisions[0]["reason"], "confirmed with the bank");
    assert_eq!(decisions[0]["from_status"], "INITIATED");
    assert_eq!(decisions[0]["to_status"], "SUCCESS");
    let gone = api
        .call(
            "POST",
            "/v1/collections/REQ-none/status",
            Some(OPS_KEY),
            Some(json!({"status": "FAILED", "reason": "x"})),
        )
        .await;
    assert_eq!(gone.status, 404);
    let include = api
        .call(
            "GET",
            "/v1/collections/REQ-9?include=everything",
            Some(READER_KEY),
            None,
        )
        .await;
    assert_eq!(include.status, 422);
}
