//! Every transparency-dev Merkle proof vector in `tests/vectors/merkle` (copied from
//! transparency-dev/merkle, see its SOURCE.md), run against the verifier: happy paths must
//! verify, every `wantErr` case must be refused.

use std::path::{Path, PathBuf};

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use serde::Deserialize;
use sigstore_lite_core::merkle::{verify_consistency, verify_inclusion};

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/merkle")
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
    {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
}

fn b64(s: &str) -> Vec<u8> {
    B64.decode(s).unwrap()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Inclusion {
    leaf_idx: u64,
    tree_size: u64,
    root: String,
    leaf_hash: String,
    proof: Option<Vec<String>>,
    want_err: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Consistency {
    size1: u64,
    size2: u64,
    root1: String,
    root2: String,
    proof: Option<Vec<String>>,
    want_err: bool,
}

#[test]
fn inclusion_vectors() {
    let mut fs = Vec::new();
    files(&vectors().join("inclusion"), &mut fs);
    assert!(
        fs.len() > 50,
        "expected the full inclusion vector set, found {}",
        fs.len()
    );
    for f in fs {
        let c: Inclusion = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
        let proof: Vec<Vec<u8>> = c.proof.unwrap_or_default().iter().map(|h| b64(h)).collect();
        let r = verify_inclusion(
            c.leaf_idx,
            c.tree_size,
            &b64(&c.leaf_hash),
            &proof,
            &b64(&c.root),
        );
        assert_eq!(r.is_err(), c.want_err, "{}: got {r:?}", f.display());
    }
}

#[test]
fn consistency_vectors() {
    let mut fs = Vec::new();
    files(&vectors().join("consistency"), &mut fs);
    assert!(
        fs.len() > 50,
        "expected the full consistency vector set, found {}",
        fs.len()
    );
    for f in fs {
        let c: Consistency = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
        let proof: Vec<Vec<u8>> = c.proof.unwrap_or_default().iter().map(|h| b64(h)).collect();
        let r = verify_consistency(c.size1, c.size2, &b64(&c.root1), &b64(&c.root2), &proof);
        assert_eq!(r.is_err(), c.want_err, "{}: got {r:?}", f.display());
    }
}
