//! `api-bench`: the host API under load, closed loop, each connection sending its next request
//! when the last is answered. First `POST /v1/collections` of new collections (unique refs) for
//! the whole duration, then `GET /v1/collections/{ref}` of random ones of those for as long.
//! Every create must answer 201 and every read 200; any other answer fails the run.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use serde_json::json;
use tokio::task::JoinSet;

use crate::api::Api;
use crate::http::Connection;
use crate::report::{self, Percentiles};

pub struct BenchSettings {
    pub run: String,
    pub connections: usize,
    pub duration: Duration,
}

#[derive(Clone, Copy)]
enum Step {
    Create,
    /// Of the collections `0..existing` the create step made.
    Read {
        existing: usize,
    },
}

impl Step {
    fn expected(self) -> u16 {
        match self {
            Step::Create => 201,
            Step::Read { .. } => 200,
        }
    }
}

#[derive(Debug, serde::Serialize)]
pub struct Phase {
    pub requests: usize,
    pub seconds: f64,
    pub per_sec: f64,
    pub latency: Percentiles,
    /// Answers other than the expected one, by status (0: no answer).
    pub unexpected: BTreeMap<u16, usize>,
}

fn bench_ref(run: &str, index: usize) -> String {
    format!("{run}-b{index}")
}

async fn phase(api: Arc<Api>, settings: Arc<BenchSettings>, step: Step) -> Phase {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let until = started + settings.duration;
    let mut workers = JoinSet::new();
    for worker in 0..settings.connections.max(1) {
        let (api, settings, next) = (api.clone(), settings.clone(), next.clone());
        workers.spawn(async move {
            let mut connection = Connection::new(&api.addr);
            let mut rng = rand::rngs::StdRng::seed_from_u64(worker as u64);
            let mut latencies = Vec::new();
            let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
            while Instant::now() < until {
                let began = Instant::now();
                let answer = match step {
                    Step::Create => {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        let request_ref = bench_ref(&settings.run, index);
                        api.create(&mut connection, &request_ref).await
                    }
                    Step::Read { existing } => {
                        let request_ref = bench_ref(&settings.run, rng.random_range(0..existing));
                        api.read(&mut connection, &request_ref).await
                    }
                };
                latencies.push(began.elapsed());
                let status = match answer {
                    Ok(answer) => answer.status,
                    Err(_) => {
                        // Possibly mid-answer: never reuse it.
                        connection.reset();
                        0
                    }
                };
                *statuses.entry(status).or_default() += 1;
            }
            (latencies, statuses)
        });
    }
    let mut latencies = Vec::new();
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    while let Some(joined) = workers.join_next().await {
        // A worker that panicked lost its answers: counted as one missing answer.
        let (mine, theirs) = joined.unwrap_or_else(|_| (Vec::new(), BTreeMap::from([(0, 1)])));
        latencies.extend(mine);
        for (status, count) in theirs {
            *statuses.entry(status).or_default() += count;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    statuses.remove(&step.expected());
    Phase {
        requests: latencies.len(),
        seconds,
        per_sec: latencies.len() as f64 / seconds,
        latency: report::percentiles(latencies),
        unexpected: statuses,
    }
}

fn describe(name: &str, phase: &Phase) -> String {
    format!(
        "{name}: {} requests in {:.1} s: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms{}",
        phase.requests,
        phase.seconds,
        phase.per_sec,
        phase.latency.p50_ms,
        phase.latency.p99_ms,
        if phase.unexpected.is_empty() {
            String::new()
        } else {
            format!(
                "; UNEXPECTED answers (status: count) {:?}",
                phase.unexpected
            )
        }
    )
}

/// Runs both steps and returns the figures, `passed` false when any answer was unexpected.
pub async fn run(api: Arc<Api>, settings: Arc<BenchSettings>) -> serde_json::Value {
    eprintln!(
        "loadgen: api-bench at {}: {} connections, {} s per step",
        api.addr,
        settings.connections,
        settings.duration.as_secs_f64()
    );
    let create = phase(api.clone(), settings.clone(), Step::Create).await;
    eprintln!("loadgen: {}", describe("POST /v1/collections", &create));
    // Reads are of what the create step made: not measured when it failed.
    let read = if create.requests > 0 && create.unexpected.is_empty() {
        let existing = create.requests;
        let read = phase(api, settings.clone(), Step::Read { existing }).await;
        eprintln!("loadgen: {}", describe("GET /v1/collections/{ref}", &read));
        Some(read)
    } else {
        None
    };
    let passed = create.requests > 0
        && create.unexpected.is_empty()
        && read.as_ref().is_some_and(|r| r.unexpected.is_empty());
    json!({
        "mode": "api-bench", "run": settings.run, "connections": settings.connections,
        "seconds_per_step": settings.duration.as_secs_f64(),
        "create": create, "read": read, "passed": passed,
    })
}
