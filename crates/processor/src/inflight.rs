//! Events in hand, queued per payment. Events of one payment run one after another in the order
//! received, by one task; different payments run concurrently. An event claimed while its
//! payment's queue is still running joins that queue instead of competing for the lock with it.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use persistence::WebhookEvent;
use uuid::Uuid;

/// Which queue an event belongs to: its payment, or itself when it names none (it will fail).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum QueueKey {
    Payment(String),
    Alone(Uuid),
}

impl QueueKey {
    pub(crate) fn of(event: &WebhookEvent) -> QueueKey {
        match &event.request_ref {
            Some(reference) if !reference.trim().is_empty() => QueueKey::Payment(reference.clone()),
            _ => QueueKey::Alone(event.id),
        }
    }
}

/// Splits a claimed batch (oldest first) into per-payment groups, keeping the received order
/// inside each group and the order of first appearance between groups.
pub(crate) fn group(events: Vec<WebhookEvent>) -> Vec<(QueueKey, Vec<WebhookEvent>)> {
    let mut groups: Vec<(QueueKey, Vec<WebhookEvent>)> = Vec::new();
    let mut index: HashMap<QueueKey, usize> = HashMap::new();
    for event in events {
        let key = QueueKey::of(&event);
        match index.get(&key) {
            Some(&i) => groups[i].1.push(event),
            None => {
                index.insert(key.clone(), groups.len());
                groups.push((key, vec![event]));
            }
        }
    }
    groups
}

#[derive(Clone, Default)]
pub(crate) struct InFlight(Arc<Mutex<HashMap<QueueKey, VecDeque<WebhookEvent>>>>);

impl InFlight {
    fn queues(&self) -> MutexGuard<'_, HashMap<QueueKey, VecDeque<WebhookEvent>>> {
        // Nothing holding this lock can panic half-way; a poisoned map is still consistent.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether a queue of this payment is in hand.
    pub(crate) fn contains(&self, key: &QueueKey) -> bool {
        self.queues().contains_key(key)
    }

    /// Appends to the payment's running queue; hands the events back when none runs.
    pub(crate) fn join(
        &self,
        key: &QueueKey,
        events: Vec<WebhookEvent>,
    ) -> Option<Vec<WebhookEvent>> {
        match self.queues().get_mut(key) {
            Some(queue) => {
                queue.extend(events);
                None
            }
            None => Some(events),
        }
    }

    /// Opens a queue; its task takes events with [`QueueGuard::take`].
    pub(crate) fn start(&self, key: QueueKey, events: Vec<WebhookEvent>) -> QueueGuard {
        self.queues().insert(key.clone(), events.into());
        QueueGuard {
            inflight: self.clone(),
            key,
            closed: false,
        }
    }

    /// Everything queued; when nothing is and the task holds none of the payment's events any
    /// more (`holding` false), the queue is closed in the same step, so an event never joins a
    /// queue nobody runs.
    pub(crate) fn take(&self, key: &QueueKey, holding: bool) -> Vec<WebhookEvent> {
        let mut queues = self.queues();
        let events: Vec<WebhookEvent> = queues
            .get_mut(key)
            .map(|queue| queue.drain(..).collect())
            .unwrap_or_default();
        if events.is_empty() && !holding {
            queues.remove(key);
        }
        events
    }

    /// Closes the queue and returns what it still held.
    pub(crate) fn close(&self, key: &QueueKey) -> Vec<WebhookEvent> {
        self.queues().remove(key).map(Vec::from).unwrap_or_default()
    }
}

/// Closes its queue however its task ends (a panic, an abort at the end of the shutdown grace):
/// events left in it keep their lease and come back when it ends.
pub(crate) struct QueueGuard {
    inflight: InFlight,
    key: QueueKey,
    /// Once closed, the key may already name the next queue of this payment: leave it alone.
    closed: bool,
}

impl QueueGuard {
    /// See [`InFlight::take`]; once it returns nothing with `holding` false, the queue is
    /// closed.
    pub(crate) fn take(&mut self, holding: bool) -> Vec<WebhookEvent> {
        let events = self.inflight.take(&self.key, holding);
        self.closed = events.is_empty() && !holding;
        events
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    pub(crate) fn close(&mut self) -> Vec<WebhookEvent> {
        self.closed = true;
        self.inflight.close(&self.key)
    }
}

impl Drop for QueueGuard {
    fn drop(&mut self) {
        if !self.closed {
            self.inflight.close(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use chrono::TimeDelta;
    use persistence::EventStatus;

    fn event(reference: Option<&str>, second: i64) -> WebhookEvent {
        let at = persistence::now() + TimeDelta::seconds(second);
        WebhookEvent {
            id: Uuid::new_v4(),
            provider: "demo".into(),
            event_id: None,
            dedup_key: format!("k{second}"),
            request_ref: reference.map(str::to_owned),
            payload: serde_json::json!({}),
            signature: None,
            status: EventStatus::Received,
            attempts: 1,
            next_attempt_at: at,
            last_error: None,
            duplicate_count: 0,
            received_at: at,
            last_seen_at: at,
            processed_at: None,
        }
    }

    #[test]
    fn groups_keep_the_received_order() {
        let batch = vec![
            event(Some("A"), 1),
            event(Some("B"), 2),
            event(None, 3),
            event(Some("A"), 4),
            event(Some(" "), 5),
            event(Some("B"), 6),
        ];
        let ids: Vec<Uuid> = batch.iter().map(|e| e.id).collect();
        let groups = group(batch);
        let shape: Vec<(QueueKey, Vec<Uuid>)> = groups
            .into_iter()
            .map(|(k, events)| (k, events.iter().map(|e| e.id).collect()))
            .collect();
        assert_eq!(
            shape,
            vec![
                (QueueKey::Payment("A".into()), vec![ids[0], ids[3]]),
                (QueueKey::Payment("B".into()), vec![ids[1], ids[5]]),
                (QueueKey::Alone(ids[2]), vec![ids[2]]),
                (QueueKey::Alone(ids[4]), vec![ids[4]]),
            ]
        );
    }

    #[test]
    fn late_events_join_the_running_queue_until_it_closes() {
        let inflight = InFlight::default();
        let key = QueueKey::Payment("A".into());
        let (first, second, third) = (
            event(Some("A"), 1),
            event(Some("A"), 2),
            event(Some("A"), 3),
        );
        let (first_id, second_id) = (first.id, second.id);
        let mut queue = inflight.start(key.clone(), vec![first]);
        assert!(inflight.join(&key, vec![second]).is_none());
        let ids = |events: Vec<WebhookEvent>| events.iter().map(|e| e.id).collect::<Vec<_>>();
        assert_eq!(ids(queue.take(false)), vec![first_id, second_id]);
        // Still holding the payment's events: the queue stays open for late ones.
        assert!(queue.take(true).is_empty());
        let (third_id, fourth) = (third.id, event(Some("A"), 4));
        assert!(inflight.join(&key, vec![third]).is_none());
        assert_eq!(ids(queue.take(true)), vec![third_id]);
        assert!(queue.take(false).is_empty());
        // Closed: a later event starts a new queue, which the old guard must not close.
        let back = inflight.join(&key, vec![fourth]).expect("no queue runs");
        let mut next_queue = inflight.start(key.clone(), back);
        drop(queue);
        assert_eq!(next_queue.take(false).len(), 1);
    }

    #[test]
    fn an_abandoned_queue_is_closed() {
        let inflight = InFlight::default();
        let key = QueueKey::Payment("A".into());
        let queue = inflight.start(key.clone(), vec![event(Some("A"), 1)]);
        drop(queue);
        assert!(inflight.join(&key, vec![event(Some("A"), 2)]).is_some());
    }
}
