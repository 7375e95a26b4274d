//! Test environments: a migrated database of its own per test (a PostgreSQL schema, dropped
//! afterwards, or an SQLite file in a temporary directory), Redis (the shared one, or a
//! redis-server child of the test's own), configuration files, processors started in-process,
//! and polling with a deadline instead of sleeps.
//!
//! PostgreSQL and Redis come from `TEST_DATABASE_URL` / `TEST_REDIS_URL` (defaults on
//! 127.0.0.1). When one is unreachable, a test fails under CI (`CI` set) and is otherwise
//! skipped with one line on stderr and in `$INBOX_TEST_SKIP_LOG`.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use inbox_config::Loaded;
use persistence::connection::{DatabaseUrl, DbConnection, SqliteOptions};
use persistence::pool::{build_pool, DbPool, PoolSettings};
use persistence::run_migrations;
use processor::Processor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// A database, and Redis when the test runs with it.
pub struct Env {
    pub db: TestDb,
    pub redis: Option<String>,
}

pub struct TestDb {
    pub pool: DbPool,
    /// The URL as processors are configured with it (PostgreSQL: with the test's search_path).
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    PgSchema { admin: DatabaseUrl, schema: String },
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
}

impl TestDb {
    pub fn conn(&self) -> persistence::pool::PooledConnection {
        self.pool.get().expect("a pooled connection")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Cleanup::PgSchema { admin, schema } = &self.cleanup {
            if let Ok(mut conn) = DbConnection::open(admin, SqliteOptions::default()) {
                let _ = conn.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
            }
        }
    }
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

pub fn skip(test: &str, why: &str) {
    let why = why.split_whitespace().collect::<Vec<_>>().join(" ");
    let line = format!("SKIPPED {test}: {why}");
    eprintln!("{line}");
    if let Ok(path) = std::env::var("INBOX_TEST_SKIP_LOG") {
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(file, "{line}");
        }
    }
}

/// Either skips (outside CI) or fails (in CI) when a service is missing.
fn unavailable<T>(test: &str, what: &str) -> Option<T> {
    if in_ci() {
        panic!("{what} is required in CI");
    }
    skip(test, what);
    None
}

fn pool_settings() -> PoolSettings {
    PoolSettings {
        max_size: 4,
        min_idle: 0,
        ..PoolSettings::default()
    }
}

pub fn postgres(test: &str) -> Option<TestDb> {
    init_logging();
    let raw = std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_owned());
    let admin = DatabaseUrl::parse(&raw).expect("TEST_DATABASE_URL is a valid URL");
    let mut conn = match DbConnection::open(&admin, SqliteOptions::default()) {
        Ok(conn) => conn,
        Err(e) => return unavailable(test, &format!("PostgreSQL unreachable ({e})")),
    };
    let schema = format!("it_{}", &uuid::Uuid::new_v4().simple().to_string()[..16]);
    conn.batch_execute(&format!("CREATE SCHEMA {schema}"))
        .expect("create test schema");
    let separator = if raw.contains('?') { '&' } else { '?' };
    let url = format!("{raw}{separator}options=-csearch_path%3D{schema}");
    let parsed = DatabaseUrl::parse(&url).expect("schema URL");
    let pool = build_pool(&parsed, &pool_settings()).expect("pool");
    run_migrations(&mut pool.get().expect("conn")).expect("migrations");
    Some(TestDb {
        pool,
        url,
        cleanup: Cleanup::PgSchema { admin, schema },
    })
}

pub fn sqlite() -> TestDb {
    init_logging();
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("inbox.db").display());
    let parsed = DatabaseUrl::parse(&url).expect("sqlite URL");
    let pool = build_pool(&parsed, &pool_settings()).expect("pool");
    run_migrations(&mut pool.get().expect("conn")).expect("migrations");
    TestDb {
        pool,
        url,
        cleanup: Cleanup::Sqlite(dir),
    }
}

/// The shared Redis, if it answers.
pub fn redis(test: &str) -> Option<String> {
    let url = std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| DEFAULT_REDIS_URL.to_owned());
    match ping(&url) {
        Ok(()) => Some(url),
        Err(e) => unavailable(test, &format!("Redis unreachable at {url} ({e})")),
    }
}

pub fn ping(url: &str) -> Result<(), String> {
    let client = redis::Client::open(url).map_err(|e| e.to_string())?;
    let mut conn = client
        .get_connection_with_timeout(Duration::from_millis(500))
        .map_err(|e| e.to_string())?;
    redis::cmd("PING")
        .query::<String>(&mut conn)
        .map(drop)
        .map_err(|e| e.to_string())
}

pub fn pg_redis_env(test: &str) -> Option<Env> {
    let db = postgres(test)?;
    let redis = redis(test)?;
    Some(Env {
        db,
        redis: Some(redis),
    })
}

pub fn pg_env(test: &str) -> Option<Env> {
    Some(Env {
        db: postgres(test)?,
        redis: None,
    })
}

pub fn sqlite_env() -> Env {
    Env {
        db: sqlite(),
        redis: None,
    }
}

/// Declares each listed async test (taking an `Env`) on PostgreSQL with Redis locks, on
/// PostgreSQL with database locks, and on SQLite.
macro_rules! on_backends {
    ($($name:ident),* $(,)?) => {
        mod pg_redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let test = concat!(module_path!(), "::", stringify!($name));
                    if let Some(env) = crate::helpers::pg_redis_env(test) {
                        super::$name(env).await;
                    }
                }
            )*
        }
        mod pg_db_lock {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let test = concat!(module_path!(), "::", stringify!($name));
                    if let Some(env) = crate::helpers::pg_env(test) {
                        super::$name(env).await;
                    }
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(crate::helpers::sqlite_env()).await;
                }
            )*
        }
    };
}

/// Logs stay silent unless `TEST_LOG=1`.
fn init_logging() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var("TEST_LOG").is_ok_and(|v| v == "1") {
            let settings = inbox_config::LogSettings {
                level: "info,processor=debug".to_owned(),
                ..inbox_config::LogSettings::default()
            };
            let _ = inbox_config::logging::init(&settings);
        }
    });
}

/// Processor settings a test may change; the rest of the configuration is fixed.
#[derive(Debug, Clone)]
pub struct Knobs {
    pub batch_size: u32,
    pub concurrency: u32,
    pub poll_interval_ms: u64,
    pub lease_secs: u64,
    pub lock_wait_ms: u64,
    pub lock_ttl_ms: u64,
    pub max_attempts: u32,
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    pub shutdown_grace_secs: u64,
    pub pool_size: u32,
    pub log_level: &'static str,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            batch_size: 50,
            concurrency: 4,
            poll_interval_ms: 100,
            lease_secs: 30,
            lock_wait_ms: 5_000,
            lock_ttl_ms: 10_000,
            max_attempts: 8,
            retry_base_ms: 100,
            retry_max_ms: 1_000,
            shutdown_grace_secs: 10,
            pool_size: 6,
            log_level: "info",
        }
    }
}

/// A configuration file as an operator would write it, with the `demo` provider (generic
/// payloads, unsigned).
pub fn config_toml(env: &Env, knobs: &Knobs) -> String {
    let redis = match &env.redis {
        Some(url) => format!("[redis]\nurl = \"{url}\"\n"),
        None => String::new(),
    };
    format!(
        "[database]\nurl = \"{db}\"\npool_size = {pool}\npool_min_idle = 0\nrun_migrations = true\n\
         {redis}\
         [log]\nlevel = \"{log}\"\n\
         [processor]\nmetrics_addr = \"127.0.0.1:0\"\nbatch_size = {batch}\nconcurrency = {conc}\n\
         poll_interval_ms = {poll}\nlease_secs = {lease}\nlock_wait_ms = {wait}\n\
         lock_ttl_ms = {ttl}\nmax_attempts = {attempts}\nretry_base_ms = {base}\n\
         retry_max_ms = {max}\nshutdown_grace_secs = {grace}\n\
         [providers.demo]\npreset = \"generic\"\nsignature = \"none\"\n",
        db = env.db.url,
        pool = knobs.pool_size,
        log = knobs.log_level,
        batch = knobs.batch_size,
        conc = knobs.concurrency,
        poll = knobs.poll_interval_ms,
        lease = knobs.lease_secs,
        wait = knobs.lock_wait_ms,
        ttl = knobs.lock_ttl_ms,
        attempts = knobs.max_attempts,
        base = knobs.retry_base_ms,
        max = knobs.retry_max_ms,
        grace = knobs.shutdown_grace_secs,
    )
}

pub fn write_config(dir: &tempfile::TempDir, toml: &str) -> PathBuf {
    let path = dir
        .path()
        .join(format!("processor-{}.toml", uuid::Uuid::new_v4()));
    std::fs::write(&path, toml).expect("write config");
    path
}

/// Loads the configuration through the real loader, ignoring the process environment.
pub fn load(env: &Env, knobs: &Knobs) -> Loaded {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write_config(&dir, &config_toml(env, knobs));
    inbox_config::load_from(Some(&path), &std::collections::HashMap::new()).expect("config")
}

pub async fn build(env: &Env, knobs: &Knobs) -> (Arc<Processor>, SocketAddr) {
    let (processor, addr) = Processor::build(load(env, knobs)).await.expect("build");
    (Arc::new(processor), addr)
}

/// A processor running in this process until `stop`.
pub struct Running {
    /// Keeps its metrics port open until the test is done with it.
    _processor: Arc<Processor>,
    pub addr: SocketAddr,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), processor::Error>>,
}

impl Running {
    pub async fn start(env: &Env, knobs: &Knobs) -> Running {
        let (processor, addr) = build(env, knobs).await;
        let cancel = CancellationToken::new();
        let task = tokio::spawn({
            let (processor, cancel) = (processor.clone(), cancel.clone());
            async move { processor.run(cancel).await }
        });
        Running {
            _processor: processor,
            addr,
            cancel,
            task,
        }
    }

    pub async fn stop(self) {
        self.cancel.cancel();
        self.task.await.expect("join").expect("run");
    }
}

/// Polls `check` until it holds; fails the test after `timeout`.
pub async fn eventually(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// `GET path` over plain HTTP/1.1: (status code, body).
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    http_request(addr, "GET", path).await
}

pub async fn http_request(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    let (head, body) = response.split_once("\r\n\r\n").expect("a head");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    (status, body.to_owned())
}

/// The value of one sample of `/metrics` (`name{labels}` exactly as exposed); 0 when absent.
pub async fn metric(addr: SocketAddr, sample: &str) -> f64 {
    let (_, body) = http_get(addr, "/metrics").await;
    body.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            (name == sample).then(|| value.parse().ok())?
        })
        .unwrap_or(0.0)
}

/// A redis-server of the test's own, which the test may stop and start again on its port.
pub struct RedisServer {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl RedisServer {
    pub fn start(test: &str) -> Option<RedisServer> {
        if Command::new("redis-server")
            .arg("--version")
            .output()
            .is_err()
        {
            return unavailable(test, "redis-server is not installed");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut server = RedisServer {
            port,
            dir: tempfile::tempdir().expect("temp dir"),
            child: None,
        };
        server.resume();
        Some(server)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts it (again) and waits until it answers.
    pub fn resume(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while ping(&self.url()).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not answer");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills it (as a crash would) and waits until it is gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
