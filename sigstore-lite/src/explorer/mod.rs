//! A read-only log explorer in the browser, for people learning how Rekor works: search by
//! artifact hash, e-mail, public key, log index or entry UUID; an entry page with the decoded
//! body, the certificate field by field, the SET, the inclusion proof drawn from leaf to root
//! and re-verified by the page, and the checkpoint; a log page with the checkpoint and a
//! consistency check against every checkpoint the explorer has seen. Works against any Rekor v1
//! URL (and a Rekor v2 URL for its checkpoint and entries by index). Plain server-rendered HTML
//! and one small script, all served from here: nothing is fetched from anywhere else.

pub mod page;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::{engine::general_purpose::STANDARD as B64, Engine};
use serde::Deserialize;
use serde_json::{json, Value};
use sigstore_lite_core::keys::PublicKey;
use sigstore_lite_core::merkle;
use sigstore_lite_core::rekor::LogEntry;

use page::{esc, layout};

/// The logs the explorer reads.
#[derive(Debug, Clone, Default)]
pub struct Source {
    /// A Rekor v1 base URL.
    pub rekor_v1: Option<String>,
    /// A Rekor v2 (tlog-tiles) base URL.
    pub rekor_v2: Option<String>,
    /// A CA certificate (PEM) to trust for HTTPS logs besides the system's.
    pub extra_root: Option<Vec<u8>>,
}

struct Explorer {
    src: Source,
    http: reqwest::Client,
    /// Every v1 checkpoint seen: size -> root (hex), for consistency checks.
    seen: Mutex<BTreeMap<u64, String>>,
}

const JS: &str = include_str!("explorer.js");
const CSS: &str = include_str!("explorer.css");

/// The explorer's routes.
pub fn router(src: Source) -> Router {
    let mut http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(10));
    if let Some(c) = src
        .extra_root
        .as_deref()
        .and_then(|p| reqwest::Certificate::from_pem(p).ok())
    {
        http = http.add_root_certificate(c);
    }
    let state = Arc::new(Explorer {
        src,
        http: http.build().expect("an HTTP client"),
        seen: Mutex::new(BTreeMap::new()),
    });
    Router::new()
        .route("/", get(home))
        .route("/search", get(search))
        .route("/entry", get(entry_by_index))
        .route("/entry/{uuid}", get(entry_by_uuid))
        .route("/log", get(log_page))
        .route(
            "/static/explorer.js",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
                    JS,
                )
            }),
        )
        .route(
            "/static/explorer.css",
            get(|| async { ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], CSS) }),
        )
        .route(
            "/healthz",
            get(|| async { axum::Json(json!({"status": "SERVING"})) }),
        )
        .fallback(|| async {
            html(
                StatusCode::NOT_FOUND,
                layout("Not found", "", "<h1>Not found</h1><p>No such page.</p>"),
            )
        })
        .layer(axum::middleware::from_fn(security_headers))
        .layer(axum::middleware::from_fn(sigstore_lite_server::access_log))
        .with_state(state)
}

/// Serves the explorer until `shutdown`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    src: Source,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_on(listener, src, None, shutdown).await
}

/// [`serve`], over HTTPS when `tls` is given.
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    src: Source,
    tls: Option<sigstore_lite_server::tls::Config>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    sigstore_lite_server::tls::serve_maybe(listener, router(src), tls, shutdown).await
}

async fn security_headers(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        header::HeaderValue::from_static("no-referrer"),
    );
    r
}

fn html(status: StatusCode, body: String) -> Response {
    (status, Html(body)).into_response()
}

/// Why the log gave no answer. A request the log refused (its 4xx: a key it cannot parse, an
/// index it does not hold) is the visitor's, and passed on with the log's status; a log that is
/// down or answers 5xx or garbage is the explorer's upstream failing (502).
#[derive(Debug)]
struct LogError {
    status: StatusCode,
    message: String,
}

impl LogError {
    fn failed(message: String) -> LogError {
        LogError {
            status: StatusCode::BAD_GATEWAY,
            message,
        }
    }

    fn answered(status: StatusCode, message: String) -> LogError {
        let status = if status.is_client_error() {
            status
        } else {
            StatusCode::BAD_GATEWAY
        };
        LogError { status, message }
    }

    fn page(&self, query: &str) -> Response {
        problem(self.status, query, &self.message)
    }
}

/// The logs an explorer page can be asked about: `?log=` absent or `v1`, or `v2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    V1,
    V2,
}

/// The log asked for; the message for a 400 when it is neither.
fn which_log(log: Option<&str>) -> Result<Which, String> {
    match log {
        None | Some("v1") => Ok(Which::V1),
        Some("v2") => Ok(Which::V2),
        Some(other) => Err(format!(
            "there is no log {other:?} here: ask for log=v1 or log=v2"
        )),
    }
}

fn problem(status: StatusCode, query: &str, msg: &str) -> Response {
    html(
        status,
        layout(
            "Error",
            query,
            &format!(
                "<h1>Cannot show that</h1><p class=\"error\">{}</p>",
                esc(msg)
            ),
        ),
    )
}

impl Explorer {
    fn v1(&self) -> Result<&str, String> {
        self.src.rekor_v1.as_deref().ok_or_else(|| {
            "this explorer has no Rekor v1 log to search (start it with --rekor URL)".into()
        })
    }

    async fn get_json(&self, url: &str) -> Result<Value, LogError> {
        Self::answer(self.http.get(url)).await
    }

    async fn post_json(&self, url: &str, body: &Value) -> Result<Value, LogError> {
        Self::answer(self.http.post(url).json(body)).await
    }

    /// Sends a request to the log; its JSON answer, or why there is none.
    async fn answer(req: reqwest::RequestBuilder) -> Result<Value, LogError> {
        let r = req
            .send()
            .await
            .map_err(|e| LogError::failed(format!("the log cannot be reached: {e}")))?;
        let status = r.status();
        let v: Value = r
            .json()
            .await
            .map_err(|e| LogError::failed(format!("the log's answer is not JSON: {e}")))?;
        if !status.is_success() {
            let message = format!(
                "the log answered {status}: {}",
                v["message"].as_str().unwrap_or("")
            );
            return Err(LogError::answered(status, message));
        }
        Ok(v)
    }

    fn remember(&self, size: u64, root_hex: &str) {
        if size > 0 {
            self.seen
                .lock()
                .expect("lock")
                .insert(size, root_hex.to_string());
        }
    }

    async fn log_key(&self) -> Result<PublicKey, String> {
        let url = format!("{}/api/v1/log/publicKey", self.v1()?);
        let pem = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .text()
            .await
            .map_err(|e| e.to_string())?;
        PublicKey::from_pem(&pem).map_err(|e| format!("the log's public key: {e}"))
    }
}

async fn home(State(x): State<Arc<Explorer>>) -> Response {
    let mut h = String::from("<h1>Search the transparency log</h1><p>Every signature made with this stack is recorded in an append-only Merkle tree. Search it by the artifact's SHA-256, the signer's e-mail, a PEM public key, a log index or an entry UUID; open an entry to see who signed, the certificate Fulcio issued, and the proof that the entry is in the tree, checked again by this page.</p><ul>");
    if let Some(u) = &x.src.rekor_v1 {
        h.push_str(&format!("<li>Rekor v1: <code>{}</code> (<a href=\"/log\">log</a>, <a href=\"/entry?index=0\">first entry</a>)</li>", esc(u)));
    }
    if let Some(u) = &x.src.rekor_v2 {
        h.push_str(&format!("<li>Rekor v2 (tiles): <code>{}</code> (<a href=\"/log?log=v2\">checkpoint</a>, <a href=\"/entry?log=v2&amp;index=0\">first entry</a>)</li>", esc(u)));
    }
    h.push_str("</ul>");
    html(StatusCode::OK, layout("Search", "", &h))
}

#[derive(Deserialize)]
struct SearchQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    kind: Option<String>,
}

/// What a search term is.
#[derive(Debug, PartialEq, Eq)]
enum Term {
    Hash(String),
    Email(String),
    Index(u64),
    Uuid(String),
    Key(String),
}

/// A PEM public key or certificate, checked here: the log would refuse one that does not parse,
/// and that is the visitor's mistake to be told of (400), not the log failing.
fn key_term(q: &str) -> Result<Term, String> {
    let parses = PublicKey::from_pem(q).is_ok()
        || sigstore_lite_core::keys::pem_parse_all(q).is_ok_and(|blocks| {
            blocks.iter().any(|b| {
                b.label == "CERTIFICATE" && sigstore_lite_core::fulcio::read(&b.der).is_ok()
            })
        });
    if parses {
        Ok(Term::Key(q.to_string()))
    } else {
        Err("that is not a PEM public key or certificate".into())
    }
}

fn classify(q: &str, kind: &str) -> Result<Term, String> {
    let q = q.trim();
    let hex64 = |s: &str| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
    let hash = |s: &str| {
        let h = s.strip_prefix("sha256:").unwrap_or(s).to_ascii_lowercase();
        hex64(&h).then_some(h)
    };
    match kind {
        "hash" => hash(q)
            .map(Term::Hash)
            .ok_or_else(|| "a hash is 64 hex digits, with or without sha256:".into()),
        "email" => Ok(Term::Email(q.to_string())),
        "index" => q
            .parse()
            .map(Term::Index)
            .map_err(|_| "a log index is a whole number".into()),
        "uuid" => Ok(Term::Uuid(q.to_ascii_lowercase())),
        "key" => key_term(q),
        _ if q.contains("-----BEGIN") => key_term(q),
        _ if !q.is_empty() && q.bytes().all(|b| b.is_ascii_digit()) => q
            .parse()
            .map(Term::Index)
            .map_err(|_| "that log index is too large".into()),
        _ if q.len() == 80 && q.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok(Term::Uuid(q.to_ascii_lowercase()))
        }
        _ if hash(q).is_some() => Ok(Term::Hash(hash(q).expect("checked"))),
        _ if q.contains('@') => Ok(Term::Email(q.to_string())),
        _ => Err(
            "type an artifact hash, an e-mail, a log index, an entry UUID or a PEM public key"
                .into(),
        ),
    }
}

async fn search(State(x): State<Arc<Explorer>>, Query(s): Query<SearchQuery>) -> Response {
    let term = match classify(&s.q, s.kind.as_deref().unwrap_or("auto")) {
        Ok(t) => t,
        Err(e) => return problem(StatusCode::BAD_REQUEST, &s.q, &e),
    };
    let base = match x.v1() {
        Ok(b) => b.to_string(),
        Err(e) => return problem(StatusCode::BAD_REQUEST, &s.q, &e),
    };
    let query = match &term {
        Term::Index(i) => {
            return axum::response::Redirect::to(&format!("/entry?index={i}")).into_response()
        }
        Term::Uuid(u) => {
            return axum::response::Redirect::to(&format!("/entry/{}", page::url_enc(u)))
                .into_response()
        }
        Term::Hash(h) => json!({"hash": format!("sha256:{h}")}),
        Term::Email(e) => json!({"email": e}),
        Term::Key(pem) => {
            json!({"publicKey": {"format": "x509", "content": B64.encode(pem.as_bytes())}})
        }
    };
    let uuids = match x
        .post_json(&format!("{base}/api/v1/index/retrieve"), &query)
        .await
    {
        Ok(v) => v.as_array().cloned().unwrap_or_default(),
        Err(e) => return e.page(&s.q),
    };
    let mut h = format!(
        "<h1>{} {} for {}</h1>",
        uuids.len(),
        if uuids.len() == 1 { "entry" } else { "entries" },
        esc(&s.q)
    );
    if !uuids.is_empty() {
        let entries = match x
            .post_json(
                &format!("{base}/api/v1/log/entries/retrieve"),
                &json!({"entryUUIDs": uuids}),
            )
            .await
        {
            Ok(v) => v,
            Err(e) => return e.page(&s.q),
        };
        let mut rows: Vec<(u64, String, LogEntry)> = Vec::new();
        for m in entries.as_array().cloned().unwrap_or_default() {
            for (uuid, e) in m.as_object().cloned().unwrap_or_default() {
                if let Ok(e) = serde_json::from_value::<LogEntry>(e) {
                    rows.push((e.log_index, uuid, e));
                }
            }
        }
        rows.sort_by_key(|r| r.0);
        h.push_str("<table class=\"results\"><tr><th>index</th><th>kind</th><th>signer</th><th>integrated</th></tr>");
        for (i, uuid, e) in rows {
            let body = B64.decode(&e.body).unwrap_or_default();
            let d = page::describe(&body);
            let who = d
                .verifiers
                .iter()
                .filter_map(|v| match v {
                    sigstore_lite_core::rekor::Verifier::Certificate(der) => {
                        sigstore_lite_core::fulcio::read(der).ok().map(|c| {
                            c.sans
                                .iter()
                                .map(|s| s.value().to_string())
                                .collect::<Vec<_>>()
                                .join(", ")
                        })
                    }
                    sigstore_lite_core::rekor::Verifier::PublicKey(_) => {
                        Some("a public key".into())
                    }
                })
                .collect::<Vec<_>>()
                .join("; ");
            h.push_str(&format!(
                "<tr><td><a class=\"entry-link\" href=\"/entry/{}\">{i}</a></td><td>{}</td><td class=\"identity\">{}</td><td>{}</td></tr>",
                esc(&page::url_enc(&uuid)),
                esc(&d.kind),
                esc(&who),
                esc(&page::time(e.integrated_time))
            ));
        }
        h.push_str("</table>");
    }
    html(StatusCode::OK, layout("Search", &s.q, &h))
}

#[derive(Deserialize)]
struct EntryQuery {
    index: Option<String>,
    log: Option<String>,
}

async fn entry_by_index(State(x): State<Arc<Explorer>>, Query(q): Query<EntryQuery>) -> Response {
    let Some(Ok(index)) = q.index.as_deref().map(str::parse::<u64>) else {
        return problem(StatusCode::BAD_REQUEST, "", "give ?index=N, a whole number");
    };
    match which_log(q.log.as_deref()) {
        Ok(Which::V2) => return v2::entry(&x, index).await,
        Ok(Which::V1) => {}
        Err(e) => return problem(StatusCode::BAD_REQUEST, &index.to_string(), &e),
    }
    let base = match x.v1() {
        Ok(b) => b.to_string(),
        Err(e) => return problem(StatusCode::BAD_REQUEST, "", &e),
    };
    match x
        .get_json(&format!("{base}/api/v1/log/entries?logIndex={index}"))
        .await
    {
        Ok(v) => show_entry(&x, &v, &index.to_string()).await,
        Err(e) => e.page(&index.to_string()),
    }
}

async fn entry_by_uuid(State(x): State<Arc<Explorer>>, Path(uuid): Path<String>) -> Response {
    if !uuid.bytes().all(|b| b.is_ascii_hexdigit()) || !(uuid.len() == 64 || uuid.len() == 80) {
        return problem(
            StatusCode::BAD_REQUEST,
            &uuid,
            "an entry UUID is 64 or 80 hex digits",
        );
    }
    let base = match x.v1() {
        Ok(b) => b.to_string(),
        Err(e) => return problem(StatusCode::BAD_REQUEST, &uuid, &e),
    };
    match x
        .get_json(&format!("{base}/api/v1/log/entries/{uuid}"))
        .await
    {
        Ok(v) => show_entry(&x, &v, &uuid).await,
        Err(e) => e.page(&uuid),
    }
}

async fn show_entry(x: &Explorer, map: &Value, query: &str) -> Response {
    let Some((uuid, e)) = map.as_object().and_then(|m| m.iter().next()) else {
        return problem(StatusCode::BAD_GATEWAY, query, "the log answered no entry");
    };
    let e: LogEntry = match serde_json::from_value(e.clone()) {
        Ok(e) => e,
        Err(err) => {
            return problem(
                StatusCode::BAD_GATEWAY,
                query,
                &format!("the log's entry does not parse: {err}"),
            )
        }
    };
    let set_ok = match x.log_key().await {
        Ok(k) => sigstore_lite_core::rekor::verify_set(&k, &e).map_err(|err| err.to_string()),
        Err(err) => Err(err),
    };
    let mut h = page::entry_html(uuid, &e, set_ok, true);
    if let Some(p) = &e.verification.inclusion_proof {
        let body = B64.decode(&e.body).unwrap_or_default();
        let leaf = merkle::leaf_hash(&body);
        let hashes: Vec<Vec<u8>> = p
            .hashes
            .iter()
            .filter_map(|h| hex::decode(h).ok())
            .collect();
        let server = hex::decode(&p.root_hash)
            .map_err(|_| "the root hash is not hex".to_string())
            .and_then(|root| {
                merkle::verify_inclusion(p.log_index, p.tree_size, &leaf, &hashes, &root)
                    .map_err(|e| e.to_string())
            });
        if let Some((size, root)) = page::checkpoint_root(&p.checkpoint) {
            x.remember(size, &root);
        }
        h.push_str(&page::proof_html(
            &e.body,
            p.log_index,
            p.tree_size,
            &p.root_hash,
            &p.hashes,
            &p.checkpoint,
            server,
        ));
    }
    html(
        StatusCode::OK,
        layout(&format!("Entry {}", e.log_index), query, &h),
    )
}

#[derive(Deserialize)]
struct LogQuery {
    log: Option<String>,
    first: Option<String>,
    second: Option<String>,
}

async fn log_page(State(x): State<Arc<Explorer>>, Query(q): Query<LogQuery>) -> Response {
    match which_log(q.log.as_deref()) {
        Ok(Which::V2) => return v2::log(&x).await,
        Ok(Which::V1) => {}
        Err(e) => return problem(StatusCode::BAD_REQUEST, "", &e),
    }
    let base = match x.v1() {
        Ok(b) => b.to_string(),
        Err(e) => return problem(StatusCode::BAD_REQUEST, "", &e),
    };
    let info = match x.get_json(&format!("{base}/api/v1/log")).await {
        Ok(v) => v,
        Err(e) => return e.page(""),
    };
    let size = info["treeSize"].as_u64().unwrap_or(0);
    let root = info["rootHash"].as_str().unwrap_or("").to_string();
    x.remember(size, &root);
    let mut h = format!(
        "<h1>The log</h1><table><tr><th>URL</th><td><code>{}</code></td></tr><tr><th>tree size</th><td id=\"tree-size\">{size}</td></tr><tr><th>root hash</th><td><code>{}</code></td></tr><tr><th>tree ID</th><td>{}</td></tr></table><h2>Signed checkpoint</h2><pre>{}</pre>",
        esc(&base),
        esc(&root),
        esc(&info["treeID"].to_string()),
        esc(info["signedTreeHead"].as_str().unwrap_or(""))
    );
    let seen: Vec<(u64, String)> = x
        .seen
        .lock()
        .expect("lock")
        .iter()
        .map(|(s, r)| (*s, r.clone()))
        .collect();
    h.push_str("<h2>Consistency</h2><p>A log may only grow: every older tree is a prefix of the current one. The explorer keeps each checkpoint it has seen; pick an older size to ask the log for a consistency proof, which this page checks.</p><form action=\"/log\" method=\"get\"><select name=\"first\">");
    for (s, _) in seen.iter().filter(|(s, _)| *s < size) {
        h.push_str(&format!("<option value=\"{s}\">{s}</option>"));
    }
    h.push_str(&format!("</select> → <input name=\"second\" value=\"{size}\" size=\"8\"> <button type=\"submit\">check</button></form>"));
    if let Some(first) = q.first.as_deref() {
        let second: u64 = q
            .second
            .as_deref()
            .and_then(|s| s.parse().ok())
            .unwrap_or(size);
        let first: Option<u64> = first.parse().ok();
        let roots: BTreeMap<u64, String> = seen.into_iter().collect();
        match (first, first.and_then(|f| roots.get(&f)), roots.get(&second)) {
            (Some(f), Some(r1), Some(r2)) if f > 0 && f < second => {
                match x.get_json(&format!("{base}/api/v1/log/proof?firstSize={f}&lastSize={second}")).await {
                    Ok(p) => {
                        let hashes: Vec<String> = p["hashes"].as_array().cloned().unwrap_or_default().iter().filter_map(|h| h.as_str().map(str::to_string)).collect();
                        h.push_str(&format!(
                            "<section id=\"consistency\" data-first=\"{f}\" data-second=\"{second}\" data-first-root=\"{}\" data-second-root=\"{}\" data-hashes=\"{}\"><p>From size {f} (root <code>{}</code>) to {second} (root <code>{}</code>), {} hashes.</p><p>This page: <strong id=\"consistency-verdict\">not verified (the page checks the proof with JavaScript)</strong></p></section>",
                            esc(r1), esc(r2), esc(&hashes.join(",")), esc(r1), esc(r2), hashes.len()
                        ));
                    }
                    Err(e) => h.push_str(&format!("<p class=\"error\">{}</p>", esc(&e.message))),
                }
            }
            _ => h.push_str("<p class=\"error\">pick a smaller size this explorer has seen a checkpoint for, and a larger one it has seen (the current size always is)</p>"),
        }
    }
    html(StatusCode::OK, layout("Log", "", &h))
}

mod v2 {
    //! Rekor v2 (C2SP tlog-tiles): the checkpoint, and entries by index read from the entry
    //! bundles, with an inclusion proof built from the hash tiles.

    use super::*;
    use tlog_tiles::{Hash, Tile, TileHashReader, TileReader};

    fn base(x: &Explorer) -> Result<&str, String> {
        x.src.rekor_v2.as_deref().ok_or_else(|| {
            "this explorer has no Rekor v2 log (start it with --rekor-v2 URL)".into()
        })
    }

    async fn checkpoint(x: &Explorer, base: &str) -> Result<(String, u64, String), String> {
        let text = x
            .http
            .get(format!("{base}/checkpoint"))
            .send()
            .await
            .map_err(|e| format!("the log cannot be reached: {e}"))?
            .text()
            .await
            .map_err(|e| e.to_string())?;
        let (size, root) = page::checkpoint_root(&text).ok_or("the checkpoint does not parse")?;
        Ok((text, size, root))
    }

    pub(super) async fn log(x: &Explorer) -> Response {
        let base = match base(x) {
            Ok(b) => b.to_string(),
            Err(e) => return problem(StatusCode::BAD_REQUEST, "", &e),
        };
        match checkpoint(x, &base).await {
            Ok((text, size, root)) => html(
                StatusCode::OK,
                layout(
                    "Log (v2)",
                    "",
                    &format!(
                        "<h1>The log (Rekor v2)</h1><table><tr><th>URL</th><td><code>{}</code></td></tr><tr><th>tree size</th><td id=\"tree-size\">{size}</td></tr><tr><th>root hash</th><td><code>{}</code></td></tr></table><h2>Signed checkpoint (C2SP)</h2><pre>{}</pre><p>Rekor v2 has no search: entries are read by index from its tiles (<a href=\"/entry?log=v2&amp;index=0\">first entry</a>).</p>",
                        esc(&base),
                        esc(&root),
                        esc(&text)
                    ),
                ),
            ),
            Err(e) => problem(StatusCode::BAD_GATEWAY, "", &e),
        }
    }

    /// C2SP's path of a tile (tlog_tiles writes Go's `tile/<H>/...`).
    fn c2sp_path(t: &Tile) -> String {
        let p = t.path();
        let rest = p.splitn(3, '/').nth(2).unwrap_or_default().to_string();
        match rest.strip_prefix("data/") {
            Some(n) => format!("tile/entries/{n}"),
            None => format!("tile/{rest}"),
        }
    }

    /// Reads tiles over HTTP from a blocking thread (tlog_tiles' reader is synchronous).
    struct HttpTiles {
        base: String,
        http: reqwest::Client,
        rt: tokio::runtime::Handle,
    }

    impl TileReader for HttpTiles {
        fn height(&self) -> u8 {
            8
        }
        fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, tlog_tiles::Error> {
            tiles
                .iter()
                .map(|t| {
                    let url = format!("{}/{}", self.base, c2sp_path(t));
                    self.rt
                        .block_on(async {
                            let r = self.http.get(&url).send().await.ok()?;
                            if !r.status().is_success() {
                                return None;
                            }
                            r.bytes().await.ok().map(|b| b.to_vec())
                        })
                        .ok_or_else(|| {
                            tlog_tiles::Error::InvalidInput(format!("cannot read {url}"))
                        })
                })
                .collect()
        }
        fn save_tiles(&self, _: &[Tile], _: &[Vec<u8>]) {}
    }

    pub(super) async fn entry(x: &Explorer, index: u64) -> Response {
        let base = match base(x) {
            Ok(b) => b.to_string(),
            Err(e) => return problem(StatusCode::BAD_REQUEST, "", &e),
        };
        let (text, size, root_hex) = match checkpoint(x, &base).await {
            Ok(c) => c,
            Err(e) => return problem(StatusCode::BAD_GATEWAY, "", &e),
        };
        if index >= size {
            return problem(
                StatusCode::NOT_FOUND,
                &index.to_string(),
                &format!("the log holds {size} entries"),
            );
        }
        let reader = HttpTiles {
            base: base.clone(),
            http: x.http.clone(),
            rt: tokio::runtime::Handle::current(),
        };
        let root: [u8; 32] = match hex::decode(&root_hex).ok().and_then(|r| r.try_into().ok()) {
            Some(r) => r,
            None => {
                return problem(
                    StatusCode::BAD_GATEWAY,
                    "",
                    "the checkpoint's root is not 32 bytes",
                )
            }
        };
        let got = tokio::task::spawn_blocking(move || -> Result<(Vec<u8>, Vec<String>), String> {
            // The entry bundle holding the entry: (2-byte length, body)*.
            let n = index / 256;
            let width = if size >= (n + 1) * 256 {
                256
            } else {
                (size % 256) as u32
            };
            let t = Tile::new(8, 0, n, width, true);
            let bundle = reader
                .read_tiles(&[t])
                .map_err(|e| format!("entry bundle: {e:?}"))?
                .remove(0);
            let mut rest = bundle.as_slice();
            let mut bodies = Vec::new();
            while rest.len() >= 2 {
                let n = u16::from_be_bytes([rest[0], rest[1]]) as usize;
                if rest.len() < 2 + n {
                    return Err("the entry bundle is truncated".into());
                }
                bodies.push(rest[2..2 + n].to_vec());
                rest = &rest[2 + n..];
            }
            let body = bodies
                .get((index % 256) as usize)
                .cloned()
                .ok_or("the entry is not in its bundle")?;
            let hr = TileHashReader::new(size, Hash(root), &reader);
            let proof =
                tlog_tiles::prove_record(size, index, &hr).map_err(|e| format!("proof: {e:?}"))?;
            Ok((body, proof.iter().map(|h| hex::encode(h.0)).collect()))
        })
        .await;
        let (body, hashes) = match got {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => return problem(StatusCode::BAD_GATEWAY, &index.to_string(), &e),
            Err(e) => return problem(StatusCode::INTERNAL_SERVER_ERROR, "", &e.to_string()),
        };
        let leaf = merkle::leaf_hash(&body);
        let raw: Vec<Vec<u8>> = hashes.iter().filter_map(|h| hex::decode(h).ok()).collect();
        let server =
            merkle::verify_inclusion(index, size, &leaf, &raw, &root).map_err(|e| e.to_string());
        let e = LogEntry {
            body: B64.encode(&body),
            integrated_time: 0,
            log_id: String::new(),
            log_index: index,
            verification: sigstore_lite_core::rekor::Verification {
                inclusion_proof: None,
                signed_entry_timestamp: String::new(),
            },
        };
        let mut h = page::entry_html(&hex::encode(leaf), &e, Ok(()), false);
        h.push_str(&page::proof_html(
            &e.body, index, size, &root_hex, &hashes, &text, server,
        ));
        html(
            StatusCode::OK,
            layout(&format!("Entry {index} (v2)"), &index.to_string(), &h),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_search_terms() {
        let h = "a".repeat(64);
        assert_eq!(classify(&h, "auto"), Ok(Term::Hash(h.clone())));
        assert_eq!(
            classify(&format!("sha256:{}", h.to_uppercase()), "auto"),
            Ok(Term::Hash(h.clone()))
        );
        assert_eq!(classify(&h, "uuid"), Ok(Term::Uuid(h.clone())));
        assert_eq!(
            classify(&"b".repeat(80), "auto"),
            Ok(Term::Uuid("b".repeat(80)))
        );
        assert_eq!(classify(" 42 ", "auto"), Ok(Term::Index(42)));
        assert_eq!(
            classify("you@example.com", "auto"),
            Ok(Term::Email("you@example.com".into()))
        );
        assert!(matches!(
            classify(
                &sigstore_lite_core::keys::P256Signer::generate_p256()
                    .unwrap()
                    .public_key()
                    .to_pem(),
                "auto"
            ),
            Ok(Term::Key(_))
        ));
        for not_a_key in [
            "-----BEGIN PUBLIC KEY-----",
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        ] {
            assert!(classify(not_a_key, "auto").is_err(), "{not_a_key}");
            assert!(classify(not_a_key, "key").is_err(), "{not_a_key}");
        }
        assert!(classify("<script>", "auto").is_err());
        assert!(classify("12x", "index").is_err());
        assert!(classify("abc", "hash").is_err());
    }
}
