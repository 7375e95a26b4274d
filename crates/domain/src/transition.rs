//! The forward-only status rule: given the collection's current status and a newly delivered one,
//! decide what happens. Pure; the persistence layer records the decision and makes the collection
//! update conditional on `decision.from`, so a stale decision can never overwrite a newer state.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::status::CollectionStatus;

/// What was decided for one delivered status, as written to `collection_transitions.outcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The collection moves forward to the new status.
    Applied,
    /// The collection already has this status; nothing is written to it.
    Unchanged,
    /// An operator forced the status, with a reason.
    Override,
    /// The collection is in a terminal status; the new one is ignored.
    SkippedTerminal,
    /// The new status ranks below the current one (a late or reordered delivery).
    SkippedBackward,
    /// A success whose amount or currency differs from the collection's: the collection is left
    /// alone and the event fails with both figures (an operator may override).
    AmountMismatch,
    /// The event type does not concern a payment.
    Ignored,
}

impl Outcome {
    pub const ALL: [Outcome; 7] = [
        Outcome::Applied,
        Outcome::Unchanged,
        Outcome::Override,
        Outcome::SkippedTerminal,
        Outcome::SkippedBackward,
        Outcome::AmountMismatch,
        Outcome::Ignored,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Unchanged => "unchanged",
            Outcome::Override => "override",
            Outcome::SkippedTerminal => "skipped_terminal",
            Outcome::SkippedBackward => "skipped_backward",
            Outcome::AmountMismatch => "amount_mismatch",
            Outcome::Ignored => "ignored",
        }
    }

    /// Whether this outcome writes the new status to the collection.
    pub fn changes_status(self) -> bool {
        matches!(self, Outcome::Applied | Outcome::Override)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Outcome {
    type Err = UnknownOutcome;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Outcome::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| UnknownOutcome(s.to_owned()))
    }
}

impl TryFrom<String> for Outcome {
    type Error = UnknownOutcome;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown transition outcome {0:?}")]
pub struct UnknownOutcome(pub String);

/// Who asks for a change: a provider's event follows the rule; an operator may override it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authority {
    Event,
    Override,
}

/// A decision taken on one collection: from which status, to which, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// The status the decision was taken from; the database update is conditional on it.
    pub from: CollectionStatus,
    /// The status delivered (or requested by the operator).
    pub requested: CollectionStatus,
    pub outcome: Outcome,
}

impl Decision {
    /// The collection's status once the decision is recorded.
    pub fn resulting_status(&self) -> CollectionStatus {
        if self.outcome.changes_status() {
            self.requested
        } else {
            self.from
        }
    }

    /// A human-readable reason for the audit row and the logs.
    pub fn reason(&self) -> String {
        match self.outcome {
            Outcome::Applied => format!("{} -> {}", self.from, self.requested),
            Outcome::Unchanged => format!("already {}", self.from),
            Outcome::Override => format!("override {} -> {}", self.from, self.requested),
            Outcome::SkippedTerminal => format!(
                "Skipping status update: already in terminal status {}",
                self.from
            ),
            Outcome::SkippedBackward => format!(
                "Skipping status update: {} ranks below current status {}",
                self.requested, self.from
            ),
            // The plan's audit row says the figures (`amount_check::mismatch`).
            Outcome::AmountMismatch => format!("amount mismatch: {} not applied", self.requested),
            Outcome::Ignored => "the event does not concern a payment".to_owned(),
        }
    }
}

/// The design's status table, in its order: same status, override, terminal, backward, forward.
pub fn decide(
    current: CollectionStatus,
    requested: CollectionStatus,
    authority: Authority,
) -> Decision {
    let outcome = if current == requested {
        Outcome::Unchanged
    } else if authority == Authority::Override {
        Outcome::Override
    } else if current.is_terminal() {
        Outcome::SkippedTerminal
    } else if requested.rank() < current.rank() {
        Outcome::SkippedBackward
    } else {
        Outcome::Applied
    };
    Decision {
        from: current,
        requested,
        outcome,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use CollectionStatus::*;

    fn by_event(current: CollectionStatus, new: CollectionStatus) -> Outcome {
        decide(current, new, Authority::Event).outcome
    }

    // The cases of the original implementation's suite.
    #[test]
    fn same_status_is_accepted_idempotently() {
        for status in [Success, Failed, Pending] {
            let decision = decide(status, status, Authority::Event);
            assert_eq!(decision.outcome, Outcome::Unchanged);
            assert_eq!(decision.resulting_status(), status);
        }
    }

    #[test]
    fn terminal_statuses_block_every_other_status() {
        for (current, new) in [
            (Success, Pending),
            (Success, Initiated),
            (Failed, Pending),
            (Failed, Success),
            (Success, Failed),
        ] {
            let decision = decide(current, new, Authority::Event);
            assert_eq!(
                decision.outcome,
                Outcome::SkippedTerminal,
                "{current}->{new}"
            );
            assert_eq!(decision.resulting_status(), current);
        }
        assert_eq!(
            decide(Success, Pending, Authority::Event).reason(),
            "Skipping status update: already in terminal status SUCCESS"
        );
    }

    #[test]
    fn forward_moves_are_applied() {
        for (current, new) in [
            (Initiated, Success),
            (Pending, Success),
            (Initiated, Failed),
        ] {
            let decision = decide(current, new, Authority::Event);
            assert_eq!(decision.outcome, Outcome::Applied, "{current}->{new}");
            assert_eq!(decision.resulting_status(), new);
        }
    }

    #[test]
    fn backward_moves_are_skipped() {
        assert_eq!(by_event(Processing, Pending), Outcome::SkippedBackward);
        assert_eq!(by_event(Pending, Initiated), Outcome::SkippedBackward);
        assert_eq!(by_event(Processing, Processing), Outcome::Unchanged);
    }

    #[test]
    fn override_forces_any_change() {
        for (current, new) in [
            (Success, Failed),
            (Success, Pending),
            (Processing, Initiated),
        ] {
            let decision = decide(current, new, Authority::Override);
            assert_eq!(decision.outcome, Outcome::Override);
            assert_eq!(decision.resulting_status(), new);
        }
        // Overriding to the status it already has writes nothing.
        assert_eq!(
            decide(Success, Success, Authority::Override).outcome,
            Outcome::Unchanged
        );
    }

    #[test]
    fn outcome_names_round_trip() {
        for outcome in Outcome::ALL {
            assert_eq!(outcome.as_str().parse::<Outcome>(), Ok(outcome));
        }
    }

    fn any_status() -> impl Strategy<Value = CollectionStatus> {
        prop::sample::select(CollectionStatus::ALL.to_vec())
    }

    proptest! {
        // For any sequence of delivered statuses, the final status is the first terminal one
        // delivered, else the highest-ranked one (starting from INITIATED).
        #[test]
        fn final_status_is_first_terminal_else_highest(
            deliveries in prop::collection::vec(any_status(), 0..40)
        ) {
            let mut current = Initiated;
            for &new in &deliveries {
                current = decide(current, new, Authority::Event).resulting_status();
            }
            let expected = deliveries
                .iter()
                .copied()
                .find(|s| s.is_terminal())
                .unwrap_or_else(|| {
                    deliveries.iter().copied().fold(Initiated, |a, b| if b.rank() > a.rank() { b } else { a })
                });
            prop_assert_eq!(current, expected);
        }

        // Without an override a collection never moves to a lower rank or out of a terminal status.
        #[test]
        fn never_backward_never_out_of_terminal(current in any_status(), new in any_status()) {
            let next = decide(current, new, Authority::Event).resulting_status();
            prop_assert!(next.rank() >= current.rank());
            if current.is_terminal() {
                prop_assert_eq!(next, current);
            }
        }
    }
}
