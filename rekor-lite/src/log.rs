//! The log handle: appends (resolved once durable, with the finished entry: inclusion proof and,
//! for Rekor v1, a SET), and the read side (entries with fresh proofs and SETs, search,
//! consistency proofs, tiles, the latest checkpoint). Handlers talk to the log only through
//! [`Log`].
//!
//! One log is either a Rekor v1 log (ECDSA key, checkpoints with origin `<host> - <tree ID>` and
//! Rekor's key hint, a `Timestamp` line, SETs) or a Rekor v2 log (Ed25519 key, C2SP checkpoints
//! with origin `<host>` and C2SP key IDs, no SET, entries as `TransparencyLogEntry`).

use std::sync::{Arc, RwLock};
use std::time::Instant;

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use sigstore_lite_core::bundle::{self, KindVersion, TlogEntry};
use sigstore_lite_core::keys::{P256Signer, PublicKey, Signer};
use sigstore_lite_core::merkle::leaf_hash;
use sigstore_lite_core::note::{c2sp_key_hash, rekor_origin, Checkpoint, SignedNote};
use sigstore_lite_core::rekor::{self, CanonicalEntry, InclusionProof, LogEntry, Verification};
use sigstore_lite_core::trust::LogId;
use tlog_tiles::Hash;
use tokio::sync::{mpsc, oneshot};

use crate::error::Error;
use crate::metrics::Metrics;
use crate::sequencer::{self, Committed, Pending, MAX_BATCH};
pub(crate) use crate::state::{
    read_watermark, sign_checkpoint, sign_checkpoint_with, write_watermark, Core,
};
pub use crate::state::{
    system_clock, Clock, LogIdentity, LogKey, SignedCheckpoint, TILE_CACHE_BYTES,
};
use crate::store::{Batch, NewEntry, Store, StoredEntry};
use crate::tree::{self, TreeBuilder};

/// An entry as the API shows it.
#[derive(Debug, Clone)]
pub enum EntryView {
    /// Rekor v1: the 80-hex entry ID and the `LogEntry` value.
    V1 { id: String, entry: LogEntry },
    /// Rekor v2: a `TransparencyLogEntry`.
    V2(TlogEntry),
}

impl EntryView {
    pub fn log_index(&self) -> u64 {
        match self {
            EntryView::V1 { entry, .. } => entry.log_index,
            EntryView::V2(t) => t.log_index as u64,
        }
    }
}

/// The result of a durable append.
#[derive(Debug, Clone)]
pub enum Appended {
    /// Logged: the entry with its inclusion proof against the checkpoint of its batch (and, v1, a
    /// SET).
    New(EntryView),
    /// Already in the log at `index` (with this v1 entry ID).
    Duplicate { index: u64, id: String },
}

/// The handles' side. Dropping the last [`Log`] closes the queue and joins the sequencer, so the
/// store is closed when the last handle is gone.
struct Inner {
    core: Arc<Core>,
    tx: Option<mpsc::Sender<Pending>>,
    sequencer: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(t) = self.sequencer.take() {
            let _ = t.join();
        }
        // A log shared through PostgreSQL: the last handle gone, this process leaves the lease.
        self.core.store.release();
    }
}

/// A handle to the running log. Cheap to clone.
#[derive(Clone)]
pub struct Log {
    inner: Arc<Inner>,
}

/// Appends `bodies` straight into `store` in batches of `batch` entries, one signed checkpoint per
/// batch, without signature checks, dedup or search keys. For building big logs in benchmarks and
/// imports; the log must not be running on the same store.
pub fn bulk_load(
    store: &dyn Store,
    signer: &dyn Signer,
    id: &LogIdentity,
    bodies: impl Iterator<Item = Vec<u8>>,
    batch: usize,
    integrated_time: i64,
) -> Result<u64, Error> {
    let origin = rekor_origin(&id.key_name, id.tree_id);
    let clock = system_clock();
    let mut size = store.tree_size()?;
    let mut bodies = bodies.peekable();
    while bodies.peek().is_some() {
        let mut tb = TreeBuilder::new(store, size);
        let mut entries = Vec::with_capacity(batch);
        for body in bodies.by_ref().take(batch) {
            let leaf = leaf_hash(&body);
            let index = tb.push(leaf)?;
            entries.push(NewEntry {
                index,
                leaf_hash: leaf,
                entry: StoredEntry {
                    body,
                    integrated_time,
                },
                index_keys: Vec::new(),
            });
        }
        let cp = sign_checkpoint_with(signer, &origin, &id.key_name, &clock, tb.size, tb.root()?)?;
        store.append(&Batch {
            entries,
            hashes: std::mem::take(&mut tb.hashes),
            new_size: tb.size,
            checkpoint: cp.note,
        })?;
        size = tb.size;
    }
    Ok(size)
}

impl Log {
    /// Opens a Rekor v1 log over `store` and starts its sequencer thread, with the system clock.
    /// Must be called inside a tokio runtime. An empty store gets a signed checkpoint of the empty
    /// tree.
    pub fn open(store: Arc<dyn Store>, signer: P256Signer, id: LogIdentity) -> Result<Log, Error> {
        Self::open_with_clock(
            store,
            LogKey::V1 {
                signer: Arc::new(signer),
                id,
            },
            system_clock(),
        )
    }

    /// Opens a log (v1 or v2) with the clock given.
    pub fn open_with_clock(store: Arc<dyn Store>, key: LogKey, clock: Clock) -> Result<Log, Error> {
        Self::open_with_watermark(store, key, clock, None)
    }

    /// Opens the log; with `watermark`, refuses a store holding a smaller tree than the log has
    /// committed before (a deleted, emptied or rolled-back store: serving it would fork the log),
    /// and records each new committed size there.
    pub fn open_with_watermark(
        store: Arc<dyn Store>,
        key: LogKey,
        clock: Clock,
        watermark: Option<std::path::PathBuf>,
    ) -> Result<Log, Error> {
        let (origin, log_id) = match &key {
            LogKey::V1 { signer, id } => (
                rekor_origin(&id.key_name, id.tree_id),
                signer.public_key().key_id(),
            ),
            LogKey::V2 { signer, origin } => {
                (origin.clone(), c2sp_key_hash(origin, signer.public_key()))
            }
        };
        let mut core = Core {
            log_id_hex: hex::encode(log_id),
            log_id,
            store: Arc::clone(&store),
            key,
            origin,
            latest: RwLock::new(Arc::new(SignedCheckpoint {
                size: 0,
                root: tlog_tiles::EMPTY_HASH.0,
                note: String::new(),
            })),
            metrics: Metrics::default(),
            clock,
            tiles: tree::TileCache::new(TILE_CACHE_BYTES),
            watermark,
            failed: std::sync::atomic::AtomicBool::new(false),
        };
        let latest = match store.checkpoint()? {
            Some(note) => {
                let cp = SignedCheckpoint::parse(note)?;
                let found = SignedNote::parse(&cp.note)
                    .ok()
                    .and_then(|n| Checkpoint::from_text(&n.text).ok())
                    .map(|c| c.origin)
                    .unwrap_or_default();
                if found != core.origin {
                    return Err(Error::Internal(format!(
                        "the store holds the log {found:?}, not {:?} (another key, tree ID, origin or API version)",
                        core.origin
                    )));
                }
                // The same origin under another key would fork the log silently: the stored
                // checkpoint must be signed by the key given now.
                let signed = SignedNote::parse(&cp.note).map_err(|e| {
                    Error::Internal(format!("the stored checkpoint does not parse: {e}"))
                })?;
                let ok = match &core.key {
                    LogKey::V1 { signer, id } => signed.verify(&id.key_name, signer.public_key()),
                    LogKey::V2 { signer, origin } => {
                        signed.verify_c2sp(origin, signer.public_key())
                    }
                };
                if ok.is_err() {
                    return Err(Error::Internal(format!(
                        "the store's latest checkpoint is not signed by the key given ({}): the log was made with another key",
                        hex::encode(&core.log_id[..8])
                    )));
                }
                cp
            }
            None => {
                let cp = sign_checkpoint(&core, 0, tlog_tiles::EMPTY_HASH)?;
                store.append(&Batch {
                    entries: Vec::new(),
                    hashes: Vec::new(),
                    new_size: 0,
                    checkpoint: cp.note.clone(),
                })?;
                match store.checkpoint()? {
                    // Another process of a shared log may have written it first (or more).
                    Some(note) if store.is_shared() => SignedCheckpoint::parse(note)?,
                    _ => cp,
                }
            }
        };
        let size = if store.is_shared() {
            latest.size
        } else {
            store.tree_size()?
        };
        if size != latest.size {
            return Err(Error::Internal(format!(
                "store holds {size} entries but its checkpoint says {}",
                latest.size
            )));
        }
        if let Some(w) = &core.watermark {
            let signed = read_watermark(w)?;
            if signed > size {
                return Err(Error::Internal(format!(
                    "the store holds a tree of {size} entries but this log has committed and signed a tree of {signed} ({}): refusing to serve a forked log; restore the store, or start a new log in an empty directory",
                    w.display()
                )));
            }
            write_watermark(w, size)?;
        }
        let (tx, rx) = mpsc::channel(16 * MAX_BATCH);
        core.latest = RwLock::new(Arc::new(latest));
        let core = Arc::new(core);
        let seq = Arc::clone(&core);
        let handle = std::thread::Builder::new()
            .name("rekor-sequencer".into())
            .spawn(move || sequencer::run(seq, rx, size))
            .map_err(|e| Error::Internal(format!("cannot start the sequencer: {e}")))?;
        Ok(Log {
            inner: Arc::new(Inner {
                core,
                tx: Some(tx),
                sequencer: Some(handle),
            }),
        })
    }

    fn core(&self) -> &Core {
        &self.inner.core
    }

    /// The log's public key.
    pub fn public_key(&self) -> &PublicKey {
        match &self.core().key {
            LogKey::V1 { signer, .. } => signer.public_key(),
            LogKey::V2 { signer, .. } => signer.public_key(),
        }
    }

    /// Whether the log's key can sign now (a token that is gone cannot). Blocking: a token or
    /// KMS plugin is asked.
    pub fn probe_key(&self) -> Result<(), sigstore_lite_core::keys::SignError> {
        match &self.core().key {
            LogKey::V1 { signer, .. } | LogKey::V2 { signer, .. } => signer.probe(),
        }
    }

    /// Whether the log can commit: false after a failed commit (the store may need reopening;
    /// a supervisor should restart the process).
    pub fn is_healthy(&self) -> bool {
        !self
            .core()
            .failed
            .load(std::sync::atomic::Ordering::Relaxed)
            && self.core().store.healthy()
    }

    /// Whether a commit failed on a store of this process alone (which may need reopening: the
    /// binary exits so that a supervisor restarts it). A shared store's failures are not this.
    pub fn commit_failed(&self) -> bool {
        self.core()
            .failed
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Stops integrating a shared log at once (on shutdown), so that another process takes over
    /// without waiting for the lease to run out. Appends after this get 503 or are forwarded.
    pub fn release(&self) {
        self.core().store.release();
    }

    /// Who integrates this log (always this process, unless the store is shared).
    pub fn role(&self) -> crate::store::Role {
        self.core().store.role()
    }

    /// Whether this is a Rekor v2 log.
    pub fn is_v2(&self) -> bool {
        matches!(self.core().key, LogKey::V2 { .. })
    }

    /// The v1 tree ID (0 for a v2 log).
    pub fn tree_id(&self) -> i64 {
        match &self.core().key {
            LogKey::V1 { id, .. } => id.tree_id,
            LogKey::V2 { .. } => 0,
        }
    }

    pub fn origin(&self) -> &str {
        &self.core().origin
    }

    pub fn log_id_hex(&self) -> &str {
        &self.core().log_id_hex
    }

    pub fn metrics(&self) -> &Metrics {
        &self.core().metrics
    }

    /// The latest signed checkpoint.
    pub fn latest(&self) -> Arc<SignedCheckpoint> {
        self.core().latest()
    }

    /// The 80-hex entry ID of a leaf.
    pub fn entry_id(&self, leaf: &[u8; 32]) -> String {
        rekor::entry_id(self.tree_id(), leaf)
    }

    /// Appends a verified entry. Resolves once it is durable, with the finished entry (inclusion
    /// proof against its batch's checkpoint and a fresh SET), or as a duplicate.
    pub async fn append(&self, entry: CanonicalEntry) -> Result<Appended, Error> {
        let leaf = leaf_hash(&entry.body);
        let (reply, rx) = oneshot::channel();
        let body = entry.body.clone();
        self.inner
            .tx
            .as_ref()
            .ok_or(Error::Unavailable)?
            .send(Pending {
                entry,
                leaf,
                queued: Instant::now(),
                reply,
            })
            .await
            .map_err(|_| Error::Unavailable)?;
        match rx.await.map_err(|_| Error::Unavailable)?? {
            Committed::Duplicate { index } => Ok(Appended::Duplicate {
                index,
                id: self.entry_id(&leaf),
            }),
            Committed::New {
                index,
                integrated_time,
                checkpoint,
            } => Ok(Appended::New(self.view(
                index,
                &StoredEntry {
                    body,
                    integrated_time,
                },
                &leaf,
                &checkpoint,
            )?)),
        }
    }

    /// The API view of entry `index`: inclusion proof against `checkpoint` and (v1) a fresh SET.
    fn view(
        &self,
        index: u64,
        stored: &StoredEntry,
        leaf: &[u8; 32],
        checkpoint: &SignedCheckpoint,
    ) -> Result<EntryView, Error> {
        let proof = tree::prove_inclusion(&*self.core().store, checkpoint.size, index)?;
        let body = B64.encode(&stored.body);
        let signer = match &self.core().key {
            LogKey::V1 { signer, .. } => signer,
            LogKey::V2 { .. } => {
                let (kind, version) = rekor::entry::kind_version_of(&stored.body)
                    .map_err(|e| Error::Internal(format!("stored body: {e}")))?;
                return Ok(EntryView::V2(TlogEntry {
                    log_index: index as i64,
                    log_id: LogId {
                        key_id: B64.encode(self.core().log_id),
                    },
                    kind_version: KindVersion { kind, version },
                    integrated_time: 0,
                    inclusion_promise: None,
                    inclusion_proof: Some(bundle::InclusionProof {
                        log_index: index as i64,
                        root_hash: B64.encode(checkpoint.root),
                        tree_size: checkpoint.size as i64,
                        hashes: proof.iter().map(|h| B64.encode(h.0)).collect(),
                        checkpoint: bundle::CheckpointEnvelope {
                            envelope: checkpoint.note.clone(),
                        },
                    }),
                    canonicalized_body: body,
                }));
            }
        };
        let set = rekor::sign_set(&**signer, &body, stored.integrated_time, index)
            .map_err(crate::state::key_unavailable)?;
        Ok(EntryView::V1 {
            id: self.entry_id(leaf),
            entry: LogEntry {
                body,
                integrated_time: stored.integrated_time,
                log_id: self.core().log_id_hex.clone(),
                log_index: index,
                verification: Verification {
                    signed_entry_timestamp: B64.encode(set),
                    inclusion_proof: Some(InclusionProof {
                        log_index: index,
                        root_hash: hex::encode(checkpoint.root),
                        tree_size: checkpoint.size,
                        hashes: proof.iter().map(|h| hex::encode(h.0)).collect(),
                        checkpoint: checkpoint.note.clone(),
                    }),
                },
            },
        })
    }

    /// Entry `index` as of the latest checkpoint, or `None` if it is not in the tree.
    pub fn entry_by_index(&self, index: u64) -> Result<Option<EntryView>, Error> {
        let cp = self.latest();
        if index >= cp.size {
            return Ok(None);
        }
        let Some(stored) = self.core().store.entry(index)? else {
            return Ok(None);
        };
        let leaf = leaf_hash(&stored.body);
        self.view(index, &stored, &leaf, &cp).map(Some)
    }

    /// Entry by leaf hash.
    pub fn entry_by_leaf(&self, leaf: &[u8; 32]) -> Result<Option<EntryView>, Error> {
        match self.core().store.index_of(leaf)? {
            Some(i) => self.entry_by_index(i),
            None => Ok(None),
        }
    }

    /// Entry IDs filed under every (`and`) or any of `keys`, in log order, within the latest
    /// checkpoint.
    pub fn search(&self, keys: &[String], and: bool) -> Result<Vec<String>, Error> {
        use std::collections::BTreeSet;
        let mut result: Option<BTreeSet<u64>> = None;
        for k in keys {
            let hits: BTreeSet<u64> = self.core().store.search(k)?.into_iter().collect();
            result = Some(match result {
                None => hits,
                Some(r) if and => r.intersection(&hits).copied().collect(),
                Some(r) => r.union(&hits).copied().collect(),
            });
        }
        let size = self.latest().size;
        let mut ids = Vec::new();
        for i in result.unwrap_or_default().into_iter().filter(|i| *i < size) {
            if let Some(e) = self.core().store.entry(i)? {
                ids.push(self.entry_id(&leaf_hash(&e.body)));
            }
        }
        Ok(ids)
    }

    /// A C2SP tile of the tree at the latest checkpoint (see [`tree::tile`]), and whether it is
    /// full (immutable: those are cached).
    pub fn tile(&self, path: &str) -> Result<(Arc<[u8]>, bool), Error> {
        if let Some(t) = self.core().tiles.get(path) {
            return Ok((t, true));
        }
        let (data, full) = tree::tile(&*self.core().store, self.latest().size, path)?
            .ok_or_else(|| Error::NotFound(format!("no tile {path} in the tree")))?;
        let data: Arc<[u8]> = data.into();
        if full {
            self.core().tiles.put(path, Arc::clone(&data));
        }
        Ok((data, full))
    }

    /// RFC 6962 consistency proof from `first` to `last` (both within the latest checkpoint).
    pub fn consistency(&self, first: u64, last: u64) -> Result<(Hash, Vec<Hash>), Error> {
        tree::prove_consistency(&*self.core().store, first, last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemStore;
    use crate::store::StoreError;
    use sigstore_lite_core::merkle;
    use std::time::UNIX_EPOCH;

    fn entry(i: u64) -> CanonicalEntry {
        CanonicalEntry {
            body: format!("{{\"n\":{i}}}").into_bytes(),
            index_keys: vec![format!("k:{}", i % 3)],
        }
    }

    /// A v1 view's entry ID and entry.
    fn v1(v: EntryView) -> (String, LogEntry) {
        match v {
            EntryView::V1 { id, entry } => (id, entry),
            EntryView::V2(_) => panic!("a v2 entry from a v1 log"),
        }
    }

    fn fixed_clock(t: u64) -> Clock {
        Arc::new(move || UNIX_EPOCH + std::time::Duration::from_secs(t))
    }

    async fn log_with(n: u64) -> (Log, Vec<[u8; 32]>) {
        let log = Log::open_with_clock(
            Arc::new(MemStore::default()),
            LogKey::V1 {
                signer: Arc::new(P256Signer::generate_p256().unwrap()),
                id: LogIdentity {
                    tree_id: 7,
                    key_name: "test".into(),
                },
            },
            fixed_clock(1_700_000_000),
        )
        .unwrap();
        let mut leaves = Vec::new();
        for i in 0..n {
            leaves.push(merkle::leaf_hash(&entry(i).body));
            match log.append(entry(i)).await.unwrap() {
                Appended::New(v) => assert_eq!(v.log_index(), i),
                other => panic!("{other:?}"),
            }
        }
        (log, leaves)
    }

    #[tokio::test]
    async fn served_proofs_match_the_rfc_6962_reference() {
        let (log, leaves) = log_with(70).await;
        let cp = log.latest();
        assert_eq!(cp.size, 70);
        assert_eq!(cp.root, merkle::root(&leaves));
        for i in 0..70u64 {
            let v = log.entry_by_index(i).unwrap().unwrap();
            let p = v1(v).1.verification.inclusion_proof.unwrap();
            let hashes: Vec<Vec<u8>> = p.hashes.iter().map(|h| hex::decode(h).unwrap()).collect();
            let reference = merkle::inclusion_path(i as usize, &leaves);
            assert_eq!(
                hashes,
                reference.iter().map(|h| h.to_vec()).collect::<Vec<_>>()
            );
        }
        for first in 1..=70u64 {
            let (root, proof) = log.consistency(first, 70).unwrap();
            assert_eq!(root.0, cp.root);
            let reference = merkle::consistency_proof(first as usize, &leaves);
            assert_eq!(
                proof.iter().map(|h| h.0).collect::<Vec<_>>(),
                reference,
                "first={first}"
            );
        }
    }

    #[tokio::test]
    async fn append_returns_the_finished_entry_stamped_by_the_clock() {
        let (log, leaves) = log_with(5).await;
        let Appended::New(v) = log.append(entry(5)).await.unwrap() else {
            panic!("not new")
        };
        let (id, e) = v1(v);
        let e = &e;
        assert_eq!(e.integrated_time, 1_700_000_000);
        assert_eq!(id, rekor::entry_id(7, &merkle::leaf_hash(&entry(5).body)));
        let p = e.verification.inclusion_proof.as_ref().unwrap();
        let mut all = leaves.clone();
        all.push(merkle::leaf_hash(&entry(5).body));
        let hashes: Vec<Vec<u8>> = p.hashes.iter().map(|h| hex::decode(h).unwrap()).collect();
        merkle::verify_inclusion(5, p.tree_size, &all[5], &hashes, &merkle::root(&all)).unwrap();
        assert!(p.checkpoint.contains("Timestamp: 1700000000000000000"));
        rekor::verify_set(log.public_key(), e).unwrap();
    }

    /// A store whose appends fail once told to (a full or broken disk).
    #[derive(Default)]
    struct Failing {
        inner: MemStore,
        fail: std::sync::atomic::AtomicBool,
    }

    impl Store for Failing {
        fn tree_size(&self) -> Result<u64, StoreError> {
            self.inner.tree_size()
        }
        fn read_hashes(&self, indexes: &[u64]) -> Result<Option<Vec<Hash>>, StoreError> {
            self.inner.read_hashes(indexes)
        }
        fn entry(&self, index: u64) -> Result<Option<StoredEntry>, StoreError> {
            self.inner.entry(index)
        }
        fn index_of(&self, leaf_hash: &[u8; 32]) -> Result<Option<u64>, StoreError> {
            self.inner.index_of(leaf_hash)
        }
        fn search(&self, key: &str) -> Result<Vec<u64>, StoreError> {
            self.inner.search(key)
        }
        fn checkpoint(&self) -> Result<Option<String>, StoreError> {
            self.inner.checkpoint()
        }
        fn append(&self, batch: &Batch) -> Result<(), StoreError> {
            if self.fail.load(std::sync::atomic::Ordering::Relaxed) {
                return Err(StoreError("No space left on device".into()));
            }
            self.inner.append(batch)
        }
    }

    #[tokio::test]
    async fn a_failed_commit_makes_the_log_unhealthy_and_changes_nothing() {
        let store = Arc::new(Failing::default());
        let log = Log::open_with_clock(
            store.clone(),
            LogKey::V1 {
                signer: Arc::new(P256Signer::generate_p256().unwrap()),
                id: LogIdentity {
                    tree_id: 7,
                    key_name: "test".into(),
                },
            },
            fixed_clock(1_700_000_000),
        )
        .unwrap();
        log.append(entry(0)).await.unwrap();
        assert!(log.is_healthy());
        store.fail.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(log.append(entry(1)).await.is_err());
        assert!(!log.is_healthy(), "a failed commit shows in /healthz");
        assert_eq!(
            log.latest().size,
            1,
            "no checkpoint for what was not committed"
        );
        assert_eq!(store.tree_size().unwrap(), 1);
    }

    #[tokio::test]
    async fn bulk_load_then_serve() {
        let store: Arc<dyn Store> = Arc::new(MemStore::default());
        let signer = P256Signer::generate_p256().unwrap();
        let id = LogIdentity {
            tree_id: 9,
            key_name: "bulk".into(),
        };
        let n = bulk_load(
            &*store,
            &signer,
            &id,
            (0..100).map(|i| entry(i).body),
            33,
            5,
        )
        .unwrap();
        assert_eq!(n, 100);
        let log = Log::open(store, signer, id).unwrap();
        let leaves: Vec<_> = (0..100)
            .map(|i| merkle::leaf_hash(&entry(i).body))
            .collect();
        assert_eq!(log.latest().root, merkle::root(&leaves));
        assert!(matches!(
            log.append(entry(100)).await.unwrap(),
            Appended::New(v) if v.log_index() == 100
        ));
        let v = log.entry_by_index(42).unwrap().unwrap();
        assert_eq!(v1(v).1.integrated_time, 5);
    }

    #[tokio::test]
    async fn duplicates_are_reported_not_appended() {
        let (log, leaves) = log_with(3).await;
        assert!(matches!(
            log.append(entry(1)).await.unwrap(),
            Appended::Duplicate { index: 1, ref id } if *id == log.entry_id(&leaves[1])
        ));
        assert_eq!(log.latest().size, 3);
        assert_eq!(
            log.search(&["k:1".into()], false).unwrap(),
            vec![log.entry_id(&leaves[1])]
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
        #[test]
        fn every_served_proof_verifies_and_any_flipped_bit_fails(n in 1u64..300, pick in 0u64..10_000, bit in 0usize..256) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let (log, leaves) = log_with(n).await;
                let cp = log.latest();
                let i = pick % n;
                let v = log.entry_by_index(i).unwrap().unwrap();
                let p = v1(v).1.verification.inclusion_proof.unwrap();
                let mut hashes: Vec<Vec<u8>> = p.hashes.iter().map(|h| hex::decode(h).unwrap()).collect();
                merkle::verify_inclusion(i, n, &leaves[i as usize], &hashes, &cp.root).unwrap();
                if !hashes.is_empty() {
                    let k = (pick as usize) % hashes.len();
                    hashes[k][bit / 8] ^= 1 << (bit % 8);
                    assert!(merkle::verify_inclusion(i, n, &leaves[i as usize], &hashes, &cp.root).is_err());
                }
                let first = 1 + pick % n;
                let (root, proof) = log.consistency(first, n).unwrap();
                let old_root = merkle::root(&leaves[..first as usize]);
                let mut proof: Vec<Vec<u8>> = proof.iter().map(|h| h.0.to_vec()).collect();
                merkle::verify_consistency(first, n, &old_root, &root.0, &proof).unwrap();
                if !proof.is_empty() {
                    let k = (pick as usize) % proof.len();
                    proof[k][bit / 8] ^= 1 << (bit % 8);
                    assert!(merkle::verify_consistency(first, n, &old_root, &root.0, &proof).is_err());
                }
            });
        }
    }
}
