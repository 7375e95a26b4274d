//! docs/openapi.yaml stays true: every route, status and error code the app has is documented,
//! and the documented answer shapes are the ones the app sends.

use std::collections::BTreeSet;

use domain::provider::Preset;
use receiver::error::ReceiveError;
use serde_yaml::Value;

use crate::helpers::{spawn_app, Backend, DEMO_SECRET};
use crate::http;

fn document() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.yaml");
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn strings(value: &Value) -> BTreeSet<String> {
    value
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

fn statuses(doc: &Value, path: &str, method: &str) -> BTreeSet<String> {
    doc["paths"][path][method]["responses"]
        .as_mapping()
        .unwrap_or_else(|| panic!("{method} {path} is not documented"))
        .keys()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_matches_the_app() {
    let doc = document();
    assert_eq!(doc["openapi"].as_str(), Some("3.1.0"));
    let expected: BTreeSet<String> = [
        "200", "202", "400", "401", "404", "408", "413", "415", "503",
    ]
    .map(String::from)
    .into();
    assert_eq!(statuses(&doc, "/webhooks/{provider}", "post"), expected);
    assert_eq!(
        statuses(&doc, "/healthz", "get"),
        BTreeSet::from(["200".to_owned()])
    );
    assert_eq!(
        statuses(&doc, "/readyz", "get"),
        BTreeSet::from(["200".to_owned(), "503".to_owned()])
    );
    assert_eq!(
        statuses(&doc, "/metrics", "get"),
        BTreeSet::from(["200".to_owned()])
    );

    let codes = strings(
        &doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"],
    );
    let app_codes: BTreeSet<String> = ReceiveError::CODES.iter().map(|c| c.to_string()).collect();
    assert_eq!(codes, app_codes);

    // The answer shapes, against real answers.
    let app = spawn_app(Backend::Sqlite, "openapi").await.unwrap();
    let answer = app
        .post_signed(
            "demo",
            Preset::Generic,
            DEMO_SECRET,
            br#"{"event_id":"evt_doc"}"#,
        )
        .await
        .json();
    let sent: BTreeSet<String> = answer.as_object().unwrap().keys().cloned().collect();
    let event_answer = &doc["components"]["schemas"]["EventAnswer"];
    assert_eq!(strings(&event_answer["required"]), sent);
    let documented: BTreeSet<String> = event_answer["properties"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(documented, sent);
    let error = app.post("nobody", &[], b"").await.json();
    let keys: BTreeSet<String> = error["error"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from(["code".to_owned(), "message".to_owned()])
    );
    assert_eq!(
        http::get(app.port, "/readyz").await.json()["status"],
        "ready"
    );
}
