//! One claimed event, from its payload to its end: read what it asks for (a bad event fails at
//! once, with the reason in `last_error`), take the payment's lock, decide with the status rule
//! and record the decision, then let go. Transient trouble (database, lock, a collection not
//! created yet) schedules another try (`settle`).

use std::collections::BTreeMap;

use domain::signature::Verified;
use domain::{decide, Authority, CollectionStatus, Decision, Outcome};
use inbox_config::Provider;
use persistence::{
    apply_decision, find_collection, now, Applied, ApplyRequest, DbConnection, StoreError,
    WebhookEvent,
};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::app::Shared;
use crate::lock::{lock_key, LockError};
use crate::metrics::Tally;
use crate::settle::{fail, give_back, lag_of, retry_or_fail};

/// Who decided, in `collection_transitions.actor`.
const ACTOR: &str = "processor";
/// Re-decisions after the collection moved under us; more means something keeps changing it.
const MAX_DECISIONS: usize = 5;

/// What an event asks for.
#[derive(Debug, Clone)]
struct Target {
    request_ref: String,
    status: CollectionStatus,
    provider_ref: Option<String>,
}

enum Step {
    Recorded(Decision),
    AlreadyFinished,
    CollectionMissing,
    KeptChanging,
}

/// Works one event to its end (or to its next try) and counts the result.
pub(crate) async fn process_event(
    shared: &Shared,
    event: WebhookEvent,
    cancel: &CancellationToken,
) {
    let tally = match read_target(&shared.providers, &event) {
        Err(reason) => {
            tracing::warn!(event_id = %event.id, provider = %event.provider, "Event failed: {reason}");
            fail(shared, &event, reason).await
        }
        Ok(target) => {
            let request_ref = target.request_ref.clone();
            let event_id = event.id;
            let locked = shared
                .locks
                .run_locked(&request_ref, cancel, move |conn| {
                    apply_in_lock(conn, event_id, &target)
                })
                .await;
            match locked {
                Ok(Step::Recorded(decision)) => recorded(shared, &event, &request_ref, decision),
                Ok(Step::AlreadyFinished) => Tally::AlreadyFinished,
                Ok(Step::CollectionMissing) => {
                    let reason = format!("no collection with request_ref {request_ref:?} yet");
                    retry_or_fail(shared, &event, reason).await
                }
                Ok(Step::KeptChanging) => {
                    let reason = "the collection's status kept changing".to_owned();
                    retry_or_fail(shared, &event, reason).await
                }
                Err(LockError::TimedOut(backend)) => {
                    let reason = format!(
                        "{} lock {} not acquired within {:?}",
                        backend.as_str(),
                        lock_key(&request_ref),
                        shared.lock_wait
                    );
                    retry_or_fail(shared, &event, reason).await
                }
                Err(LockError::Store(error)) => {
                    retry_or_fail(shared, &event, error.to_string()).await
                }
                Err(LockError::Cancelled) => {
                    give_back(shared, vec![event]).await;
                    return;
                }
            }
        }
    };
    shared.metrics.event(tally);
}

/// Permanent problems are the event's own: no configured provider, no request_ref, no status
/// or one no rule knows. Retrying cannot help; an operator can fix and replay.
fn read_target(
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

/// The read-decide-write of one event, on a blocking thread, under the payment's lock.
fn apply_in_lock(
    conn: &mut DbConnection,
    event_id: Uuid,
    target: &Target,
) -> Result<Step, StoreError> {
    let Some(collection) = find_collection(conn, &target.request_ref)? else {
        return Ok(Step::CollectionMissing);
    };
    let mut current = collection.status;
    for _ in 0..MAX_DECISIONS {
        let decision = decide(current, target.status, Authority::Event);
        let request = ApplyRequest {
            collection_id: collection.id,
            decision,
            event_id: Some(event_id),
            provider_ref: target.provider_ref.as_deref(),
            actor: ACTOR,
            reason: None,
            now: now(),
        };
        match apply_decision(conn, &request)? {
            Applied::Recorded { .. } => return Ok(Step::Recorded(decision)),
            Applied::StaleStatus { current: moved } => current = moved,
            Applied::EventAlreadyFinished => return Ok(Step::AlreadyFinished),
            Applied::CollectionMissing => return Ok(Step::CollectionMissing),
        }
    }
    Ok(Step::KeptChanging)
}

fn recorded(shared: &Shared, event: &WebhookEvent, request_ref: &str, decision: Decision) -> Tally {
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
