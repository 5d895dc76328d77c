//! The HTTPS shell: `POST /validate`, `POST /mutate` (AdmissionReview v1), `/healthz`,
//! `/metrics`. A body that is not an AdmissionReview gets a 4xx JSON error; every review gets
//! a decision; nothing answers 5xx.

use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use sigstore_lite_server::json_error;
use sigstore_lite_server::metrics::{counter, Histogram, LATENCY_BUCKETS};

use crate::review;
use crate::webhook::Webhook;

/// The largest AdmissionReview accepted: the API server sends at most object + oldObject of
/// 1.5 MiB each.
pub const MAX_BODY: usize = 4 << 20;

struct AppState {
    webhook: Arc<Webhook>,
    latency: Histogram,
}

/// The webhook's routes.
pub fn router(webhook: Arc<Webhook>) -> Router {
    let state = Arc::new(AppState {
        webhook,
        latency: Histogram::new(LATENCY_BUCKETS),
    });
    Router::new()
        .route("/validate", post(validate))
        .route("/mutate", post(mutate))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .fallback(sigstore_lite_server::not_found)
        .method_not_allowed_fallback(sigstore_lite_server::method_not_allowed)
        .layer(DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn(sigstore_lite_server::access_log))
        .with_state(state)
}

async fn validate(State(s): State<Arc<AppState>>, body: Body) -> Response {
    handle(s, body, false).await
}

async fn mutate(State(s): State<Arc<AppState>>, body: Body) -> Response {
    handle(s, body, true).await
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

async fn handle(s: Arc<AppState>, body: Body, mutate: bool) -> Response {
    let started = std::time::Instant::now();
    let bytes = match read_body(body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let rv = match review::parse(&bytes) {
        Ok(r) => r,
        Err(review::NotAReview(m)) => {
            return json_error(StatusCode::BAD_REQUEST, "bad_admission_review", &m)
        }
    };
    let d = s.webhook.decide(&rv, mutate, now()).await;
    if !d.allowed {
        // The message names images as the Pod wrote them: escaped, so that one cannot forge
        // log lines.
        use sigstore_lite_core::text::printable;
        tracing::info!(uid = %printable(&rv.uid), kind = %printable(&rv.kind), message = %printable(&d.message), "denied");
    }
    s.latency.observe(started.elapsed().as_secs_f64());
    Json(review::response(&rv.uid, &d)).into_response()
}

/// How much of an oversized body is read (and dropped) before answering 413, so that the
/// client, still sending, reads the answer instead of a reset connection.
const DRAIN_LIMIT: usize = 16 << 20;

async fn read_body(mut body: Body) -> Result<Vec<u8>, Response> {
    use http_body_util::BodyExt;
    let mut buf = Vec::new();
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return Err(json_error(
                StatusCode::BAD_REQUEST,
                "bad_body",
                "the request body could not be read",
            ));
        };
        if let Ok(data) = frame.into_data() {
            total = total.saturating_add(data.len());
            if total <= MAX_BODY {
                buf.extend_from_slice(&data);
            } else if total > DRAIN_LIMIT {
                break;
            }
        }
    }
    if total > MAX_BODY {
        return Err(json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            &format!("the AdmissionReview is larger than {} MiB", MAX_BODY >> 20),
        ));
    }
    Ok(buf)
}

async fn metrics(State(s): State<Arc<AppState>>) -> Response {
    let c = &s.webhook.counters;
    let mut out = String::new();
    for (name, help, v) in [
        (
            "admission_lite_reviews_total",
            "AdmissionReviews decided",
            &c.reviews,
        ),
        (
            "admission_lite_allowed_total",
            "reviews allowed",
            &c.allowed,
        ),
        ("admission_lite_denied_total", "reviews denied", &c.denied),
        (
            "admission_lite_verifications_total",
            "image verifications run (cache misses)",
            &c.verifications,
        ),
        (
            "admission_lite_cache_hits_total",
            "verdicts served from the cache",
            &c.cache_hits,
        ),
        (
            "admission_lite_registry_errors_total",
            "registry failures (each denies, fail closed)",
            &c.registry_errors,
        ),
    ] {
        counter(&mut out, name, help, v.load(Ordering::Relaxed));
    }
    s.latency.render(
        "admission_lite_review_seconds",
        "time to decide a review",
        &mut out,
    );
    let _ = writeln!(out);
    ([("content-type", "text/plain; version=0.0.4")], out).into_response()
}
