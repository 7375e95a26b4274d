//! Starting an API for a test: configuration through the real loader (a TOML file plus an
//! environment map holding the keys), its own migrated database (a PostgreSQL schema, dropped
//! after, or an SQLite file), port 0; and a blocking HTTP client run off the async threads.

use std::collections::HashMap;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use api::Application;
use persistence::{run_migrations, DatabaseUrl, DbConnection, DbPool, SqliteOptions};
use serde_json::Value;
use test_support::proxy::Proxy;
pub use test_support::{Backend, TestDatabase};

/// `app`: read and write; its second key is the one a rotation brings in.
pub const APP_KEY: &str = "app-key-0123456789abcdefghijkl";
pub const APP_KEY_NEXT: &str = "app-key-next-0123456789abcdefgh";
/// `reader`: read only.
pub const READER_KEY: &str = "reader-key-0123456789abcdefghij";
/// `ops`: read and admin.
pub const OPS_KEY: &str = "ops-key-0123456789abcdefghijklm";

pub struct TestApi {
    pub port: u16,
    pub metrics_port: u16,
    pub pool: DbPool,
    pub proxy: Option<Proxy>,
    /// The database URL the API uses (through the proxy, when there is one).
    pub url: String,
    pub backend: Backend,
    handle: ServerHandle,
    /// The database, dropped with the API that created it; a replica borrows its first API's.
    _db: Option<TestDatabase>,
}

pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub headers: HashMap<String, String>,
}

impl TestApi {
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `method path` with `key` as bearer, `body` as JSON; any answer is returned.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut headers: Vec<(String, String)> = Vec::new();
        if let Some(key) = key {
            headers.push(("Authorization".into(), format!("Bearer {key}")));
        }
        let body = body.map(|b| {
            headers.push(("Content-Type".into(), "application/json".into()));
            serde_json::to_vec(&b).unwrap()
        });
        self.raw(method, path, headers, body).await
    }

    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        headers: Vec<(String, String)>,
        body: Option<Vec<u8>>,
    ) -> Answer {
        let url = format!("{}{path}", self.base());
        let method = method.to_owned();
        tokio::task::spawn_blocking(move || send(&method, &url, &headers, body.as_deref()))
            .await
            .unwrap()
    }
}

pub fn send(method: &str, url: &str, headers: &[(String, String)], body: Option<&[u8]>) -> Answer {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .http_status_as_error(false)
        .build()
        .into();
    let request = ureq::http::Request::builder().method(method).uri(url);
    let request = headers
        .iter()
        .fold(request, |r, (k, v)| r.header(k.as_str(), v.as_str()));
    let mut response = match body {
        Some(body) => agent.run(request.body(body.to_vec()).unwrap()),
        None => agent.run(request.body(()).unwrap()),
    }
    .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                v.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer {
        status,
        body,
        headers,
    }
}

impl Drop for TestApi {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

pub fn config_toml(database_url: &str, request_timeout_secs: u64) -> String {
    format!(
        r#"
[database]
url = "{database_url}"
pool_size = 8
pool_min_idle = 0
pool_timeout_ms = 1000

[api]
bind = "127.0.0.1:0"
metrics_addr = "127.0.0.1:0"
body_limit_bytes = 4096
request_timeout_secs = {request_timeout_secs}
workers = 2
shutdown_grace_secs = 5
max_page_size = 100
{API_KEYS_TOML}
# The console lists it (by the name of its secret's variable) with its answers.
[providers.paystack]
preset = "paystack"
secrets = ["PAYSTACK_SECRET"]
"#
    )
}

/// The three keys of `keys_env`, as `[api.keys]` tables.
pub const API_KEYS_TOML: &str = r#"
[api.keys.app]
scopes = ["read", "write"]
secrets = ["APP_KEY", "APP_KEY_NEXT"]

[api.keys.reader]
scopes = ["read"]
secrets = ["READER_KEY"]

[api.keys.ops]
scopes = ["read", "admin"]
secrets = ["OPS_KEY"]
"#;

pub fn keys_env() -> HashMap<String, String> {
    [
        ("APP_KEY", APP_KEY),
        ("APP_KEY_NEXT", APP_KEY_NEXT),
        ("READER_KEY", READER_KEY),
        ("OPS_KEY", OPS_KEY),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

pub async fn spawn_api(backend: Backend, test: &str) -> Option<TestApi> {
    spawn_api_with(backend, test, false).await
}

pub async fn spawn_api_with(backend: Backend, test: &str, via_proxy: bool) -> Option<TestApi> {
    let db = TestDatabase::create(backend, test)?;
    let migrate_url = db.url();
    tokio::task::spawn_blocking(move || {
        let mut conn = DbConnection::open(
            &DatabaseUrl::parse(&migrate_url).unwrap(),
            SqliteOptions::default(),
        )
        .unwrap();
        run_migrations(&mut conn).unwrap();
    })
    .await
    .unwrap();
    let mut proxy = None;
    let url = match (&db, via_proxy) {
        (TestDatabase::Postgres(schema), true) => {
            let (p, url) = Proxy::in_front_of(&schema.url).await;
            proxy = Some(p);
            url
        }
        _ => db.url(),
    };
    let mut api = start(&url, config_toml(&url, 30), backend).await;
    api.proxy = proxy;
    api.url = db.url();
    api._db = Some(db);
    Some(api)
}

/// Another API on `first`'s database, as a second replica behind the same Service would be,
/// with its own pool and port; `without_key` leaves that key out of its configuration.
pub async fn spawn_replica(first: &TestApi, without_key: Option<&str>) -> TestApi {
    let mut config = config_toml(&first.url, 30);
    if let Some(name) = without_key {
        config = remove_section(&config, &format!("[api.keys.{name}]"));
    }
    start(&first.url, config, first.backend).await
}

/// `config` without the table headed `header` (up to the next table or blank line).
fn remove_section(config: &str, header: &str) -> String {
    let mut inside = false;
    let mut kept = String::new();
    for line in config.lines() {
        if line.trim() == header {
            inside = true;
            continue;
        }
        if inside && (line.starts_with('[') || line.trim().is_empty()) {
            inside = false;
        }
        if !inside {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    assert_ne!(kept.len(), config.len(), "no {header} in the configuration");
    kept
}

async fn start(url: &str, config: String, backend: Backend) -> TestApi {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inbox.toml");
    std::fs::write(&path, config).unwrap();
    let env = keys_env();
    let (settings, _) = inbox_config::load_settings_from(Some(&path), &env).unwrap();
    let keys = settings.api.resolve_keys(&env).unwrap();
    let app = Application::build(&settings, &keys).await.unwrap();
    let port = app.port();
    let metrics_port = app.metrics_port();
    let pool = app.pool().clone();
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    TestApi {
        port,
        metrics_port,
        pool,
        proxy: None,
        url: url.to_owned(),
        backend,
        handle,
        _db: None,
    }
}

/// Declares each listed async test (taking a `TestApi`) once per backend.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod pg {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let test = concat!(module_path!(), "::", stringify!($name));
                    if let Some(api) = crate::helpers::spawn_api(crate::helpers::Backend::Postgres, test).await {
                        super::$name(api).await;
                    }
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let test = concat!(module_path!(), "::", stringify!($name));
                    let api = crate::helpers::spawn_api(crate::helpers::Backend::Sqlite, test).await.unwrap();
                    super::$name(api).await;
                }
            )*
        }
    };
}
