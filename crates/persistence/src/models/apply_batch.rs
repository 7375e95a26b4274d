//! The decision transaction of a processor's batch: many events' decisions, their audit rows and
//! their marks in one commit, the processor's counterpart of the receiver's group commit.
//!
//! Inside the transaction the collections are locked in id order (PostgreSQL `FOR UPDATE`; on
//! SQLite the immediate transaction already excludes other writers), so the statuses read are
//! current and two batches sharing collections wait for each other instead of deadlocking. The
//! events are then decided in the batch's order, one collection's events one after another from
//! its status as the previous one left it, exactly as `apply_decision` would have decided them
//! one by one. Every collection update stays conditional on the status its decisions started
//! from (the fence): if one matched nothing, the whole batch rolls back.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use domain::{decide, Authority, CollectionStatus, Decision};
use uuid::Uuid;

use crate::connection::{write_transaction, DbConnection};
use crate::error::StoreError;
use crate::lock::{limit_row_waits, try_database_locks};
use crate::models::collections::keep_first_provider_ref;
use crate::models::events::{settle_received, Settle};
use crate::models::transitions::NewTransition;
use crate::schema::{collection_transitions, collections};
use crate::types::{SqlTime, SqlUuid};

/// One claimed event and what it asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchItem {
    pub event_id: Uuid,
    pub request_ref: String,
    pub requested: CollectionStatus,
    /// Stored on the collection with its first change of status, when it has none yet.
    pub provider_ref: Option<String>,
}

/// How the transaction ended for one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchOutcome {
    /// Decided, audited and marked PROCESSED.
    Recorded(Decision),
    /// The event was no longer RECEIVED (another processor finished it): nothing written.
    AlreadyFinished,
    /// No collection has the item's request_ref: nothing written for it.
    CollectionMissing,
    /// Its payment's database lock was held elsewhere (only with `database_locks`): nothing
    /// written for it; try again.
    LockBusy,
}

/// Records the decisions of `items` (in received order) in one transaction, and returns each
/// item's outcome in the same order. With `database_locks`, the payment locks
/// (`lock_name(request_ref)`) are tried first, inside the transaction, and the items whose lock
/// is held elsewhere are left out. With `row_wait`, a collection row held by another
/// transaction for longer than that fails the batch (`limit_row_waits`) instead of stalling it.
/// Nothing of the batch is written unless all of it is: on an error the caller may try the items
/// one by one to find the one at fault.
pub fn apply_batch(
    conn: &mut DbConnection,
    items: &[BatchItem],
    database_locks: Option<&dyn Fn(&str) -> String>,
    row_wait: Option<Duration>,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Vec<BatchOutcome>, StoreError> {
    if items.is_empty() {
        // No transaction for nothing.
        return Ok(Vec::new());
    }
    write_transaction(conn, |conn| {
        if let Some(wait) = row_wait {
            limit_row_waits(conn, wait)?;
        }
        decide_and_write(conn, items, database_locks, actor, now, false)
    })
}

/// `apply_batch` for events the caller claimed in its own, still open, transaction
/// (`lock_claimable`): the same work, inside that transaction, and each event marked also counts
/// its claim (no lease did). Nothing is committed here.
pub fn apply_claimed(
    conn: &mut DbConnection,
    items: &[BatchItem],
    database_locks: Option<&dyn Fn(&str) -> String>,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Vec<BatchOutcome>, StoreError> {
    decide_and_write(conn, items, database_locks, actor, now, true)
}

fn decide_and_write(
    conn: &mut DbConnection,
    items: &[BatchItem],
    database_locks: Option<&dyn Fn(&str) -> String>,
    actor: &str,
    now: DateTime<Utc>,
    count_attempt: bool,
) -> Result<Vec<BatchOutcome>, StoreError> {
    let mut outcomes: Vec<Option<BatchOutcome>> = vec![None; items.len()];
    if let Some(lock_name) = database_locks {
        let refs: Vec<&str> = distinct(items.iter().map(|i| i.request_ref.as_str()));
        let names: Vec<String> = refs.iter().map(|r| lock_name(r)).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let had = try_database_locks(conn, &names)?;
        let busy: HashSet<&str> = refs
            .iter()
            .zip(had)
            .filter(|(_, had)| !had)
            .map(|(r, _)| *r)
            .collect();
        for (item, outcome) in items.iter().zip(outcomes.iter_mut()) {
            if busy.contains(item.request_ref.as_str()) {
                *outcome = Some(BatchOutcome::LockBusy);
            }
        }
    }

    let wanted = distinct(
        items
            .iter()
            .zip(&outcomes)
            .filter(|(_, o)| o.is_none())
            .map(|(i, _)| i.request_ref.as_str()),
    );
    let mut states: HashMap<String, State> = lock_collections(conn, &wanted)?
        .into_iter()
        .map(|(id, request_ref, status)| (request_ref, State::new(id, status)))
        .collect();
    for (item, outcome) in items.iter().zip(outcomes.iter_mut()) {
        if outcome.is_none() && !states.contains_key(&item.request_ref) {
            *outcome = Some(BatchOutcome::CollectionMissing);
        }
    }

    // Only events still RECEIVED are decided: one whose lease ran out may have been
    // finished by another processor meanwhile.
    let candidates: Vec<Uuid> = items
        .iter()
        .zip(&outcomes)
        .filter(|(_, o)| o.is_none())
        .map(|(i, _)| i.event_id)
        .collect();
    let marked: HashSet<Uuid> =
        settle_received(conn, &candidates, Settle::Processed(now), count_attempt)?
            .into_iter()
            .collect();

    let mut transitions: Vec<Audit> = Vec::new();
    // An event can come twice (claimed again by the same processor after its lease ran
    // out while it waited): only its first copy is decided.
    let mut decided: HashSet<Uuid> = HashSet::new();
    for (item, outcome) in items.iter().zip(outcomes.iter_mut()) {
        if outcome.is_some() {
            continue;
        }
        if !marked.contains(&item.event_id) || !decided.insert(item.event_id) {
            *outcome = Some(BatchOutcome::AlreadyFinished);
            continue;
        }
        let state = states
            .get_mut(&item.request_ref)
            .ok_or_else(|| StoreError::NotFound(format!("collection {}", item.request_ref)))?;
        let decision = decide(state.current, item.requested, Authority::Event);
        if decision.outcome.changes_status() {
            state.current = decision.requested;
            state.changes += 1;
            if state.provider_ref.is_none() {
                state.provider_ref.clone_from(&item.provider_ref);
            }
        }
        transitions.push(Audit {
            collection_id: state.id,
            event_id: item.event_id,
            decision,
        });
        *outcome = Some(BatchOutcome::Recorded(decision));
    }

    let changed: Vec<&State> = states.values().filter(|s| s.changes > 0).collect();
    update_collections(conn, &changed, now)?;
    insert_transitions(conn, &transitions, actor, now)?;
    Ok(outcomes
        .into_iter()
        .map(|o| o.unwrap_or(BatchOutcome::AlreadyFinished))
        .collect())
}

/// One collection as the batch leaves it.
struct State {
    id: Uuid,
    /// The status read under the lock: every update is conditional on it.
    read: CollectionStatus,
    current: CollectionStatus,
    changes: i64,
    provider_ref: Option<String>,
}

impl State {
    fn new(id: Uuid, status: CollectionStatus) -> State {
        State {
            id,
            read: status,
            current: status,
            changes: 0,
            provider_ref: None,
        }
    }
}

struct Audit {
    collection_id: Uuid,
    event_id: Uuid,
    decision: Decision,
}

/// The distinct values, sorted (a stable order for locks and for statements).
fn distinct<'a>(values: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    values.collect::<BTreeSet<_>>().into_iter().collect()
}

/// The collections with these request_refs, locked in id order until the transaction ends.
fn lock_collections(
    conn: &mut DbConnection,
    refs: &[&str],
) -> Result<Vec<(Uuid, String, CollectionStatus)>, StoreError> {
    if refs.is_empty() {
        return Ok(Vec::new());
    }
    let query = collections::table
        .filter(collections::request_ref.eq_any(refs))
        .order(collections::id.asc())
        .select((
            collections::id,
            collections::request_ref,
            collections::status,
        ));
    let rows: Vec<(Uuid, String, String)> = match conn {
        DbConnection::Pg(c) => query.for_update().load(c)?,
        DbConnection::Sqlite(c) => query.load(c)?,
    };
    rows.into_iter()
        .map(|(id, request_ref, status)| Ok((id, request_ref, status.parse()?)))
        .collect()
}

/// Moves each changed collection to its new status, conditional on the status it was read at.
/// PostgreSQL: one statement for the batch. SQLite, whose statements cost no round trip: one
/// per collection.
fn update_collections(
    conn: &mut DbConnection,
    changed: &[&State],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if changed.is_empty() {
        return Ok(());
    }
    let updated = match conn {
        DbConnection::Pg(c) => {
            use diesel::sql_types::{Array, BigInt, Nullable, Text, Timestamptz};
            let ids: Vec<String> = changed.iter().map(|s| s.id.to_string()).collect();
            let from: Vec<&str> = changed.iter().map(|s| s.read.as_str()).collect();
            let to: Vec<&str> = changed.iter().map(|s| s.current.as_str()).collect();
            let steps: Vec<i64> = changed.iter().map(|s| s.changes).collect();
            let refs: Vec<Option<&str>> =
                changed.iter().map(|s| s.provider_ref.as_deref()).collect();
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
            for state in changed {
                let target = collections::table
                    .filter(collections::id.eq(SqlUuid(state.id)))
                    .filter(collections::status.eq(state.read.as_str()));
                updated += diesel::update(target)
                    .set((
                        collections::status.eq(state.current.as_str()),
                        collections::version.eq(collections::version + state.changes),
                        collections::updated_at.eq(SqlTime(now)),
                    ))
                    .execute(conn)?;
                if let Some(reference) = &state.provider_ref {
                    keep_first_provider_ref(conn, state.id, reference)?;
                }
            }
            updated
        }
    };
    if updated != changed.len() {
        // Impossible while the rows are locked; if it happens, nothing of the batch is written.
        return Err(StoreError::Corrupt(format!(
            "{} of {} collections changed status under the batch's lock",
            changed.len() - updated,
            changed.len()
        )));
    }
    Ok(())
}

fn insert_transitions(
    conn: &mut DbConnection,
    audits: &[Audit],
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if audits.is_empty() {
        return Ok(());
    }
    let reasons: Vec<String> = audits.iter().map(|a| a.decision.reason()).collect();
    let rows: Vec<NewTransition<'_>> = audits
        .iter()
        .zip(&reasons)
        .map(|(audit, reason)| NewTransition {
            collection_id: SqlUuid(audit.collection_id),
            webhook_event_id: Some(SqlUuid(audit.event_id)),
            from_status: audit.decision.from.as_str(),
            to_status: audit.decision.requested.as_str(),
            outcome: audit.decision.outcome.as_str(),
            reason,
            actor,
            created_at: SqlTime(now),
        })
        .collect();
    match conn {
        DbConnection::Pg(c) => {
            diesel::insert_into(collection_transitions::table)
                .values(&rows)
                .execute(c)?;
        }
        DbConnection::Sqlite(_) => {
            for row in &rows {
                diesel::insert_into(collection_transitions::table)
                    .values(row)
                    .execute(conn)?;
            }
        }
    }
    Ok(())
}
