//! Executing a plan: each changed collection moved to its new status, conditional on the status
//! it was read at (the fence: if one matched nothing, the whole transaction fails, whatever lock
//! the caller did or did not hold), the audit rows, and the decided events marked PROCESSED (or
//! FAILED, for an amount mismatch).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use domain::plan::{Change, Plan};
use uuid::Uuid;

use super::{Decide, EventsHeld, LockedCollection};
use crate::connection::DbConnection;
use crate::error::StoreError;
use crate::models::collections::keep_first_provider_ref;
use crate::models::events::{settle_received, Settle};
use crate::models::transitions::NewTransition;
use crate::schema::{collection_transitions, collections};
use crate::types::{SqlTime, SqlUuid};

/// Writes `plan`, made from `collections` as they were read under their locks, in the caller's
/// transaction. Fails with `Conflict` (and the caller's transaction must roll back) when a
/// collection is no longer at the status the plan was made from.
pub fn write_plan(
    conn: &mut DbConnection,
    plan: &Plan,
    collections: &[LockedCollection],
    decide: &Decide<'_>,
) -> Result<(), StoreError> {
    let ids: HashMap<&str, Uuid> = collections
        .iter()
        .map(|c| (c.state.request_ref.as_str(), c.id))
        .collect();
    let id_of = |request_ref: &str| {
        ids.get(request_ref)
            .copied()
            .ok_or_else(|| StoreError::NotFound(format!("collection {request_ref}")))
    };
    let changes = plan
        .changes
        .iter()
        .map(|change| Ok((id_of(&change.request_ref)?, change)))
        .collect::<Result<Vec<_>, StoreError>>()?;
    update_collections(conn, &changes, decide.now)?;

    let audited_ids = plan
        .audits
        .iter()
        .map(|audit| id_of(&audit.request_ref))
        .collect::<Result<Vec<_>, StoreError>>()?;
    let rows: Vec<NewTransition<'_>> = plan
        .audits
        .iter()
        .zip(audited_ids)
        .map(|(audit, collection_id)| NewTransition {
            collection_id: SqlUuid(collection_id),
            webhook_event_id: audit.event.map(SqlUuid),
            from_status: audit.decision.from.as_str(),
            to_status: audit.decision.requested.as_str(),
            outcome: audit.decision.outcome.as_str(),
            reason: &audit.reason,
            actor: decide.actor,
            created_at: SqlTime(decide.now),
        })
        .collect();
    insert_transitions(conn, &rows)?;

    let count_claim = decide.events == EventsHeld::Claimed;
    let processed: Vec<Uuid> = plan
        .audits
        .iter()
        .filter(|a| !a.fails_event)
        .filter_map(|a| a.event)
        .collect();
    let mut marked =
        settle_received(conn, &processed, Settle::Processed(decide.now), count_claim)?.len();
    // Failed with each one's own reason (rare: amount mismatches).
    let failed: Vec<(Uuid, &str)> = plan
        .audits
        .iter()
        .filter(|a| a.fails_event)
        .filter_map(|a| Some((a.event?, a.reason.as_str())))
        .collect();
    for (event, reason) in &failed {
        let settle = Settle::Failed(decide.now, reason);
        marked += settle_received(conn, &[*event], settle, count_claim)?.len();
    }
    let decided = processed.len() + failed.len();
    if marked != decided {
        // Impossible while the events are locked; if it happens, nothing is written.
        return Err(StoreError::Corrupt(format!(
            "{} of {decided} decided events were no longer RECEIVED under their lock",
            decided - marked,
        )));
    }
    Ok(())
}

/// Moves each changed collection to its new status, conditional on the status it was read at.
/// PostgreSQL: one statement for all. SQLite, whose statements cost no round trip: one per
/// collection.
fn update_collections(
    conn: &mut DbConnection,
    changes: &[(Uuid, &Change)],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if changes.is_empty() {
        return Ok(());
    }
    let updated = match conn {
        DbConnection::Pg(c) => {
            use diesel::sql_types::{Array, BigInt, Nullable, Text, Timestamptz};
            let ids: Vec<String> = changes.iter().map(|(id, _)| id.to_string()).collect();
            let from: Vec<&str> = changes.iter().map(|(_, c)| c.from.as_str()).collect();
            let to: Vec<&str> = changes.iter().map(|(_, c)| c.to.as_str()).collect();
            let steps: Vec<i64> = changes.iter().map(|(_, c)| c.version_step).collect();
            let refs: Vec<Option<&str>> = changes
                .iter()
                .map(|(_, c)| c.provider_ref.as_deref())
                .collect();
            diesel::sql_query(
                "UPDATE collections AS c SET status = v.to_status, version = c.version + v.steps, \
                 updated_at = $6, provider_ref = COALESCE(c.provider_ref, v.provider_ref) \
                 FROM unnest($1::text[]::uuid[], $2::text[], $3::text[], $4::int8[], $5::text[]) \
                 AS v(id, from_status, to_status, steps, provider_ref) \
                 WHERE c.id = v.id AND c.status = v.from_status",
            )
            .bind::<Array<Text>, _>(&ids)
            .bind::<Array<Text>, _>(&from)
            .bind::<Array<Text>, _>(&to)
            .bind::<Array<BigInt>, _>(&steps)
            .bind::<Array<Nullable<Text>>, _>(&refs)
            .bind::<Timestamptz, _>(now)
            .execute(c)?
        }
        DbConnection::Sqlite(_) => {
            let mut updated = 0;
            for (id, change) in changes {
                let target = collections::table
                    .filter(collections::id.eq(SqlUuid(*id)))
                    .filter(collections::status.eq(change.from.as_str()));
                updated += diesel::update(target)
                    .set((
                        collections::status.eq(change.to.as_str()),
                        collections::version.eq(collections::version + change.version_step),
                        collections::updated_at.eq(SqlTime(now)),
                    ))
                    .execute(conn)?;
                if let Some(reference) = &change.provider_ref {
                    keep_first_provider_ref(conn, *id, reference)?;
                }
            }
            updated
        }
    };
    if updated != changes.len() {
        return Err(StoreError::Conflict(format!(
            "{} of {} collections are no longer at the status their decisions were taken from",
            changes.len() - updated,
            changes.len()
        )));
    }
    Ok(())
}

fn insert_transitions(
    conn: &mut DbConnection,
    rows: &[NewTransition<'_>],
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    match conn {
        DbConnection::Pg(c) => {
            diesel::insert_into(collection_transitions::table)
                .values(rows)
                .execute(c)?;
        }
        DbConnection::Sqlite(_) => {
            // A statement costs SQLite no round trip: one per row.
            for row in rows {
                diesel::insert_into(collection_transitions::table)
                    .values(row)
                    .execute(conn)?;
            }
        }
    }
    Ok(())
}
