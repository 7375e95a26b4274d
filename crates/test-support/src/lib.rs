//! What the integration tests of every crate share: a PostgreSQL schema of the test's own
//! (dropped when the test ends), and the rule for a missing service: under CI (`CI` set) the test
//! fails; elsewhere it is skipped with one line on stderr and in `$INBOX_TEST_SKIP_LOG`, which
//! `make test` prints at the end; the arguments every binary shares (`cli`); a cuttable proxy to
//! PostgreSQL (`proxy`); the documented metrics against the exposed ones (`metrics_doc`). Only
//! tests depend on this crate.

// Set-up that cannot be done must fail the test at once: panicking is this crate's error handling.
#![allow(clippy::expect_used, clippy::unwrap_used)]

pub mod cli;
pub mod metrics_doc;
pub mod proxy;

use std::io::Write;

use persistence::connection::{DatabaseUrl, DbConnection, SqliteOptions};

pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// `TEST_DATABASE_URL`, or the default on 127.0.0.1.
pub fn pg_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_owned())
}

/// `TEST_REDIS_URL`, or the default on 127.0.0.1.
pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| DEFAULT_REDIS_URL.to_owned())
}

pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Reports a skipped test: one line, whatever the driver's message looks like.
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

/// Fails under CI, else skips: for a service the test cannot run without.
pub fn unavailable<T>(test: &str, what: &str) -> Option<T> {
    if in_ci() {
        panic!("{what}: required in CI");
    }
    skip(test, what);
    None
}

/// An empty schema of the test's own on the test PostgreSQL server, dropped on `Drop`.
pub struct PgSchema {
    pub name: String,
    /// The server's URL (`TEST_DATABASE_URL`), without the schema.
    pub server_url: String,
    /// The URL whose connections work in this schema (`options=-csearch_path=<name>`).
    pub url: String,
    admin: DatabaseUrl,
}

impl PgSchema {
    /// `None` when PostgreSQL is unreachable outside CI.
    pub fn create(test: &str) -> Option<PgSchema> {
        let server_url = pg_url();
        let admin = DatabaseUrl::parse(&server_url).expect("TEST_DATABASE_URL is a valid URL");
        let mut conn = match DbConnection::open(&admin, SqliteOptions::default()) {
            Ok(conn) => conn,
            Err(e) => return unavailable(test, &format!("PostgreSQL unreachable ({e})")),
        };
        let name = format!("it_{}", &uuid::Uuid::new_v4().simple().to_string()[..16]);
        execute(&mut conn, &format!("CREATE SCHEMA {name}"));
        let url = with_search_path(&server_url, &name);
        Some(PgSchema {
            name,
            server_url,
            url,
            admin,
        })
    }
}

/// `url` with its connections' search_path set to `schema`.
pub fn with_search_path(url: &str, schema: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options=-csearch_path%3D{schema}")
}

fn execute(conn: &mut DbConnection, sql: &str) {
    use diesel::connection::SimpleConnection;
    conn.batch_execute(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        if let Ok(mut conn) = DbConnection::open(&self.admin, SqliteOptions::default()) {
            use diesel::connection::SimpleConnection;
            let _ = conn.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
        }
    }
}

/// Which backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// A service test's database: a PostgreSQL schema of its own (dropped after), or an SQLite file
/// in a temporary directory (removed after).
pub enum TestDatabase {
    Postgres(PgSchema),
    Sqlite {
        _dir: tempfile::TempDir,
        path: std::path::PathBuf,
    },
}

impl TestDatabase {
    /// `None` when PostgreSQL is unreachable outside CI.
    pub fn create(backend: Backend, test: &str) -> Option<TestDatabase> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("inbox.db");
                Some(TestDatabase::Sqlite { _dir: dir, path })
            }
            Backend::Postgres => PgSchema::create(test).map(TestDatabase::Postgres),
        }
    }

    pub fn url(&self) -> String {
        match self {
            TestDatabase::Postgres(schema) => schema.url.clone(),
            TestDatabase::Sqlite { path, .. } => format!("sqlite://{}", path.display()),
        }
    }
}
