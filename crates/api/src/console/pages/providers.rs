//! `/console/providers`: who may send us webhooks, and how each is verified: preset, signature
//! scheme and the names of the variables holding its secrets (never their values).

use actix_web::{web, HttpResponse};
use askama::Template;

use crate::console::error::ConsoleError;
use crate::console::session::Operator;
use crate::console::{page, Chrome, Console, ProviderView};

#[derive(Template)]
#[template(path = "console/providers.html")]
struct Providers<'a> {
    chrome: Chrome,
    providers: &'a [ProviderView],
}

pub async fn show(
    operator: Operator,
    console: web::Data<Console>,
) -> Result<HttpResponse, ConsoleError> {
    page(&Providers {
        chrome: Chrome::of(&operator, "providers"),
        providers: &console.providers,
    })
}
