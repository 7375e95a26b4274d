//! Operator work on `webhook_events`: listing, replaying a finished event, purging old ones.
//! Replays and purges touch only finished events (PROCESSED / FAILED): a RECEIVED event belongs
//! to the processors.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::connection::{write_transaction, DbConnection};
use crate::error::StoreError;
use crate::models::events::{EventStatus, WebhookEvent};
use crate::schema::webhook_events::dsl::*;
use crate::types::{SqlTime, SqlUuid};

#[derive(Debug, Clone, Default)]
pub struct EventFilter<'a> {
    pub status: Option<EventStatus>,
    pub provider: Option<&'a str>,
    pub request_ref: Option<&'a str>,
    /// Received at or after this instant.
    pub since: Option<DateTime<Utc>>,
    pub limit: i64,
}

/// Newest first.
pub fn list_events(
    conn: &mut DbConnection,
    filter: &EventFilter<'_>,
) -> Result<Vec<WebhookEvent>, StoreError> {
    let mut query = webhook_events
        .select(WebhookEvent::as_select())
        .order(received_at.desc())
        .limit(filter.limit)
        .into_boxed();
    if let Some(wanted) = filter.status {
        query = query.filter(status.eq(wanted.as_str()));
    }
    if let Some(name) = filter.provider {
        query = query.filter(provider.eq(name.to_owned()));
    }
    if let Some(reference) = filter.request_ref {
        query = query.filter(request_ref.eq(reference.to_owned()));
    }
    if let Some(at) = filter.since {
        query = query.filter(received_at.ge(SqlTime(at)));
    }
    Ok(query.load(conn)?)
}

#[derive(Debug, Clone, PartialEq)]
pub enum Replayed {
    /// Back to RECEIVED with its attempts reset: the processors take it again.
    Queued(Box<WebhookEvent>),
    /// It is RECEIVED already (waiting or being worked on): nothing changed.
    AlreadyPending,
    NotFound,
}

/// Sends a finished event back to the processors, and wakes them (PostgreSQL). `note` (who and why) is kept in `last_error`
/// together with the previous error, so the event's row shows it was replayed.
pub fn replay_event(
    conn: &mut DbConnection,
    event: Uuid,
    note: &str,
    now: DateTime<Utc>,
) -> Result<Replayed, StoreError> {
    let replayed = write_transaction(conn, |conn| -> Result<Replayed, StoreError> {
        let Some(current) = crate::models::events::find_event(conn, event)? else {
            return Ok(Replayed::NotFound);
        };
        if current.status == EventStatus::Received {
            return Ok(Replayed::AlreadyPending);
        }
        let trail = match &current.last_error {
            Some(previous) => format!("{note} (was {}: {previous})", current.status),
            None => format!("{note} (was {})", current.status),
        };
        diesel::update(webhook_events.filter(id.eq(SqlUuid(event))))
            .set((
                status.eq(EventStatus::Received.as_str()),
                attempts.eq(0),
                next_attempt_at.eq(SqlTime(now)),
                processed_at.eq(None::<SqlTime>),
                last_error.eq(trail),
            ))
            .execute(conn)?;
        let replayed = crate::models::events::find_event(conn, event)?
            .ok_or_else(|| StoreError::NotFound(format!("event {event}")))?;
        Ok(Replayed::Queued(Box::new(replayed)))
    })?;
    // Listening processors take it at once, not at their next poll.
    if let Replayed::Queued(event) = &replayed {
        crate::models::events::notify_new_events(conn, Some(event.id))?;
    }
    Ok(replayed)
}

/// Which finished events a bulk replay sends back.
#[derive(Debug, Clone)]
pub struct ReplayFilter<'a> {
    /// PROCESSED or FAILED (a RECEIVED event is never replayed: it is pending already).
    pub status: EventStatus,
    pub provider: Option<&'a str>,
    /// Received at or after this instant.
    pub received_after: Option<DateTime<Utc>>,
    /// Received before this instant.
    pub received_before: Option<DateTime<Utc>>,
}

/// How many events a `replay_matching` with this filter would send back now: what an operator
/// confirms before a bulk replay.
pub fn count_replayable(
    conn: &mut DbConnection,
    filter: &ReplayFilter<'_>,
) -> Result<i64, StoreError> {
    if filter.status == EventStatus::Received {
        return Ok(0);
    }
    let mut query = webhook_events
        .filter(status.eq(filter.status.as_str()))
        .into_boxed();
    if let Some(name) = filter.provider {
        query = query.filter(provider.eq(name.to_owned()));
    }
    if let Some(at) = filter.received_after {
        query = query.filter(received_at.ge(SqlTime(at)));
    }
    if let Some(at) = filter.received_before {
        query = query.filter(received_at.lt(SqlTime(at)));
    }
    Ok(query.count().get_result(conn)?)
}

/// Sends every finished event matching `filter` back to the processors, `batch` at a time (one
/// short transaction each, woken processors start on the first while the next is written);
/// returns how many. Events are walked once in id order, so one that a processor finishes again
/// during the replay is not replayed twice.
pub fn replay_matching(
    conn: &mut DbConnection,
    filter: &ReplayFilter<'_>,
    note: &str,
    now: DateTime<Utc>,
    batch: i64,
) -> Result<usize, StoreError> {
    if filter.status == EventStatus::Received {
        return Ok(0);
    }
    let mut replayed = 0;
    let mut after: Option<Uuid> = None;
    loop {
        let mut query = webhook_events
            .select(id)
            .filter(status.eq(filter.status.as_str()))
            .order(id.asc())
            .limit(batch.max(1))
            .into_boxed();
        if let Some(name) = filter.provider {
            query = query.filter(provider.eq(name.to_owned()));
        }
        if let Some(at) = filter.received_after {
            query = query.filter(received_at.ge(SqlTime(at)));
        }
        if let Some(at) = filter.received_before {
            query = query.filter(received_at.lt(SqlTime(at)));
        }
        if let Some(last) = after {
            query = query.filter(id.gt(SqlUuid(last)));
        }
        let ids: Vec<Uuid> = query.load(conn)?;
        let Some(last) = ids.last().copied() else {
            return Ok(replayed);
        };
        after = Some(last);
        let trail = format!("{note} (was {})", filter.status);
        replayed += write_transaction(conn, |conn| {
            diesel::update(
                webhook_events
                    .filter(id.eq_any(ids.iter().map(|i| SqlUuid(*i)).collect::<Vec<_>>()))
                    .filter(status.eq(filter.status.as_str())),
            )
            .set((
                status.eq(EventStatus::Received.as_str()),
                attempts.eq(0),
                next_attempt_at.eq(SqlTime(now)),
                processed_at.eq(None::<SqlTime>),
                last_error.eq(&trail),
            ))
            .execute(conn)
        })?;
        crate::models::events::notify_new_events(conn, None)?;
    }
}

/// Deletes up to `batch` finished events received before `cutoff`; returns how many. Call it
/// until it returns 0: short transactions keep other writers moving during a large purge.
pub fn purge_batch(
    conn: &mut DbConnection,
    cutoff: DateTime<Utc>,
    batch: i64,
) -> Result<usize, StoreError> {
    let old = diesel::alias!(crate::schema::webhook_events as old);
    let victims = old
        .select(old.field(id))
        .filter(old.field(status).ne(EventStatus::Received.as_str()))
        .filter(old.field(received_at).lt(SqlTime(cutoff)))
        .limit(batch);
    Ok(write_transaction(conn, |conn| {
        diesel::delete(webhook_events.filter(id.eq_any(victims))).execute(conn)
    })?)
}

/// How many finished events a purge with this cutoff would delete.
pub fn count_purgeable(conn: &mut DbConnection, cutoff: DateTime<Utc>) -> Result<i64, StoreError> {
    Ok(webhook_events
        .filter(status.ne(EventStatus::Received.as_str()))
        .filter(received_at.lt(SqlTime(cutoff)))
        .count()
        .get_result(conn)?)
}
