//! Pages of collections and events for the host API: keyset pagination, so that a page costs an
//! index range scan however deep it is, and a cursor stays valid while rows change.
//!
//! - Collections come in the order they last changed (`updated_at`, then `id`), oldest change
//!   first: a reader that follows the cursors sees every change; a collection that changes while
//!   it is read moves to the end and is read again with its new state, never skipped.
//! - Events come newest first (`received_at`, then `id`, descending): `received_at` never changes,
//!   so a reader never sees an event twice; events arriving meanwhile are before its first page.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use domain::CollectionStatus;
use serde::Serialize;
use uuid::Uuid;

use crate::connection::DbConnection;
use crate::error::StoreError;
use crate::models::collections::Collection;
use crate::models::events::EventStatus;
use crate::schema::{collections, webhook_events};
use crate::types::{SqlTime, SqlUuid};

/// A position in a list: the sort time and id of the last row read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub at: DateTime<Utc>,
    pub id: Uuid,
}

#[derive(Debug, Clone, Default)]
pub struct CollectionQuery {
    pub status: Option<CollectionStatus>,
    /// Only collections changed after this instant.
    pub updated_after: Option<DateTime<Utc>>,
    /// Only collections last changed before this instant.
    pub updated_before: Option<DateTime<Utc>>,
    /// Only collections after this position, in the list's order.
    pub after: Option<Cursor>,
    /// Latest change first (the console's order) instead of the API's oldest change first. The
    /// same `(updated_at, id)` index serves both, read backwards. A cursor belongs to one order.
    pub newest_first: bool,
    pub limit: i64,
}

/// Up to `limit` collections, in the order they last changed (or the reverse).
pub fn list_collections(
    conn: &mut DbConnection,
    query: &CollectionQuery,
) -> Result<Vec<Collection>, StoreError> {
    let mut rows = collections::table
        .select(Collection::as_select())
        .limit(query.limit)
        .into_boxed();
    rows = if query.newest_first {
        rows.order((collections::updated_at.desc(), collections::id.desc()))
    } else {
        rows.order((collections::updated_at.asc(), collections::id.asc()))
    };
    if let Some(status) = query.status {
        rows = rows.filter(collections::status.eq(status.as_str()));
    }
    if let Some(at) = query.updated_after {
        rows = rows.filter(collections::updated_at.gt(SqlTime(at)));
    }
    if let Some(at) = query.updated_before {
        rows = rows.filter(collections::updated_at.lt(SqlTime(at)));
    }
    match query.after {
        Some(Cursor { at, id }) if query.newest_first => {
            rows = rows.filter(
                collections::updated_at
                    .lt(SqlTime(at))
                    .or(collections::updated_at
                        .eq(SqlTime(at))
                        .and(collections::id.lt(SqlUuid(id)))),
            );
        }
        Some(Cursor { at, id }) => {
            rows = rows.filter(
                collections::updated_at
                    .gt(SqlTime(at))
                    .or(collections::updated_at
                        .eq(SqlTime(at))
                        .and(collections::id.gt(SqlUuid(id)))),
            );
        }
        None => {}
    }
    Ok(rows.load(conn)?)
}

/// An event without its payload: what a list shows (a payload may be 256 KiB).
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize)]
#[diesel(table_name = webhook_events)]
pub struct EventSummary {
    pub id: Uuid,
    pub provider: String,
    pub event_id: Option<String>,
    pub request_ref: Option<String>,
    #[diesel(deserialize_as = String)]
    pub status: EventStatus,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub duplicate_count: i64,
    pub received_at: DateTime<Utc>,
    pub processed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default)]
pub struct EventQuery<'a> {
    pub status: Option<EventStatus>,
    pub provider: Option<&'a str>,
    pub request_ref: Option<&'a str>,
    /// Received at or after this instant.
    pub received_after: Option<DateTime<Utc>>,
    /// Received before this instant.
    pub received_before: Option<DateTime<Utc>>,
    /// Only events before this position (the list runs newest first).
    pub before: Option<Cursor>,
    pub limit: i64,
}

/// Up to `limit` events, newest first.
pub fn list_event_summaries(
    conn: &mut DbConnection,
    query: &EventQuery<'_>,
) -> Result<Vec<EventSummary>, StoreError> {
    use crate::schema::webhook_events::dsl::*;
    let mut rows = webhook_events
        .select(EventSummary::as_select())
        .order((received_at.desc(), id.desc()))
        .limit(query.limit)
        .into_boxed();
    if let Some(wanted) = query.status {
        rows = rows.filter(status.eq(wanted.as_str()));
    }
    if let Some(name) = query.provider {
        rows = rows.filter(provider.eq(name.to_owned()));
    }
    if let Some(reference) = query.request_ref {
        rows = rows.filter(request_ref.eq(reference.to_owned()));
    }
    if let Some(at) = query.received_after {
        rows = rows.filter(received_at.ge(SqlTime(at)));
    }
    if let Some(at) = query.received_before {
        rows = rows.filter(received_at.lt(SqlTime(at)));
    }
    if let Some(Cursor { at, id: last }) = query.before {
        rows = rows.filter(
            received_at
                .lt(SqlTime(at))
                .or(received_at.eq(SqlTime(at)).and(id.lt(SqlUuid(last)))),
        );
    }
    Ok(rows.load(conn)?)
}
