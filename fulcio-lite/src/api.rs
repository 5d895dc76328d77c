//! The Fulcio HTTP API (v2 JSON, legacy v1). Handlers parse, call the CA, and map errors.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::{engine::general_purpose::STANDARD as B64, Engine};
use serde::Deserialize;
use serde_json::{json, Value};
use sigstore_lite_server::json_post;
use sigstore_lite_server::metrics::{counter, Histogram, LATENCY_BUCKETS};

use crate::ca::Ca;
use crate::error::Error;
use crate::issue::{self, parse_public_key, KeyProof};
use crate::oidc::TokenVerifier;

/// Largest accepted request body: 64 KiB.
pub const MAX_BODY: usize = 64 << 10;

/// The CA service: CA, token verifier and metrics.
pub struct Fulcio {
    pub ca: Ca,
    pub verifier: TokenVerifier,
    issued: AtomicU64,
    refused: AtomicU64,
    issue_seconds: Histogram,
}

impl Fulcio {
    pub fn new(ca: Ca, verifier: TokenVerifier) -> Arc<Fulcio> {
        Arc::new(Fulcio {
            ca,
            verifier,
            issued: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            issue_seconds: Histogram::new(LATENCY_BUCKETS),
        })
    }

    fn render_metrics(&self) -> String {
        let mut out = String::new();
        counter(
            &mut out,
            "fulcio_lite_certificates_issued_total",
            "Certificates issued.",
            self.issued.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "fulcio_lite_requests_refused_total",
            "Certificate requests refused.",
            self.refused.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "fulcio_lite_oidc_fetches_total",
            "OIDC discovery and JWKS fetches (refetches for unknown key IDs are rate-limited).",
            self.verifier.fetches.load(Ordering::Relaxed),
        );
        self.issue_seconds.render(
            "fulcio_lite_issue_seconds",
            "Time to verify a request and issue its certificate.",
            &mut out,
        );
        out
    }
}

/// The router.
pub fn app(f: Arc<Fulcio>) -> Router {
    Router::new()
        .route("/api/v2/signingCert", json_post(signing_cert_v2))
        .route("/api/v2/trustBundle", get(trust_bundle))
        .route("/api/v2/configuration", get(configuration))
        .route("/api/v1/signingCert", json_post(signing_cert_v1))
        .route("/api/v1/rootCert", get(root_cert))
        .route("/api/v1/ctlog/publicKey", get(ct_public_key))
        .route(
            "/healthz",
            get(|State(f): State<Arc<Fulcio>>| async move {
                sigstore_lite_server::healthz_with(move || f.ca.probe()).await
            }),
        )
        .route(
            "/metrics",
            get(|State(f): State<Arc<Fulcio>>| async move {
                (
                    [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    f.render_metrics(),
                )
            }),
        )
        .fallback(sigstore_lite_server::not_found)
        .method_not_allowed_fallback(sigstore_lite_server::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn(sigstore_lite_server::access_log))
        .with_state(f)
}

impl Fulcio {
    /// Parses a request with `parse` and issues at the current time; counts and times it.
    async fn serve_request(
        &self,
        parse: impl FnOnce() -> Result<(Option<String>, KeyProof), Error>,
    ) -> Result<Vec<String>, Error> {
        let started = Instant::now();
        let r = match parse() {
            Ok((token, proof)) => {
                issue::issue(&self.ca, &self.verifier, token, proof, SystemTime::now()).await
            }
            Err(e) => Err(e),
        };
        match &r {
            Ok(_) => {
                self.issued.fetch_add(1, Ordering::Relaxed);
                self.issue_seconds.observe(started.elapsed().as_secs_f64());
            }
            Err(_) => {
                self.refused.fetch_add(1, Ordering::Relaxed);
            }
        }
        r
    }
}

fn body(b: Result<Bytes, BytesRejection>) -> Result<Bytes, Error> {
    b.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Error::BodyTooLarge { limit: MAX_BODY }
        } else {
            Error::MalformedRequest(r.body_text())
        }
    })
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Credentials {
    #[serde(alias = "oidc_identity_token")]
    oidc_identity_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PublicKeyField {
    content: String,
    /// Fulcio's `PublicKeyAlgorithm`, by name or number; checked against the key.
    #[serde(default)]
    algorithm: Option<Value>,
}

/// Checks Fulcio's `publicKey.algorithm` (PUBLIC_KEY_ALGORITHM_UNSPECIFIED, RSA_PSS, ECDSA,
/// ED25519, or 0-3) against the key it names.
fn check_algorithm(
    alg: &Option<Value>,
    key: &sigstore_lite_core::keys::PublicKey,
) -> Result<(), Error> {
    use sigstore_lite_core::keys::KeyKind;
    let name = match alg {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::String(s)) => s.as_str(),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(0) => "PUBLIC_KEY_ALGORITHM_UNSPECIFIED",
            Some(1) => "RSA_PSS",
            Some(2) => "ECDSA",
            Some(3) => "ED25519",
            _ => "",
        },
        _ => "",
    };
    let fits = match name {
        "PUBLIC_KEY_ALGORITHM_UNSPECIFIED" => true,
        "RSA_PSS" => matches!(key.kind(), KeyKind::Rsa { .. }),
        "ECDSA" => matches!(key.kind(), KeyKind::EcdsaP256 | KeyKind::EcdsaP384),
        "ED25519" => matches!(key.kind(), KeyKind::Ed25519),
        _ => {
            return Err(Error::MalformedRequest(format!(
                "publicKey.algorithm {} is not PUBLIC_KEY_ALGORITHM_UNSPECIFIED, RSA_PSS, ECDSA or ED25519",
                alg.as_ref().expect("set")
            )))
        }
    };
    if !fits {
        return Err(Error::MalformedRequest(format!(
            "publicKey.algorithm {name} does not match the key, which is {}",
            key.kind().name()
        )));
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PublicKeyRequest {
    #[serde(alias = "public_key")]
    public_key: PublicKeyField,
    #[serde(alias = "proof_of_possession")]
    proof_of_possession: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct V2Request {
    #[serde(default)]
    credentials: Option<Credentials>,
    #[serde(alias = "public_key_request")]
    public_key_request: Option<PublicKeyRequest>,
    #[serde(alias = "certificate_signing_request")]
    certificate_signing_request: Option<String>,
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let t = v
        .strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("bearer "))?
        .trim();
    (!t.is_empty()).then(|| t.to_string())
}

async fn signing_cert_v2(
    State(f): State<Arc<Fulcio>>,
    headers: HeaderMap,
    b: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, Error> {
    let chain = f
        .serve_request(|| {
            let b = body(b)?;
            let req: V2Request =
                serde_json::from_slice(&b).map_err(|e| Error::MalformedRequest(e.to_string()))?;
            let token = req
                .credentials
                .unwrap_or_default()
                .oidc_identity_token
                .filter(|t| !t.is_empty())
                .or_else(|| bearer(&headers));
            let proof = match (req.public_key_request, req.certificate_signing_request) {
                (Some(pk), None) => KeyProof::Pop {
                    key: {
                        let key = parse_public_key(pk.public_key.content.as_bytes())?;
                        check_algorithm(&pk.public_key.algorithm, &key)?;
                        key
                    },
                    signature: B64.decode(pk.proof_of_possession.trim()).map_err(|_| {
                        Error::MalformedRequest("proofOfPossession is not base64".into())
                    })?,
                },
                (None, Some(csr)) => KeyProof::Csr(csr.into_bytes()),
                _ => {
                    return Err(Error::MalformedRequest(
                        "give exactly one of publicKeyRequest or certificateSigningRequest".into(),
                    ))
                }
            };
            Ok((token, proof))
        })
        .await?;
    Ok(Json(
        json!({"signedCertificateEmbeddedSct": {"chain": {"certificates": chain}}}),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct V1PublicKey {
    content: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct V1Request {
    public_key: Option<V1PublicKey>,
    signed_email_address: Option<String>,
    certificate_signing_request: Option<String>,
}

async fn signing_cert_v1(
    State(f): State<Arc<Fulcio>>,
    headers: HeaderMap,
    b: Result<Bytes, BytesRejection>,
) -> Result<Response, Error> {
    let chain = f
        .serve_request(|| {
            let b = body(b)?;
            let req: V1Request =
                serde_json::from_slice(&b).map_err(|e| Error::MalformedRequest(e.to_string()))?;
            let proof = match (
                req.public_key,
                req.signed_email_address,
                req.certificate_signing_request,
            ) {
                (Some(pk), Some(sig), None) => {
                    let content = B64.decode(pk.content.trim()).map_err(|_| {
                        Error::MalformedRequest("publicKey.content is not base64".into())
                    })?;
                    KeyProof::Pop {
                        key: parse_public_key(&content)?,
                        signature: B64.decode(sig.trim()).map_err(|_| {
                            Error::MalformedRequest("signedEmailAddress is not base64".into())
                        })?,
                    }
                }
                (None, None, Some(csr)) => KeyProof::Csr(csr.into_bytes()),
                _ => {
                    return Err(Error::MalformedRequest(
                        "give publicKey with signedEmailAddress, or certificateSigningRequest"
                            .into(),
                    ))
                }
            };
            Ok((bearer(&headers), proof))
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        [(header::CONTENT_TYPE, "application/pem-certificate-chain")],
        chain.concat(),
    )
        .into_response())
}

async fn trust_bundle(State(f): State<Arc<Fulcio>>) -> Json<Value> {
    Json(json!({"chains": [{"certificates": f.ca.chain_pem()}]}))
}

async fn root_cert(State(f): State<Arc<Fulcio>>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/pem-certificate-chain")],
        f.ca.chain_pem().concat(),
    )
        .into_response()
}

async fn ct_public_key(State(f): State<Arc<Fulcio>>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/x-pem-file")],
        f.ca.ct_key().to_pem(),
    )
        .into_response()
}

async fn configuration(State(f): State<Arc<Fulcio>>) -> Json<Value> {
    let c = f.verifier.config();
    let entry = |url_key: &str, url: &str, ic: &crate::config::IssuerConfig| {
        json!({
            url_key: url,
            "audience": ic.client_id,
            "challengeClaim": ic.kind.challenge_claim(),
            "spiffeTrustDomain": ic.spiffe_trust_domain.clone().unwrap_or_default(),
            "issuerType": ic.kind.name(),
            "subjectDomain": ic.subject_domain.clone().unwrap_or_default(),
        })
    };
    let mut issuers: Vec<Value> = c
        .issuers
        .values()
        .map(|ic| entry("issuerUrl", &ic.issuer_url, ic))
        .collect();
    for (re, ic) in &c.meta_issuers {
        let pattern = re
            .as_str()
            .trim_start_matches('^')
            .trim_end_matches('$')
            .replace("[-_a-zA-Z0-9]+", "*")
            .replace('\\', "");
        issuers.push(entry("wildcardIssuerUrl", &pattern, ic));
    }
    Json(json!({"issuers": issuers}))
}
