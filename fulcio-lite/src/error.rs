//! The crate's one error type and its single mapping to HTTP.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Everything that can go wrong issuing a certificate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("configuration: {0}")]
    Config(String),
    #[error("the request body is not valid: {0}")]
    MalformedRequest(String),
    #[error("the request body is larger than the {limit}-byte limit")]
    BodyTooLarge { limit: usize },
    #[error("no identity token: send it in credentials.oidcIdentityToken or an Authorization: Bearer header")]
    MissingToken,
    #[error("the identity token is malformed: {0}")]
    MalformedToken(String),
    #[error("the identity token's issuer {0:?} is not configured")]
    UnknownIssuer(String),
    #[error("the identity token is signed with {0:?}; only RS256 and ES256 are accepted")]
    UnsupportedTokenAlg(String),
    #[error("the identity token has expired")]
    TokenExpired,
    #[error("the identity token is not valid yet")]
    TokenNotYetValid,
    #[error("the identity token's audience does not include {expected:?}")]
    WrongAudience { expected: String },
    #[error("the identity token's signature does not verify")]
    BadTokenSignature,
    #[error("the identity token is signed by key {0:?}, which the issuer does not publish")]
    UnknownKey(String),
    #[error("cannot reach the issuer's discovery or keys: {0}")]
    Discovery(String),
    #[error("the identity token has no {0} claim")]
    MissingClaim(&'static str),
    /// `exp` or `iat` absent: the token cannot be checked for validity, so it is refused as
    /// any invalid token is (401), as go-oidc refuses it for Fulcio.
    #[error("the identity token has no {0} claim, so its validity cannot be checked")]
    MissingValidity(&'static str),
    #[error("the e-mail address in the identity token is not verified")]
    EmailNotVerified,
    #[error("the identity is not acceptable: {0}")]
    InvalidIdentity(String),
    #[error("the public key cannot be used: {0}")]
    BadPublicKey(String),
    #[error("the proof of possession does not verify: it must be a signature over {claim:?} with the requested key")]
    BadProofOfPossession { claim: String },
    #[error("the certificate signing request is invalid: {0}")]
    BadCsr(String),
    /// The CA's or CT log's key (in a token or behind a KMS plugin) cannot sign at the moment.
    #[error("the CA's signing key is unavailable: {0}")]
    KeyUnavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// HTTP status and stable reason.
    pub fn status_and_reason(&self) -> (StatusCode, &'static str) {
        use Error::*;
        let unauthorized = StatusCode::UNAUTHORIZED;
        let bad = StatusCode::BAD_REQUEST;
        match self {
            Config(_) | Internal(_) | Discovery(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
            KeyUnavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "signing_key_unavailable"),
            MalformedRequest(_) => (bad, "malformed_request"),
            BodyTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
            MissingToken => (unauthorized, "missing_token"),
            MalformedToken(_) => (unauthorized, "malformed_token"),
            UnknownIssuer(_) => (unauthorized, "unknown_issuer"),
            UnsupportedTokenAlg(_) => (unauthorized, "unsupported_token_algorithm"),
            TokenExpired => (unauthorized, "token_expired"),
            TokenNotYetValid => (unauthorized, "token_not_yet_valid"),
            WrongAudience { .. } => (unauthorized, "wrong_audience"),
            BadTokenSignature => (unauthorized, "bad_token_signature"),
            UnknownKey(_) => (unauthorized, "unknown_key_id"),
            MissingClaim(_) => (bad, "missing_claim"),
            MissingValidity(_) => (unauthorized, "missing_validity"),
            EmailNotVerified => (bad, "email_not_verified"),
            InvalidIdentity(_) => (bad, "invalid_identity"),
            BadPublicKey(_) => (bad, "bad_public_key"),
            BadProofOfPossession { .. } => (bad, "bad_proof_of_possession"),
            BadCsr(_) => (bad, "bad_csr"),
        }
    }
}

/// Body: `{"code": <HTTP status>, "message": "<one sentence>", "reason": "<stable name>"}`.
impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (status, reason) = self.status_and_reason();
        let message = match &self {
            Error::Internal(d) | Error::Config(d) | Error::Discovery(d) => {
                tracing::error!(detail = %d, "internal error");
                // Which URL failed and how is the operator's to read in the log, not the
                // client's: the client learns that the issuer could not be reached.
                if matches!(self, Error::Discovery(_)) {
                    "the identity token's issuer cannot be reached to verify the token".to_string()
                } else {
                    "internal error".to_string()
                }
            }
            Error::KeyUnavailable(d) => {
                tracing::error!(detail = %d, "the signing key is unavailable");
                "the CA's signing key is unavailable; retry later".to_string()
            }
            other => other.to_string(),
        };
        sigstore_lite_server::json_error(status, reason, &message)
    }
}
