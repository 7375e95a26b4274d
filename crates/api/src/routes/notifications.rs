//! `/v1/notifications`: what the host application is told (the outbox) with its delivery state:
//! the list (newest first), one notification, and the replay of a FAILED or DELIVERED one, which
//! the processors' dispatchers then deliver again with the same `webhook-id`.

use actix_web::{web, HttpRequest, HttpResponse};
use inbox_config::Scope;
use persistence::{
    find_notification, list_notifications, now, replay_notification, run_blocking,
    NotificationEntry, NotificationQuery, NotificationStatus,
};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::auth::Caller;
use crate::cursor::{self, List, Page};
use crate::error::ApiError;
use crate::input::Query;
use crate::state::{AppState, DEFAULT_PAGE_SIZE};

/// A notification as the API shows it: its delivery state, its collection's reference and the
/// body delivered.
fn view(entry: &NotificationEntry) -> Value {
    let n = &entry.notification;
    json!({
        "id": n.id,
        "type": n.kind,
        "status": n.status,
        "request_ref": entry.request_ref,
        "attempts": n.attempts,
        "next_attempt_at": n.next_attempt(),
        "last_error": n.last_error,
        "delivered_at": n.delivered_at,
        "created_at": n.created_at,
        "payload": n.payload,
    })
}

fn not_found() -> ApiError {
    ApiError::NotFound("no notification has this id".into())
}

fn notification_id(text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text).map_err(|_| not_found())
}

pub async fn list(
    request: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Read)?;
    let query = Query::parse(&request, &["status", "request_ref", "limit", "cursor"])?;
    let limit = query.limit(DEFAULT_PAGE_SIZE, state.max_page_size)?;
    let status = query
        .get("status")
        .map(|s| {
            s.parse::<NotificationStatus>()
                .map_err(|_| ApiError::invalid("status", "one of PENDING, DELIVERED, FAILED"))
        })
        .transpose()?;
    let request_ref = query.get("request_ref").map(str::to_owned);
    let before = query
        .get("cursor")
        .map(|c| cursor::decode(List::Notifications, c))
        .transpose()?;
    let rows = run_blocking(&state.pool, move |conn| {
        list_notifications(
            conn,
            &NotificationQuery {
                status,
                request_ref: request_ref.as_deref(),
                before,
                limit: limit + 1,
            },
        )
    })
    .await?;
    let page = Page::of(rows, limit);
    let data: Vec<Value> = page.rows.iter().map(view).collect();
    Ok(HttpResponse::Ok()
        .json(json!({"data": data, "has_more": page.has_more, "next_cursor": page.next()})))
}

pub async fn show(
    path: web::Path<String>,
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Read)?;
    let id = notification_id(&path)?;
    let entry = run_blocking(&state.pool, move |conn| find_notification(conn, id))
        .await?
        .ok_or_else(not_found)?;
    Ok(HttpResponse::Ok().json(view(&entry)))
}

/// 202 when it is PENDING again (the dispatchers deliver it at their next poll), 200 when it
/// was pending already (nothing changed), 404 when there is none.
pub async fn replay(
    path: web::Path<String>,
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let id = notification_id(&path)?;
    let (replayed, current) = run_blocking(&state.pool, move |conn| {
        let replayed = replay_notification(conn, id, now())?;
        Ok((replayed, find_notification(conn, id)?))
    })
    .await?;
    let current = current.ok_or_else(not_found)?;
    if replayed {
        tracing::info!(key = %caller.name, notification = %id, "notification replayed");
        Ok(
            HttpResponse::Accepted()
                .json(json!({"replayed": true, "notification": view(&current)})),
        )
    } else {
        Ok(HttpResponse::Ok().json(json!({"replayed": false, "notification": view(&current)})))
    }
}
