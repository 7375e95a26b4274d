//! Integration tests of `inboxctl`: the real binary against SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod cli;
mod collections;
mod events;
mod listen;
mod notifications;
mod outcomes;
mod purge;
mod quickstart;
mod send;
