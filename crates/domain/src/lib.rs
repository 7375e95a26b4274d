//! Pure rules of webhook-inbox. Nothing in this crate performs I/O: no database, no network,
//! no clock (callers pass "now" in), so every rule is testable with plain values.

pub mod amount_check;
pub mod console_session;
pub mod draft;
pub mod extract;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod money;
pub mod outcomes;
pub mod plan;
pub mod provider;
pub mod reading;
pub mod signature;
pub mod status;
pub mod transition;

pub use amount_check::{Amount, AmountCheck};
pub use extract::{Extracted, FieldMap};
pub use money::{Money, MoneyError, Unit};
pub use plan::{plan_round, CollectionState, Plan, Request, Step};
pub use provider::{dedup_key, PayloadProfile, Preset};
pub use reading::{read_request, Read, Unreadable};
pub use status::{CollectionStatus, UnknownStatus};
pub use transition::{decide, Authority, Decision, Outcome};
