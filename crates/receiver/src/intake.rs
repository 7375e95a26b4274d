//! The checks before a delivery is trusted, in the contract's order after the provider lookup:
//! content type, size, signature (with its timestamp), JSON object. Cheap checks first, so an
//! unsigned oversized body costs a header comparison, not a read and an HMAC.

use std::time::Duration;

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
    if is_json_media_type(value) {
        Ok(())
    } else {
        Err(ReceiveError::UnsupportedMediaType)
    }
}

/// Any case, parameters ignored; compared without a lower-cased copy, as it runs per request.
fn is_json_media_type(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
        || essence.len() >= "application/".len() + "+json".len()
            && starts_with_ignore_case(essence, "application/")
            && ends_with_ignore_case(essence, "+json")
}

fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

fn ends_with_ignore_case(text: &str, suffix: &str) -> bool {
    text.len()
        .checked_sub(suffix.len())
        .and_then(|start| text.get(start..))
        .is_some_and(|tail| tail.eq_ignore_ascii_case(suffix))
}

/// Reads the body, refusing at once when `Content-Length` announces more than `limit`, and
/// otherwise stopping as soon as more than `limit` bytes arrived.
/// The body, refused past `limit` bytes or when it is not all there within `deadline`.
pub async fn read_body(
    request: &HttpRequest,
    payload: Payload,
    limit: usize,
    deadline: Duration,
) -> Result<Bytes, ReceiveError> {
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|len| len > limit as u64) {
        return Err(ReceiveError::PayloadTooLarge { limit });
    }
    let read = tokio::time::timeout(deadline, payload.to_bytes_limited(limit));
    match read.await {
        Ok(Ok(Ok(body))) => Ok(body),
        Ok(Ok(Err(e))) => Err(ReceiveError::UnreadableBody(e.to_string())),
        Ok(Err(_)) => Err(ReceiveError::PayloadTooLarge { limit }),
        Err(_) => Err(ReceiveError::RequestTimeout {
            secs: deadline.as_secs(),
        }),
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

/// A body that passed the JSON check.
#[derive(Debug)]
pub struct ParsedBody {
    pub payload: Value,
    /// Whether NUL characters were replaced, so that the body's text is no longer the document
    /// to store (see [`replace_nul`]).
    pub nul_replaced: bool,
}

pub fn parse_object(body: &[u8]) -> Result<ParsedBody, ReceiveError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(mut payload @ Value::Object(_)) => {
            // JSON writes U+0000 only as the escape `\u0000` (a raw control character is
            // invalid), so a body without that text holds none and is not walked.
            let nul_replaced = may_hold_nul(body) && replace_nul(&mut payload);
            if nul_replaced {
                tracing::warn!(
                    "payload holds NUL characters (\\u0000): stored with U+FFFD in their place"
                );
            }
            Ok(ParsedBody {
                payload,
                nul_replaced,
            })
        }
        Ok(_) => Err(ReceiveError::InvalidJson(
            "expected an object at the top level".to_owned(),
        )),
        Err(e) => Err(ReceiveError::InvalidJson(e.to_string())),
    }
}

/// False only when the body cannot hold an escaped NUL. `\\u0000` (an escaped backslash, then
/// text) also says true; the walk then finds nothing.
fn may_hold_nul(body: &[u8]) -> bool {
    body.contains(&b'\\') && body.windows(6).any(|w| w == b"\\u0000")
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
        let parsed = parse_object(body).unwrap();
        assert!(parsed.nul_replaced);
        let value = parsed.payload;
        assert_eq!(value["a"], "x\u{FFFD}y");
        assert_eq!(value["n\u{FFFD}k"][1], "\u{FFFD}");
        assert_eq!(value["ok"], "plain");
        assert!(!value.to_string().contains("\\u0000"));
    }

    #[test]
    fn json_media_types_in_any_case_with_parameters() {
        for json in [
            "application/json",
            "APPLICATION/JSON; charset=utf-8",
            " application/json ",
            "application/cloudevents+json",
            "Application/Vnd.Api+JSON;v=1",
            "application/+json",
        ] {
            assert!(is_json_media_type(json), "{json}");
        }
        for other in [
            "",
            "text/plain",
            "application/jsonx",
            "application/x-www-form-urlencoded",
            "text/+json",
            "application/json+xml",
            "application/",
            "applicatio/+json",
        ] {
            assert!(!is_json_media_type(other), "{other}");
        }
    }

    #[test]
    fn a_body_without_nul_is_kept_as_it_came() {
        for body in [
            &br#"{"a":"x","n":[1,2]}"#[..],
            br#"{"path":"C:\\u0000dir"}"#, // an escaped backslash, then text
        ] {
            let parsed = parse_object(body).unwrap();
            assert!(!parsed.nul_replaced, "{}", String::from_utf8_lossy(body));
        }
    }
}
