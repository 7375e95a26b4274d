//! The claim loop drives the pipeline: claim (`claim`: what it settled is told, what it leased is
//! handed to per-payment queues), then the rounds over the leased events (`rounds`), at most
//! `concurrency` of them at once. A full batch means more work is waiting, so claim again at once;
//! a partial or empty one means wait for a notification or `poll_interval`; an error means a
//! short back-off. Claims stop while every batch slot is busy, so a processor never holds leases
//! on much more than one batch it has not started.

use std::sync::Arc;
use std::time::Duration;

use persistence::{StoreError, WebhookEvent};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::claim::{claim_direct, claim_leased, Claimed};
use crate::context::Context;
use crate::inflight::{group, InFlight, QueueKey};
use crate::rounds::run_rounds;
use crate::settle::{give_back, settled_in_claim};

const FIRST_ERROR_PAUSE: Duration = Duration::from_millis(250);
const LAST_ERROR_PAUSE: Duration = Duration::from_secs(5);
/// What the process needs after the events in hand to exit (see `main`).
const EXIT_MARGIN: Duration = Duration::from_millis(500);

pub(crate) struct Driver {
    ctx: Arc<Context>,
    tasks: JoinSet<()>,
    slots: Arc<Semaphore>,
    inflight: InFlight,
    cancel: CancellationToken,
    /// After a failed direct claim, the next one leases (see `claim`).
    lease_next: bool,
}

impl Driver {
    pub(crate) fn new(ctx: Arc<Context>, cancel: CancellationToken) -> Driver {
        let slots = Arc::new(Semaphore::new(ctx.concurrency));
        Driver {
            ctx,
            tasks: JoinSet::new(),
            slots,
            inflight: InFlight::default(),
            cancel,
            lease_next: false,
        }
    }

    /// Works until `cancel`, then stops claiming, lets the events in hand finish within the
    /// shutdown grace and gives back the ones not started.
    pub(crate) async fn run(mut self) {
        let mut failures = 0u32;
        loop {
            self.ctx.liveness.beat();
            self.reap();
            if self.cancel.is_cancelled() {
                break;
            }
            let cancel = self.cancel.clone();
            let claimed = tokio::select! {
                biased;
                claimed = self.claim() => claimed,
                _ = cancel.cancelled() => {
                    // A direct claim's transaction may be waiting in the database: it is left
                    // to finish or to roll back when the process ends; its events are not lost
                    // either way.
                    tracing::info!("Shutting down during a claim: its transaction is abandoned");
                    break;
                }
            };
            let claim = match claimed {
                Ok(claim) => {
                    failures = 0;
                    claim
                }
                Err(error) => {
                    failures = failures.saturating_add(1);
                    let pause = error_pause(failures);
                    tracing::warn!(%error, "Claiming events failed; trying again in {pause:?}");
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => continue,
                        _ = self.cancel.cancelled() => break,
                    }
                }
            };
            let full = claim.count >= self.ctx.batch_size;
            self.dispatch(claim).await;
            if full {
                continue;
            }
            tokio::select! {
                biased;
                _ = self.cancel.cancelled() => break,
                _ = self.ctx.wake.notified() => {}
                _ = tokio::time::sleep(self.ctx.poll_interval) => {}
            }
        }
        self.finish().await;
    }

    /// Claims and works until nothing is claimable and nothing is in hand (the test hook).
    /// Returns how many claims were made.
    pub(crate) async fn run_until_idle(mut self) -> Result<usize, StoreError> {
        let mut claimed = 0;
        loop {
            let claim = match self.claim().await {
                Ok(claim) => claim,
                Err(error) => {
                    self.join_all().await;
                    return Err(error);
                }
            };
            if claim.count == 0 {
                if self.tasks.is_empty() {
                    return Ok(claimed);
                }
                self.join_all().await;
                continue;
            }
            claimed += claim.count;
            let full = claim.count >= self.ctx.batch_size;
            self.dispatch(claim).await;
            if !full {
                self.join_all().await;
            }
        }
    }

    /// Claims a batch: directly (`claim_direct`) unless the last direct claim failed, then once
    /// with leases (`claim_leased`), so that an event that makes the direct transaction fail is
    /// leased and counted like any other.
    async fn claim(&mut self) -> Result<Claimed, StoreError> {
        if self.lease_next {
            self.lease_next = false;
            return claim_leased(&self.ctx).await;
        }
        claim_direct(&self.ctx, &self.inflight)
            .await
            .inspect_err(|error| {
                tracing::warn!(%error, "A direct claim failed: the next claim leases");
                self.lease_next = true;
            })
    }

    /// Tells what the claim settled; hands each payment's leased events to its running queue, or
    /// opens queues for them and starts one task of rounds over those once a slot is free. When
    /// shutdown begins meanwhile, what was not handed over is given back.
    async fn dispatch(&mut self, claim: Claimed) {
        for (event, settled) in &claim.settled {
            settled_in_claim(&self.ctx, event, settled);
        }
        let fresh: Vec<(QueueKey, Vec<WebhookEvent>)> = group(claim.leased)
            .into_iter()
            .filter_map(|(key, events)| self.inflight.join(&key, events).map(|e| (key, e)))
            .collect();
        if fresh.is_empty() {
            return;
        }
        let slot = tokio::select! {
            biased;
            _ = self.cancel.cancelled() => None,
            slot = self.slots.clone().acquire_owned() => slot.ok(),
        };
        let Some(slot) = slot else {
            let unstarted = fresh.into_iter().flat_map(|(_, events)| events).collect();
            give_back(&self.ctx, unstarted).await;
            return;
        };
        let queues = fresh
            .into_iter()
            .map(|(key, events)| self.inflight.start(key, events))
            .collect();
        let ctx = self.ctx.clone();
        let cancel = self.cancel.clone();
        self.tasks.spawn(run_rounds(ctx, queues, slot, cancel));
    }

    fn reap(&mut self) {
        while let Some(done) = self.tasks.try_join_next() {
            report(done);
        }
    }

    async fn join_all(&mut self) {
        while let Some(done) = self.tasks.join_next().await {
            report(done);
        }
    }

    async fn finish(mut self) {
        let grace = self.ctx.shutdown_grace;
        let in_hand = self.tasks.len();
        tracing::info!("Shutting down: finishing the events in hand ({in_hand} payments)");
        // Stop waiting a little before the grace ends, so that the process is gone within it.
        let patience = grace.saturating_sub(EXIT_MARGIN);
        if tokio::time::timeout(patience, self.join_all())
            .await
            .is_err()
        {
            tracing::warn!(
                "Shutdown grace of {grace:?} ran out with {} payments in hand: their events come \
                 back when their leases end",
                self.tasks.len()
            );
            self.tasks.abort_all();
        }
    }
}

fn report(done: Result<(), tokio::task::JoinError>) {
    if let Err(error) = done {
        if error.is_panic() {
            // Its events keep their lease and come back when it ends.
            tracing::error!(%error, "A payment's queue panicked");
        }
    }
}

fn error_pause(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    FIRST_ERROR_PAUSE
        .saturating_mul(1 << doublings)
        .min(LAST_ERROR_PAUSE)
}
