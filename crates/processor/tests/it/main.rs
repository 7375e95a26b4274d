//! Integration tests of the processor, on real PostgreSQL (with Redis locks and with database
//! locks) and SQLite, driving processors in-process and the `processor` binary as a process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod helpers;
mod fixtures;
mod harness;

mod cli;
mod failures;
mod http;
mod locks;
mod logs;
mod modules;
mod notify;
mod outage;
mod process;
mod race;
mod retries;
mod scale;
mod wakeup;
