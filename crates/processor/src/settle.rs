//! How an event's turn ends, and how that is told (logs, metrics): decided (`recorded`), FAILED
//! for a permanent problem, another try later with back-off for a transient one (FAILED once
//! `max_attempts` claims are used), or given back unstarted at shutdown. When even that write
//! fails, the event's lease brings it back.

use domain::{Decision, Outcome};
use persistence::{
    mark_failed, mark_ignored, notify_new_events, now, run_blocking, schedule_retry,
    write_transaction, StoreError, WebhookEvent,
};

use crate::apply::ignored_reason;
use crate::context::Context;
use crate::failure::{Failure, Transient};
use crate::metrics::Tally;

/// Ends the turn of an event that was not decided, as its failure says.
pub(crate) async fn end_failed(ctx: &Context, event: &WebhookEvent, failure: Failure) {
    let tally = match failure {
        Failure::Permanent(problem) => {
            let reason = problem.to_string();
            tracing::warn!(event_id = %event.id, provider = %event.provider, "Event failed: {reason}");
            fail(ctx, event, reason).await
        }
        Failure::Transient(trouble) => retry_or_fail(ctx, event, trouble).await,
    };
    ctx.metrics.event(tally);
}

/// Another try later, or FAILED when the tries are used up.
async fn retry_or_fail(ctx: &Context, event: &WebhookEvent, trouble: Transient) -> Tally {
    let policy = ctx.retry;
    if policy.exhausted(event.attempts) {
        let reason = format!("gave up after {} attempts: {trouble}", event.attempts);
        tracing::warn!(event_id = %event.id, "Event failed: {reason}");
        return fail(ctx, event, reason).await;
    }
    let delay = policy.delay(event.attempts, &mut rand::rng());
    let at = chrono::TimeDelta::from_std(delay)
        .ok()
        .and_then(|delay| now().checked_add_signed(delay))
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC);
    tracing::debug!(event_id = %event.id, attempts = event.attempts, ?delay, "Retrying later: {trouble}");
    let id = event.id;
    let reason = trouble.to_string();
    match run_blocking(&ctx.pool, move |conn| schedule_retry(conn, id, at, &reason)).await {
        Ok(true) => Tally::Retried,
        Ok(false) => Tally::AlreadyFinished,
        Err(error) => {
            // Its lease brings it back.
            tracing::warn!(event_id = %id, %error, "Could not schedule the retry");
            Tally::Retried
        }
    }
}

async fn fail(ctx: &Context, event: &WebhookEvent, reason: String) -> Tally {
    let id = event.id;
    match run_blocking(&ctx.pool, move |conn| mark_failed(conn, id, &reason, now())).await {
        Ok(true) => {
            ctx.metrics.lag(lag_of(event));
            Tally::Failed
        }
        Ok(false) => Tally::AlreadyFinished,
        Err(error) => {
            // Its lease brings it back, and it fails again then.
            tracing::warn!(event_id = %id, %error, "Could not record the failure");
            Tally::Retried
        }
    }
}

/// Tells a decision that was recorded: the skip of a terminal collection at info (the log line
/// operators search for), the rest at debug.
pub(crate) fn recorded(ctx: &Context, event: &WebhookEvent, request_ref: &str, decision: Decision) {
    ctx.metrics.lag(lag_of(event));
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
    ctx.metrics.event(Tally::from(decision.outcome));
}

/// Ends an event whose type concerns no payment: PROCESSED, the reason in `last_error`.
pub(crate) async fn end_ignored(ctx: &Context, event: &WebhookEvent, kind: String) {
    let (id, reason) = (event.id, ignored_reason(&kind));
    match run_blocking(&ctx.pool, move |conn| {
        mark_ignored(conn, id, &reason, now(), false)
    })
    .await
    {
        Ok(true) => ignored(ctx, event, &kind),
        Ok(false) => ctx.metrics.event(Tally::AlreadyFinished),
        Err(error) => {
            // Its lease brings it back.
            tracing::warn!(event_id = %id, %error, "Could not record an ignored event");
            ctx.metrics.event(Tally::Retried);
        }
    }
}

/// Tells an ignored event: counted by provider and type.
fn ignored(ctx: &Context, event: &WebhookEvent, kind: &str) {
    tracing::info!(event_id = %event.id, provider = %event.provider, "{}", ignored_reason(kind));
    ctx.metrics.lag(lag_of(event));
    ctx.metrics.ignored(&event.provider, kind);
    ctx.metrics.event(Tally::Ignored);
}

/// Tells a success refused for its amount: audited, and the event FAILED with both figures.
pub(crate) fn mismatched(ctx: &Context, event: &WebhookEvent, request_ref: &str, reason: &str) {
    tracing::warn!(event_id = %event.id, provider = %event.provider, %request_ref, "Amount mismatch: {reason}");
    ctx.metrics.lag(lag_of(event));
    ctx.metrics.amount_mismatch(&event.provider);
    ctx.metrics.event(Tally::AmountMismatch);
}

/// Tells an event settled in its claim's own transaction (it is already written).
pub(crate) fn settled_in_claim(ctx: &Context, event: &WebhookEvent, settled: &Settled) {
    match settled {
        Settled::Recorded(request_ref, decision) => recorded(ctx, event, request_ref, *decision),
        Settled::Mismatched(request_ref, reason) => mismatched(ctx, event, request_ref, reason),
        Settled::Ignored(kind) => ignored(ctx, event, kind),
        Settled::AlreadyFinished => ctx.metrics.event(Tally::AlreadyFinished),
        Settled::Failed(reason) => {
            tracing::warn!(event_id = %event.id, provider = %event.provider, "Event failed: {reason}");
            ctx.metrics.lag(lag_of(event));
            ctx.metrics.event(Tally::Failed);
        }
    }
}

/// What became of an event that a claim settled in its own transaction.
#[derive(Debug)]
pub(crate) enum Settled {
    Recorded(String, Decision),
    /// Audited as an amount mismatch, the event FAILED with this reason.
    Mismatched(String, String),
    /// PROCESSED without a decision: this event type concerns no payment.
    Ignored(String),
    AlreadyFinished,
    /// FAILED for a permanent problem, with it as the reason.
    Failed(crate::failure::Permanent),
}

/// Makes unstarted events claimable again at once (shutdown), instead of leaving them hidden
/// until their lease ends. The claim's attempt stays counted: `attempts` counts claims.
pub(crate) async fn give_back(ctx: &Context, events: Vec<WebhookEvent>) {
    if events.is_empty() {
        return;
    }
    let count = events.len();
    let given = run_blocking(&ctx.pool, move |conn| {
        let at = now();
        write_transaction(conn, |conn| -> Result<(), StoreError> {
            for event in &events {
                let reason = event
                    .last_error
                    .as_deref()
                    .unwrap_or("lease given back unstarted at shutdown");
                schedule_retry(conn, event.id, at, reason)?;
            }
            Ok(())
        })?;
        // Other processors need not wait for their next poll.
        notify_new_events(conn, None)
    })
    .await;
    match given {
        Ok(()) => {
            for _ in 0..count {
                ctx.metrics.event(Tally::Released);
            }
            tracing::info!("Gave back {count} unstarted events");
        }
        Err(error) => tracing::warn!(
            %error,
            "Could not give back {count} unstarted events: they come back when their lease ends"
        ),
    }
}

pub(crate) fn lag_of(event: &WebhookEvent) -> std::time::Duration {
    (now() - event.received_at).to_std().unwrap_or_default()
}
