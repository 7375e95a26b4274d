//! Sending a plan: `concurrency` workers, each on its own keep-alive connection, take the next
//! delivery in plan order, sign it as the provider would, post it, and retry a non-2xx answer
//! the way a provider does. With a target rate, deliveries leave on a fixed schedule and latency
//! counts from the scheduled time (no coordinated omission).

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use domain::signature::{self, Scheme, SigningSecret};
use tokio::sync::Mutex;

use crate::http::Connection;
use crate::plan::Plan;

pub struct SendSettings {
    /// Receivers; connection n goes to `addrs[n % len]`.
    pub addrs: Vec<String>,
    pub path: String,
    pub concurrency: usize,
    pub scheme: Scheme,
    pub secret: SigningSecret,
    /// Deliveries per second; `None` sends as fast as the answers come.
    pub rate: Option<f64>,
    /// Attempts per delivery before giving up on it.
    pub attempts: u32,
    /// The pause before a retry, as a provider backs off.
    pub retry_pause: Duration,
    /// An attempt with no answer by then counts as no answer (status 0): a fault test must see a
    /// receiver that hangs, not hang with it.
    pub attempt_timeout: Duration,
    /// Every attempt's answer, for a test that checks answers against the times of its faults.
    pub answers: Option<Arc<AnswerLog>>,
}

/// One line per attempt: `index,attempt,started_ms,ended_ms,status`, times in milliseconds since
/// the Unix epoch (the clock a fault script also reads), status 0 for no answer.
pub struct AnswerLog {
    lines: std::sync::Mutex<std::io::BufWriter<std::fs::File>>,
}

impl AnswerLog {
    pub fn create(path: &std::path::Path) -> std::io::Result<AnswerLog> {
        let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
        writeln!(file, "index,attempt,started_ms,ended_ms,status")?;
        Ok(AnswerLog {
            lines: std::sync::Mutex::new(file),
        })
    }

    fn write(&self, index: usize, attempt: u32, started_ms: i64, ended_ms: i64, status: u16) {
        if let Ok(mut file) = self.lines.lock() {
            // A line lost to a full disk shows as a missing attempt in the check, not as a pass.
            let _ = writeln!(file, "{index},{attempt},{started_ms},{ended_ms},{status}");
        }
    }

    pub fn finish(&self) -> std::io::Result<()> {
        match self.lines.lock() {
            Ok(mut file) => file.flush(),
            Err(_) => Err(std::io::Error::other("answer log poisoned")),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Sent {
    pub index: usize,
    /// The final answer's status (0: no answer at all).
    pub status: u16,
    /// The event id the receiver answered with.
    pub id: Option<String>,
    /// Of the final attempt (or from the schedule, with a rate).
    pub latency: Duration,
    /// When the final answer came, from the start of the run.
    pub done_at: Duration,
    pub attempts: u32,
}

/// The only field of an answer the check needs: the rest is skipped, not built into a `Value`.
#[derive(serde::Deserialize)]
struct AnswerId {
    id: Option<String>,
}

pub async fn send_all(plan: Arc<Plan>, settings: Arc<SendSettings>) -> (Vec<Sent>, Duration) {
    let next = Arc::new(AtomicUsize::new(0));
    let results = Arc::new(Mutex::new(Vec::with_capacity(plan.deliveries.len())));
    let started = Instant::now();
    let mut workers = Vec::new();
    for worker in 0..settings.concurrency.max(1) {
        let (plan, settings, next, results) = (
            plan.clone(),
            settings.clone(),
            next.clone(),
            results.clone(),
        );
        workers.push(tokio::spawn(async move {
            let addr = &settings.addrs[worker % settings.addrs.len().max(1)];
            let mut connection = Connection::new(addr);
            let mut mine = Vec::new();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(delivery) = plan.deliveries.get(index) else {
                    break;
                };
                let scheduled = settings.rate.map(|rate| {
                    let at = started + Duration::from_secs_f64(index as f64 / rate);
                    (at, tokio::time::Instant::from_std(at))
                });
                if let Some((_, at)) = scheduled {
                    tokio::time::sleep_until(at).await;
                }
                let mut sent = Sent {
                    index,
                    status: 0,
                    id: None,
                    latency: Duration::ZERO,
                    done_at: Duration::ZERO,
                    attempts: 0,
                };
                while sent.attempts < settings.attempts {
                    sent.attempts += 1;
                    let began = scheduled.map_or_else(Instant::now, |(at, _)| at);
                    let now = chrono::Utc::now().timestamp();
                    let headers = signature::sign(
                        &settings.scheme,
                        &settings.secret,
                        &delivery.body,
                        now,
                        Some(&delivery.event_id),
                    );
                    let started_ms = chrono::Utc::now().timestamp_millis();
                    let answer = tokio::time::timeout(
                        settings.attempt_timeout,
                        connection.post(&settings.path, &headers, &delivery.body),
                    )
                    .await
                    .unwrap_or_else(|_| {
                        Err(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "no answer in time",
                        ))
                    });
                    if answer.is_err() {
                        // The connection may be mid-answer: never reuse it.
                        connection.reset();
                    }
                    sent.latency = began.elapsed();
                    sent.done_at = started.elapsed();
                    if let Some(log) = &settings.answers {
                        let status = answer.as_ref().map_or(0, |a| a.status);
                        log.write(
                            index,
                            sent.attempts,
                            started_ms,
                            chrono::Utc::now().timestamp_millis(),
                            status,
                        );
                    }
                    match answer {
                        Ok(answer) => {
                            sent.status = answer.status;
                            if (200..300).contains(&answer.status) {
                                sent.id = serde_json::from_slice::<AnswerId>(&answer.body)
                                    .ok()
                                    .and_then(|a| a.id);
                                break;
                            }
                        }
                        Err(_) => sent.status = 0,
                    }
                    tokio::time::sleep(settings.retry_pause).await;
                }
                mine.push(sent);
            }
            results.lock().await.extend(mine);
        }));
    }
    for worker in workers {
        let _ = worker.await;
    }
    let elapsed = started.elapsed();
    let mut results = std::mem::take(&mut *results.lock().await);
    results.sort_by_key(|s| s.index);
    (results, elapsed)
}
