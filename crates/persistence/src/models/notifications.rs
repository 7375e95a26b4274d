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

use crate::connection::{write_transaction, DbConnection};
use crate::error::StoreError;
use crate::load_locked;
use crate::schema::{collections, notifications};
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

/// `next_attempt_at` of a notification that waits for an earlier one of its collection, still
/// PENDING, to be delivered or to fail: never due by time. Whoever settles the earlier one makes
/// the next one due (`settle_notifications`). So only the first undelivered notification of each
/// collection is ever due, and a claim reads the due index alone, however many notifications
/// wait behind ones that back off (an endpoint down for an hour: 100,000 waiting made every
/// claim walk all of them, 200 ms each; docs/benchmarks.md). The same instant on both backends
/// (SQLite's fixed-width text has four digits for the year).
pub fn held_until() -> DateTime<Utc> {
    // 9999-12-31T00:00:00Z, always in range: the fallback is never taken.
    DateTime::from_timestamp(253_402_214_400, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Writes `rows` in the caller's transaction, which holds their collections' locks
/// (`lock_collections`): the first of a collection's is due at once unless the collection has a
/// PENDING notification already, the others wait for it (`held_until`). Because the dispatcher
/// locks those collections before it settles a notification and makes the next one due, it
/// either sees these rows (committed before it looks) or settled its own before this looks. On
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

/// Claims up to `limit` due notifications for delivery, the longest due first: each is the
/// first undelivered one of its collection (the others wait, `held_until`), so a collection's
/// changes arrive in order. Each is hidden from other dispatchers until `lease_end` and its
/// attempt counted; a dispatcher that dies leaves it to be claimed again after that. Returned in
/// delivery order.
pub fn claim_notifications(
    conn: &mut DbConnection,
    limit: i64,
    now: DateTime<Utc>,
    lease_end: DateTime<Utc>,
) -> Result<Vec<Notification>, StoreError> {
    let mut claimed = match conn {
        // One statement: one round trip, no BEGIN and COMMIT of its own. The lock and the lease
        // are taken together, as the transaction below takes them on SQLite.
        DbConnection::Pg(c) => {
            use diesel::sql_types::{BigInt, Timestamptz};
            diesel::sql_query(
                "UPDATE notifications AS n \
                 SET next_attempt_at = $2, attempts = n.attempts + 1 \
                 FROM (SELECT id FROM notifications \
                       WHERE status = 'PENDING' AND next_attempt_at <= $1 \
                       ORDER BY next_attempt_at LIMIT $3 \
                       FOR UPDATE SKIP LOCKED) AS due \
                 WHERE n.id = due.id \
                 RETURNING n.id, n.collection_id, n.transition_id, n.type AS kind, n.payload, \
                   n.status, n.attempts, n.next_attempt_at, n.last_error, n.delivered_at, \
                   n.created_at",
            )
            .bind::<Timestamptz, _>(now)
            .bind::<Timestamptz, _>(lease_end)
            .bind::<BigInt, _>(limit)
            .load::<Notification>(c)?
        }
        // Its immediate transaction excludes other claimers; SQLite has no `FOR UPDATE`.
        DbConnection::Sqlite(_) => write_transaction(conn, |conn| {
            let ids: Vec<Uuid> = notifications::table
                .filter(notifications::status.eq(PENDING))
                .filter(notifications::next_attempt_at.le(SqlTime(now)))
                .order(notifications::next_attempt_at.asc())
                .limit(limit)
                .select(notifications::id)
                .load(conn)?;
            if ids.is_empty() {
                return Ok::<_, StoreError>(Vec::new());
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
                .select(Notification::as_select())
                .load(conn)?)
        })?,
    };
    claimed.sort_by_key(|n| n.transition_id);
    Ok(claimed)
}

const PENDING: &str = NotificationStatus::Pending.as_str();

/// An attempt that did not get a 2xx: what went wrong, and when to try again (`None`: no attempt
/// left, it is FAILED).
#[derive(Debug, Clone)]
pub struct Undelivered {
    pub id: Uuid,
    pub error: String,
    pub retry_at: Option<DateTime<Utc>>,
}

/// Writes what a batch of attempts came to, in one transaction: `delivered` got a 2xx; each of
/// `undelivered` is due again at its `retry_at` or FAILED. The next notification of each
/// collection whose notification left PENDING (delivered or FAILED) becomes due, under the
/// collection's lock, taken as a decision takes it (in id order), so that a decision writing the
/// collection's next notification at the same time either committed it before (and it is made
/// due here) or sees this one settled (and writes it due; `write_notifications`).
///
/// A collection that a decision holds now is not waited for: its next notification is made due
/// by `release_next` once the decision ends (its id is returned, PostgreSQL only), so a batch of
/// attempts is written at once however busy its collections are. A decision holds a collection
/// for a whole round; waiting for it made this take 12 ms on average under load.
pub fn settle_notifications(
    conn: &mut DbConnection,
    delivered: &[Uuid],
    undelivered: &[Undelivered],
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>, StoreError> {
    let leaving: Vec<SqlUuid> = delivered
        .iter()
        .copied()
        .chain(
            undelivered
                .iter()
                .filter(|u| u.retry_at.is_none())
                .map(|u| u.id),
        )
        .map(SqlUuid)
        .collect();
    write_transaction(conn, |conn| {
        let of_leaving: Vec<Uuid> = notifications::table
            .filter(notifications::id.eq_any(&leaving))
            .select(notifications::collection_id)
            .distinct()
            .load(conn)?;
        let free: Vec<Uuid> = match conn {
            DbConnection::Pg(c) if !of_leaving.is_empty() => {
                let keys: Vec<SqlUuid> = of_leaving.iter().copied().map(SqlUuid).collect();
                collections::table
                    .filter(collections::id.eq_any(keys))
                    .order(collections::id.asc())
                    .select(collections::id)
                    .for_share()
                    .skip_locked()
                    .load(c)?
            }
            // Its immediate transaction already excludes every other writer.
            _ => of_leaving.clone(),
        };
        if !delivered.is_empty() {
            let keys: Vec<SqlUuid> = delivered.iter().copied().map(SqlUuid).collect();
            diesel::update(notifications::table.filter(notifications::id.eq_any(keys)))
                .set((
                    notifications::status.eq(NotificationStatus::Delivered.as_str()),
                    notifications::delivered_at.eq(SqlTime(now)),
                    notifications::last_error.eq(None::<String>),
                ))
                .execute(conn)?;
        }
        for u in undelivered {
            let target = notifications::table.filter(notifications::id.eq(SqlUuid(u.id)));
            match u.retry_at {
                Some(at) => diesel::update(target)
                    .set((
                        notifications::next_attempt_at.eq(SqlTime(at)),
                        notifications::last_error.eq(&u.error),
                    ))
                    .execute(conn)?,
                None => diesel::update(target)
                    .set((
                        notifications::status.eq(NotificationStatus::Failed.as_str()),
                        notifications::last_error.eq(&u.error),
                    ))
                    .execute(conn)?,
            };
        }
        if !free.is_empty() {
            let keys: Vec<SqlUuid> = free.iter().copied().map(SqlUuid).collect();
            release_held(conn, Some(&keys), now)?;
        }
        Ok(of_leaving
            .into_iter()
            .filter(|c| !free.contains(c))
            .collect())
    })
}

/// Makes due the next notification of each of `collections` whose earlier ones have all left
/// PENDING: what `settle_notifications` left to do for collections a decision held. Waits for
/// their locks (in id order, as decisions take them), so it runs after those decisions commit
/// and sees what they wrote.
pub fn release_next(
    conn: &mut DbConnection,
    collections: &[Uuid],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if collections.is_empty() {
        return Ok(());
    }
    let keys: Vec<SqlUuid> = collections.iter().copied().map(SqlUuid).collect();
    write_transaction(conn, |conn| {
        if let DbConnection::Pg(c) = conn {
            let _: Vec<Uuid> = collections::table
                .filter(collections::id.eq_any(&keys))
                .order(collections::id.asc())
                .select(collections::id)
                .for_share()
                .load(c)?;
        }
        release_held(conn, Some(&keys), now)?;
        Ok(())
    })
}

/// PENDING, as PostgreSQL's probes of one collection's notifications write it: the same rows as
/// `status = 'PENDING'` (the column holds three values), but a condition the due index
/// (`WHERE status = 'PENDING'`) does not answer, so the probe stays on the collection's index.
/// With `status = 'PENDING'`, on a young table without statistics, PostgreSQL read the whole
/// due index on every probe too (a bitmap AND of both): every PENDING row, once per collection.
const UNFINISHED: &str = "n.status NOT IN ('DELIVERED', 'FAILED')";

/// Makes due, at `now`, each waiting notification (`held_until`) that no longer has an earlier
/// PENDING one in its collection: of `collections`, or of every collection (`None`, the
/// dispatcher's occasional sweep, `release_orphans`). Returns how many.
fn release_held(
    conn: &mut DbConnection,
    collections: Option<&[SqlUuid]>,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    use diesel::dsl::{exists, not};
    if let DbConnection::Pg(c) = conn {
        use diesel::sql_types::{Array, Timestamptz, Uuid as PgUuid};
        // The first PENDING notification of each collection, through the collection's index
        // (`UNFINISHED`), made due when it waits. The collections: those given, or every one
        // with a waiting notification (read through the due index).
        let of = match collections {
            Some(_) => "unnest($3::uuid[]) AS c(id)",
            None => {
                "(SELECT DISTINCT collection_id AS id FROM notifications \
                      WHERE status = 'PENDING' AND next_attempt_at = $2) AS c"
            }
        };
        let query = diesel::sql_query(format!(
            "UPDATE notifications SET next_attempt_at = $1 WHERE id IN ( \
               SELECT first.id FROM {of} \
               CROSS JOIN LATERAL (SELECT n.id, n.next_attempt_at FROM notifications AS n \
                 WHERE n.collection_id = c.id AND {UNFINISHED} \
                 ORDER BY n.transition_id LIMIT 1) AS first \
               WHERE first.next_attempt_at = $2)"
        ))
        .bind::<Timestamptz, _>(now)
        .bind::<Timestamptz, _>(held_until());
        return Ok(match collections {
            Some(keys) => {
                let keys: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
                query.bind::<Array<PgUuid>, _>(keys).execute(c)?
            }
            None => query.execute(c)?,
        });
    }
    let earlier = diesel::alias!(notifications as earlier);
    let earlier_pending = earlier
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
    let waiting = notifications::table
        .filter(notifications::status.eq(PENDING))
        .filter(notifications::next_attempt_at.eq(SqlTime(held_until())))
        .filter(not(exists(earlier_pending)));
    Ok(match collections {
        Some(keys) => diesel::update(waiting.filter(notifications::collection_id.eq_any(keys)))
            .set(notifications::next_attempt_at.eq(SqlTime(now)))
            .execute(conn)?,
        None => diesel::update(waiting)
            .set(notifications::next_attempt_at.eq(SqlTime(now)))
            .execute(conn)?,
    })
}

/// Makes due every waiting notification whose collection has no earlier PENDING one left: what
/// `settle_notifications` does as it goes, for any a settle could not reach (one written by a
/// version without it, or a row changed by hand). The dispatcher runs it now and then; it reads
/// only the waiting ones. Returns how many it released.
pub fn release_orphans(conn: &mut DbConnection, now: DateTime<Utc>) -> Result<usize, StoreError> {
    release_held(conn, None, now)
}

/// The endpoint answered 2xx to each of `ids`: `settle_notifications` for them alone, then
/// `release_next` for the collections it left.
pub fn mark_delivered(
    conn: &mut DbConnection,
    ids: &[Uuid],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let busy = settle_notifications(conn, ids, &[], now)?;
    release_next(conn, &busy, now)
}

/// An attempt failed: due again at `retry_at`, or FAILED (`None`: no attempt left), and then the
/// next of its collection is due: `settle_notifications` for it alone, then `release_next`.
pub fn mark_undelivered(
    conn: &mut DbConnection,
    id: Uuid,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
) -> Result<(), StoreError> {
    let attempt = Undelivered {
        id,
        error: error.to_owned(),
        retry_at,
    };
    let now = crate::now();
    let busy = settle_notifications(conn, &[], &[attempt], now)?;
    release_next(conn, &busy, now)
}

/// Sends a FAILED or DELIVERED notification again: PENDING, attempts from zero, due now, or
/// waiting (`held_until`) while an earlier one of its collection is still PENDING. It does not
/// hold back the collection's later ones that are due already. Under the collection's lock, as
/// a decision writes (`write_notifications`). Returns whether it existed and was not pending.
pub fn replay_notification(
    conn: &mut DbConnection,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    write_transaction(conn, |conn| {
        let found: Option<(Uuid, i64)> = notifications::table
            .filter(notifications::id.eq(SqlUuid(id)))
            .select((notifications::collection_id, notifications::transition_id))
            .first(conn)
            .optional()?;
        let Some((collection, transition)) = found else {
            return Ok(false);
        };
        let locked = collections::table
            .filter(collections::id.eq(SqlUuid(collection)))
            .select(collections::id);
        let _: Vec<Uuid> = load_locked!(conn, locked)?;
        let earlier_pending: i64 = notifications::table
            .filter(notifications::collection_id.eq(SqlUuid(collection)))
            .filter(notifications::transition_id.lt(transition))
            .filter(notifications::status.eq(PENDING))
            .count()
            .get_result(conn)?;
        let due = if earlier_pending > 0 {
            held_until()
        } else {
            now
        };
        let replayed = diesel::update(
            notifications::table
                .filter(notifications::id.eq(SqlUuid(id)))
                .filter(notifications::status.ne(PENDING)),
        )
        .set((
            notifications::status.eq(PENDING),
            notifications::attempts.eq(0),
            notifications::next_attempt_at.eq(SqlTime(due)),
            notifications::delivered_at.eq(None::<SqlTime>),
        ))
        .execute(conn)?;
        Ok(replayed == 1)
    })
}

/// The oldest undelivered (PENDING) notification's creation time, for the lag gauge.
pub fn oldest_undelivered(conn: &mut DbConnection) -> Result<Option<DateTime<Utc>>, StoreError> {
    Ok(notifications::table
        .filter(notifications::status.eq(PENDING))
        .select(diesel::dsl::min(notifications::created_at))
        .first::<Option<DateTime<Utc>>>(conn)?)
}
