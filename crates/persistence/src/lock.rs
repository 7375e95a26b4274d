//! The database lock: what a processor holds on a payment (`webhook_processing:{request_ref}`)
//! when Redis is absent or failing. It only saves work: the decision transaction's row locks and
//! conditional updates are what keep the data right, whoever holds which lock.
//!
//! - PostgreSQL: transaction-level advisory locks keyed by a hash of the name, tried without
//!   waiting (`pg_try_advisory_xact_lock`) inside the transaction that does the payment's work;
//!   the caller comes back later for the ones held elsewhere. Commit or rollback releases them,
//!   so a pooled connection can never go back to the pool still holding one, and a lost
//!   connection releases them too.
//! - SQLite: the database's single write lock is the lock. Every write of the work runs in
//!   `BEGIN IMMEDIATE` (`write_transaction`), which waits up to the busy timeout for other
//!   writers, and reads the collections' statuses inside it. Nothing more is taken here: a
//!   second lock on a database that already admits one writer at a time would add waiting, not
//!   safety.

use diesel::RunQueryDsl;

use crate::connection::DbConnection;
use crate::error::StoreError;

/// Bounds how long the caller's transaction waits for a row another transaction holds (a host
/// application's long transaction on a collection, say): past `wait` the statement fails
/// (`lock_timeout`, PostgreSQL; until the transaction ends). SQLite's writers already wait no
/// longer than the busy timeout.
pub fn limit_row_waits(
    conn: &mut DbConnection,
    wait: std::time::Duration,
) -> Result<(), StoreError> {
    if let DbConnection::Pg(c) = conn {
        use diesel::connection::SimpleConnection;
        let wait_ms = wait.as_millis().clamp(1, i32::MAX as u128);
        c.batch_execute(&format!("SET LOCAL lock_timeout = {wait_ms}"))?;
    }
    Ok(())
}

/// The first half of every advisory key webhook-inbox takes for payments ("whkp"); the
/// two-integer key space never meets the one-bigint key of the migration lock.
const LOCK_NAMESPACE: i32 = 0x7768_6b70;

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
