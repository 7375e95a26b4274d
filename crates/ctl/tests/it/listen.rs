//! `inboxctl listen`: the local endpoint verifies each notification as the host application
//! must, prints the good ones and refuses the rest; and the whole loop on one machine, decision
//! to dispatcher to `listen`, replay included.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use domain::signature::{self, Scheme, SigningSecret};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::helpers::{lines, next_line, Ctl};

/// `whsec_` + base64 of 32 bytes, as Standard Webhooks libraries make them.
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw8OyvpbpvY1o=";
const OTHER_SECRET: &str = "whsec_dGhpcyBpcyBub3QgdGhlIHNlY3JldCB5b3UgYXJlIGxvb2tpbmcgZm9y";

/// A running `inboxctl listen`, killed on drop; its output lines arrive on channels.
struct Listening {
    child: Child,
    port: u16,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
}

impl Listening {
    fn start(ctl: &Ctl, extra: &[&str]) -> Listening {
        let mut child = Command::new(env!("CARGO_BIN_EXE_inboxctl"))
            .arg("--config")
            .arg(&ctl.config)
            .args(extra)
            .args(["listen", "--port", "0", "--secret-env", "NOTIFY_SECRET"])
            .env("INBOX__DATABASE__URL", &ctl.database_url)
            .env("NOTIFY_SECRET", SECRET)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = lines(child.stdout.take().unwrap());
        let stderr = lines(child.stderr.take().unwrap());
        let mut listening = Listening {
            child,
            port: 0,
            stdout,
            stderr,
        };
        let banner = listening.line_on_stderr("listening on http://127.0.0.1:");
        let port = banner
            .split("http://127.0.0.1:")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("no port in {banner:?}"));
        assert_ne!(port, 0);
        listening.port = port;
        let config = listening.line_on_stderr("secrets = ");
        assert_eq!(config.trim(), r#"secrets = ["NOTIFY_SECRET"]"#);
        listening
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hooks/inbox", self.port)
    }

    fn line_on_stderr(&self, containing: &str) -> String {
        next_line(&self.stderr, containing)
    }

    fn line_on_stdout(&self) -> String {
        next_line(&self.stdout, "")
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn secret(configured: &str) -> SigningSecret {
    Scheme::StandardWebhooks(Default::default())
        .secret(configured)
        .unwrap()
}

/// POSTs `body` signed with `key` at `signed_at` as `id`; the status answered.
fn post(url: &str, body: &[u8], key: &SigningSecret, id: &str, signed_at: i64) -> u16 {
    let scheme = Scheme::StandardWebhooks(Default::default());
    let headers = signature::sign(&scheme, key, body, signed_at, Some(id));
    send("POST", url, &headers, body)
}

fn send(method: &str, url: &str, headers: &[(String, String)], body: &[u8]) -> u16 {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .http_status_as_error(false)
        .build()
        .into();
    let request = ureq::http::Request::builder()
        .method(method)
        .uri(url)
        .header("Content-Type", "application/json");
    let request = headers
        .iter()
        .fold(request, |r, (k, v)| r.header(k.as_str(), v.as_str()));
    agent
        .run(request.body(body.to_vec()).unwrap())
        .unwrap()
        .status()
        .as_u16()
}

#[test]
fn verifies_prints_and_refuses() {
    let ctl = Ctl::sqlite();
    // Without a usable secret it does not start: exit 2, naming the variable.
    let listen = ["listen", "--port", "0", "--secret-env", "NOTIFY_SECRET"];
    let unset = ctl.run(&listen);
    assert_eq!(unset.code, 2, "{}", unset.stderr);
    assert!(
        unset.stderr.contains("NOTIFY_SECRET is not set"),
        "{}",
        unset.stderr
    );
    let garbled = ctl.run_with_env(&listen, &[("NOTIFY_SECRET", "whsec_not base64!")]);
    assert_eq!(garbled.code, 2, "{}", garbled.stderr);
    assert!(garbled.stderr.contains("base64"), "{}", garbled.stderr);

    let listening = Listening::start(&ctl, &[]);
    let url = listening.url();
    let body = json!({
        "type": "collection.succeeded",
        "timestamp": "2026-11-30T09:00:01.123456Z",
        "data": {"request_ref": "order-1001", "status": "SUCCESS", "version": 3},
    })
    .to_string();
    let now = chrono::Utc::now().timestamp();
    let good = secret(SECRET);
    assert_eq!(post(&url, body.as_bytes(), &good, "msg_good", now), 204);
    let printed = listening.line_on_stdout();
    for part in [
        "msg_good",
        "collection.succeeded",
        "request_ref=order-1001",
        "status=SUCCESS",
        "version=3",
    ] {
        assert!(printed.contains(part), "{part} not in {printed:?}");
    }

    // Another secret, a body changed after signing, an old signature, none at all: 401, on
    // stderr, nothing printed on stdout.
    let forged = post(
        &url,
        body.as_bytes(),
        &secret(OTHER_SECRET),
        "msg_forged",
        now,
    );
    assert_eq!(forged, 401);
    let refused = listening.line_on_stderr("refused (401)");
    assert!(
        refused.contains("no configured secret matches") && refused.contains("msg_forged"),
        "{refused}"
    );
    let scheme = Scheme::StandardWebhooks(Default::default());
    let headers = signature::sign(&scheme, &good, body.as_bytes(), now, Some("msg_changed"));
    let changed = body.replace("SUCCESS", "FAILED");
    assert_eq!(send("POST", &url, &headers, changed.as_bytes()), 401);
    listening.line_on_stderr("msg_changed");
    assert_eq!(
        post(&url, body.as_bytes(), &good, "msg_old", now - 600),
        401
    );
    let stale = listening.line_on_stderr("msg_old");
    assert!(stale.contains("tolerance"), "{stale}");
    assert_eq!(send("POST", &url, &[], body.as_bytes()), 401);
    let unsigned = listening.line_on_stderr("refused (401)");
    assert!(unsigned.contains("missing"), "{unsigned}");

    // Not a notification at all.
    assert_eq!(send("GET", &url, &[], b""), 405);
    listening.line_on_stderr("refused (405)");
    let huge = vec![b' '; 1024 * 1024 + 1];
    assert_eq!(post(&url, &huge, &good, "msg_huge", now), 413);
    assert_eq!(post(&url, b"not json", &good, "msg_text", now), 400);
    listening.line_on_stderr("msg_text");

    // Still serving, and only the good one was printed.
    assert_eq!(post(&url, body.as_bytes(), &good, "msg_last", now), 204);
    assert!(listening.line_on_stdout().contains("msg_last"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_loop_on_sqlite() {
    the_whole_loop(Ctl::sqlite_with(LOOP_CONFIG)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_loop_on_postgres() {
    if let Some(ctl) = Ctl::postgres_with("listen::the_whole_loop_on_postgres", LOOP_CONFIG) {
        the_whole_loop(ctl).await;
    }
}

/// `[notify] url` comes from the environment once `listen` has its port.
const LOOP_CONFIG: &str = "[notify]\nsecrets = [\"NOTIFY_SECRET\"]\npoll_interval_ms = 100\n\
     [processor]\nmetrics_addr = \"127.0.0.1:0\"\npoll_interval_ms = 100\n";

/// A decision's notification, delivered by the processor's dispatcher to `inboxctl listen
/// --json`, which verifies and prints it; replayed, it arrives again, the same.
async fn the_whole_loop(ctl: Ctl) {
    let run = |args: &[&str]| tokio::task::block_in_place(|| ctl.run(args));
    run(&["migrate"]).ok();
    run(&["collections", "create", "--request-ref", "REQ-LOOP"]).ok();
    run(&["collections", "set-status", "REQ-LOOP", "SUCCESS"]).ok();
    let listed = run(&["--json", "notifications", "list"]).ok().json();
    let id = listed[0]["id"].as_str().unwrap().to_owned();
    let stored = listed[0]["payload"].clone();

    let listening = Listening::start(&ctl, &["--json"]);
    let env: HashMap<String, String> = [
        ("INBOX__DATABASE__URL", ctl.database_url.clone()),
        ("INBOX__NOTIFY__URL", listening.url()),
        ("NOTIFY_SECRET", SECRET.to_owned()),
        ("DEMO_SECRET", "demo".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let loaded = inbox_config::load_from(Some(&ctl.config), &env).unwrap();
    let secrets = loaded.settings.notify.resolve_secrets(&env).unwrap();
    let (processor, _) = processor::Processor::build_with(loaded.settings, secrets)
        .await
        .unwrap();
    let cancel = CancellationToken::new();
    let running = tokio::spawn({
        let cancel = cancel.clone();
        async move { processor.run(cancel).await }
    });

    let delivered = tokio::task::block_in_place(|| listening.line_on_stdout());
    let delivered: Value = serde_json::from_str(&delivered).unwrap();
    assert_eq!(delivered, stored);
    assert_eq!(delivered["data"]["request_ref"], "REQ-LOOP");
    tokio::task::block_in_place(|| wait_for_status(&ctl, &id, "DELIVERED"));

    let replayed = run(&["notifications", "replay", &id]).ok().stdout;
    assert!(replayed.contains("PENDING again"), "{replayed}");
    let again = tokio::task::block_in_place(|| listening.line_on_stdout());
    assert_eq!(serde_json::from_str::<Value>(&again).unwrap(), stored);
    tokio::task::block_in_place(|| wait_for_status(&ctl, &id, "DELIVERED"));

    cancel.cancel();
    running.await.unwrap().unwrap();
}

fn wait_for_status(ctl: &Ctl, id: &str, wanted: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let shown = ctl
            .run(&["--json", "notifications", "show", id])
            .ok()
            .json();
        if shown["status"] == wanted {
            return;
        }
        assert!(Instant::now() < deadline, "never {wanted}: {shown}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
