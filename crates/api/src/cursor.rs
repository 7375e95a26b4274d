//! Opaque cursors: a list's position (the last row's sort time and id), tagged with the list it
//! belongs to, in URL-safe base64. Opaque so that callers pass them back unchanged and the
//! ordering can change without breaking them; tagged so that an events cursor given to the
//! collections list is refused, not misread.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::DateTime;
use persistence::Cursor;
use uuid::Uuid;

use crate::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List {
    Collections,
    Events,
    Notifications,
}

impl List {
    fn tag(self) -> &'static str {
        match self {
            List::Collections => "c1",
            List::Events => "e1",
            List::Notifications => "n1",
        }
    }
}

pub fn encode(list: List, cursor: Cursor) -> String {
    let micros = cursor.at.timestamp_micros();
    URL_SAFE_NO_PAD.encode(format!("{}.{micros}.{}", list.tag(), cursor.id.simple()))
}

pub fn decode(list: List, text: &str) -> Result<Cursor, ApiError> {
    let invalid = || {
        ApiError::invalid(
            "cursor",
            "not a cursor of this list (pass next_cursor back unchanged)",
        )
    };
    let raw = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
    let raw = String::from_utf8(raw).map_err(|_| invalid())?;
    let mut parts = raw.splitn(3, '.');
    if parts.next() != Some(list.tag()) {
        return Err(invalid());
    }
    let micros: i64 = parts
        .next()
        .and_then(|m| m.parse().ok())
        .ok_or_else(invalid)?;
    let id = parts
        .next()
        .and_then(|id| Uuid::parse_str(id).ok())
        .ok_or_else(invalid)?;
    let at = DateTime::from_timestamp_micros(micros).ok_or_else(invalid)?;
    Ok(Cursor { at, id })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_comes_back_as_it_went_and_only_to_its_list() {
        let cursor = Cursor {
            at: DateTime::from_timestamp_micros(1_764_400_000_123_456).unwrap(),
            id: Uuid::new_v4(),
        };
        let text = encode(List::Collections, cursor);
        assert!(text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(decode(List::Collections, &text).unwrap(), cursor);
        assert!(decode(List::Events, &text).is_err());
        assert!(decode(List::Notifications, &text).is_err());
        assert!(decode(List::Collections, "not-a-cursor").is_err());
        assert!(decode(List::Collections, "").is_err());
    }
}
