//! The Rekor v1 HTTP API. Handlers parse, call the log, and map errors; nothing else.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::{engine::general_purpose::STANDARD as B64, Engine};
use serde_json::{json, Map, Value};
use sigstore_lite_core::keys::PublicKey;
use sigstore_lite_core::rekor::{Proposed, Verifier};
use sigstore_lite_server::json_post;

use crate::error::Error;
use crate::log::{Appended, EntryView, Log};

/// Largest accepted request body (proposed entries, retrieve and search requests): 1 MiB.
pub const MAX_BODY: usize = 1 << 20;
/// Most items one retrieve request may ask for (as Rekor).
pub const MAX_RETRIEVE: usize = 10;

/// The router for a log.
pub fn app(log: Log) -> Router {
    Router::new()
        .route(
            "/api/v1/log/entries",
            json_post(create_entry).get(entry_by_index),
        )
        .route("/api/v1/log/entries/retrieve", json_post(retrieve))
        .route("/api/v1/log/entries/{id}", get(entry_by_id))
        .route("/api/v1/index/retrieve", json_post(search_index))
        .route("/api/v1/log", get(log_info))
        .route("/api/v1/log/publicKey", get(public_key))
        .route("/api/v1/log/proof", get(consistency))
        .route("/healthz", get(crate::api::healthz))
        .route("/metrics", get(metrics))
        .fallback(sigstore_lite_server::not_found)
        .method_not_allowed_fallback(sigstore_lite_server::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn(sigstore_lite_server::access_log))
        .with_state(log)
}

/// Marks a write forwarded by a follower, so that it is never forwarded again.
const FORWARDED: &str = "x-rekor-lite-forwarded";

/// A write to a log shared through PostgreSQL, on a process that does not integrate: forwarded
/// to the integrator (its answer passed on as it is), or 503 while none is reachable. `None`
/// when this process integrates and should append the entry itself.
pub(crate) async fn forward_if_follower(
    log: &Log,
    headers: &HeaderMap,
    path: &str,
    body: &Bytes,
) -> Result<Option<Response>, Error> {
    let leader = match log.role() {
        crate::store::Role::Integrator => return Ok(None),
        crate::store::Role::NoIntegrator => {
            return Err(Error::NoIntegrator("no process holds the lease".into()))
        }
        crate::store::Role::ReadOnly => return Err(Error::ReadOnly),
        crate::store::Role::Follower { leader_url } => leader_url,
    };
    if headers.contains_key(FORWARDED) {
        return Err(Error::NoIntegrator(
            "the integrator changed while the entry was forwarded".into(),
        ));
    }
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    let client = CLIENT
        .get_or_init(|| sigstore_lite_server::http_client(std::time::Duration::from_secs(30)));
    let r = client
        .post(format!("{leader}{path}"))
        .header(header::CONTENT_TYPE, "application/json")
        .header(FORWARDED, "1")
        .body(body.clone())
        .send()
        .await
        .map_err(|e| {
            Error::NoIntegrator(format!("the integrator at {leader} did not answer: {e}"))
        })?;
    let status = StatusCode::from_u16(r.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut h = HeaderMap::new();
    for name in [header::CONTENT_TYPE, header::LOCATION, header::ETAG] {
        if let Some(v) = r.headers().get(name.as_str()) {
            if let Ok(v) = HeaderValue::from_bytes(v.as_bytes()) {
                h.insert(name, v);
            }
        }
    }
    let bytes = r
        .bytes()
        .await
        .map_err(|e| Error::NoIntegrator(format!("the integrator's answer was cut off: {e}")))?;
    Ok(Some((status, h, bytes).into_response()))
}

fn body(b: Result<Bytes, BytesRejection>) -> Result<Bytes, Error> {
    b.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Error::BodyTooLarge { limit: MAX_BODY }
        } else {
            Error::bad_request("bad_body", r.body_text())
        }
    })
}

/// Rekor v1's entry map `{entryID: LogEntry}`.
fn entry_map(v: EntryView) -> Value {
    match v {
        EntryView::V1 { id, entry } => {
            let mut m = Map::new();
            m.insert(
                id,
                serde_json::to_value(entry).expect("LogEntry serializes"),
            );
            Value::Object(m)
        }
        EntryView::V2(t) => serde_json::to_value(t).expect("TlogEntry serializes"),
    }
}

async fn create_entry(
    State(log): State<Log>,
    headers: HeaderMap,
    b: Result<Bytes, BytesRejection>,
) -> Result<Response, Error> {
    let b = body(b)?;
    let (_, entry) = Proposed::parse(&b)
        .and_then(|p| p.admit())
        .inspect_err(|_| {
            log.metrics()
                .rejected
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        })?;
    if let Some(r) = forward_if_follower(&log, &headers, "/api/v1/log/entries", &b).await? {
        return Ok(r);
    }
    match log.append(entry).await? {
        Appended::Duplicate { index, id } => Err(Error::Conflict {
            index,
            entry_id: id,
        }),
        Appended::New(view) => {
            let mut h = HeaderMap::new();
            if let EntryView::V1 { id, .. } = &view {
                let v = HeaderValue::from_str(id).expect("hex is a valid header");
                h.insert(header::ETAG, v);
                h.insert(
                    header::LOCATION,
                    HeaderValue::from_str(&format!("/api/v1/log/entries/{id}"))
                        .expect("valid header"),
                );
            }
            Ok((StatusCode::CREATED, h, Json(entry_map(view))).into_response())
        }
    }
}

fn parse_u64(q: &HashMap<String, String>, name: &'static str) -> Result<Option<u64>, Error> {
    q.get(name)
        .map(|v| {
            v.parse::<u64>().map_err(|_| {
                Error::bad_request(
                    "bad_parameter",
                    format!("{name} must be a non-negative integer"),
                )
            })
        })
        .transpose()
}

async fn entry_by_index(
    State(log): State<Log>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, Error> {
    let index = parse_u64(&q, "logIndex")?
        .ok_or_else(|| Error::bad_request("bad_parameter", "logIndex is required"))?;
    let v = log
        .entry_by_index(index)?
        .ok_or_else(|| Error::NotFound(format!("no entry at log index {index}")))?;
    Ok(Json(entry_map(v)))
}

/// Parses a 64-hex UUID or an 80-hex entry ID of this tree into a leaf hash.
fn parse_uuid(log: &Log, s: &str) -> Result<[u8; 32], Error> {
    let bad = || {
        Error::bad_request(
            "bad_entry_uuid",
            format!("{s:?} is not a 64-hex entry UUID or an 80-hex entry ID"),
        )
    };
    // Hex only, before any byte offset is taken (a multi-byte character must not reach a slice).
    if !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let hex_part = match s.len() {
        64 => s,
        80 => {
            let tree = i64::from_str_radix(&s[..16], 16).map_err(|_| bad())?;
            if tree != log.tree_id() {
                return Err(Error::NotFound(format!(
                    "entry {s} is not in tree {}",
                    log.tree_id()
                )));
            }
            &s[16..]
        }
        _ => return Err(bad()),
    };
    let v = hex::decode(hex_part).map_err(|_| bad())?;
    Ok(v.try_into().expect("32 bytes"))
}

async fn entry_by_id(
    State(log): State<Log>,
    id: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Result<Json<Value>, Error> {
    // A path that is not UTF-8 gets the JSON error, not axum's text/plain one.
    let Path(id) = id.map_err(|r| Error::bad_request("bad_path", r.body_text()))?;
    let leaf = parse_uuid(&log, &id)?;
    let v = log
        .entry_by_leaf(&leaf)?
        .ok_or_else(|| Error::NotFound(format!("no entry with UUID {id}")))?;
    Ok(Json(entry_map(v)))
}

fn json_body(b: Result<Bytes, BytesRejection>) -> Result<Value, Error> {
    let b = body(b)?;
    serde_json::from_slice(&b).map_err(|e| {
        Error::bad_request(
            "malformed_json",
            format!("the request body is not valid JSON: {e}"),
        )
    })
}

fn list<'a>(v: &'a Value, name: &'static str) -> Result<Option<&'a Vec<Value>>, Error> {
    match v.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) if !a.is_empty() && a.len() <= MAX_RETRIEVE => Ok(Some(a)),
        Some(_) => Err(Error::bad_request(
            "bad_parameter",
            format!("{name} must be an array of 1 to {MAX_RETRIEVE} items"),
        )),
    }
}

async fn retrieve(
    State(log): State<Log>,
    b: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, Error> {
    let req = json_body(b)?;
    let mut found = Vec::new();
    let mut asked = false;
    if let Some(ids) = list(&req, "entryUUIDs")? {
        asked = true;
        for id in ids {
            let s = id.as_str().ok_or_else(|| {
                Error::bad_request("bad_entry_uuid", "entryUUIDs must be strings")
            })?;
            let leaf = match parse_uuid(&log, s) {
                Ok(l) => l,
                Err(Error::NotFound(_)) => continue,
                Err(e) => return Err(e),
            };
            if let Some(v) = log.entry_by_leaf(&leaf)? {
                found.push(entry_map(v));
            }
        }
    }
    if let Some(idx) = list(&req, "logIndexes")? {
        asked = true;
        for i in idx {
            let i = i.as_u64().ok_or_else(|| {
                Error::bad_request("bad_parameter", "logIndexes must be non-negative integers")
            })?;
            if let Some(v) = log.entry_by_index(i)? {
                found.push(entry_map(v));
            }
        }
    }
    if let Some(entries) = list(&req, "entries")? {
        asked = true;
        for p in entries {
            let (_, c) = Proposed::from_value(p)?.admit()?;
            let leaf = sigstore_lite_core::merkle::leaf_hash(&c.body);
            if let Some(v) = log.entry_by_leaf(&leaf)? {
                found.push(entry_map(v));
            }
        }
    }
    if !asked {
        return Err(Error::bad_request(
            "bad_parameter",
            "give one of entryUUIDs, logIndexes or entries",
        ));
    }
    Ok(Json(Value::Array(found)))
}

fn search_key_for_public_key(v: &Value) -> Result<String, Error> {
    let format = v.get("format").and_then(Value::as_str).unwrap_or("x509");
    if format != "x509" {
        return Err(Error::bad_request(
            "unsupported_key_format",
            format!("public key format {format:?} is not supported (only x509)"),
        ));
    }
    let content = v
        .get("content")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::bad_request("bad_parameter", "publicKey.content is required"))?;
    let raw = B64
        .decode(content)
        .map_err(|_| Error::bad_request("bad_base64", "publicKey.content is not valid base64"))?;
    let key = match Verifier::from_pem_text(&raw).and_then(|v| v.key()) {
        Ok((k, _)) => k,
        Err(_) => PublicKey::from_spki_der(&raw).map_err(|e| {
            Error::bad_request(
                "bad_public_key",
                format!("publicKey.content is not a usable key: {e}"),
            )
        })?,
    };
    Ok(format!("key:{}", hex::encode(key.key_id())))
}

async fn search_index(
    State(log): State<Log>,
    b: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, Error> {
    let req = json_body(b)?;
    let mut keys = Vec::new();
    if let Some(h) = req.get("hash").and_then(Value::as_str) {
        let h = h.to_ascii_lowercase();
        let hex_part = h.strip_prefix("sha256:").unwrap_or(&h);
        if hex_part.len() != 64 || hex::decode(hex_part).is_err() {
            return Err(Error::bad_request(
                "bad_digest",
                "hash must be sha256:<64 hex>",
            ));
        }
        keys.push(format!("sha256:{hex_part}"));
    }
    if let Some(e) = req.get("email").and_then(Value::as_str) {
        keys.push(format!("email:{}", e.to_ascii_lowercase()));
    }
    if let Some(pk) = req.get("publicKey") {
        keys.push(search_key_for_public_key(pk)?);
    }
    if keys.is_empty() {
        return Err(Error::bad_request(
            "bad_parameter",
            "give at least one of hash, email or publicKey",
        ));
    }
    let and = match req.get("operator").and_then(Value::as_str) {
        None | Some("or") => false,
        Some("and") => true,
        Some(o) => {
            return Err(Error::bad_request(
                "bad_parameter",
                format!("operator {o:?} must be \"and\" or \"or\""),
            ))
        }
    };
    let ids = log.search(&keys, and)?;
    Ok(Json(Value::Array(
        ids.into_iter().map(Value::String).collect(),
    )))
}

async fn log_info(State(log): State<Log>) -> Json<Value> {
    let cp = log.latest();
    Json(json!({
        "rootHash": hex::encode(cp.root),
        "treeSize": cp.size,
        "signedTreeHead": cp.note,
        "treeID": log.tree_id().to_string(),
    }))
}

async fn public_key(State(log): State<Log>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/x-pem-file")],
        log.public_key().to_pem(),
    )
        .into_response()
}

async fn consistency(
    State(log): State<Log>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, Error> {
    let first = parse_u64(&q, "firstSize")?.unwrap_or(1);
    let last = parse_u64(&q, "lastSize")?
        .ok_or_else(|| Error::bad_request("bad_parameter", "lastSize is required"))?;
    let size = log.latest().size;
    if first < 1 {
        return Err(Error::bad_request(
            "bad_parameter",
            "firstSize must be at least 1",
        ));
    }
    if first > last {
        return Err(Error::bad_request(
            "bad_parameter",
            format!("firstSize {first} is greater than lastSize {last}"),
        ));
    }
    if last > size {
        return Err(Error::bad_request(
            "bad_parameter",
            format!("lastSize {last} is beyond the tree size {size}"),
        ));
    }
    let (root, proof) = log.consistency(first, last)?;
    Ok(Json(json!({
        "rootHash": hex::encode(root.0),
        "hashes": proof.iter().map(|h| hex::encode(h.0)).collect::<Vec<_>>(),
    })))
}

async fn metrics(State(log): State<Log>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        log.metrics().render(log.latest().size),
    )
        .into_response()
}

/// `SERVING`, or 503 `NOT_SERVING` after a failed commit (the store may need reopening: a
/// supervisor restarting the process on this answer recovers the log).
pub(crate) async fn healthz(State(log): State<Log>) -> Response {
    let probe = log.clone();
    let key = tokio::task::spawn_blocking(move || probe.probe_key())
        .await
        .unwrap_or_else(|_| {
            Err(sigstore_lite_core::keys::SignError::Unavailable(
                "the probe did not finish".into(),
            ))
        });
    if let Err(e) = key {
        tracing::error!(error = %e, "healthz: the signing key is unavailable");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                json!({"status": "NOT_SERVING", "code": 503, "reason": "signing_key_unavailable",
                "message": "the log's signing key is unavailable (its token or KMS cannot sign)"}),
            ),
        )
            .into_response();
    }
    if log.is_healthy() {
        // A log shared through PostgreSQL also says which process integrates.
        let role = match log.role() {
            crate::store::Role::Integrator => "integrator",
            crate::store::Role::Follower { .. } => "follower",
            crate::store::Role::NoIntegrator => "no_integrator",
            crate::store::Role::ReadOnly => "read_only",
        };
        Json(json!({"status": "SERVING", "role": role})).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                json!({"status": "NOT_SERVING", "code": 503, "reason": "unavailable",
                "message": "the log cannot serve: a commit failed (the store may need reopening), or its database is unreachable or went back in time"}),
            ),
        )
            .into_response()
    }
}
