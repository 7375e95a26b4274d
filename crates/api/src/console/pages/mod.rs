//! One module per console section. Each page reads through `persistence` in `run_blocking`
//! (never on the async threads) and renders a template; each action checks the CSRF token, then
//! the scope, then acts and redirects back (post/redirect/get).

pub mod collections;
pub mod events;
pub mod notifications;
pub mod overview;
pub mod providers;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::Value;

use crate::console::error::ConsoleError;

/// A payload as text for a `<pre>`: indented JSON. The template escapes it like any other value.
pub fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// One `<option>` of a filter's `<select>`.
pub struct Choice {
    pub value: &'static str,
    pub selected: bool,
}

/// The options of a filter, the current one selected; "" is "any".
pub fn choices(values: &[&'static str], current: &str) -> Vec<Choice> {
    std::iter::once("")
        .chain(values.iter().copied())
        .map(|value| Choice {
            value,
            selected: value.eq_ignore_ascii_case(current),
        })
        .collect()
}

/// A query parameter as given, "" when absent.
pub fn given(value: &Option<String>) -> &str {
    value.as_deref().map(str::trim).unwrap_or("")
}

/// A time filter as a browser's `datetime-local` field sends it (`2026-11-30T09:15`, seconds
/// optional), read as UTC (the console shows every time in UTC), or an RFC 3339 instant with its
/// offset; "" is no filter.
pub fn parse_when(field: &str, text: &str) -> Result<Option<DateTime<Utc>>, ConsoleError> {
    if text.is_empty() {
        return Ok(None);
    }
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(Some(at.with_timezone(&Utc)));
    }
    [
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d %H:%M:%S",
    ]
    .iter()
    .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
    .map(|naive| Some(naive.and_utc()))
    .ok_or_else(|| {
        ConsoleError::Invalid(format!(
            "{field}: a UTC date and time such as 2026-11-30T09:15, or an RFC 3339 instant"
        ))
    })
}

/// How a time filter is shown back in its `datetime-local` field.
pub fn when_field(at: Option<DateTime<Utc>>) -> String {
    at.map(|at| at.format("%Y-%m-%dT%H:%M:%S").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_filters_read_a_browser_field_as_utc() {
        let at = parse_when("from", "2026-11-30T09:15").unwrap().unwrap();
        assert_eq!(at.to_rfc3339(), "2026-11-30T09:15:00+00:00");
        let at = parse_when("from", "2026-11-30T09:15:30").unwrap().unwrap();
        assert_eq!(when_field(Some(at)), "2026-11-30T09:15:30");
        let at = parse_when("from", "2026-11-30T10:15:00+01:00")
            .unwrap()
            .unwrap();
        assert_eq!(at.to_rfc3339(), "2026-11-30T09:15:00+00:00");
        assert_eq!(parse_when("from", "").unwrap(), None);
        let refused = parse_when("updated from", "yesterday").unwrap_err();
        assert!(refused.to_string().contains("updated from"), "{refused}");
    }
}
