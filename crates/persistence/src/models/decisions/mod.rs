//! The decision transaction: the collections a round asks about are read under their row locks
//! (in id order, so two rounds sharing collections wait for each other instead of deadlocking),
//! the domain plans the round from them (`domain::plan_round`), and the plan is executed
//! (`write`): conditional collection updates, audit rows and the events' marks. Everything runs
//! in the caller's transaction, so it commits together or not at all. Decisions are the domain's;
//! this module only reads and writes.

mod write;

use std::borrow::Cow;
use std::collections::{BTreeSet, HashSet};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use domain::plan::{plan_round, CollectionState, Request, Step};
use domain::{Amount, Decision, Money};
use uuid::Uuid;

use crate::connection::DbConnection;
use crate::error::StoreError;
use crate::load_locked;
use crate::models::events::lock_open_events;
use crate::schema::collections;

pub use self::write::write_plan;

/// A collection read under its row lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockedCollection {
    pub id: Uuid,
    pub state: CollectionState,
    /// What its notifications tell besides the status.
    pub facts: Facts,
}

/// The columns of a locked collection that the plan does not need and its notifications do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    pub version: i64,
    pub provider: Option<String>,
    pub amount: Option<String>,
    pub currency: Option<String>,
}

/// How the events of the requests are held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventsHeld {
    /// Leased earlier: each is checked to be still RECEIVED, under its row lock, before the
    /// plan (another processor may have finished it after its lease ran out).
    Leased,
    /// Claimed by the caller's transaction (`lock_claimable`): RECEIVED and locked; their marks
    /// also count the claim, which no lease counted.
    Claimed,
}

/// What the decision transaction is told besides the requests.
#[derive(Debug, Clone, Copy)]
pub struct Decide<'a> {
    /// Who decides, in `collection_transitions.actor`.
    pub actor: &'a str,
    pub events: EventsHeld,
    pub now: DateTime<Utc>,
}

/// How the transaction ended for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestOutcome {
    /// Decided and audited; its event (if any) marked PROCESSED.
    Recorded(Decision),
    /// Decided and audited, and its event marked FAILED with this reason (an amount mismatch:
    /// the collection was left alone).
    Failed(Decision, String),
    /// Its event was no longer RECEIVED, or came earlier in the same requests: nothing written.
    AlreadyFinished,
    /// No collection has its request_ref: nothing written for it.
    CollectionMissing,
}

/// Decides `requests` (in received order) and records the decisions, in the caller's
/// transaction; returns each request's outcome in the same order.
pub fn apply_requests(
    conn: &mut DbConnection,
    requests: &[Request],
    decide: &Decide<'_>,
) -> Result<Vec<RequestOutcome>, StoreError> {
    if requests.is_empty() {
        return Ok(Vec::new());
    }
    let refs: BTreeSet<&str> = requests.iter().map(|r| r.request_ref.as_str()).collect();
    let refs: Vec<&str> = refs.into_iter().collect();
    let collections = lock_collections(conn, &refs)?;
    let open: Option<HashSet<Uuid>> = match decide.events {
        EventsHeld::Claimed => None,
        EventsHeld::Leased => {
            let ids: Vec<Uuid> = requests.iter().filter_map(|r| r.event).collect();
            Some(lock_open_events(conn, &ids)?)
        }
    };
    let is_open = |r: &Request| match (r.event, &open) {
        (Some(event), Some(open)) => open.contains(&event),
        _ => true,
    };
    // Copied only when some event is finished already (rare: a lease ran out meanwhile).
    let planned: Cow<'_, [Request]> = if requests.iter().all(is_open) {
        Cow::Borrowed(requests)
    } else {
        Cow::Owned(requests.iter().filter(|r| is_open(r)).cloned().collect())
    };
    let plan = plan_round(collections.iter().map(|c| &c.state), &planned);
    write_plan(conn, &plan, &collections, decide)?;

    let mut steps = plan.steps.into_iter();
    // Each decided step has its audit row, in the same order.
    let mut audits = plan.audits.into_iter();
    Ok(requests
        .iter()
        .map(|request| {
            if !is_open(request) {
                return RequestOutcome::AlreadyFinished;
            }
            match steps.next() {
                Some(Step::Decided(decision)) => match audits.next() {
                    Some(audit) if audit.fails_event => {
                        RequestOutcome::Failed(decision, audit.reason)
                    }
                    _ => RequestOutcome::Recorded(decision),
                },
                Some(Step::NoCollection) => RequestOutcome::CollectionMissing,
                Some(Step::Repeated) | None => RequestOutcome::AlreadyFinished,
            }
        })
        .collect())
}

/// The collections with these request_refs, locked in id order until the transaction ends.
pub fn lock_collections(
    conn: &mut DbConnection,
    refs: &[&str],
) -> Result<Vec<LockedCollection>, StoreError> {
    if refs.is_empty() {
        return Ok(Vec::new());
    }
    let query = collections::table
        .filter(collections::request_ref.eq_any(refs))
        .order(collections::id.asc())
        .select((
            collections::id,
            collections::request_ref,
            collections::status,
            collections::provider_ref,
            collections::amount,
            collections::currency,
            collections::version,
            collections::provider,
        ));
    type Row = (
        Uuid,
        String,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        i64,
        Option<String>,
    );
    let rows: Vec<Row> = load_locked!(conn, query)?;
    rows.into_iter()
        .map(
            |(id, request_ref, status, provider_ref, amount, currency, version, provider)| {
                // An amount stored without a valid currency is kept as unreadable: a success for
                // it is then a mismatch an operator sees, never a silent pass.
                let readable =
                    Amount::read(amount.as_deref(), currency.as_deref(), Money::parse_major);
                Ok(LockedCollection {
                    id,
                    state: CollectionState {
                        request_ref,
                        status: status.parse()?,
                        provider_ref,
                        amount: readable,
                    },
                    facts: Facts {
                        version,
                        provider,
                        amount,
                        currency,
                    },
                })
            },
        )
        .collect()
}
