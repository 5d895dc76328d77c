//! The log: a single sequencer thread that group-commits batches, and the read side (entries with
//! fresh inclusion proofs and SETs, consistency proofs, the latest checkpoint).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use sigstore_lite_core::keys::Signer;
use sigstore_lite_core::note::{rekor_origin, Checkpoint, SignedNote};
use sigstore_lite_core::rekor::{self, CanonicalEntry, InclusionProof, LogEntry, Verification};
use tlog_tiles::{Hash, HashReader};
use tokio::sync::{mpsc, oneshot};

use crate::error::Error;
use crate::metrics::Metrics;
use crate::store::{Batch, NewEntry, Store, StoreError, StoreHashReader, StoredEntry};

/// Most entries one group commit takes.
pub const MAX_BATCH: usize = 1024;

/// A signed checkpoint and what it commits to.
#[derive(Debug, Clone)]
pub struct SignedCheckpoint {
    pub size: u64,
    pub root: [u8; 32],
    /// Note wire form.
    pub note: String,
}

impl SignedCheckpoint {
    fn parse(note: String) -> Result<Self, StoreError> {
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

/// The result of a durable append.
#[derive(Debug, Clone)]
pub enum Appended {
    New {
        index: u64,
        integrated_time: i64,
        checkpoint: Arc<SignedCheckpoint>,
    },
    Duplicate {
        index: u64,
    },
}

struct Pending {
    entry: CanonicalEntry,
    leaf: [u8; 32],
    queued: Instant,
    reply: oneshot::Sender<Result<Appended, Error>>,
}

/// Identity of the log.
#[derive(Debug, Clone)]
pub struct LogIdentity {
    pub tree_id: i64,
    /// The checkpoint key name, e.g. the host name.
    pub key_name: String,
}

/// A handle to the running log. Cheap to clone.
#[derive(Clone)]
pub struct Log {
    inner: Arc<Inner>,
}

/// What the handlers and the sequencer share.
struct Core {
    store: Arc<dyn Store>,
    signer: Arc<Signer>,
    id: LogIdentity,
    origin: String,
    log_id_hex: String,
    latest: RwLock<Arc<SignedCheckpoint>>,
    metrics: Metrics,
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
    }
}

impl std::ops::Deref for Inner {
    type Target = Core;
    fn deref(&self) -> &Core {
        &self.core
    }
}

fn unix_now() -> (i64, u128) {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970");
    (d.as_secs() as i64, d.as_nanos())
}

/// Stored hashes of the committed store with the batch's new hashes laid over them.
struct Overlay<'a> {
    store: &'a dyn Store,
    new: HashMap<u64, Hash>,
}

impl HashReader for Overlay<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        let missing: Vec<u64> = indexes
            .iter()
            .filter(|i| !self.new.contains_key(i))
            .copied()
            .collect();
        let fetched = if missing.is_empty() {
            Vec::new()
        } else {
            StoreHashReader(self.store).read_hashes(&missing)?
        };
        let mut fetched = fetched.into_iter();
        Ok(indexes
            .iter()
            .map(|i| match self.new.get(i) {
                Some(h) => *h,
                None => fetched.next().expect("one fetched hash per missing index"),
            })
            .collect())
    }
}

/// Extends the committed tree by leaves, computing the stored hashes a batch must write.
struct TreeBuilder<'a> {
    overlay: Overlay<'a>,
    hashes: Vec<(u64, Hash)>,
    size: u64,
}

impl<'a> TreeBuilder<'a> {
    fn new(store: &'a dyn Store, size: u64) -> Self {
        TreeBuilder {
            overlay: Overlay {
                store,
                new: HashMap::new(),
            },
            hashes: Vec::new(),
            size,
        }
    }

    /// Appends one leaf and returns its index.
    fn push(&mut self, leaf: [u8; 32]) -> Result<u64, Error> {
        let n = self.size;
        let new = tlog_tiles::stored_hashes_for_record_hash(n, Hash(leaf), &self.overlay)
            .map_err(|e| Error::Internal(format!("stored hashes: {e}")))?;
        let base = tlog_tiles::stored_hash_index(0, n);
        for (k, h) in new.into_iter().enumerate() {
            self.overlay.new.insert(base + k as u64, h);
            self.hashes.push((base + k as u64, h));
        }
        self.size += 1;
        Ok(n)
    }

    fn root(&self) -> Result<Hash, Error> {
        tlog_tiles::tree_hash(self.size, &self.overlay)
            .map_err(|e| Error::Internal(format!("tree hash: {e}")))
    }
}

/// Appends `bodies` straight into `store` in batches of `batch` entries, one signed checkpoint per
/// batch, without signature checks, dedup or search keys. For building big logs in benchmarks and
/// imports; the log must not be running on the same store.
pub fn bulk_load(
    store: &dyn Store,
    signer: &Signer,
    id: &LogIdentity,
    bodies: impl Iterator<Item = Vec<u8>>,
    batch: usize,
    integrated_time: i64,
) -> Result<u64, Error> {
    let origin = rekor_origin(&id.key_name, id.tree_id);
    let mut size = store.tree_size()?;
    let mut bodies = bodies.peekable();
    while bodies.peek().is_some() {
        let mut tb = TreeBuilder::new(store, size);
        let mut entries = Vec::with_capacity(batch);
        for body in bodies.by_ref().take(batch) {
            let leaf = sigstore_lite_core::merkle::leaf_hash(&body);
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
        let cp = sign_checkpoint(signer, &origin, &id.key_name, tb.size, tb.root()?);
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
    /// Opens the log over `store` and starts its sequencer thread. Must be called inside a tokio
    /// runtime. An empty store gets a signed checkpoint of the empty tree.
    pub fn open(store: Arc<dyn Store>, signer: Signer, id: LogIdentity) -> Result<Log, Error> {
        let origin = rekor_origin(&id.key_name, id.tree_id);
        let signer = Arc::new(signer);
        let latest = match store.checkpoint()? {
            Some(note) => SignedCheckpoint::parse(note)?,
            None => {
                let cp = sign_checkpoint(&signer, &origin, &id.key_name, 0, tlog_tiles::EMPTY_HASH);
                store.append(&Batch {
                    entries: Vec::new(),
                    hashes: Vec::new(),
                    new_size: 0,
                    checkpoint: cp.note.clone(),
                })?;
                cp
            }
        };
        let size = store.tree_size()?;
        if size != latest.size {
            return Err(Error::Internal(format!(
                "store holds {size} entries but its checkpoint says {}",
                latest.size
            )));
        }
        let (tx, rx) = mpsc::channel(16 * MAX_BATCH);
        let core = Arc::new(Core {
            log_id_hex: hex::encode(signer.public_key().key_id()),
            store,
            signer,
            id,
            origin,
            latest: RwLock::new(Arc::new(latest)),
            metrics: Metrics::default(),
        });
        let seq = Arc::clone(&core);
        let handle = std::thread::Builder::new()
            .name("rekor-sequencer".into())
            .spawn(move || sequencer(seq, rx, size))
            .map_err(|e| Error::Internal(format!("cannot start the sequencer: {e}")))?;
        Ok(Log {
            inner: Arc::new(Inner {
                core,
                tx: Some(tx),
                sequencer: Some(handle),
            }),
        })
    }

    pub fn signer(&self) -> &Signer {
        &self.inner.signer
    }

    pub fn tree_id(&self) -> i64 {
        self.inner.id.tree_id
    }

    pub fn origin(&self) -> &str {
        &self.inner.origin
    }

    pub fn log_id_hex(&self) -> &str {
        &self.inner.log_id_hex
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    pub fn store(&self) -> &dyn Store {
        &*self.inner.store
    }

    /// The latest signed checkpoint.
    pub fn latest(&self) -> Arc<SignedCheckpoint> {
        Arc::clone(&self.inner.latest.read().expect("lock"))
    }

    /// Appends a verified entry; resolves once it is durable (or known as a duplicate).
    pub async fn append(&self, entry: CanonicalEntry) -> Result<Appended, Error> {
        let leaf = sigstore_lite_core::merkle::leaf_hash(&entry.body);
        let (reply, rx) = oneshot::channel();
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
        rx.await.map_err(|_| Error::Unavailable)?
    }

    /// Builds the API view of entry `index` with an inclusion proof against `checkpoint` and a
    /// freshly signed SET.
    pub fn entry_view(
        &self,
        index: u64,
        stored: &StoredEntry,
        checkpoint: &SignedCheckpoint,
    ) -> Result<(String, LogEntry), Error> {
        let leaf = sigstore_lite_core::merkle::leaf_hash(&stored.body);
        let proof = if checkpoint.size == 0 {
            Vec::new()
        } else {
            tlog_tiles::prove_record(checkpoint.size, index, &StoreHashReader(self.store()))
                .map_err(|e| Error::Internal(format!("inclusion proof: {e}")))?
        };
        let body = B64.encode(&stored.body);
        let set = rekor::sign_set(self.signer(), &body, stored.integrated_time, index);
        let uuid = rekor::entry_id(self.tree_id(), &leaf);
        Ok((
            uuid,
            LogEntry {
                body,
                integrated_time: stored.integrated_time,
                log_id: self.inner.log_id_hex.clone(),
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
        ))
    }

    /// Entry `index` as of the latest checkpoint, or `None` if it is not in the tree.
    pub fn entry_by_index(&self, index: u64) -> Result<Option<(String, LogEntry)>, Error> {
        let cp = self.latest();
        if index >= cp.size {
            return Ok(None);
        }
        let Some(stored) = self.store().entry(index)? else {
            return Ok(None);
        };
        self.entry_view(index, &stored, &cp).map(Some)
    }

    /// Entry by 64-hex leaf hash.
    pub fn entry_by_leaf(&self, leaf: &[u8; 32]) -> Result<Option<(String, LogEntry)>, Error> {
        match self.store().index_of(leaf)? {
            Some(i) => self.entry_by_index(i),
            None => Ok(None),
        }
    }

    /// RFC 6962 consistency proof from `first` to `last` (both within the latest checkpoint).
    pub fn consistency(&self, first: u64, last: u64) -> Result<(Hash, Vec<Hash>), Error> {
        let r = StoreHashReader(self.store());
        let root = tlog_tiles::tree_hash(last, &r).map_err(|e| Error::Internal(e.to_string()))?;
        let proof = if first == last || first == 0 {
            Vec::new()
        } else {
            tlog_tiles::prove_tree(last, first, &r).map_err(|e| Error::Internal(e.to_string()))?
        };
        Ok((root, proof))
    }
}

fn sign_checkpoint(
    signer: &Signer,
    origin: &str,
    key_name: &str,
    size: u64,
    root: Hash,
) -> SignedCheckpoint {
    let (_, nanos) = unix_now();
    let cp = Checkpoint {
        origin: origin.to_string(),
        size,
        root_hash: root.0,
        extensions: vec![format!("Timestamp: {nanos}")],
    };
    let note = SignedNote::sign(cp.to_text(), key_name, signer).encode();
    SignedCheckpoint {
        size,
        root: root.0,
        note,
    }
}

fn sequencer(log: Arc<Core>, mut rx: mpsc::Receiver<Pending>, mut size: u64) {
    let mut pending = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.blocking_recv() {
        pending.push(first);
        while pending.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) => pending.push(p),
                Err(_) => break,
            }
        }
        size = commit_batch(&log, std::mem::take(&mut pending), size);
    }
}

enum Outcome {
    New(u64),
    Duplicate(u64),
}

/// Sequences, hashes, signs and durably commits one batch, then answers every waiter. Returns the
/// new tree size (unchanged if the commit failed).
fn commit_batch(log: &Core, batch: Vec<Pending>, size: u64) -> u64 {
    let store = &*log.store;
    let (now, _) = unix_now();
    let mut tb = TreeBuilder::new(store, size);
    let mut in_batch: HashMap<[u8; 32], u64> = HashMap::new();
    let mut outcomes = Vec::with_capacity(batch.len());
    let mut entries = Vec::new();
    let result: Result<(), Error> = (|| {
        for p in &batch {
            if let Some(&i) = in_batch.get(&p.leaf) {
                outcomes.push(Outcome::Duplicate(i));
                continue;
            }
            if let Some(i) = store.index_of(&p.leaf)? {
                outcomes.push(Outcome::Duplicate(i));
                continue;
            }
            let n = tb.push(p.leaf)?;
            in_batch.insert(p.leaf, n);
            entries.push(NewEntry {
                index: n,
                leaf_hash: p.leaf,
                entry: StoredEntry {
                    body: p.entry.body.clone(),
                    integrated_time: now,
                },
                index_keys: p.entry.index_keys.clone(),
            });
            outcomes.push(Outcome::New(n));
        }
        Ok(())
    })();
    let n = tb.size;
    let result = result.and_then(|()| {
        if n == size {
            return Ok(None);
        }
        let cp = sign_checkpoint(&log.signer, &log.origin, &log.id.key_name, n, tb.root()?);
        let started = Instant::now();
        store.append(&Batch {
            entries,
            hashes: std::mem::take(&mut tb.hashes),
            new_size: n,
            checkpoint: cp.note.clone(),
        })?;
        log.metrics
            .commit_seconds
            .observe(started.elapsed().as_secs_f64());
        Ok(Some(Arc::new(cp)))
    });
    match result {
        Err(e) => {
            tracing::error!(error = %e, "batch not committed");
            for p in batch {
                let _ = p.reply.send(Err(Error::Internal(
                    "the log could not commit the entry".into(),
                )));
            }
            size
        }
        Ok(cp) => {
            let cp = match cp {
                Some(cp) => {
                    *log.latest.write().expect("lock") = Arc::clone(&cp);
                    cp
                }
                None => Arc::clone(&log.latest.read().expect("lock")),
            };
            let new_count = n - size;
            use std::sync::atomic::Ordering::Relaxed;
            log.metrics.entries.fetch_add(new_count, Relaxed);
            log.metrics
                .duplicates
                .fetch_add(batch.len() as u64 - new_count, Relaxed);
            log.metrics.batch_size.observe(batch.len() as f64);
            for (p, o) in batch.into_iter().zip(outcomes) {
                log.metrics
                    .append_seconds
                    .observe(p.queued.elapsed().as_secs_f64());
                let r = match o {
                    Outcome::New(index) => Appended::New {
                        index,
                        integrated_time: now,
                        checkpoint: Arc::clone(&cp),
                    },
                    Outcome::Duplicate(index) => Appended::Duplicate { index },
                };
                let _ = p.reply.send(Ok(r));
            }
            n
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemStore;
    use sigstore_lite_core::merkle;

    fn entry(i: u64) -> CanonicalEntry {
        CanonicalEntry {
            body: format!("{{\"n\":{i}}}").into_bytes(),
            index_keys: vec![format!("k:{}", i % 3)],
        }
    }

    async fn log_with(n: u64) -> (Log, Vec<[u8; 32]>) {
        let log = Log::open(
            Arc::new(MemStore::default()),
            Signer::generate_p256().unwrap(),
            LogIdentity {
                tree_id: 7,
                key_name: "test".into(),
            },
        )
        .unwrap();
        let mut leaves = Vec::new();
        for i in 0..n {
            leaves.push(merkle::leaf_hash(&entry(i).body));
            assert!(
                matches!(log.append(entry(i)).await.unwrap(), Appended::New { index, .. } if index == i)
            );
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
            let (_, e) = log.entry_by_index(i).unwrap().unwrap();
            let p = e.verification.inclusion_proof.unwrap();
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
    async fn bulk_load_then_serve() {
        let store: Arc<dyn Store> = Arc::new(MemStore::default());
        let signer = Signer::generate_p256().unwrap();
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
            Appended::New { index: 100, .. }
        ));
        let (_, e) = log.entry_by_index(42).unwrap().unwrap();
        assert_eq!(e.integrated_time, 5);
    }

    #[tokio::test]
    async fn duplicates_are_reported_not_appended() {
        let (log, _) = log_with(3).await;
        assert!(matches!(
            log.append(entry(1)).await.unwrap(),
            Appended::Duplicate { index: 1 }
        ));
        assert_eq!(log.latest().size, 3);
        assert_eq!(log.store().search("k:1").unwrap(), vec![1]);
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
                let (_, e) = log.entry_by_index(i).unwrap().unwrap();
                let p = e.verification.inclusion_proof.unwrap();
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
