//! `/console/providers`: who may send us webhooks, how each is verified (preset, signature
//! scheme, the names of the variables holding its secrets, never their values), and how the
//! receivers answered each in the last hour: accepted, duplicate, refused by code.

use actix_web::{web, HttpResponse};
use askama::Template;
use persistence::{intake_counts_since, now, run_blocking, UNKNOWN_PROVIDER};

use crate::console::error::ConsoleError;
use crate::console::session::Operator;
use crate::console::traffic::{by_provider, window_start, Kind, Traffic, WINDOW_MINUTES};
use crate::console::{page, Chrome, Console, ProviderView};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "console/providers.html")]
struct Providers<'a> {
    chrome: Chrome,
    providers: &'a [ProviderView],
    window_min: usize,
    /// Every provider with answers or configured, configured ones first.
    traffic: Vec<Rates>,
}

/// One provider's answers in the window, as the table shows them.
struct Rates {
    provider: String,
    /// Why a row is not a configured provider, or "".
    note: &'static str,
    accepted: i64,
    duplicate: i64,
    refused: i64,
    unavailable: i64,
    refused_share: String,
    refusals: Vec<(String, i64)>,
}

impl From<Traffic> for Rates {
    fn from(t: Traffic) -> Rates {
        Rates {
            accepted: t.total(Kind::Accepted),
            duplicate: t.total(Kind::Duplicate),
            refused: t.total(Kind::Refused),
            unavailable: t.total(Kind::Unavailable),
            refused_share: t.refused_share(),
            note: match (t.configured, t.provider == UNKNOWN_PROVIDER) {
                (true, _) => "",
                (false, true) => "every name that is not configured",
                (false, false) => "not configured in this api process",
            },
            provider: t.provider,
            refusals: t.refusals,
        }
    }
}

pub async fn show(
    operator: Operator,
    state: web::Data<AppState>,
    console: web::Data<Console>,
) -> Result<HttpResponse, ConsoleError> {
    let start = window_start(now());
    let rows = run_blocking(&state.pool, move |conn| intake_counts_since(conn, start)).await?;
    let configured: Vec<&str> = console.providers.iter().map(|p| p.name.as_str()).collect();
    page(&Providers {
        chrome: Chrome::of(&operator, "providers"),
        providers: &console.providers,
        window_min: WINDOW_MINUTES,
        traffic: by_provider(&rows, &configured, start)
            .into_iter()
            .map(Rates::from)
            .collect(),
    })
}
