//! Target `status_rule`: rounds of events and operator requests against up to four collections.
//! Input: a byte for the number of collections, a byte per collection, then two bytes per request.

use std::collections::{HashMap, HashSet};

use uuid::Uuid;

use super::Choices;
use crate::amount_check::{mismatch, Amount, AmountCheck};
use crate::money::{Money, Unit};
use crate::plan::{plan_round, CollectionState, Plan, Request, Step};
use crate::status::CollectionStatus;
use crate::transition::{decide, Authority, Outcome};

const MAX_REQUESTS: usize = 64;

pub fn status_rule(data: &[u8]) {
    let mut choices = Choices::new(data);
    let count = 1 + usize::from(choices.byte() % 4);
    let collections: Vec<CollectionState> =
        (0..count).map(|i| collection(i, choices.byte())).collect();
    let mut requests = Vec::new();
    while !choices.is_empty() && requests.len() < MAX_REQUESTS {
        let (what, how) = (choices.byte(), choices.byte());
        requests.push(request(requests.last(), requests.len(), what, how));
    }
    let plan = plan_round(&collections, &requests);
    equals_deciding_one_by_one(&collections, &requests, &plan);
    the_rule_holds(&collections, &requests, &plan);
}

fn status(byte: u8) -> CollectionStatus {
    CollectionStatus::ALL[usize::from(byte % 5)]
}

fn amount(choice: u8) -> Amount {
    let money = |text, currency, unit| match Money::from_provider(text, currency, unit) {
        Ok(money) => Amount::Known(money),
        Err(e) => unreachable!("a valid literal: {e}"),
    };
    match choice % 5 {
        0 => Amount::Absent,
        1 => money("10.00", "USD", Unit::Major),
        2 => money("1000", "USD", Unit::Minor),
        3 => money("10.00", "NGN", Unit::Major),
        _ => Amount::Unreadable {
            text: "lots".into(),
            error: None,
        },
    }
}

fn collection(index: usize, byte: u8) -> CollectionState {
    CollectionState {
        request_ref: format!("R{index}"),
        status: status(byte),
        provider_ref: (byte & 0x08 != 0).then(|| format!("P-R{index}")),
        amount: amount(byte >> 4),
    }
}

/// `what`: the collection (`R4` never exists) and the status; `how`: who asks, whether it is the
/// previous event again (a lease that ran out), a provider reference, the amount and its check.
fn request(previous: Option<&Request>, index: usize, what: u8, how: u8) -> Request {
    let request_ref = format!("R{}", what % 5);
    let status = status(what / 5);
    if how & 0x01 != 0 {
        let authority = [Authority::Event, Authority::Override][usize::from(how >> 1 & 1)];
        let reason = (how & 0x04 != 0).then(|| "operator's words".to_owned());
        return Request::from_operator(request_ref, status, authority, reason);
    }
    let event = match previous.and_then(|p| p.event) {
        Some(id) if how & 0x02 != 0 => id,
        _ => Uuid::from_u128(index as u128 + 1),
    };
    let provider_ref = (how & 0x04 != 0).then(|| format!("P-{index}"));
    let check = [
        AmountCheck::Strict,
        AmountCheck::WhenPresent,
        AmountCheck::Off,
    ][usize::from(how >> 6) % 3];
    Request::from_event(event, request_ref, status, provider_ref)
        .with_amount(amount(how >> 3), check)
}

/// The sequential model: each request decided from the status the previous one left, an event
/// once, a success checked against the collection's amount.
fn equals_deciding_one_by_one(collections: &[CollectionState], requests: &[Request], plan: &Plan) {
    let mut current: HashMap<&str, (&CollectionState, CollectionStatus)> = collections
        .iter()
        .map(|c| (c.request_ref.as_str(), (c, c.status)))
        .collect();
    let mut seen = HashSet::new();
    assert_eq!(plan.steps.len(), requests.len());
    for (request, step) in requests.iter().zip(&plan.steps) {
        let Some((collection, status)) = current.get_mut(request.request_ref.as_str()) else {
            assert_eq!(*step, Step::NoCollection);
            continue;
        };
        if request.event.is_some_and(|event| !seen.insert(event)) {
            assert_eq!(*step, Step::Repeated);
            continue;
        }
        let mut decision = decide(*status, request.status, request.authority);
        let success = decision.requested == CollectionStatus::Success;
        if decision.outcome == Outcome::Applied
            && success
            && mismatch(&collection.amount, &request.amount, request.amount_check).is_some()
        {
            decision.outcome = Outcome::AmountMismatch;
        }
        assert_eq!(*step, Step::Decided(decision));
        *status = decision.resulting_status();
    }
}

/// The rule stated on the plan itself: a terminal status never changes without an override, an
/// event never moves a collection backward, every version step is a real change of status and
/// the audit rows chain from the status read to the status written.
fn the_rule_holds(collections: &[CollectionState], requests: &[Request], plan: &Plan) {
    let decided: Vec<(&Request, _)> = requests
        .iter()
        .zip(&plan.steps)
        .filter_map(|(r, step)| match step {
            Step::Decided(decision) => Some((r, *decision)),
            Step::Repeated | Step::NoCollection => None,
        })
        .collect();
    assert_eq!(decided.len(), plan.audits.len());
    for ((request, decision), audit) in decided.iter().zip(&plan.audits) {
        assert_eq!(audit.decision, *decision);
        assert_eq!(
            (&audit.request_ref, audit.event),
            (&request.request_ref, request.event)
        );
        assert_eq!(
            audit.fails_event,
            decision.outcome == Outcome::AmountMismatch
        );
        let next = decision.resulting_status();
        if request.authority == Authority::Event {
            if decision.from.is_terminal() {
                assert_eq!(next, decision.from, "a terminal status changed");
            }
            assert!(
                next.rank() >= decision.from.rank(),
                "backward: {decision:?}"
            );
        }
        if decision.outcome.changes_status() {
            assert_ne!(next, decision.from, "a version step without a change");
        }
        if let Some(reason) = &request.reason {
            assert_eq!(&audit.reason, reason);
        }
    }
    let mut first_changed = Vec::new();
    for collection in collections {
        let mine: Vec<_> = decided
            .iter()
            .filter(|(r, _)| r.request_ref == collection.request_ref)
            .collect();
        let mut status = collection.status;
        let mut brought = None;
        for (request, decision) in &mine {
            assert_eq!(decision.from, status, "audit rows do not chain");
            status = decision.resulting_status();
            if decision.outcome.changes_status() && brought.is_none() {
                brought.clone_from(&request.provider_ref);
            }
        }
        let steps = mine
            .iter()
            .filter(|(_, d)| d.outcome.changes_status())
            .count();
        let change = plan
            .changes
            .iter()
            .find(|c| c.request_ref == collection.request_ref);
        let Some(change) = change else {
            assert_eq!(
                steps, 0,
                "{} changed without a Change",
                collection.request_ref
            );
            continue;
        };
        assert_eq!((change.from, change.to), (collection.status, status));
        assert_eq!(
            change.version_step,
            i64::try_from(steps).unwrap_or(i64::MAX)
        );
        let expected_ref = brought.filter(|_| collection.provider_ref.is_none());
        assert_eq!(change.provider_ref, expected_ref);
        let first = decided.iter().position(|(r, d)| {
            r.request_ref == collection.request_ref && d.outcome.changes_status()
        });
        first_changed.push((first, change.request_ref.clone()));
    }
    first_changed.sort();
    let order: Vec<String> = first_changed.into_iter().map(|(_, r)| r).collect();
    let planned: Vec<String> = plan.changes.iter().map(|c| c.request_ref.clone()).collect();
    assert_eq!(
        planned, order,
        "changes are listed in the order first changed"
    );
}
