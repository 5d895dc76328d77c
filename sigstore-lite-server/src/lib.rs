//! sigstore-lite-server: what every sigstore-lite server repeats, in one place, outside the pure
//! core: shutdown on Ctrl-C or SIGTERM, tracing setup, the access log, JSON errors for unknown
//! routes and methods, Prometheus metrics, private (0600) files, and the HTTP client built on the
//! aws-lc-rs TLS provider.

pub mod metrics;
pub mod serve;
pub mod tls;

pub use serve::serve;

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// How a server writes its log lines.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line (timestamp, level, target, fields), for log collectors.
    Json,
}

/// `--log-format`, for every server's command line.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct LogArgs {
    /// The log lines on stderr: text, or json (one object per line).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// Logs to stderr as text; `RUST_LOG` filters (default `info`).
pub fn init_tracing() {
    init_logging(LogFormat::Text)
}

/// Logs to stderr in `format`; `RUST_LOG` filters (default `info`).
pub fn init_logging(format: LogFormat) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let b = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    let _ = match format {
        LogFormat::Text => b.try_init(),
        LogFormat::Json => b.json().flatten_event(true).try_init(),
    };
}

/// Ends a program after a failure: `PROG: message` on one line of stderr (an error chain is
/// given as `{e:#}`, causes joined by `: `), with every control character from outside escaped
/// so that a crafted input cannot break the line or reach the terminal; exit code 1.
pub fn fail(prog: &str, message: &str) -> ! {
    eprintln!("{prog}: {}", sigstore_lite_core::text::printable(message));
    std::process::exit(1)
}

/// Resolves on Ctrl-C or SIGTERM (what `docker stop` sends).
pub async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Middleware for APIs that take JSON: a POST or PUT whose Content-Type is not
/// `application/json` gets a JSON 415 (as Rekor and Fulcio answer), so that a browser's form or
/// text/plain post (which needs no CORS preflight) cannot write.
pub async fn json_only(req: Request, next: Next) -> Response {
    let writes = matches!(
        *req.method(),
        axum::http::Method::POST | axum::http::Method::PUT
    );
    let json = req
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"));
    if writes && !json {
        return json_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the body must be JSON, sent with Content-Type: application/json",
        );
    }
    next.run(req).await
}

/// `post(handler)` for an endpoint that takes JSON: a request with another Content-Type gets
/// [`json_only`]'s 415. The check sits on the method route, so an unknown path still gets 404
/// and another method on a known path 405 (the method is judged before the body's type).
pub fn json_post<H, T, S>(handler: H) -> axum::routing::MethodRouter<S>
where
    H: axum::handler::Handler<T, S>,
    T: 'static,
    S: Clone + Send + Sync + 'static,
{
    axum::routing::post(handler).route_layer(axum::middleware::from_fn(json_only))
}

/// Access-log middleware: one line per request with method, path, status and duration.
pub async fn access_log(req: Request, next: Next) -> Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let started = Instant::now();
    let resp = next.run(req).await;
    tracing::info!(
        target: "sigstore_lite::http",
        %method, %path, status = resp.status().as_u16(),
        micros = started.elapsed().as_micros() as u64,
        "request"
    );
    resp
}

/// The error body every server sends: `{"code": <HTTP status>, "message": "<one sentence>",
/// "reason": "<stable snake_case name>"}`.
pub fn json_error(status: StatusCode, reason: &str, message: &str) -> Response {
    // Every refusal is logged with its reason (the message is the client's input at times:
    // escaped).
    if status.is_client_error() {
        tracing::info!(
            code = status.as_u16(),
            reason,
            detail = %sigstore_lite_core::text::printable(message),
            "refused"
        );
    }
    let body = serde_json::json!({"code": status.as_u16(), "message": message, "reason": reason});
    (status, axum::Json(body)).into_response()
}

/// `/healthz` for a server whose keys may live out of process: `{"status": "SERVING"}`, or 503
/// `NOT_SERVING` with the JSON error body when `probe` (asking the token or KMS plugin whether
/// the key signs, so run off the async threads) fails.
pub async fn healthz_with<F>(probe: F) -> Response
where
    F: FnOnce() -> Result<(), sigstore_lite_core::keys::SignError> + Send + 'static,
{
    let r = tokio::task::spawn_blocking(probe)
        .await
        .unwrap_or_else(|_| {
            Err(sigstore_lite_core::keys::SignError::Unavailable(
                "the probe did not finish".into(),
            ))
        });
    match r {
        Ok(()) => axum::Json(serde_json::json!({"status": "SERVING"})).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "healthz: a signing key is unavailable");
            let body = serde_json::json!({"status": "NOT_SERVING", "code": 503,
                "reason": "signing_key_unavailable",
                "message": "a signing key is unavailable (its token or KMS cannot sign)"});
            (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
        }
    }
}

/// Fallback for unknown routes: a JSON 404.
pub async fn not_found() -> Response {
    json_error(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

/// Fallback for a known route asked with another method: a JSON 405.
pub async fn method_not_allowed() -> Response {
    json_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method",
    )
}

/// Writes `contents` to a new file readable only by its owner (whatever the umask), durably.
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path)?;
    #[cfg(unix)]
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    f.write_all(contents)?;
    f.sync_all()
}

/// Creates a directory (and its parents) accessible only by its owner, whatever the umask.
pub fn create_private_dir(path: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(path)
}

/// An HTTP client (reqwest's rustls on aws-lc-rs, the platform's roots) with a request timeout.
pub fn http_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .expect("an HTTP client with default settings builds")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_files_are_0600_and_not_overwritten() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("k");
        write_private(&p, b"secret").unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(write_private(&p, b"other").is_err());
        assert_eq!(std::fs::read(&p).unwrap(), b"secret");
        let sub = d.path().join("a/b");
        create_private_dir(&sub).unwrap();
        let mode = std::fs::metadata(&sub).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }
}
