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
use crate::models::collections::{keep_first_provider, keep_first_provider_ref};
use crate::models::events::{settle_received, Settle};
use crate::models::notifications::{
    write_notifications, ChangeData, NewNotification, NotificationType,
};
use crate::models::transitions::NewTransition;
use crate::per_backend;
use crate::schema::{collection_transitions, collections, webhook_events};
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
    let providers = event_providers(conn, plan)?;
    let first_providers = first_providers(plan, &providers);
    let changes = plan
        .changes
        .iter()
        .map(|change| {
            let provider = first_providers.get(change.request_ref.as_str()).copied();
            Ok((id_of(&change.request_ref)?, change, provider))
        })
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
    let transition_ids = insert_transitions(conn, &rows)?;
    let told = notifications(plan, collections, &transition_ids, &providers, decide)?;
    write_notifications(conn, &told, decide.now)?;

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

/// The provider of each event whose decision changed a collection or is told to the host
/// application: one query per round, and none when nothing changed.
fn event_providers(
    conn: &mut DbConnection,
    plan: &Plan,
) -> Result<HashMap<Uuid, String>, StoreError> {
    let events: Vec<SqlUuid> = plan
        .audits
        .iter()
        .filter(|a| {
            a.decision.outcome.changes_status() || NotificationType::of(&a.decision).is_some()
        })
        .filter_map(|a| a.event.map(SqlUuid))
        .collect();
    if events.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(webhook_events::table
        .filter(webhook_events::id.eq_any(events))
        .select((webhook_events::id, webhook_events::provider))
        .load::<(Uuid, String)>(conn)?
        .into_iter()
        .collect())
}

/// By collection, the provider of the round's first event that changed it: kept on the
/// collection beside that event's provider_ref (the first one stays, as provider_ref's does).
/// One pass over the round's decisions.
fn first_providers<'a>(
    plan: &'a Plan,
    providers: &'a HashMap<Uuid, String>,
) -> HashMap<&'a str, &'a str> {
    let mut first = HashMap::new();
    for audit in plan
        .audits
        .iter()
        .filter(|a| a.decision.outcome.changes_status())
    {
        if let Some(provider) = audit.event.and_then(|e| providers.get(&e)) {
            first
                .entry(audit.request_ref.as_str())
                .or_insert(provider.as_str());
        }
    }
    first
}

/// Moves each changed collection to its new status, conditional on the status it was read at,
/// and keeps the first provider and provider_ref that changed it. PostgreSQL: one statement for
/// all. SQLite, whose statements cost no round trip: one per collection.
fn update_collections(
    conn: &mut DbConnection,
    changes: &[(Uuid, &Change, Option<&str>)],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if changes.is_empty() {
        return Ok(());
    }
    let updated = match conn {
        DbConnection::Pg(c) => {
            use diesel::sql_types::{Array, BigInt, Nullable, Text, Timestamptz};
            let ids: Vec<String> = changes.iter().map(|(id, ..)| id.to_string()).collect();
            let from: Vec<&str> = changes.iter().map(|(_, c, _)| c.from.as_str()).collect();
            let to: Vec<&str> = changes.iter().map(|(_, c, _)| c.to.as_str()).collect();
            let steps: Vec<i64> = changes.iter().map(|(_, c, _)| c.version_step).collect();
            let refs: Vec<Option<&str>> = changes
                .iter()
                .map(|(_, c, _)| c.provider_ref.as_deref())
                .collect();
            let providers: Vec<Option<&str>> = changes.iter().map(|(.., p)| *p).collect();
            diesel::sql_query(
                "UPDATE collections AS c SET status = v.to_status, version = c.version + v.steps, \
                 updated_at = $6, provider_ref = COALESCE(c.provider_ref, v.provider_ref), \
                 provider = COALESCE(c.provider, v.provider) \
                 FROM unnest($1::text[]::uuid[], $2::text[], $3::text[], $4::int8[], $5::text[], \
                 $7::text[]) AS v(id, from_status, to_status, steps, provider_ref, provider) \
                 WHERE c.id = v.id AND c.status = v.from_status",
            )
            .bind::<Array<Text>, _>(&ids)
            .bind::<Array<Text>, _>(&from)
            .bind::<Array<Text>, _>(&to)
            .bind::<Array<BigInt>, _>(&steps)
            .bind::<Array<Nullable<Text>>, _>(&refs)
            .bind::<Timestamptz, _>(now)
            .bind::<Array<Nullable<Text>>, _>(&providers)
            .execute(c)?
        }
        DbConnection::Sqlite(_) => {
            let mut updated = 0;
            for (id, change, provider) in changes {
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
                if let Some(provider) = provider {
                    keep_first_provider(conn, *id, provider)?;
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

/// Inserts the audit rows; returns their ids, in `rows`' order.
fn insert_transitions(
    conn: &mut DbConnection,
    rows: &[NewTransition<'_>],
) -> Result<Vec<i64>, StoreError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids = match conn {
        // One statement; PostgreSQL returns a multi-row insert's rows in the order given.
        DbConnection::Pg(c) => diesel::insert_into(collection_transitions::table)
            .values(rows)
            .returning(collection_transitions::id)
            .get_results(c)?,
        DbConnection::Sqlite(_) => {
            // A statement costs SQLite no round trip: one per row.
            let mut ids = Vec::with_capacity(rows.len());
            for row in rows {
                ids.push(per_backend!(conn, |c| diesel::insert_into(
                    collection_transitions::table
                )
                .values(row)
                .returning(collection_transitions::id)
                .get_result(c))?);
            }
            ids
        }
    };
    Ok(ids)
}

/// The outbox rows of a plan: one per decision that changed a collection or refused a success
/// for its amount, with the collection as that decision left it (its version counted change by
/// change through the round) and the provider of the event that asked.
fn notifications(
    plan: &Plan,
    collections: &[LockedCollection],
    transition_ids: &[i64],
    providers: &HashMap<Uuid, String>,
    decide: &Decide<'_>,
) -> Result<Vec<NewNotification>, StoreError> {
    let told: Vec<(usize, NotificationType)> = plan
        .audits
        .iter()
        .enumerate()
        .filter_map(|(i, audit)| Some((i, NotificationType::of(&audit.decision)?)))
        .collect();
    if told.is_empty() {
        return Ok(Vec::new());
    }
    let by_ref: HashMap<&str, &LockedCollection> = collections
        .iter()
        .map(|c| (c.state.request_ref.as_str(), c))
        .collect();
    // Each collection's version and provider_ref as the round's decisions move them.
    let mut versions: HashMap<&str, i64> = HashMap::new();
    let mut provider_refs: HashMap<&str, Option<String>> = HashMap::new();
    let mut rows = Vec::with_capacity(told.len());
    let mut told = told.into_iter().peekable();
    for (i, audit) in plan.audits.iter().enumerate() {
        let collection = by_ref
            .get(audit.request_ref.as_str())
            .ok_or_else(|| StoreError::NotFound(format!("collection {}", audit.request_ref)))?;
        let version = versions
            .entry(audit.request_ref.as_str())
            .or_insert(collection.facts.version);
        let provider_ref = provider_refs
            .entry(audit.request_ref.as_str())
            .or_insert_with(|| collection.state.provider_ref.clone());
        if audit.decision.outcome.changes_status() {
            *version += 1;
            if provider_ref.is_none() {
                *provider_ref = plan
                    .changes
                    .iter()
                    .find(|c| c.request_ref == audit.request_ref)
                    .and_then(|c| c.provider_ref.clone());
            }
        }
        let Some((_, kind)) = told.next_if(|(at, _)| *at == i) else {
            continue;
        };
        let transition_id = *transition_ids.get(i).ok_or_else(|| {
            StoreError::Corrupt("an audit row was not written for a decision".into())
        })?;
        let provider = audit
            .event
            .and_then(|e| providers.get(&e).cloned())
            .or_else(|| collection.facts.provider.clone());
        rows.push(NewNotification {
            id: Uuid::new_v4(),
            collection_id: collection.id,
            transition_id,
            kind,
            data: ChangeData {
                request_ref: audit.request_ref.clone(),
                status: audit.decision.resulting_status(),
                previous_status: audit.decision.from,
                amount: collection.facts.amount.clone(),
                currency: collection.facts.currency.clone(),
                provider,
                provider_ref: provider_ref.clone(),
                version: *version,
                event_id: audit.event,
                occurred_at: decide.now,
            },
        });
    }
    Ok(rows)
}
