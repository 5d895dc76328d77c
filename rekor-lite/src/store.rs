//! Storage behind a narrow trait: stored Merkle node hashes (tlog numbering), entries, a leaf-hash
//! index, search keys and the latest signed checkpoint. [`RedbStore`] is the durable one;
//! [`MemStore`] is its in-memory twin for unit tests.
//!
//! The store does no tree math. The sequencer computes every hash of a batch and hands the store
//! one [`Batch`], which [`Store::append`] makes durable before it returns.
//!
//! Durability: each batch is one redb write transaction committed with
//! `Durability::Immediate`, so an entry is on disk before anyone hears of it.
//!
//! Indexes: the leaf-hash index (dedup, lookup by UUID) and the search index have random keys,
//! which cost a B-tree path each in every commit. They are kept small (8-byte key prefixes,
//! candidates checked against the full hash on read) and written in bulk: a batch's index
//! entries wait in memory (where lookups see them) for at most [`INDEX_EVERY`] or
//! [`INDEX_BATCH`] entries, then go into the next batch's transaction, which also records how far
//! the indexes reach. After a crash, [`RedbStore::open`] re-indexes the entries beyond that point
//! from their bodies, with the same rule the log used.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use redb::{MultimapTableDefinition, ReadableDatabase, ReadableTableMetadata, TableDefinition};
use tlog_tiles::Hash;

/// A store failure. Never shown to clients beyond "internal error".
#[derive(Debug, thiserror::Error)]
#[error("storage error: {0}")]
pub struct StoreError(pub String);

impl From<redb::Error> for StoreError {
    fn from(e: redb::Error) -> Self {
        StoreError(e.to_string())
    }
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self { StoreError(e.to_string()) }
        }
    )*};
}
from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// One logged entry as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEntry {
    pub body: Vec<u8>,
    pub integrated_time: i64,
}

/// One entry of a batch.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub index: u64,
    pub leaf_hash: [u8; 32],
    pub entry: StoredEntry,
    pub index_keys: Vec<String>,
}

/// Everything one group commit writes.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    pub entries: Vec<NewEntry>,
    /// `(stored hash index, hash)` pairs, as produced by `tlog_tiles::stored_hashes`.
    pub hashes: Vec<(u64, Hash)>,
    pub new_size: u64,
    /// The signed checkpoint (note wire form) for `new_size`.
    pub checkpoint: String,
}

/// The log's storage. Every method is synchronous and may block on disk.
pub trait Store: Send + Sync + 'static {
    /// Committed tree size.
    fn tree_size(&self) -> Result<u64, StoreError>;
    /// Committed stored hashes by tlog stored-hash index; `None` if any is missing.
    fn read_hashes(&self, indexes: &[u64]) -> Result<Option<Vec<Hash>>, StoreError>;
    fn entry(&self, index: u64) -> Result<Option<StoredEntry>, StoreError>;
    fn index_of(&self, leaf_hash: &[u8; 32]) -> Result<Option<u64>, StoreError>;
    /// [`Store::index_of`] for many leaves at once (one round trip for a database).
    fn index_of_many(&self, leaves: &[[u8; 32]]) -> Result<Vec<Option<u64>>, StoreError> {
        leaves.iter().map(|l| self.index_of(l)).collect()
    }
    /// Entry indexes filed under a search key, ascending.
    fn search(&self, key: &str) -> Result<Vec<u64>, StoreError>;
    /// The latest signed checkpoint (note wire form).
    fn checkpoint(&self) -> Result<Option<String>, StoreError>;
    /// Writes the batch atomically; durable when this returns `Ok`.
    fn append(&self, batch: &Batch) -> Result<(), StoreError>;
    /// Who integrates: a store of one process always does; a shared store ([`crate::pgstore`])
    /// only while it holds the lease.
    fn role(&self) -> Role {
        Role::Integrator
    }
    /// Whether other processes write the same log (the committed size and checkpoint must then
    /// be read from the store, not remembered).
    fn is_shared(&self) -> bool {
        false
    }
    /// Whether the store can serve now (a shared store: its database answers).
    fn healthy(&self) -> bool {
        true
    }
    /// A process leaving a shared log gives up integrating at once (so that another takes over
    /// without waiting for the lease to run out).
    fn release(&self) {}
}

/// Who integrates a log, seen from one process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// This process sequences, builds the tree and signs checkpoints.
    Integrator,
    /// Another process does: writes are forwarded to it.
    Follower { leader_url: String },
    /// Nobody holds the lease yet (or the database cannot be reached): writes get 503.
    NoIntegrator,
    /// This process serves reads only (`--read-only`, a read replica): writes get 405.
    ReadOnly,
}

/// Adapts a [`Store`] to tlog_tiles' hash reader.
pub struct StoreHashReader<'a>(pub &'a dyn Store);

impl tlog_tiles::HashReader for StoreHashReader<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        match self.0.read_hashes(indexes) {
            Ok(Some(h)) => Ok(h),
            Ok(None) => Err(tlog_tiles::Error::IndexesNotInTree),
            Err(e) => Err(tlog_tiles::Error::InvalidInput(e.0)),
        }
    }
}

const HASHES: TableDefinition<u64, &[u8]> = TableDefinition::new("hashes");
const ENTRIES: TableDefinition<u64, &[u8]> = TableDefinition::new("entries");
/// First 8 bytes of a leaf hash -> entry indexes.
const LEAVES: MultimapTableDefinition<u64, u64> = MultimapTableDefinition::new("leaves8");
/// (first 8 bytes of SHA-256 of a search key, entry index) -> the full SHA-256 of the key.
const SEARCH: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("search8");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

fn encode_entry(e: &StoredEntry) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + e.body.len());
    v.extend_from_slice(&e.integrated_time.to_be_bytes());
    v.extend_from_slice(&e.body);
    v
}

fn decode_entry(v: &[u8]) -> Result<StoredEntry, StoreError> {
    if v.len() < 8 {
        return Err(StoreError("corrupt entry record".into()));
    }
    Ok(StoredEntry {
        integrated_time: i64::from_be_bytes(v[..8].try_into().expect("8 bytes")),
        body: v[8..].to_vec(),
    })
}

/// How long index entries may wait in memory before they are written to redb.
pub const INDEX_EVERY: Duration = Duration::from_millis(50);
/// How many entries' index entries may wait in memory before they are written to redb.
pub const INDEX_BATCH: usize = 8192;

fn prefix(h: &[u8; 32]) -> u64 {
    u64::from_be_bytes(h[..8].try_into().expect("8 bytes"))
}

/// Index entries not yet in redb.
#[derive(Default)]
struct Pending {
    leaves: HashMap<[u8; 32], u64>,
    search: HashMap<[u8; 32], Vec<u64>>,
    since: Option<Instant>,
}

impl Pending {
    fn add_one(&mut self, index: u64, leaf: [u8; 32], keys: &[String]) {
        self.leaves.insert(leaf, index);
        for k in keys {
            self.search
                .entry(sigstore_lite_core::keys::sha256(k.as_bytes()))
                .or_default()
                .push(index);
        }
        self.since.get_or_insert_with(Instant::now);
    }

    fn add(&mut self, b: &Batch) {
        for e in &b.entries {
            self.add_one(e.index, e.leaf_hash, &e.index_keys);
        }
    }

    fn due(&self) -> bool {
        self.leaves.len() >= INDEX_BATCH || self.since.is_some_and(|t| t.elapsed() >= INDEX_EVERY)
    }
}
/// WAL size that triggers a durable redb commit.
pub const WAL_LIMIT: u64 = 64 << 20;

/// Derives an entry's search keys from its stored body (the log's rule, given by the log).
pub type Reindex = dyn Fn(&[u8]) -> Vec<String> + Send + Sync;

/// The durable store: one redb file (see the module documentation).
pub struct RedbStore {
    db: redb::Database,
    pending: RwLock<Pending>,
    /// Tests leave it unset to drop the store as a crash would.
    flush_on_drop: std::sync::atomic::AtomicBool,
}

impl RedbStore {
    /// Opens or creates `path`; `cache_bytes` bounds redb's page cache (and so most of the RSS).
    /// Entries that a crash left out of the indexes are re-indexed with `reindex`.
    pub fn open(path: &Path, cache_bytes: usize, reindex: &Reindex) -> Result<Self, StoreError> {
        let db = redb::Builder::new()
            .set_cache_size(cache_bytes)
            .create(path)?;
        let tx = db.begin_write()?;
        {
            tx.open_table(HASHES)?;
            tx.open_table(ENTRIES)?;
            tx.open_multimap_table(LEAVES)?;
            tx.open_table(SEARCH)?;
            tx.open_table(META)?;
        }
        tx.commit()?;
        let store = RedbStore {
            db,
            pending: RwLock::new(Pending::default()),
            flush_on_drop: std::sync::atomic::AtomicBool::new(true),
        };
        store.reindex(reindex)?;
        Ok(store)
    }

    fn indexed_size(&self) -> Result<u64, StoreError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(META)?;
        Ok(t.get("indexed_size")?
            .and_then(|v| v.value().try_into().ok().map(u64::from_be_bytes))
            .unwrap_or(0))
    }

    /// Indexes the entries beyond the recorded index size, in one durable transaction.
    fn reindex(&self, reindex: &Reindex) -> Result<(), StoreError> {
        let (from, to) = (self.indexed_size()?, self.tree_size()?);
        if from >= to {
            return Ok(());
        }
        tracing::info!(
            from,
            to,
            "indexing the entries a crash left out of the indexes"
        );
        {
            let mut p = self.pending.write().expect("lock");
            for i in from..to {
                let e = self
                    .entry(i)?
                    .ok_or_else(|| StoreError(format!("entry {i} is missing")))?;
                let leaf = sigstore_lite_core::merkle::leaf_hash(&e.body);
                p.add_one(i, leaf, &reindex(&e.body));
            }
        }
        let tx = self.db.begin_write()?;
        self.write_pending(&tx, to)?;
        tx.commit()?;
        *self.pending.write().expect("lock") = Pending::default();
        Ok(())
    }

    /// Inserts the pending index entries into `tx`, sorted by key, and records that the indexes
    /// now reach `size`.
    fn write_pending(&self, tx: &redb::WriteTransaction, size: u64) -> Result<(), StoreError> {
        let p = self.pending.read().expect("lock");
        let mut leaves = tx.open_multimap_table(LEAVES)?;
        let sorted: BTreeSet<(u64, u64)> = p.leaves.iter().map(|(l, i)| (prefix(l), *i)).collect();
        for (k, i) in sorted {
            leaves.insert(k, i)?;
        }
        let mut search = tx.open_table(SEARCH)?;
        let mut sorted: Vec<((u64, u64), &[u8; 32])> = p
            .search
            .iter()
            .flat_map(|(h, is)| is.iter().map(move |i| ((prefix(h), *i), h)))
            .collect();
        sorted.sort();
        for (k, h) in sorted {
            search.insert(k, h.as_slice())?;
        }
        tx.open_table(META)?
            .insert("indexed_size", size.to_be_bytes().as_slice())?;
        Ok(())
    }
}

/// A clean stop writes the indexes still held in memory, so that the next start has nothing to
/// re-index (only a crash leaves that work).
impl Drop for RedbStore {
    fn drop(&mut self) {
        if !self
            .flush_on_drop
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            return;
        }
        let empty = {
            let p = self.pending.read().expect("lock");
            p.leaves.is_empty() && p.search.is_empty()
        };
        if empty {
            return;
        }
        let flushed = (|| -> Result<(), StoreError> {
            let size = self.tree_size()?;
            let tx = self.db.begin_write()?;
            self.write_pending(&tx, size)?;
            tx.commit()?;
            Ok(())
        })();
        if let Err(e) = flushed {
            tracing::warn!(error = %e, "the indexes will be rebuilt at the next start");
        }
    }
}

impl Store for RedbStore {
    fn tree_size(&self) -> Result<u64, StoreError> {
        let tx = self.db.begin_read()?;
        Ok(tx.open_table(ENTRIES)?.len()?)
    }

    fn read_hashes(&self, indexes: &[u64]) -> Result<Option<Vec<Hash>>, StoreError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(HASHES)?;
        let mut out = Vec::with_capacity(indexes.len());
        for i in indexes {
            let Some(v) = t.get(i)? else { return Ok(None) };
            let h: [u8; 32] = v
                .value()
                .try_into()
                .map_err(|_| StoreError("corrupt hash record".into()))?;
            out.push(Hash(h));
        }
        Ok(Some(out))
    }

    fn entry(&self, index: u64) -> Result<Option<StoredEntry>, StoreError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(ENTRIES)?;
        t.get(index)?.map(|v| decode_entry(v.value())).transpose()
    }

    fn index_of(&self, leaf_hash: &[u8; 32]) -> Result<Option<u64>, StoreError> {
        if let Some(i) = self.pending.read().expect("lock").leaves.get(leaf_hash) {
            return Ok(Some(*i));
        }
        let tx = self.db.begin_read()?;
        let candidates: Vec<u64> = {
            let t = tx.open_multimap_table(LEAVES)?;
            let mut v = Vec::new();
            for i in t.get(prefix(leaf_hash))? {
                v.push(i?.value());
            }
            v
        };
        // Candidates share the key's 8-byte prefix: the entry's own leaf hash decides.
        let entries = tx.open_table(ENTRIES)?;
        for i in candidates {
            if let Some(v) = entries.get(i)? {
                let e = decode_entry(v.value())?;
                if sigstore_lite_core::merkle::leaf_hash(&e.body) == *leaf_hash {
                    return Ok(Some(i));
                }
            }
        }
        Ok(None)
    }

    fn search(&self, key: &str) -> Result<Vec<u64>, StoreError> {
        let h = sigstore_lite_core::keys::sha256(key.as_bytes());
        let mut out: BTreeSet<u64> = self
            .pending
            .read()
            .expect("lock")
            .search
            .get(&h)
            .map(|v| v.iter().copied().collect())
            .unwrap_or_default();
        let tx = self.db.begin_read()?;
        let t = tx.open_table(SEARCH)?;
        let p = prefix(&h);
        for r in t.range((p, 0)..=(p, u64::MAX))? {
            let (k, v) = r?;
            if v.value() == h.as_slice() {
                out.insert(k.value().1);
            }
        }
        Ok(out.into_iter().collect())
    }

    fn checkpoint(&self) -> Result<Option<String>, StoreError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(META)?;
        Ok(t.get("checkpoint")?
            .map(|v| String::from_utf8_lossy(v.value()).into_owned()))
    }

    fn append(&self, b: &Batch) -> Result<(), StoreError> {
        let flush = {
            let mut p = self.pending.write().expect("lock");
            p.add(b);
            p.due()
        };
        let tx = self.db.begin_write()?;
        {
            let mut hashes = tx.open_table(HASHES)?;
            for (i, h) in &b.hashes {
                hashes.insert(i, h.0.as_slice())?;
            }
            let mut entries = tx.open_table(ENTRIES)?;
            for e in &b.entries {
                entries.insert(e.index, encode_entry(&e.entry).as_slice())?;
            }
            tx.open_table(META)?
                .insert("checkpoint", b.checkpoint.as_bytes())?;
            if flush {
                self.write_pending(&tx, b.new_size)?;
            }
        }
        if let Err(e) = tx.commit() {
            // Nothing of the batch is in the store: its index entries leave memory too.
            let mut p = self.pending.write().expect("lock");
            for e in &b.entries {
                p.leaves.remove(&e.leaf_hash);
            }
            for v in p.search.values_mut() {
                v.retain(|i| *i < b.new_size - b.entries.len() as u64);
            }
            return Err(e.into());
        }
        if flush {
            *self.pending.write().expect("lock") = Pending::default();
        }
        Ok(())
    }
}

#[derive(Default)]
struct MemInner {
    hashes: HashMap<u64, Hash>,
    entries: Vec<StoredEntry>,
    leaves: HashMap<[u8; 32], u64>,
    search: HashMap<String, Vec<u64>>,
    checkpoint: Option<String>,
}

/// In-memory twin of [`RedbStore`] for unit tests.
#[derive(Default)]
pub struct MemStore(RwLock<MemInner>);

impl Store for MemStore {
    fn tree_size(&self) -> Result<u64, StoreError> {
        Ok(self.0.read().expect("lock").entries.len() as u64)
    }

    fn read_hashes(&self, indexes: &[u64]) -> Result<Option<Vec<Hash>>, StoreError> {
        let g = self.0.read().expect("lock");
        Ok(indexes.iter().map(|i| g.hashes.get(i).copied()).collect())
    }

    fn entry(&self, index: u64) -> Result<Option<StoredEntry>, StoreError> {
        let g = self.0.read().expect("lock");
        Ok(usize::try_from(index)
            .ok()
            .and_then(|i| g.entries.get(i).cloned()))
    }

    fn index_of(&self, leaf_hash: &[u8; 32]) -> Result<Option<u64>, StoreError> {
        Ok(self.0.read().expect("lock").leaves.get(leaf_hash).copied())
    }

    fn search(&self, key: &str) -> Result<Vec<u64>, StoreError> {
        Ok(self
            .0
            .read()
            .expect("lock")
            .search
            .get(key)
            .cloned()
            .unwrap_or_default())
    }

    fn checkpoint(&self) -> Result<Option<String>, StoreError> {
        Ok(self.0.read().expect("lock").checkpoint.clone())
    }

    fn append(&self, b: &Batch) -> Result<(), StoreError> {
        let mut g = self.0.write().expect("lock");
        let first = g.entries.len() as u64;
        if b.entries
            .iter()
            .enumerate()
            .any(|(k, e)| e.index != first + k as u64)
        {
            return Err(StoreError("non-contiguous append".into()));
        }
        for (i, h) in &b.hashes {
            g.hashes.insert(*i, *h);
        }
        for e in &b.entries {
            g.entries.push(e.entry.clone());
            g.leaves.insert(e.leaf_hash, e.index);
            for k in &e.index_keys {
                g.search.entry(k.clone()).or_default().push(e.index);
            }
        }
        g.checkpoint = Some(b.checkpoint.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(first: u64, n: u64) -> Batch {
        Batch {
            entries: (first..first + n)
                .map(|i| {
                    let body = format!("{{\"n\":{i}}}").into_bytes();
                    NewEntry {
                        index: i,
                        leaf_hash: sigstore_lite_core::merkle::leaf_hash(&body),
                        entry: StoredEntry {
                            body,
                            integrated_time: 7,
                        },
                        index_keys: vec![format!("k:{i}"), "all".into()],
                    }
                })
                .collect(),
            hashes: (first..first + n)
                .map(|i| (i * 3, Hash([i as u8; 32])))
                .collect(),
            new_size: first + n,
            checkpoint: format!("checkpoint {}", first + n),
        }
    }

    #[test]
    fn indexes_are_written_in_bulk_and_rebuilt_after_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.redb");
        let reindex = |body: &[u8]| {
            let n = String::from_utf8_lossy(body)
                .trim_start_matches("{\"n\":")
                .trim_end_matches('}')
                .to_string();
            vec![format!("k:{n}"), "all".into()]
        };
        {
            let s = RedbStore::open(&path, 1 << 20, &reindex).unwrap();
            s.append(&batch(0, 3)).unwrap();
            s.append(&batch(3, 2)).unwrap();
            // Not flushed yet: lookups see the pending index entries.
            assert!(!s.pending.read().unwrap().leaves.is_empty());
            assert_eq!(s.search("all").unwrap(), vec![0, 1, 2, 3, 4]);
            assert_eq!(s.indexed_size().unwrap(), 0);
            s.flush_on_drop
                .store(false, std::sync::atomic::Ordering::Relaxed);
        } // dropped without a flush: as after a crash
        let s = RedbStore::open(&path, 1 << 20, &reindex).unwrap();
        assert_eq!(s.tree_size().unwrap(), 5);
        assert_eq!(s.indexed_size().unwrap(), 5);
        assert!(s.pending.read().unwrap().leaves.is_empty());
        let leaf4 = sigstore_lite_core::merkle::leaf_hash(b"{\"n\":4}");
        assert_eq!(s.index_of(&leaf4).unwrap(), Some(4));
        assert_eq!(s.index_of(&[9u8; 32]).unwrap(), None);
        assert_eq!(s.search("all").unwrap(), vec![0, 1, 2, 3, 4]);
        assert_eq!(s.search("k:3").unwrap(), vec![3]);
        assert_eq!(s.search("k:9").unwrap(), Vec::<u64>::new());
        // A clean stop writes what is pending: the next start has nothing to re-index.
        s.append(&batch(5, 2)).unwrap();
        assert!(!s.pending.read().unwrap().leaves.is_empty());
        drop(s);
        let s = RedbStore::open(&path, 1 << 20, &|_: &[u8]| -> Vec<String> {
            panic!("nothing is re-indexed after a clean stop")
        })
        .unwrap();
        assert_eq!(s.indexed_size().unwrap(), 7);
        assert_eq!(s.search("all").unwrap(), vec![0, 1, 2, 3, 4, 5, 6]);
    }
}
