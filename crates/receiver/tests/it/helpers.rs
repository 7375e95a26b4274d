//! Starting a receiver for a test: configuration through the real loader (TOML file plus an
//! environment map holding the secrets), its own database (a PostgreSQL schema, dropped after,
//! or an SQLite file), port 0. Logs are captured for the tests that read them and go to stderr
//! only with TEST_LOG=1. PostgreSQL unreachable: failure under CI, else a one-line skip.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use actix_web::dev::ServerHandle;
use domain::provider::Preset;
use domain::signature::{self, Scheme};
use persistence::DbPool;
use receiver::Application;

pub use test_support::{Backend, TestDatabase};

use test_support::proxy::Proxy;

pub const DEMO_SECRET: &str = "demo-secret-4f1b9c";
pub const PAYSTACK_SECRET: &str = "sk_test_paystack_9a8b7c";
pub const STRIPE_SECRET: &str = "whsec_stripe_test_5d6e7f";
pub const STANDARD_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
pub const ROTATED_OUT_SECRET: &str = "demo-secret-old-0a0b0c";

pub struct Options {
    /// Put a cuttable proxy between the app and PostgreSQL.
    pub via_proxy: bool,
    pub pool_timeout_ms: u64,
    pub sqlite_busy_timeout_ms: u64,
    pub request_timeout_secs: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            via_proxy: false,
            pool_timeout_ms: 1_000,
            sqlite_busy_timeout_ms: 5_000,
            request_timeout_secs: 30,
        }
    }
}

pub struct TestApp {
    pub port: u16,
    pub metrics_port: u16,
    pub pool: DbPool,
    pub proxy: Option<Proxy>,
    handle: ServerHandle,
    /// `run_until_stopped`, spawned: awaited by [`TestApp::stop`].
    served: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _db: TestDatabase,
}

impl TestApp {
    pub async fn post(
        &self,
        provider: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> crate::http::Response {
        crate::http::request(
            self.port,
            "POST",
            &format!("/webhooks/{provider}"),
            headers,
            body,
        )
        .await
    }

    /// Posts `body` as JSON, signed as `provider`'s preset signs with `secret`.
    pub async fn post_signed(
        &self,
        provider: &str,
        preset: Preset,
        secret: &str,
        body: &[u8],
    ) -> crate::http::Response {
        let headers = sign(preset, secret, body, now());
        let mut all: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        all.push(("Content-Type", "application/json"));
        self.post(provider, &all, body).await
    }

    /// Stops the server gracefully and waits until `run_until_stopped` has returned (the last
    /// per-minute counts written); the database stays until the app is dropped.
    pub async fn stop(&mut self) {
        self.handle.stop(true).await;
        if let Some(served) = self.served.take() {
            served.await.unwrap().unwrap();
        }
    }

    pub fn events(&self) -> Vec<persistence::WebhookEvent> {
        use diesel::prelude::*;
        use persistence::schema::webhook_events::dsl::*;
        webhook_events
            .order(received_at.asc())
            .select(persistence::WebhookEvent::as_select())
            .load(&mut self.pool.get().unwrap())
            .unwrap()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Not awaited: the runtime ends with the test; this only asks workers to stop.
        drop(self.handle.stop(false));
    }
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

pub fn sign(preset: Preset, secret: &str, body: &[u8], at: i64) -> Vec<(String, String)> {
    sign_with(&preset.scheme(), secret, body, at)
}

pub fn sign_with(scheme: &Scheme, secret: &str, body: &[u8], at: i64) -> Vec<(String, String)> {
    let key = scheme.secret(secret).unwrap();
    signature::sign(scheme, &key, body, at, None)
}

fn config_toml(database_url: &str, options: &Options) -> String {
    format!(
        r#"
[database]
url = "{database_url}"
pool_size = 16
pool_timeout_ms = {pool_timeout}
sqlite_busy_timeout_ms = {busy}

[receiver]
bind = "127.0.0.1:0"
metrics_addr = "127.0.0.1:0"
body_limit_bytes = 4096
request_timeout_secs = {request_timeout}
workers = 2
shutdown_grace_secs = 5

[providers.demo]
preset = "generic"
secrets = ["DEMO_SECRET"]

[providers.paystack]
preset = "paystack"
secrets = ["PAYSTACK_SECRET"]

[providers.stripe]
preset = "stripe"
secrets = ["STRIPE_SECRET"]

[providers.standard]
preset = "standard-webhooks"
secrets = ["STANDARD_SECRET"]

[providers.open]
preset = "generic"
signature = "none"

# Mid-rotation: the new and the old secret are both accepted.
[providers.rotating]
preset = "generic"
secrets = ["DEMO_SECRET", "ROTATED_OUT_SECRET"]

# After the rotation: the old secret is gone.
[providers.rotated]
preset = "generic"
secrets = ["DEMO_SECRET"]
"#,
        pool_timeout = options.pool_timeout_ms,
        busy = options.sqlite_busy_timeout_ms,
        request_timeout = options.request_timeout_secs,
    )
}

fn secrets_env() -> HashMap<String, String> {
    [
        ("DEMO_SECRET", DEMO_SECRET),
        ("PAYSTACK_SECRET", PAYSTACK_SECRET),
        ("STRIPE_SECRET", STRIPE_SECRET),
        ("STANDARD_SECRET", STANDARD_SECRET),
        ("ROTATED_OUT_SECRET", ROTATED_OUT_SECRET),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

pub async fn spawn_app(backend: Backend, test: &str) -> Option<TestApp> {
    spawn_app_with(backend, test, Options::default()).await
}

pub async fn spawn_app_with(backend: Backend, test: &str, options: Options) -> Option<TestApp> {
    capture_logs();
    let db = TestDatabase::create(backend, test)?;
    let mut proxy = None;
    let url = match (&db, options.via_proxy) {
        (TestDatabase::Postgres(schema), true) => {
            let (p, url) = Proxy::in_front_of(&schema.url).await;
            proxy = Some(p);
            url
        }
        _ => db.url(),
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inbox.toml");
    std::fs::write(&path, config_toml(&url, &options)).unwrap();
    let loaded = inbox_config::load_from(Some(&path), &secrets_env()).unwrap();
    let app = Application::build(loaded).await.unwrap();
    let port = app.port();
    let metrics_port = app.metrics_port();
    let pool = app.pool().clone();
    let handle = app.handle();
    let served = tokio::spawn(app.run_until_stopped());
    Some(TestApp {
        port,
        metrics_port,
        pool,
        proxy,
        handle,
        served: Some(served),
        _db: db,
    })
}

/// Everything logged in this test process, at debug level (tests that check log content read it).
pub fn captured_logs() -> String {
    String::from_utf8_lossy(&LOGS.get_or_init(Default::default).lock().unwrap()).into_owned()
}

static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        if std::env::var("TEST_LOG").is_ok() {
            let _ = std::io::stderr().write_all(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let buffer = LOGS.get_or_init(Default::default).clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
            .with_writer(move || Capture(buffer.clone()))
            .with_ansi(false)
            .try_init();
    });
}

/// Declares each listed async test (taking a `TestApp`) once per backend.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod pg {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let test = concat!(module_path!(), "::", stringify!($name));
                    if let Some(app) = crate::helpers::spawn_app(crate::helpers::Backend::Postgres, test).await {
                        super::$name(app).await;
                    }
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let test = concat!(module_path!(), "::", stringify!($name));
                    let app = crate::helpers::spawn_app(crate::helpers::Backend::Sqlite, test).await.unwrap();
                    super::$name(app).await;
                }
            )*
        }
    };
}
