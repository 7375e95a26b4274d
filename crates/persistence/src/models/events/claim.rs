//! Taking events for processing: a lease (`claim_events`), or row locks held by the caller's
//! transaction (`lock_claimable`, `lock_open_events`), which settles or leases each of them
//! before it commits.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::{is_received, EventStatus, WebhookEvent};
use crate::connection::{write_transaction, DbConnection};
use crate::error::StoreError;
use crate::types::{SqlTime, SqlUuid};
use crate::{load_locked, per_backend};

/// Claims up to `limit` of the oldest claimable events (RECEIVED, `next_attempt_at <= now`):
/// each gets `attempts + 1` and becomes invisible to other claimers until `now + lease`.
/// PostgreSQL skips rows other claimers hold (SKIP LOCKED); SQLite's single writer serialises
/// claims. Returned oldest first.
pub fn claim_events(
    conn: &mut DbConnection,
    limit: i64,
    now: DateTime<Utc>,
    lease: Duration,
) -> Result<Vec<WebhookEvent>, StoreError> {
    use crate::schema::webhook_events::dsl::*;
    let lease_until = lease_end(now, lease)?;
    // Two statements, not `UPDATE … WHERE id IN (SELECT … LIMIT n FOR UPDATE SKIP LOCKED)`:
    // PostgreSQL may run such a subquery again for each row it updates, and each run skips the
    // rows the statement itself has just changed and takes the next ones, so the claim grew past
    // `limit` (seen under a generic plan: 20 rows leased for a limit of 5).
    let claimed = write_transaction(conn, |conn| -> Result<_, StoreError> {
        let claimable = webhook_events
            .select(id)
            .filter(is_received())
            .filter(next_attempt_at.le(SqlTime(now)))
            .order(next_attempt_at.asc())
            .limit(limit);
        let ids: Vec<Uuid> = load_locked!(conn, claimable, skip_locked)?;
        lease_events(conn, &ids, lease_until)
    })?;
    Ok(claimed)
}

/// Locks up to `limit` of the oldest claimable events for the caller's transaction without
/// writing them: PostgreSQL `FOR UPDATE SKIP LOCKED`; on SQLite the caller's immediate
/// transaction already excludes other claimers. Before it commits, the caller settles each of
/// them (`apply_requests`, `mark_claimed_failed`) or leases it (`lease_events`); what it does not
/// touch is claimable again at once. Returned oldest first.
pub fn lock_claimable(
    conn: &mut DbConnection,
    limit: i64,
    now: DateTime<Utc>,
) -> Result<Vec<WebhookEvent>, StoreError> {
    use crate::schema::webhook_events::dsl::*;
    // Written inline, not bound to a variable: `as_select` takes the backend of each arm.
    let mut rows: Vec<WebhookEvent> = load_locked!(
        conn,
        webhook_events
            .filter(is_received())
            .filter(next_attempt_at.le(SqlTime(now)))
            .order(next_attempt_at.asc())
            .limit(limit)
            .select(WebhookEvent::as_select()),
        skip_locked
    )?;
    rows.sort_by_key(|e| (e.received_at, e.id));
    Ok(rows)
}

/// Leases events the caller holds (`lock_claimable`) as `claim_events` would have: counts the
/// claim and hides them from other claimers until `until`. Returned oldest first.
pub fn lease_events(
    conn: &mut DbConnection,
    ids: &[Uuid],
    until: DateTime<Utc>,
) -> Result<Vec<WebhookEvent>, StoreError> {
    use crate::schema::webhook_events::dsl::*;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<SqlUuid> = ids.iter().copied().map(SqlUuid).collect();
    // By primary key only (no status filter: the caller holds the rows, still RECEIVED).
    let target = webhook_events.filter(id.eq_any(&ids));
    let mut rows: Vec<WebhookEvent> = per_backend!(conn, |c| diesel::update(target)
        .set((
            attempts.eq(attempts + 1),
            next_attempt_at.eq(SqlTime(until))
        ))
        .returning(WebhookEvent::as_returning())
        .get_results(c))?;
    rows.sort_by_key(|e| (e.received_at, e.id));
    Ok(rows)
}
/// When a lease taken at `now` runs out: what `lease_events` is given.
pub fn lease_end(now: DateTime<Utc>, lease: Duration) -> Result<DateTime<Utc>, StoreError> {
    chrono::TimeDelta::from_std(lease)
        .ok()
        .and_then(|delta| now.checked_add_signed(delta))
        .ok_or_else(|| {
            StoreError::Query(diesel::result::Error::QueryBuilderError(
                format!("lease of {lease:?} is out of range").into(),
            ))
        })
}

/// Locks those of `ids` still RECEIVED until the caller's transaction ends and returns them: a
/// leased event may have been finished by another processor after its lease ran out. By primary
/// key, the status checked here, not in the SQL (see `settle_received` for why).
pub fn lock_open_events(
    conn: &mut DbConnection,
    ids: &[Uuid],
) -> Result<HashSet<Uuid>, StoreError> {
    use crate::schema::webhook_events::dsl::*;
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    let ids: Vec<SqlUuid> = ids.iter().copied().map(SqlUuid).collect();
    let query = webhook_events.filter(id.eq_any(&ids)).select((id, status));
    let rows: Vec<(Uuid, String)> = load_locked!(conn, query)?;
    let received = EventStatus::Received.as_str();
    Ok(rows
        .into_iter()
        .filter(|(_, s)| s == received)
        .map(|(event, _)| event)
        .collect())
}
