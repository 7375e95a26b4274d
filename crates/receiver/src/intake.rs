//! The checks before a delivery is trusted, in the contract's order after the provider lookup:
//! content type, size, signature (with its timestamp), JSON object. Cheap checks first, so an
//! unsigned oversized body costs a header comparison, not a read and an HMAC.

use actix_web::http::header::{self, HeaderMap};
use actix_web::web::{Bytes, Payload};
use actix_web::HttpRequest;
use domain::signature::{self, HeaderLookup, Verified};
use inbox_config::Provider;
use serde_json::Value;

use crate::error::ReceiveError;

/// `application/json`, or any `application/<subtype>+json`, parameters allowed.
pub fn check_content_type(request: &HttpRequest) -> Result<(), ReceiveError> {
    let value = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .ok_or(ReceiveError::UnsupportedMediaType)?;
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let json = essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|subtype| subtype.ends_with("+json"));
    if json {
        Ok(())
    } else {
        Err(ReceiveError::UnsupportedMediaType)
    }
}

/// Reads the body, refusing at once when `Content-Length` announces more than `limit`, and
/// otherwise stopping as soon as more than `limit` bytes arrived.
pub async fn read_body(
    request: &HttpRequest,
    payload: Payload,
    limit: usize,
) -> Result<Bytes, ReceiveError> {
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|len| len > limit as u64) {
        return Err(ReceiveError::PayloadTooLarge { limit });
    }
    match payload.to_bytes_limited(limit).await {
        Ok(Ok(body)) => Ok(body),
        Ok(Err(e)) => Err(ReceiveError::UnreadableBody(e.to_string())),
        Err(_) => Err(ReceiveError::PayloadTooLarge { limit }),
    }
}

/// Actix's header map, for the signature schemes (its lookups ignore case already).
pub struct RequestHeaders<'a>(pub &'a HeaderMap);

impl HeaderLookup for RequestHeaders<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(|v| v.to_str().ok())
    }
}

pub fn verify_signature(
    provider: &Provider,
    request: &HttpRequest,
    body: &[u8],
    now: i64,
) -> Result<Verified, ReceiveError> {
    let headers = RequestHeaders(request.headers());
    Ok(signature::verify(
        &provider.scheme,
        &provider.secrets,
        &headers,
        body,
        now,
    )?)
}

pub fn parse_object(body: &[u8]) -> Result<Value, ReceiveError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(mut value @ Value::Object(_)) => {
            if replace_nul(&mut value) {
                tracing::warn!(
                    "payload holds NUL characters (\\u0000): stored with U+FFFD in their place"
                );
            }
            Ok(value)
        }
        Ok(_) => Err(ReceiveError::InvalidJson(
            "expected an object at the top level".to_owned(),
        )),
        Err(e) => Err(ReceiveError::InvalidJson(e.to_string())),
    }
}

/// PostgreSQL's jsonb cannot hold U+0000, so such a payload could never be recorded and its
/// provider would retry for ever. Valid JSON may carry it (`"\u0000"`); it is replaced by U+FFFD,
/// on both backends alike. The signature was checked on the raw body before. Returns whether
/// anything was replaced.
fn replace_nul(value: &mut Value) -> bool {
    const NUL: char = '\u{0}';
    const REPLACEMENT: &str = "\u{FFFD}";
    match value {
        Value::String(s) if s.contains(NUL) => {
            *s = s.replace(NUL, REPLACEMENT);
            true
        }
        Value::Array(items) => items.iter_mut().fold(false, |any, v| replace_nul(v) | any),
        Value::Object(map) => {
            let keys: Vec<String> = map.keys().filter(|k| k.contains(NUL)).cloned().collect();
            for key in &keys {
                if let Some(v) = map.remove(key) {
                    map.insert(key.replace(NUL, REPLACEMENT), v);
                }
            }
            let nested = map.values_mut().fold(false, |any, v| replace_nul(v) | any);
            nested || !keys.is_empty()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_characters_are_replaced_everywhere() {
        let body = br#"{"a":"x\u0000y","n\u0000k":[1,"\u0000"],"ok":"plain"}"#;
        let value = parse_object(body).unwrap();
        assert_eq!(value["a"], "x\u{FFFD}y");
        assert_eq!(value["n\u{FFFD}k"][1], "\u{FFFD}");
        assert_eq!(value["ok"], "plain");
        assert!(!value.to_string().contains("\\u0000"));
    }
}
