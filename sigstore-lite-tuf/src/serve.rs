//! Serving the repository over HTTP the way TUF clients fetch it (`/<N>.root.json`,
//! `/timestamp.json`, `/<N>.snapshot.json`, `/<N>.targets.json`, `/targets/<sha256>.<name>`),
//! straight from the directory, so a change by the CLI is served at once; and keeping the
//! online roles fresh while it serves.

use std::path::PathBuf;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::repo::Repository;

/// The current time in Unix seconds (the shell's clock; everything inside takes it as an
/// argument).
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn metadata_name(n: &str) -> bool {
    if n == "timestamp.json" {
        return true;
    }
    let Some((v, role)) = n.split_once('.') else {
        return false;
    };
    !v.is_empty()
        && v.bytes().all(|b| b.is_ascii_digit())
        && matches!(role, "root.json" | "snapshot.json" | "targets.json")
}

fn target_name(n: &str) -> bool {
    let Some((hash, name)) = n.split_once('.') else {
        return false;
    };
    hash.len() == 64
        && hash.bytes().all(|b| b.is_ascii_hexdigit())
        && !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

async fn file(dir: PathBuf, rel: String) -> Result<Vec<u8>, Response> {
    tokio::fs::read(dir.join(&rel)).await.map_err(|_| {
        sigstore_lite_server::json_error(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("no {rel} in this repository"),
        )
    })
}

async fn metadata(State(dir): State<PathBuf>, Path(name): Path<String>) -> Response {
    if !metadata_name(&name) {
        return sigstore_lite_server::not_found().await;
    }
    let body = match file(dir, name.clone()).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    // Expired timestamp, snapshot or targets metadata is never served: a client would refuse
    // it anyway, and a 503 says why. (Old root versions may be expired; clients walk them.)
    if !name.ends_with(".root.json") {
        let expires = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["signed"]["expires"].as_str().map(str::to_string))
            .and_then(|e| sigstore_lite_core::trust::parse_rfc3339(&e));
        if expires.is_none_or(|e| e <= now()) {
            return sigstore_lite_server::json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "expired_metadata",
                &format!(
                    "{name} has expired and has not been re-signed (is the online key available?)"
                ),
            );
        }
    }
    let cache = if name == "timestamp.json" {
        "no-store"
    } else {
        "max-age=60"
    };
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, cache),
        ],
        body,
    )
        .into_response()
}

async fn target(State(dir): State<PathBuf>, Path(name): Path<String>) -> Response {
    if !target_name(&name) {
        return sigstore_lite_server::not_found().await;
    }
    match file(dir, format!("targets/{name}")).await {
        Ok(b) => ([(header::CONTENT_TYPE, "application/octet-stream")], b).into_response(),
        Err(r) => r,
    }
}

/// The repository's HTTP API.
pub fn app(dir: PathBuf) -> Router {
    Router::new()
        .route("/{name}", get(metadata))
        .route("/targets/{name}", get(target))
        .route(
            "/healthz",
            get(|| async { axum::Json(serde_json::json!({"status": "SERVING"})) }),
        )
        .fallback(sigstore_lite_server::not_found)
        .method_not_allowed_fallback(sigstore_lite_server::method_not_allowed)
        .with_state(dir)
}

/// Re-signs timestamp and snapshot before they expire, checking every few seconds (at most a
/// quarter of the timestamp's period), until `stop` resolves; with the offline keys'
/// passphrase, root and targets too once half their period has passed. A failure (an online
/// key that is gone) is logged and tried again.
pub async fn keep_fresh(
    repo: Repository,
    offline: Option<Vec<u8>>,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    loop {
        let tick = repo.keys.config().map_or(5, |c| c.expires.refresh_tick());
        let tick = Duration::from_secs(tick);
        tokio::select! {
            () = &mut stop => return,
            () = tokio::time::sleep(tick) => {}
        }
        if let Some(pw) = offline.clone() {
            let r = repo.clone();
            match tokio::task::spawn_blocking(move || r.renew(false, &pw, now())).await {
                Ok(Ok(v)) if !v.is_empty() => {
                    tracing::info!(renewed = ?v, "TUF offline roles re-signed")
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "the TUF root and targets could not be renewed")
                }
                Err(e) => tracing::error!(error = %e, "the TUF renewal task failed"),
            }
        }
        let r = repo.clone();
        match tokio::task::spawn_blocking(move || r.refresh(now())).await {
            Ok(Ok(true)) => {
                tracing::info!(repository = %repo.dir.display(), "TUF timestamp re-signed")
            }
            Ok(Ok(false)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "the TUF repository could not be re-signed"),
            Err(e) => tracing::error!(error = %e, "the TUF re-signing task failed"),
        }
    }
}

/// Serves the repository in `repo.dir` on `listener` (re-signing it unless `resign` is false;
/// root and targets too given the offline keys' passphrase) until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    repo: Repository,
    resign: bool,
    offline: Option<Vec<u8>>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    let fresh = resign.then(|| {
        let mut rx = rx.clone();
        let r = repo.clone();
        tokio::spawn(async move {
            keep_fresh(r, offline, async move {
                let _ = rx.changed().await;
            })
            .await
        })
    });
    let served = sigstore_lite_server::serve(listener, app(repo.dir.clone()), async move {
        shutdown.await;
        let _ = tx.send(true);
    })
    .await;
    if let Some(f) = fresh {
        let _ = f.await;
    }
    served
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_repository_names_are_served() {
        assert!(metadata_name("timestamp.json"));
        assert!(metadata_name("12.root.json"));
        assert!(!metadata_name("root.json.bak"));
        assert!(!metadata_name("..root.json"));
        assert!(!metadata_name(".lock"));
        assert!(target_name(&format!(
            "{}.trusted_root.json",
            "a".repeat(64)
        )));
        assert!(!target_name("../x"));
        assert!(!target_name(&format!("{}./x", "a".repeat(64))));
    }
}
