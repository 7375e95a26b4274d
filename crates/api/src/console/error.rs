//! How a console page refuses: the same causes as the API's, answered as pages. Without a
//! session the browser is sent to the sign-in page; a storage outage is 503 with `Retry-After`,
//! never the operator's fault; internal detail is logged where it happens, never shown.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use askama::Template;
use inbox_config::Scope;
use inbox_web::RETRY_AFTER_SECS;

use crate::error::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("sign in first")]
    SignIn,
    #[error(
        "this form has expired or did not come from this console; reload the page and try again"
    )]
    Csrf,
    #[error("the key you signed in with lacks the {} scope", .0.as_str())]
    Forbidden(Scope),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("the database cannot be reached; retry in a moment")]
    Unavailable,
    /// Our fault (a page that cannot be drawn); the detail is logged where it happens.
    #[error("this page could not be drawn")]
    Internal,
}

impl From<ApiError> for ConsoleError {
    fn from(err: ApiError) -> ConsoleError {
        match err {
            ApiError::Unauthorized => ConsoleError::SignIn,
            ApiError::Forbidden(scope) => ConsoleError::Forbidden(scope),
            ApiError::NotFound(what) => ConsoleError::NotFound(what),
            ApiError::StorageUnavailable => ConsoleError::Unavailable,
            other => ConsoleError::Invalid(other.to_string()),
        }
    }
}

impl From<persistence::StoreError> for ConsoleError {
    fn from(err: persistence::StoreError) -> ConsoleError {
        ApiError::from(err).into()
    }
}

#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage<'a> {
    status: u16,
    message: &'a str,
}

impl ResponseError for ConsoleError {
    fn status_code(&self) -> StatusCode {
        match self {
            ConsoleError::SignIn => StatusCode::SEE_OTHER,
            ConsoleError::Csrf | ConsoleError::Forbidden(_) => StatusCode::FORBIDDEN,
            ConsoleError::NotFound(_) => StatusCode::NOT_FOUND,
            ConsoleError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ConsoleError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ConsoleError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ConsoleError::SignIn = self {
            return HttpResponse::SeeOther()
                .insert_header((header::LOCATION, "/console/login"))
                .finish();
        }
        let mut response = HttpResponse::build(self.status_code());
        if let ConsoleError::Unavailable = self {
            response.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECS.to_string()));
        }
        let message = self.to_string();
        let page = ErrorPage {
            status: self.status_code().as_u16(),
            message: &message,
        };
        match page.render() {
            Ok(html) => response.content_type(super::HTML).body(html),
            Err(_) => response
                .content_type("text/plain; charset=utf-8")
                .body(message),
        }
    }
}
