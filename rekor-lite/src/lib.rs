//! rekor-lite: a durable RFC 6962 transparency log that speaks the Rekor v1 API.
//!
//! - [`store`]: redb storage (and an in-memory twin) behind a narrow trait.
//! - [`tree`]: the tree math over the store (stored hashes, proofs).
//! - [`sequencer`]: the thread that group-commits batches (one write transaction, one checkpoint
//!   signature per batch).
//! - [`log`]: the handle: appends that resolve with the finished entry, and the read side (fresh
//!   inclusion proofs and SETs, search, consistency proofs).
//! - [`api`]: the axum router; [`error`]: the one error type and its HTTP mapping.
//!
//! It implements hashedrekord 0.0.1 and dsse 0.0.1 entries, one tree (no sharding), and no
//! Rekor v2 tiles. Ed25519 keys are accepted for dsse but not for hashedrekord (that needs
//! Ed25519ph). It has not been audited.

pub mod api;
pub mod api_v2;
pub mod cli;
pub mod error;
pub mod log;
pub mod metrics;
pub mod pgstore;
pub mod pgtls;
pub mod sequencer;
mod state;
pub mod store;
pub mod tree;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sigstore_lite_core::keys::{KeyKind, Signer};
pub use sigstore_lite_signer::KeyRef;

pub use error::Error;
pub use log::{Appended, Clock, EntryView, Log, LogIdentity, LogKey};

/// redb page cache size: bounds the server's memory whatever the log's size.
pub const CACHE_BYTES: usize = 64 << 20;

/// Where and how to open a log.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    /// The log key (v1: ECDSA P-256, v2: Ed25519): a PKCS#8 PEM file (default
    /// `<data_dir>/rekor-key.pem` or `<data_dir>/rekor-v2-key.pem`, made on first start), a
    /// `pkcs11:` URI or a KMS plugin's `<scheme>://` reference.
    pub key: Option<KeyRef>,
    /// Make the key in its token or KMS when it is not there yet (a file key is always made).
    pub create_key: bool,
    /// Host name used as checkpoint key name and origin (v1: origin prefix).
    pub origin: String,
    /// 1: Rekor v1 API; 2: Rekor v2 (rekor-tiles) API.
    pub api_version: u8,
    /// `postgres://...`: the log in PostgreSQL instead of `data_dir` (see [`pgstore`]).
    pub store: Option<String>,
    /// With a PostgreSQL store: the URL other processes of the log forward writes to while this
    /// one integrates.
    pub advertise: Option<String>,
    /// With a PostgreSQL store: serve reads only (a read replica; SELECT rights suffice).
    pub read_only: bool,
    /// With a PostgreSQL store: the database password, when not in the URL.
    pub store_password: Option<String>,
    /// With a PostgreSQL store: the schema the log lives in (default: the connection's).
    pub schema: Option<String>,
    /// With a PostgreSQL store: the CA (PEM) the database's TLS certificate chains to.
    pub store_ca: Option<PathBuf>,
}

impl Config {
    /// A v1 log in `data_dir` signing as `origin`.
    pub fn v1(data_dir: PathBuf, origin: &str) -> Config {
        Config {
            data_dir,
            key: None,
            create_key: false,
            origin: origin.to_string(),
            api_version: 1,
            store: None,
            advertise: None,
            read_only: false,
            store_password: None,
            schema: None,
            store_ca: None,
        }
    }

    /// A v2 log in `data_dir` signing as `origin`.
    pub fn v2(data_dir: PathBuf, origin: &str) -> Config {
        Config {
            api_version: 2,
            ..Config::v1(data_dir, origin)
        }
    }
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::Internal(format!("{what} {}: {e}", path.display()))
}

/// Opens the log key `r` (made when missing if `create`: the default file in the data
/// directory, or a key named with --create-key) and checks it is the kind the API signs with.
fn open_key(r: &KeyRef, api_version: u8, create: bool) -> Result<Arc<dyn Signer>, Error> {
    let want = if api_version == 1 {
        KeyKind::EcdsaP256
    } else {
        KeyKind::Ed25519
    };
    if let KeyRef::File(path) = r {
        if let Some(d) = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty() && !d.exists())
        {
            sigstore_lite_server::create_private_dir(d)
                .map_err(|e| io_err("cannot create", d, e))?;
        }
    }
    let signer = sigstore_lite_signer::open_or_generate(r, want, create)
        .map_err(|e| Error::Internal(format!("log key: {e}")))?;
    let kind = signer.public_key().kind();
    if kind != want {
        return Err(Error::Internal(format!(
            "log key {r}: a Rekor v{api_version} log signs with {}, not {}",
            want.name(),
            kind.name()
        )));
    }
    Ok(signer)
}

fn load_or_create_tree_id(path: &Path) -> Result<i64, Error> {
    match std::fs::read_to_string(path) {
        Ok(s) => s
            .trim()
            .parse()
            .map_err(|_| Error::Internal(format!("{} does not hold a tree ID", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut b = [0u8; 8];
            sigstore_lite_core::keys::random_bytes(&mut b);
            let id = (i64::from_be_bytes(b) & i64::MAX).max(1);
            sigstore_lite_server::write_private(path, format!("{id}\n").as_bytes())
                .map_err(|e| io_err("cannot write", path, e))?;
            Ok(id)
        }
        Err(e) => Err(io_err("cannot read", path, e)),
    }
}

/// The search keys of a stored body: the log's rule (`Entry::search_keys`), for re-indexing.
pub fn search_keys(body: &[u8]) -> Vec<String> {
    sigstore_lite_core::rekor::Entry::parse_body(body)
        .and_then(|e| e.search_keys())
        .unwrap_or_default()
}

/// The file, beside the store, recording the largest tree size the log has committed.
pub const WATERMARK: &str = "signed-size";

/// Opens (creating on first start) the log in `cfg.data_dir`: key, tree ID and redb store.
/// Refuses a store that is missing, empty or smaller than a tree the log committed before.
/// Must be called inside a tokio runtime.
pub fn open(cfg: &Config) -> Result<Log, Error> {
    if let Some(url) = &cfg.store {
        return open_postgres(cfg, url);
    }
    sigstore_lite_server::create_private_dir(&cfg.data_dir)
        .map_err(|e| io_err("cannot create", &cfg.data_dir, e))?;
    // A log's identity (key, tree ID, recorded size) without its store is a log whose entries
    // were lost: starting an empty log under the same identity would fork it silently.
    let store_path = cfg.data_dir.join("rekor.redb");
    let watermark = cfg.data_dir.join(WATERMARK);
    let identity = [
        watermark.clone(),
        cfg.data_dir.join("tree-id"),
        cfg.data_dir.join("rekor-key.pem"),
        cfg.data_dir.join("rekor-v2-key.pem"),
    ]
    .into_iter()
    .find(|p| p.exists());
    let store_len = std::fs::metadata(&store_path).map(|m| m.len()).unwrap_or(0);
    if let (Some(id), 0) = (&identity, store_len) {
        return Err(Error::Internal(format!(
            "{} is missing or empty, but {} says a log lived here: refusing to start a new, empty log under the old identity; restore the store, or start a new log in an empty directory",
            store_path.display(),
            id.display()
        )));
    }
    let key = match cfg.api_version {
        1 => {
            let r = cfg
                .key
                .clone()
                .unwrap_or_else(|| KeyRef::File(cfg.data_dir.join("rekor-key.pem")));
            let signer = open_key(&r, 1, cfg.create_key || cfg.key.is_none())?;
            let tree_id = load_or_create_tree_id(&cfg.data_dir.join("tree-id"))?;
            LogKey::V1 {
                signer,
                id: LogIdentity {
                    tree_id,
                    key_name: cfg.origin.clone(),
                },
            }
        }
        2 => {
            let r = cfg
                .key
                .clone()
                .unwrap_or_else(|| KeyRef::File(cfg.data_dir.join("rekor-v2-key.pem")));
            let signer = open_key(&r, 2, cfg.create_key || cfg.key.is_none())?;
            LogKey::V2 {
                signer,
                origin: cfg.origin.clone(),
            }
        }
        v => {
            return Err(Error::Internal(format!(
                "API version {v} is not served (1 or 2)"
            )))
        }
    };
    let store = store::RedbStore::open(&store_path, CACHE_BYTES, &search_keys)?;
    // redb creates the file with the umask's mode; the log's data is the owner's alone.
    #[cfg(unix)]
    std::fs::set_permissions(
        &store_path,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .map_err(|e| io_err("cannot restrict", &store_path, e))?;
    Log::open_with_watermark(Arc::new(store), key, log::system_clock(), Some(watermark))
}

/// Makes the log key at `path` if there is none (ECDSA P-256 for API 1, Ed25519 for 2), 0600.
/// For a launcher that owns its keys; a log shared by several processes is given its key.
pub fn ensure_key(path: &Path, api_version: u8) -> Result<(), Error> {
    if path.exists() {
        return Ok(());
    }
    if let Some(d) = path.parent() {
        sigstore_lite_server::create_private_dir(d).map_err(|e| io_err("cannot create", d, e))?;
    }
    let kind = if api_version == 1 {
        KeyKind::EcdsaP256
    } else {
        KeyKind::Ed25519
    };
    let pem = sigstore_lite_signer::generate_pem(kind).map_err(Error::Internal)?;
    sigstore_lite_server::write_private(path, pem.as_bytes())
        .map_err(|e| io_err("cannot write", path, e))
}

/// Opens the log kept in PostgreSQL at `url`. The key must be given (every process of the log
/// signs with the same one) and is checked against the identity the database records; nothing is
/// written to local disk.
fn open_postgres(cfg: &Config, url: &str) -> Result<Log, Error> {
    let r = cfg.key.as_ref().ok_or_else(|| {
        Error::Internal(
            "a log on PostgreSQL needs --key: every process of the log signs with the same key"
                .into(),
        )
    })?;
    if cfg.api_version != 1 && cfg.api_version != 2 {
        return Err(Error::Internal(format!(
            "API version {} is not served (1 or 2)",
            cfg.api_version
        )));
    }
    let signer = open_key(r, cfg.api_version, cfg.create_key)?;
    let (key, identity) = match cfg.api_version {
        1 => {
            let id = pgstore::Identity {
                api_version: 1,
                origin: cfg.origin.clone(),
                key_id: hex::encode(signer.public_key().key_id()),
            };
            (Some(signer), id)
        }
        2 => {
            let id = pgstore::Identity {
                api_version: 2,
                origin: cfg.origin.clone(),
                key_id: hex::encode(sigstore_lite_core::note::c2sp_key_hash(
                    &cfg.origin,
                    signer.public_key(),
                )),
            };
            let store = Arc::new(open_pg(url, &id, cfg)?);
            let log = Log::open_with_watermark(
                store.clone(),
                LogKey::V2 {
                    signer,
                    origin: cfg.origin.clone(),
                },
                log::system_clock(),
                None,
            )?;
            store.start_lease(advertise(cfg)?);
            return Ok(log);
        }
        v => {
            return Err(Error::Internal(format!(
                "API version {v} is not served (1 or 2)"
            )))
        }
    };
    let store = Arc::new(open_pg(url, &identity, cfg)?);
    let log = Log::open_with_watermark(
        store.clone(),
        LogKey::V1 {
            signer: key.expect("v1 key"),
            id: LogIdentity {
                tree_id: store.tree_id(),
                key_name: cfg.origin.clone(),
            },
        },
        log::system_clock(),
        None,
    )?;
    store.start_lease(advertise(cfg)?);
    Ok(log)
}

fn open_pg(url: &str, id: &pgstore::Identity, cfg: &Config) -> Result<pgstore::PgStore, Error> {
    Ok(pgstore::PgStore::open_with(
        url,
        &pgstore::Options {
            password: cfg.store_password.clone(),
            schema: cfg.schema.clone(),
            read_only: cfg.read_only,
            ca_file: cfg.store_ca.clone(),
        },
        id,
    )?)
}

fn advertise(cfg: &Config) -> Result<String, Error> {
    cfg.advertise.clone().ok_or_else(|| {
        Error::Internal(
            "a log on PostgreSQL needs the URL other processes reach this one at (--advertise)"
                .into(),
        )
    })
}

/// Serves `log` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    log: Log,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_on(listener, log, None, shutdown).await
}

/// [`serve`], over HTTPS when `tls` is given.
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    log: Log,
    tls: Option<sigstore_lite_server::tls::Config>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = if log.is_v2() {
        api_v2::app(log)
    } else {
        api::app(log)
    };
    sigstore_lite_server::tls::serve_maybe(listener, app, tls, shutdown).await
}
