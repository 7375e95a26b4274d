//! r2d2 pools of `DbConnection`, and `run_blocking`, the one way async code reaches the database:
//! diesel is synchronous, so its calls run on tokio's blocking threads, bounded by the pool size.

use std::time::Duration;

use diesel::connection::{SimpleConnection, TransactionManager};

use crate::connection::{DatabaseUrl, DbConnection, SqliteOptions};
use crate::error::StoreError;

pub type DbPool = r2d2::Pool<ConnectionManager>;
pub type PooledConnection = r2d2::PooledConnection<ConnectionManager>;

/// Opens connections of the backend named by the URL (see `DbConnection::open`).
#[derive(Debug)]
pub struct ConnectionManager {
    url: DatabaseUrl,
    sqlite: SqliteOptions,
    statement_timeout: Option<Duration>,
}

#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct ConnectError(#[from] StoreError);

impl r2d2::ManageConnection for ConnectionManager {
    type Connection = DbConnection;
    type Error = ConnectError;

    fn connect(&self) -> Result<DbConnection, ConnectError> {
        let mut conn = DbConnection::open(&self.url, self.sqlite)?;
        if let (DbConnection::Pg(_), Some(limit)) = (&conn, self.statement_timeout) {
            // Server-side bounds for a service's connections: a statement that runs away, or a
            // transaction left open by a holder that stopped (frozen, partitioned), ends on the
            // server and gives its row locks back, instead of stalling every other replica.
            // Migrations and inboxctl open their own connections, without these.
            let ms = limit.as_millis().clamp(1, i32::MAX as u128);
            conn.batch_execute(&format!(
                "SET statement_timeout = {ms}; SET idle_in_transaction_session_timeout = {ms}"
            ))
            .map_err(StoreError::from)?;
        }
        Ok(conn)
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), ConnectError> {
        conn.batch_execute("SELECT 1").map_err(StoreError::from)?;
        Ok(())
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        DbConnection::is_broken_transaction_manager(conn)
    }
}

#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub max_size: u32,
    /// Connections kept open while idle.
    pub min_idle: u32,
    /// How long a caller waits for a connection. Short on the receiver, so that a stuck database
    /// turns into a fast 503 rather than a 30 s hang.
    pub connection_timeout: Duration,
    pub sqlite: SqliteOptions,
    /// PostgreSQL: `statement_timeout` and `idle_in_transaction_session_timeout` of every pooled
    /// connection; `None` leaves the server's (or the URL's) settings.
    pub statement_timeout: Option<Duration>,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            max_size: 10,
            min_idle: 1,
            connection_timeout: Duration::from_secs(2),
            sqlite: SqliteOptions::default(),
            statement_timeout: Some(Duration::from_secs(30)),
        }
    }
}

/// Builds a pool and checks that the database answers (`min_idle` connections are opened, at
/// least one). A missing directory for an SQLite file is created.
pub fn build_pool(url: &DatabaseUrl, settings: &PoolSettings) -> Result<DbPool, StoreError> {
    if let DatabaseUrl::Sqlite(path) = url {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Unavailable(format!("cannot create directory {}: {e}", dir.display()))
            })?;
        }
    }
    let manager = ConnectionManager {
        url: url.clone(),
        sqlite: settings.sqlite,
        statement_timeout: settings.statement_timeout,
    };
    // Open one connection ourselves first: r2d2 only says "timed out" when it cannot connect,
    // and an operator needs the real cause (refused, unknown host, bad password).
    let first = DbConnection::open(url, settings.sqlite)?;
    drop(first);
    r2d2::Pool::builder()
        .max_size(settings.max_size.max(1))
        .min_idle(Some(settings.min_idle.min(settings.max_size)))
        .connection_timeout(settings.connection_timeout)
        .error_handler(Box::new(LogErrors))
        .build(manager)
        .map_err(StoreError::from)
}

/// r2d2 logs connection errors through the `log` crate by default; send them to `tracing`.
#[derive(Debug)]
struct LogErrors;

impl r2d2::HandleError<ConnectError> for LogErrors {
    fn handle_error(&self, error: ConnectError) {
        tracing::warn!(%error, "database connection failed");
    }
}

/// Runs synchronous database work on a blocking thread with a pooled connection.
pub async fn run_blocking<T, F>(pool: &DbPool, work: F) -> Result<T, StoreError>
where
    F: FnOnce(&mut DbConnection) -> Result<T, StoreError> + Send + 'static,
    T: Send + 'static,
{
    let pool = pool.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get()?;
        work(&mut conn)
    })
    .await
    .map_err(|e| StoreError::Task(e.to_string()))?
}

/// A round trip to the database, for readiness checks.
pub fn ping(conn: &mut DbConnection) -> Result<(), StoreError> {
    conn.batch_execute("SELECT 1")?;
    Ok(())
}
