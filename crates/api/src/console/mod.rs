//! The operator console at `/console/`: server-rendered pages (askama templates, checked when the
//! crate compiles, HTML-escaped by default) over the same queries and actions as the `/v1` API,
//! signed in with an API key. It owns sessions, CSRF tokens and the pages' security headers; it
//! must never render stored data unescaped (payloads are attacker-controlled) nor serve a page
//! without `SECURITY_HEADERS`. docs/console.md is the guide.

pub mod chart;
pub mod csrf;
pub mod error;
mod login;
mod pages;
pub mod session;
pub mod traffic;

use actix_web::http::header;
use actix_web::middleware::DefaultHeaders;
use actix_web::{web, HttpResponse};
use askama::Template;
use domain::signature::Scheme;
use inbox_config::Settings;

use self::error::ConsoleError;

pub const HTML: &str = "text/html; charset=utf-8";

/// On every console answer. No script is shipped, so none may run; styles come from our own
/// stylesheet only; forms post back here only; no page may be framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; \
     img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const STYLESHEET: &str = include_str!("../../assets/console.css");

/// What the console's handlers share besides the API's state.
/// Sessions are not here: they live in the database, shared by every replica (`session`).
pub struct Console {
    pub providers: Vec<ProviderView>,
    /// `[api] console_secure_cookie`: mark cookies `Secure` whatever the request says.
    pub secure_cookie: bool,
    /// The overview's whole-table totals, counted at most once a `pages::overview::TOTALS_TTL`.
    pub totals: pages::overview::TotalsCache,
}

impl Console {
    pub fn new(settings: &Settings) -> Console {
        let providers = settings
            .providers
            .iter()
            .map(|(name, provider)| {
                let scheme = provider
                    .signature
                    .clone()
                    .unwrap_or_else(|| provider.preset.scheme());
                ProviderView {
                    events_href: format!("/console/events?provider={}", encode(name)),
                    name: name.clone(),
                    preset: provider.preset.name(),
                    unsigned: matches!(scheme, Scheme::None),
                    scheme: describe(&scheme),
                    secret_names: provider.secrets.clone(),
                }
            })
            .collect();
        Console {
            providers,
            secure_cookie: settings.api.console_secure_cookie,
            totals: pages::overview::TotalsCache::default(),
        }
    }
}

/// A configured provider as the console shows it: the *names* of the environment variables
/// holding its secrets, never their values (the API process does not even read them).
pub struct ProviderView {
    pub name: String,
    pub events_href: String,
    pub preset: &'static str,
    pub scheme: String,
    pub unsigned: bool,
    pub secret_names: Vec<String>,
}

fn describe(scheme: &Scheme) -> String {
    match scheme {
        Scheme::Hmac(hmac) => format!("HMAC of the body, in {}", hmac.headers.join(" or ")),
        Scheme::Stripe(_) => "Stripe-Signature (timestamped HMAC-SHA256)".to_owned(),
        Scheme::StandardWebhooks(_) => {
            "Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature)".to_owned()
        }
        Scheme::StaticToken(_) => "a static token in a header (does not protect the body)".into(),
        Scheme::None => "none: unsigned requests are accepted".to_owned(),
    }
}

/// The page frame's data: who is signed in, the sign-out form's token, the current section.
pub struct Chrome {
    pub key: String,
    pub admin: bool,
    pub csrf: String,
    pub section: &'static str,
}

impl Chrome {
    pub fn of(operator: &session::Operator, section: &'static str) -> Chrome {
        Chrome {
            key: operator.caller.name.to_string(),
            admin: operator.is_admin(),
            csrf: operator.csrf().to_owned(),
            section,
        }
    }
}

/// A rendered page, 200.
pub fn page(template: &impl Template) -> Result<HttpResponse, ConsoleError> {
    let html = template.render().map_err(|e| {
        tracing::error!(error = %e, "a console template failed to render");
        ConsoleError::Internal
    })?;
    Ok(HttpResponse::Ok().content_type(HTML).body(html))
}

/// After a successful POST: back to a page (post/redirect/get).
pub fn see_other(location: String) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// A path segment (or query value) with everything but unreserved characters escaped.
pub fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "max-age=3600"))
        .body(STYLESHEET)
}

/// The `/console` scope: every page, the stylesheet, and the headers on all of them.
pub fn scope() -> impl actix_web::dev::HttpServiceFactory {
    web::scope("/console")
        .wrap(
            DefaultHeaders::new()
                .add((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
                .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
                .add((header::REFERRER_POLICY, "no-referrer"))
                .add((header::X_FRAME_OPTIONS, "DENY"))
                // Pages show payment data: no shared or back-button cache keeps them.
                .add((header::CACHE_CONTROL, "no-store")),
        )
        .route(
            "",
            web::get().to(|| async { see_other("/console/".into()) }),
        )
        .route("/assets/console.css", web::get().to(stylesheet))
        .route("/login", web::get().to(login::form))
        .route("/login", web::post().to(login::sign_in))
        .route("/logout", web::post().to(login::sign_out))
        .route("/", web::get().to(pages::overview::show))
        .route("/collections", web::get().to(pages::collections::list))
        .route(
            "/collections/{request_ref}",
            web::get().to(pages::collections::timeline),
        )
        .route(
            "/collections/{request_ref}/override",
            web::post().to(pages::collections::force),
        )
        .route("/events", web::get().to(pages::events::list))
        .route("/events/replay", web::get().to(pages::events::confirm_many))
        .route("/events/replay", web::post().to(pages::events::replay_many))
        .route("/events/{id}", web::get().to(pages::events::show))
        .route("/events/{id}/replay", web::post().to(pages::events::replay))
        .route("/notifications", web::get().to(pages::notifications::list))
        .route(
            "/notifications/{id}/replay",
            web::post().to(pages::notifications::replay),
        )
        .route("/providers", web::get().to(pages::providers::show))
        .default_service(web::to(not_found))
}

async fn not_found() -> Result<HttpResponse, ConsoleError> {
    Err(ConsoleError::NotFound("no such page".into()))
}
