//! What the log's handles and its sequencer share: the clock, the key and identity, the signed
//! checkpoint, the core state (store, latest checkpoint, metrics, caches), and the record of the
//! largest committed tree. [`crate::log`] and [`crate::sequencer`] both build on this module.

use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use sigstore_lite_core::keys::Signer;
use sigstore_lite_core::note::{Checkpoint, SignedNote};
use tlog_tiles::Hash;

use crate::error::Error;
use crate::metrics::Metrics;
use crate::store::{Store, StoreError};
use crate::tree;

/// The clock the log reads integrated times and checkpoint timestamps from.
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(SystemTime::now)
}

pub(crate) fn unix_seconds(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A signed checkpoint and what it commits to.
#[derive(Debug, Clone)]
pub struct SignedCheckpoint {
    pub size: u64,
    pub root: [u8; 32],
    /// Note wire form.
    pub note: String,
}

impl SignedCheckpoint {
    pub(crate) fn parse(note: String) -> Result<Self, StoreError> {
        let n =
            SignedNote::parse(&note).map_err(|e| StoreError(format!("stored checkpoint: {e}")))?;
        let c = Checkpoint::from_text(&n.text)
            .map_err(|e| StoreError(format!("stored checkpoint: {e}")))?;
        Ok(SignedCheckpoint {
            size: c.size,
            root: c.root_hash,
            note,
        })
    }
}

/// Identity of a Rekor v1 log.
#[derive(Debug, Clone)]
pub struct LogIdentity {
    pub tree_id: i64,
    /// The checkpoint key name, e.g. the host name.
    pub key_name: String,
}

/// The log's signing key and API flavor.
pub enum LogKey {
    /// Rekor v1: ECDSA P-256, SETs, checkpoints `<host> - <tree ID>`.
    V1 {
        signer: Arc<dyn Signer>,
        id: LogIdentity,
    },
    /// Rekor v2: Ed25519, C2SP checkpoints signed under `origin` (the host name).
    V2 {
        signer: Arc<dyn Signer>,
        origin: String,
    },
}

/// Memory for full tiles already served (about 4,000 hash tiles, fewer entry bundles).
pub const TILE_CACHE_BYTES: usize = 32 << 20;

/// What the handles and the sequencer share.
pub(crate) struct Core {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) key: LogKey,
    pub(crate) origin: String,
    /// v1: SHA-256 of the key's SPKI; v2: the C2SP key hash under the origin.
    pub(crate) log_id: [u8; 32],
    pub(crate) log_id_hex: String,
    pub(crate) latest: RwLock<Arc<SignedCheckpoint>>,
    pub(crate) metrics: Metrics,
    pub(crate) clock: Clock,
    /// Full tiles already served (v2).
    pub(crate) tiles: tree::TileCache,
    /// Where the largest committed (so possibly signed) tree size is recorded, outside the store.
    pub(crate) watermark: Option<std::path::PathBuf>,
    /// Set when a commit failed: the store may need reopening; /healthz says NOT_SERVING.
    pub(crate) failed: std::sync::atomic::AtomicBool,
}

impl Core {
    /// The latest signed checkpoint. A shared store's is read from the store (another process
    /// may have integrated since); the one remembered is kept when the store cannot be read.
    pub(crate) fn latest(&self) -> Arc<SignedCheckpoint> {
        if self.store.is_shared() {
            if let Ok(Some(note)) = self.store.checkpoint() {
                if let Ok(cp) = SignedCheckpoint::parse(note) {
                    let mut l = self.latest.write().expect("lock");
                    if cp.size >= l.size {
                        *l = Arc::new(cp);
                    }
                }
            }
        }
        Arc::clone(&self.latest.read().expect("lock"))
    }
}

/// Signs a checkpoint of `size` leaves with root `root` (v1: stamped with the log's clock).
pub(crate) fn sign_checkpoint(
    core: &Core,
    size: u64,
    root: Hash,
) -> Result<SignedCheckpoint, Error> {
    match &core.key {
        LogKey::V1 { signer, id } => sign_checkpoint_with(
            &**signer,
            &core.origin,
            &id.key_name,
            &core.clock,
            size,
            root,
        ),
        LogKey::V2 { signer, origin } => {
            let text = Checkpoint {
                origin: origin.clone(),
                size,
                root_hash: root.0,
                extensions: Vec::new(),
            }
            .to_text();
            let sig = signer.try_sign(text.as_bytes()).map_err(key_unavailable)?;
            let note = SignedNote::with_signature(text, origin, signer.public_key(), sig).encode();
            Ok(SignedCheckpoint {
                size,
                root: root.0,
                note,
            })
        }
    }
}

/// A signature the log's key could not make.
pub(crate) fn key_unavailable(e: sigstore_lite_core::keys::SignError) -> Error {
    Error::KeyUnavailable(e.to_string())
}

pub(crate) fn sign_checkpoint_with(
    signer: &dyn Signer,
    origin: &str,
    key_name: &str,
    clock: &Clock,
    size: u64,
    root: Hash,
) -> Result<SignedCheckpoint, Error> {
    let nanos = clock()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let cp = Checkpoint {
        origin: origin.to_string(),
        size,
        root_hash: root.0,
        extensions: vec![format!("Timestamp: {nanos}")],
    };
    let note = SignedNote::sign(cp.to_text(), key_name, signer)
        .map_err(key_unavailable)?
        .encode();
    Ok(SignedCheckpoint {
        size,
        root: root.0,
        note,
    })
}

/// The tree size recorded at `path` (0 when there is none yet).
pub(crate) fn read_watermark(path: &std::path::Path) -> Result<u64, Error> {
    match std::fs::read_to_string(path) {
        Ok(s) => s
            .trim()
            .parse()
            .map_err(|_| Error::Internal(format!("{} does not hold a tree size", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(Error::Internal(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

/// Records `size` at `path` (write and rename: never half a number). Not synced: after a crash
/// the record may lag the store, which only weakens the check, never fails a good store.
pub(crate) fn write_watermark(path: &std::path::Path, size: u64) -> Result<(), Error> {
    let tmp = path.with_extension("tmp");
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
        o.open(&tmp)?.write_all(format!("{size}\n").as_bytes())
    };
    write()
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            Error::Internal(format!(
                "cannot record the tree size in {}: {e}",
                path.display()
            ))
        })
}
