//! Tree math over the store: the Merkle tree kept as Go `tlog`'s append-only stored hashes (via
//! `tlog_tiles`), extended by a batch in memory before it is committed, and the proofs read
//! from it. No sequencing, no I/O beyond the store's reads.

use std::collections::HashMap;

use tlog_tiles::{Hash, HashReader};

use crate::error::Error;
use crate::store::{Store, StoreHashReader};

/// Stored hashes of the committed store with a batch's new hashes laid over them.
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
pub struct TreeBuilder<'a> {
    overlay: Overlay<'a>,
    /// `(stored hash index, hash)` pairs to write.
    pub hashes: Vec<(u64, Hash)>,
    pub size: u64,
}

impl<'a> TreeBuilder<'a> {
    /// A builder over the committed tree of `size` leaves.
    pub fn new(store: &'a dyn Store, size: u64) -> Self {
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
    pub fn push(&mut self, leaf: [u8; 32]) -> Result<u64, Error> {
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

    /// The root of the extended tree.
    pub fn root(&self) -> Result<Hash, Error> {
        tlog_tiles::tree_hash(self.size, &self.overlay)
            .map_err(|e| Error::Internal(format!("tree hash: {e}")))
    }

    /// An inclusion proof of leaf `index` in the extended tree (before it is committed).
    pub fn prove(&self, index: u64) -> Result<Vec<Hash>, Error> {
        tlog_tiles::prove_record(self.size, index, &self.overlay)
            .map_err(|e| Error::Internal(format!("inclusion proof: {e}")))
    }
}

/// An inclusion proof of leaf `index` in the committed tree of `size` leaves.
pub fn prove_inclusion(store: &dyn Store, size: u64, index: u64) -> Result<Vec<Hash>, Error> {
    if size == 0 {
        return Ok(Vec::new());
    }
    tlog_tiles::prove_record(size, index, &StoreHashReader(store))
        .map_err(|e| Error::Internal(format!("inclusion proof: {e}")))
}

/// The root of the committed tree of `size` leaves and an RFC 6962 consistency proof from
/// `first` (0 or `size` gives an empty proof).
pub fn prove_consistency(
    store: &dyn Store,
    first: u64,
    size: u64,
) -> Result<(Hash, Vec<Hash>), Error> {
    let r = StoreHashReader(store);
    let root = tlog_tiles::tree_hash(size, &r).map_err(|e| Error::Internal(e.to_string()))?;
    let proof = if first == size || first == 0 {
        Vec::new()
    } else {
        tlog_tiles::prove_tree(size, first, &r).map_err(|e| Error::Internal(e.to_string()))?
    };
    Ok((root, proof))
}

/// C2SP tlog-tiles tile height.
pub const TILE_HEIGHT: u8 = 8;

/// A tile of the tree of `size` leaves, by its C2SP path below `tile/` (`<L>/<N>[.p/<W>]` for
/// hashes, `entries/<N>[.p/<W>]` for an entry bundle of u16-length-prefixed bodies). Returns the
/// data and whether the tile is full (immutable). `None` if the path is not a tile of this tree.
pub fn tile(store: &dyn Store, size: u64, path: &str) -> Result<Option<(Vec<u8>, bool)>, Error> {
    let (entries, go_path) = match path.strip_prefix("entries/") {
        Some(rest) => (true, format!("tile/{TILE_HEIGHT}/data/{rest}")),
        None => (false, format!("tile/{TILE_HEIGHT}/{path}")),
    };
    // tlog_tiles panics (instead of refusing) on a level above 63 or a partial width of 0.
    let level_ok = entries
        || path
            .split('/')
            .next()
            .and_then(|l| l.parse::<u8>().ok())
            .is_some_and(|l| l < 64);
    let width_ok = match path.rsplit_once(".p/") {
        Some((_, w)) => w.parse::<u16>().is_ok_and(|w| (1..256).contains(&w)),
        None => true,
    };
    if !level_ok || !width_ok {
        return Ok(None);
    }
    let Ok(t) = tlog_tiles::Tile::from_path(&go_path) else {
        return Ok(None);
    };
    let level = u32::from(t.level());
    let width = u64::from(t.width());
    // Level-L hashes the tree has: one per 256^L leaves.
    let have = size.checked_shr(8 * level).unwrap_or(0);
    let Some(end) = t
        .level_index()
        .checked_mul(256)
        .and_then(|s| s.checked_add(width))
    else {
        return Ok(None);
    };
    if width == 0 || end > have {
        return Ok(None);
    }
    let full = width == 256;
    if entries {
        let mut out = Vec::new();
        for i in t.level_index() * 256..end {
            let e = store
                .entry(i)?
                .ok_or_else(|| Error::Internal(format!("entry {i} is missing")))?;
            let len = u16::try_from(e.body.len())
                .map_err(|_| Error::Internal(format!("entry {i} is too large for a bundle")))?;
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(&e.body);
        }
        return Ok(Some((out, full)));
    }
    let data = t
        .read_data(&StoreHashReader(store))
        .map_err(|e| Error::Internal(format!("tile {path}: {e}")))?;
    Ok(Some((data, full)))
}

/// Full tiles never change, and clients fetch the newest ones again and again: the last ones
/// served are kept, up to a byte budget, and the oldest go first.
pub struct TileCache {
    inner: std::sync::Mutex<CacheInner>,
    budget: usize,
}

#[derive(Default)]
struct CacheInner {
    tiles: std::collections::HashMap<String, std::sync::Arc<[u8]>>,
    order: std::collections::VecDeque<String>,
    bytes: usize,
}

impl TileCache {
    pub fn new(budget: usize) -> TileCache {
        TileCache {
            inner: Default::default(),
            budget,
        }
    }

    pub fn get(&self, path: &str) -> Option<std::sync::Arc<[u8]>> {
        self.inner.lock().expect("lock").tiles.get(path).cloned()
    }

    pub fn put(&self, path: &str, data: std::sync::Arc<[u8]>) {
        if data.len() > self.budget {
            return;
        }
        let mut g = self.inner.lock().expect("lock");
        if g.tiles.contains_key(path) {
            return;
        }
        while g.bytes + data.len() > self.budget {
            let Some(old) = g.order.pop_front() else {
                break;
            };
            if let Some(d) = g.tiles.remove(&old) {
                g.bytes -= d.len();
            }
        }
        g.bytes += data.len();
        g.order.push_back(path.to_string());
        g.tiles.insert(path.to_string(), data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemStore;
    use proptest::prelude::*;

    #[test]
    fn the_cache_keeps_the_newest_tiles_within_its_budget() {
        let c = TileCache::new(100);
        for i in 0..5 {
            c.put(&format!("t{i}"), vec![i as u8; 30].into());
        }
        // 3 tiles of 30 bytes fit in 100: the two oldest went.
        assert!(c.get("t0").is_none() && c.get("t1").is_none());
        assert_eq!(c.get("t4").unwrap()[0], 4);
        c.put("big", vec![0; 101].into());
        assert!(c.get("big").is_none() && c.get("t2").is_some());
    }

    proptest! {
        /// Whatever the path, a tile request is answered or refused, never a panic.
        #[test]
        fn any_tile_path_is_answered_or_refused(
            path in "(entries/|[0-9]{1,3}/)?(x[0-9]{3}/){0,7}[0-9x]{0,4}(\\.p/[0-9]{1,4})?",
            size in 0u64..1 << 50,
        ) {
            let _ = tile(&MemStore::default(), size, &path);
        }
    }
}
