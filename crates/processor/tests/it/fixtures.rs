//! Events as a provider would deliver them, and the checks every scenario ends with: each
//! collection at the status the rule fixes, the audit trail replaying to it, one audit row per
//! processed event.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::TimeDelta;
use diesel::prelude::*;
use domain::{decide, Authority, CollectionStatus, Outcome};
use persistence::schema::{collection_transitions, collections, webhook_events};
use persistence::{
    create_collection, notify_new_events, now, record_event, write_transaction, Collection,
    EventStatus, NewCollection, NewWebhookEvent, StoreError, Transition, WebhookEvent,
};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::helpers::TestDb;

/// One delivery of a provider event (a duplicate delivery repeats `event_id`).
#[derive(Debug, Clone)]
pub struct Delivery {
    pub event_id: String,
    pub request_ref: String,
    pub status: CollectionStatus,
}

impl Delivery {
    pub fn new(event_id: &str, request_ref: &str, status: CollectionStatus) -> Delivery {
        Delivery {
            event_id: event_id.to_owned(),
            request_ref: request_ref.to_owned(),
            status,
        }
    }

    pub fn payload(&self) -> Value {
        json!({
            "event_id": self.event_id,
            "request_ref": self.request_ref,
            "status": word(self.status, self.event_id.len()),
            "provider_ref": format!("PSP-{}", self.request_ref),
        })
    }
}

/// A provider's word for the status; varied, so that normalisation is exercised.
fn word(status: CollectionStatus, pick: usize) -> &'static str {
    let words: &[&str] = match status {
        CollectionStatus::Initiated => &["initiated", "created"],
        CollectionStatus::Pending => &["pending", "PENDING"],
        CollectionStatus::Processing => &["processing", "in_progress"],
        CollectionStatus::Success => &["success", "successful", "paid"],
        CollectionStatus::Failed => &["failed", "declined"],
    };
    words[pick % words.len()]
}

/// A unique prefix for the request_refs of one test: Redis keys and PostgreSQL advisory locks
/// are shared by every test using the same servers.
pub fn unique_prefix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..10].to_owned()
}

/// Collections, and events for them in random order with duplicates, each collection's events
/// carrying at most one kind of terminal status so that the rule fixes its final status.
pub struct Scenario {
    pub collections: Vec<String>,
    pub deliveries: Vec<Delivery>,
    pub expected: HashMap<String, CollectionStatus>,
    /// Distinct events (duplicate deliveries excluded).
    pub events: usize,
}

pub fn scenario(seed: u64, collections: usize, events: usize) -> Scenario {
    let mut rng = StdRng::seed_from_u64(seed);
    let prefix = unique_prefix();
    let refs: Vec<String> = (0..collections)
        .map(|i| format!("{prefix}-C{i:04}"))
        .collect();
    let mut deliveries = Vec::with_capacity(events + events / 10);
    let mut delivered: HashMap<String, Vec<CollectionStatus>> = HashMap::new();
    let non_terminal = [
        CollectionStatus::Initiated,
        CollectionStatus::Pending,
        CollectionStatus::Processing,
    ];
    let terminal_kind: Vec<Option<CollectionStatus>> = (0..collections)
        .map(|i| match i % 3 {
            0 => Some(CollectionStatus::Success),
            1 => Some(CollectionStatus::Failed),
            _ => None,
        })
        .collect();
    for n in 0..events {
        let c = n % collections;
        let status = match terminal_kind[c] {
            Some(terminal) if rng.random_bool(0.25) => terminal,
            _ => non_terminal[rng.random_range(0..non_terminal.len())],
        };
        let delivery = Delivery::new(&format!("{prefix}-E{n:06}"), &refs[c], status);
        delivered.entry(refs[c].clone()).or_default().push(status);
        deliveries.push(delivery);
    }
    // Providers deliver again what they think was not received.
    let repeats: Vec<Delivery> = deliveries
        .iter()
        .filter(|_| rng.random_bool(0.1))
        .cloned()
        .collect();
    deliveries.extend(repeats);
    deliveries.shuffle(&mut rng);
    let expected = refs
        .iter()
        .map(|r| (r.clone(), final_status(delivered.get(r).map_or(&[], |v| v))))
        .collect();
    Scenario {
        collections: refs,
        deliveries,
        expected,
        events,
    }
}

/// The rule's answer for a set of statuses with at most one kind of terminal: that terminal,
/// else the highest rank, starting from INITIATED. Order does not matter for such sets.
pub fn final_status(statuses: &[CollectionStatus]) -> CollectionStatus {
    if let Some(terminal) = statuses.iter().find(|s| s.is_terminal()) {
        return *terminal;
    }
    statuses
        .iter()
        .copied()
        .fold(CollectionStatus::Initiated, |a, b| {
            if b.rank() > a.rank() {
                b
            } else {
                a
            }
        })
}

pub fn create_collections(db: &TestDb, refs: &[String]) {
    write_transaction(&mut db.conn(), |conn| -> Result<(), StoreError> {
        for r in refs {
            create_collection(conn, &NewCollection::initiated(r), now())?;
        }
        Ok(())
    })
    .expect("collections");
}

/// Records the deliveries in one transaction, in order (received a microsecond apart), then
/// announces them as the receiver does. Returns how many were new events.
pub fn deliver(db: &TestDb, deliveries: &[Delivery]) -> usize {
    let start = now() - TimeDelta::seconds(1);
    let mut conn = db.conn();
    let new = write_transaction(&mut conn, |conn| -> Result<usize, StoreError> {
        let mut new = 0;
        for (i, d) in deliveries.iter().enumerate() {
            let at = start + TimeDelta::microseconds(i as i64);
            let payload = d.payload();
            let event = NewWebhookEvent {
                id: uuid::Uuid::new_v4(),
                provider: "demo",
                event_id: Some(&d.event_id),
                dedup_key: &d.event_id,
                request_ref: Some(&d.request_ref),
                payload: &payload,
                signature: None,
                next_attempt_at: at,
                received_at: at,
                last_seen_at: at,
            };
            if !record_event(conn, &event)?.is_duplicate() {
                new += 1;
            }
        }
        Ok(new)
    })
    .expect("deliveries");
    notify_new_events(&mut conn, None).expect("notify");
    new
}

/// Records one event with a payload of the test's choice (malformed ones included).
pub fn deliver_raw(
    db: &TestDb,
    provider: &str,
    request_ref: Option<&str>,
    payload: Value,
) -> uuid::Uuid {
    let key = uuid::Uuid::new_v4().to_string();
    let event = NewWebhookEvent::received(provider, None, &key, request_ref, &payload, None, now());
    record_event(&mut db.conn(), &event)
        .expect("record")
        .event()
        .id
}

pub fn all_events(db: &TestDb) -> Vec<WebhookEvent> {
    webhook_events::table
        .select(WebhookEvent::as_select())
        .load(&mut db.conn())
        .expect("events")
}

pub fn event_by_event_id(db: &TestDb, event_id: &str) -> WebhookEvent {
    webhook_events::table
        .filter(webhook_events::event_id.eq(event_id))
        .select(WebhookEvent::as_select())
        .first(&mut db.conn())
        .expect("the event")
}

pub fn all_collections(db: &TestDb) -> Vec<Collection> {
    collections::table
        .select(Collection::as_select())
        .load(&mut db.conn())
        .expect("collections")
}

pub fn all_transitions(db: &TestDb) -> Vec<Transition> {
    collection_transitions::table
        .order(collection_transitions::id.asc())
        .select(Transition::as_select())
        .load(&mut db.conn())
        .expect("transitions")
}

pub fn count_with_status(db: &TestDb, status: EventStatus) -> i64 {
    webhook_events::table
        .filter(webhook_events::status.eq(status.as_str()))
        .count()
        .get_result(&mut db.conn())
        .expect("count")
}

/// Every event processed, each exactly once; every collection at its expected status; the
/// audit trail of each collection replays through the rule to that status.
pub fn verify(db: &TestDb, expected: &HashMap<String, CollectionStatus>, events: usize) {
    let stored = all_events(db);
    assert_eq!(stored.len(), events, "distinct events stored");
    let unfinished: Vec<_> = stored
        .iter()
        .filter(|e| e.status != EventStatus::Processed)
        .map(|e| (e.id, e.status, e.last_error.clone()))
        .collect();
    assert!(
        unfinished.is_empty(),
        "events not processed: {unfinished:?}"
    );
    verify_processed_once(db, &stored);
    let collections = all_collections(db);
    let by_id: HashMap<_, _> = collections.iter().map(|c| (c.id, c)).collect();
    for collection in &collections {
        if let Some(want) = expected.get(&collection.request_ref) {
            assert_eq!(collection.status, *want, "{}", collection.request_ref);
        }
    }
    let mut trails: BTreeMap<uuid::Uuid, Vec<Transition>> = BTreeMap::new();
    for row in all_transitions(db) {
        trails.entry(row.collection_id).or_default().push(row);
    }
    for (collection_id, trail) in trails {
        let collection = by_id[&collection_id];
        let mut current = CollectionStatus::Initiated;
        let mut applied = 0;
        for row in &trail {
            assert_eq!(
                row.from_status, current,
                "row {} of {}",
                row.id, collection.request_ref
            );
            let decision = decide(current, row.to_status, Authority::Event);
            assert_eq!(row.outcome, decision.outcome, "row {}", row.id);
            if decision.outcome == Outcome::Applied {
                applied += 1;
            }
            current = decision.resulting_status();
        }
        assert_eq!(current, collection.status, "{}", collection.request_ref);
        assert_eq!(
            collection.version,
            1 + applied,
            "{}",
            collection.request_ref
        );
    }
}

/// One audit row per PROCESSED event, none for any other, none twice.
pub fn verify_processed_once(db: &TestDb, stored: &[WebhookEvent]) {
    let processed: HashSet<uuid::Uuid> = stored
        .iter()
        .filter(|e| e.status == EventStatus::Processed)
        .map(|e| e.id)
        .collect();
    let rows = all_transitions(db);
    let mut seen = HashSet::new();
    for row in &rows {
        let event = row.webhook_event_id.expect("an event's row");
        assert!(seen.insert(event), "event {event} recorded twice");
        assert!(
            processed.contains(&event),
            "row for unprocessed event {event}"
        );
    }
    assert_eq!(
        seen.len(),
        processed.len(),
        "processed events without a row"
    );
}
