//! A claimed batch, worked in rounds. Each round takes every payment's events in hand, tries all
//! their locks at once (`lock`), and records the decisions of the payments it locked in ONE
//! transaction (`persistence::apply_batch`): one commit for the round instead of one per event.
//! Payments whose lock is held elsewhere stay for the next round, after a short pause with
//! jitter, until `processor.lock_wait_ms` has passed for them; then their events are retried
//! later. Events claimed meanwhile for a payment in hand join it (`inflight`) and are taken by
//! the next round, so a payment's events are decided in the order received.
//!
//! Events that cannot be read (no provider, no request_ref, no status a rule knows) fail at once;
//! transient trouble (database, lock, a collection not created yet) schedules another try
//! (`settle`). When a round's transaction fails for a reason other than an outage, its events
//! are tried one by one, so one bad event cannot hold back its neighbours.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use domain::signature::Verified;
use domain::{CollectionStatus, Decision, Outcome};
use inbox_config::Provider;
use persistence::{
    apply_batch, now, run_blocking, BatchItem, BatchOutcome, DbConnection, WebhookEvent,
};
use rand::Rng;
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;

use crate::app::Shared;
use crate::inflight::QueueGuard;
use crate::lock::{database_lock_names, lock_key, lock_names};
use crate::metrics::{LockBackend, Tally};
use crate::settle::{fail, give_back, lag_of, retry_or_fail};

/// Who decided, in `collection_transitions.actor`.
pub(crate) const ACTOR: &str = "processor";
/// Pauses between rounds that found every lock busy grow from the first to the last.
const FIRST_PAUSE: Duration = Duration::from_millis(5);
const LAST_PAUSE: Duration = Duration::from_millis(100);

/// What an event asks for.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) request_ref: String,
    pub(crate) status: CollectionStatus,
    pub(crate) provider_ref: Option<String>,
}

impl Target {
    /// What the decision transaction needs of `event`, which asks for this.
    pub(crate) fn item(&self, event: &WebhookEvent) -> BatchItem {
        BatchItem {
            event_id: event.id,
            request_ref: self.request_ref.clone(),
            requested: self.status,
            provider_ref: self.provider_ref.clone(),
        }
    }
}

/// One payment in hand: its queue, and the events taken from it and not finished yet.
struct Payment {
    queue: QueueGuard,
    held: Vec<(WebhookEvent, Target)>,
    /// Since when its lock has been busy, while it is.
    waiting_since: Option<Instant>,
}

impl Payment {
    fn request_ref(&self) -> Option<&str> {
        self.held.first().map(|(_, t)| t.request_ref.as_str())
    }
}

/// Works the payments of one claimed batch until none has an event left, or shutdown begins
/// (then what was not started is given back).
pub(crate) async fn run_batch(
    shared: Arc<Shared>,
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
        refill(&shared, &mut payments).await;
        if payments.is_empty() {
            return;
        }
        if cancel.is_cancelled() {
            let unstarted = payments
                .iter_mut()
                .flat_map(|p| {
                    let held = std::mem::take(&mut p.held).into_iter().map(|(e, _)| e);
                    held.chain(p.queue.close()).collect::<Vec<_>>()
                })
                .collect();
            give_back(&shared, unstarted).await;
            return;
        }
        let progressed = round(&shared, &mut payments).await;
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

/// Takes what joined each payment's queue, fails the events that cannot be read, and drops the
/// payments that are done (their queues close).
async fn refill(shared: &Shared, payments: &mut Vec<Payment>) {
    let mut unreadable = Vec::new();
    for payment in payments.iter_mut() {
        let holding = !payment.held.is_empty();
        for event in payment.queue.take(holding) {
            match read_target(&shared.providers, &event) {
                Ok(target) => payment.held.push((event, target)),
                Err(reason) => unreadable.push((event, reason)),
            }
        }
    }
    for (event, reason) in unreadable {
        tracing::warn!(event_id = %event.id, provider = %event.provider, "Event failed: {reason}");
        let tally = fail(shared, &event, reason).await;
        shared.metrics.event(tally);
    }
    // A payment with nothing held whose queue gave nothing is closed; one whose new events all
    // failed is asked again next time, and closes then.
    payments.retain(|p| !p.held.is_empty() || !p.queue.is_closed());
}

/// One round: lock what can be locked, record those payments' decisions in one transaction,
/// settle every event that ended, time out the payments that waited too long. Returns whether
/// any event ended.
async fn round(shared: &Shared, payments: &mut [Payment]) -> bool {
    let names = lock_names(payments.iter().filter_map(Payment::request_ref));
    if names.is_empty() {
        // Only payments whose new events all failed: they close at the next refill.
        return true;
    }
    let locks = shared.locks.try_lock_batch(&names).await;
    let backend = locks.backend();
    let in_round: Vec<usize> = payments
        .iter()
        .enumerate()
        .filter(|(_, p)| p.request_ref().is_some_and(|r| locks.allows(&lock_key(r))))
        .map(|(i, _)| i)
        .collect();

    let items: Vec<BatchItem> = in_round
        .iter()
        .flat_map(|&i| payments[i].held.iter())
        .map(|(event, target)| target.item(event))
        .collect();
    let results = if items.is_empty() {
        Vec::new()
    } else {
        let count = items.len();
        let row_wait = shared.lock_wait;
        match run_blocking(&shared.pool, move |conn| {
            Ok(apply_isolating(conn, &items, backend, row_wait))
        })
        .await
        {
            Ok(results) => results,
            Err(error) => {
                let reason = error.to_string();
                (0..count).map(|_| Err(reason.clone())).collect()
            }
        }
    };
    shared.locks.release_batch(locks).await;

    let mut progressed = false;
    let mut results = results.into_iter();
    for &i in &in_round {
        let payment = &mut payments[i];
        let held = std::mem::take(&mut payment.held);
        let outcomes: Vec<Result<BatchOutcome, String>> =
            results.by_ref().take(held.len()).collect();
        if outcomes
            .iter()
            .any(|o| matches!(o, Ok(BatchOutcome::LockBusy)))
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
        shared.metrics.lock_acquired(backend, waited);
        progressed = true;
        for ((event, target), outcome) in held.into_iter().zip(outcomes) {
            let tally = finish(shared, &event, &target, outcome).await;
            shared.metrics.event(tally);
        }
    }

    // Payments still holding events are waiting for their lock.
    for payment in payments.iter_mut().filter(|p| !p.held.is_empty()) {
        let since = *payment.waiting_since.get_or_insert_with(Instant::now);
        let waited = since.elapsed();
        if waited < shared.lock_wait {
            continue;
        }
        progressed = true;
        payment.waiting_since = None;
        shared.metrics.lock_timeout(backend, waited);
        let name = payment.request_ref().map(lock_key).unwrap_or_default();
        let label = match backend {
            LockBackend::Redis => "Redis",
            LockBackend::Database => "database",
        };
        tracing::warn!(key = %name, ?waited, "Failed to acquire {label} lock after {:?}", shared.lock_wait);
        let reason = format!(
            "{} lock {name} not acquired within {:?}",
            backend.as_str(),
            shared.lock_wait
        );
        for (event, _) in std::mem::take(&mut payment.held) {
            let tally = retry_or_fail(shared, &event, reason.clone()).await;
            shared.metrics.event(tally);
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
    items: &[BatchItem],
    backend: LockBackend,
    row_wait: Duration,
) -> Vec<Result<BatchOutcome, String>> {
    let locks = database_lock_names(backend);
    match apply_batch(conn, items, locks, Some(row_wait), ACTOR, now()) {
        Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
        Err(error) if items.len() == 1 || error.is_transient() => {
            let reason = error.to_string();
            items.iter().map(|_| Err(reason.clone())).collect()
        }
        Err(error) => {
            tracing::warn!(%error, "A batch of {} events failed: trying them one by one", items.len());
            let mut held_rows: HashMap<&str, String> = HashMap::new();
            items
                .iter()
                .map(|item| {
                    if let Some(reason) = held_rows.get(item.request_ref.as_str()) {
                        return Err(reason.clone());
                    }
                    let alone = std::slice::from_ref(item);
                    match apply_batch(conn, alone, locks, Some(row_wait), ACTOR, now()) {
                        Ok(outcomes) => outcomes
                            .into_iter()
                            .next()
                            .ok_or_else(|| "no outcome".to_owned()),
                        Err(error) => {
                            let reason = error.to_string();
                            if error.is_lock_timeout() {
                                held_rows.insert(&item.request_ref, reason.clone());
                            }
                            Err(reason)
                        }
                    }
                })
                .collect()
        }
    }
}

/// Ends one event's turn after the transaction and says how it ended.
async fn finish(
    shared: &Shared,
    event: &WebhookEvent,
    target: &Target,
    outcome: Result<BatchOutcome, String>,
) -> Tally {
    match outcome {
        Ok(BatchOutcome::Recorded(decision)) => {
            recorded(shared, event, &target.request_ref, decision)
        }
        Ok(BatchOutcome::AlreadyFinished) => Tally::AlreadyFinished,
        Ok(BatchOutcome::CollectionMissing) => {
            let reason = format!(
                "no collection with request_ref {:?} yet",
                target.request_ref
            );
            retry_or_fail(shared, event, reason).await
        }
        // Not reached: a payment with a busy lock is kept for the next round.
        Ok(BatchOutcome::LockBusy) => Tally::Retried,
        Err(reason) => retry_or_fail(shared, event, reason).await,
    }
}

/// Permanent problems are the event's own: no configured provider, no request_ref, no status
/// or one no rule knows. Retrying cannot help; an operator can fix and replay.
pub(crate) fn read_target(
    providers: &BTreeMap<String, Provider>,
    event: &WebhookEvent,
) -> Result<Target, String> {
    let provider = providers.get(&event.provider).ok_or_else(|| {
        format!(
            "unknown provider {:?}: not in this processor's configuration",
            event.provider
        )
    })?;
    if !event.payload.is_object() {
        return Err("the payload is not a JSON object".to_owned());
    }
    let extracted = provider.payload.read(&event.payload, &Verified::default());
    // The receiver stored the reference it read; the payload is read again only without it.
    let request_ref = event
        .request_ref
        .clone()
        .filter(|r| !r.trim().is_empty())
        .or(extracted.request_ref)
        .ok_or_else(|| "the payload has no request_ref".to_owned())?;
    let word = extracted
        .status
        .ok_or_else(|| "the payload has no status".to_owned())?;
    let status = CollectionStatus::normalise(&word)
        .map_err(|e| format!("{e}: not a payment status this provider's rules know"))?;
    Ok(Target {
        request_ref,
        status,
        provider_ref: extracted.provider_ref,
    })
}

pub(crate) fn recorded(
    shared: &Shared,
    event: &WebhookEvent,
    request_ref: &str,
    decision: Decision,
) -> Tally {
    shared.metrics.lag(lag_of(event));
    if decision.outcome == Outcome::SkippedTerminal {
        tracing::info!(event_id = %event.id, %request_ref, "{}", decision.reason());
    } else {
        tracing::debug!(
            event_id = %event.id,
            %request_ref,
            outcome = %decision.outcome,
            "{}",
            decision.reason()
        );
    }
    Tally::from(decision.outcome)
}
