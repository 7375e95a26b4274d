//! Test environments: a migrated database of its own per test (a PostgreSQL schema, dropped
//! afterwards, or an SQLite file in a temporary directory) and the shared Redis. Processors
//! under test are in `harness`.
//!
//! PostgreSQL and Redis come from `TEST_DATABASE_URL` / `TEST_REDIS_URL` (defaults on
//! 127.0.0.1). When one is unreachable, a test fails under CI (`CI` set) and is otherwise
//! skipped with one line on stderr and in `$INBOX_TEST_SKIP_LOG`.

use std::time::Duration;

use persistence::connection::DatabaseUrl;
use persistence::pool::{build_pool, DbPool, PoolSettings};
use persistence::run_migrations;
pub use test_support::unavailable;
use test_support::PgSchema;

/// A database, and Redis when the test runs with it.
pub struct Env {
    pub db: TestDb,
    pub redis: Option<String>,
}

pub struct TestDb {
    pub pool: DbPool,
    /// The URL as processors are configured with it (PostgreSQL: with the test's search_path).
    pub url: String,
    _cleanup: Cleanup,
}

/// Held for its `Drop`: the schema or the directory goes when the test ends.
enum Cleanup {
    PgSchema(#[allow(dead_code)] PgSchema),
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
}

impl TestDb {
    pub fn conn(&self) -> persistence::pool::PooledConnection {
        self.pool.get().expect("a pooled connection")
    }
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
    let schema = PgSchema::create(test)?;
    let url = schema.url.clone();
    let parsed = DatabaseUrl::parse(&url).expect("schema URL");
    let pool = build_pool(&parsed, &pool_settings()).expect("pool");
    run_migrations(&mut pool.get().expect("conn")).expect("migrations");
    Some(TestDb {
        pool,
        url,
        _cleanup: Cleanup::PgSchema(schema),
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
        _cleanup: Cleanup::Sqlite(dir),
    }
}

/// The shared Redis, if it answers.
pub fn redis(test: &str) -> Option<String> {
    let url = test_support::redis_url();
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
