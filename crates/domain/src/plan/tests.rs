use proptest::prelude::*;

use super::*;
use crate::money::{Money, Unit};
use CollectionStatus::*;

fn collection(request_ref: &str, status: CollectionStatus) -> CollectionState {
    CollectionState {
        request_ref: request_ref.to_owned(),
        status,
        provider_ref: None,
        amount: Amount::Absent,
    }
}

fn event(request_ref: &str, status: CollectionStatus) -> Request {
    event_with_id(Uuid::new_v4(), request_ref, status)
}

fn event_with_id(id: Uuid, request_ref: &str, status: CollectionStatus) -> Request {
    Request::from_event(id, request_ref.to_owned(), status, None)
}

fn outcomes(plan: &Plan) -> Vec<Option<Outcome>> {
    plan.steps
        .iter()
        .map(|step| match step {
            Step::Decided(decision) => Some(decision.outcome),
            Step::Repeated | Step::NoCollection => None,
        })
        .collect()
}

#[test]
fn a_collections_events_are_decided_in_received_order() {
    let plan = plan_round(
        &[collection("A", Initiated)],
        &[
            event("A", Pending),
            event("A", Success),
            event("A", Pending),
        ],
    );
    assert_eq!(
        outcomes(&plan),
        vec![
            Some(Outcome::Applied),
            Some(Outcome::Applied),
            Some(Outcome::SkippedTerminal)
        ]
    );
    assert_eq!(
        plan.changes,
        vec![Change {
            request_ref: "A".into(),
            from: Initiated,
            to: Success,
            version_step: 2,
            provider_ref: None,
        }]
    );
    let audited: Vec<(CollectionStatus, CollectionStatus)> = plan
        .audits
        .iter()
        .map(|a| (a.decision.from, a.decision.requested))
        .collect();
    assert_eq!(
        audited,
        vec![(Initiated, Pending), (Pending, Success), (Success, Pending)]
    );
    assert_eq!(
        plan.audits[2].reason,
        "Skipping status update: already in terminal status SUCCESS"
    );
}

#[test]
fn an_event_asked_twice_is_decided_once() {
    let id = Uuid::new_v4();
    let plan = plan_round(
        &[collection("A", Initiated)],
        &[
            event_with_id(id, "A", Pending),
            event_with_id(id, "A", Pending),
        ],
    );
    assert_eq!(plan.steps[1], Step::Repeated);
    assert_eq!(plan.audits.len(), 1);
    assert_eq!(plan.changes[0].version_step, 1);
}

#[test]
fn a_terminal_collection_is_left_alone_and_audited() {
    let plan = plan_round(
        &[collection("A", Success)],
        &[event("A", Failed), event("A", Success)],
    );
    assert_eq!(
        outcomes(&plan),
        vec![Some(Outcome::SkippedTerminal), Some(Outcome::Unchanged)]
    );
    assert!(plan.changes.is_empty());
    assert_eq!(plan.audits.len(), 2);
}

#[test]
fn a_backward_status_is_skipped() {
    let plan = plan_round(&[collection("A", Processing)], &[event("A", Pending)]);
    assert_eq!(outcomes(&plan), vec![Some(Outcome::SkippedBackward)]);
    assert!(plan.changes.is_empty());
}

#[test]
fn the_first_provider_ref_of_a_change_is_kept() {
    let with_ref = |status, reference: &str| Request {
        provider_ref: Some(reference.to_owned()),
        ..event("A", status)
    };
    // An unchanged status brings no reference; the first change's reference wins.
    let plan = plan_round(
        &[collection("A", Pending)],
        &[
            with_ref(Pending, "P-0"),
            with_ref(Processing, "P-1"),
            with_ref(Success, "P-2"),
        ],
    );
    assert_eq!(plan.changes[0].provider_ref.as_deref(), Some("P-1"));

    // A collection that has one keeps it: nothing is written.
    let stored = CollectionState {
        provider_ref: Some("P-STORED".into()),
        ..collection("A", Pending)
    };
    let plan = plan_round(&[stored], &[with_ref(Success, "P-3")]);
    assert_eq!(plan.changes[0].provider_ref, None);
}

#[test]
fn an_override_moves_a_terminal_collection_with_the_operators_reason() {
    let request = Request::from_operator(
        "A".into(),
        Failed,
        Authority::Override,
        Some("refund confirmed by bank".into()),
    );
    let plan = plan_round(&[collection("A", Success)], &[request]);
    assert_eq!(outcomes(&plan), vec![Some(Outcome::Override)]);
    assert_eq!(plan.audits[0].reason, "refund confirmed by bank");
    assert_eq!(plan.audits[0].event, None);
    assert_eq!(plan.changes[0].to, Failed);
}

#[test]
fn a_request_without_a_collection_decides_nothing() {
    let plan = plan_round(
        &[collection("A", Initiated)],
        &[event("B", Success), event("A", Success)],
    );
    assert_eq!(plan.steps[0], Step::NoCollection);
    assert_eq!(plan.audits.len(), 1);
    assert_eq!(plan.audits[0].request_ref, "A");
    assert_eq!(plan.changes.len(), 1);
}

fn expecting(
    request_ref: &str,
    status: CollectionStatus,
    amount: &str,
    currency: &str,
) -> CollectionState {
    CollectionState {
        amount: Amount::Known(Money::parse_major(amount, currency).unwrap()),
        ..collection(request_ref, status)
    }
}

fn paid(request_ref: &str, kobo: &str, check: AmountCheck) -> Request {
    let amount = Amount::read(Some(kobo), Some("NGN"), |a, c| {
        Money::from_provider(a, c, Unit::Minor)
    });
    event(request_ref, Success).with_amount(amount, check)
}

#[test]
fn a_success_of_another_amount_changes_nothing_and_fails_its_event() {
    let plan = plan_round(
        &[expecting("A", Pending, "10250.00", "NGN")],
        &[
            paid("A", "1025001", AmountCheck::Strict),
            paid("A", "1025000", AmountCheck::Strict),
        ],
    );
    assert_eq!(
        outcomes(&plan),
        vec![Some(Outcome::AmountMismatch), Some(Outcome::Applied)]
    );
    assert_eq!(
        plan.audits[0].reason,
        "expected 10250.00 NGN, got 10250.01 NGN"
    );
    assert!(plan.audits[0].fails_event);
    assert!(!plan.audits[1].fails_event);
    assert_eq!(
        plan.audits[1].decision.from, Pending,
        "the mismatch left it PENDING"
    );
    assert_eq!(plan.changes[0].to, Success);
    assert_eq!(plan.changes[0].version_step, 1);
}

#[test]
fn only_a_success_is_checked_and_an_override_is_not() {
    let strict_without = event("A", Success).with_amount(Amount::Absent, AmountCheck::Strict);
    let plan = plan_round(
        &[expecting("A", Initiated, "5.00", "USD")],
        &[
            event("A", Pending).with_amount(Amount::Absent, AmountCheck::Strict),
            strict_without.clone(),
        ],
    );
    assert_eq!(
        outcomes(&plan),
        vec![Some(Outcome::Applied), Some(Outcome::AmountMismatch)]
    );
    assert_eq!(plan.audits[1].reason, "expected 5.00 USD, got no amount");
    let forced = Request::from_operator(
        "A".into(),
        Success,
        Authority::Override,
        Some("paid in cash".into()),
    );
    let plan = plan_round(&[expecting("A", Pending, "5.00", "USD")], &[forced]);
    assert_eq!(outcomes(&plan), vec![Some(Outcome::Override)]);
    // Without an amount on the collection there is nothing to compare.
    let plan = plan_round(&[collection("A", Pending)], &[strict_without]);
    assert_eq!(outcomes(&plan), vec![Some(Outcome::Applied)]);
}

fn any_status() -> impl Strategy<Value = CollectionStatus> {
    prop::sample::select(CollectionStatus::ALL.to_vec())
}

fn any_round() -> impl Strategy<Value = (Vec<CollectionState>, Vec<Request>)> {
    let collections = prop::collection::vec(any_status(), 1..4);
    let requests = prop::collection::vec((0usize..5, any_status(), any::<bool>()), 0..30);
    (collections, requests).prop_map(|(statuses, asked)| {
        let collections: Vec<CollectionState> = statuses
            .iter()
            .enumerate()
            .map(|(i, &s)| collection(&format!("R{i}"), s))
            .collect();
        let mut previous: Option<Uuid> = None;
        let requests = asked
            .into_iter()
            .map(|(target, status, again)| {
                // Sometimes the previous event again, as a lease that ran out would bring it.
                let id = match (again, previous) {
                    (true, Some(id)) => id,
                    _ => Uuid::new_v4(),
                };
                previous = Some(id);
                event_with_id(id, &format!("R{target}"), status)
            })
            .collect();
        (collections, requests)
    })
}

proptest! {
    // A round decides exactly as deciding its requests one by one would: each collection ends
    // where the sequential rule leaves it, its version grows by the changes applied, and every
    // request is answered once.
    #[test]
    fn a_round_equals_deciding_one_by_one((collections, requests) in any_round()) {
        let plan = plan_round(&collections, &requests);
        prop_assert_eq!(plan.steps.len(), requests.len());

        let mut expected: HashMap<String, (CollectionStatus, i64)> = collections
            .iter()
            .map(|c| (c.request_ref.clone(), (c.status, 0)))
            .collect();
        let mut seen = HashSet::new();
        let mut decided = 0;
        for (request, step) in requests.iter().zip(&plan.steps) {
            let Some((status, steps)) = expected.get_mut(&request.request_ref) else {
                prop_assert_eq!(*step, Step::NoCollection);
                continue;
            };
            if !seen.insert(request.event) {
                prop_assert_eq!(*step, Step::Repeated);
                continue;
            }
            let decision = decide(*status, request.status, Authority::Event);
            prop_assert_eq!(*step, Step::Decided(decision));
            if decision.outcome.changes_status() {
                *status = decision.requested;
                *steps += 1;
            }
            decided += 1;
        }
        prop_assert_eq!(plan.audits.len(), decided);
        for collection in &collections {
            let (status, steps) = expected[&collection.request_ref];
            let change = plan.changes.iter().find(|c| c.request_ref == collection.request_ref);
            match change {
                Some(change) => {
                    prop_assert_eq!(change.from, collection.status);
                    prop_assert_eq!(change.to, status);
                    prop_assert_eq!(change.version_step, steps);
                }
                None => prop_assert_eq!(steps, 0),
            }
        }
    }
}
