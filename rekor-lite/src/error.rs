//! The crate's one error type and its single mapping to HTTP.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sigstore_lite_core::rekor::EntryError;

use crate::store::StoreError;

/// Everything that can go wrong serving the log.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Entry(#[from] EntryError),
    #[error("the request body is larger than the {limit}-byte limit")]
    BodyTooLarge { limit: usize },
    #[error("{message}")]
    BadRequest {
        reason: &'static str,
        message: String,
    },
    #[error("{0}")]
    NotFound(String),
    #[error("an equivalent entry already exists in the log at index {index}")]
    Conflict { index: u64, entry_id: String },
    #[error("an equivalent entry already exists in the log at index {index}")]
    ConflictV2 { index: u64 },
    #[error("the log is shutting down")]
    Unavailable,
    /// A log shared by several processes has no reachable integrator at the moment (its
    /// database or the integrating process is down, or a takeover is under way).
    #[error(
        "the log cannot take entries at the moment (no integrator reachable: {0}); retry shortly"
    )]
    NoIntegrator(String),
    #[error("this log server is read-only: send entries to a writing one")]
    ReadOnly,
    /// The log's key (in a token or behind a KMS plugin) cannot sign at the moment.
    #[error("the log's signing key is unavailable: {0}")]
    KeyUnavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Error::Internal(e.0)
    }
}

impl Error {
    pub fn bad_request(reason: &'static str, message: impl Into<String>) -> Self {
        Error::BadRequest {
            reason,
            message: message.into(),
        }
    }

    fn status_and_reason(&self) -> (StatusCode, &'static str) {
        match self {
            Error::Entry(e) => (StatusCode::BAD_REQUEST, e.code()),
            Error::BodyTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
            Error::BadRequest { reason, .. } => (StatusCode::BAD_REQUEST, reason),
            Error::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Error::Conflict { .. } | Error::ConflictV2 { .. } => {
                (StatusCode::CONFLICT, "entry_exists")
            }
            Error::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Error::NoIntegrator(_) => (StatusCode::SERVICE_UNAVAILABLE, "no_integrator"),
            Error::ReadOnly => (StatusCode::METHOD_NOT_ALLOWED, "read_only"),
            Error::KeyUnavailable(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "signing_key_unavailable")
            }
            Error::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

/// Body: `{"code": <HTTP status, as Rekor sends it>, "message": "<one sentence>", "reason":
/// "<stable snake_case name of the failed check>"}`. Internal details are logged, never sent.
impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (status, reason) = self.status_and_reason();
        let message = match &self {
            Error::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                "internal error".to_string()
            }
            Error::KeyUnavailable(detail) => {
                tracing::error!(%detail, "the signing key is unavailable");
                "the log's signing key is unavailable; retry later".to_string()
            }
            other => other.to_string(),
        };
        let mut resp = sigstore_lite_server::json_error(status, reason, &message);
        if let Error::Conflict { entry_id, .. } = &self {
            if let Ok(v) = HeaderValue::from_str(&format!("/api/v1/log/entries/{entry_id}")) {
                resp.headers_mut().insert(header::LOCATION, v);
            }
        }
        resp
    }
}
