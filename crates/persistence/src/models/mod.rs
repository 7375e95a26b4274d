//! One module per table: the read struct, the borrowed insertable and the queries on that table.
//! `apply` holds the one multi-table write, the decision transaction.

pub mod apply;
pub mod collections;
pub mod event_admin;
pub mod events;
pub mod record_batch;
pub mod stats;
pub mod transitions;
