//! Every way the API refuses a request, each with its status and `error.code`. The shape is the
//! receiver's, `{"error":{"code","message"}}`, plus `field` for invalid input and `fields` for a
//! conflict. A database that cannot answer is 503 with `Retry-After`, never a 4xx or a 500; its
//! detail is logged, never sent.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use inbox_config::Scope;
use inbox_web::RETRY_AFTER_SECS;
use persistence::StoreError;
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("a valid API key is required: Authorization: Bearer <key>")]
    Unauthorized,
    #[error("this API key lacks the {} scope", .0.as_str())]
    Forbidden(Scope),
    #[error("{0}")]
    NotFound(String),
    /// The request asks for something that contradicts what is stored.
    #[error("{message}")]
    Conflict {
        message: String,
        fields: Vec<&'static str>,
    },
    /// A field of the body or the query is missing, of the wrong type, or out of range.
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("the body is not a JSON object: {0}")]
    InvalidJson(String),
    #[error("the body must be JSON (Content-Type application/json)")]
    UnsupportedMediaType,
    #[error("the body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("the request did not arrive within {0} s")]
    RequestTimeout(u64),
    /// The detail is logged where it happens.
    #[error("the database cannot be reached; retry later")]
    StorageUnavailable,
    #[error("{0} is not served here")]
    MethodNotAllowed(String),
}

impl ApiError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::Invalid {
            field,
            message: message.into(),
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthorized => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict { .. } => "conflict",
            ApiError::Invalid { .. } => "invalid_request",
            ApiError::InvalidJson(_) => "invalid_json",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::RequestTimeout(_) => "request_timeout",
            ApiError::StorageUnavailable => "storage_unavailable",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
        }
    }

    /// Every code an answer of the API can carry; docs/host-api.openapi.yaml lists the same,
    /// checked by a test.
    pub const CODES: [&'static str; 11] = [
        "unauthorized",
        "forbidden",
        "not_found",
        "conflict",
        "invalid_request",
        "invalid_json",
        "unsupported_media_type",
        "payload_too_large",
        "request_timeout",
        "storage_unavailable",
        "method_not_allowed",
    ];
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> ApiError {
        match err {
            StoreError::NotFound(what) => ApiError::NotFound(format!("{what} not found")),
            StoreError::Conflict(message) => ApiError::Conflict {
                message,
                fields: Vec::new(),
            },
            other => {
                tracing::error!(error = %other, "database work failed");
                ApiError::StorageUnavailable
            }
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::InvalidJson(_) => StatusCode::BAD_REQUEST,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::StorageUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        match self {
            ApiError::StorageUnavailable => {
                response.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECS.to_string()));
            }
            ApiError::Unauthorized => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            ApiError::RequestTimeout(_) => {
                response.insert_header((header::CONNECTION, "close"));
            }
            _ => {}
        }
        let mut body = json!({"code": self.code(), "message": self.to_string()});
        match self {
            ApiError::Invalid { field, .. } => body["field"] = json!(field),
            ApiError::Conflict { fields, .. } if !fields.is_empty() => {
                body["fields"] = json!(fields)
            }
            _ => {}
        }
        response.json(json!({ "error": body }))
    }
}
