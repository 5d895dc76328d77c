//! The HTTP API of sigstore/timestamp-authority. Handlers parse, call the authority, and map.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use sigstore_lite_server::metrics::{counter, Histogram, LATENCY_BUCKETS};

use crate::authority::{json_request, Answer, Authority, JsonRefusal};
use crate::error::Error;

/// Largest accepted request body (a TimeStampReq is about 60 bytes; JSON at most 1 KiB).
pub const MAX_BODY: usize = 8 << 10;
pub const QUERY: &str = "application/timestamp-query";
pub const REPLY: &str = "application/timestamp-reply";

/// The service: authority, clock and metrics.
pub struct Tsa {
    pub authority: Authority,
    clock: Box<dyn Fn() -> SystemTime + Send + Sync>,
    granted: AtomicU64,
    refused: AtomicU64,
    seconds: Histogram,
}

impl Tsa {
    pub fn new(authority: Authority, clock: Box<dyn Fn() -> SystemTime + Send + Sync>) -> Arc<Tsa> {
        Arc::new(Tsa {
            authority,
            clock,
            granted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            seconds: Histogram::new(LATENCY_BUCKETS),
        })
    }

    fn render_metrics(&self) -> String {
        let mut out = String::new();
        counter(
            &mut out,
            "tsa_lite_timestamps_total",
            "Timestamps granted.",
            self.granted.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "tsa_lite_refused_total",
            "Timestamp requests refused.",
            self.refused.load(Ordering::Relaxed),
        );
        self.seconds.render(
            "tsa_lite_timestamp_seconds",
            "Time to answer a timestamp request.",
            &mut out,
        );
        out
    }
}

/// The router.
pub fn app(t: Arc<Tsa>) -> Router {
    Router::new()
        .route("/api/v1/timestamp", post(timestamp))
        .route("/api/v1/timestamp/certchain", get(certchain))
        .route(
            "/healthz",
            get(|State(t): State<Arc<Tsa>>| async move {
                sigstore_lite_server::healthz_with(move || t.authority.probe()).await
            }),
        )
        .route(
            "/metrics",
            get(|State(t): State<Arc<Tsa>>| async move {
                (
                    [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    t.render_metrics(),
                )
            }),
        )
        .fallback(sigstore_lite_server::not_found)
        .method_not_allowed_fallback(sigstore_lite_server::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn(sigstore_lite_server::access_log))
        .with_state(t)
}

async fn timestamp(
    State(t): State<Arc<Tsa>>,
    headers: HeaderMap,
    b: Result<Bytes, BytesRejection>,
) -> Result<Response, Error> {
    let started = Instant::now();
    let b = b.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Error::BodyTooLarge { limit: MAX_BODY }
        } else {
            Error::BadRequest(r.body_text())
        }
    })?;
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let (der, json) = match ct.as_str() {
        QUERY => (b.to_vec(), false),
        "application/json" => match json_request(&b) {
            Ok(der) => (der, true),
            Err(JsonRefusal::NotJson(e)) => {
                return Err(Error::BadRequest(format!("the body is not JSON: {e}")))
            }
            Err(JsonRefusal::Refused(r)) => return Err(Error::Refused(r)),
        },
        other => return Err(Error::UnsupportedMediaType(other.to_string())),
    };
    let answer = t.authority.answer(&der, (t.clock)());
    t.seconds.observe(started.elapsed().as_secs_f64());
    match answer {
        Answer::Granted(der) => {
            t.granted.fetch_add(1, Ordering::Relaxed);
            Ok(([(header::CONTENT_TYPE, REPLY)], der).into_response())
        }
        Answer::Unavailable(e) => Err(Error::KeyUnavailable(e.to_string())),
        Answer::Refused { refusal, response } => {
            t.refused.fetch_add(1, Ordering::Relaxed);
            if json {
                return Err(Error::Refused(refusal));
            }
            // A DER client gets the protocol's own refusal: a TimeStampResp with status
            // rejection and the failure bit.
            Ok((
                StatusCode::BAD_REQUEST,
                [(header::CONTENT_TYPE, REPLY)],
                response,
            )
                .into_response())
        }
    }
}

async fn certchain(State(t): State<Arc<Tsa>>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/pem-certificate-chain")],
        t.authority.chain_pem(),
    )
        .into_response()
}
