//! One module per table: the read struct, the borrowed insertable and the queries on that table.
//! `apply` holds the decision transaction of one change, `apply_batch` that of a processor's
//! batch.

pub mod apply;
pub mod apply_batch;
pub mod collections;
pub mod event_admin;
pub mod events;
pub mod record_batch;
pub mod stats;
pub mod transitions;
