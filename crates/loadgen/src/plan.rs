//! The events of a run: per collection a short forward path ending in ONE kind of terminal status,
//! so the rule fixes every collection's final status in advance; then some reordering across the
//! whole run, and repeats of already planned deliveries.

use rand::{Rng, SeedableRng};

use domain::CollectionStatus;

#[derive(Debug, Clone)]
pub struct Delivery {
    /// The event id in the payload (also the dedup key).
    pub event_id: String,
    pub collection: usize,
    pub body: Vec<u8>,
    pub repeat: bool,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub run: String,
    pub deliveries: Vec<Delivery>,
    /// Per collection, the status the rule must leave it in.
    pub expected: Vec<CollectionStatus>,
}

pub struct PlanSettings {
    pub run: String,
    pub events: usize,
    pub collections: usize,
    pub duplicate_ratio: f64,
    pub reorder_ratio: f64,
    pub body_bytes: usize,
    pub seed: u64,
}

/// What every planned event says was paid: a collection created with this amount and currency
/// passes the processor's amount check, as one created without any does.
pub const AMOUNT: &str = "5000.00";
pub const CURRENCY: &str = "NGN";

pub fn request_ref(run: &str, collection: usize) -> String {
    format!("{run}-c{collection}")
}

pub fn make(settings: &PlanSettings) -> Plan {
    let mut rng = rand::rngs::StdRng::seed_from_u64(settings.seed);
    let unique = ((settings.events as f64) * (1.0 - settings.duplicate_ratio)).round() as usize;
    let collections = settings.collections.max(1);
    let mut expected = Vec::with_capacity(collections);
    let mut per_collection: Vec<Vec<CollectionStatus>> = Vec::with_capacity(collections);
    for c in 0..collections {
        let share = unique / collections + usize::from(c < unique % collections);
        let terminal = if rng.random_bool(0.8) {
            CollectionStatus::Success
        } else {
            CollectionStatus::Failed
        };
        let path = [
            CollectionStatus::Pending,
            CollectionStatus::Processing,
            terminal,
        ];
        // Repeat the path's steps as needed; every delivery is a distinct provider event.
        let statuses: Vec<_> = (0..share)
            .map(|i| path[(i * path.len() / share.max(1)).min(2)])
            .collect();
        // The path only goes forward, so its last step is where the rule leaves the collection
        // (the terminal one only when the collection has 3 or more events).
        expected.push(
            statuses
                .last()
                .copied()
                .unwrap_or(CollectionStatus::Initiated),
        );
        per_collection.push(statuses);
    }
    // Interleave collections (deliveries about many payments arrive at once), in path order.
    let mut deliveries = Vec::with_capacity(settings.events);
    let longest = per_collection.iter().map(Vec::len).max().unwrap_or(0);
    for step in 0..longest {
        for (c, statuses) in per_collection.iter().enumerate() {
            if let Some(&status) = statuses.get(step) {
                let event_id = format!("{}-e{}-{step}", settings.run, c);
                let body = body(
                    &event_id,
                    &request_ref(&settings.run, c),
                    status,
                    settings.body_bytes,
                );
                deliveries.push(Delivery {
                    event_id,
                    collection: c,
                    body,
                    repeat: false,
                });
            }
        }
    }
    // Out of order: swap a share of deliveries with a random other one.
    let swaps = ((deliveries.len() as f64) * settings.reorder_ratio) as usize;
    for _ in 0..swaps {
        let (a, b) = (
            rng.random_range(0..deliveries.len()),
            rng.random_range(0..deliveries.len()),
        );
        deliveries.swap(a, b);
    }
    // Repeats: copies of earlier deliveries, placed after their original.
    let repeats = settings.events.saturating_sub(deliveries.len());
    for _ in 0..repeats {
        if deliveries.is_empty() {
            break;
        }
        let original = rng.random_range(0..deliveries.len());
        let mut copy = deliveries[original].clone();
        copy.repeat = true;
        let at = rng.random_range(original + 1..=deliveries.len());
        deliveries.insert(at, copy);
    }
    Plan {
        run: settings.run.clone(),
        deliveries,
        expected,
    }
}

fn body(event_id: &str, request_ref: &str, status: CollectionStatus, size: usize) -> Vec<u8> {
    let word = match status {
        CollectionStatus::Initiated => "initiated",
        CollectionStatus::Pending => "pending",
        CollectionStatus::Processing => "processing",
        CollectionStatus::Success => "success",
        CollectionStatus::Failed => "failed",
    };
    let head = format!(
        r#"{{"event_id":"{event_id}","request_ref":"{request_ref}","status":"{word}","amount":"{AMOUNT}","currency":"{CURRENCY}","provider_ref":"LG-{event_id}","padding":""#
    );
    let padding = size.saturating_sub(head.len() + 2);
    let mut body = head.into_bytes();
    body.extend(std::iter::repeat_n(b'x', padding));
    body.extend_from_slice(b"\"}");
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_has_its_size_repeats_and_one_terminal_kind_per_collection() {
        let plan = make(&PlanSettings {
            run: "t".into(),
            events: 1000,
            collections: 50,
            duplicate_ratio: 0.1,
            reorder_ratio: 0.2,
            body_bytes: 1024,
            seed: 7,
        });
        assert_eq!(plan.deliveries.len(), 1000);
        assert_eq!(plan.deliveries.iter().filter(|d| d.repeat).count(), 100);
        assert!(plan.deliveries.iter().all(|d| d.body.len() == 1024));
        for (c, expected) in plan.expected.iter().enumerate() {
            let terminals: std::collections::HashSet<_> = plan
                .deliveries
                .iter()
                .filter(|d| d.collection == c)
                .map(|d| {
                    let body: serde_json::Value = serde_json::from_slice(&d.body).unwrap();
                    CollectionStatus::normalise(body["status"].as_str().unwrap()).unwrap()
                })
                .filter(|s| s.is_terminal())
                .collect();
            assert_eq!(terminals.len(), 1);
            assert!(terminals.contains(expected));
        }
        let parsed: serde_json::Value = serde_json::from_slice(&plan.deliveries[0].body).unwrap();
        assert_eq!(
            parsed["request_ref"].as_str().unwrap(),
            request_ref("t", plan.deliveries[0].collection)
        );
    }

    #[test]
    fn a_short_path_expects_its_highest_step() {
        // 2 events per collection: PENDING then PROCESSING, no terminal one.
        let plan = make(&PlanSettings {
            run: "t".into(),
            events: 100,
            collections: 50,
            duplicate_ratio: 0.0,
            reorder_ratio: 0.0,
            body_bytes: 512,
            seed: 7,
        });
        assert!(plan
            .expected
            .iter()
            .all(|s| *s == CollectionStatus::Processing));
    }
}
