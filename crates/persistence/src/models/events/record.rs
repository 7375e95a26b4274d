//! Recording a delivery once per (provider, dedup_key), and waking the processors.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;
use serde_json::Value;
use uuid::Uuid;

use super::WebhookEvent;
use crate::connection::DbConnection;
use crate::error::StoreError;
use crate::per_backend;
use crate::schema::webhook_events;
use crate::types::{SqlJson, SqlTime, SqlUuid};

/// A delivery to record. `id` is chosen by the caller, which is how `record_event` tells a new
/// row from an existing one.
#[derive(Debug, Clone)]
pub struct NewWebhookEvent<'a> {
    pub id: Uuid,
    pub provider: &'a str,
    pub event_id: Option<&'a str>,
    pub dedup_key: &'a str,
    pub request_ref: Option<&'a str>,
    pub payload: &'a Value,
    pub signature: Option<&'a str>,
    pub next_attempt_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

impl<'a> NewWebhookEvent<'a> {
    /// A delivery received at `now`, claimable at once.
    pub fn received(
        provider: &'a str,
        event_id: Option<&'a str>,
        dedup_key: &'a str,
        request_ref: Option<&'a str>,
        payload: &'a Value,
        signature: Option<&'a str>,
        now: DateTime<Utc>,
    ) -> Self {
        NewWebhookEvent {
            id: Uuid::new_v4(),
            provider,
            event_id,
            dedup_key,
            request_ref,
            payload,
            signature,
            next_attempt_at: now,
            received_at: now,
            last_seen_at: now,
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = webhook_events)]
pub(crate) struct EventRow<'a> {
    id: SqlUuid,
    provider: &'a str,
    event_id: Option<&'a str>,
    dedup_key: &'a str,
    request_ref: Option<&'a str>,
    payload: SqlJson,
    signature: Option<&'a str>,
    next_attempt_at: SqlTime,
    received_at: SqlTime,
    last_seen_at: SqlTime,
}

impl<'a> From<&'a NewWebhookEvent<'a>> for EventRow<'a> {
    fn from(new: &'a NewWebhookEvent<'a>) -> Self {
        EventRow {
            id: SqlUuid(new.id),
            provider: new.provider,
            event_id: new.event_id,
            dedup_key: new.dedup_key,
            request_ref: new.request_ref,
            payload: SqlJson(new.payload.clone()),
            signature: new.signature,
            next_attempt_at: SqlTime(new.next_attempt_at),
            received_at: SqlTime(new.received_at),
            last_seen_at: SqlTime(new.last_seen_at),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Recorded {
    /// The first delivery of this event: a new row.
    New(WebhookEvent),
    /// A repeat: the existing row, with `duplicate_count` and `last_seen_at` already bumped.
    Duplicate(WebhookEvent),
}

impl Recorded {
    pub fn event(&self) -> &WebhookEvent {
        match self {
            Recorded::New(event) | Recorded::Duplicate(event) => event,
        }
    }

    pub fn is_duplicate(&self) -> bool {
        matches!(self, Recorded::Duplicate(_))
    }
}

/// Records a delivery once per (provider, dedup_key), in one statement: the insert, or on
/// conflict the bump of the existing row. Both backends serialise concurrent upserts of one key,
/// so exactly one caller sees `New`.
pub fn record_event<'a>(
    conn: &mut DbConnection,
    new: &'a NewWebhookEvent<'a>,
) -> Result<Recorded, StoreError> {
    use crate::schema::webhook_events::dsl::*;
    let values = EventRow::from(new);
    let row: WebhookEvent = per_backend!(conn, |c| diesel::insert_into(webhook_events)
        .values(&values)
        .on_conflict((provider, dedup_key))
        .do_update()
        .set((
            duplicate_count.eq(duplicate_count + 1),
            last_seen_at.eq(excluded(last_seen_at)),
        ))
        .returning(WebhookEvent::as_returning())
        .get_result(c))?;
    Ok(if row.id == new.id {
        Recorded::New(row)
    } else {
        Recorded::Duplicate(row)
    })
}

/// The PostgreSQL channel on which new events are announced; processors `LISTEN` on it and fall
/// back to polling, so a lost notification only delays work.
pub const NEW_EVENTS_CHANNEL: &str = "webhook_inbox_events";

/// Wakes listening processors (PostgreSQL; a no-op on SQLite, whose processors poll). Sent after
/// the commit, so a woken processor finds the rows. The payload names one new event, if given
/// (useful when tracing).
pub fn notify_new_events(conn: &mut DbConnection, event: Option<Uuid>) -> Result<(), StoreError> {
    if let DbConnection::Pg(c) = conn {
        use diesel::connection::SimpleConnection;
        // A UUID's text form holds no quote, so it is safe inside the literal.
        let payload = event.map(|id| id.to_string()).unwrap_or_default();
        c.batch_execute(&format!("NOTIFY {NEW_EVENTS_CHANNEL}, '{payload}'"))?;
    }
    Ok(())
}
