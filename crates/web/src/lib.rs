//! What the HTTP services (the receiver and the host API) share, so that they answer alike:
//! `X-Request-Id`, the error shape `{"error":{"code","message"}}`, `/healthz`, `/readyz` (a pooled
//! `SELECT 1` under a deadline) and `/metrics` on a listener of its own.

pub mod health;
pub mod metrics_listener;
pub mod request_id;

use serde_json::json;
use uuid::{Builder, Uuid};

/// Seconds a client is asked to wait before retrying after a 503.
pub const RETRY_AFTER_SECS: u32 = 5;

/// The body of every error answer.
pub fn error_body(code: &str, message: &str) -> serde_json::Value {
    json!({"error": {"code": code, "message": message}})
}

/// `text` cut to at most `max` bytes (at a character boundary), with `…` when cut: what a caller
/// sent (a path, a name) is echoed in answers and logs only this far, so one request cannot
/// write a 64 KiB log line.
pub fn clip(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if text.len() <= max {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    std::borrow::Cow::Owned(format!("{}…", &text[..end]))
}

/// How much of a caller's path or name answers and logs repeat.
pub const ECHO_LIMIT: usize = 256;

/// A random (version 4) UUID from the thread's cryptographically secure generator (`rand::rng()`,
/// seeded from the OS) instead of one `getrandom` system call per id.
pub fn random_uuid() -> Uuid {
    Builder::from_random_bytes(rand::random()).into_uuid()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_clipped_at_a_character_boundary() {
        assert_eq!(clip("short", 10), "short");
        assert_eq!(clip("abcdef", 3), "abc…");
        assert_eq!(clip("ééé", 3), "é…", "a two-byte character is not split");
    }

    #[test]
    fn request_ids_are_version_4_and_differ() {
        let (a, b) = (random_uuid(), random_uuid());
        assert_eq!(a.get_version_num(), 4);
        assert_eq!(a.get_variant(), uuid::Variant::RFC4122);
        assert_ne!(a, b);
    }
}
