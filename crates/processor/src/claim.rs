//! The claim step. Two ways, one result ([`Claimed`]): what the claim settled in its own
//! transaction, and what it leased for the rounds (`rounds`).
//!
//! - `claim_direct`, the usual one, does the whole pipeline in ONE transaction: the oldest
//!   claimable events are locked (`FOR UPDATE SKIP LOCKED`, nothing written yet), read, their
//!   payments' locks tried at once, and the events of the payments had are decided and marked
//!   (`apply`); unreadable ones fail in it. Everything else is leased in it and goes on through
//!   the rounds: events of a payment already in hand here (so a payment's events stay in received
//!   order), of a payment whose lock is held elsewhere, of a payment whose collection does not
//!   exist yet. One write per settled event instead of two (a lease, then the mark), which is why
//!   it is kept (`docs/benchmarks.md`).
//! - `claim_leased` only leases, as every claim did before: after a direct claim failed, so that
//!   whatever made it fail is leased and counted like any other event (`claim_loop`).
//!
//! Each event settled directly counts its claim in `attempts` in the same write. What a lease
//! gives that this does not: a processor that dies hard (killed, out of memory) inside the
//! transaction counts no attempt for its events, which come back at once.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use domain::{Read, Request};
use persistence::lock::limit_row_waits;
use persistence::{
    claim_events, lease_end, lease_events, lock_claimable, mark_claimed_failed, mark_ignored, now,
    run_blocking, write_transaction, DbConnection, EventsHeld, RequestOutcome, StoreError,
    WebhookEvent,
};
use tokio::runtime::Handle;

use crate::apply::{apply_round, ignored_reason, read, Item, ItemOutcome};
use crate::context::Context;
use crate::inflight::{InFlight, QueueKey};
use crate::lock::{lock_names, BatchLocks};
use crate::settle::Settled;

/// What one claim took.
#[derive(Debug, Default)]
pub(crate) struct Claimed {
    /// Settled in the claim's own transaction (already written).
    pub(crate) settled: Vec<(WebhookEvent, Settled)>,
    /// Leased, for the rounds.
    pub(crate) leased: Vec<WebhookEvent>,
    /// Events claimed in all.
    pub(crate) count: usize,
}

/// Claims up to `batch_size` events and settles what it can in one transaction.
pub(crate) async fn claim_direct(
    ctx: &Arc<Context>,
    inflight: &InFlight,
) -> Result<Claimed, StoreError> {
    let handle = Handle::current();
    let context = ctx.clone();
    let inflight = inflight.clone();
    // The lock calls' log lines go where the caller's would.
    let dispatch = tracing::dispatcher::get_default(Clone::clone);
    run_blocking(&ctx.pool, move |conn| {
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
    .await
}

/// Leases up to `batch_size` events, for the rounds; settles none.
pub(crate) async fn claim_leased(ctx: &Context) -> Result<Claimed, StoreError> {
    let limit = i64::try_from(ctx.batch_size).unwrap_or(i64::MAX);
    let lease = ctx.lease;
    let leased = run_blocking(&ctx.pool, move |conn| {
        claim_events(conn, limit, now(), lease)
    })
    .await?;
    Ok(Claimed {
        count: leased.len(),
        leased,
        settled: Vec::new(),
    })
}

fn claim_in_transaction(
    conn: &mut DbConnection,
    ctx: &Context,
    inflight: &InFlight,
    handle: &Handle,
    taken: &mut Option<BatchLocks>,
) -> Result<Claimed, StoreError> {
    // A row held elsewhere (a host application's long transaction on a collection) must not
    // stall the claim loop: past the lock wait this claim fails, and the next one leases its
    // events to the rounds, which wait in a task of their own.
    limit_row_waits(conn, ctx.lock_wait)?;
    let at = now();
    let limit = i64::try_from(ctx.batch_size).unwrap_or(i64::MAX);
    let events = lock_claimable(conn, limit, at)?;
    let mut claimed = Claimed {
        count: events.len(),
        ..Claimed::default()
    };
    let mut to_lease = Vec::new();
    let mut candidates: Vec<Item> = Vec::new();
    for event in events {
        if inflight.contains(&QueueKey::of(&event)) {
            to_lease.push(event);
            continue;
        }
        match read(&ctx.profiles, &event) {
            Ok(Read::Request(request)) => candidates.push(Item { event, request }),
            Ok(Read::Ignored(kind)) => {
                let settled = if mark_ignored(conn, event.id, &ignored_reason(&kind), at, true)? {
                    Settled::Ignored(kind)
                } else {
                    Settled::AlreadyFinished
                };
                claimed.settled.push((event, settled));
            }
            Err(problem) => {
                let settled = if mark_claimed_failed(conn, event.id, &problem.to_string(), at)? {
                    Settled::Failed(problem)
                } else {
                    Settled::AlreadyFinished
                };
                claimed.settled.push((event, settled));
            }
        }
    }

    let names = lock_names(candidates.iter().map(Item::request_ref));
    if !names.is_empty() {
        // Taken before anything can fail, so that the caller releases them whatever happens.
        let locks = taken.insert(handle.block_on(ctx.locks.try_lock_batch(&names)));
        let backend = locks.backend();
        let (held, waiting): (Vec<Item>, Vec<Item>) = candidates
            .into_iter()
            .partition(|item| locks.allows(&item.lock_key()));
        to_lease.extend(waiting.into_iter().map(|item| item.event));
        let (held, requests): (Vec<WebhookEvent>, Vec<Request>) = held
            .into_iter()
            .map(|item| (item.event, item.request))
            .unzip();
        let outcomes = apply_round(
            conn,
            &requests,
            locks.database_names(),
            EventsHeld::Claimed,
            at,
        )?;
        let mut acquired = HashSet::new();
        for ((event, request), outcome) in held.into_iter().zip(requests).zip(outcomes) {
            match outcome {
                ItemOutcome::Done(RequestOutcome::Recorded(decision)) => {
                    if acquired.insert(request.request_ref.clone()) {
                        ctx.metrics.lock_acquired(backend, Duration::ZERO);
                    }
                    let settled = Settled::Recorded(request.request_ref, decision);
                    claimed.settled.push((event, settled));
                }
                ItemOutcome::Done(RequestOutcome::Failed(_, reason)) => {
                    let settled = Settled::Mismatched(request.request_ref, reason);
                    claimed.settled.push((event, settled));
                }
                ItemOutcome::Done(RequestOutcome::AlreadyFinished) => {
                    claimed.settled.push((event, Settled::AlreadyFinished));
                }
                // Retried, waited for or timed out by the rounds, as after a leased claim.
                ItemOutcome::Done(RequestOutcome::CollectionMissing) | ItemOutcome::LockBusy => {
                    to_lease.push(event);
                }
            }
        }
    }

    let ids: Vec<uuid::Uuid> = to_lease.iter().map(|e| e.id).collect();
    claimed.leased = lease_events(conn, &ids, lease_end(at, ctx.lease)?)?;
    Ok(claimed)
}
