//! One module per table: the read struct, the borrowed insertable and the queries on that table.
//! `decisions` holds the decision transaction, which reads collections, has the domain plan and
//! executes the plan.

pub mod collections;
pub mod console_sessions;
pub mod decisions;
pub mod event_admin;
pub mod events;
pub mod intake;
pub mod notification_admin;
pub mod notifications;
pub mod pages;
pub mod record_batch;
pub mod stats;
pub mod transitions;
