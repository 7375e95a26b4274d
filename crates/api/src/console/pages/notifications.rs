//! `/console/notifications`: what the host application was told and whether it arrived; the
//! undelivered and failed ones with their attempts and last error, and their replay.

use actix_web::{web, HttpResponse};
use askama::Template;
use inbox_config::Scope;
use persistence::{
    list_notifications, now, replay_notification, run_blocking, NotificationEntry,
    NotificationQuery, NotificationStatus,
};
use serde::Deserialize;
use uuid::Uuid;

use super::{choices, given, Choice};
use crate::console::error::ConsoleError;
use crate::console::session::Operator;
use crate::console::{encode, page, see_other, Chrome};
use crate::cursor::{self, List, Page};
use crate::state::AppState;

const PAGE: i64 = 50;
const STATUSES: [&str; 3] = ["PENDING", "DELIVERED", "FAILED"];

#[derive(Deserialize)]
pub struct Filters {
    status: Option<String>,
    cursor: Option<String>,
}

pub struct Row {
    pub n: NotificationEntry,
    pub collection: String,
    pub replay_action: String,
}

#[derive(Template)]
#[template(path = "console/notifications.html")]
struct ListPage {
    chrome: Chrome,
    rows: Vec<Row>,
    statuses: Vec<Choice>,
    status: String,
    next: Option<String>,
}

pub async fn list(
    operator: Operator,
    query: web::Query<Filters>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let status_text = given(&query.status).to_ascii_uppercase();
    let status = match status_text.as_str() {
        "" => None,
        text => Some(text.parse::<NotificationStatus>().map_err(|_| {
            ConsoleError::Invalid("status: one of PENDING, DELIVERED, FAILED".into())
        })?),
    };
    let before = match given(&query.cursor) {
        "" => None,
        text => Some(cursor::decode(List::Notifications, text)?),
    };
    let rows = run_blocking(&state.pool, move |conn| {
        list_notifications(
            conn,
            &NotificationQuery {
                status,
                request_ref: None,
                before,
                limit: PAGE + 1,
            },
        )
    })
    .await?;
    let listed = Page::of(rows, PAGE);
    let next = listed.next().map(|at| {
        format!(
            "/console/notifications?status={}&cursor={at}",
            encode(&status_text)
        )
    });
    page(&ListPage {
        chrome: Chrome::of(&operator, "notifications"),
        rows: listed
            .rows
            .into_iter()
            .map(|n| Row {
                collection: format!("/console/collections/{}", encode(&n.request_ref)),
                replay_action: format!("/console/notifications/{}/replay", n.notification.id),
                n,
            })
            .collect(),
        statuses: choices(&STATUSES, &status_text),
        status: status_text,
        next,
    })
}

#[derive(Deserialize)]
pub struct Replay {
    #[serde(default)]
    csrf: String,
    /// The list's filter, to go back to it.
    #[serde(default)]
    status: String,
}

/// `POST /console/notifications/{id}/replay`: admin only; PENDING again, delivered at the
/// dispatchers' next poll with the same `webhook-id`.
pub async fn replay(
    operator: Operator,
    path: web::Path<String>,
    form: web::Form<Replay>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    operator.check_csrf(&form.csrf)?;
    operator.require(Scope::Admin)?;
    let id = Uuid::parse_str(&path)
        .map_err(|_| ConsoleError::NotFound("no notification has this id".into()))?;
    let replayed = run_blocking(&state.pool, move |conn| {
        replay_notification(conn, id, now())
    })
    .await?;
    if replayed {
        tracing::info!(key = %operator.caller.name, notification = %id, "notification replayed from the console");
    }
    Ok(see_other(format!(
        "/console/notifications?status={}",
        encode(form.status.trim())
    )))
}
