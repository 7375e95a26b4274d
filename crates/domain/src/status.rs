//! The collection status and its order. The rank and terminality live here and nowhere else:
//! every comparison of statuses in the code base goes through these methods.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Status of a collection (a payment the host application expects).
///
/// `INITIATED(1) < PENDING(2) < PROCESSING(3) < SUCCESS(4) | FAILED(4)`; SUCCESS and FAILED are
/// terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CollectionStatus {
    Initiated,
    Pending,
    Processing,
    Success,
    Failed,
}

impl CollectionStatus {
    pub const ALL: [CollectionStatus; 5] = [
        CollectionStatus::Initiated,
        CollectionStatus::Pending,
        CollectionStatus::Processing,
        CollectionStatus::Success,
        CollectionStatus::Failed,
    ];

    pub fn rank(self) -> u8 {
        match self {
            CollectionStatus::Initiated => 1,
            CollectionStatus::Pending => 2,
            CollectionStatus::Processing => 3,
            CollectionStatus::Success | CollectionStatus::Failed => 4,
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, CollectionStatus::Success | CollectionStatus::Failed)
    }

    /// The canonical name, as stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            CollectionStatus::Initiated => "INITIATED",
            CollectionStatus::Pending => "PENDING",
            CollectionStatus::Processing => "PROCESSING",
            CollectionStatus::Success => "SUCCESS",
            CollectionStatus::Failed => "FAILED",
        }
    }

    /// Maps a provider's status word to a status. Case, surrounding blanks and the separators
    /// `-`, ` ` and `_` inside the word are ignored (`Successful`, `in_progress`, `IN-PROGRESS`).
    /// An unknown word is an error, never a guess: the processor fails the event with it.
    pub fn normalise(word: &str) -> Result<CollectionStatus, UnknownStatus> {
        let key: String = word
            .trim()
            .chars()
            .filter(|c| !matches!(c, '-' | '_' | ' '))
            .flat_map(char::to_lowercase)
            .collect();
        let status = match key.as_str() {
            "initiated" | "initialized" | "initialised" | "created" | "new" => {
                CollectionStatus::Initiated
            }
            "pending" | "awaitingpayment" | "ongoing" | "queued" | "requiresaction" => {
                CollectionStatus::Pending
            }
            "processing" | "inprogress" => CollectionStatus::Processing,
            "success" | "successful" | "succeeded" | "completed" | "complete" | "paid"
            | "approved" => CollectionStatus::Success,
            "failed" | "failure" | "declined" | "cancelled" | "canceled" | "abandoned"
            | "reversed" | "expired" | "rejected" | "error" => CollectionStatus::Failed,
            _ => return Err(UnknownStatus(word.to_owned())),
        };
        Ok(status)
    }
}

impl fmt::Display for CollectionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses the canonical (stored) name only; provider words go through [`CollectionStatus::normalise`].
impl FromStr for CollectionStatus {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CollectionStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

/// Lets storage layers read the canonical name straight into the enum.
impl TryFrom<String> for CollectionStatus {
    type Error = UnknownStatus;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown status {0:?}")]
pub struct UnknownStatus(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_follow_the_documented_order() {
        use CollectionStatus::*;
        assert!(Initiated.rank() < Pending.rank());
        assert!(Pending.rank() < Processing.rank());
        assert!(Processing.rank() < Success.rank());
        assert_eq!(Success.rank(), Failed.rank());
    }

    #[test]
    fn only_success_and_failed_are_terminal() {
        let terminal: Vec<_> = CollectionStatus::ALL
            .into_iter()
            .filter(|s| s.is_terminal())
            .collect();
        assert_eq!(
            terminal,
            vec![CollectionStatus::Success, CollectionStatus::Failed]
        );
    }

    #[test]
    fn provider_words_are_normalised() {
        use CollectionStatus::*;
        for (word, expected) in [
            ("success", Success),
            ("successful", Success),
            ("SUCCESSFUL", Success),
            ("completed", Success),
            ("paid", Success),
            (" Succeeded ", Success),
            ("failed", Failed),
            ("declined", Failed),
            ("abandoned", Failed),
            ("pending", Pending),
            ("processing", Processing),
            ("in_progress", Processing),
            ("initiated", Initiated),
        ] {
            assert_eq!(CollectionStatus::normalise(word), Ok(expected), "{word}");
        }
    }

    #[test]
    fn unknown_words_are_errors() {
        for word in ["", "  ", "charge.success", "refunded?", "ok"] {
            assert_eq!(
                CollectionStatus::normalise(word),
                Err(UnknownStatus(word.to_owned()))
            );
        }
    }

    #[test]
    fn canonical_names_round_trip() {
        for status in CollectionStatus::ALL {
            assert_eq!(status.as_str().parse::<CollectionStatus>(), Ok(status));
        }
        assert!("success".parse::<CollectionStatus>().is_err());
    }
}
