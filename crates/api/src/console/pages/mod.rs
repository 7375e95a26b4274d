//! One module per console section. Each page reads through `persistence` in `run_blocking`
//! (never on the async threads) and renders a template; each action checks the CSRF token, then
//! the scope, then acts and redirects back (post/redirect/get).

pub mod collections;
pub mod events;
pub mod notifications;
pub mod overview;
pub mod providers;

use serde_json::Value;

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
