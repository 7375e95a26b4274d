//! The operator console in a real browser: headless Chromium driven over WebDriver against a real
//! `api`, `receiver` and `processor` sharing one database, each on port 0. An operator signs in,
//! finds a collection by its ref, reads its timeline, replays a failed event and sees it
//! processed; a payload full of markup renders as text and runs nothing; a read-only key's click
//! on the replay button is refused. A screenshot of every page lands under
//! `target/console-screenshots/`.
//!
//! Without Chromium the test fails under CI and is skipped elsewhere (`.ci/run` installs
//! Debian's `chromium` and `chromium-driver`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use domain::provider::Preset;
use domain::signature;
use persistence::{run_migrations, DatabaseUrl, DbConnection, DbPool, SqliteOptions};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::helpers::{
    keys_env, send, Backend, TestDatabase, API_KEYS_TOML, APP_KEY, OPS_KEY, READER_KEY,
};
use crate::webdriver::Browser;

const PAYSTACK_SECRET: &str = "sk_test_browser_0123456789abcdef";
/// Markup an attacker can put in any field a provider forwards.
const SCRIPT: &str = "<script>document.title='pwned'</script>";
const IMAGE: &str = "<img src=x onerror=\"document.title='pwned'\">";
const LINK: &str = "javascript:document.title='pwned'";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_a_browser_on_postgres() {
    the_console_in_a_browser(Backend::Postgres, "browser::postgres").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_a_browser_on_sqlite() {
    the_console_in_a_browser(Backend::Sqlite, "browser::sqlite").await;
}

/// The three services on one database, as `make run` starts them.
struct Stack {
    api: String,
    receiver: String,
    pool: DbPool,
    cancel: CancellationToken,
    stops: Vec<actix_web::dev::ServerHandle>,
    processor: Option<tokio::task::JoinHandle<()>>,
    _db: TestDatabase,
    _dir: tempfile::TempDir,
}

impl Stack {
    async fn start(backend: Backend, test: &str) -> Option<Stack> {
        let db = TestDatabase::create(backend, test)?;
        let url = db.url();
        let migrate_url = url.clone();
        tokio::task::spawn_blocking(move || {
            let url = DatabaseUrl::parse(&migrate_url).unwrap();
            run_migrations(&mut DbConnection::open(&url, SqliteOptions::default()).unwrap())
                .unwrap();
        })
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inbox.toml");
        std::fs::write(&path, config(&url)).unwrap();
        let mut env = keys_env();
        env.insert("PAYSTACK_SECRET".into(), PAYSTACK_SECRET.into());

        let loaded = inbox_config::load_from(Some(&path), &env).unwrap();
        let receiver = receiver::Application::build(loaded).await.unwrap();
        let receiver_url = format!("http://127.0.0.1:{}", receiver.port());
        let mut stops = vec![receiver.handle()];
        tokio::spawn(receiver.run_until_stopped());

        let (settings, _) = inbox_config::load_settings_from(Some(&path), &env).unwrap();
        let keys = settings.api.resolve_keys(&env).unwrap();
        let api = api::Application::build(&settings, &keys).await.unwrap();
        let api_url = format!("http://127.0.0.1:{}", api.port());
        let pool = api.pool().clone();
        stops.push(api.handle());
        tokio::spawn(api.run_until_stopped());

        let (processor, _) = processor::Processor::build(settings).await.unwrap();
        let processor = Arc::new(processor);
        let cancel = CancellationToken::new();
        let task = tokio::spawn({
            let cancel = cancel.clone();
            async move { processor.run(cancel).await.unwrap() }
        });
        Some(Stack {
            api: api_url,
            receiver: receiver_url,
            pool,
            cancel,
            stops,
            processor: Some(task),
            _db: db,
            _dir: dir,
        })
    }

    async fn create(&self, body: Value) {
        let url = format!("{}/v1/collections", self.api);
        let answer = tokio::task::spawn_blocking(move || {
            send(
                "POST",
                &url,
                &[
                    ("Authorization".into(), format!("Bearer {APP_KEY}")),
                    ("Content-Type".into(), "application/json".into()),
                ],
                Some(body.to_string().as_bytes()),
            )
        })
        .await
        .unwrap();
        assert_eq!(answer.status, 201, "{:?}", answer.body);
    }

    /// A Paystack `charge.success`, signed as Paystack signs it; `extra` is merged into `data`.
    async fn charge(&self, id: u64, reference: &str, amount: u64, extra: Value) {
        let mut data = json!({"id": id, "status": "success", "reference": reference,
                              "amount": amount, "currency": "NGN"});
        if let (Some(data), Some(extra)) = (data.as_object_mut(), extra.as_object()) {
            data.extend(extra.clone());
        }
        let body = json!({"event": "charge.success", "data": data}).to_string();
        let scheme = Preset::Paystack.scheme();
        let key = scheme.secret(PAYSTACK_SECRET).unwrap();
        let mut headers = signature::sign(&scheme, &key, body.as_bytes(), 0, None);
        headers.push(("Content-Type".into(), "application/json".into()));
        let url = format!("{}/webhooks/paystack", self.receiver);
        let answer = tokio::task::spawn_blocking(move || {
            send("POST", &url, &headers, Some(body.as_bytes()))
        })
        .await
        .unwrap();
        assert!(
            matches!(answer.status, 200 | 202),
            "{}: {:?}",
            answer.status,
            answer.body
        );
    }

    /// Waits until no event is waiting to be processed.
    async fn settled(&self) {
        let started = Instant::now();
        loop {
            let pool = self.pool.clone();
            let (waiting, _) = tokio::task::spawn_blocking(move || {
                persistence::backlog(&mut pool.get().unwrap()).unwrap()
            })
            .await
            .unwrap();
            if waiting == 0 {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{waiting} events still waiting"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn stop(mut self) {
        self.cancel.cancel();
        if let Some(task) = self.processor.take() {
            task.await.unwrap();
        }
        for stop in &self.stops {
            stop.stop(false).await;
        }
    }
}

fn config(database_url: &str) -> String {
    format!(
        r#"
[database]
url = "{database_url}"
pool_size = 8
pool_min_idle = 0
pool_timeout_ms = 2000
run_migrations = false

[receiver]
bind = "127.0.0.1:0"
metrics_addr = "127.0.0.1:0"
workers = 1

[processor]
metrics_addr = "127.0.0.1:0"
poll_interval_ms = 100
# An event whose collection does not exist yet fails at once, for the replay below.
max_attempts = 1

[api]
bind = "127.0.0.1:0"
metrics_addr = "127.0.0.1:0"
workers = 1
{API_KEYS_TOML}
[providers.paystack]
preset = "paystack"
secrets = ["PAYSTACK_SECRET"]
"#
    )
}

/// `target/console-screenshots/<backend>-<page>.png`.
fn screenshot_path(backend: Backend, page: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let backend = match backend {
        Backend::Postgres => "postgres",
        Backend::Sqlite => "sqlite",
    };
    target
        .join("console-screenshots")
        .join(format!("{backend}-{page}.png"))
}

async fn the_console_in_a_browser(backend: Backend, test: &str) {
    let browser = match tokio::task::spawn_blocking(Browser::start).await.unwrap() {
        Ok(browser) => browser,
        Err(why) => {
            test_support::unavailable::<()>(test, &format!("headless Chromium: {why}"));
            return;
        }
    };
    let Some(stack) = Stack::start(backend, test).await else {
        return;
    };

    // A paid collection, one whose payload is hostile, and an event that arrives before its
    // collection exists (it fails: max_attempts = 1).
    stack
        .create(json!({"request_ref": "REQ-PAID-1", "amount": "5000", "currency": "NGN"}))
        .await;
    stack
        .create(
            json!({"request_ref": "REQ-HOSTILE", "amount": "20", "currency": "NGN",
                       "metadata": {"note": SCRIPT, "site": LINK}}),
        )
        .await;
    stack.charge(5001, "REQ-PAID-1", 500_000, json!({})).await;
    stack
        .charge(
            5002,
            "REQ-HOSTILE",
            2_000,
            json!({"customer": {"email": SCRIPT, "first_name": IMAGE},
                   "gateway_response": LINK, "metadata": {"url": LINK}}),
        )
        .await;
    stack.charge(5003, "REQ-LATE", 7_500, json!({})).await;
    stack.settled().await;
    stack
        .create(json!({"request_ref": "REQ-LATE", "amount": "75", "currency": "NGN"}))
        .await;

    let (api, pool) = (stack.api.clone(), stack.pool.clone());
    tokio::task::spawn_blocking(move || walk_through(&browser, &api, backend, &pool))
        .await
        .unwrap();
    stack.stop().await;
}

fn sign_in(browser: &Browser, api: &str, key: &str) {
    browser.goto(&format!("{api}/console/"));
    assert!(
        browser.url().ends_with("/console/login"),
        "not sent to sign in: {}",
        browser.url()
    );
    let field = browser.find("input[name=key]");
    browser.type_into(&field, key);
    browser.click(&browser.find("form[action='/console/login'] button"));
    assert!(
        browser.url().ends_with("/console/"),
        "not signed in: {} shows {}",
        browser.url(),
        browser.body_text()
    );
}

fn sign_out(browser: &Browser) {
    browser.click(&browser.find("form[action='/console/logout'] button"));
    assert!(
        browser.url().ends_with("/console/login"),
        "{}",
        browser.url()
    );
}

fn walk_through(browser: &Browser, api: &str, backend: Backend, pool: &DbPool) {
    let shot = |page: &str| browser.screenshot(&screenshot_path(backend, page));

    // A wrong key is refused on the sign-in page itself.
    browser.goto(&format!("{api}/console/"));
    shot("login");
    // The key is typed into a password field: not shown on screen, not kept in history.
    assert_eq!(
        browser.attribute(&browser.find("input[name=key]"), "type"),
        Some("password".into())
    );
    browser.type_into(
        &browser.find("input[name=key]"),
        "not-a-key-0123456789abcdefghij",
    );
    browser.click(&browser.find("form[action='/console/login'] button"));
    assert!(browser.url().ends_with("/console/login"));
    let refusal = browser.text(&browser.find("[role=alert]"));
    assert!(!refusal.is_empty());

    sign_in(browser, api, OPS_KEY);
    let cookie = browser.cookie("inbox_console").expect("the session cookie");
    assert_eq!(cookie["httpOnly"], true, "{cookie}");
    assert_eq!(cookie["sameSite"], "Strict", "{cookie}");
    assert!(browser.body_text().contains("Failed events"));

    // Find a collection by its ref and open its timeline.
    browser.click(&browser.find("nav a[href='/console/collections']"));
    shot("collections");
    browser.type_into(&browser.find("input[name=request_ref]"), "REQ-PAID-1");
    browser.click(&browser.find("form.filters button"));
    let link = browser.find("table a[href='/console/collections/REQ-PAID-1']");
    browser.click(&link);
    let timeline = browser.body_text();
    assert!(
        timeline.contains("Collection REQ-PAID-1 SUCCESS"),
        "{timeline}"
    );
    assert!(timeline.contains("paystack (5001)"), "{timeline}");
    assert!(timeline.contains("applied"), "{timeline}");
    assert!(timeline.contains("collection.succeeded"), "{timeline}");
    shot("timeline");

    // The failed event: its reason, then a replay that the processor now completes.
    browser.goto(&format!("{api}/console/events?status=FAILED&provider="));
    shot("events-failed");
    let rows = browser.find_all("tbody tr");
    assert_eq!(rows.len(), 1, "{}", browser.body_text());
    assert!(browser.text(&rows[0]).contains("REQ-LATE"));
    browser.click(&browser.find("tbody tr a"));
    let event_url = browser.url();
    let event = browser.body_text();
    assert!(event.contains("FAILED"), "{event}");
    assert!(event.contains("no collection"), "{event}");
    shot("event-failed");
    browser.click(&browser.find("form.action button"));
    let done = browser.wait_for(&event_url, Duration::from_secs(20), |text| {
        text.contains("PROCESSED")
    });
    assert!(done.contains("attempts"), "{done}");
    browser.goto(&format!("{api}/console/collections/REQ-LATE"));
    assert!(browser.body_text().contains("Collection REQ-LATE SUCCESS"));

    // Markup in a payload and in metadata is shown as the characters it is made of.
    browser.goto(&format!("{api}/console/collections/REQ-HOSTILE"));
    for details in browser.find_all("details summary") {
        browser.click_here(&details);
    }
    let text = browser.body_text();
    for hostile in [SCRIPT, LINK] {
        assert!(
            text.contains(hostile),
            "{hostile} not shown as text:\n{text}"
        );
    }
    assert!(text.contains("<img src=x onerror="), "{text}");
    inert(browser);
    shot("timeline-hostile");
    let hostile_event = browser.find(".event h3 a");
    browser.click(&hostile_event);
    let hostile_event_url = browser.url();
    assert!(browser.body_text().contains(SCRIPT));
    inert(browser);

    // The receiver writes its per-minute counts every few seconds: the overview then charts
    // the three deliveries of this test.
    browser.wait_for(
        &format!("{api}/console/"),
        Duration::from_secs(20),
        |text| text.contains("peak "),
    );
    assert!(
        !browser.find_all("svg rect").is_empty(),
        "no bar in the chart"
    );
    shot("overview");

    for (page, check) in [
        ("events", "Events"),
        ("notifications", "Notifications"),
        ("providers", "paystack"),
    ] {
        browser.goto(&format!("{api}/console/{page}"));
        assert!(browser.body_text().contains(check), "{page}");
        shot(page);
    }
    sign_out(browser);

    // A read-only key sees the event, and the replay button's action is refused.
    sign_in(browser, api, READER_KEY);
    assert!(browser.body_text().contains("(read only)"));
    browser.goto(&hostile_event_url);
    let id: Uuid = hostile_event_url
        .rsplit('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let read = || {
        persistence::find_event(&mut pool.get().unwrap(), id)
            .unwrap()
            .unwrap()
    };
    let before = read();
    browser.click(&browser.find("form.action button"));
    let refused = browser.body_text();
    assert!(refused.contains("admin"), "{refused}");
    shot("replay-refused");
    let after = read();
    assert_eq!(after.status, persistence::EventStatus::Processed);
    assert_eq!(
        (after.attempts, after.processed_at),
        (before.attempts, before.processed_at),
        "the refused replay changed the event"
    );
}

/// Nothing the attacker wrote became a live element: no script, no image with a handler, no
/// `javascript:` link, no dialog, and the title is the page's own.
fn inert(browser: &Browser) {
    assert!(browser.find_all("script").is_empty(), "a script element");
    assert!(browser.find_all("img").is_empty(), "an img element");
    assert!(browser.find_all("[onerror]").is_empty(), "an event handler");
    assert!(
        browser.find_all("a[href^='javascript:']").is_empty(),
        "a javascript: link"
    );
    assert_eq!(browser.alert(), None);
    assert!(!browser.title().contains("pwned"), "{}", browser.title());
}
