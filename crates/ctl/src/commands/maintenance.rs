//! `inboxctl migrate`, `stats` and `purge`.

use std::time::Instant;

use chrono::TimeDelta;
use domain::console_session;
use persistence::migrate::pending_migrations;
use persistence::{
    count_ended_sessions, count_purgeable, count_purgeable_intake_counts,
    count_purgeable_notifications, now, purge_batch, purge_ended_sessions,
    purge_intake_counts_batch, purge_notifications_batch, run_migrations, stats as read_stats,
};
use serde_json::json;

use crate::context::Context;
use crate::error::CtlError;
use crate::output;

pub fn migrate(ctx: &Context, check: bool) -> Result<(), CtlError> {
    let mut conn = ctx.connect()?;
    if check {
        let pending = pending_migrations(&mut conn)?;
        if ctx.json {
            output::json(&json!({ "pending": pending }))?;
        } else if pending.is_empty() {
            println!("database is up to date");
        } else {
            println!("pending migrations: {}", pending.join(", "));
        }
        return if pending.is_empty() {
            Ok(())
        } else {
            Err(CtlError::Failed(format!(
                "{} migrations pending",
                pending.len()
            )))
        };
    }
    let applied = run_migrations(&mut conn)?;
    if ctx.json {
        output::json(&json!({ "applied": applied }))
    } else {
        if applied.is_empty() {
            println!("database is up to date");
        } else {
            println!(
                "applied {} migrations: {}",
                applied.len(),
                applied.join(", ")
            );
        }
        Ok(())
    }
}

pub fn stats(ctx: &Context) -> Result<(), CtlError> {
    let figures = read_stats(&mut ctx.connect()?)?;
    let oldest_age_secs = figures
        .oldest_pending_received_at
        .map(|at| (now() - at).num_milliseconds() as f64 / 1000.0);
    if ctx.json {
        let events: serde_json::Map<_, _> = figures
            .events
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        let decisions: serde_json::Map<_, _> = figures
            .decisions
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        return output::json(&json!({
            "events": events,
            "duplicates_suppressed": figures.duplicates_suppressed,
            "decisions": decisions,
            "oldest_pending_received_at": figures.oldest_pending_received_at,
            "oldest_pending_age_secs": oldest_age_secs,
        }));
    }
    println!("events");
    for (status, n) in &figures.events {
        println!("  {status:<10} {n}");
    }
    println!("duplicates suppressed  {}", figures.duplicates_suppressed);
    println!("decisions");
    if figures.decisions.is_empty() {
        println!("  (none yet)");
    }
    for (outcome, n) in &figures.decisions {
        println!("  {outcome:<17} {n}");
    }
    match (figures.oldest_pending_received_at, oldest_age_secs) {
        (Some(at), Some(age)) => println!(
            "oldest pending event   received {} ({age:.1} s ago)",
            output::time(&at)
        ),
        _ => println!("oldest pending event   none"),
    }
    Ok(())
}

/// Deletes finished events (PROCESSED, FAILED) received before the cutoff, then finished
/// notifications (DELIVERED, FAILED) created before it, then the receivers' per-minute counts
/// of minutes before it, each in batches of its own short transactions. What is still owed (a
/// RECEIVED event, a PENDING notification) is never deleted. Then the console sessions that are
/// over (idle or past their lifetime, whatever the cutoff: an ended session is of no use to
/// anyone), in one statement, the table being small.
pub fn purge(
    ctx: &Context,
    older_than: TimeDelta,
    batch: i64,
    dry_run: bool,
) -> Result<(), CtlError> {
    let cutoff = now() - older_than;
    let mut conn = ctx.connect()?;
    let events = count_purgeable(&mut conn, cutoff)?;
    let notifications = count_purgeable_notifications(&mut conn, cutoff)?;
    let intake = count_purgeable_intake_counts(&mut conn, cutoff)?;
    let ended = console_session::cutoffs(now());
    let sessions = count_ended_sessions(&mut conn, ended)?;
    let started = Instant::now();
    let (mut events_deleted, mut notifications_deleted) = (0, 0);
    let (mut intake_deleted, mut sessions_deleted) = (0, 0);
    if !dry_run {
        events_deleted = purge_in_batches("events", events, &started, || {
            purge_batch(&mut conn, cutoff, batch)
        })?;
        notifications_deleted = purge_in_batches("notifications", notifications, &started, || {
            purge_notifications_batch(&mut conn, cutoff, batch)
        })?;
        intake_deleted = purge_in_batches("intake counts", intake, &started, || {
            purge_intake_counts_batch(&mut conn, cutoff, batch)
        })?;
        sessions_deleted = purge_ended_sessions(&mut conn, ended)?;
    }
    if ctx.json {
        return output::json(&json!({
            "cutoff": cutoff,
            "dry_run": dry_run,
            "events": {"purgeable": events, "deleted": events_deleted},
            "notifications": {"purgeable": notifications, "deleted": notifications_deleted},
            "intake_counts": {"purgeable": intake, "deleted": intake_deleted},
            "console_sessions": {"purgeable": sessions, "deleted": sessions_deleted},
        }));
    }
    let what = |events, notifications, intake, sessions| {
        format!(
            "{events} processed/failed events, {notifications} delivered/failed notifications \
             and {intake} per-minute intake counts from before {}, and {sessions} ended console \
             sessions",
            output::time(&cutoff)
        )
    };
    if dry_run {
        println!(
            "would delete {}",
            what(events, notifications, intake, sessions)
        );
    } else {
        println!(
            "deleted {} in {:.1} s",
            what(
                events_deleted as i64,
                notifications_deleted as i64,
                intake_deleted as i64,
                sessions_deleted as i64
            ),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// Calls `batch` until it deletes nothing; returns how many rows went. A progress line per batch
/// on stderr, so that --json output on stdout stays parseable.
fn purge_in_batches(
    what: &str,
    total: i64,
    started: &Instant,
    mut batch: impl FnMut() -> Result<usize, persistence::StoreError>,
) -> Result<usize, CtlError> {
    let mut deleted = 0usize;
    loop {
        let n = batch()?;
        if n == 0 {
            return Ok(deleted);
        }
        deleted += n;
        eprintln!(
            "purged {deleted}/{total} {what} ({:.0}%), {:.1} s",
            100.0 * deleted as f64 / total.max(1) as f64,
            started.elapsed().as_secs_f64()
        );
    }
}
