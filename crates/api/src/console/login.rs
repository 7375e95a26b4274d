//! Signing in and out. The sign-in form takes an API key; a key with the `read` scope opens a
//! session (a new random id every time, stored in the database), whose id is the only thing the
//! browser keeps. The key is checked exactly as the API checks a bearer key, and never stored or
//! logged.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use inbox_config::Scope;
use serde::Deserialize;

use super::error::ConsoleError;
use super::session::{self, Operator};
use super::{csrf, see_other, Console, HTML};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "console/login.html")]
struct LoginPage<'a> {
    csrf: &'a str,
    refusal: Option<&'a str>,
}

fn login_page(
    request: &HttpRequest,
    console: &Console,
    status: actix_web::http::StatusCode,
    refusal: Option<&str>,
) -> Result<HttpResponse, ConsoleError> {
    let token = session::random_token();
    let html = LoginPage {
        csrf: &token,
        refusal,
    }
    .render()
    .map_err(|e| {
        tracing::error!(error = %e, "the console's sign-in page failed to render");
        ConsoleError::Internal
    })?;
    Ok(HttpResponse::build(status)
        .cookie(session::cookie(request, console, csrf::LOGIN_COOKIE, token))
        .content_type(HTML)
        .body(html))
}

/// `GET /console/login`: the form, with a fresh token in the form and in a cookie; the overview
/// when signed in already; 503 when the database cannot say which.
pub async fn form(
    request: HttpRequest,
    console: web::Data<Console>,
    operator: Result<Operator, ConsoleError>,
) -> Result<HttpResponse, ConsoleError> {
    match operator {
        Ok(_) => Ok(see_other("/console/".into())),
        Err(ConsoleError::SignIn) => {
            login_page(&request, &console, actix_web::http::StatusCode::OK, None)
        }
        Err(other) => Err(other),
    }
}

#[derive(Deserialize)]
pub struct SignIn {
    #[serde(default)]
    key: String,
    #[serde(default)]
    csrf: String,
}

/// `POST /console/login`: 403 without the form's token, 401 with the form again for a key that
/// is not one, 403 for a key without `read`; otherwise a session and the overview.
pub async fn sign_in(
    request: HttpRequest,
    form: web::Form<SignIn>,
    state: web::Data<AppState>,
    console: web::Data<Console>,
) -> Result<HttpResponse, ConsoleError> {
    let expected = request
        .cookie(csrf::LOGIN_COOKIE)
        .map(|c| c.value().to_owned())
        .unwrap_or_default();
    if !csrf::matches(&expected, &form.csrf) {
        return Err(ConsoleError::Csrf);
    }
    let Some((caller, key)) = state.keys.sign_in(form.key.trim()) else {
        tracing::info!("console sign-in refused: not a key");
        return login_page(
            &request,
            &console,
            actix_web::http::StatusCode::UNAUTHORIZED,
            Some("That is not an API key of this service."),
        );
    };
    if !caller.has(Scope::Read) {
        tracing::info!(key = %caller.name, "console sign-in refused: no read scope");
        return Err(ConsoleError::Forbidden(Scope::Read));
    }
    let id = session::open(&state.pool, key).await?;
    tracing::info!(key = %caller.name, "console sign-in");
    Ok(HttpResponse::SeeOther()
        .insert_header((actix_web::http::header::LOCATION, "/console/"))
        .cookie(session::cookie(&request, &console, session::COOKIE, id))
        .cookie(session::removal(&request, &console, csrf::LOGIN_COOKIE))
        .finish())
}

#[derive(Deserialize)]
pub struct SignOut {
    #[serde(default)]
    csrf: String,
}

/// `POST /console/logout`: the session's row is deleted (so no replica opens it again) and its
/// cookie expired.
pub async fn sign_out(
    request: HttpRequest,
    operator: Operator,
    form: web::Form<SignOut>,
    state: web::Data<AppState>,
    console: web::Data<Console>,
) -> Result<HttpResponse, ConsoleError> {
    operator.check_csrf(&form.csrf)?;
    session::close(&state.pool, &operator.session).await?;
    tracing::info!(key = %operator.caller.name, "console sign-out");
    Ok(HttpResponse::SeeOther()
        .insert_header((actix_web::http::header::LOCATION, "/console/login"))
        .cookie(session::removal(&request, &console, session::COOKIE))
        .finish())
}
