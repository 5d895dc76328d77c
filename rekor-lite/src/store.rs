//! Storage behind a narrow trait: stored Merkle node hashes (tlog numbering), entries, a leaf-hash
//! index, search keys and the latest signed checkpoint. [`RedbStore`] is the durable one;
//! [`MemStore`] is its in-memory twin for unit tests.
//!
//! The store does no tree math. The sequencer computes every hash of a batch and hands the store
//! one [`Batch`], which [`Store::append`] writes in a single durable transaction.

use std::collections::HashMap;
use std::path::Path;
use std::sync::RwLock;

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
    /// Entry indexes filed under a search key, ascending.
    fn search(&self, key: &str) -> Result<Vec<u64>, StoreError>;
    /// The latest signed checkpoint (note wire form).
    fn checkpoint(&self) -> Result<Option<String>, StoreError>;
    /// Writes the batch atomically; durable when this returns `Ok`.
    fn append(&self, batch: &Batch) -> Result<(), StoreError>;
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
const LEAVES: TableDefinition<&[u8], u64> = TableDefinition::new("leaves");
const SEARCH: MultimapTableDefinition<&str, u64> = MultimapTableDefinition::new("search");
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

/// The durable store: one redb file. Each [`Store::append`] is one write transaction committed
/// with `Durability::Immediate` (fsync before it returns).
pub struct RedbStore {
    db: redb::Database,
}

impl RedbStore {
    /// Opens or creates `path`. `cache_bytes` bounds redb's page cache (and so most of the RSS).
    pub fn open(path: &Path, cache_bytes: usize) -> Result<Self, StoreError> {
        let db = redb::Builder::new()
            .set_cache_size(cache_bytes)
            .create(path)?;
        let tx = db.begin_write()?;
        {
            tx.open_table(HASHES)?;
            tx.open_table(ENTRIES)?;
            tx.open_table(LEAVES)?;
            tx.open_multimap_table(SEARCH)?;
            tx.open_table(META)?;
        }
        tx.commit()?;
        Ok(RedbStore { db })
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
        let tx = self.db.begin_read()?;
        let t = tx.open_table(LEAVES)?;
        Ok(t.get(leaf_hash.as_slice())?.map(|v| v.value()))
    }

    fn search(&self, key: &str) -> Result<Vec<u64>, StoreError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_multimap_table(SEARCH)?;
        let mut out = Vec::new();
        for v in t.get(key)? {
            out.push(v?.value());
        }
        Ok(out)
    }

    fn checkpoint(&self) -> Result<Option<String>, StoreError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(META)?;
        Ok(t.get("checkpoint")?
            .map(|v| String::from_utf8_lossy(v.value()).into_owned()))
    }

    fn append(&self, b: &Batch) -> Result<(), StoreError> {
        let tx = self.db.begin_write()?;
        {
            let mut hashes = tx.open_table(HASHES)?;
            for (i, h) in &b.hashes {
                hashes.insert(i, h.0.as_slice())?;
            }
            let mut entries = tx.open_table(ENTRIES)?;
            let mut leaves = tx.open_table(LEAVES)?;
            let mut search = tx.open_multimap_table(SEARCH)?;
            for e in &b.entries {
                entries.insert(e.index, encode_entry(&e.entry).as_slice())?;
                leaves.insert(e.leaf_hash.as_slice(), e.index)?;
                for k in &e.index_keys {
                    search.insert(k.as_str(), e.index)?;
                }
            }
            let mut meta = tx.open_table(META)?;
            meta.insert("checkpoint", b.checkpoint.as_bytes())?;
        }
        tx.commit()?;
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
