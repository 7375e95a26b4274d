//! Every way a delivery can be refused, each with its HTTP status and error code. Client mistakes
//! are 4xx; failing to record is 503 with `Retry-After`, never a 4xx: the provider must retry.
//! Internal details (database errors) are logged, never sent to the client.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use domain::signature::SignatureError;

pub use inbox_web::{error_body, RETRY_AFTER_SECS};

#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    #[error("no provider named {0:?} is configured")]
    UnknownProvider(String),
    #[error("the body must be JSON (Content-Type application/json or */*+json)")]
    UnsupportedMediaType,
    #[error("the body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    Signature(#[from] SignatureError),
    #[error("the body is not a JSON object: {0}")]
    InvalidJson(String),
    #[error("the body could not be read: {0}")]
    UnreadableBody(String),
    #[error("the body did not arrive within {secs} s")]
    RequestTimeout { secs: u64 },
    /// The detail is logged where it happens; the client learns only that it should retry.
    #[error("the event could not be recorded; retry later")]
    StorageUnavailable,
}

impl ReceiveError {
    /// The `error.code` of the answer, also the `outcome` label of the request metric.
    pub fn code(&self) -> &'static str {
        match self {
            ReceiveError::UnknownProvider(_) => "unknown_provider",
            ReceiveError::UnsupportedMediaType => "unsupported_media_type",
            ReceiveError::PayloadTooLarge { .. } => "payload_too_large",
            ReceiveError::Signature(e) => e.code(),
            ReceiveError::InvalidJson(_) | ReceiveError::UnreadableBody(_) => "invalid_json",
            ReceiveError::RequestTimeout { .. } => "request_timeout",
            ReceiveError::StorageUnavailable => "storage_unavailable",
        }
    }

    /// Every code an answer of the receiver can carry, `not_found` (no such endpoint) included;
    /// docs/openapi.yaml lists the same, checked by a test.
    pub const CODES: [&'static str; 10] = [
        "unknown_provider",
        "unsupported_media_type",
        "payload_too_large",
        "missing_signature",
        "invalid_signature",
        "timestamp_out_of_tolerance",
        "invalid_json",
        "request_timeout",
        "storage_unavailable",
        "not_found",
    ];
}

impl ResponseError for ReceiveError {
    fn status_code(&self) -> StatusCode {
        match self {
            ReceiveError::UnknownProvider(_) => StatusCode::NOT_FOUND,
            ReceiveError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ReceiveError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ReceiveError::Signature(_) => StatusCode::UNAUTHORIZED,
            ReceiveError::InvalidJson(_) | ReceiveError::UnreadableBody(_) => {
                StatusCode::BAD_REQUEST
            }
            ReceiveError::RequestTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            ReceiveError::StorageUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if matches!(self, ReceiveError::StorageUnavailable) {
            response.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECS.to_string()));
        }
        if matches!(self, ReceiveError::RequestTimeout { .. }) {
            // The rest of the body may still be on its way: this connection is done.
            response.insert_header((header::CONNECTION, "close"));
        }
        response.json(error_body(self.code(), &self.to_string()))
    }
}
