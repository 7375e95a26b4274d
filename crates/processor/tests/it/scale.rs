//! Scale-out: four processors sharing one database work through thousands of events (random
//! order, duplicates) without deciding any event twice or leaving any collection wrong.

use std::time::{Duration, Instant};

use persistence::EventStatus;

use crate::fixtures::{count_with_status, create_collections, deliver, scenario, verify};
use crate::harness::{metric, Knobs, Running};
use crate::helpers::Env;

on_backends!(four_processors_share_the_work);

const PROCESSORS: usize = 4;
const COLLECTIONS: usize = 200;
const EVENTS: usize = 4_000;

async fn four_processors_share_the_work(env: Env) {
    let plan = scenario(7, COLLECTIONS, EVENTS);
    create_collections(&env.db, &plan.collections);
    let new = deliver(&env.db, &plan.deliveries);
    assert_eq!(new, plan.events);

    let knobs = Knobs {
        batch_size: 50,
        concurrency: 4,
        ..Knobs::default()
    };
    let started = Instant::now();
    let mut running = Vec::new();
    for _ in 0..PROCESSORS {
        running.push(Running::start(&env, &knobs).await);
    }
    crate::harness::eventually(
        "every event to be finished",
        Duration::from_secs(90),
        || count_with_status(&env.db, EventStatus::Received) == 0,
    )
    .await;
    let elapsed = started.elapsed();

    let mut decided = Vec::new();
    for processor in &running {
        let mut total = 0.0;
        for outcome in [
            "applied",
            "unchanged",
            "skipped_terminal",
            "skipped_backward",
        ] {
            let sample = format!("webhook_inbox_processor_events_total{{outcome=\"{outcome}\"}}");
            total += metric(processor.addr, &sample).await;
        }
        decided.push(total);
    }
    for processor in running {
        processor.stop().await;
    }
    verify(&env.db, &plan.expected, plan.events);
    // Every decision counted once, across all processors: none decided an event twice.
    assert_eq!(decided.iter().sum::<f64>(), EVENTS as f64, "{decided:?}");
    eprintln!(
        "{PROCESSORS} processors, {EVENTS} events ({} deliveries), {COLLECTIONS} collections: \
         {elapsed:.2?}, {:.0} events/s; decided per processor {decided:?}",
        plan.deliveries.len(),
        EVENTS as f64 / elapsed.as_secs_f64(),
    );
}
