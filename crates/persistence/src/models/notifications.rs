//! `notifications`: the transactional outbox. Every decision that changes a collection (applied,
//! override) or refuses a success for its amount writes one row, in the decision's transaction,
//! so a change is never told without having happened and never happens without being told. The
//! dispatcher delivers them to the host application, in order per collection.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use domain::{CollectionStatus, Decision, Outcome};
use serde::Serialize;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::connection::{write_transaction, DbConnection};
use crate::error::StoreError;
use crate::load_locked;
use crate::schema::notifications;
use crate::types::{SqlJson, SqlTime, SqlUuid};

/// The PostgreSQL channel told of each notification on commit, for applications that listen
/// instead of taking deliveries: payload `{"id","request_ref","status"}`.
pub const COLLECTIONS_CHANNEL: &str = "webhook_inbox_collections";

/// Where a notification is in its delivery: `Pending` until the endpoint answers 2xx
/// (`Delivered`) or the attempts run out (`Failed`); a replay makes it `Pending` again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NotificationStatus {
    Pending,
    Delivered,
    Failed,
}

impl NotificationStatus {
    pub const ALL: [NotificationStatus; 3] = [
        NotificationStatus::Pending,
        NotificationStatus::Delivered,
        NotificationStatus::Failed,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            NotificationStatus::Pending => "PENDING",
            NotificationStatus::Delivered => "DELIVERED",
            NotificationStatus::Failed => "FAILED",
        }
    }
}

impl fmt::Display for NotificationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for NotificationStatus {
    type Err = String;

    /// Case-insensitive, as operators and query strings write it.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NotificationStatus::ALL
            .into_iter()
            .find(|status| status.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown notification status {s:?}"))
    }
}

/// What a notification says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum NotificationType {
    #[serde(rename = "collection.updated")]
    Updated,
    #[serde(rename = "collection.succeeded")]
    Succeeded,
    #[serde(rename = "collection.failed")]
    Failed,
    #[serde(rename = "collection.amount_mismatch")]
    AmountMismatch,
}

impl NotificationType {
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationType::Updated => "collection.updated",
            NotificationType::Succeeded => "collection.succeeded",
            NotificationType::Failed => "collection.failed",
            NotificationType::AmountMismatch => "collection.amount_mismatch",
        }
    }

    /// The type of a decision's notification, or `None` when the decision is not told (the
    /// collection did not change: unchanged, skipped, ignored).
    pub fn of(decision: &Decision) -> Option<NotificationType> {
        if decision.outcome == Outcome::AmountMismatch {
            return Some(NotificationType::AmountMismatch);
        }
        if !decision.outcome.changes_status() {
            return None;
        }
        Some(match decision.requested {
            CollectionStatus::Success => NotificationType::Succeeded,
            CollectionStatus::Failed => NotificationType::Failed,
            _ => NotificationType::Updated,
        })
    }
}

/// The collection as it stands after the decision, and what caused it: the `data` a
/// notification carries.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangeData {
    pub request_ref: String,
    pub status: CollectionStatus,
    pub previous_status: CollectionStatus,
    pub amount: Option<String>,
    pub currency: Option<String>,
    pub provider: Option<String>,
    pub provider_ref: Option<String>,
    pub version: i64,
    /// The webhook event that asked for the change; `None` for an operator's override.
    pub event_id: Option<Uuid>,
    pub occurred_at: DateTime<Utc>,
}

/// One notification to write, with its decision's audit row.
#[derive(Debug, Clone)]
pub(crate) struct NewNotification {
    pub id: Uuid,
    pub collection_id: Uuid,
    pub transition_id: i64,
    pub kind: NotificationType,
    pub data: ChangeData,
}

impl NewNotification {
    /// The body delivered, as Standard Webhooks payloads are shaped: `type`, `timestamp`, `data`.
    pub fn body(&self) -> Value {
        json!({
            "type": self.kind.as_str(),
            "timestamp": self.data.occurred_at,
            "data": self.data,
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = notifications)]
struct NotificationRow<'a> {
    id: SqlUuid,
    collection_id: SqlUuid,
    transition_id: i64,
    kind: &'a str,
    payload: SqlJson,
    status: &'a str,
    attempts: i32,
    next_attempt_at: SqlTime,
    created_at: SqlTime,
}

/// Writes `rows` in the caller's transaction, due at once; on PostgreSQL also tells
/// `COLLECTIONS_CHANNEL` (delivered on commit, never for a rollback).
pub(crate) fn write_notifications(
    conn: &mut DbConnection,
    rows: &[NewNotification],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let inserts: Vec<NotificationRow<'_>> = rows
        .iter()
        .map(|n| NotificationRow {
            id: SqlUuid(n.id),
            collection_id: SqlUuid(n.collection_id),
            transition_id: n.transition_id,
            kind: n.kind.as_str(),
            payload: SqlJson(n.body()),
            status: PENDING,
            attempts: 0,
            next_attempt_at: SqlTime(now),
            created_at: SqlTime(now),
        })
        .collect();
    match conn {
        DbConnection::Pg(c) => {
            diesel::insert_into(notifications::table)
                .values(&inserts)
                .execute(c)?;
            use diesel::sql_types::{Array, Text};
            let told: Vec<String> = rows
                .iter()
                .map(|n| {
                    json!({"id": n.id, "request_ref": n.data.request_ref, "status": n.data.status})
                        .to_string()
                })
                .collect();
            diesel::sql_query(format!(
                "SELECT pg_notify('{COLLECTIONS_CHANNEL}', told) FROM unnest($1::text[]) AS told"
            ))
            .bind::<Array<Text>, _>(&told)
            .execute(c)?;
        }
        DbConnection::Sqlite(_) => {
            for row in &inserts {
                diesel::insert_into(notifications::table)
                    .values(row)
                    .execute(conn)?;
            }
        }
    }
    Ok(())
}

/// A stored notification.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize)]
#[diesel(table_name = notifications)]
pub struct Notification {
    pub id: Uuid,
    pub collection_id: Uuid,
    pub transition_id: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub payload: Value,
    /// `PENDING`, `DELIVERED` or `FAILED`: [`NotificationStatus::as_str`].
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// A collection's notifications, in the order they are delivered.
pub fn notifications_of(
    conn: &mut DbConnection,
    collection_id: Uuid,
) -> Result<Vec<Notification>, StoreError> {
    Ok(notifications::table
        .filter(notifications::collection_id.eq(SqlUuid(collection_id)))
        .order(notifications::transition_id.asc())
        .select(Notification::as_select())
        .load(conn)?)
}

/// Claims up to `limit` due notifications for delivery, each the earliest still PENDING of its
/// collection (a later one waits while an earlier one is undelivered, so a collection's changes
/// arrive in order; a FAILED one no longer holds the rest back). Each is hidden from other
/// dispatchers until `lease_end` and its attempt counted; a dispatcher that dies leaves it to be
/// claimed again after that. Returned in delivery order.
pub fn claim_notifications(
    conn: &mut DbConnection,
    limit: i64,
    now: DateTime<Utc>,
    lease_end: DateTime<Utc>,
) -> Result<Vec<Notification>, StoreError> {
    use diesel::dsl::{exists, not};
    write_transaction(conn, |conn| {
        let earlier = diesel::alias!(notifications as earlier);
        let held_back = earlier
            .filter(
                earlier
                    .field(notifications::collection_id)
                    .eq(notifications::collection_id),
            )
            .filter(
                earlier
                    .field(notifications::transition_id)
                    .lt(notifications::transition_id),
            )
            .filter(earlier.field(notifications::status).eq(PENDING));
        let due = notifications::table
            .filter(notifications::status.eq(PENDING))
            .filter(notifications::next_attempt_at.le(SqlTime(now)))
            .filter(not(exists(held_back)))
            .order(notifications::next_attempt_at.asc())
            .limit(limit)
            .select(notifications::id);
        let ids: Vec<Uuid> = load_locked!(conn, due, skip_locked)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<SqlUuid> = ids.iter().copied().map(SqlUuid).collect();
        diesel::update(notifications::table.filter(notifications::id.eq_any(&keys)))
            .set((
                notifications::next_attempt_at.eq(SqlTime(lease_end)),
                notifications::attempts.eq(notifications::attempts + 1),
            ))
            .execute(conn)?;
        Ok(notifications::table
            .filter(notifications::id.eq_any(&keys))
            .order(notifications::transition_id.asc())
            .select(Notification::as_select())
            .load(conn)?)
    })
}

const PENDING: &str = NotificationStatus::Pending.as_str();

/// The endpoint answered 2xx to each of `ids`.
pub fn mark_delivered(
    conn: &mut DbConnection,
    ids: &[Uuid],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    let keys: Vec<SqlUuid> = ids.iter().copied().map(SqlUuid).collect();
    diesel::update(notifications::table.filter(notifications::id.eq_any(keys)))
        .set((
            notifications::status.eq("DELIVERED"),
            notifications::delivered_at.eq(SqlTime(now)),
            notifications::last_error.eq(None::<String>),
        ))
        .execute(conn)?;
    Ok(())
}

/// An attempt failed: due again at `retry_at`, or FAILED (`None`: no attempt left).
pub fn mark_undelivered(
    conn: &mut DbConnection,
    id: Uuid,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
) -> Result<(), StoreError> {
    let target = notifications::table.filter(notifications::id.eq(SqlUuid(id)));
    match retry_at {
        Some(at) => diesel::update(target)
            .set((
                notifications::next_attempt_at.eq(SqlTime(at)),
                notifications::last_error.eq(error),
            ))
            .execute(conn)?,
        None => diesel::update(target)
            .set((
                notifications::status.eq(NotificationStatus::Failed.as_str()),
                notifications::last_error.eq(error),
            ))
            .execute(conn)?,
    };
    Ok(())
}

/// Sends a FAILED or DELIVERED notification again: PENDING, due now, attempts from zero.
/// Returns whether it existed and was not pending already.
pub fn replay_notification(
    conn: &mut DbConnection,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let replayed = diesel::update(
        notifications::table
            .filter(notifications::id.eq(SqlUuid(id)))
            .filter(notifications::status.ne(PENDING)),
    )
    .set((
        notifications::status.eq(PENDING),
        notifications::attempts.eq(0),
        notifications::next_attempt_at.eq(SqlTime(now)),
        notifications::delivered_at.eq(None::<SqlTime>),
    ))
    .execute(conn)?;
    Ok(replayed == 1)
}

/// The oldest undelivered (PENDING) notification's creation time, for the lag gauge.
pub fn oldest_undelivered(conn: &mut DbConnection) -> Result<Option<DateTime<Utc>>, StoreError> {
    Ok(notifications::table
        .filter(notifications::status.eq(PENDING))
        .select(diesel::dsl::min(notifications::created_at))
        .first::<Option<DateTime<Utc>>>(conn)?)
}
