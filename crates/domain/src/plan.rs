//! The plan of a round: given the collections as they were read under their row locks and the
//! changes asked of them in received order, what each change decides, what each collection
//! becomes and which audit rows record it. Pure: persistence executes a plan and never decides,
//! so every rule of a round (received order, an event decided once, terminal statuses, the first
//! provider_ref kept, overrides, the amount of a success) is tested here with plain values.

use std::collections::{HashMap, HashSet};

use uuid::Uuid;

use crate::amount_check::{mismatch, Amount, AmountCheck};
use crate::status::CollectionStatus;
use crate::transition::{decide, Authority, Decision, Outcome};

/// A collection as the round found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionState {
    pub request_ref: String,
    pub status: CollectionStatus,
    pub provider_ref: Option<String>,
    /// What a success must pay (`amount_check`).
    pub amount: Amount,
}

/// One change asked of a collection: by a provider's event, which follows the status rule, or
/// by an operator, who may override it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The event that asks; `None` for an operator.
    pub event: Option<Uuid>,
    pub request_ref: String,
    pub status: CollectionStatus,
    /// The provider's reference, kept on the collection by its first change if it has none.
    pub provider_ref: Option<String>,
    pub authority: Authority,
    /// The audit row's reason instead of the decision's own (an operator's words).
    pub reason: Option<String>,
    /// What the event reports having been paid, and how strictly a success is checked.
    pub amount: Amount,
    pub amount_check: AmountCheck,
}

impl Request {
    /// What a provider's event asks.
    pub fn from_event(
        event: Uuid,
        request_ref: String,
        status: CollectionStatus,
        provider_ref: Option<String>,
    ) -> Request {
        Request {
            event: Some(event),
            request_ref,
            status,
            provider_ref,
            authority: Authority::Event,
            reason: None,
            amount: Amount::Absent,
            amount_check: AmountCheck::Off,
        }
    }

    /// The same request, reporting `amount`, checked as `check` says.
    pub fn with_amount(self, amount: Amount, check: AmountCheck) -> Request {
        Request {
            amount,
            amount_check: check,
            ..self
        }
    }

    /// What an operator asks: under the rule, or overriding it.
    pub fn from_operator(
        request_ref: String,
        status: CollectionStatus,
        authority: Authority,
        reason: Option<String>,
    ) -> Request {
        Request {
            event: None,
            request_ref,
            status,
            provider_ref: None,
            authority,
            reason,
            amount: Amount::Absent,
            amount_check: AmountCheck::Off,
        }
    }
}

/// What became of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Decided, with an audit row.
    Decided(Decision),
    /// The same event was asked for earlier in the round: decided once, there.
    Repeated,
    /// No collection has the request's request_ref: nothing is decided.
    NoCollection,
}

/// A collection that the round changes: its update is conditional on `from`, the status it was
/// read at (the fence).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub request_ref: String,
    pub from: CollectionStatus,
    pub to: CollectionStatus,
    /// How much its version grows: one per change of status.
    pub version_step: i64,
    /// Set when the collection had no provider_ref and a change of this round brought one.
    pub provider_ref: Option<String>,
}

/// One row of `collection_transitions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audit {
    pub request_ref: String,
    /// The event that asked; `None` for an operator's change.
    pub event: Option<Uuid>,
    pub decision: Decision,
    pub reason: String,
    /// The event ends FAILED with `reason` (an amount mismatch), not PROCESSED.
    pub fails_event: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// One per request, in the requests' order.
    pub steps: Vec<Step>,
    /// The collections that change, in the order first changed.
    pub changes: Vec<Change>,
    /// In the order decided.
    pub audits: Vec<Audit>,
}

/// Plans `requests` (in received order) against `collections`: each collection's requests are
/// decided one after another, each from the status the previous one left.
pub fn plan_round<'a>(
    collections: impl IntoIterator<Item = &'a CollectionState>,
    requests: &[Request],
) -> Plan {
    let mut states: HashMap<&str, Working<'_>> = collections
        .into_iter()
        .map(|c| (c.request_ref.as_str(), Working::new(c)))
        .collect();
    let mut seen: HashSet<Uuid> = HashSet::new();
    let mut order: Vec<&str> = Vec::new();
    let mut plan = Plan::default();
    for request in requests {
        let Some(state) = states.get_mut(request.request_ref.as_str()) else {
            plan.steps.push(Step::NoCollection);
            continue;
        };
        if let Some(event) = request.event {
            // An event can come twice (claimed again after its lease ran out while it waited).
            if !seen.insert(event) {
                plan.steps.push(Step::Repeated);
                continue;
            }
        }
        let mut decision = decide(state.current, request.status, request.authority);
        let mut reason = request.reason.clone();
        if decision.outcome == Outcome::Applied && decision.requested == CollectionStatus::Success {
            if let Some(why) = mismatch(&state.read.amount, &request.amount, request.amount_check) {
                decision.outcome = Outcome::AmountMismatch;
                reason = Some(why);
            }
        }
        if decision.outcome.changes_status() {
            if state.version_step == 0 {
                order.push(state.read.request_ref.as_str());
            }
            state.current = decision.requested;
            state.version_step += 1;
            if state.provider_ref.is_none() {
                state.provider_ref.clone_from(&request.provider_ref);
            }
        }
        plan.audits.push(Audit {
            request_ref: request.request_ref.clone(),
            event: request.event,
            decision,
            reason: reason.unwrap_or_else(|| decision.reason()),
            fails_event: decision.outcome == Outcome::AmountMismatch,
        });
        plan.steps.push(Step::Decided(decision));
    }
    plan.changes = order
        .into_iter()
        .filter_map(|r| states.get(r))
        .map(Working::change)
        .collect();
    plan
}

/// A collection while the round decides on it.
struct Working<'a> {
    read: &'a CollectionState,
    current: CollectionStatus,
    version_step: i64,
    provider_ref: Option<String>,
}

impl<'a> Working<'a> {
    fn new(read: &'a CollectionState) -> Working<'a> {
        Working {
            read,
            current: read.status,
            version_step: 0,
            provider_ref: read.provider_ref.clone(),
        }
    }

    fn change(&self) -> Change {
        Change {
            request_ref: self.read.request_ref.clone(),
            from: self.read.status,
            to: self.current,
            version_step: self.version_step,
            // Only a reference the collection did not have is written.
            provider_ref: match self.read.provider_ref {
                Some(_) => None,
                None => self.provider_ref.clone(),
            },
        }
    }
}

#[cfg(test)]
mod tests;
