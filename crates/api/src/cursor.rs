//! Opaque cursors: a list's position (the last row's sort time and id), tagged with the list it
//! belongs to, in URL-safe base64. Opaque so that callers pass them back unchanged and the
//! ordering can change without breaking them; tagged so that an events cursor given to the
//! collections list is refused, not misread.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::DateTime;
use persistence::{Collection, Cursor, EventSummary, NotificationEntry};
use uuid::Uuid;

use crate::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List {
    Collections,
    /// The console's collections, latest change first: a cursor of its own, so that one from
    /// the API's order is refused rather than read backwards.
    CollectionsNewestFirst,
    Events,
    Notifications,
}

impl List {
    fn tag(self) -> &'static str {
        match self {
            List::Collections => "c1",
            List::CollectionsNewestFirst => "c2",
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

/// A row of a keyset list: which list, and where the row stands in it.
pub trait Listed {
    const LIST: List;
    fn position(&self) -> Cursor;
}

impl Listed for Collection {
    const LIST: List = List::Collections;
    fn position(&self) -> Cursor {
        Cursor {
            at: self.updated_at,
            id: self.id,
        }
    }
}

impl Listed for EventSummary {
    const LIST: List = List::Events;
    fn position(&self) -> Cursor {
        Cursor {
            at: self.received_at,
            id: self.id,
        }
    }
}

impl Listed for NotificationEntry {
    const LIST: List = List::Notifications;
    fn position(&self) -> Cursor {
        Cursor {
            at: self.notification.created_at,
            id: self.notification.id,
        }
    }
}

/// One page of a keyset list, read with one row more than `limit`: whether more follow is then
/// known without a count.
pub struct Page<T> {
    pub rows: Vec<T>,
    pub has_more: bool,
    /// The list its cursors name: the rows' own, unless read in another order.
    list: List,
}

impl<T: Listed> Page<T> {
    /// The page of `rows`, which were read with `limit + 1`.
    pub fn of(rows: Vec<T>, limit: i64) -> Page<T> {
        Page::of_in(rows, limit, T::LIST)
    }

    /// The same, for rows read in the order of `list` (its cursors say so).
    pub fn of_in(mut rows: Vec<T>, limit: i64, list: List) -> Page<T> {
        let limit = usize::try_from(limit).unwrap_or(0);
        let has_more = rows.len() > limit;
        rows.truncate(limit);
        Page {
            rows,
            has_more,
            list,
        }
    }

    /// The cursor after the last row, when more rows follow.
    pub fn next(&self) -> Option<String> {
        self.last().filter(|_| self.has_more)
    }

    /// The cursor after the last row, whether or not more follow: where a reader of changes
    /// asks again later.
    pub fn last(&self) -> Option<String> {
        self.rows
            .last()
            .map(|row| encode(self.list, row.position()))
    }
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
