//! The persistence layer's error type. Callers map it to their own answers: the receiver turns
//! `Unavailable` into 503 (never a 4xx), the processor treats `is_transient()` errors as retryable.
//! Messages never contain a database password (`DatabaseUrl` redacts it).

use diesel::result::{DatabaseErrorKind, Error as DieselError};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or did not answer in time: retry later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("{0} not found")]
    NotFound(String),
    /// A uniqueness rule refused the write (e.g. a collection with this request_ref exists).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A query failed for a reason other than the above.
    #[error("database error: {0}")]
    Query(#[source] DieselError),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),
    /// A stored value breaks the schema's rules (e.g. an unknown status word).
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// The blocking task running database work panicked or was cancelled.
    #[error("database task failed: {0}")]
    Task(String),
}

impl StoreError {
    /// Whether trying the same work again later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Unavailable(_) | StoreError::Task(_) => true,
            StoreError::Query(DieselError::DatabaseError(kind, info)) => {
                matches!(kind, DatabaseErrorKind::SerializationFailure)
                    // SQLite reports contention as "database is locked" once busy_timeout passes.
                    || info.message().contains("database is locked")
                    || info.message().contains("deadlock detected")
            }
            _ => false,
        }
    }

    /// Whether a row held by another transaction was not had within the transaction's
    /// `lock_timeout` (`lock::limit_row_waits`; PostgreSQL's `lock_not_available`).
    pub fn is_lock_timeout(&self) -> bool {
        matches!(self, StoreError::Query(DieselError::DatabaseError(_, info))
            if info.message().contains("due to lock timeout"))
    }
}

impl From<DieselError> for StoreError {
    fn from(err: DieselError) -> Self {
        match err {
            DieselError::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                info,
            ) => StoreError::Unavailable(info.message().to_owned()),
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                StoreError::Conflict(info.message().to_owned())
            }
            DieselError::NotFound => StoreError::NotFound("row".to_owned()),
            other => StoreError::Query(other),
        }
    }
}

/// A stored status no rule knows: the row was written by something else than this code.
impl From<domain::UnknownStatus> for StoreError {
    fn from(err: domain::UnknownStatus) -> Self {
        StoreError::Corrupt(err.to_string())
    }
}

impl From<r2d2::Error> for StoreError {
    fn from(err: r2d2::Error) -> Self {
        StoreError::Unavailable(err.to_string())
    }
}
