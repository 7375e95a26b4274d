//! `webhook_events`: the stored event and its status. Its life is in the submodules, one per
//! role: `record` (a delivery recorded once per (provider, dedup_key)), `claim` (taking events
//! for processing: leases, or locks inside the caller's transaction), `settle` (their end:
//! PROCESSED, FAILED, or another try later). A processor that dies mid-work loses nothing: a
//! leased event is claimable again once its lease runs out, and only events still RECEIVED are
//! ever settled.

mod claim;
mod record;
mod settle;

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::connection::DbConnection;
use crate::error::StoreError;
use crate::schema::webhook_events;
use crate::types::SqlUuid;

pub use self::claim::{claim_events, lease_end, lease_events, lock_claimable, lock_open_events};
pub use self::record::{
    notify_new_events, record_event, NewWebhookEvent, Recorded, NEW_EVENTS_CHANNEL,
};
pub use self::settle::{mark_claimed_failed, mark_failed, mark_ignored, schedule_retry};
pub(crate) use self::settle::{settle_received, Settle};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventStatus {
    Received,
    Processed,
    Failed,
}

/// `status = 'RECEIVED'` written into the statement's text, not bound as a parameter: only then
/// can the planner prove that a query stays inside the partial index of claimable events
/// (`WHERE status = 'RECEIVED'`). A bound value is unknown to the generic plan PostgreSQL switches
/// a prepared statement to after five runs, which then scanned the whole table and sorted it (seen
/// in the benchmark, a fresh table: 9 ms per claim with 60k rows, and it grows with the table);
/// SQLite's planner never uses a partial index for a bound value.
pub fn is_received() -> diesel::expression::SqlLiteral<diesel::sql_types::Bool> {
    diesel::dsl::sql("status = 'RECEIVED'")
}

impl EventStatus {
    pub const ALL: [EventStatus; 3] = [
        EventStatus::Received,
        EventStatus::Processed,
        EventStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventStatus::Received => "RECEIVED",
            EventStatus::Processed => "PROCESSED",
            EventStatus::Failed => "FAILED",
        }
    }
}

impl fmt::Display for EventStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventStatus::ALL
            .into_iter()
            .find(|status| status.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown event status {s:?}"))
    }
}

impl TryFrom<String> for EventStatus {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize)]
#[diesel(table_name = webhook_events)]
pub struct WebhookEvent {
    pub id: Uuid,
    pub provider: String,
    pub event_id: Option<String>,
    pub dedup_key: String,
    pub request_ref: Option<String>,
    pub payload: Value,
    pub signature: Option<String>,
    #[diesel(deserialize_as = String)]
    pub status: EventStatus,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub duplicate_count: i64,
    pub received_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub processed_at: Option<DateTime<Utc>>,
}

pub fn find_event(
    conn: &mut DbConnection,
    event: Uuid,
) -> Result<Option<WebhookEvent>, StoreError> {
    use crate::schema::webhook_events::dsl::*;
    Ok(webhook_events
        .filter(id.eq(SqlUuid(event)))
        .select(WebhookEvent::as_select())
        .first(conn)
        .optional()?)
}
