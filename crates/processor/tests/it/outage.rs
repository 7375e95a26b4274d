//! Redis dies mid-run: processing goes on under the database lock, nothing fails, the fallback
//! shows in the metrics; when Redis is back, locks come from Redis again.

use std::net::SocketAddr;
use std::time::Duration;

use persistence::EventStatus;

use crate::fixtures::{count_with_status, create_collections, deliver, scenario, verify, Scenario};
use crate::harness::{eventually, metric, Knobs, RedisServer, Running};
use crate::helpers::{postgres, Env};

const REDIS_LOCKS: &str = "webhook_inbox_processor_lock_acquired_total{backend=\"redis\"}";
const DATABASE_LOCKS: &str = "webhook_inbox_processor_lock_acquired_total{backend=\"database\"}";
const FALLBACKS: &str = "webhook_inbox_processor_lock_fallbacks_total";

async fn counts(addr: SocketAddr) -> (f64, f64, f64) {
    (
        metric(addr, REDIS_LOCKS).await,
        metric(addr, DATABASE_LOCKS).await,
        metric(addr, FALLBACKS).await,
    )
}

async fn drained(env: &Env) {
    eventually("the events to be finished", Duration::from_secs(30), || {
        count_with_status(&env.db, EventStatus::Received) == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn processing_survives_redis_going_away_and_coming_back() {
    let test = "outage::processing_survives_redis_going_away_and_coming_back";
    let Some(db) = postgres(test) else { return };
    let Some(mut redis) = RedisServer::start(test) else {
        return;
    };
    let env = Env {
        db,
        redis: Some(redis.url()),
    };
    // Three waves of events over the same payments.
    let plan: Scenario = scenario(11, 30, 1_200);
    create_collections(&env.db, &plan.collections);
    let waves: Vec<_> = plan
        .deliveries
        .chunks(plan.deliveries.len() / 3 + 1)
        .collect();
    let knobs = Knobs {
        batch_size: 20,
        concurrency: 4,
        ..Knobs::default()
    };
    let processor = Running::start(&env, &knobs).await;

    deliver(&env.db, waves[0]);
    drained(&env).await;
    let (redis_before, database_before, fallbacks_before) = counts(processor.addr).await;
    assert!(redis_before > 0.0);
    assert_eq!((database_before, fallbacks_before), (0.0, 0.0));

    // Redis dies while the second wave is being worked on.
    deliver(&env.db, waves[1]);
    redis.stop();
    drained(&env).await;
    let (redis_during, database_during, fallbacks) = counts(processor.addr).await;
    assert!(database_during > 0.0, "no database lock taken");
    // A fallback is counted per batch round, a database lock per payment in it.
    assert!(fallbacks > 0.0, "no fallback counted");
    assert_eq!(count_with_status(&env.db, EventStatus::Failed), 0);

    // Redis is back. The processor leaves it alone for a short cool-down after its last
    // failure, so the third wave trickles in, as webhooks do, until a lock comes from Redis.
    redis.resume();
    let mut trickle = waves[2].chunks(10);
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let mut redis_after = redis_during;
    while redis_after <= redis_during {
        assert!(std::time::Instant::now() < deadline, "Redis not used again");
        match trickle.next() {
            Some(chunk) => {
                deliver(&env.db, chunk);
            }
            None => break,
        }
        drained(&env).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        redis_after = metric(processor.addr, REDIS_LOCKS).await;
    }
    for chunk in trickle {
        deliver(&env.db, chunk);
    }
    drained(&env).await;
    assert!(
        redis_after > redis_during,
        "Redis not used again: {redis_after} <= {redis_during}"
    );
    processor.stop().await;

    verify(&env.db, &plan.expected, plan.events);
    eprintln!(
        "locks from Redis before/during/after the outage: {redis_before}/{redis_during}/\
         {redis_after}; from the database: {database_during}; fallbacks: {fallbacks}"
    );
}
