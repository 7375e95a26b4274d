//! `/console/events`: what arrived and what became of it. Filter by status, provider and the
//! time received; a
//! failed event shows its reason and payload; replay one, or every finished event matching the
//! filter after confirming how many that is.

use actix_web::{web, HttpResponse};
use askama::Template;
use chrono::{DateTime, TimeDelta, Utc};
use inbox_config::Scope;
use persistence::{
    count_replayable, find_event, list_event_summaries, now, replay_event, replay_matching,
    run_blocking, EventQuery, EventStatus, EventSummary, ReplayFilter, Replayed, WebhookEvent,
};
use serde::Deserialize;
use uuid::Uuid;

use super::{choices, given, parse_when, pretty, when_field, Choice};
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
    request_ref: Option<String>,
    received_from: Option<String>,
    received_to: Option<String>,
    cursor: Option<String>,
}

/// The received range of a filter, both ends included to the second, as the store's half-open
/// `[after, before)` range.
#[derive(Clone, Copy)]
struct Received {
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
}

impl Received {
    fn parse(from: &str, to: &str) -> Result<Received, ConsoleError> {
        Ok(Received {
            from: parse_when("received from", from)?,
            to: parse_when("received to", to)?,
        })
    }

    fn after(&self) -> Option<DateTime<Utc>> {
        self.from
    }

    fn before(&self) -> Option<DateTime<Utc>> {
        self.to.map(|at| at + TimeDelta::seconds(1))
    }

    /// The range for a link's query string.
    fn query(&self) -> String {
        format!(
            "received_from={}&received_to={}",
            encode(&when_field(self.from)),
            encode(&when_field(self.to))
        )
    }
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
    request_ref: String,
    received_from: String,
    received_to: String,
    next: Option<String>,
    /// The confirmation page of "replay every event matching this filter", when it can apply.
    replay_all: Option<String>,
}

fn filter_query(status: &str, provider: &str, request_ref: &str, received: &Received) -> String {
    let reference = if request_ref.is_empty() {
        String::new()
    } else {
        format!("&request_ref={}", encode(request_ref))
    };
    format!(
        "status={}&provider={}{reference}&{}",
        encode(status),
        encode(provider),
        received.query()
    )
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
    let request_ref = given(&query.request_ref).to_owned();
    let received = Received::parse(given(&query.received_from), given(&query.received_to))?;
    let before = match given(&query.cursor) {
        "" => None,
        text => Some(cursor::decode(List::Events, text)?),
    };
    let wanted = provider.clone();
    let reference = request_ref.clone();
    let (received_after, received_before) = (received.after(), received.before());
    let rows = run_blocking(&state.pool, move |conn| {
        list_event_summaries(
            conn,
            &EventQuery {
                status,
                provider: Some(wanted.as_str()).filter(|p| !p.is_empty()),
                request_ref: Some(reference.as_str()).filter(|r| !r.is_empty()),
                received_after,
                received_before,
                before,
                limit: PAGE + 1,
            },
        )
    })
    .await?;
    let listed = Page::of(rows, PAGE);
    let filter = filter_query(&status_text, &provider, &request_ref, &received);
    let next = listed
        .next()
        .map(|at| format!("/console/events?{filter}&cursor={at}"));
    // A bulk replay goes by status, provider and time; one payment's events are replayed one by
    // one from their pages.
    let replay_all = matches!(status, Some(EventStatus::Failed | EventStatus::Processed))
        .then(|| format!("/console/events/replay?{filter}"))
        .filter(|_| operator.is_admin() && request_ref.is_empty());
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
        request_ref,
        received_from: when_field(received.from),
        received_to: when_field(received.to),
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
    #[serde(default)]
    received_from: String,
    #[serde(default)]
    received_to: String,
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
    received_from: String,
    received_to: String,
    count: i64,
    /// After the replay: how many went back to the processors.
    done: Option<usize>,
    back: String,
}

/// A bulk replay's filter: PROCESSED or FAILED (RECEIVED ones are pending already), a provider,
/// a received range.
struct Bulk {
    status: EventStatus,
    provider: String,
    received: Received,
}

impl Bulk {
    fn parse(status: &str, provider: &str, from: &str, to: &str) -> Result<Bulk, ConsoleError> {
        let status = match status.trim() {
            "" => EventStatus::Failed,
            text => match parse_status(text)? {
                EventStatus::Received => {
                    return Err(ConsoleError::Invalid(
                        "RECEIVED events are pending already; replay PROCESSED or FAILED ones"
                            .into(),
                    ))
                }
                finished => finished,
            },
        };
        Ok(Bulk {
            status,
            provider: provider.trim().to_owned(),
            received: Received::parse(from.trim(), to.trim())?,
        })
    }

    fn filter(&self) -> ReplayFilter<'_> {
        ReplayFilter {
            status: self.status,
            provider: Some(self.provider.as_str()).filter(|p| !p.is_empty()),
            received_after: self.received.after(),
            received_before: self.received.before(),
        }
    }

    /// The events page of this filter, or of the same events once they are `status`.
    fn events_page(&self, status: EventStatus) -> String {
        format!(
            "/console/events?{}",
            filter_query(status.as_str(), &self.provider, "", &self.received)
        )
    }

    fn page(self, chrome: Chrome, count: i64, done: Option<usize>) -> ReplayPage {
        ReplayPage {
            chrome,
            back: self.events_page(if done.is_some() {
                EventStatus::Received
            } else {
                self.status
            }),
            status: self.status.as_str(),
            received_from: when_field(self.received.from),
            received_to: when_field(self.received.to),
            provider: self.provider,
            count,
            done,
        }
    }
}

/// `GET /console/events/replay?status=&provider=&received_from=&received_to=`: how many events
/// a replay would send back, and the form that does it.
pub async fn confirm_many(
    operator: Operator,
    query: web::Query<Filters>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    operator.require(Scope::Admin)?;
    let bulk = Bulk::parse(
        given(&query.status),
        given(&query.provider),
        given(&query.received_from),
        given(&query.received_to),
    )?;
    let (bulk, count) = run_blocking(&state.pool, move |conn| {
        let count = count_replayable(conn, &bulk.filter())?;
        Ok((bulk, count))
    })
    .await?;
    page(&bulk.page(Chrome::of(&operator, "events"), count, None))
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
    let bulk = Bulk::parse(
        &form.status,
        &form.provider,
        &form.received_from,
        &form.received_to,
    )?;
    let note = note(&operator);
    let (bulk, done) = run_blocking(&state.pool, move |conn| {
        let done = replay_matching(conn, &bulk.filter(), &note, now(), REPLAY_BATCH)?;
        Ok((bulk, done))
    })
    .await?;
    tracing::info!(key = %operator.caller.name, count = done, status = %bulk.status, "events replayed from the console by filter");
    page(&bulk.page(Chrome::of(&operator, "events"), 0, Some(done)))
}
