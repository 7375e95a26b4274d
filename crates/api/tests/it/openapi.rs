//! docs/host-api.openapi.yaml stays true: every route the app serves is documented with the
//! statuses it can answer, every documented route is served, and the error codes are the app's.

use std::collections::BTreeSet;

use api::error::ApiError;
use serde_json::json;
use serde_yaml::Value;

use crate::helpers::{spawn_api, Backend, APP_KEY, OPS_KEY, READER_KEY};

fn document() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/host-api.openapi.yaml"
    );
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn statuses(doc: &Value, path: &str, method: &str) -> BTreeSet<String> {
    doc["paths"][path][method]["responses"]
        .as_mapping()
        .unwrap_or_else(|| panic!("{method} {path} is not documented"))
        .keys()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect()
}

fn set(codes: &[&str]) -> BTreeSet<String> {
    codes.iter().map(|c| c.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_matches_the_app() {
    let doc = document();
    assert_eq!(doc["openapi"].as_str(), Some("3.1.0"));
    // With a body: every refusal of the body; without: none of them.
    let with_body = ["400", "401", "403", "408", "413", "415", "422", "503"];
    let expected: Vec<(&str, &str, BTreeSet<String>)> = vec![
        (
            "/v1/collections",
            "post",
            set(&[&with_body[..], &["200", "201", "409"]].concat()),
        ),
        (
            "/v1/collections",
            "get",
            set(&["200", "401", "403", "422", "503"]),
        ),
        (
            "/v1/collections/{request_ref}",
            "get",
            set(&["200", "401", "403", "404", "422", "503"]),
        ),
        (
            "/v1/collections/{request_ref}/status",
            "post",
            set(&[&with_body[..], &["200", "404"]].concat()),
        ),
        (
            "/v1/events",
            "get",
            set(&["200", "401", "403", "422", "503"]),
        ),
        (
            "/v1/events/replay",
            "post",
            set(&[&with_body[..], &["202"]].concat()),
        ),
        (
            "/v1/events/{id}",
            "get",
            set(&["200", "401", "403", "404", "503"]),
        ),
        (
            "/v1/events/{id}/replay",
            "post",
            set(&["200", "202", "401", "403", "404", "503"]),
        ),
        (
            "/v1/notifications",
            "get",
            set(&["200", "401", "403", "422", "503"]),
        ),
        (
            "/v1/notifications/{id}",
            "get",
            set(&["200", "401", "403", "404", "503"]),
        ),
        (
            "/v1/notifications/{id}/replay",
            "post",
            set(&["200", "202", "401", "403", "404", "503"]),
        ),
        ("/healthz", "get", set(&["200"])),
        ("/readyz", "get", set(&["200", "503"])),
    ];
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_mapping()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_mapping().unwrap().keys().map(move |m| {
                (
                    path.as_str().unwrap().to_owned(),
                    m.as_str().unwrap().to_owned(),
                )
            })
        })
        .collect();
    let served: BTreeSet<(String, String)> = expected
        .iter()
        .map(|(p, m, _)| (p.to_string(), m.to_string()))
        .collect();
    assert_eq!(documented, served);
    for (path, method, codes) in &expected {
        assert_eq!(&statuses(&doc, path, method), codes, "{method} {path}");
    }
    let codes: BTreeSet<String> = doc["components"]["schemas"]["Error"]["properties"]["error"]
        ["properties"]["code"]["enum"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes, set(&ApiError::CODES));

    // Every documented route is served: without a key a /v1 route answers 401 (an unknown path
    // would be 404), the health routes 200.
    let api = spawn_api(Backend::Sqlite, "openapi::the_document_matches_the_app")
        .await
        .unwrap();
    for (path, method) in &served {
        let concrete = path
            .replace("{request_ref}", "REQ-1")
            .replace("{id}", &uuid::Uuid::new_v4().to_string());
        let answer = api
            .call(&method.to_uppercase(), &concrete, None, None)
            .await;
        let want = if path.starts_with("/v1/") { 401 } else { 200 };
        assert_eq!(answer.status, want, "{method} {path}");
    }
    // A created collection has every property the document requires, and nothing else.
    let body = json!({"request_ref": "REQ-doc", "amount": "1", "currency": "USD"});
    let created = api
        .call("POST", "/v1/collections", Some(APP_KEY), Some(body))
        .await;
    let required: BTreeSet<String> = doc["components"]["schemas"]["Collection"]["required"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    let sent: BTreeSet<String> = created.body.as_object().unwrap().keys().cloned().collect();
    assert_eq!(sent, required);
    let page = api.call("GET", "/v1/events", Some(READER_KEY), None).await;
    let keys: BTreeSet<String> = page.body.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, set(&["data", "has_more", "next_cursor"]));
    // So has a notification (an override writes one).
    let forced = json!({"status": "SUCCESS", "reason": "openapi"});
    let overridden = api
        .call(
            "POST",
            "/v1/collections/REQ-doc/status",
            Some(OPS_KEY),
            Some(forced),
        )
        .await;
    assert_eq!(overridden.status, 200);
    let page = api
        .call("GET", "/v1/notifications", Some(READER_KEY), None)
        .await;
    let required: BTreeSet<String> = doc["components"]["schemas"]["Notification"]["required"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    let sent: BTreeSet<String> = page.body["data"][0]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(sent, required);
}
