//! `/console/collections`: find a payment by its `request_ref` or list collections by status
//! (the API's order and cursors); a collection's timeline (decisions, events with payloads,
//! notifications, newest first) and the audited override.

use actix_web::{web, HttpResponse};
use askama::Template;
use chrono::TimeDelta;
use domain::CollectionStatus;
use inbox_config::Scope;
use persistence::{
    collection_history, find_collection, list_collections, list_events, notifications_of,
    run_blocking, Collection, CollectionQuery, EventFilter, Notification, Transition, WebhookEvent,
};
use serde::Deserialize;

use super::{choices, given, parse_when, pretty, when_field, Choice};
use crate::console::error::ConsoleError;
use crate::console::session::Operator;
use crate::console::{encode, page, see_other, Chrome};
use crate::cursor::{self, List, Page};
use crate::routes::collections::force_status;
use crate::state::AppState;

const PAGE: i64 = 50;
/// Events shown on a timeline (newest first); older ones are on the events page.
const TIMELINE_EVENTS: i64 = 50;
const STATUSES: [&str; 5] = ["INITIATED", "PENDING", "PROCESSING", "SUCCESS", "FAILED"];

fn parse_status(text: &str) -> Result<CollectionStatus, ConsoleError> {
    text.to_ascii_uppercase().parse().map_err(|_| {
        ConsoleError::Invalid(
            "status: one of INITIATED, PENDING, PROCESSING, SUCCESS, FAILED".into(),
        )
    })
}

pub struct Row {
    pub href: String,
    pub c: Collection,
}

fn row(c: Collection) -> Row {
    Row {
        href: format!("/console/collections/{}", encode(&c.request_ref)),
        c,
    }
}

#[derive(Template)]
#[template(path = "console/collections.html")]
struct ListPage {
    chrome: Chrome,
    rows: Vec<Row>,
    request_ref: String,
    statuses: Vec<Choice>,
    updated_from: String,
    updated_to: String,
    next: Option<String>,
    searched: bool,
}

#[derive(Deserialize)]
pub struct Filters {
    request_ref: Option<String>,
    status: Option<String>,
    updated_from: Option<String>,
    updated_to: Option<String>,
    cursor: Option<String>,
}

pub async fn list(
    operator: Operator,
    query: web::Query<Filters>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let request_ref = given(&query.request_ref).to_owned();
    let status_text = given(&query.status).to_owned();
    let status = match status_text.as_str() {
        "" => None,
        text => Some(parse_status(text)?),
    };
    let updated_from = parse_when("updated from", given(&query.updated_from))?;
    let updated_to = parse_when("updated to", given(&query.updated_to))?;
    let after = match given(&query.cursor) {
        "" => None,
        text => Some(cursor::decode(List::CollectionsNewestFirst, text)?),
    };
    let searched = !request_ref.is_empty();
    let wanted = request_ref.clone();
    let listed = run_blocking(&state.pool, move |conn| {
        if !wanted.is_empty() {
            let found = find_collection(conn, &wanted)?.into_iter().collect();
            return Ok(Page::of(found, PAGE));
        }
        let rows = list_collections(
            conn,
            &CollectionQuery {
                status,
                // The form's range is inclusive of both ends, to the second.
                updated_after: updated_from.map(|at| at - TimeDelta::microseconds(1)),
                updated_before: updated_to.map(|at| at + TimeDelta::seconds(1)),
                after,
                newest_first: true,
                limit: PAGE + 1,
            },
        )?;
        Ok(Page::of_in(rows, PAGE, List::CollectionsNewestFirst))
    })
    .await?;
    let (updated_from, updated_to) = (when_field(updated_from), when_field(updated_to));
    let next = listed.next().map(|at| {
        format!(
            "/console/collections?status={}&updated_from={}&updated_to={}&cursor={at}",
            encode(&status_text),
            encode(&updated_from),
            encode(&updated_to),
        )
    });
    page(&ListPage {
        chrome: Chrome::of(&operator, "collections"),
        rows: listed.rows.into_iter().map(row).collect(),
        request_ref,
        statuses: choices(&STATUSES, &status_text),
        updated_from,
        updated_to,
        next,
        searched,
    })
}

pub struct EventView {
    pub href: String,
    pub e: WebhookEvent,
    pub payload: String,
}

#[derive(Template)]
#[template(path = "console/timeline.html")]
struct Timeline {
    chrome: Chrome,
    c: Collection,
    metadata: String,
    override_action: String,
    decisions: Vec<Transition>,
    events: Vec<EventView>,
    notifications: Vec<Notification>,
    statuses: Vec<Choice>,
    events_href: String,
    timeline_events: usize,
}

pub async fn timeline(
    operator: Operator,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let reference = path.into_inner();
    let found = run_blocking(&state.pool, move |conn| {
        let Some(collection) = find_collection(conn, &reference)? else {
            return Ok(None);
        };
        let mut decisions = collection_history(conn, collection.id)?;
        decisions.reverse();
        let events = list_events(
            conn,
            &EventFilter {
                request_ref: Some(&collection.request_ref),
                limit: TIMELINE_EVENTS,
                ..EventFilter::default()
            },
        )?;
        let mut notifications = notifications_of(conn, collection.id)?;
        notifications.reverse();
        Ok(Some((collection, decisions, events, notifications)))
    })
    .await?;
    let Some((c, decisions, events, notifications)) = found else {
        return Err(ConsoleError::NotFound(
            "no collection has this request_ref".into(),
        ));
    };
    page(&Timeline {
        chrome: Chrome::of(&operator, "collections"),
        metadata: pretty(&c.metadata),
        override_action: format!("/console/collections/{}/override", encode(&c.request_ref)),
        events_href: format!("/console/events?request_ref={}", encode(&c.request_ref)),
        timeline_events: TIMELINE_EVENTS as usize,
        statuses: choices(&STATUSES, c.status.as_str())
            .into_iter()
            .filter(|choice| !choice.value.is_empty())
            .collect(),
        c,
        decisions,
        events: events
            .into_iter()
            .map(|e| EventView {
                href: format!("/console/events/{}", e.id),
                payload: pretty(&e.payload),
                e,
            })
            .collect(),
        notifications,
    })
}

#[derive(Deserialize)]
pub struct Override {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    reason: String,
}

/// `POST /console/collections/{request_ref}/override`: admin only, a reason required, audited
/// with the signed-in key's name as the decision's actor.
pub async fn force(
    operator: Operator,
    path: web::Path<String>,
    form: web::Form<Override>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    operator.check_csrf(&form.csrf)?;
    operator.require(Scope::Admin)?;
    let status = parse_status(form.status.trim())?;
    let reference = path.into_inner();
    let back = format!("/console/collections/{}", encode(&reference));
    force_status(
        &state.pool,
        reference,
        status,
        &form.reason,
        &operator.caller.name,
    )
    .await?;
    Ok(see_other(back))
}
