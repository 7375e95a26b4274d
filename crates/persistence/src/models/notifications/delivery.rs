//! Delivery state of the outbox: claiming due notifications, writing what their attempts came
//! to and making each collection's next notification due, and replaying finished ones.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::{held_until, Notification, NotificationStatus, PENDING, UNFINISHED};
use crate::connection::{write_transaction, DbConnection};
use crate::error::StoreError;
use crate::load_locked;
use crate::schema::{collections, notifications};
use crate::types::{SqlTime, SqlUuid};

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
