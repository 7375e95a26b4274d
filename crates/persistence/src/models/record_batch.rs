//! Group commit: many deliveries recorded in one transaction, so that concurrent requests share
//! one commit (one WAL flush) instead of paying for one each. Same outcome per delivery as
//! `record_event`: exactly one delivery of a (provider, dedup_key) is `New`, every other one,
//! in this batch or any other, is a `Duplicate` that bumps `duplicate_count`.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;

use crate::connection::{write_transaction, DbConnection};
use crate::error::StoreError;
use crate::models::events::{record_event, EventRow, NewWebhookEvent, Recorded, WebhookEvent};
use crate::schema::webhook_events;
use crate::types::SqlTime;

/// Records a batch in one transaction; results are in the batch's order. If the transaction
/// fails, nothing of the batch is recorded (the caller may retry the rows one by one to find a
/// bad one).
pub fn record_events(
    conn: &mut DbConnection,
    batch: &[NewWebhookEvent<'_>],
) -> Result<Vec<Recorded>, StoreError> {
    // A key may come several times in one batch; an upsert may touch a row only once per
    // statement, so the first of each key is upserted and the others are counted on top.
    let mut first_of: HashMap<(&str, &str), usize> = HashMap::new();
    let mut extra: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    let mut firsts = Vec::new();
    for (i, event) in batch.iter().enumerate() {
        let key = (event.provider, event.dedup_key);
        match first_of.entry(key) {
            std::collections::hash_map::Entry::Occupied(_) => *extra.entry(key).or_default() += 1,
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(i);
                firsts.push(event);
            }
        }
    }
    // Rows are locked in key order, whatever the batch order: two batches sharing keys then
    // wait for each other instead of deadlocking.
    firsts.sort_by_key(|e| (e.provider, e.dedup_key));
    let rows: HashMap<(String, String), WebhookEvent> = write_transaction(conn, |conn| {
        let mut stored = upsert_all(conn, &firsts)?;
        for (&(provider, key), &count) in &extra {
            let last_seen = batch
                .iter()
                .filter(|e| (e.provider, e.dedup_key) == (provider, key))
                .map(|e| e.last_seen_at)
                .fold(DateTime::<Utc>::MIN_UTC, Ord::max);
            diesel::update(
                webhook_events::table
                    .filter(webhook_events::provider.eq(provider))
                    .filter(webhook_events::dedup_key.eq(key)),
            )
            .set((
                webhook_events::duplicate_count.eq(webhook_events::duplicate_count + count),
                webhook_events::last_seen_at.eq(SqlTime(last_seen)),
            ))
            .execute(conn)?;
            let row = webhook_events::table
                .filter(webhook_events::provider.eq(provider))
                .filter(webhook_events::dedup_key.eq(key))
                .select(WebhookEvent::as_select())
                .first(conn)?;
            stored.retain(|r| !(r.provider == provider && r.dedup_key == key));
            stored.push(row);
        }
        Ok::<_, StoreError>(
            stored
                .into_iter()
                .map(|row| ((row.provider.clone(), row.dedup_key.clone()), row))
                .collect(),
        )
    })?;
    batch
        .iter()
        .enumerate()
        .map(|(i, event)| {
            let row = rows
                .get(&(event.provider.to_owned(), event.dedup_key.to_owned()))
                .cloned()
                .ok_or_else(|| StoreError::NotFound(format!("event {}", event.dedup_key)))?;
            let first = first_of.get(&(event.provider, event.dedup_key)) == Some(&i);
            Ok(if first && row.id == event.id {
                Recorded::New(row)
            } else {
                Recorded::Duplicate(row)
            })
        })
        .collect()
}

/// One multi-row upsert on PostgreSQL; on SQLite, whose statements cost no round trip, one
/// upsert per row inside the same transaction (the commit is what group commit saves).
fn upsert_all(
    conn: &mut DbConnection,
    events: &[&NewWebhookEvent<'_>],
) -> Result<Vec<WebhookEvent>, StoreError> {
    use crate::schema::webhook_events::dsl::*;
    match conn {
        DbConnection::Pg(c) => {
            let values: Vec<EventRow<'_>> = events.iter().map(|e| EventRow::from(*e)).collect();
            Ok(diesel::insert_into(webhook_events)
                .values(&values)
                .on_conflict((provider, dedup_key))
                .do_update()
                .set((
                    duplicate_count.eq(duplicate_count + 1),
                    last_seen_at.eq(excluded(last_seen_at)),
                ))
                .returning(WebhookEvent::as_returning())
                .get_results(c)?)
        }
        DbConnection::Sqlite(_) => events
            .iter()
            .map(|e| record_event(conn, e).map(|r| r.event().clone()))
            .collect(),
    }
}
