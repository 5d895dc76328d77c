//! The Rekor v2 HTTP API (rekor-tiles): `POST /api/v2/log/entries` and the C2SP tlog-tiles read
//! API (`/checkpoint`, `/tile/<L>/<N>[.p/<W>]`, `/tile/entries/<N>[.p/<W>]`). Handlers parse, call
//! the log, and map errors; nothing else.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use sigstore_lite_core::rekor::v2::ProposedV2;
use sigstore_lite_server::json_post;

use crate::api::MAX_BODY;
use crate::error::Error;
use crate::log::{Appended, EntryView, Log};

/// The router for a Rekor v2 log.
pub fn app(log: Log) -> Router {
    Router::new()
        .route("/api/v2/log/entries", json_post(create_entry))
        .route("/api/v2/log/publicKey", get(public_key))
        .route("/checkpoint", get(checkpoint))
        .route("/tile/{*path}", get(tile))
        .route("/healthz", get(crate::api::healthz))
        .route("/metrics", get(metrics))
        .fallback(sigstore_lite_server::not_found)
        .method_not_allowed_fallback(sigstore_lite_server::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn(sigstore_lite_server::access_log))
        .with_state(log)
}

async fn create_entry(
    State(log): State<Log>,
    headers: axum::http::HeaderMap,
    b: Result<Bytes, BytesRejection>,
) -> Result<Response, Error> {
    let b = b.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Error::BodyTooLarge { limit: MAX_BODY }
        } else {
            Error::bad_request("bad_body", r.body_text())
        }
    })?;
    let (_, entry) = ProposedV2::parse(&b)
        .and_then(|p| p.admit())
        .inspect_err(|_| {
            log.metrics()
                .rejected
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        })?;
    // Entry bundles prefix each body with its length as a u16.
    if entry.body.len() > usize::from(u16::MAX) {
        return Err(Error::bad_request(
            "entry_too_large",
            format!(
                "the logged entry would be {} bytes; a tile entry bundle holds at most {}",
                entry.body.len(),
                u16::MAX
            ),
        ));
    }
    if let Some(r) =
        crate::api::forward_if_follower(&log, &headers, "/api/v2/log/entries", &b).await?
    {
        return Ok(r);
    }
    match log.append(entry).await? {
        Appended::New(EntryView::V2(t)) => Ok((StatusCode::CREATED, Json(t)).into_response()),
        Appended::New(EntryView::V1 { .. }) => {
            Err(Error::Internal("a v1 entry from a v2 log".into()))
        }
        Appended::Duplicate { index, .. } => {
            let mut r = Error::ConflictV2 { index }.into_response();
            r.headers_mut().insert(
                "x-log-index",
                HeaderValue::from_str(&index.to_string()).expect("digits"),
            );
            Ok(r)
        }
    }
}

async fn public_key(State(log): State<Log>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/x-pem-file")],
        log.public_key().to_pem(),
    )
        .into_response()
}

async fn checkpoint(State(log): State<Log>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        log.latest().note.clone(),
    )
        .into_response()
}

async fn tile(
    State(log): State<Log>,
    path: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Result<Response, Error> {
    let Path(path) = path.map_err(|r| Error::bad_request("bad_path", r.body_text()))?;
    let (data, full) = log.tile(&path)?;
    let mut h = HeaderMap::new();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    // A full tile never changes; a partial one grows into the next.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if full {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        }),
    );
    Ok((h, Bytes::from_owner(data)).into_response())
}

async fn metrics(State(log): State<Log>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        log.metrics().render(log.latest().size),
    )
        .into_response()
}
