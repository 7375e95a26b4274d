//! `POST /webhooks/{provider}`: the contract's checks in order, then the durable record, then the
//! answer. A 2xx is sent only after the event's row is committed.

use std::time::Instant;

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use domain::dedup_key;
use domain::provider::MAX_KEY_LEN;
use serde::Serialize;
use uuid::Uuid;

use crate::error::ReceiveError;
use crate::intake::{check_content_type, parse_object, read_body, verify_signature};
use crate::recorder::Delivery;
use crate::state::AppState;

/// The answer to an accepted delivery, new (202) or repeated (200, with the first one's id).
#[derive(Debug, Serialize)]
pub struct EventAnswer {
    pub id: Uuid,
    pub provider: String,
    pub event_id: Option<String>,
    pub request_ref: Option<String>,
    pub status: persistence::EventStatus,
    pub received_at: DateTime<Utc>,
    pub processed_at: Option<DateTime<Utc>>,
    pub duplicate: bool,
}

/// `POST /webhooks/{provider}` for any name: configured names usually reach
/// [`receive_for_provider`] through their own static route first (see [`static_route`]).
pub async fn receive_webhook(
    request: HttpRequest,
    provider: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ReceiveError> {
    receive_for_provider(&provider.into_inner(), request, payload, state).await
}

/// The path of a configured provider's own route, when its name can be matched as plain text.
/// A static route is found by comparing strings; `/webhooks/{provider}` costs a regular
/// expression per request. Names with other characters than these, which a client may have to
/// percent-encode, are left to `/webhooks/{provider}`, which decodes them.
pub fn static_route(name: &str) -> Option<String> {
    let plain = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'));
    plain.then(|| format!("/webhooks/{name}"))
}

pub async fn receive_for_provider(
    provider: &str,
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ReceiveError> {
    let started = Instant::now();
    let result = receive(&request, provider, payload, &state).await;
    let outcome = match &result {
        Ok(answer) if answer.duplicate => "duplicate",
        Ok(_) => "accepted",
        Err(e) => e.code(),
    };
    let label = state
        .request_metrics
        .record(provider, outcome, started.elapsed());
    match result {
        Ok(answer) if answer.duplicate => Ok(HttpResponse::Ok().json(answer)),
        Ok(answer) => Ok(HttpResponse::Accepted().json(answer)),
        Err(e) => {
            tracing::info!(provider = %label, code = e.code(), "webhook refused: {e}");
            Err(e)
        }
    }
}

async fn receive(
    request: &HttpRequest,
    name: &str,
    payload: web::Payload,
    state: &AppState,
) -> Result<EventAnswer, ReceiveError> {
    let provider = state.providers.get(name).ok_or_else(|| {
        ReceiveError::UnknownProvider(inbox_web::clip(name, inbox_web::ECHO_LIMIT).into_owned())
    })?;
    check_content_type(request)?;
    let body = read_body(request, payload, state.body_limit, state.request_timeout).await?;
    let verified = verify_signature(provider, request, &body, Utc::now().timestamp())?;
    let parsed = parse_object(&body)?;
    let extracted = provider.payload.read(&parsed.payload, &verified);
    let dedup = dedup_key(extracted.event_id.as_deref(), &body);

    let delivery = Delivery {
        id: crate::ids::event_uuid(),
        provider: provider.name.clone(),
        event_id: extracted.event_id,
        dedup_key: dedup,
        // One too long for the index is left to the processor, which fails the event with why.
        request_ref: extracted.request_ref.filter(|r| r.len() <= MAX_KEY_LEN),
        payload: parsed.payload,
        payload_json: (!parsed.nul_replaced).then_some(body),
        signature: verified.signature,
        received_at: persistence::now(),
    };
    let receipt = state.recorder.record(delivery).await.map_err(|e| {
        tracing::error!(error = %e, provider = %name, "could not record webhook event");
        ReceiveError::StorageUnavailable
    })?;

    let duplicate = receipt.is_duplicate();
    let event = receipt.into_event();
    if duplicate {
        tracing::info!(
            id = %event.id,
            duplicate_count = event.duplicate_count,
            "Duplicate webhook event detected: event_id={}",
            event.event_id.as_deref().unwrap_or(&event.dedup_key)
        );
    } else {
        tracing::info!(id = %event.id, event_id = ?event.event_id, request_ref = ?event.request_ref, "webhook event recorded");
    }
    Ok(EventAnswer {
        id: event.id,
        provider: event.provider,
        event_id: event.event_id,
        request_ref: event.request_ref,
        status: event.status,
        received_at: event.received_at,
        processed_at: event.processed_at,
        duplicate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_names_get_a_static_route() {
        assert_eq!(
            static_route("paystack").as_deref(),
            Some("/webhooks/paystack")
        );
        assert_eq!(
            static_route("acme-pay_2.v~1").as_deref(),
            Some("/webhooks/acme-pay_2.v~1")
        );
        for name in ["", "a b", "a/b", "{x}", "caf\u{e9}", "50%"] {
            assert_eq!(static_route(name), None, "{name:?}");
        }
    }
}
