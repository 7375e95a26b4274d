//! Against the database, after a run: every acknowledged delivery is stored once, every
//! collection ends where the rule says, no event was applied twice; and the end-to-end lag.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use domain::CollectionStatus;
use persistence::schema::{collection_transitions, collections, webhook_events};
use persistence::{DbConnection, StoreError};
use uuid::Uuid;

use crate::plan::{request_ref, Plan};
use crate::send::Sent;

#[derive(Debug, Default, serde::Serialize)]
pub struct Verdict {
    pub acknowledged: usize,
    pub acknowledged_but_missing: usize,
    pub answered_with_another_id: usize,
    pub collections_checked: usize,
    pub collections_wrong: usize,
    pub events_applied_twice: usize,
    pub processed_without_decision: usize,
    pub still_pending: i64,
    pub failed_events: i64,
}

impl Verdict {
    pub fn passed(&self) -> bool {
        self.acknowledged_but_missing == 0
            && self.answered_with_another_id == 0
            && self.collections_wrong == 0
            && self.events_applied_twice == 0
            && self.processed_without_decision == 0
            && self.still_pending == 0
            && self.failed_events == 0
    }
}

fn run_events(run: &str) -> String {
    format!("{run}-e%")
}

/// Events of the run still RECEIVED. The status is written into the statement (`is_received`),
/// so that only the backlog is read, through the partial index, never the whole table.
pub fn pending(conn: &mut DbConnection, provider: &str, run: &str) -> Result<i64, StoreError> {
    Ok(webhook_events::table
        .filter(persistence::is_received())
        .filter(webhook_events::provider.eq(provider))
        .filter(webhook_events::dedup_key.like(run_events(run)))
        .count()
        .get_result(conn)?)
}

/// Whether any event of the run is still RECEIVED. Asked every 50 ms while the processors drain,
/// so it must stay off their backs: it stops at the first such event in claim order, where
/// counting a 100k backlog took 50 ms of the database's CPU each time. The run's dedup keys are
/// its own whatever the provider, and leaving the provider out keeps the planner from joining the
/// unique index's whole `provider` range to the backlog (seen on a fresh table, before any
/// ANALYZE: 20 ms per probe).
fn any_pending(conn: &mut DbConnection, run: &str) -> Result<bool, StoreError> {
    Ok(webhook_events::table
        .filter(persistence::is_received())
        .filter(webhook_events::dedup_key.like(run_events(run)))
        .order(webhook_events::next_attempt_at.asc())
        .select(webhook_events::id)
        .first::<uuid::Uuid>(conn)
        .optional()?
        .is_some())
}

/// Waits until no event of the run is RECEIVED, or `limit` passes; returns how long it took.
pub fn wait_for_drain(
    conn: &mut DbConnection,
    run: &str,
    limit: Duration,
) -> Result<Option<Duration>, StoreError> {
    let started = Instant::now();
    loop {
        if !any_pending(conn, run)? {
            return Ok(Some(started.elapsed()));
        }
        if started.elapsed() > limit {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// End-to-end lag (received -> processed) of the run's processed events.
pub fn lags(
    conn: &mut DbConnection,
    provider: &str,
    run: &str,
) -> Result<Vec<Duration>, StoreError> {
    let rows: Vec<(DateTime<Utc>, Option<DateTime<Utc>>)> = webhook_events::table
        .filter(webhook_events::provider.eq(provider))
        .filter(webhook_events::dedup_key.like(run_events(run)))
        .filter(webhook_events::status.eq("PROCESSED"))
        .select((webhook_events::received_at, webhook_events::processed_at))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(r, p)| p.and_then(|p| (p - r).to_std().ok()))
        .collect())
}

pub fn verify(
    conn: &mut DbConnection,
    provider: &str,
    plan: &Plan,
    sent: &[Sent],
) -> Result<Verdict, StoreError> {
    let mut verdict = Verdict::default();
    let stored: HashMap<String, (Uuid, String)> = webhook_events::table
        .filter(webhook_events::provider.eq(provider))
        .filter(webhook_events::dedup_key.like(run_events(&plan.run)))
        .select((
            webhook_events::dedup_key,
            webhook_events::id,
            webhook_events::status,
        ))
        .load::<(String, Uuid, String)>(conn)?
        .into_iter()
        .map(|(key, id, status)| (key, (id, status)))
        .collect();
    for s in sent.iter().filter(|s| (200..300).contains(&s.status)) {
        verdict.acknowledged += 1;
        let key = &plan.deliveries[s.index].event_id;
        match stored.get(key) {
            None => verdict.acknowledged_but_missing += 1,
            Some((id, _))
                if s.id
                    .as_ref()
                    .is_some_and(|answered| *answered != id.to_string()) =>
            {
                verdict.answered_with_another_id += 1
            }
            Some(_) => {}
        }
    }
    verdict.failed_events = stored.values().filter(|(_, s)| s == "FAILED").count() as i64;
    verdict.still_pending = stored.values().filter(|(_, s)| s == "RECEIVED").count() as i64;

    // Collections whose every delivery was acknowledged have a fixed expected status.
    let mut complete: HashSet<usize> = (0..plan.expected.len()).collect();
    for s in sent.iter().filter(|s| !(200..300).contains(&s.status)) {
        complete.remove(&plan.deliveries[s.index].collection);
    }
    let finals: HashMap<String, (Uuid, String)> = collections::table
        .filter(collections::request_ref.like(format!("{}-c%", plan.run)))
        .select((
            collections::request_ref,
            collections::id,
            collections::status,
        ))
        .load::<(String, Uuid, String)>(conn)?
        .into_iter()
        .map(|(r, id, s)| (r, (id, s)))
        .collect();
    for c in complete {
        verdict.collections_checked += 1;
        let expected: CollectionStatus = plan.expected[c];
        let actual = finals
            .get(&request_ref(&plan.run, c))
            .map(|(_, s)| s.as_str());
        if actual != Some(expected.as_str()) {
            verdict.collections_wrong += 1;
        }
    }

    // One decision per processed event, never two.
    let ids: Vec<Uuid> = finals.values().map(|(id, _)| *id).collect();
    let mut decisions: HashMap<Uuid, usize> = HashMap::new();
    for chunk in ids.chunks(500) {
        let rows: Vec<Option<Uuid>> = collection_transitions::table
            .filter(
                collection_transitions::collection_id.eq_any(
                    chunk
                        .iter()
                        .map(|id| persistence::types::SqlUuid(*id))
                        .collect::<Vec<_>>(),
                ),
            )
            .select(collection_transitions::webhook_event_id)
            .load(conn)?;
        for event in rows.into_iter().flatten() {
            *decisions.entry(event).or_default() += 1;
        }
    }
    verdict.events_applied_twice = decisions.values().filter(|n| **n > 1).count();
    verdict.processed_without_decision = stored
        .values()
        .filter(|(id, status)| status == "PROCESSED" && !decisions.contains_key(id))
        .count();
    Ok(verdict)
}
