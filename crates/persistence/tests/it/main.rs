//! Integration tests of the persistence layer, each run against real PostgreSQL and SQLite.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod helpers;

mod admin;
mod apply;
mod apply_batch;
mod collections;
mod console_sessions;
mod events;
mod intake;
mod migrations;
mod notification_admin;
mod outbox;
mod pages;
mod pool;
mod record_batch;
