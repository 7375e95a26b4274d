//! Sends the corpus over `CONNECTIONS` connections at once (kept alive while the framing allows)
//! and judges every answer: against the probe's category, and against the documents.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;

use super::contract::{error_code, lossy, Contract};
use super::corpus::{Corpus, Kind, Probe, MAX_KEY_LEN, PROBES};
use super::wire::{exchange, Answer, Exchange};

pub const CONNECTIONS: usize = 32;

/// A recorded event whose id or request_ref is over the bound, to be found in the database.
#[derive(Debug)]
pub struct LongEvent {
    pub id: uuid::Uuid,
    pub provider: &'static str,
    pub event_id_len: usize,
    pub request_ref_len: usize,
}

#[derive(Default)]
pub struct Tally {
    pub sent: u64,
    pub statuses: BTreeMap<u16, u64>,
    pub kinds: BTreeMap<Kind, u64>,
    /// Closed by the server without an answer, where the probe allows it.
    pub closed: u64,
    /// A kept-alive connection found closed; the probe was sent again on a new one.
    pub resent: u64,
    pub failures: Vec<String>,
    /// Per replayed delivery: the statuses and event ids of its answers.
    pub replays: BTreeMap<usize, Vec<(u16, String)>>,
    pub long_events: Vec<LongEvent>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.sent += other.sent;
        self.closed += other.closed;
        self.resent += other.resent;
        for (status, n) in other.statuses {
            *self.statuses.entry(status).or_default() += n;
        }
        for (kind, n) in other.kinds {
            *self.kinds.entry(kind).or_default() += n;
        }
        self.failures.extend(other.failures);
        for (item, answers) in other.replays {
            self.replays.entry(item).or_default().extend(answers);
        }
        self.long_events.extend(other.long_events);
    }
}

pub async fn run(port: u16, corpus: Arc<Corpus>, contract: Arc<Contract>) -> Tally {
    let next = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let (corpus, contract, next) = (corpus.clone(), contract.clone(), next.clone());
            tokio::spawn(async move {
                let mut tally = Tally::default();
                let mut kept: Option<TcpStream> = None;
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= PROBES {
                        return tally;
                    }
                    let probe = corpus.probe(index);
                    let outcome = send(port, &mut kept, &probe, &mut tally).await;
                    judge(&probe, outcome, &contract, &mut tally);
                }
            })
        })
        .collect();
    let mut total = Tally::default();
    for worker in workers {
        total.merge(worker.await.unwrap());
    }
    total
}

/// Sends on the kept-alive connection when the probe allows, else on a new one.
async fn send(
    port: u16,
    kept: &mut Option<TcpStream>,
    probe: &Probe,
    tally: &mut Tally,
) -> Result<Exchange, String> {
    // Incomplete requests wait for the receiver's 2 s deadline; huge ones take a while in debug.
    let deadline = if probe.bytes.len() > 1 << 20 { 60 } else { 15 };
    let deadline = Duration::from_secs(deadline);
    tally.sent += 1;
    loop {
        let reuse = !probe.own_connection && kept.is_some();
        let mut stream = match kept.take().filter(|_| !probe.own_connection) {
            Some(stream) => stream,
            None => TcpStream::connect(("127.0.0.1", port))
                .await
                .map_err(|e| format!("cannot connect: {e}"))?,
        };
        let exchanged = tokio::time::timeout(
            deadline,
            exchange(&mut stream, &probe.bytes, probe.sending, probe.head_request),
        )
        .await
        .map_err(|_| format!("no answer within {deadline:?} (a hang)"))?;
        match &exchanged {
            // The server may close an idle kept-alive connection as the request goes out.
            Exchange::Closed if reuse => {
                tally.resent += 1;
                continue;
            }
            Exchange::Answered {
                answer,
                request_sent: true,
            } if !probe.own_connection && !answer.closes => *kept = Some(stream),
            _ => {}
        }
        return Ok(exchanged);
    }
}

fn judge(probe: &Probe, outcome: Result<Exchange, String>, contract: &Contract, tally: &mut Tally) {
    *tally.kinds.entry(probe.kind).or_default() += 1;
    let verdict = match outcome {
        Err(why) => Err(why),
        Ok(Exchange::Garbled(why)) => Err(format!("a garbled answer: {why}")),
        Ok(Exchange::Closed) if probe.expect.may_close => {
            tally.closed += 1;
            Ok(())
        }
        Ok(Exchange::Closed) => Err("closed without an answer".to_owned()),
        Ok(Exchange::Answered { answer, .. }) => {
            *tally.statuses.entry(answer.status).or_default() += 1;
            check(probe, &answer, contract, tally)
        }
    };
    if let Err(why) = verdict {
        let request = lossy(&probe.bytes);
        tally.failures.push(format!(
            "probe {} ({:?}): {why}\n    request: {request:?}",
            probe.index, probe.kind
        ));
    }
}

fn check(
    probe: &Probe,
    answer: &Answer,
    contract: &Contract,
    tally: &mut Tally,
) -> Result<(), String> {
    let status = answer.status;
    if status >= 500 {
        return Err(format!("{status}: {}", lossy(&answer.body)));
    }
    let body = contract
        .check(probe.operation, answer, probe.head_request)?
        .unwrap_or_default();
    let expect = &probe.expect;
    if !expect.statuses.contains(&status) {
        let body = lossy(&answer.body);
        return Err(format!(
            "{status} where {:?} was due: {body}",
            expect.statuses
        ));
    }
    if !expect.codes.is_empty() && !probe.head_request {
        let code = error_code(&body).unwrap_or("(none)");
        if !expect.codes.contains(&code) {
            return Err(format!("{status} {code} where {:?} was due", expect.codes));
        }
    }
    let Some(event) = probe.event.as_ref().filter(|_| status < 300) else {
        return Ok(());
    };
    let short_ref = (event.request_ref.len() <= MAX_KEY_LEN).then_some(event.request_ref.as_str());
    if body["provider"] != event.provider
        || body["event_id"].as_str() != Some(event.event_id.as_str())
        || body["request_ref"].as_str() != short_ref
    {
        return Err(format!(
            "an answer about another event: {}",
            lossy(&answer.body)
        ));
    }
    let id = body["id"].as_str().unwrap_or_default().to_owned();
    if event.event_id.len() > MAX_KEY_LEN || event.request_ref.len() > MAX_KEY_LEN {
        tally.long_events.push(LongEvent {
            id: id.parse().map_err(|e| format!("id {id:?}: {e}"))?,
            provider: event.provider,
            event_id_len: event.event_id.len(),
            request_ref_len: event.request_ref.len(),
        });
    }
    if let Some(item) = event.replay {
        tally.replays.entry(item).or_default().push((status, id));
    }
    Ok(())
}
