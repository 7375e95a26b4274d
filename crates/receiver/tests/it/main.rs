//! Integration tests of the receiver: the app on port 0 over real HTTP, against PostgreSQL and
//! SQLite.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod helpers;
mod http;

mod checks;
mod cli;
mod deadline;
mod dedup;
mod group_commit;
mod hostile;
mod intake_counts;
mod logs;
mod notify;
mod openapi;
mod outage;
mod shutdown;
mod signatures;
