//! The host API as an application calls it: a run's collections created with `POST
//! /v1/collections` and the bearer key, before the provider's webhooks about them arrive. Every
//! answer must be 201 (new) or 200 (there already, with the same fields); anything else ends the
//! run, naming the collection and the answer. It never touches the database.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use crate::http::{Answer, Connection};
use crate::plan;

/// No answer by then is a failure, not a hang: the API has its own request deadline (30 s).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(35);

/// Where the API listens, and the headers every call carries (the key).
pub struct Api {
    pub addr: String,
    headers: Vec<(String, String)>,
}

impl Api {
    pub fn new(addr: &str, key: &str) -> Api {
        Api {
            addr: addr.to_owned(),
            headers: vec![("Authorization".to_owned(), format!("Bearer {key}"))],
        }
    }

    /// `POST /v1/collections` of `request_ref` with the plan's amount and currency.
    pub async fn create(&self, connection: &mut Connection, request_ref: &str) -> Called {
        let body = serde_json::json!({
            "request_ref": request_ref, "amount": plan::AMOUNT, "currency": plan::CURRENCY,
        });
        let body = body.to_string().into_bytes();
        within_deadline(connection.post("/v1/collections", &self.headers, &body)).await
    }

    /// `GET /v1/collections/{request_ref}`; the reference must need no escaping in a path.
    pub async fn read(&self, connection: &mut Connection, request_ref: &str) -> Called {
        let path = format!("/v1/collections/{request_ref}");
        within_deadline(connection.get(&path, &self.headers)).await
    }
}

pub type Called = std::io::Result<Answer>;

async fn within_deadline(call: impl std::future::Future<Output = Called>) -> Called {
    tokio::time::timeout(REQUEST_TIMEOUT, call)
        .await
        .unwrap_or_else(|_| {
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "no answer in time",
            ))
        })
}

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("POST /v1/collections at {addr} for {request_ref:?} answered {status} (201 or 200 expected): {body}")]
    Refused {
        addr: String,
        request_ref: String,
        status: u16,
        body: String,
    },
    #[error("POST /v1/collections at {addr} for {request_ref:?} got no answer: {source}")]
    NoAnswer {
        addr: String,
        request_ref: String,
        source: std::io::Error,
    },
    #[error("a worker creating collections stopped: {0}")]
    Worker(String),
}

#[derive(Debug, Default, serde::Serialize)]
pub struct Created {
    /// Answered 201.
    pub new: usize,
    /// Answered 200: created before with the same fields (a repeated run).
    pub existing: usize,
    pub seconds: f64,
}

/// Creates every collection of `refs` over `connections` keep-alive connections; the first
/// answer that is neither 201 nor 200 stops them all.
pub async fn create_collections(
    api: Arc<Api>,
    refs: Arc<Vec<String>>,
    connections: usize,
) -> Result<Created, CreateError> {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = JoinSet::new();
    for _ in 0..connections.max(1) {
        let (api, refs, next) = (api.clone(), refs.clone(), next.clone());
        workers.spawn(async move {
            let mut connection = Connection::new(&api.addr);
            let mut created = Created::default();
            while let Some(request_ref) = refs.get(next.fetch_add(1, Ordering::Relaxed)) {
                let answer = api
                    .create(&mut connection, request_ref)
                    .await
                    .map_err(|source| CreateError::NoAnswer {
                        addr: api.addr.clone(),
                        request_ref: request_ref.clone(),
                        source,
                    })?;
                match answer.status {
                    201 => created.new += 1,
                    200 => created.existing += 1,
                    status => {
                        return Err(CreateError::Refused {
                            addr: api.addr.clone(),
                            request_ref: request_ref.clone(),
                            status,
                            body: String::from_utf8_lossy(&answer.body).into_owned(),
                        })
                    }
                }
            }
            Ok(created)
        });
    }
    let mut total = Created::default();
    // Returning early drops the set, which aborts the other workers.
    while let Some(joined) = workers.join_next().await {
        let created = joined.map_err(|e| CreateError::Worker(e.to_string()))??;
        total.new += created.new;
        total.existing += created.existing;
    }
    total.seconds = started.elapsed().as_secs_f64();
    Ok(total)
}
