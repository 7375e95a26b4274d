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
    /// Only collections after this position.
    pub after: Option<Cursor>,
    pub limit: i64,
}

/// Up to `limit` collections, in the order they last changed.
pub fn list_collections(
    conn: &mut DbConnection,
    query: &CollectionQuery,
) -> Result<Vec<Collection>, StoreError> {
    let mut rows = collections::table
        .select(Collection::as_select())
        .order((collections::updated_at.asc(), collections::id.asc()))
        .limit(query.limit)
        .into_boxed();
    if let Some(status) = query.status {
        rows = rows.filter(collections::status.eq(status.as_str()));
    }
    if let Some(at) = query.updated_after {
        rows = rows.filter(collections::updated_at.gt(SqlTime(at)));
    }
    if let Some(Cursor { at, id }) = query.after {
        rows = rows.filter(
            collections::updated_at
                .gt(SqlTime(at))
                .or(collections::updated_at
                    .eq(SqlTime(at))
                    .and(collections::id.gt(SqlUuid(id)))),
        );
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
    if let Some(Cursor { at, id: last }) = query.before {
        rows = rows.filter(
            received_at
                .lt(SqlTime(at))
                .or(received_at.eq(SqlTime(at)).and(id.lt(SqlUuid(last)))),
        );
    }
    Ok(rows.load(conn)?)
}
