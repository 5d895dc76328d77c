//! A witness (C2SP tlog-witness): `POST /add-checkpoint` takes a log's new checkpoint with a
//! consistency proof from the size the witness last cosigned, and answers with its cosignature
//! (C2SP tlog-cosignature `cosignature/v1`, Ed25519) once it has recorded the new size, or with
//! the status the spec fixes for each refusal. The rules are the core's
//! (`sigstore_lite_core::witness`); this crate keeps the state and serves it.
//!
//! State, in `--state-dir`: `witness-key.pem` (its Ed25519 key, made on first start, 0600) and
//! `logs/<sha256 of the origin>.json` (the latest cosigned size and root of each log), each
//! written to a temporary file, synced and renamed before the answer: a killed witness never
//! cosigns a checkpoint it has not recorded, and never forgets one it cosigned.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sigstore_lite_core::keys::{KeyKind, Signer};
use sigstore_lite_core::witness::{self, AddCheckpoint, VerifierKey, WitnessError, Witnessed};

/// The largest request: 63 proof lines and a checkpoint with its signatures fit in far less.
pub const MAX_BODY: usize = 64 << 10;

/// Why the witness cannot start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Config(String),
    #[error("cannot use the state directory {path}: {why}")]
    State { path: String, why: String },
}

#[derive(Serialize, Deserialize)]
struct Stored {
    origin: String,
    size: u64,
    root: String,
}

/// A running witness.
pub struct Witness {
    name: String,
    signer: Arc<dyn Signer>,
    logs: BTreeMap<String, VerifierKey>,
    dir: PathBuf,
    /// One add-checkpoint at a time: each reads, checks and records the state.
    lock: Mutex<()>,
    clock: Box<dyn Fn() -> SystemTime + Send + Sync>,
}

fn state_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::State {
        path: path.display().to_string(),
        why: e.to_string(),
    }
}

impl Witness {
    /// Opens the witness named `name` in `dir` (its key made on first start) for the logs
    /// `vkeys` name (C2SP vkeys of Ed25519 log keys).
    pub fn open(dir: &Path, name: &str, vkeys: &[String]) -> Result<Witness, Error> {
        if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c == '+') {
            return Err(Error::Config(format!("{name:?} is not a witness name")));
        }
        sigstore_lite_server::create_private_dir(&dir.join("logs"))
            .map_err(|e| state_err(dir, e))?;
        // The name is part of the witness's identity (its key hash): kept beside the key.
        let name_file = dir.join("name");
        match std::fs::read_to_string(&name_file) {
            Ok(n) if n.trim() != name => {
                return Err(Error::Config(format!(
                    "{} is the state of the witness {:?}, not {name:?}",
                    dir.display(),
                    n.trim()
                )))
            }
            Ok(_) => {}
            Err(_) => std::fs::write(&name_file, format!("{name}\n"))
                .map_err(|e| state_err(&name_file, e))?,
        }
        let key = sigstore_lite_signer::KeyRef::File(dir.join("witness-key.pem"));
        let signer = sigstore_lite_signer::open_or_generate(&key, KeyKind::Ed25519, true)
            .map_err(|e| Error::Config(format!("the witness key: {e}")))?;
        if signer.public_key().kind() != KeyKind::Ed25519 {
            return Err(Error::Config("the witness key must be Ed25519".into()));
        }
        let mut logs = BTreeMap::new();
        for v in vkeys {
            let k = VerifierKey::parse(v).map_err(|e| Error::Config(e.to_string()))?;
            if k.kind != 0x01 {
                return Err(Error::Config(format!(
                    "--log {v:?}: not a log's key (type 0x01)"
                )));
            }
            logs.insert(k.name.clone(), k);
        }
        if logs.is_empty() {
            return Err(Error::Config(
                "give the logs to witness with --log VKEY".into(),
            ));
        }
        Ok(Witness {
            name: name.to_string(),
            signer,
            logs,
            dir: dir.to_path_buf(),
            lock: Mutex::new(()),
            clock: Box::new(SystemTime::now),
        })
    }

    /// The verifier key of the witness whose state is in `dir`.
    pub fn vkey_in(dir: &Path) -> Result<String, Error> {
        let name = std::fs::read_to_string(dir.join("name"))
            .map_err(|e| state_err(&dir.join("name"), e))?;
        let key = sigstore_lite_signer::open(&sigstore_lite_signer::KeyRef::File(
            dir.join("witness-key.pem"),
        ))
        .map_err(|e| Error::Config(format!("the witness key: {e}")))?;
        Ok(VerifierKey::encode(name.trim(), 0x04, key.public_key()))
    }

    /// The witness's verifier key (`name+hash+base64(0x04 || key)`).
    pub fn vkey(&self) -> String {
        VerifierKey::encode(&self.name, 0x04, self.signer.public_key())
    }

    fn state_path(&self, origin: &str) -> PathBuf {
        self.dir.join("logs").join(format!(
            "{}.json",
            hex::encode(sigstore_lite_core::keys::sha256(origin.as_bytes()))
        ))
    }

    fn stored(&self, origin: &str) -> Result<Witnessed, String> {
        let p = self.state_path(origin);
        match std::fs::read(&p) {
            Ok(b) => {
                let s: Stored =
                    serde_json::from_slice(&b).map_err(|e| format!("{}: {e}", p.display()))?;
                let root = B64
                    .decode(&s.root)
                    .ok()
                    .and_then(|r| <[u8; 32]>::try_from(r).ok())
                    .ok_or_else(|| format!("{}: a bad root", p.display()))?;
                Ok(Witnessed { size: s.size, root })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Witnessed {
                size: 0,
                root: [0; 32],
            }),
            Err(e) => Err(format!("{}: {e}", p.display())),
        }
    }

    fn record(&self, origin: &str, size: u64, root: &[u8; 32]) -> std::io::Result<()> {
        let p = self.state_path(origin);
        let tmp = p.with_extension("tmp");
        let body = serde_json::to_vec(&Stored {
            origin: origin.to_string(),
            size,
            root: B64.encode(root),
        })
        .expect("JSON");
        {
            let mut f = std::fs::File::create(&tmp)?;
            std::io::Write::write_all(&mut f, &body)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &p)?;
        std::fs::File::open(p.parent().expect("a directory"))?.sync_all()
    }

    /// Answers one `add-checkpoint` body.
    pub fn add_checkpoint(&self, body: &[u8]) -> Response {
        let refuse = |e: WitnessError| -> Response {
            if let WitnessError::SizeMismatch { stored, .. }
            | WitnessError::RootMismatch { stored } = e
            {
                // The spec's 409: the stored size, as text/x.tlog.size, nothing else.
                return (
                    StatusCode::CONFLICT,
                    [(header::CONTENT_TYPE, "text/x.tlog.size")],
                    format!("{stored}\n"),
                )
                    .into_response();
            }
            let status = StatusCode::from_u16(e.status()).expect("a status");
            let reason = match e {
                WitnessError::BadRequest(_) => "malformed_request",
                WitnessError::UnknownLog(_) => "unknown_log",
                WitnessError::NoLogSignature => "no_log_signature",
                WitnessError::OldTooLarge { .. } => "old_size_too_large",
                WitnessError::BadProof => "bad_consistency_proof",
                _ => "conflict",
            };
            sigstore_lite_server::json_error(status, reason, &e.to_string())
        };
        let req = match AddCheckpoint::parse(body) {
            Ok(r) => r,
            Err(e) => return refuse(e),
        };
        // The checkpoint must parse before its origin names a log.
        let parsed = sigstore_lite_core::note::SignedNote::parse(&req.note)
            .ok()
            .and_then(|n| sigstore_lite_core::note::Checkpoint::from_text(&n.text).ok());
        let Some(origin) = parsed.map(|c| c.origin) else {
            return refuse(WitnessError::BadRequest(
                "the body does not end in a signed checkpoint".into(),
            ));
        };
        let Some(log) = self.logs.get(&origin) else {
            return refuse(WitnessError::UnknownLog(origin));
        };
        let _one = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let stored = match self.stored(&origin) {
            Ok(s) => s,
            Err(why) => {
                tracing::error!(%why, "the witness state cannot be read");
                return sigstore_lite_server::json_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error",
                );
            }
        };
        let (cp, note) = match witness::decide(&req, log, &stored) {
            Ok(x) => x,
            Err(e) => return refuse(e),
        };
        if cp.size != stored.size || stored.size == 0 {
            if let Err(e) = self.record(&origin, cp.size, &cp.root_hash) {
                tracing::error!(error = %e, "the witness state cannot be written");
                return sigstore_lite_server::json_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error",
                );
            }
        }
        let now = (self.clock)()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        match witness::cosign(&self.name, &*self.signer, now, &note.text) {
            Ok(line) => (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                line,
            )
                .into_response(),
            Err(e) => sigstore_lite_server::json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "signing_key_unavailable",
                &e.to_string(),
            ),
        }
    }
}

/// The witness's HTTP API: `POST /add-checkpoint`, `/healthz`, and a JSON 404 elsewhere.
pub fn app(w: Arc<Witness>) -> Router {
    Router::new()
        .route(
            "/add-checkpoint",
            post(|State(w): State<Arc<Witness>>, body: Bytes| async move {
                if body.len() > MAX_BODY {
                    return sigstore_lite_server::json_error(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "body_too_large",
                        &format!("the request body is larger than the {MAX_BODY}-byte limit"),
                    );
                }
                tokio::task::spawn_blocking(move || w.add_checkpoint(&body))
                    .await
                    .unwrap_or_else(|_| {
                        sigstore_lite_server::json_error(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "internal",
                            "internal error",
                        )
                    })
            }),
        )
        .route(
            "/healthz",
            get(|| async { axum::Json(serde_json::json!({"status": "SERVING"})) }),
        )
        .fallback(sigstore_lite_server::not_found)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY + 1))
        .with_state(w)
}

/// Serves the witness on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    w: Arc<Witness>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    sigstore_lite_server::serve(listener, app(w), shutdown).await
}
