//! `notifications`: the transactional outbox. Every decision that changes a collection (applied,
//! override) or refuses a success for its amount writes one row, in the decision's transaction,
//! so a change is never told without having happened and never happens without being told. The
//! dispatcher delivers them to the host application, in order per collection.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use domain::{CollectionStatus, Decision, Outcome};
use serde::Serialize;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::connection::DbConnection;
use crate::error::StoreError;
use crate::schema::notifications;
use crate::types::{SqlJson, SqlTime, SqlUuid};

mod delivery;

pub use self::delivery::{
    claim_notifications, mark_delivered, mark_undelivered, release_next, release_orphans,
    replay_notification, settle_notifications, Undelivered,
};

/// The PostgreSQL channel told of each notification on commit, for applications that listen
/// instead of taking deliveries: payload `{"id","request_ref","status"}`.
pub const COLLECTIONS_CHANNEL: &str = "webhook_inbox_collections";

const PENDING: &str = NotificationStatus::Pending.as_str();

/// PENDING, as PostgreSQL's probes of one collection's notifications write it: the same rows as
/// `status = 'PENDING'` (the column holds three values), but a condition the due index
/// (`WHERE status = 'PENDING'`) does not answer, so the probe stays on the collection's index.
/// With `status = 'PENDING'`, on a young table without statistics, PostgreSQL read the whole
/// due index on every probe too (a bitmap AND of both): every PENDING row, once per collection.
const UNFINISHED: &str = "n.status NOT IN ('DELIVERED', 'FAILED')";

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

/// `next_attempt_at` of a notification that waits for an earlier one of its collection, still
/// PENDING, to be delivered or to fail: never due by time. Whoever settles the earlier one makes
/// the next one due (`settle_notifications`). So only the first undelivered notification of each
/// collection is ever due, and a claim reads the due index alone, however many notifications
/// wait behind ones that back off (an endpoint down for an hour: 80,000 waiting made every claim
/// walk all of them, 200 ms each; docs/benchmarks.md). The same instant on both backends
/// (SQLite's fixed-width text has four digits for the year).
pub fn held_until() -> DateTime<Utc> {
    // 9999-12-31T00:00:00Z, always in range: the fallback is never taken.
    DateTime::from_timestamp(253_402_214_400, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Writes `rows` in the caller's transaction, which holds their collections' locks
/// (`lock_collections`): the first of a collection's is due at once unless the collection has a
/// PENDING notification already, the others wait for it (`held_until`). Because the dispatcher
/// makes a collection's next notification due only under the collection's lock
/// (`settle_notifications`, `release_next`), it either sees these rows (committed before it
/// looks) or settled its own before this looks. On
/// PostgreSQL it also tells `COLLECTIONS_CHANNEL` (delivered on commit, never for a rollback).
pub(crate) fn write_notifications(
    conn: &mut DbConnection,
    rows: &[NewNotification],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let collections: Vec<SqlUuid> = rows
        .iter()
        .map(|n| n.collection_id)
        .collect::<HashSet<_>>()
        .into_iter()
        .map(SqlUuid)
        .collect();
    let waiting: Vec<Uuid> = match conn {
        // Collection by collection through its index (`UNFINISHED`).
        DbConnection::Pg(c) => {
            #[derive(QueryableByName)]
            struct Waiting {
                #[diesel(sql_type = crate::types::DbUuid)]
                id: Uuid,
            }
            let keys: Vec<Uuid> = collections.iter().map(|k| k.0).collect();
            diesel::sql_query(format!(
                "SELECT c.id FROM unnest($1::uuid[]) AS c(id) \
                 CROSS JOIN LATERAL (SELECT 1 FROM notifications AS n \
                   WHERE n.collection_id = c.id AND {UNFINISHED} LIMIT 1) AS pending"
            ))
            .bind::<diesel::sql_types::Array<diesel::sql_types::Uuid>, _>(&keys)
            .load::<Waiting>(c)?
            .into_iter()
            .map(|w| w.id)
            .collect()
        }
        DbConnection::Sqlite(_) => notifications::table
            .filter(notifications::collection_id.eq_any(&collections))
            .filter(notifications::status.eq(PENDING))
            .select(notifications::collection_id)
            .distinct()
            .load(conn)?,
    };
    let mut first: HashMap<Uuid, i64> = HashMap::new();
    for n in rows.iter().filter(|n| !waiting.contains(&n.collection_id)) {
        let earliest = first.entry(n.collection_id).or_insert(n.transition_id);
        *earliest = (*earliest).min(n.transition_id);
    }
    let held = held_until();
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
            next_attempt_at: SqlTime(match first.get(&n.collection_id) {
                Some(&earliest) if earliest == n.transition_id => now,
                _ => held,
            }),
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
#[derive(Debug, Clone, PartialEq, Queryable, QueryableByName, Selectable, Serialize)]
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
    /// `held_until` while it waits for an earlier one of its collection: shown as null.
    #[serde(serialize_with = "serialize_next_attempt")]
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl Notification {
    /// When it is tried next: `None` while it waits for an earlier notification of its
    /// collection (`held_until`), which has no time of its own.
    pub fn next_attempt(&self) -> Option<DateTime<Utc>> {
        (self.next_attempt_at < held_until()).then_some(self.next_attempt_at)
    }
}

fn serialize_next_attempt<S: serde::Serializer>(
    at: &DateTime<Utc>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    (*at < held_until()).then_some(*at).serialize(serializer)
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

/// The oldest undelivered (PENDING) notification's creation time, for the lag gauge.
pub fn oldest_undelivered(conn: &mut DbConnection) -> Result<Option<DateTime<Utc>>, StoreError> {
    Ok(notifications::table
        .filter(notifications::status.eq(PENDING))
        .select(diesel::dsl::min(notifications::created_at))
        .first::<Option<DateTime<Utc>>>(conn)?)
}
