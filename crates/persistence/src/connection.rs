//! One connection type over PostgreSQL and SQLite, the backend chosen explicitly from the URL
//! scheme. The derived `establish` would try PostgreSQL and then silently fall back to creating an
//! SQLite file named like the URL; `DbConnection::open` never guesses and reports the real cause.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::{Connection, PgConnection, SqliteConnection};

use crate::error::StoreError;

#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// A parsed database URL: `postgres://…` / `postgresql://…`, or SQLite as `sqlite://path`,
/// `sqlite:path` or a bare file path. Its `Display` hides any password.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Postgres(String),
    Sqlite(PathBuf),
}

impl DatabaseUrl {
    pub fn parse(raw: &str) -> Result<DatabaseUrl, StoreError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(StoreError::InvalidUrl("the URL is empty".to_owned()));
        }
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            url::Url::parse(raw)
                .map_err(|e| StoreError::InvalidUrl(format!("{}: {e}", redact(raw))))?;
            return Ok(DatabaseUrl::Postgres(raw.to_owned()));
        }
        let path = if let Some(rest) = raw.strip_prefix("sqlite://") {
            rest
        } else if let Some(rest) = raw.strip_prefix("sqlite:") {
            rest
        } else if let Some((scheme, _)) = raw.split_once("://") {
            return Err(StoreError::InvalidUrl(format!(
                "unsupported scheme {scheme:?}: use postgres://, postgresql://, sqlite:// or a file path"
            )));
        } else {
            raw
        };
        if path.is_empty() || path == ":memory:" {
            return Err(StoreError::InvalidUrl(format!(
                "{raw:?} names no file: SQLite needs a file path so that every pooled connection \
                 sees the same database"
            )));
        }
        Ok(DatabaseUrl::Sqlite(PathBuf::from(path)))
    }

    pub fn backend(&self) -> Backend {
        match self {
            DatabaseUrl::Postgres(_) => Backend::Postgres,
            DatabaseUrl::Sqlite(_) => Backend::Sqlite,
        }
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseUrl::Postgres(url) => f.write_str(&redact(url)),
            DatabaseUrl::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

/// libpq's network settings that keep a silent network (packets dropped, no reset) from holding
/// a connection for minutes: a connect timeout, TCP keepalives on idle connections, and
/// `tcp_user_timeout`, which ends a connection whose sent data stays unacknowledged, so that the
/// pool replaces it as soon as the path is back. Each is added only when the URL does not set it.
const NETWORK_TIMEOUTS: [(&str, &str); 6] = [
    ("connect_timeout", "5"),
    ("keepalives", "1"),
    ("keepalives_idle", "10"),
    ("keepalives_interval", "5"),
    ("keepalives_count", "3"),
    ("tcp_user_timeout", "15000"),
];

/// `raw` with the `NETWORK_TIMEOUTS` it does not set already.
pub(crate) fn with_network_timeouts(raw: &str) -> String {
    let Ok(mut url) = url::Url::parse(raw) else {
        return raw.to_owned();
    };
    let set: Vec<String> = url.query_pairs().map(|(key, _)| key.into_owned()).collect();
    let missing: Vec<(&str, &str)> = NETWORK_TIMEOUTS
        .into_iter()
        .filter(|(key, _)| !set.iter().any(|s| s == key))
        .collect();
    if !missing.is_empty() {
        url.query_pairs_mut().extend_pairs(missing);
    }
    url.to_string()
}

/// The URL with every password hidden: the `user:password@` form and libpq's query parameters
/// that hold one (`?password=…`, `?sslpassword=…`, any case).
fn redact(raw: &str) -> String {
    let Ok(mut url) = url::Url::parse(raw) else {
        return "<unparseable URL>".to_owned();
    };
    if url.password().is_some() {
        // Only fails for URLs that cannot have a password, which this one has.
        let _ = url.set_password(Some("***"));
    }
    let secret =
        |key: &str| ["password", "sslpassword"].contains(&key.to_ascii_lowercase().as_str());
    if url.query_pairs().any(|(key, _)| secret(&key)) {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(key, value)| {
                let value = if secret(&key) {
                    "***".into()
                } else {
                    value.into_owned()
                };
                (key.into_owned(), value)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

/// Settings applied to every new SQLite connection.
#[derive(Debug, Clone, Copy)]
pub struct SqliteOptions {
    /// How long a writer waits for another writer before failing with "database is locked".
    pub busy_timeout: Duration,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            busy_timeout: Duration::from_secs(5),
        }
    }
}

impl DbConnection {
    pub fn open(url: &DatabaseUrl, sqlite: SqliteOptions) -> Result<DbConnection, StoreError> {
        match url {
            DatabaseUrl::Postgres(raw) => PgConnection::establish(&with_network_timeouts(raw))
                .map(DbConnection::Pg)
                .map_err(|e| StoreError::Unavailable(format!("cannot connect to {url}: {e}"))),
            DatabaseUrl::Sqlite(path) => {
                let display = path.display();
                let path = path.to_str().ok_or_else(|| {
                    StoreError::InvalidUrl(format!("SQLite path {display} is not UTF-8"))
                })?;
                let mut conn = SqliteConnection::establish(path).map_err(|e| {
                    StoreError::Unavailable(format!("cannot open SQLite database {path}: {e}"))
                })?;
                // WAL lets readers work beside the single writer; FULL sync makes every commit
                // durable before the receiver acknowledges it (nothing acknowledged is lost).
                conn.batch_execute(&format!(
                    "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
                    sqlite.busy_timeout.as_millis()
                ))?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            DbConnection::Pg(_) => Backend::Postgres,
            DbConnection::Sqlite(_) => Backend::Sqlite,
        }
    }
}

/// Runs `work` in a transaction that writes. On SQLite it starts with `BEGIN IMMEDIATE`, taking
/// the write lock up front: a deferred transaction that reads first and writes later can fail at
/// once with "database is locked" instead of waiting out the busy timeout.
pub fn write_transaction<T, E, F>(conn: &mut DbConnection, work: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    match conn {
        DbConnection::Pg(_) => conn.transaction(work),
        DbConnection::Sqlite(inner) => {
            AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE")?;
            // Commit and rollback go through the multi-connection's manager, which hands them to
            // the inner connection's manager that began the transaction above.
            match work(conn) {
                Ok(value) => {
                    DbConnection::commit_transaction(conn)?;
                    Ok(value)
                }
                Err(work_error) => match DbConnection::rollback_transaction(conn) {
                    Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => {
                        Err(work_error)
                    }
                    Err(rollback_error) => Err(rollback_error.into()),
                },
            }
        }
    }
}

/// Expands `$body` once per backend with `$conn` bound to the inner connection: for the few
/// statements whose SQL really differs (ON CONFLICT, FOR UPDATE SKIP LOCKED, RETURNING a model).
#[macro_export]
macro_rules! per_backend {
    ($db:expr, |$conn:ident| $body:expr) => {
        match $db {
            $crate::connection::DbConnection::Pg($conn) => $body,
            $crate::connection::DbConnection::Sqlite($conn) => $body,
        }
    };
}

/// Loads the rows of `$query` locked until the caller's transaction ends: PostgreSQL
/// `FOR UPDATE` (`skip_locked`: `FOR UPDATE SKIP LOCKED`, for claims); SQLite has no row locks,
/// and its immediate transaction (`write_transaction`) already excludes other writers. The one
/// place where that difference is written.
#[macro_export]
macro_rules! load_locked {
    ($db:expr, $query:expr) => {
        match $db {
            $crate::connection::DbConnection::Pg(c) => $query.for_update().load(c),
            $crate::connection::DbConnection::Sqlite(c) => $query.load(c),
        }
    };
    ($db:expr, $query:expr, skip_locked) => {
        match $db {
            $crate::connection::DbConnection::Pg(c) => $query.for_update().skip_locked().load(c),
            $crate::connection::DbConnection::Sqlite(c) => $query.load(c),
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheme_chooses_the_backend() {
        for (raw, backend) in [
            ("postgres://u@localhost/db", Backend::Postgres),
            (
                "postgresql://u@localhost:5433/db?sslmode=disable",
                Backend::Postgres,
            ),
            ("sqlite://var/inbox.db", Backend::Sqlite),
            ("sqlite:///tmp/inbox.db", Backend::Sqlite),
            ("sqlite:inbox.db", Backend::Sqlite),
            ("var/inbox.db", Backend::Sqlite),
        ] {
            assert_eq!(DatabaseUrl::parse(raw).unwrap().backend(), backend, "{raw}");
        }
        assert_eq!(
            DatabaseUrl::parse("sqlite:///tmp/inbox.db").unwrap(),
            DatabaseUrl::Sqlite(PathBuf::from("/tmp/inbox.db"))
        );
    }

    #[test]
    fn unknown_schemes_and_empty_paths_are_refused() {
        for raw in [
            "mysql://localhost/db",
            "",
            "sqlite://",
            "sqlite::memory:",
            "postgres://[bad",
        ] {
            assert!(
                matches!(DatabaseUrl::parse(raw), Err(StoreError::InvalidUrl(_))),
                "{raw}"
            );
        }
    }

    #[test]
    fn postgres_connections_get_network_timeouts_unless_set() {
        let url =
            with_network_timeouts("postgres://app@db/inbox?connect_timeout=2&sslmode=require");
        assert!(
            url.starts_with("postgres://app@db/inbox?connect_timeout=2&sslmode=require&"),
            "{url}"
        );
        for setting in [
            "keepalives=1",
            "keepalives_idle=10",
            "keepalives_interval=5",
            "keepalives_count=3",
            "tcp_user_timeout=15000",
        ] {
            assert!(url.contains(setting), "{setting} missing from {url}");
        }
        assert_eq!(url.matches("connect_timeout").count(), 1, "{url}");
    }

    #[test]
    fn passwords_never_print() {
        let url = DatabaseUrl::parse("postgres://app:s3cret@db:5432/inbox").unwrap();
        assert_eq!(url.to_string(), "postgres://app:***@db:5432/inbox");
        assert!(!format!("{url:?}").contains("s3cret"));
        // libpq also takes the password as a query parameter.
        let url = DatabaseUrl::parse(
            "postgres://app@db/inbox?sslmode=require&PASSWORD=s3cret&sslpassword=k3y",
        )
        .unwrap();
        assert_eq!(
            url.to_string(),
            "postgres://app@db/inbox?sslmode=require&PASSWORD=***&sslpassword=***"
        );
        let bad = DatabaseUrl::parse("postgres://app@db:notaport/inbox?password=s3cret");
        if let Err(error) = bad {
            assert!(!error.to_string().contains("s3cret"), "{error}");
        }
    }

    #[test]
    fn an_unreachable_postgres_reports_the_real_cause() {
        // Port 1 on loopback: nothing listens there, so the connection is refused at once.
        let url = DatabaseUrl::parse("postgres://postgres@127.0.0.1:1/none").unwrap();
        let err = DbConnection::open(&url, SqliteOptions::default())
            .err()
            .expect("connecting to port 1 must fail");
        let message = err.to_string();
        assert!(matches!(err, StoreError::Unavailable(_)), "{message}");
        assert!(message.contains("127.0.0.1"), "{message}");
        assert!(!message.contains("multiconnection"), "{message}");
    }
}
