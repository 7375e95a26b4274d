//! The direct claim: claim, lock, decide and mark in ONE transaction, the contract's picture of
//! the processor, and one write per event instead of two (a lease, then the mark).
//!
//! The oldest claimable events are locked with `FOR UPDATE SKIP LOCKED` (nothing written yet);
//! their payments' locks are tried at once, while the transaction waits; the events of the
//! payments had are decided and marked in that transaction (`apply_claimed`), the unreadable ones
//! fail in it. Everything else is leased in it, exactly as a classic claim would have leased it,
//! and goes on through the batch rounds (`batch`): events of a payment already in hand here
//! (so a payment's events stay in received order), of a payment whose lock is held elsewhere,
//! of a payment whose collection does not exist yet.
//!
//! Each event settled here counts its claim in `attempts` in the same write. What a lease gave
//! that this does not: a processor that dies hard (killed, out of memory) inside the transaction
//! counts no attempt for its events, which come back at once. An event that makes this
//! transaction fail in any way that returns (an error, a panic) is not retried here: the next
//! claim after a failure is a classic one, which leases and counts, so such an event still ends
//! FAILED after `max_attempts` (`claim_loop`).

use std::sync::Arc;
use std::time::Duration;

use persistence::lock::limit_row_waits;
use persistence::{
    apply_claimed, lease_end, lease_events, lock_claimable, mark_claimed_failed, now, run_blocking,
    write_transaction, BatchItem, BatchOutcome, DbConnection, StoreError, WebhookEvent,
};
use tokio::runtime::Handle;

use crate::app::Shared;
use crate::batch::{read_target, recorded, Target, ACTOR};
use crate::inflight::{InFlight, QueueKey};
use crate::lock::{database_lock_names, lock_key, lock_names, BatchLocks};
use crate::metrics::Tally;
use crate::settle::lag_of;

/// What became of an event settled in the direct transaction.
enum Settled {
    Recorded(Target, domain::Decision),
    AlreadyFinished,
    Failed(String),
}

/// Claims up to `batch_size` events and settles what it can in one transaction; returns the
/// events it leased, for the batch rounds, and how many it claimed in all.
pub(crate) async fn claim(
    shared: &Arc<Shared>,
    inflight: &InFlight,
) -> Result<(Vec<WebhookEvent>, usize), StoreError> {
    let handle = Handle::current();
    let context = shared.clone();
    let inflight = inflight.clone();
    // The lock calls' log lines go where the caller's would.
    let dispatch = tracing::dispatcher::get_default(Clone::clone);
    let (settled, leased, claimed) = run_blocking(&shared.pool, move |conn| {
        tracing::dispatcher::with_default(&dispatch, || {
            let mut taken = None;
            let result = write_transaction(conn, |conn| {
                claim_in_transaction(conn, &context, &inflight, &handle, &mut taken)
            });
            // After the commit (or the rollback): the decisions are durable before anyone else
            // may take these payments.
            if let Some(locks) = taken {
                handle.block_on(context.locks.release_batch(locks));
            }
            result
        })
    })
    .await?;
    for (event, settled) in settled {
        let tally = match settled {
            Settled::Recorded(target, decision) => {
                recorded(shared, &event, &target.request_ref, decision)
            }
            Settled::AlreadyFinished => Tally::AlreadyFinished,
            Settled::Failed(reason) => {
                tracing::warn!(event_id = %event.id, provider = %event.provider, "Event failed: {reason}");
                shared.metrics.lag(lag_of(&event));
                Tally::Failed
            }
        };
        shared.metrics.event(tally);
    }
    Ok((leased, claimed))
}

type Claimed = (Vec<(WebhookEvent, Settled)>, Vec<WebhookEvent>, usize);

fn claim_in_transaction(
    conn: &mut DbConnection,
    shared: &Shared,
    inflight: &InFlight,
    handle: &Handle,
    taken: &mut Option<BatchLocks>,
) -> Result<Claimed, StoreError> {
    // A row held elsewhere (a host application's long transaction on a collection) must not
    // stall the claim loop: past the lock wait this claim fails, and the next one leases its
    // events to the batch rounds, which wait in a task of their own.
    limit_row_waits(conn, shared.lock_wait)?;
    let at = now();
    let limit = i64::try_from(shared.batch_size).unwrap_or(i64::MAX);
    let events = lock_claimable(conn, limit, at)?;
    let claimed = events.len();
    let mut settled = Vec::new();
    let mut to_lease = Vec::new();
    let mut candidates: Vec<(WebhookEvent, Target)> = Vec::new();
    for event in events {
        if inflight.contains(&QueueKey::of(&event)) {
            to_lease.push(event);
            continue;
        }
        match read_target(&shared.providers, &event) {
            Ok(target) => candidates.push((event, target)),
            Err(reason) => {
                if mark_claimed_failed(conn, event.id, &reason, at)? {
                    settled.push((event, Settled::Failed(reason)));
                } else {
                    settled.push((event, Settled::AlreadyFinished));
                }
            }
        }
    }

    let names = lock_names(candidates.iter().map(|(_, t)| t.request_ref.as_str()));
    if !names.is_empty() {
        let locks = handle.block_on(shared.locks.try_lock_batch(&names));
        let backend = locks.backend();
        let (locked, waiting): (Vec<_>, Vec<_>) = candidates
            .into_iter()
            .partition(|(_, t)| locks.allows(&lock_key(&t.request_ref)));
        *taken = Some(locks);
        to_lease.extend(waiting.into_iter().map(|(event, _)| event));
        let items: Vec<BatchItem> = locked
            .iter()
            .map(|(event, target)| target.item(event))
            .collect();
        let outcomes = apply_claimed(conn, &items, database_lock_names(backend), ACTOR, at)?;
        let mut acquired = std::collections::HashSet::new();
        for ((event, target), outcome) in locked.into_iter().zip(outcomes) {
            match outcome {
                BatchOutcome::Recorded(decision) => {
                    if acquired.insert(target.request_ref.clone()) {
                        shared.metrics.lock_acquired(backend, Duration::ZERO);
                    }
                    settled.push((event, Settled::Recorded(target, decision)));
                }
                BatchOutcome::AlreadyFinished => settled.push((event, Settled::AlreadyFinished)),
                // Retried, waited for or timed out by the batch rounds, as after a classic claim.
                BatchOutcome::CollectionMissing | BatchOutcome::LockBusy => to_lease.push(event),
            }
        }
    }

    let ids: Vec<uuid::Uuid> = to_lease.iter().map(|e| e.id).collect();
    let leased = lease_events(conn, &ids, lease_end(at, shared.lease)?)?;
    Ok((settled, leased, claimed))
}
