//! Notifications delivered to a real endpoint on port 0, their signatures verified with the
//! Standard Webhooks project's own library: delivered once; a failing endpoint gets it on a later
//! attempt; one that never answers 2xx ends FAILED and a replay delivers it; a collection's
//! changes arrive in version order.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use domain::signature::Scheme;
use domain::CollectionStatus;
use persistence::{find_collection, notifications_of, now, replay_notification, EventStatus};
use processor::Processor;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::fixtures::{count_with_status, create_collections, deliver, unique_prefix, Delivery};
use crate::harness::{config_toml, eventually, write_config, Knobs};
use crate::helpers::Env;

/// A secret as Standard Webhooks libraries make them: `whsec_` + base64.
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// One request the endpoint got: its headers and body.
type Received = (http::HeaderMap, Vec<u8>);
/// The status of the nth answer (1-based).
type Plan = fn(usize) -> u16;

/// What the endpoint got, and how it answers.
#[derive(Clone, Default)]
struct Endpoint {
    received: Arc<Mutex<Vec<Received>>>,
    plan: Arc<Mutex<Option<Plan>>>,
}

impl Endpoint {
    async fn start(plan: Plan) -> (Endpoint, String, actix_web::dev::ServerHandle) {
        let endpoint = Endpoint::default();
        *endpoint.plan.lock().unwrap() = Some(plan);
        let state = endpoint.clone();
        let server = HttpServer::new(move || {
            let state = state.clone();
            App::new().default_service(web::to(move |request: HttpRequest, body: web::Bytes| {
                let state = state.clone();
                async move {
                    let mut headers = http::HeaderMap::new();
                    for (name, value) in request.headers() {
                        if let (Ok(n), Ok(v)) = (
                            http::HeaderName::from_bytes(name.as_str().as_bytes()),
                            http::HeaderValue::from_bytes(value.as_bytes()),
                        ) {
                            headers.append(n, v);
                        }
                    }
                    let n = {
                        let mut received = state.received.lock().unwrap();
                        received.push((headers, body.to_vec()));
                        received.len()
                    };
                    let plan = state.plan.lock().unwrap().unwrap_or(|_| 200);
                    HttpResponse::build(actix_web::http::StatusCode::from_u16(plan(n)).unwrap())
                        .body("ok")
                }
            }))
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .unwrap();
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        (endpoint, format!("http://127.0.0.1:{port}/hooks"), handle)
    }

    fn bodies(&self) -> Vec<Value> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .map(|(_, body)| serde_json::from_slice(body).unwrap())
            .collect()
    }

    /// Every request verified with the Standard Webhooks library; returns the `webhook-id`s.
    fn verified_ids(&self) -> Vec<String> {
        let verifier = standardwebhooks::Webhook::new(SECRET).unwrap();
        self.received
            .lock()
            .unwrap()
            .iter()
            .map(|(headers, body)| {
                verifier
                    .verify(body, headers)
                    .unwrap_or_else(|e| panic!("a delivery does not verify: {e}"));
                headers["webhook-id"].to_str().unwrap().to_owned()
            })
            .collect()
    }
}

struct Running {
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), processor::Error>>,
    _processor: Arc<Processor>,
}

async fn start(env: &Env, url: &str, max_attempts: u32) -> Running {
    let knobs = Knobs {
        poll_interval_ms: 50,
        ..Knobs::default()
    };
    let toml = format!(
        "{}\n[notify]\nurl = \"{url}\"\nsecrets = [\"NOTIFY_SECRET\"]\ntimeout_ms = 2000\n\
         max_attempts = {max_attempts}\nretry_base_ms = 50\nretry_max_ms = 200\n\
         poll_interval_ms = 50\nlease_secs = 5\n",
        config_toml(env, &knobs)
    );
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(&dir, &toml);
    let loaded = inbox_config::load_from(Some(&path), &HashMap::new()).unwrap();
    let secret = Scheme::StandardWebhooks(Default::default())
        .secret(SECRET)
        .unwrap();
    let (processor, _) = Processor::build_with(loaded.settings, vec![secret])
        .await
        .unwrap();
    let processor = Arc::new(processor);
    let cancel = CancellationToken::new();
    let task = tokio::spawn({
        let (processor, cancel) = (processor.clone(), cancel.clone());
        async move { processor.run(cancel).await }
    });
    Running {
        cancel,
        task,
        _processor: processor,
    }
}

impl Running {
    async fn stop(self) {
        self.cancel.cancel();
        self.task.await.unwrap().unwrap();
    }
}

fn notifications(env: &Env, reference: &str) -> Vec<persistence::Notification> {
    let id = find_collection(&mut env.db.conn(), reference)
        .unwrap()
        .unwrap()
        .id;
    notifications_of(&mut env.db.conn(), id).unwrap()
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod pg {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(env) = crate::helpers::pg_env(concat!("notify::", stringify!($name))) {
                        super::$name(env).await;
                    }
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::helpers::sqlite_env()).await;
                }
            )*
        }
    };
}

on_both_backends!(
    each_change_is_delivered_once_signed_and_in_order,
    a_failing_endpoint_gets_it_on_the_third_attempt,
    a_notification_that_never_gets_through_fails_and_a_replay_delivers_it,
);

async fn each_change_is_delivered_once_signed_and_in_order(env: Env) {
    let (endpoint, url, server) = Endpoint::start(|_| 200).await;
    let running = start(&env, &url, 5).await;
    let reference = format!("{}-order", unique_prefix());
    create_collections(&env.db, std::slice::from_ref(&reference));
    // Three changes, each processed before the next arrives, then a repeat that changes nothing.
    for (n, status) in [
        CollectionStatus::Pending,
        CollectionStatus::Processing,
        CollectionStatus::Success,
        CollectionStatus::Success,
    ]
    .into_iter()
    .enumerate()
    {
        deliver(
            &env.db,
            &[Delivery::new(
                &format!("{reference}-e{n}"),
                &reference,
                status,
            )],
        );
        eventually("the event processed", Duration::from_secs(10), || {
            count_with_status(&env.db, EventStatus::Processed) == n as i64 + 1
        })
        .await;
    }
    eventually("three deliveries", Duration::from_secs(10), || {
        endpoint.bodies().len() >= 3
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let bodies = endpoint.bodies();
    assert_eq!(
        bodies.len(),
        3,
        "one per change, none for the repeat: {bodies:?}"
    );
    let types: Vec<&str> = bodies.iter().map(|b| b["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "collection.updated",
            "collection.updated",
            "collection.succeeded"
        ]
    );
    let versions: Vec<i64> = bodies
        .iter()
        .map(|b| b["data"]["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, [2, 3, 4]);
    assert_eq!(bodies[2]["data"]["request_ref"], reference.as_str());
    assert_eq!(bodies[2]["data"]["previous_status"], "PROCESSING");
    assert_eq!(bodies[2]["data"]["provider"], "demo");
    let ids = endpoint.verified_ids();
    let stored = notifications(&env, &reference);
    let stored_ids: Vec<String> = stored.iter().map(|n| n.id.to_string()).collect();
    assert_eq!(ids, stored_ids, "webhook-id is the notification's id");
    assert!(stored
        .iter()
        .all(|n| n.status == "DELIVERED" && n.attempts == 1));
    assert!(stored.iter().all(|n| n.delivered_at.is_some()));
    running.stop().await;
    server.stop(true).await;
}

/// A new collection, and one event moving it to `status`: one notification. Returns its ref.
fn one_change(env: &Env, name: &str, status: CollectionStatus) -> String {
    let reference = format!("{}-{name}", unique_prefix());
    create_collections(&env.db, std::slice::from_ref(&reference));
    deliver(
        &env.db,
        &[Delivery::new(&format!("{reference}-e"), &reference, status)],
    );
    reference
}

/// Waits until the collection's first notification has `status`.
async fn first_notification_becomes(env: &Env, reference: &str, status: &str) {
    eventually(
        &format!("the notification {status}"),
        Duration::from_secs(10),
        || {
            notifications(env, reference)
                .first()
                .is_some_and(|n| n.status == status)
        },
    )
    .await;
}

async fn a_failing_endpoint_gets_it_on_the_third_attempt(env: Env) {
    let (endpoint, url, server) = Endpoint::start(|n| if n <= 2 { 503 } else { 204 }).await;
    let running = start(&env, &url, 5).await;
    let reference = one_change(&env, "retry", CollectionStatus::Success);
    first_notification_becomes(&env, &reference, "DELIVERED").await;
    let stored = &notifications(&env, &reference)[0];
    assert_eq!(stored.attempts, 3);
    assert_eq!(stored.last_error, None);
    let ids = endpoint.verified_ids();
    assert_eq!(ids.len(), 3);
    assert!(
        ids.iter().all(|id| *id == stored.id.to_string()),
        "the same webhook-id every time"
    );
    running.stop().await;
    server.stop(true).await;
}

async fn a_notification_that_never_gets_through_fails_and_a_replay_delivers_it(env: Env) {
    // 500 for the first three answers (every attempt there is), 200 after.
    let (endpoint, url, server) = Endpoint::start(|n| if n <= 3 { 500 } else { 200 }).await;
    let running = start(&env, &url, 3).await;
    let reference = one_change(&env, "fail", CollectionStatus::Failed);
    first_notification_becomes(&env, &reference, "FAILED").await;
    let failed = notifications(&env, &reference).remove(0);
    assert_eq!(failed.attempts, 3);
    assert!(
        failed
            .last_error
            .as_deref()
            .unwrap()
            .starts_with("HTTP 500"),
        "{failed:?}"
    );
    assert_eq!(endpoint.bodies().len(), 3);
    assert!(replay_notification(&mut env.db.conn(), failed.id, now()).unwrap());
    eventually(
        "the replayed notification delivered",
        Duration::from_secs(10),
        || {
            notifications(&env, &reference)
                .first()
                .is_some_and(|n| n.status == "DELIVERED")
        },
    )
    .await;
    assert_eq!(endpoint.verified_ids().len(), 4);
    assert_eq!(endpoint.bodies()[3]["type"], "collection.failed");
    running.stop().await;
    server.stop(true).await;
}
