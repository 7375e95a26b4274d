//! Figures of a run: rates, latency and lag percentiles, a per-second timeline for plots.

use std::time::Duration;

use serde::Serialize;

use crate::send::Sent;

#[derive(Debug, Default, Serialize)]
pub struct Percentiles {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

pub fn percentiles(mut samples: Vec<Duration>) -> Percentiles {
    if samples.is_empty() {
        return Percentiles::default();
    }
    samples.sort();
    let at = |q: f64| {
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples[i].as_secs_f64() * 1000.0
    };
    Percentiles {
        p50_ms: at(0.50),
        p99_ms: at(0.99),
        p999_ms: at(0.999),
        max_ms: at(1.0),
    }
}

#[derive(Debug, Serialize)]
pub struct Second {
    pub t: u64,
    pub completed: usize,
    pub p99_ms: f64,
}

pub fn timeline(sent: &[Sent]) -> Vec<Second> {
    let seconds = sent.iter().map(|s| s.done_at.as_secs()).max().unwrap_or(0);
    (0..=seconds)
        .map(|t| {
            let latencies: Vec<Duration> = sent
                .iter()
                .filter(|s| s.done_at.as_secs() == t)
                .map(|s| s.latency)
                .collect();
            Second {
                t,
                completed: latencies.len(),
                p99_ms: percentiles(latencies).p99_ms,
            }
        })
        .collect()
}
