//! The step that both ways of claiming share: read what each event asks (`read`), then, in
//! the caller's transaction, decide and record the events of the payments whose locks are held
//! (`apply_round`): the database locks are tried first when Redis does not hold them, then the
//! decision transaction runs (`persistence::apply_requests`, which has the domain plan it).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use domain::{read_request, PayloadProfile, Read, Request};
use persistence::lock::try_database_locks;
use persistence::{
    apply_requests, DbConnection, Decide, EventsHeld, RequestOutcome, StoreError, WebhookEvent,
};

use crate::failure::Permanent;
use crate::lock::lock_key;

/// Who decided, in `collection_transitions.actor`.
pub(crate) const ACTOR: &str = "processor";

/// A claimed event and what it asks.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub(crate) event: WebhookEvent,
    pub(crate) request: Request,
}

impl Item {
    pub(crate) fn request_ref(&self) -> &str {
        &self.request.request_ref
    }

    pub(crate) fn lock_key(&self) -> String {
        lock_key(self.request_ref())
    }
}

/// How the transaction ended for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ItemOutcome {
    /// The decision transaction's answer: recorded (the event PROCESSED, or FAILED for an amount
    /// mismatch), finished already, or no collection.
    Done(RequestOutcome),
    /// Its payment's database lock is held elsewhere: nothing written; try again.
    LockBusy,
}

/// What `event` asks, by its provider's outcome table and fields: a change of its collection,
/// or nothing (`Read::Ignored`); an event that asks nothing readable has a permanent problem.
pub(crate) fn read(
    profiles: &BTreeMap<String, PayloadProfile>,
    event: &WebhookEvent,
) -> Result<Read, Permanent> {
    let profile = profiles
        .get(&event.provider)
        .ok_or_else(|| Permanent::UnknownProvider(event.provider.clone()))?;
    Ok(read_request(
        profile,
        event.id,
        event.request_ref.as_deref(),
        &event.payload,
    )?)
}

/// Why an ignored event was not applied, kept in its `last_error`.
pub(crate) fn ignored_reason(kind: &str) -> String {
    format!("ignored: event type {kind} does not concern a payment")
}

/// Decides and records `requests` (in received order) in the caller's transaction, and returns
/// each one's outcome in the same order. With `database_locks` (`BatchLocks::database_names`),
/// those payment locks are tried here and the requests of a payment whose lock is held elsewhere
/// are left out (`LockBusy`); without, the caller passes only requests whose Redis locks it
/// holds.
pub(crate) fn apply_round(
    conn: &mut DbConnection,
    requests: &[Request],
    database_locks: Option<&[String]>,
    events: EventsHeld,
    now: DateTime<Utc>,
) -> Result<Vec<ItemOutcome>, StoreError> {
    let busy: HashSet<&str> = match database_locks {
        None => HashSet::new(),
        Some(names) => {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            let had = try_database_locks(conn, &names)?;
            names
                .into_iter()
                .zip(had)
                .filter(|(_, had)| !had)
                .map(|(name, _)| name)
                .collect()
        }
    };
    let is_busy = |request: &Request| {
        !busy.is_empty() && busy.contains(lock_key(&request.request_ref).as_str())
    };
    let free: Cow<'_, [Request]> = if busy.is_empty() {
        Cow::Borrowed(requests)
    } else {
        Cow::Owned(requests.iter().filter(|r| !is_busy(r)).cloned().collect())
    };
    let decide = Decide {
        actor: ACTOR,
        events,
        now,
    };
    let mut outcomes = apply_requests(conn, &free, &decide)?.into_iter();
    Ok(requests
        .iter()
        .map(|request| {
            if is_busy(request) {
                return ItemOutcome::LockBusy;
            }
            ItemOutcome::Done(outcomes.next().unwrap_or(RequestOutcome::AlreadyFinished))
        })
        .collect())
}
