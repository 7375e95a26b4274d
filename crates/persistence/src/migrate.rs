//! Embedded migrations, one tree per backend, and the one function that applies them. Replicas
//! start together, so on PostgreSQL the run holds an advisory lock: the first applies, the others
//! wait and then find nothing pending. On SQLite an immediate transaction serialises the run.

use diesel::connection::SimpleConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::connection::{write_transaction, DbConnection};
use crate::error::StoreError;

pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

/// Arbitrary but fixed: the advisory lock key of webhook-inbox migrations ("whinbox" in ASCII).
const MIGRATION_LOCK_KEY: i64 = 0x0077_6869_6e62_6f78;

/// Applies every pending migration; returns the versions applied (empty when up to date).
pub fn run_migrations(conn: &mut DbConnection) -> Result<Vec<String>, StoreError> {
    match conn {
        DbConnection::Pg(_) => {
            conn.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))?;
            let result = apply(conn, POSTGRES_MIGRATIONS);
            // Always unlock, even after a failed run; a lost connection releases it anyway.
            let unlocked =
                conn.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"));
            let applied = result?;
            unlocked?;
            Ok(applied)
        }
        DbConnection::Sqlite(_) => write_transaction(conn, |conn| apply(conn, SQLITE_MIGRATIONS)),
    }
}

fn apply(
    conn: &mut DbConnection,
    migrations: EmbeddedMigrations,
) -> Result<Vec<String>, StoreError> {
    let applied = conn
        .run_pending_migrations(migrations)
        .map_err(|e| StoreError::Migration(e.to_string()))?;
    Ok(applied.iter().map(ToString::to_string).collect())
}

/// Versions not yet applied, for `inboxctl migrate --check` and readiness reports.
pub fn pending_migrations(conn: &mut DbConnection) -> Result<Vec<String>, StoreError> {
    let source = match conn {
        DbConnection::Pg(_) => POSTGRES_MIGRATIONS,
        DbConnection::Sqlite(_) => SQLITE_MIGRATIONS,
    };
    let pending = conn
        .pending_migrations(source)
        .map_err(|e| StoreError::Migration(e.to_string()))?;
    Ok(pending
        .iter()
        .map(|m| m.name().version().to_string())
        .collect())
}
