//! RFC 6962 / RFC 9162 Merkle tree hashing and proof verification.
//!
//! Verification follows RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency) literally. The
//! reference functions [`root`], [`inclusion_path`] and [`consistency_proof`] compute the RFC 6962
//! recursive definitions over a slice of leaf hashes; they are O(n) and exist to cross-check the
//! log's stored-hash proof code in tests, not to serve proofs.

use aws_lc_rs::digest::{Context, SHA256};

/// A SHA-256 tree hash.
pub type Hash = [u8; 32];

/// Root of the empty tree: SHA-256 of the empty string.
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// Why a proof was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("first tree size {first} is larger than second tree size {second}")]
    SizesOutOfOrder { first: u64, second: u64 },
    #[error("a hash in the proof is {len} bytes, not 32")]
    BadHashLength { len: usize },
    #[error("a consistency proof from the empty tree proves nothing")]
    EmptyFirstTree,
    #[error("the proof has the wrong number of hashes")]
    WrongProofLength,
    #[error("the proof does not lead to the expected root hash")]
    RootMismatch,
}

/// `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Context::new(&SHA256);
    h.update(&[0u8]);
    h.update(data);
    h.finish().as_ref().try_into().expect("32 bytes")
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Context::new(&SHA256);
    h.update(&[1u8]);
    h.update(left);
    h.update(right);
    h.finish().as_ref().try_into().expect("32 bytes")
}

fn to_hash(b: &[u8]) -> Result<Hash, ProofError> {
    b.try_into()
        .map_err(|_| ProofError::BadHashLength { len: b.len() })
}

/// Verifies that `leaf` (a leaf hash) is at `index` in the tree of `size` leaves with root `root`.
pub fn verify_inclusion<H: AsRef<[u8]>>(
    index: u64,
    size: u64,
    leaf: &[u8],
    proof: &[H],
    root: &[u8],
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let leaf = to_hash(leaf)?;
    let root = to_hash(root)?;
    let computed = root_from_inclusion(index, size, &leaf, proof)?;
    if computed == root {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}

/// Computes the root implied by an inclusion proof (RFC 9162 §2.1.3.2 steps 1-5).
pub fn root_from_inclusion<H: AsRef<[u8]>>(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[H],
) -> Result<Hash, ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        let p = to_hash(p.as_ref())?;
        if sn == 0 {
            return Err(ProofError::WrongProofLength);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(&p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, &p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(ProofError::WrongProofLength);
    }
    Ok(r)
}

/// Verifies that the tree of `size2` leaves with `root2` extends the tree of `size1` leaves with
/// `root1` (RFC 9162 §2.1.4.2).
pub fn verify_consistency<H: AsRef<[u8]>>(
    size1: u64,
    size2: u64,
    root1: &[u8],
    root2: &[u8],
    proof: &[H],
) -> Result<(), ProofError> {
    if size1 > size2 {
        return Err(ProofError::SizesOutOfOrder {
            first: size1,
            second: size2,
        });
    }
    if size1 == 0 {
        // Every tree extends the empty tree: such a "proof" proves nothing, so it is refused.
        return Err(ProofError::EmptyFirstTree);
    }
    if size1 == size2 {
        if !proof.is_empty() {
            return Err(ProofError::WrongProofLength);
        }
        return if root1 == root2 {
            Ok(())
        } else {
            Err(ProofError::RootMismatch)
        };
    }
    let root1 = to_hash(root1)?;
    let root2 = to_hash(root2)?;
    if proof.is_empty() {
        return Err(ProofError::WrongProofLength);
    }
    let mut hashes = Vec::with_capacity(proof.len() + 1);
    if size1.is_power_of_two() {
        hashes.push(root1);
    }
    for p in proof {
        hashes.push(to_hash(p.as_ref())?);
    }
    let (mut fn_, mut sn) = (size1 - 1, size2 - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (hashes[0], hashes[0]);
    for c in &hashes[1..] {
        if sn == 0 {
            return Err(ProofError::WrongProofLength);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(ProofError::WrongProofLength);
    }
    if fr == root1 && sr == root2 {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}

/// Largest power of two strictly less than `n` (n > 1).
fn split(n: usize) -> usize {
    debug_assert!(n > 1);
    let mut k = 1;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// Reference `MTH(D[n])` over leaf hashes (RFC 6962 §2.1). O(n).
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => EMPTY_ROOT,
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// Reference `PATH(m, D[n])` (RFC 6962 §2.1.1). O(n).
pub fn inclusion_path(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    let n = leaves.len();
    if n <= 1 {
        return Vec::new();
    }
    let k = split(n);
    let mut p;
    if m < k {
        p = inclusion_path(m, &leaves[..k]);
        p.push(root(&leaves[k..]));
    } else {
        p = inclusion_path(m - k, &leaves[k..]);
        p.push(root(&leaves[..k]));
    }
    p
}

/// Reference `PROOF(m, D[n])` (RFC 6962 §2.1.2). O(n).
pub fn consistency_proof(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    fn sub(m: usize, leaves: &[Hash], b: bool) -> Vec<Hash> {
        let n = leaves.len();
        if m == n {
            return if b { Vec::new() } else { vec![root(leaves)] };
        }
        let k = split(n);
        let mut p;
        if m <= k {
            p = sub(m, &leaves[..k], b);
            p.push(root(&leaves[k..]));
        } else {
            p = sub(m - k, &leaves[k..], false);
            p.push(root(&leaves[..k]));
        }
        p
    }
    if m == 0 || m > leaves.len() {
        return Vec::new();
    }
    sub(m, leaves, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(&(i as u64).to_be_bytes()))
            .collect()
    }

    #[test]
    fn hasher_vectors() {
        assert_eq!(
            hex::encode(leaf_hash(b"L123456")),
            "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
        );
        let mut l = [0u8; 32];
        let mut r = [0u8; 32];
        // node() of the RFC 6962 test takes raw byte strings, not 32-byte hashes.
        let mut h = Context::new(&SHA256);
        h.update(&[1u8]);
        h.update(b"N123");
        h.update(b"N456");
        assert_eq!(
            hex::encode(h.finish()),
            "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"
        );
        l[0] = 1;
        r[0] = 2;
        assert_ne!(node_hash(&l, &r), node_hash(&r, &l));
    }

    #[test]
    fn reference_proofs_verify_for_all_small_trees() {
        for n in 1..=33usize {
            let ls = leaves(n);
            let rt = root(&ls);
            for m in 0..n {
                let p = inclusion_path(m, &ls);
                verify_inclusion(m as u64, n as u64, &ls[m], &p, &rt).unwrap();
            }
            for m in 1..=n {
                let p = consistency_proof(m, &ls);
                verify_consistency(m as u64, n as u64, &root(&ls[..m]), &rt, &p).unwrap();
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn flipped_bits_fail(n in 2usize..200, m_seed in 0usize..1000, bit in 0usize..256, which in 0usize..64) {
            let ls = leaves(n);
            let rt = root(&ls);
            let m = m_seed % n;
            let mut p = inclusion_path(m, &ls);
            let i = which % p.len();
            p[i][bit / 8] ^= 1 << (bit % 8);
            proptest::prop_assert!(verify_inclusion(m as u64, n as u64, &ls[m], &p, &rt).is_err());
            let m1 = 1 + m_seed % (n - 1);
            let mut c = consistency_proof(m1, &ls);
            let i = which % c.len();
            c[i][bit / 8] ^= 1 << (bit % 8);
            proptest::prop_assert!(verify_consistency(m1 as u64, n as u64, &root(&ls[..m1]), &rt, &c).is_err());
        }
    }
}
