//! Leased events, worked in rounds. Each round takes every payment's events in hand, tries all
//! their locks at once (`lock`), and records the decisions of the payments it locked in ONE
//! transaction (`apply`): one commit for the round instead of one per event.
//! Payments whose lock is held elsewhere stay for the next round, after a short pause with
//! jitter, until `processor.lock_wait_ms` has passed for them; then their events are retried
//! later. Events claimed meanwhile for a payment in hand join it (`inflight`) and are taken by
//! the next round, so a payment's events are decided in the order received.
//!
//! Events that cannot be read (no provider, no request_ref, no status a rule knows) fail at once;
//! transient trouble (database, lock, a collection not created yet) schedules another try
//! (`settle`, typed by `failure`). When a round's transaction fails for a reason other than an outage, its events
//! are tried one by one, so one bad event cannot hold back its neighbours.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use domain::{Read, Request};
use persistence::lock::limit_row_waits;
use persistence::{now, run_blocking, write_transaction, DbConnection, EventsHeld, RequestOutcome};
use rand::Rng;
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;

use crate::apply::{apply_round, read, Item, ItemOutcome};
use crate::context::Context;
use crate::failure::{Failure, Transient};
use crate::inflight::QueueGuard;
use crate::lock::lock_names;
use crate::metrics::{LockBackend, Tally};
use crate::settle::{end_failed, end_ignored, give_back, mismatched, recorded};

/// Pauses between rounds that found every lock busy grow from the first to the last.
const FIRST_PAUSE: Duration = Duration::from_millis(5);
const LAST_PAUSE: Duration = Duration::from_millis(100);

/// One payment in hand: its queue, and the events taken from it and not finished yet.
struct Payment {
    queue: QueueGuard,
    held: Vec<Item>,
    /// Since when its lock has been busy, while it is.
    waiting_since: Option<Instant>,
}

impl Payment {
    fn request_ref(&self) -> Option<&str> {
        self.held.first().map(Item::request_ref)
    }
}

/// Works the payments of one claimed batch until none has an event left, or shutdown begins
/// (then what was not started is given back).
pub(crate) async fn run_rounds(
    ctx: Arc<Context>,
    queues: Vec<QueueGuard>,
    _slot: OwnedSemaphorePermit,
    cancel: CancellationToken,
) {
    let mut payments: Vec<Payment> = queues
        .into_iter()
        .map(|queue| Payment {
            queue,
            held: Vec::new(),
            waiting_since: None,
        })
        .collect();
    let mut pause = FIRST_PAUSE;
    loop {
        refill(&ctx, &mut payments).await;
        if payments.is_empty() {
            return;
        }
        if cancel.is_cancelled() {
            let unstarted = payments
                .iter_mut()
                .flat_map(|p| {
                    let held = std::mem::take(&mut p.held)
                        .into_iter()
                        .map(|item| item.event);
                    held.chain(p.queue.close()).collect::<Vec<_>>()
                })
                .collect();
            give_back(&ctx, unstarted).await;
            return;
        }
        let progressed = round(&ctx, &mut payments).await;
        if progressed {
            pause = FIRST_PAUSE;
            continue;
        }
        // Every lock was busy: wait a little (full jitter keeps two processors from retrying
        // in lockstep).
        let nap = rand::rng().random_range(pause / 2..=pause);
        tokio::select! {
            _ = tokio::time::sleep(nap) => {}
            _ = cancel.cancelled() => {}
        }
        pause = (pause * 2).min(LAST_PAUSE);
    }
}

/// Takes what joined each payment's queue, fails the events that cannot be read, ends the ones
/// that concern no payment, and drops the payments that are done (their queues close).
async fn refill(ctx: &Context, payments: &mut Vec<Payment>) {
    let mut unreadable = Vec::new();
    let mut ignored = Vec::new();
    for payment in payments.iter_mut() {
        let holding = !payment.held.is_empty();
        for event in payment.queue.take(holding) {
            match read(&ctx.profiles, &event) {
                Ok(Read::Request(request)) => payment.held.push(Item { event, request }),
                Ok(Read::Ignored(kind)) => ignored.push((event, kind)),
                Err(problem) => unreadable.push((event, problem)),
            }
        }
    }
    for (event, problem) in unreadable {
        end_failed(ctx, &event, Failure::Permanent(problem)).await;
    }
    for (event, kind) in ignored {
        end_ignored(ctx, &event, kind).await;
    }
    // A payment with nothing held whose queue gave nothing is closed; one whose new events all
    // failed is asked again next time, and closes then.
    payments.retain(|p| !p.held.is_empty() || !p.queue.is_closed());
}

/// One round: lock what can be locked, record those payments' decisions in one transaction,
/// settle every event that ended, time out the payments that waited too long. Returns whether
/// any event ended.
async fn round(ctx: &Context, payments: &mut [Payment]) -> bool {
    let names = lock_names(payments.iter().filter_map(Payment::request_ref));
    if names.is_empty() {
        // Only payments whose new events all failed: they close at the next refill.
        return true;
    }
    let locks = ctx.locks.try_lock_batch(&names).await;
    let backend = locks.backend();
    let in_round: Vec<usize> = payments
        .iter()
        .enumerate()
        .filter(|(_, p)| p.held.first().is_some_and(|i| locks.allows(&i.lock_key())))
        .map(|(i, _)| i)
        .collect();

    // Only what the transaction needs crosses to the blocking thread, not the payloads.
    let requests: Vec<Request> = in_round
        .iter()
        .flat_map(|&i| payments[i].held.iter().map(|item| item.request.clone()))
        .collect();
    let results = if requests.is_empty() {
        Vec::new()
    } else {
        let count = requests.len();
        let row_wait = ctx.lock_wait;
        let database_locks = locks.database_names().map(<[String]>::to_vec);
        match run_blocking(&ctx.pool, move |conn| {
            Ok(apply_isolating(
                conn,
                &requests,
                database_locks.as_deref(),
                row_wait,
            ))
        })
        .await
        {
            Ok(results) => results,
            Err(error) => {
                let trouble = Transient::from(error);
                (0..count).map(|_| Err(trouble.clone())).collect()
            }
        }
    };
    ctx.locks.release_batch(locks).await;

    let mut progressed = false;
    let mut results = results.into_iter();
    for &i in &in_round {
        let payment = &mut payments[i];
        let held = std::mem::take(&mut payment.held);
        let outcomes: Vec<Result<ItemOutcome, Transient>> =
            results.by_ref().take(held.len()).collect();
        if outcomes
            .iter()
            .any(|o| matches!(o, Ok(ItemOutcome::LockBusy)))
        {
            // The database lock was busy: nothing was written for this payment.
            payment.held = held;
            continue;
        }
        let waited = payment
            .waiting_since
            .take()
            .map(|since| since.elapsed())
            .unwrap_or_default();
        ctx.metrics.lock_acquired(backend, waited);
        progressed = true;
        for (item, outcome) in held.into_iter().zip(outcomes) {
            finish(ctx, item, outcome).await;
        }
    }

    // Payments still holding events are waiting for their lock.
    for payment in payments.iter_mut().filter(|p| !p.held.is_empty()) {
        let since = *payment.waiting_since.get_or_insert_with(Instant::now);
        let waited = since.elapsed();
        if waited < ctx.lock_wait {
            continue;
        }
        progressed = true;
        payment.waiting_since = None;
        ctx.metrics.lock_timeout(backend, waited);
        let name = payment.held.first().map(Item::lock_key).unwrap_or_default();
        let label = match backend {
            LockBackend::Redis => "Redis",
            LockBackend::Database => "database",
        };
        tracing::warn!(key = %name, ?waited, "Failed to acquire {label} lock after {:?}", ctx.lock_wait);
        let trouble = Transient::LockNotAcquired {
            backend,
            name,
            wait: ctx.lock_wait,
        };
        for item in std::mem::take(&mut payment.held) {
            end_failed(ctx, &item.event, Failure::Transient(trouble.clone())).await;
        }
    }
    progressed
}

/// The round's transaction; when it fails for a reason other than an outage (which would fail
/// every event alike), each event is tried alone, so only the one at fault is retried. A
/// collection row held elsewhere fails the transaction after `row_wait` rather than stalling the
/// round's other payments; tried alone, the first event of its payment waits `row_wait` again,
/// and the payment's later events are then not tried (they are retried with it: the wait is paid
/// once, and the payment's received order holds). Any other failure of one event leaves its
/// payment's later events to be tried, so that one bad event cannot fail good ones.
fn apply_isolating(
    conn: &mut DbConnection,
    requests: &[Request],
    database_locks: Option<&[String]>,
    row_wait: Duration,
) -> Vec<Result<ItemOutcome, Transient>> {
    let apply = |conn: &mut DbConnection, requests: &[Request]| {
        write_transaction(conn, |conn| {
            limit_row_waits(conn, row_wait)?;
            apply_round(conn, requests, database_locks, EventsHeld::Leased, now())
        })
    };
    match apply(conn, requests) {
        Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
        Err(error) if requests.len() == 1 || error.is_transient() => {
            let trouble = Transient::from(error);
            requests.iter().map(|_| Err(trouble.clone())).collect()
        }
        Err(error) => {
            tracing::warn!(%error, "A round of {} events failed: trying them one by one", requests.len());
            let mut held_rows: HashMap<&str, Transient> = HashMap::new();
            requests
                .iter()
                .map(|request| {
                    if let Some(trouble) = held_rows.get(request.request_ref.as_str()) {
                        return Err(trouble.clone());
                    }
                    match apply(conn, std::slice::from_ref(request)) {
                        Ok(outcomes) => outcomes
                            .into_iter()
                            .next()
                            .ok_or_else(|| Transient::Store("no outcome".to_owned())),
                        Err(error) => {
                            let lock_timeout = error.is_lock_timeout();
                            let trouble = Transient::from(error);
                            if lock_timeout {
                                held_rows.insert(&request.request_ref, trouble.clone());
                            }
                            Err(trouble)
                        }
                    }
                })
                .collect()
        }
    }
}

/// Ends one event's turn after the transaction.
async fn finish(ctx: &Context, item: Item, outcome: Result<ItemOutcome, Transient>) {
    let failure = match outcome {
        Ok(ItemOutcome::Done(RequestOutcome::Recorded(decision))) => {
            return recorded(ctx, &item.event, item.request_ref(), decision);
        }
        Ok(ItemOutcome::Done(RequestOutcome::Failed(_, reason))) => {
            return mismatched(ctx, &item.event, item.request_ref(), &reason);
        }
        Ok(ItemOutcome::Done(RequestOutcome::AlreadyFinished)) => {
            return ctx.metrics.event(Tally::AlreadyFinished);
        }
        Ok(ItemOutcome::Done(RequestOutcome::CollectionMissing)) => {
            Transient::NoCollection(item.request.request_ref.clone())
        }
        // Not reached: a payment with a busy lock is kept for the next round.
        Ok(ItemOutcome::LockBusy) => return ctx.metrics.event(Tally::Retried),
        Err(trouble) => trouble,
    };
    end_failed(ctx, &item.event, Failure::Transient(failure)).await;
}
