//! Test databases: a fresh PostgreSQL schema per test (dropped afterwards) or a fresh SQLite file
//! in a temporary directory. PostgreSQL is found through `TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`). When it is unreachable, a test fails under CI
//! (`CI` set) and is otherwise skipped with one line on stderr and in `$INBOX_TEST_SKIP_LOG`.

use std::io::Write;

use persistence::connection::{DatabaseUrl, DbConnection, SqliteOptions};
use persistence::pool::{build_pool, DbPool, PoolSettings};
use persistence::run_migrations;

pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

pub struct TestDb {
    pub pool: DbPool,
    pub url: DatabaseUrl,
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

    /// A pool of a chosen size over the same database (for concurrency tests).
    pub fn pool_of(&self, max_size: u32) -> DbPool {
        build_pool(&self.url, &settings(max_size)).expect("pool")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Cleanup::PgSchema { admin, schema } = &self.cleanup {
            if let Ok(mut conn) = DbConnection::open(admin, SqliteOptions::default()) {
                use diesel::connection::SimpleConnection;
                let _ = conn.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
            }
        }
    }
}

fn settings(max_size: u32) -> PoolSettings {
    PoolSettings {
        max_size,
        min_idle: 0,
        ..PoolSettings::default()
    }
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

pub fn skip(test: &str, why: &str) {
    // One line per test, whatever the driver's message looks like.
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

/// A migrated, empty PostgreSQL schema of its own, or `None` when PostgreSQL is unreachable
/// outside CI.
pub fn postgres(test: &str) -> Option<TestDb> {
    let db = postgres_unmigrated(test)?;
    run_migrations(&mut db.conn()).expect("migrations");
    Some(db)
}

/// A migrated, empty SQLite database in a temporary directory.
pub fn sqlite() -> TestDb {
    let db = sqlite_unmigrated();
    run_migrations(&mut db.conn()).expect("migrations");
    db
}

/// An empty PostgreSQL schema of its own, with no tables yet.
pub fn postgres_unmigrated(test: &str) -> Option<TestDb> {
    let raw = std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_owned());
    let admin = DatabaseUrl::parse(&raw).expect("TEST_DATABASE_URL is a valid URL");
    let mut conn = match DbConnection::open(&admin, SqliteOptions::default()) {
        Ok(conn) => conn,
        Err(e) if in_ci() => panic!("PostgreSQL is required in CI: {e}"),
        Err(e) => {
            skip(test, &format!("PostgreSQL unreachable ({e})"));
            return None;
        }
    };
    let schema = format!("it_{}", &uuid::Uuid::new_v4().simple().to_string()[..16]);
    use diesel::connection::SimpleConnection;
    conn.batch_execute(&format!("CREATE SCHEMA {schema}"))
        .expect("create test schema");
    let separator = if raw.contains('?') { '&' } else { '?' };
    let url = DatabaseUrl::parse(&format!("{raw}{separator}options=-csearch_path%3D{schema}"))
        .expect("schema URL");
    let pool = build_pool(&url, &settings(8)).expect("pool");
    Some(TestDb {
        pool,
        url,
        cleanup: Cleanup::PgSchema { admin, schema },
    })
}

/// An empty SQLite database in a temporary directory, with no tables yet.
pub fn sqlite_unmigrated() -> TestDb {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = DatabaseUrl::parse(&format!(
        "sqlite://{}",
        dir.path().join("inbox.db").display()
    ))
    .expect("sqlite URL");
    let pool = build_pool(&url, &settings(8)).expect("pool");
    TestDb {
        pool,
        url,
        cleanup: Cleanup::Sqlite(dir),
    }
}

/// Declares each listed test (a function taking a `TestDb`) once per backend:
/// `pg::<name>` and `sqlite::<name>`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod pg {
            $(
                #[test]
                fn $name() {
                    if let Some(db) = crate::helpers::postgres(concat!(module_path!(), "::", stringify!($name))) {
                        super::$name(db);
                    }
                }
            )*
        }
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    super::$name(crate::helpers::sqlite());
                }
            )*
        }
    };
}
