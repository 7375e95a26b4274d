//! Reading what a request sends: a JSON object body (bounded, within the request deadline) and
//! query parameters, each problem answered with the field it concerns. Unknown fields and
//! parameters are refused rather than ignored: a typo must not silently change what is asked.

use std::collections::BTreeMap;
use std::time::Duration;

use actix_web::http::header;
use actix_web::{web, HttpRequest};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::error::ApiError;

/// The request's JSON object. 415 unless the content type is JSON, 413 past `limit` bytes, 408
/// when the body does not arrive within `deadline`, 400 unless it is one JSON object.
pub async fn json_object(
    request: &HttpRequest,
    payload: web::Payload,
    limit: usize,
    deadline: Duration,
) -> Result<Map<String, Value>, ApiError> {
    let is_json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| {
            let v = v.trim().to_ascii_lowercase();
            v == "application/json" || (v.starts_with("application/") && v.ends_with("+json"))
        })
        .unwrap_or(false);
    if !is_json {
        return Err(ApiError::UnsupportedMediaType);
    }
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    let body = match tokio::time::timeout(deadline, payload.to_bytes_limited(limit)).await {
        Ok(Ok(Ok(body))) => body,
        Ok(Ok(Err(e))) => return Err(ApiError::InvalidJson(e.to_string())),
        Ok(Err(_)) => return Err(ApiError::PayloadTooLarge(limit)),
        Err(_) => return Err(ApiError::RequestTimeout(deadline.as_secs())),
    };
    match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::InvalidJson("expected an object".into())),
        Err(e) => Err(ApiError::InvalidJson(e.to_string())),
    }
}

/// Refuses a body field not in `known`.
pub fn only_fields(body: &Map<String, Value>, known: &[&'static str]) -> Result<(), ApiError> {
    match body.keys().find(|k| !known.contains(&k.as_str())) {
        Some(unknown) => Err(ApiError::invalid(
            "body",
            format!(
                "unknown field {unknown:?}; expected one of {}",
                known.join(", ")
            ),
        )),
        None => Ok(()),
    }
}

/// A string field (a JSON string; for `numeric`, a JSON number too, kept digit for digit).
pub fn text(
    body: &Map<String, Value>,
    field: &'static str,
    numeric: bool,
) -> Result<Option<String>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) if numeric => Ok(Some(n.to_string())),
        Some(_) if numeric => Err(ApiError::invalid(
            field,
            "must be a decimal string such as \"10250.00\"",
        )),
        Some(_) => Err(ApiError::invalid(field, "must be a string")),
    }
}

pub fn required(value: Option<String>, field: &'static str) -> Result<String, ApiError> {
    value.ok_or_else(|| ApiError::invalid(field, "is required"))
}

/// The query string as parameters, each at most once, none unknown.
pub struct Query {
    params: BTreeMap<String, String>,
}

impl Query {
    pub fn parse(request: &HttpRequest, known: &[&'static str]) -> Result<Query, ApiError> {
        let mut params = BTreeMap::new();
        for (key, value) in url::form_urlencoded::parse(request.query_string().as_bytes()) {
            let Some(name) = known.iter().find(|k| **k == key) else {
                return Err(ApiError::invalid(
                    "query",
                    format!(
                        "unknown parameter {key:?}; expected one of {}",
                        known.join(", ")
                    ),
                ));
            };
            if params
                .insert(key.into_owned(), value.into_owned())
                .is_some()
            {
                return Err(ApiError::invalid(name, "given more than once"));
            }
        }
        Ok(Query { params })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// `limit`: 1 to `max`, `default` when absent.
    pub fn limit(&self, default: u32, max: u32) -> Result<i64, ApiError> {
        match self.get("limit") {
            None => Ok(default.min(max).into()),
            Some(text) => match text.parse::<u32>() {
                Ok(n) if (1..=max).contains(&n) => Ok(n.into()),
                _ => Err(ApiError::invalid(
                    "limit",
                    format!("must be a whole number from 1 to {max}"),
                )),
            },
        }
    }
}

/// An RFC 3339 instant (`2026-11-30T09:00:00Z`).
pub fn instant(value: &str, field: &'static str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            ApiError::invalid(
                field,
                "must be an RFC 3339 time such as 2026-11-30T09:00:00Z",
            )
        })
}
