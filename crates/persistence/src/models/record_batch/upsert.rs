//! The PostgreSQL statement of a batch: one array per column, unnested into one upsert that
//! returns what an answer needs and, in the announced variant, notifies the processors. Two
//! statement texts in all, whatever the batch size, so each is prepared once per connection.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::{Array, BigInt, Jsonb, Nullable, Text, Timestamptz};
use diesel::{PgConnection, QueryResult, RunQueryDsl};
use uuid::Uuid;

use super::{BatchEvent, KeySlot};
use crate::error::StoreError;
use crate::models::events::NEW_EVENTS_CHANNEL;

/// A payload's JSON text, bound as jsonb (binary format: a version byte, then the text).
#[derive(Debug)]
struct JsonText<'a>(Cow<'a, [u8]>);

impl ToSql<Jsonb, Pg> for JsonText<'_> {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        use std::io::Write;
        const JSONB_VERSION: u8 = 1;
        out.write_all(&[JSONB_VERSION])?;
        out.write_all(&self.0)?;
        Ok(IsNull::No)
    }
}

/// The batch as one array per column, in the statement's column order.
pub(super) struct UpsertBatch<'a> {
    ids: Vec<Uuid>,
    providers: Vec<&'a str>,
    event_ids: Vec<Option<&'a str>>,
    dedup_keys: Vec<&'a str>,
    request_refs: Vec<Option<&'a str>>,
    payloads: Vec<JsonText<'a>>,
    signatures: Vec<Option<&'a str>>,
    next_attempt_at: Vec<DateTime<Utc>>,
    received_at: Vec<DateTime<Utc>>,
    last_seen_at: Vec<DateTime<Utc>>,
    /// Repeats within the batch: the new row's `duplicate_count`, or added to an existing one's.
    repeats: Vec<i64>,
}

impl<'a> UpsertBatch<'a> {
    pub(super) fn new(
        batch: &'a [BatchEvent<'a>],
        slots: &[KeySlot<'_>],
    ) -> Result<Self, StoreError> {
        let n = slots.len();
        let mut columns = UpsertBatch {
            ids: Vec::with_capacity(n),
            providers: Vec::with_capacity(n),
            event_ids: Vec::with_capacity(n),
            dedup_keys: Vec::with_capacity(n),
            request_refs: Vec::with_capacity(n),
            payloads: Vec::with_capacity(n),
            signatures: Vec::with_capacity(n),
            next_attempt_at: Vec::with_capacity(n),
            received_at: Vec::with_capacity(n),
            last_seen_at: Vec::with_capacity(n),
            repeats: Vec::with_capacity(n),
        };
        for slot in slots {
            let BatchEvent {
                event,
                payload_json,
            } = &batch[slot.first];
            let payload = match payload_json {
                Some(text) => Cow::Borrowed(*text),
                None => Cow::Owned(serde_json::to_vec(event.payload).map_err(|e| {
                    StoreError::Query(diesel::result::Error::SerializationError(Box::new(e)))
                })?),
            };
            columns.ids.push(event.id);
            columns.providers.push(event.provider);
            columns.event_ids.push(event.event_id);
            columns.dedup_keys.push(event.dedup_key);
            columns.request_refs.push(event.request_ref);
            columns.payloads.push(JsonText(payload));
            columns.signatures.push(event.signature);
            columns.next_attempt_at.push(event.next_attempt_at);
            columns.received_at.push(event.received_at);
            // As if recorded one by one in batch order: the key's last delivery was seen last.
            columns
                .last_seen_at
                .push(batch[slot.last].event.last_seen_at);
            columns.repeats.push(slot.repeats);
        }
        Ok(columns)
    }
}

/// PostgreSQL's "too many notifications in the NOTIFY queue" (SQLSTATE 54000).
pub(super) fn is_notify_queue_full(error: &diesel::result::Error) -> bool {
    matches!(error, diesel::result::Error::DatabaseError(_, info)
        if info.message().contains("notifications in the NOTIFY queue"))
}

impl<'a> UpsertBatch<'a> {
    /// The statement that also notifies the processors when it records anything new.
    pub(super) fn announced(&self) -> Upsert<'_, 'a, true> {
        Upsert(self)
    }

    pub(super) fn unannounced(&self) -> Upsert<'_, 'a, false> {
        Upsert(self)
    }
}

/// The batch's statement, with or without the notification: two texts, each prepared once per
/// connection.
pub(super) struct Upsert<'b, 'a, const ANNOUNCE: bool>(&'b UpsertBatch<'a>);

/// After the column arrays ($1..$11): the upsert.
const UPSERT: &str = ") AS t (id, provider, event_id, dedup_key, request_ref, payload, \
    signature, next_attempt_at, received_at, last_seen_at, duplicate_count)), \
recorded AS (\
    INSERT INTO webhook_events AS e (id, provider, event_id, dedup_key, request_ref, payload, \
        signature, next_attempt_at, received_at, last_seen_at, duplicate_count) \
    SELECT * FROM incoming \
    ON CONFLICT (provider, dedup_key) DO UPDATE \
        SET duplicate_count = e.duplicate_count + 1 + excluded.duplicate_count, \
            last_seen_at = excluded.last_seen_at \
    RETURNING e.id, e.provider, e.dedup_key, e.event_id, e.request_ref, e.status, \
        e.duplicate_count, e.received_at, e.processed_at) ";

/// Then, announced: a new row is one whose stored id is the id proposed for it (on a conflict
/// the existing row keeps its id). `woken` names one new event in a notification, which
/// PostgreSQL delivers on commit, and only when there is a new event; the final join keeps
/// `woken` referenced, so that it runs. (`incoming` is read twice, so it is materialised once.)
const ANNOUNCE_BEFORE_CHANNEL: &str = ", woken AS (SELECT pg_notify(";

const ANNOUNCE_AFTER_CHANNEL: &str = ", min(recorded.id::text)) \
    FROM recorded JOIN incoming USING (id) HAVING count(*) > 0) \
SELECT recorded.* FROM recorded LEFT JOIN woken ON true";

impl<const ANNOUNCE: bool> QueryFragment<Pg> for Upsert<'_, '_, ANNOUNCE> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let columns = self.0;
        out.push_sql("WITH incoming AS (SELECT * FROM unnest(");
        out.push_bind_param::<Array<diesel::sql_types::Uuid>, _>(&columns.ids)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&columns.providers)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&columns.event_ids)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&columns.dedup_keys)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&columns.request_refs)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Jsonb>, _>(&columns.payloads)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&columns.signatures)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Timestamptz>, _>(&columns.next_attempt_at)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Timestamptz>, _>(&columns.received_at)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Timestamptz>, _>(&columns.last_seen_at)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<BigInt>, _>(&columns.repeats)?;
        out.push_sql(UPSERT);
        if ANNOUNCE {
            out.push_sql(ANNOUNCE_BEFORE_CHANNEL);
            out.push_bind_param::<Text, _>(NEW_EVENTS_CHANNEL)?;
            out.push_sql(ANNOUNCE_AFTER_CHANNEL);
        } else {
            out.push_sql("SELECT * FROM recorded");
        }
        Ok(())
    }
}

/// Each variant has one text for every batch: diesel prepares it once per connection and
/// caches it.
pub(super) struct UpsertQuery<const ANNOUNCE: bool>;

impl<const ANNOUNCE: bool> QueryId for Upsert<'_, '_, ANNOUNCE> {
    type QueryId = UpsertQuery<ANNOUNCE>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<const ANNOUNCE: bool> Query for Upsert<'_, '_, ANNOUNCE> {
    type SqlType = (
        diesel::sql_types::Uuid,
        Text,
        Text,
        Nullable<Text>,
        Nullable<Text>,
        Text,
        BigInt,
        Timestamptz,
        Nullable<Timestamptz>,
    );
}

impl<const ANNOUNCE: bool> RunQueryDsl<PgConnection> for Upsert<'_, '_, ANNOUNCE> {}

#[cfg(test)]
mod tests {
    use diesel::Connection;
    use serde_json::json;

    use super::*;
    use crate::connection::DbConnection;
    use crate::models::events::{EventStatus, NewWebhookEvent};
    use crate::models::record_batch::StoredEvent;
    use crate::types::now;

    /// The fallback statement cannot be reached without filling PostgreSQL's 8 GB notification
    /// queue, so it is run directly: same rows, no notification.
    #[test]
    #[allow(clippy::unwrap_used)]
    fn the_unannounced_statement_records_the_same_rows() {
        let Some(schema) = test_support::PgSchema::create("record_batch::unannounced") else {
            return;
        };
        let mut conn = DbConnection::Pg(PgConnection::establish(&schema.url).unwrap());
        crate::run_migrations(&mut conn).unwrap();
        let DbConnection::Pg(pg) = &mut conn else {
            unreachable!()
        };
        let payload = json!({"n": 1});
        let event = NewWebhookEvent::received("demo", None, "k", None, &payload, None, now());
        let batch = [BatchEvent {
            event: event.clone(),
            payload_json: Some(br#"{"n": 1}"#),
        }];
        let slots = [KeySlot {
            key: ("demo", "k"),
            first: 0,
            last: 0,
            repeats: 0,
        }];
        let columns = UpsertBatch::new(&batch, &slots).unwrap();
        let rows: Vec<StoredEvent> = columns.unannounced().load(pg).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].id, event.id);
        assert_eq!(rows[0].status, EventStatus::Received);
        let again: Vec<StoredEvent> = columns.unannounced().load(pg).unwrap();
        assert_eq!(again[0].duplicate_count, 1);
    }

    #[test]
    fn only_the_notify_queue_error_is_recognised() {
        use diesel::result::{DatabaseErrorKind, Error};
        let full = Error::DatabaseError(
            DatabaseErrorKind::Unknown,
            Box::new("too many notifications in the NOTIFY queue".to_owned()),
        );
        assert!(is_notify_queue_full(&full));
        let other = Error::DatabaseError(
            DatabaseErrorKind::Unknown,
            Box::new("invalid input syntax for type json".to_owned()),
        );
        assert!(!is_notify_queue_full(&other));
        assert!(!is_notify_queue_full(&Error::NotFound));
    }
}
