//! The client's one error type: each variant is one human sentence and maps to cosign's exit codes.

use sigstore_lite_core::verify::VerifyError;

/// Everything that can go wrong, with cosign's exit code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("cannot write {path}: {reason}")]
    Write { path: String, reason: String },
    #[error("no identity token: pass --identity-token, set SIGSTORE_ID_TOKEN, or run in GitHub Actions with id-token: write")]
    NoToken,
    #[error("the identity token is malformed: {0}")]
    BadToken(String),
    #[error("{service} at {url} refused the request: {message}")]
    Service {
        service: &'static str,
        url: String,
        message: String,
    },
    #[error("cannot reach {service} at {url}: {reason}")]
    Unreachable {
        service: &'static str,
        url: String,
        reason: String,
    },
    #[error("the trust configuration is unusable: {0}")]
    Trust(String),
    #[error("what {service} returned does not verify: {reason}")]
    BadResponse {
        service: &'static str,
        reason: String,
    },
    #[error("verification failed: {0}")]
    Verify(#[from] VerifyError),
    #[error("the image {0} has no signatures")]
    NoSignatures(String),
    #[error("the tag {0} does not exist")]
    NoSuchTag(String),
    #[error("no signature matched: {0}")]
    NoMatchingSignature(String),
    #[error("the signature has no certificate")]
    NoCertificate,
    #[error("registry: {0}")]
    Registry(String),
    #[error("no matching attestations{}", .0.as_ref().map(|e| format!(": {e}")).unwrap_or_default())]
    NoMatchingAttestations(Option<String>),
    #[error("none of the attestations matched the predicate type: {wanted}, found: {}", .found.join(","))]
    NoPredicateType { wanted: String, found: Vec<String> },
    #[error("{} validation errors occurred: {}", .0.len(), .0.join("; "))]
    Policy(Vec<String>),
    #[error("kubernetes: {0}")]
    Kubernetes(String),
    /// A key in a PKCS#11 token or behind a KMS plugin that cannot be opened or cannot sign.
    #[error("{0}")]
    Key(String),
}

impl From<sigstore_lite_signer::Error> for Error {
    fn from(e: sigstore_lite_signer::Error) -> Error {
        Error::Key(e.to_string())
    }
}

impl From<sigstore_lite_core::keys::SignError> for Error {
    fn from(e: sigstore_lite_core::keys::SignError) -> Error {
        Error::Key(e.to_string())
    }
}

impl Error {
    /// cosign's exit codes.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::NoSignatures(_) => 10,
            Error::NoSuchTag(_) => 11,
            Error::NoMatchingSignature(_) | Error::Verify(_) => 12,
            Error::NoCertificate => 13,
            _ => 1,
        }
    }
}

impl From<registry_client::Error> for Error {
    fn from(e: registry_client::Error) -> Error {
        match e {
            registry_client::Error::BadReference(_) => Error::Usage(e.to_string()),
            registry_client::Error::NoSuchTag(t) => Error::NoSuchTag(t),
            other => Error::Registry(
                other
                    .to_string()
                    .trim_start_matches("registry: ")
                    .to_string(),
            ),
        }
    }
}
