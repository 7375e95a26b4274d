//! `/console/events`: what arrived and what became of it. Filter by status and provider; a
//! failed event shows its reason and payload; replay one, or every finished event matching the
//! filter after confirming how many that is.

use actix_web::{web, HttpResponse};
use askama::Template;
use inbox_config::Scope;
use persistence::{
    count_replayable, find_event, list_event_summaries, now, replay_event, replay_matching,
    run_blocking, EventQuery, EventStatus, EventSummary, ReplayFilter, Replayed, WebhookEvent,
};
use serde::Deserialize;
use uuid::Uuid;

use super::{choices, given, pretty, Choice};
use crate::console::error::ConsoleError;
use crate::console::session::Operator;
use crate::console::{encode, page, see_other, Chrome};
use crate::cursor::{self, List, Page};
use crate::state::AppState;

const PAGE: i64 = 50;
/// Events replayed per transaction by a bulk replay (as the API's).
const REPLAY_BATCH: i64 = 500;
const STATUSES: [&str; 3] = ["RECEIVED", "PROCESSED", "FAILED"];

fn parse_status(text: &str) -> Result<EventStatus, ConsoleError> {
    text.to_ascii_uppercase()
        .parse()
        .map_err(|_| ConsoleError::Invalid("status: one of RECEIVED, PROCESSED, FAILED".into()))
}

fn note(operator: &Operator) -> String {
    format!("replayed from the console by key {}", operator.caller.name)
}

#[derive(Deserialize)]
pub struct Filters {
    status: Option<String>,
    provider: Option<String>,
    cursor: Option<String>,
}

pub struct Row {
    pub href: String,
    pub e: EventSummary,
}

#[derive(Template)]
#[template(path = "console/events.html")]
struct ListPage {
    chrome: Chrome,
    rows: Vec<Row>,
    statuses: Vec<Choice>,
    provider: String,
    next: Option<String>,
    /// The confirmation page of "replay every event matching this filter", when it can apply.
    replay_all: Option<String>,
}

fn filter_query(status: &str, provider: &str) -> String {
    format!("status={}&provider={}", encode(status), encode(provider))
}

pub async fn list(
    operator: Operator,
    query: web::Query<Filters>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let status_text = given(&query.status).to_ascii_uppercase();
    let status = match status_text.as_str() {
        "" => None,
        text => Some(parse_status(text)?),
    };
    let provider = given(&query.provider).to_owned();
    let before = match given(&query.cursor) {
        "" => None,
        text => Some(cursor::decode(List::Events, text)?),
    };
    let wanted = provider.clone();
    let rows = run_blocking(&state.pool, move |conn| {
        list_event_summaries(
            conn,
            &EventQuery {
                status,
                provider: Some(wanted.as_str()).filter(|p| !p.is_empty()),
                request_ref: None,
                before,
                limit: PAGE + 1,
            },
        )
    })
    .await?;
    let listed = Page::of(rows, PAGE);
    let filter = filter_query(&status_text, &provider);
    let next = listed
        .next()
        .map(|at| format!("/console/events?{filter}&cursor={at}"));
    let replay_all = matches!(status, Some(EventStatus::Failed | EventStatus::Processed))
        .then(|| format!("/console/events/replay?{filter}"))
        .filter(|_| operator.is_admin());
    page(&ListPage {
        chrome: Chrome::of(&operator, "events"),
        rows: listed
            .rows
            .into_iter()
            .map(|e| Row {
                href: format!("/console/events/{}", e.id),
                e,
            })
            .collect(),
        statuses: choices(&STATUSES, &status_text),
        provider,
        next,
        replay_all,
    })
}

#[derive(Template)]
#[template(path = "console/event.html")]
struct EventPage {
    chrome: Chrome,
    e: WebhookEvent,
    payload: String,
    collection: Option<String>,
    replay_action: String,
}

fn event_id(text: &str) -> Result<Uuid, ConsoleError> {
    Uuid::parse_str(text).map_err(|_| ConsoleError::NotFound("no event has this id".into()))
}

pub async fn show(
    operator: Operator,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let id = event_id(&path)?;
    let e = run_blocking(&state.pool, move |conn| find_event(conn, id))
        .await?
        .ok_or_else(|| ConsoleError::NotFound("no event has this id".into()))?;
    page(&EventPage {
        chrome: Chrome::of(&operator, "events"),
        payload: pretty(&e.payload),
        collection: e
            .request_ref
            .as_deref()
            .map(|r| format!("/console/collections/{}", encode(r))),
        replay_action: format!("/console/events/{}/replay", e.id),
        e,
    })
}

#[derive(Deserialize)]
pub struct Confirmed {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    provider: String,
}

/// `POST /console/events/{id}/replay`: admin only; back to the event, RECEIVED again.
pub async fn replay(
    operator: Operator,
    path: web::Path<String>,
    form: web::Form<Confirmed>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    operator.check_csrf(&form.csrf)?;
    operator.require(Scope::Admin)?;
    let id = event_id(&path)?;
    let note = note(&operator);
    let replayed = run_blocking(&state.pool, move |conn| {
        replay_event(conn, id, &note, now())
    })
    .await?;
    match replayed {
        Replayed::Queued(_) => {
            tracing::info!(key = %operator.caller.name, event = %id, "event replayed from the console");
        }
        Replayed::AlreadyPending => {}
        Replayed::NotFound => return Err(ConsoleError::NotFound("no event has this id".into())),
    }
    Ok(see_other(format!("/console/events/{id}")))
}

#[derive(Template)]
#[template(path = "console/replay.html")]
struct ReplayPage {
    chrome: Chrome,
    status: &'static str,
    provider: String,
    count: i64,
    /// After the replay: how many went back to the processors.
    done: Option<usize>,
    back: String,
}

/// A bulk replay's filter: PROCESSED or FAILED (RECEIVED ones are pending already).
fn replay_filter(
    status: &str,
    provider: &str,
) -> Result<(EventStatus, Option<String>), ConsoleError> {
    let status = match status.trim() {
        "" => EventStatus::Failed,
        text => match parse_status(text)? {
            EventStatus::Received => {
                return Err(ConsoleError::Invalid(
                    "RECEIVED events are pending already; replay PROCESSED or FAILED ones".into(),
                ))
            }
            finished => finished,
        },
    };
    let provider = Some(provider.trim().to_owned()).filter(|p| !p.is_empty());
    Ok((status, provider))
}

/// `GET /console/events/replay?status=&provider=`: how many events a replay would send back,
/// and the form that does it.
pub async fn confirm_many(
    operator: Operator,
    query: web::Query<Filters>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    operator.require(Scope::Admin)?;
    let (status, provider) = replay_filter(given(&query.status), given(&query.provider))?;
    let wanted = provider.clone();
    let count = run_blocking(&state.pool, move |conn| {
        count_replayable(
            conn,
            &ReplayFilter {
                status,
                provider: wanted.as_deref(),
                received_after: None,
                received_before: None,
            },
        )
    })
    .await?;
    let provider = provider.unwrap_or_default();
    page(&ReplayPage {
        chrome: Chrome::of(&operator, "events"),
        back: format!(
            "/console/events?{}",
            filter_query(status.as_str(), &provider)
        ),
        status: status.as_str(),
        provider,
        count,
        done: None,
    })
}

/// `POST /console/events/replay`: every finished event matching the confirmed filter goes back
/// to the processors.
pub async fn replay_many(
    operator: Operator,
    form: web::Form<Confirmed>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    operator.check_csrf(&form.csrf)?;
    operator.require(Scope::Admin)?;
    let (status, provider) = replay_filter(&form.status, &form.provider)?;
    let note = note(&operator);
    let wanted = provider.clone();
    let done = run_blocking(&state.pool, move |conn| {
        let filter = ReplayFilter {
            status,
            provider: wanted.as_deref(),
            received_after: None,
            received_before: None,
        };
        replay_matching(conn, &filter, &note, now(), REPLAY_BATCH)
    })
    .await?;
    tracing::info!(key = %operator.caller.name, count = done, status = %status, "events replayed from the console by filter");
    let provider = provider.unwrap_or_default();
    page(&ReplayPage {
        chrome: Chrome::of(&operator, "events"),
        back: format!("/console/events?{}", filter_query("RECEIVED", &provider)),
        status: status.as_str(),
        provider,
        count: 0,
        done: Some(done),
    })
}
