//! `/v1/events`: list (newest first), read one with its payload, replay one, replay by filter.
//! A replay sends a finished event back to the processors, which are woken at once (NOTIFY on
//! PostgreSQL); the processor's rules still decide, so a replay never applies a change twice.

use actix_web::{web, HttpRequest, HttpResponse};
use inbox_config::Scope;
use persistence::{
    find_event, list_event_summaries, now, replay_event, replay_matching, run_blocking, EventQuery,
    EventStatus, ReplayFilter, Replayed, WebhookEvent,
};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::auth::Caller;
use crate::cursor::{self, List, Page};
use crate::error::ApiError;
use crate::input::{self, Query};
use crate::state::{AppState, DEFAULT_PAGE_SIZE};

/// Events replayed per transaction by a bulk replay.
const REPLAY_BATCH: i64 = 500;

fn event_status(text: &str, field: &'static str) -> Result<EventStatus, ApiError> {
    text.to_ascii_uppercase()
        .parse()
        .map_err(|_| ApiError::invalid(field, "one of RECEIVED, PROCESSED, FAILED"))
}

/// An event as the API shows it: the stored row without the signature header.
fn view(event: &WebhookEvent) -> Value {
    json!({
        "id": event.id,
        "provider": event.provider,
        "event_id": event.event_id,
        "dedup_key": event.dedup_key,
        "request_ref": event.request_ref,
        "status": event.status,
        "attempts": event.attempts,
        "next_attempt_at": event.next_attempt_at,
        "last_error": event.last_error,
        "duplicate_count": event.duplicate_count,
        "received_at": event.received_at,
        "last_seen_at": event.last_seen_at,
        "processed_at": event.processed_at,
        "payload": event.payload,
    })
}

fn event_id(text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text).map_err(|_| ApiError::NotFound("no event has this id".into()))
}

pub async fn list(
    request: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Read)?;
    let query = Query::parse(
        &request,
        &["status", "provider", "request_ref", "limit", "cursor"],
    )?;
    let limit = query.limit(DEFAULT_PAGE_SIZE, state.max_page_size)?;
    let status = query
        .get("status")
        .map(|s| event_status(s, "status"))
        .transpose()?;
    let provider = query.get("provider").map(str::to_owned);
    let request_ref = query.get("request_ref").map(str::to_owned);
    let before = query
        .get("cursor")
        .map(|c| cursor::decode(List::Events, c))
        .transpose()?;
    let rows = run_blocking(&state.pool, move |conn| {
        list_event_summaries(
            conn,
            &EventQuery {
                status,
                provider: provider.as_deref(),
                request_ref: request_ref.as_deref(),
                before,
                limit: limit + 1,
                ..Default::default()
            },
        )
    })
    .await?;
    let page = Page::of(rows, limit);
    Ok(HttpResponse::Ok()
        .json(json!({"data": page.rows, "has_more": page.has_more, "next_cursor": page.next()})))
}

pub async fn show(
    path: web::Path<String>,
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Read)?;
    let id = event_id(&path)?;
    let event = run_blocking(&state.pool, move |conn| find_event(conn, id))
        .await?
        .ok_or_else(|| ApiError::NotFound("no event has this id".into()))?;
    Ok(HttpResponse::Ok().json(view(&event)))
}

pub async fn replay(
    path: web::Path<String>,
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let id = event_id(&path)?;
    let note = format!("replayed through the API by key {}", caller.name);
    let replayed = run_blocking(&state.pool, move |conn| {
        let replayed = replay_event(conn, id, &note, now())?;
        let current = find_event(conn, id)?;
        Ok((replayed, current))
    })
    .await?;
    match replayed {
        (Replayed::Queued(event), _) => {
            tracing::info!(key = %caller.name, event = %id, "event replayed");
            Ok(HttpResponse::Accepted().json(json!({"replayed": true, "event": view(&event)})))
        }
        (Replayed::AlreadyPending, Some(event)) => {
            Ok(HttpResponse::Ok().json(json!({"replayed": false, "event": view(&event)})))
        }
        _ => Err(ApiError::NotFound("no event has this id".into())),
    }
}

pub async fn replay_many(
    request: HttpRequest,
    payload: web::Payload,
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let body =
        input::json_object(&request, payload, state.body_limit, state.request_timeout).await?;
    input::only_fields(
        &body,
        &["status", "provider", "received_after", "received_before"],
    )?;
    let status = match input::text(&body, "status", false)? {
        None => EventStatus::Failed,
        Some(text) => match event_status(&text, "status")? {
            EventStatus::Received => {
                return Err(ApiError::invalid(
                    "status",
                    "RECEIVED events are pending already; replay PROCESSED or FAILED ones",
                ))
            }
            finished => finished,
        },
    };
    let provider = input::text(&body, "provider", false)?;
    let received_after = input::text(&body, "received_after", false)?
        .map(|t| input::instant(&t, "received_after"))
        .transpose()?;
    let received_before = input::text(&body, "received_before", false)?
        .map(|t| input::instant(&t, "received_before"))
        .transpose()?;
    let note = format!("replayed through the API by key {}", caller.name);
    let count = run_blocking(&state.pool, move |conn| {
        let filter = ReplayFilter {
            status,
            provider: provider.as_deref(),
            received_after,
            received_before,
        };
        replay_matching(conn, &filter, &note, now(), REPLAY_BATCH)
    })
    .await?;
    tracing::info!(key = %caller.name, count, status = %status, "events replayed by filter");
    Ok(HttpResponse::Accepted().json(json!({"replayed": count})))
}
