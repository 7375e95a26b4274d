//! Integration tests of the host API, each against a real server on port 0, on PostgreSQL and
//! SQLite.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod helpers;

mod auth;
mod browser;
mod collections;
mod console;
mod console_sessions;
mod docs;
mod events;
mod notifications;
mod openapi;
mod outage;
mod webdriver;
