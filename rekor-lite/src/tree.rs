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
