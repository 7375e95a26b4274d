//! `console_sessions`: the operator console's sessions, one row per signed-in browser, shared by
//! every api replica. A row is found by the SHA-256 of the id in the browser's cookie; the id
//! itself is never stored, so a copy of the table opens no session. How long a session lives is
//! `domain::console_session`'s rule: this module stores, finds and deletes rows by the cutoffs
//! it is given, and never decides who may sign in.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use domain::console_session::Cutoffs;

use crate::connection::{write_transaction, DbConnection};
use crate::error::StoreError;
use crate::schema::console_sessions;
use crate::types::SqlTime;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = console_sessions)]
pub struct ConsoleSession {
    /// Hex SHA-256 of the session id.
    pub id_hash: String,
    /// The API key's name; its scopes are read from the configuration, never stored.
    pub key_name: String,
    /// Which of the key's secrets signed in (a short hash of its digest): a secret rotated out of
    /// the configuration ends the sessions it opened.
    pub key_fingerprint: String,
    pub started_at: DateTime<Utc>,
    /// The last use as stored: moved forward at most once a minute (`TOUCH_EVERY`).
    pub last_seen_at: DateTime<Utc>,
}

/// A session to store, signed in at `at`.
#[derive(Debug, Clone, Copy)]
pub struct NewConsoleSession<'a> {
    pub id_hash: &'a str,
    pub key_name: &'a str,
    pub key_fingerprint: &'a str,
    pub at: DateTime<Utc>,
}

#[derive(Insertable)]
#[diesel(table_name = console_sessions)]
struct SessionRow<'a> {
    id_hash: &'a str,
    key_name: &'a str,
    key_fingerprint: &'a str,
    started_at: SqlTime,
    last_seen_at: SqlTime,
}

/// Stores a new session. In the same transaction it deletes the sessions that are over (so
/// the table shrinks at every sign-in without a scheduled job) and, when `max_open` are still
/// open, the least recently used ones: however many sign-ins there are, the table stays bounded.
pub fn open_session(
    conn: &mut DbConnection,
    new: &NewConsoleSession<'_>,
    cutoffs: Cutoffs,
    max_open: i64,
) -> Result<(), StoreError> {
    write_transaction(conn, |conn| {
        delete_ended(conn, cutoffs)?;
        let open: i64 = console_sessions::table.count().get_result(conn)?;
        let surplus = open - max_open + 1;
        if surplus > 0 {
            let oldest = diesel::alias!(crate::schema::console_sessions as oldest);
            let victims = oldest
                .select(oldest.field(console_sessions::id_hash))
                .order(oldest.field(console_sessions::last_seen_at).asc())
                .limit(surplus);
            diesel::delete(
                console_sessions::table.filter(console_sessions::id_hash.eq_any(victims)),
            )
            .execute(conn)?;
        }
        diesel::insert_into(console_sessions::table)
            .values(&SessionRow {
                id_hash: new.id_hash,
                key_name: new.key_name,
                key_fingerprint: new.key_fingerprint,
                started_at: SqlTime(new.at),
                last_seen_at: SqlTime(new.at),
            })
            .execute(conn)?;
        Ok(())
    })
}

/// The stored session with this id hash, over or not: the caller applies the rule.
pub fn find_session(
    conn: &mut DbConnection,
    id_hash: &str,
) -> Result<Option<ConsoleSession>, StoreError> {
    Ok(console_sessions::table
        .filter(console_sessions::id_hash.eq(id_hash))
        .select(ConsoleSession::as_select())
        .first(conn)
        .optional()?)
}

/// Records a use at `at`. Never moves the time back: two replicas touching at once (their
/// clocks a little apart) leave the later time.
pub fn touch_session(
    conn: &mut DbConnection,
    id_hash: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    diesel::update(
        console_sessions::table
            .filter(console_sessions::id_hash.eq(id_hash))
            .filter(console_sessions::last_seen_at.lt(SqlTime(at))),
    )
    .set(console_sessions::last_seen_at.eq(SqlTime(at)))
    .execute(conn)?;
    Ok(())
}

/// Deletes the session; true when there was one.
pub fn close_session(conn: &mut DbConnection, id_hash: &str) -> Result<bool, StoreError> {
    let deleted =
        diesel::delete(console_sessions::table.filter(console_sessions::id_hash.eq(id_hash)))
            .execute(conn)?;
    Ok(deleted > 0)
}

/// Deletes every session that is over by these cutoffs; returns how many went.
pub fn purge_ended_sessions(
    conn: &mut DbConnection,
    cutoffs: Cutoffs,
) -> Result<usize, StoreError> {
    delete_ended(conn, cutoffs)
}

/// How many sessions are over by these cutoffs.
pub fn count_ended_sessions(conn: &mut DbConnection, cutoffs: Cutoffs) -> Result<i64, StoreError> {
    Ok(console_sessions::table
        .filter(ended(cutoffs))
        .count()
        .get_result(conn)?)
}

fn delete_ended(conn: &mut DbConnection, cutoffs: Cutoffs) -> Result<usize, StoreError> {
    Ok(diesel::delete(console_sessions::table.filter(ended(cutoffs))).execute(conn)?)
}

/// `domain::console_session::standing` as a filter: at or before either cutoff is over.
fn ended(
    cutoffs: Cutoffs,
) -> diesel::dsl::Or<
    diesel::dsl::LtEq<console_sessions::last_seen_at, SqlTime>,
    diesel::dsl::LtEq<console_sessions::started_at, SqlTime>,
> {
    console_sessions::last_seen_at
        .le(SqlTime(cutoffs.idle))
        .or(console_sessions::started_at.le(SqlTime(cutoffs.lifetime)))
}
