//! Test databases: a fresh PostgreSQL schema per test (dropped afterwards) or a fresh SQLite file
//! in a temporary directory. PostgreSQL is found through `TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`). When it is unreachable, a test fails under CI
//! (`CI` set) and is otherwise skipped with one line on stderr and in `$INBOX_TEST_SKIP_LOG`.

use persistence::connection::DatabaseUrl;
use persistence::pool::{build_pool, DbPool, PoolSettings};
use persistence::run_migrations;
use test_support::PgSchema;

pub struct TestDb {
    pub pool: DbPool,
    pub url: DatabaseUrl,
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

    /// A pool of a chosen size over the same database (for concurrency tests).
    pub fn pool_of(&self, max_size: u32) -> DbPool {
        build_pool(&self.url, &settings(max_size)).expect("pool")
    }
}

fn settings(max_size: u32) -> PoolSettings {
    PoolSettings {
        max_size,
        min_idle: 0,
        ..PoolSettings::default()
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
    let schema = PgSchema::create(test)?;
    let url = DatabaseUrl::parse(&schema.url).expect("schema URL");
    let pool = build_pool(&url, &settings(8)).expect("pool");
    Some(TestDb {
        pool,
        url,
        _cleanup: Cleanup::PgSchema(schema),
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
        _cleanup: Cleanup::Sqlite(dir),
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

/// Decides `requests` in one transaction of their own, as a processor's round does (the
/// processor's `apply` step adds only its payment locks): leased events, a bounded row wait.
pub fn decide_requests(
    conn: &mut persistence::DbConnection,
    requests: &[domain::Request],
    actor: &str,
    at: chrono::DateTime<chrono::Utc>,
    row_wait: Option<std::time::Duration>,
) -> Result<Vec<persistence::RequestOutcome>, persistence::StoreError> {
    let decide = persistence::Decide {
        actor,
        events: persistence::EventsHeld::Leased,
        now: at,
    };
    persistence::write_transaction(conn, |conn| {
        if let Some(wait) = row_wait {
            persistence::lock::limit_row_waits(conn, wait)?;
        }
        persistence::apply_requests(conn, requests, &decide)
    })
}
