//! Test environments: a migrated database of its own per test (a PostgreSQL schema, dropped
//! afterwards, or an SQLite file in a temporary directory) and the shared Redis. Processors
//! under test are in `harness`.
//!
//! PostgreSQL and Redis come from `TEST_DATABASE_URL` / `TEST_REDIS_URL` (defaults on
//! 127.0.0.1). When one is unreachable, a test fails under CI (`CI` set) and is otherwise
//! skipped with one line on stderr and in `$INBOX_TEST_SKIP_LOG`.

use std::io::Write;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use persistence::connection::{DatabaseUrl, DbConnection, SqliteOptions};
use persistence::pool::{build_pool, DbPool, PoolSettings};
use persistence::run_migrations;

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
pub fn unavailable<T>(test: &str, what: &str) -> Option<T> {
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
