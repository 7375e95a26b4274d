//! The database lock: what a processor holds on one payment (`webhook_processing:{request_ref}`)
//! when Redis is absent or failing. It only saves work: `apply_decision`'s conditional update is
//! what keeps the data right, whoever holds which lock.
//!
//! - PostgreSQL: a transaction-level advisory lock (`pg_advisory_xact_lock`) keyed by a hash of
//!   the name, taken at the start of a transaction that runs the caller's work. The server does
//!   the waiting, bounded by `SET LOCAL lock_timeout`. Commit or rollback releases it, so a
//!   pooled connection can never go back to the pool still holding it, and a lost connection
//!   releases it too.
//! - SQLite: the database's single write lock is the lock. Every write of the work runs in
//!   `BEGIN IMMEDIATE` (`write_transaction`), which waits up to the busy timeout for other
//!   writers; `apply_decision` re-reads the collection's status inside it and writes nothing
//!   when it moved, so the read-compare-write of a payment is serialised across processes.
//!   Nothing more is taken here: a second lock on a database that already admits one writer
//!   at a time would add waiting, not safety.

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::{Connection, RunQueryDsl};

use crate::connection::DbConnection;
use crate::error::StoreError;

/// The first half of every advisory key webhook-inbox takes for payments ("whkp"); the
/// two-integer key space never meets the one-bigint key of the migration lock.
const LOCK_NAMESPACE: i32 = 0x7768_6b70;

/// Whether the lock was had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Locked<T> {
    /// The lock was held while `work` ran; its result.
    Held(T),
    /// Someone else held the lock for the whole wait: `work` did not run.
    TimedOut,
}

/// Runs `work` while holding the database lock named `name`, waiting at most `wait` for it.
/// On PostgreSQL `work` runs inside the lock's transaction (its own transactions become
/// savepoints), so what it writes commits as the lock is released.
pub fn with_database_lock<T>(
    conn: &mut DbConnection,
    name: &str,
    wait: Duration,
    work: impl FnOnce(&mut DbConnection) -> Result<T, StoreError>,
) -> Result<Locked<T>, StoreError> {
    match conn {
        DbConnection::Pg(_) => {
            let key = key_of(name);
            // 0 would mean "wait forever".
            let wait_ms = wait.as_millis().clamp(1, i32::MAX as u128);
            let outcome = conn.transaction(|conn| {
                conn.batch_execute(&format!(
                    "SET LOCAL lock_timeout = {wait_ms}; \
                     SELECT pg_advisory_xact_lock({LOCK_NAMESPACE}, {key})"
                ))?;
                work(conn)
            });
            match outcome {
                Ok(value) => Ok(Locked::Held(value)),
                Err(err) if is_lock_timeout(&err) => Ok(Locked::TimedOut),
                Err(err) => Err(err),
            }
        }
        DbConnection::Sqlite(_) => work(conn).map(Locked::Held),
    }
}

/// Tries, without waiting, the database locks named in `names`, inside the caller's transaction
/// (commit or rollback releases them); returns whether each was had, in `names`' order. Nothing
/// waits, so the order they are taken in cannot deadlock. SQLite: always had (see the module
/// documentation). A batch uses it to work the payments it can lock now and to come back for the
/// rest.
pub fn try_database_locks(
    conn: &mut DbConnection,
    names: &[&str],
) -> Result<Vec<bool>, StoreError> {
    let DbConnection::Pg(c) = conn else {
        return Ok(vec![true; names.len()]);
    };
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<i32> = names.iter().map(|name| key_of(name)).collect();
    // Two names may share a key; the lock is re-entrant within the session, so both are had.
    let held: Vec<KeyHeld> = diesel::sql_query(format!(
        "SELECT k AS key, pg_try_advisory_xact_lock({LOCK_NAMESPACE}, k) AS held \
         FROM unnest($1::int4[]) AS k"
    ))
    .bind::<diesel::sql_types::Array<diesel::sql_types::Integer>, _>(&keys)
    .load(c)?;
    let had: std::collections::HashMap<i32, bool> =
        held.into_iter().map(|row| (row.key, row.held)).collect();
    Ok(keys
        .iter()
        .map(|key| had.get(key).copied().unwrap_or(false))
        .collect())
}

#[derive(diesel::QueryableByName)]
struct KeyHeld {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    key: i32,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    held: bool,
}

/// The second half of the advisory key: FNV-1a of the name, folded to 32 bits. Stable across
/// processes and versions (unlike std's hasher); a collision only makes two payments wait for
/// each other.
pub fn key_of(name: &str) -> i32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in name.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    i32::from_ne_bytes(hash.to_ne_bytes())
}

/// PostgreSQL cancels a statement that waited longer than `lock_timeout` (SQLSTATE 55P03);
/// diesel does not expose the code, only the message.
fn is_lock_timeout(err: &StoreError) -> bool {
    match err {
        StoreError::Query(diesel::result::Error::DatabaseError(_, info)) => {
            info.message().contains("lock timeout")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable_and_spread() {
        // FNV-1a test vector: "a" -> 0xe40c292c.
        assert_eq!(
            key_of("a"),
            i32::from_ne_bytes(0xe40c_292c_u32.to_ne_bytes())
        );
        assert_ne!(
            key_of("webhook_processing:REQ-1"),
            key_of("webhook_processing:REQ-2")
        );
    }
}
