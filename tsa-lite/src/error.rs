//! The crate's one error type and its single mapping to HTTP.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Everything that can go wrong running the authority or answering a request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("configuration: {0}")]
    Config(String),
    #[error("the content type must be application/timestamp-query or application/json, not {0:?}")]
    UnsupportedMediaType(String),
    #[error("the request body is larger than the {limit}-byte limit")]
    BodyTooLarge { limit: usize },
    #[error("the request is not valid: {0}")]
    BadRequest(String),
    #[error("the request was refused: {0}")]
    Refused(crate::refusal::Refusal),
    /// The signing key (in a token or behind a KMS plugin) cannot sign at the moment.
    #[error("the timestamping key is unavailable: {0}")]
    KeyUnavailable(String),
}

impl Error {
    fn status_and_reason(&self) -> (StatusCode, &'static str) {
        match self {
            Error::Config(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            Error::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            Error::BodyTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
            Error::BadRequest(_) => (StatusCode::BAD_REQUEST, "malformed_request"),
            Error::Refused(r) => (StatusCode::BAD_REQUEST, r.reason()),
            Error::KeyUnavailable(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "signing_key_unavailable")
            }
        }
    }
}

/// `{"code": <HTTP status>, "message": "<one sentence>", "reason": "<stable name>"}`.
impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (status, reason) = self.status_and_reason();
        let message = match &self {
            Error::Config(detail) => {
                tracing::error!(%detail, "internal error");
                "internal error".to_string()
            }
            Error::KeyUnavailable(detail) => {
                tracing::error!(%detail, "the signing key is unavailable");
                "the timestamping key is unavailable; retry later".to_string()
            }
            other => other.to_string(),
        };
        sigstore_lite_server::json_error(status, reason, &message)
    }
}
