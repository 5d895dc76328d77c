//! C2SP witness rules, pure: verifier keys (`name+hash+base64`), the `add-checkpoint` request
//! (C2SP tlog-witness), what a witness answers given what it stored, and cosignatures (C2SP
//! tlog-cosignature `cosignature/v1`, Ed25519).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use crate::keys::{sha256, spki_from_raw, KeyKind, PublicKey, SignError, Signer};
use crate::merkle;
use crate::note::{Checkpoint, SignedNote};

/// Why a request or a key is refused, with the HTTP status tlog-witness fixes for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WitnessError {
    #[error("{0}")]
    BadRequest(String),
    #[error("the witness does not witness the log {0:?}")]
    UnknownLog(String),
    #[error("the checkpoint carries no valid signature by the log's key")]
    NoLogSignature,
    #[error("old size {old} is larger than the checkpoint's size {new}")]
    OldTooLarge { old: u64, new: u64 },
    #[error("the witness holds size {stored}, not {old}")]
    SizeMismatch { stored: u64, old: u64 },
    #[error("the checkpoint has the size the witness holds but another root hash")]
    RootMismatch { stored: u64 },
    #[error("the consistency proof does not verify")]
    BadProof,
}

impl WitnessError {
    /// The status C2SP tlog-witness gives each refusal.
    pub fn status(&self) -> u16 {
        match self {
            WitnessError::BadRequest(_) | WitnessError::OldTooLarge { .. } => 400,
            WitnessError::NoLogSignature => 403,
            WitnessError::UnknownLog(_) => 404,
            WitnessError::SizeMismatch { .. } | WitnessError::RootMismatch { .. } => 409,
            WitnessError::BadProof => 422,
        }
    }
}

/// A note verifier key (C2SP signed-note): `<name>+<key hash hex>+<base64(type || key)>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierKey {
    pub name: String,
    pub key: PublicKey,
    /// 0x01: an Ed25519 note signer (a log); 0x04: an Ed25519 cosigner (a witness).
    pub kind: u8,
}

/// The key hash of an Ed25519 key of signature type `kind` under `name`.
pub fn key_hash(name: &str, kind: u8, key: &PublicKey) -> [u8; 4] {
    let mut m = name.as_bytes().to_vec();
    m.push(b'\n');
    m.push(kind);
    m.extend_from_slice(key.raw());
    sha256(&m)[..4].try_into().expect("4 bytes")
}

impl VerifierKey {
    pub fn parse(s: &str) -> Result<VerifierKey, WitnessError> {
        let bad = |why: &str| WitnessError::BadRequest(format!("verifier key {s:?}: {why}"));
        let mut parts = s.trim().splitn(3, '+');
        let (Some(name), Some(hash), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("not name+hash+key"));
        };
        if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c == '+') {
            return Err(bad("a bad name"));
        }
        let raw = B64.decode(b64).map_err(|_| bad("the key is not base64"))?;
        let (&kind, key) = raw.split_first().ok_or_else(|| bad("an empty key"))?;
        if !(kind == 0x01 || kind == 0x04) || key.len() != 32 {
            return Err(bad("not an Ed25519 key (type 0x01 or 0x04)"));
        }
        let key = spki_from_raw(KeyKind::Ed25519, key).map_err(|_| bad("not an Ed25519 key"))?;
        let want = hex::encode(key_hash(name, kind, &key));
        if hash != want {
            return Err(bad("its hash does not match its name and key"));
        }
        Ok(VerifierKey {
            name: name.to_string(),
            key,
            kind,
        })
    }

    /// The vkey text of an Ed25519 `key` of type `kind` under `name`.
    pub fn encode(name: &str, kind: u8, key: &PublicKey) -> String {
        let mut raw = vec![kind];
        raw.extend_from_slice(key.raw());
        format!(
            "{name}+{}+{}",
            hex::encode(key_hash(name, kind, key)),
            B64.encode(raw)
        )
    }
}

/// An `add-checkpoint` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint {
    pub old: u64,
    pub proof: Vec<[u8; 32]>,
    /// The signed note, as sent.
    pub note: String,
}

impl AddCheckpoint {
    /// `old N`, up to 63 proof lines (base64 hashes), an empty line, the checkpoint note.
    pub fn parse(body: &[u8]) -> Result<AddCheckpoint, WitnessError> {
        let bad = |why: &str| WitnessError::BadRequest(why.to_string());
        let text = std::str::from_utf8(body).map_err(|_| bad("the body is not UTF-8"))?;
        let (head, note) = text
            .split_once("\n\n")
            .ok_or_else(|| bad("no empty line before the checkpoint"))?;
        let mut lines = head.split('\n');
        let old = lines
            .next()
            .and_then(|l| l.strip_prefix("old "))
            // Decimal, no sign, no leading zero.
            .filter(|n| {
                n.bytes().all(|b| b.is_ascii_digit()) && !(n.len() > 1 && n.starts_with('0'))
            })
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(|| bad("the first line must be \"old N\""))?;
        let mut proof = Vec::new();
        for l in lines {
            let h = B64
                .decode(l)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| bad("a proof line is not a base64 SHA-256 hash"))?;
            proof.push(h);
        }
        if proof.len() > 63 {
            return Err(bad("more than 63 proof lines"));
        }
        Ok(AddCheckpoint {
            old,
            proof,
            note: note.to_string(),
        })
    }
}

/// What a witness knows of a log: its origin, verifier key, and the latest checkpoint it
/// cosigned (size and root; size 0 before the first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Witnessed {
    pub size: u64,
    pub root: [u8; 32],
}

/// Decides an `add-checkpoint`: the checkpoint must carry the log's signature, `old` must be
/// the size stored, and the proof must show the new tree extends it. Returns the checkpoint to
/// store and cosign.
pub fn decide(
    req: &AddCheckpoint,
    log: &VerifierKey,
    stored: &Witnessed,
) -> Result<(Checkpoint, SignedNote), WitnessError> {
    let note = SignedNote::parse(&req.note).map_err(|e| {
        WitnessError::BadRequest(format!("the checkpoint is not a signed note: {e}"))
    })?;
    let cp = Checkpoint::from_text(&note.text)
        .map_err(|e| WitnessError::BadRequest(format!("not a checkpoint: {e}")))?;
    if cp.origin != log.name {
        return Err(WitnessError::UnknownLog(cp.origin));
    }
    note.verify_c2sp(&log.name, &log.key)
        .map_err(|_| WitnessError::NoLogSignature)?;
    if req.old > cp.size {
        return Err(WitnessError::OldTooLarge {
            old: req.old,
            new: cp.size,
        });
    }
    if req.old != stored.size {
        return Err(WitnessError::SizeMismatch {
            stored: stored.size,
            old: req.old,
        });
    }
    if req.old == cp.size {
        if !req.proof.is_empty() {
            return Err(WitnessError::BadProof);
        }
        if stored.size > 0 && stored.root != cp.root_hash {
            return Err(WitnessError::RootMismatch {
                stored: stored.size,
            });
        }
        return Ok((cp, note));
    }
    if req.old == 0 {
        if !req.proof.is_empty() {
            return Err(WitnessError::BadProof);
        }
        return Ok((cp, note));
    }
    merkle::verify_consistency(req.old, cp.size, &stored.root, &cp.root_hash, &req.proof)
        .map_err(|_| WitnessError::BadProof)?;
    Ok((cp, note))
}

/// What a cosignature signs: `cosignature/v1`, the time, then the checkpoint's text.
pub fn cosigned_message(timestamp: u64, checkpoint_text: &str) -> Vec<u8> {
    format!("cosignature/v1\ntime {timestamp}\n{checkpoint_text}").into_bytes()
}

/// A cosignature line (`— <name> <base64(key hash || timestamp || signature)>`).
pub fn cosign(
    name: &str,
    signer: &dyn Signer,
    timestamp: u64,
    checkpoint_text: &str,
) -> Result<String, SignError> {
    let sig = signer.try_sign(&cosigned_message(timestamp, checkpoint_text))?;
    let mut raw = key_hash(name, 0x04, signer.public_key()).to_vec();
    raw.extend_from_slice(&timestamp.to_be_bytes());
    raw.extend_from_slice(&sig);
    Ok(format!("\u{2014} {name} {}\n", B64.encode(raw)))
}

/// Finds and checks `witness`'s cosignature on `note`: returns its timestamp. Lines of other
/// signers are ignored.
pub fn verify_cosignature(note: &SignedNote, witness: &VerifierKey) -> Result<u64, String> {
    let hint = key_hash(&witness.name, 0x04, &witness.key);
    let s = note
        .signatures
        .iter()
        .find(|s| s.name == witness.name && s.key_hint == hint)
        .ok_or_else(|| format!("no cosignature by {}", witness.name))?;
    if s.signature.len() != 8 + 64 {
        return Err(format!(
            "the cosignature by {} is not 72 bytes",
            witness.name
        ));
    }
    let ts = u64::from_be_bytes(s.signature[..8].try_into().expect("8 bytes"));
    witness
        .key
        .verify_message(&cosigned_message(ts, &note.text), &s.signature[8..])
        .map_err(|_| format!("the cosignature by {} does not verify", witness.name))?;
    Ok(ts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Ed25519Signer;

    fn log(name: &str) -> (Ed25519Signer, VerifierKey) {
        let k = Ed25519Signer::generate().unwrap();
        let v = VerifierKey::parse(&VerifierKey::encode(name, 0x01, k.public_key())).unwrap();
        (k, v)
    }

    fn checkpoint(k: &Ed25519Signer, origin: &str, leaves: &[[u8; 32]]) -> String {
        let text = Checkpoint {
            origin: origin.into(),
            size: leaves.len() as u64,
            root_hash: merkle::root(leaves),
            extensions: Vec::new(),
        }
        .to_text();
        let sig = k.sign(text.as_bytes());
        SignedNote::with_signature(text, origin, k.public_key(), sig).encode()
    }

    fn body(old: u64, proof: &[[u8; 32]], note: &str) -> Vec<u8> {
        let mut b = format!("old {old}\n");
        for h in proof {
            b.push_str(&B64.encode(h));
            b.push('\n');
        }
        b.push('\n');
        b.push_str(note);
        b.into_bytes()
    }

    #[test]
    fn each_refusal_has_the_status_the_spec_fixes() {
        let (k, v) = log("example.com/log");
        let leaves: Vec<[u8; 32]> = (0..9u8).map(|i| merkle::leaf_hash(&[i])).collect();
        let empty = Witnessed {
            size: 0,
            root: [0; 32],
        };
        let cp5 = checkpoint(&k, "example.com/log", &leaves[..5]);
        let req = AddCheckpoint::parse(&body(0, &[], &cp5)).unwrap();
        let (c, _) = decide(&req, &v, &empty).unwrap();
        let at5 = Witnessed {
            size: 5,
            root: c.root_hash,
        };
        let cp9 = checkpoint(&k, "example.com/log", &leaves);
        let proof = merkle::consistency_proof(5, &leaves);
        assert!(decide(
            &AddCheckpoint::parse(&body(5, &proof, &cp9)).unwrap(),
            &v,
            &at5
        )
        .is_ok());
        let status = |b: Vec<u8>, s: &Witnessed| match AddCheckpoint::parse(&b) {
            Err(e) => e.status(),
            Ok(r) => decide(&r, &v, s).err().map_or(200, |e| e.status()),
        };
        let mut bad_proof = proof.clone();
        bad_proof[0][0] ^= 1;
        assert_eq!(status(body(5, &bad_proof, &cp9), &at5), 422);
        assert_eq!(status(body(4, &proof, &cp9), &at5), 409);
        assert_eq!(status(body(10, &[], &cp9), &at5), 400);
        let (other, _) = log("example.com/log");
        assert_eq!(
            status(
                body(5, &proof, &checkpoint(&other, "example.com/log", &leaves)),
                &at5
            ),
            403
        );
        assert_eq!(
            status(
                body(0, &[], &checkpoint(&k, "example.com/other", &leaves)),
                &empty
            ),
            404
        );
        assert_eq!(status(b"old 01\n\nx".to_vec(), &empty), 400);
        assert_eq!(status(b"nonsense".to_vec(), &empty), 400);
        // The same size again: the same root is fine (cosigned again), another is a fork.
        assert_eq!(status(body(5, &[], &cp5), &at5), 200);
        let forked: Vec<[u8; 32]> = (10..15u8).map(|i| merkle::leaf_hash(&[i])).collect();
        assert_eq!(
            status(
                body(5, &[], &checkpoint(&k, "example.com/log", &forked)),
                &at5
            ),
            409
        );
    }

    #[test]
    fn cosignatures_verify_and_refuse_tampering() {
        let (k, _) = log("example.com/log");
        let w = Ed25519Signer::generate().unwrap();
        let wv = VerifierKey::parse(&VerifierKey::encode(
            "witness.example",
            0x04,
            w.public_key(),
        ))
        .unwrap();
        let leaves: Vec<[u8; 32]> = (0..3u8).map(|i| merkle::leaf_hash(&[i])).collect();
        let note = checkpoint(&k, "example.com/log", &leaves);
        let n = SignedNote::parse(&note).unwrap();
        let line = cosign("witness.example", &w, 1_700_000_000, &n.text).unwrap();
        let cosigned = SignedNote::parse(&format!("{note}{line}")).unwrap();
        assert_eq!(verify_cosignature(&cosigned, &wv), Ok(1_700_000_000));
        let other = SignedNote::parse(&format!(
            "{}{line}",
            checkpoint(&k, "example.com/log", &leaves[..2])
        ))
        .unwrap();
        assert!(verify_cosignature(&other, &wv).is_err());
        assert!(verify_cosignature(&n, &wv).is_err());
        assert!(VerifierKey::parse("witness.example+00000000+BA==").is_err());
    }
}
