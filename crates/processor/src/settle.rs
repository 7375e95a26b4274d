//! How an event that was not decided ends its turn: FAILED with its reason, another try later
//! with back-off (FAILED once `max_attempts` claims are used), or given back unstarted at
//! shutdown. When even that write fails, the event's lease brings it back.

use persistence::{
    mark_failed, notify_new_events, now, run_blocking, schedule_retry, write_transaction,
    StoreError, WebhookEvent,
};

use crate::app::Shared;
use crate::metrics::Tally;

/// Another try later, or FAILED when the tries are used up.
pub(crate) async fn retry_or_fail(shared: &Shared, event: &WebhookEvent, reason: String) -> Tally {
    let policy = shared.retry;
    if policy.exhausted(event.attempts) {
        let reason = format!("gave up after {} attempts: {reason}", event.attempts);
        tracing::warn!(event_id = %event.id, "Event failed: {reason}");
        return fail(shared, event, reason).await;
    }
    let delay = policy.delay(event.attempts, &mut rand::rng());
    let at = chrono::TimeDelta::from_std(delay)
        .ok()
        .and_then(|delay| now().checked_add_signed(delay))
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC);
    tracing::debug!(event_id = %event.id, attempts = event.attempts, ?delay, "Retrying later: {reason}");
    let id = event.id;
    match run_blocking(&shared.pool, move |conn| {
        schedule_retry(conn, id, at, &reason)
    })
    .await
    {
        Ok(true) => Tally::Retried,
        Ok(false) => Tally::AlreadyFinished,
        Err(error) => {
            // Its lease brings it back.
            tracing::warn!(event_id = %id, %error, "Could not schedule the retry");
            Tally::Retried
        }
    }
}

pub(crate) async fn fail(shared: &Shared, event: &WebhookEvent, reason: String) -> Tally {
    let id = event.id;
    match run_blocking(&shared.pool, move |conn| {
        mark_failed(conn, id, &reason, now())
    })
    .await
    {
        Ok(true) => {
            shared.metrics.lag(lag_of(event));
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

/// Makes unstarted events claimable again at once (shutdown), instead of leaving them hidden
/// until their lease ends. The claim's attempt stays counted: `attempts` counts claims.
pub(crate) async fn give_back(shared: &Shared, events: Vec<WebhookEvent>) {
    if events.is_empty() {
        return;
    }
    let count = events.len();
    let given = run_blocking(&shared.pool, move |conn| {
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
                shared.metrics.event(Tally::Released);
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
