//! Operator work on the outbox: notifications newest first in keyset pages (`created_at`, then
//! `id`, descending), or one by id, each with its collection's `request_ref`; and purging old
//! finished ones. Delivery state changes belong to the dispatcher and to `replay_notification`;
//! a purge never touches a PENDING notification, which is still owed to the application.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use uuid::Uuid;

use crate::connection::{write_transaction, DbConnection};
use crate::error::StoreError;
use crate::models::notifications::{Notification, NotificationStatus};
use crate::models::pages::Cursor;
use crate::schema::{collections, notifications};
use crate::types::{SqlTime, SqlUuid};

/// A notification with the reference of the collection it tells about.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NotificationEntry {
    #[serde(flatten)]
    pub notification: Notification,
    pub request_ref: String,
}

#[derive(Debug, Clone, Default)]
pub struct NotificationQuery<'a> {
    pub status: Option<NotificationStatus>,
    /// Only the notifications of this collection.
    pub request_ref: Option<&'a str>,
    /// Only notifications before this position (the list runs newest first).
    pub before: Option<Cursor>,
    pub limit: i64,
}

/// Up to `limit` notifications, newest first. `created_at` never changes, so a reader that
/// follows the cursors never sees one twice; those written meanwhile are before its first page.
pub fn list_notifications(
    conn: &mut DbConnection,
    query: &NotificationQuery<'_>,
) -> Result<Vec<NotificationEntry>, StoreError> {
    let mut rows = notifications::table
        .inner_join(collections::table)
        .select((Notification::as_select(), collections::request_ref))
        .order((notifications::created_at.desc(), notifications::id.desc()))
        .limit(query.limit)
        .into_boxed();
    if let Some(status) = query.status {
        rows = rows.filter(notifications::status.eq(status.as_str()));
    }
    if let Some(reference) = query.request_ref {
        rows = rows.filter(collections::request_ref.eq(reference.to_owned()));
    }
    if let Some(Cursor { at, id }) = query.before {
        rows = rows.filter(
            notifications::created_at
                .lt(SqlTime(at))
                .or(notifications::created_at
                    .eq(SqlTime(at))
                    .and(notifications::id.lt(SqlUuid(id)))),
        );
    }
    let rows: Vec<(Notification, String)> = rows.load(conn)?;
    Ok(rows.into_iter().map(entry).collect())
}

pub fn find_notification(
    conn: &mut DbConnection,
    id: Uuid,
) -> Result<Option<NotificationEntry>, StoreError> {
    let row: Option<(Notification, String)> = notifications::table
        .inner_join(collections::table)
        .filter(notifications::id.eq(SqlUuid(id)))
        .select((Notification::as_select(), collections::request_ref))
        .first(conn)
        .optional()?;
    Ok(row.map(entry))
}

fn entry((notification, request_ref): (Notification, String)) -> NotificationEntry {
    NotificationEntry {
        notification,
        request_ref,
    }
}

const PENDING: &str = NotificationStatus::Pending.as_str();

/// Deletes up to `batch` DELIVERED or FAILED notifications created before `cutoff`; returns how
/// many. Call it until it returns 0: short transactions keep the dispatchers moving during a large
/// purge. The status is checked on the rows deleted as well as when the batch is chosen, so that
/// one replayed in between (PENDING again) stays.
pub fn purge_notifications_batch(
    conn: &mut DbConnection,
    cutoff: DateTime<Utc>,
    batch: i64,
) -> Result<usize, StoreError> {
    let old = diesel::alias!(notifications as old);
    let victims = old
        .select(old.field(notifications::id))
        .filter(old.field(notifications::status).ne(PENDING))
        .filter(old.field(notifications::created_at).lt(SqlTime(cutoff)))
        .limit(batch);
    Ok(write_transaction(conn, |conn| {
        diesel::delete(
            notifications::table
                .filter(notifications::id.eq_any(victims))
                .filter(notifications::status.ne(PENDING)),
        )
        .execute(conn)
    })?)
}

/// How many notifications a purge with this cutoff would delete (DELIVERED or FAILED, created
/// before `cutoff`).
pub fn count_purgeable_notifications(
    conn: &mut DbConnection,
    cutoff: DateTime<Utc>,
) -> Result<i64, StoreError> {
    Ok(notifications::table
        .filter(notifications::status.ne(PENDING))
        .filter(notifications::created_at.lt(SqlTime(cutoff)))
        .count()
        .get_result(conn)?)
}

/// Notifications by status (PENDING, DELIVERED, FAILED), every status present.
pub fn notification_counts(conn: &mut DbConnection) -> Result<Vec<(String, i64)>, StoreError> {
    let counted: Vec<(String, i64)> = notifications::table
        .group_by(notifications::status)
        .select((notifications::status, diesel::dsl::count_star()))
        .load(conn)?;
    Ok(NotificationStatus::ALL
        .iter()
        .map(|s| {
            let n = counted
                .iter()
                .find(|(name, _)| name == s.as_str())
                .map_or(0, |(_, n)| *n);
            (s.as_str().to_owned(), n)
        })
        .collect())
}
