//! `/v1/collections`: create (idempotent on request_ref), read (with its decisions), list in the
//! order they last changed, and the operator override.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use domain::draft::Draft;
use domain::{Authority, CollectionStatus, Decision, Request};
use inbox_config::Scope;
use persistence::{
    apply_requests, collection_history, create_collection, find_collection, list_collections, now,
    run_blocking, write_transaction, Collection, CollectionQuery, DbPool, Decide, EventsHeld,
    NewCollection, RequestOutcome, StoreError,
};
use serde_json::json;

use crate::auth::Caller;
use crate::cursor::{self, List, Page};
use crate::error::ApiError;
use crate::input::{self, Query};
use crate::state::{AppState, DEFAULT_PAGE_SIZE};

/// What a create asked for, against what is stored: the names of the fields that differ.
fn differences(stored: &Collection, draft: &Draft) -> Vec<&'static str> {
    let mut fields = Vec::new();
    if stored.amount != draft.amount {
        fields.push("amount");
    }
    if stored.currency != draft.currency {
        fields.push("currency");
    }
    if stored.metadata != draft.metadata {
        fields.push("metadata");
    }
    fields
}

enum Created {
    New(Collection),
    Existing(Collection),
    Different(Vec<&'static str>),
}

pub async fn create(
    request: HttpRequest,
    payload: web::Payload,
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Write)?;
    let body =
        input::json_object(&request, payload, state.body_limit, state.request_timeout).await?;
    input::only_fields(&body, &["request_ref", "amount", "currency", "metadata"])?;
    let request_ref = input::required(input::text(&body, "request_ref", false)?, "request_ref")?;
    let amount = input::required(input::text(&body, "amount", true)?, "amount")?;
    let currency = input::required(input::text(&body, "currency", false)?, "currency")?;
    let draft = Draft::validate(
        &request_ref,
        Some(&amount),
        Some(&currency),
        body.get("metadata").cloned(),
    )
    .map_err(|e| ApiError::invalid(e.field, e.message))?;
    let created = run_blocking(&state.pool, move |conn| {
        let new = NewCollection {
            request_ref: &draft.request_ref,
            status: CollectionStatus::Initiated,
            provider: None,
            provider_ref: None,
            amount: draft.amount.as_deref(),
            currency: draft.currency.as_deref(),
            metadata: Some(&draft.metadata),
        };
        match create_collection(conn, &new, now()) {
            Ok(collection) => Ok(Created::New(collection)),
            // Created before (a retry, or a concurrent create): the same fields are the same
            // collection; others are a conflict.
            Err(StoreError::Conflict(_)) => {
                let stored = find_collection(conn, &draft.request_ref)?.ok_or_else(|| {
                    StoreError::NotFound(format!("collection {:?}", draft.request_ref))
                })?;
                let fields = differences(&stored, &draft);
                Ok(if fields.is_empty() {
                    Created::Existing(stored)
                } else {
                    Created::Different(fields)
                })
            }
            Err(e) => Err(e),
        }
    })
    .await?;
    match created {
        Created::New(collection) => {
            tracing::info!(key = %caller.name, request_ref = %collection.request_ref, "collection created");
            Ok(HttpResponse::Created()
                .insert_header((
                    header::LOCATION,
                    format!(
                        "/v1/collections/{}",
                        encode_segment(&collection.request_ref)
                    ),
                ))
                .json(collection))
        }
        Created::Existing(collection) => Ok(HttpResponse::Ok().json(collection)),
        Created::Different(fields) => Err(ApiError::Conflict {
            message: format!(
                "a collection with this request_ref exists with another {}",
                fields.join(", ")
            ),
            fields,
        }),
    }
}

/// A path segment with the characters that would end or change it escaped.
fn encode_segment(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

pub async fn show(
    request: HttpRequest,
    path: web::Path<String>,
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Read)?;
    let query = Query::parse(&request, &["include"])?;
    let with_decisions = match query.get("include") {
        None => false,
        Some("decisions") => true,
        Some(_) => {
            return Err(ApiError::invalid(
                "include",
                "the only value is \"decisions\"",
            ))
        }
    };
    let reference = path.into_inner();
    let found = run_blocking(&state.pool, move |conn| {
        let Some(collection) = find_collection(conn, &reference)? else {
            return Ok(None);
        };
        let decisions = if with_decisions {
            Some(collection_history(conn, collection.id)?)
        } else {
            None
        };
        Ok(Some((collection, decisions)))
    })
    .await?;
    let Some((collection, decisions)) = found else {
        return Err(ApiError::NotFound(
            "no collection has this request_ref".into(),
        ));
    };
    let mut body = json!(collection);
    if let Some(decisions) = decisions {
        body["decisions"] = json!(decisions);
    }
    Ok(HttpResponse::Ok().json(body))
}

pub async fn list(
    request: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Read)?;
    let query = Query::parse(&request, &["status", "updated_after", "limit", "cursor"])?;
    let limit = query.limit(DEFAULT_PAGE_SIZE, state.max_page_size)?;
    let status = query
        .get("status")
        .map(|s| {
            s.to_ascii_uppercase()
                .parse::<CollectionStatus>()
                .map_err(|_| {
                    ApiError::invalid(
                        "status",
                        "one of INITIATED, PENDING, PROCESSING, SUCCESS, FAILED",
                    )
                })
        })
        .transpose()?;
    let updated_after = query
        .get("updated_after")
        .map(|t| input::instant(t, "updated_after"))
        .transpose()?;
    let after = query
        .get("cursor")
        .map(|c| cursor::decode(List::Collections, c))
        .transpose()?;
    let rows = run_blocking(&state.pool, move |conn| {
        list_collections(
            conn,
            &CollectionQuery {
                status,
                updated_after,
                after,
                // One more than the page: whether there is more is known without a count.
                limit: limit + 1,
                ..Default::default()
            },
        )
    })
    .await?;
    let page = Page::of(rows, limit);
    // The position after the last row, also when the list is done for now: a reader following
    // changes keeps it and asks again later.
    let next = page
        .last()
        .or_else(|| query.get("cursor").map(str::to_owned));
    Ok(HttpResponse::Ok()
        .json(json!({"data": page.rows, "has_more": page.has_more, "next_cursor": next})))
}

pub async fn set_status(
    request: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let body =
        input::json_object(&request, payload, state.body_limit, state.request_timeout).await?;
    input::only_fields(&body, &["status", "reason"])?;
    let status = input::required(input::text(&body, "status", false)?, "status")?;
    let status: CollectionStatus = status.to_ascii_uppercase().parse().map_err(|_| {
        ApiError::invalid(
            "status",
            "one of INITIATED, PENDING, PROCESSING, SUCCESS, FAILED",
        )
    })?;
    let reason = input::required(input::text(&body, "reason", false)?, "reason")?;
    let (decision, collection) = force_status(
        &state.pool,
        path.into_inner(),
        status,
        &reason,
        &caller.name,
    )
    .await?;
    Ok(HttpResponse::Ok().json(json!({"outcome": decision.outcome, "collection": collection})))
}

/// The operator override, for the API and the console: `reason` checked (1 to 1000
/// characters), then the processor's own plan and writer under the collection's row lock,
/// audited with `actor` (the key's name). `NotFound` when no collection has the reference.
pub async fn force_status(
    pool: &DbPool,
    reference: String,
    status: CollectionStatus,
    reason: &str,
    actor: &str,
) -> Result<(Decision, Collection), ApiError> {
    let reason = reason.trim().to_owned();
    if reason.is_empty() || reason.chars().count() > 1000 {
        return Err(ApiError::invalid(
            "reason",
            "must be 1 to 1000 characters: why the status is forced",
        ));
    }
    let key = actor.to_owned();
    let changed = run_blocking(pool, move |conn| {
        let request =
            Request::from_operator(reference.clone(), status, Authority::Override, Some(reason));
        let decide = Decide {
            actor: &key,
            events: EventsHeld::Leased,
            now: now(),
        };
        let outcome = write_transaction(conn, |conn| -> Result<_, StoreError> {
            apply_requests(conn, std::slice::from_ref(&request), &decide)
        })?;
        match outcome.into_iter().next() {
            Some(RequestOutcome::Recorded(decision)) => {
                let collection = find_collection(conn, &reference)?;
                Ok(collection.map(|c| (decision, c)))
            }
            _ => Ok(None),
        }
    })
    .await?;
    let (decision, collection) =
        changed.ok_or_else(|| ApiError::NotFound("no collection has this request_ref".into()))?;
    tracing::info!(
        key = %actor,
        request_ref = %collection.request_ref,
        from = %decision.from,
        to = %decision.requested,
        outcome = %decision.outcome,
        "status override"
    );
    Ok((decision, collection))
}
