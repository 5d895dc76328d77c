//! The transparency-log checks: a Rekor v1 entry's SET (inclusion promise), its inclusion proof
//! against a signed checkpoint, and the log key's validity at the entry's time; a Rekor v2
//! entry's inclusion proof for the body rebuilt from the bundle, against a C2SP checkpoint signed
//! under the log's host name.

use base64::{engine::general_purpose::STANDARD as B64, Engine};

use crate::bundle::TlogEntry;
use crate::merkle;
use crate::note::{Checkpoint, SignedNote};
use crate::rekor::{self, Entry};

use super::material::{within, LogKey, TrustMaterial};
use super::{CheckpointError, Unsupported, VerifyError};

/// A log entry whose inclusion was verified.
#[derive(Debug, Clone)]
pub struct LoggedEntry {
    pub entry: Entry,
    pub log_index: i64,
    /// The log's integrated time (Rekor v1), as covered by the SET or the verified entry.
    pub integrated_time: i64,
}

pub(crate) fn b64(s: &str, what: &'static str) -> Result<Vec<u8>, VerifyError> {
    B64.decode(s).map_err(|_| VerifyError::Malformed(what))
}

impl TrustMaterial {
    /// Verifies a SET (cosign's `dev.sigstore.cosign/bundle` annotation or a bundle's promise).
    pub fn verify_set(
        &self,
        body_b64: &str,
        integrated_time: i64,
        log_id: &[u8],
        log_index: i64,
        set_b64: &str,
    ) -> Result<(), VerifyError> {
        let log = self
            .tlog(log_id)
            .ok_or_else(|| VerifyError::UnknownLog(hex::encode(log_id)))?;
        if !within(log.from, log.to, integrated_time) {
            return Err(VerifyError::LogKeyNotValid(integrated_time));
        }
        let index =
            u64::try_from(log_index).map_err(|_| VerifyError::Malformed("negative log index"))?;
        let set = b64(set_b64, "the SET is not base64")?;
        let payload = rekor::set_payload(body_b64, integrated_time, &hex::encode(log_id), index);
        log.key
            .verify_message(&payload, &set)
            .map_err(|_| VerifyError::BadSet)
    }

    /// Verifies a bundle's Rekor v1 log entry (SET and/or inclusion proof with its checkpoint)
    /// and reads its body.
    pub fn verify_tlog_entry(
        &self,
        t: &TlogEntry,
        need_promise: bool,
        need_proof: bool,
    ) -> Result<LoggedEntry, VerifyError> {
        let v1_kind = matches!(
            (
                t.kind_version.kind.as_str(),
                t.kind_version.version.as_str()
            ),
            ("hashedrekord" | "dsse", "0.0.1") | ("intoto", "0.0.2")
        );
        if !v1_kind {
            return Err(VerifyError::UnsupportedBundle(Unsupported::EntryKind {
                kind: t.kind_version.kind.clone(),
                version: t.kind_version.version.clone(),
            }));
        }
        let log_id = b64(&t.log_id.key_id, "logId is not base64")?;
        let log = self
            .tlog(&log_id)
            .ok_or_else(|| VerifyError::UnknownLog(hex::encode(&log_id)))?;
        match &t.inclusion_promise {
            Some(p) => self.verify_set(
                &t.canonicalized_body,
                t.integrated_time,
                &log_id,
                t.log_index,
                &p.signed_entry_timestamp,
            )?,
            None if need_promise => return Err(VerifyError::MissingPromise),
            None => {}
        }
        let body = b64(&t.canonicalized_body, "canonicalizedBody is not base64")?;
        match &t.inclusion_proof {
            Some(p) => {
                let leaf = merkle::leaf_hash(&body);
                verify_v1_proof(log, p, &leaf)?;
            }
            None if need_proof => return Err(VerifyError::MissingProof),
            None => {}
        }
        if t.inclusion_promise.is_none() && t.inclusion_proof.is_none() {
            return Err(VerifyError::MissingProof);
        }
        if !within(log.from, log.to, t.integrated_time) {
            return Err(VerifyError::LogKeyNotValid(t.integrated_time));
        }
        let entry = Entry::parse_body(&body).map_err(VerifyError::BadEntry)?;
        let (kind, version) = entry.kind_version();
        if (kind, version)
            != (
                t.kind_version.kind.as_str(),
                t.kind_version.version.as_str(),
            )
        {
            return Err(VerifyError::Malformed(
                "the entry's kindVersion is not its body's",
            ));
        }
        Ok(LoggedEntry {
            entry,
            log_index: t.log_index,
            integrated_time: t.integrated_time,
        })
    }
}

impl TrustMaterial {
    /// Verifies a bundle's Rekor v2 entry: the inclusion proof of `body` (rebuilt from the bundle,
    /// never taken from it) against the checkpoint, signed by the log under its host name with
    /// C2SP key IDs; the log key valid at every one of `times`.
    pub fn verify_tlog_entry_v2(
        &self,
        t: &TlogEntry,
        body: &[u8],
        times: &[i64],
    ) -> Result<(), VerifyError> {
        let log_id = b64(&t.log_id.key_id, "logId is not base64")?;
        let log = self
            .tlog(&log_id)
            .ok_or_else(|| VerifyError::UnknownLog(hex::encode(&log_id)))?;
        let p = t
            .inclusion_proof
            .as_ref()
            .ok_or(VerifyError::MissingProof)?;
        let leaf = merkle::leaf_hash(body);
        let root = b64(&p.root_hash, "rootHash is not base64")?;
        let hashes = p
            .hashes
            .iter()
            .map(|h| b64(h, "an inclusion proof hash is not base64"))
            .collect::<Result<Vec<_>, _>>()?;
        let (Ok(idx), Ok(size)) = (u64::try_from(p.log_index), u64::try_from(p.tree_size)) else {
            return Err(VerifyError::Malformed("negative proof index or tree size"));
        };
        merkle::verify_inclusion(idx, size, &leaf, &hashes, &root).map_err(|e| match e {
            merkle::ProofError::RootMismatch => {
                VerifyError::BodyMismatch(super::BodyMismatch::LeafHash)
            }
            other => VerifyError::BadInclusionProof(other),
        })?;
        let cp_err = VerifyError::BadCheckpoint;
        let note = SignedNote::parse(&p.checkpoint.envelope)
            .map_err(|e| cp_err(CheckpointError::Note(e)))?;
        let cp = Checkpoint::from_text(&note.text).map_err(|e| cp_err(CheckpointError::Note(e)))?;
        if cp.origin != log.origin {
            return Err(cp_err(CheckpointError::WrongOrigin {
                expected: log.origin.clone(),
                found: cp.origin,
            }));
        }
        note.verify_c2sp(&log.origin, &log.key)
            .map_err(|e| match e {
                crate::note::NoteError::BadSignature => cp_err(CheckpointError::BadSignature),
                _ => cp_err(CheckpointError::NotSignedByLog),
            })?;
        if cp.root_hash.as_slice() != root.as_slice() || cp.size != size {
            return Err(cp_err(CheckpointError::NotCommitting));
        }
        if let Some(t) = times.iter().find(|t| !within(log.from, log.to, **t)) {
            return Err(VerifyError::LogKeyNotValid(*t));
        }
        Ok(())
    }
}

/// Verifies an inclusion proof of `leaf` and the checkpoint it comes with (Rekor v1: key hint =
/// first 4 bytes of SHA-256 of the log key's SPKI).
fn verify_v1_proof(
    log: &LogKey,
    p: &crate::bundle::InclusionProof,
    leaf: &[u8; 32],
) -> Result<(), VerifyError> {
    let root = b64(&p.root_hash, "rootHash is not base64")?;
    let hashes = p
        .hashes
        .iter()
        .map(|h| b64(h, "an inclusion proof hash is not base64"))
        .collect::<Result<Vec<_>, _>>()?;
    let (Ok(idx), Ok(size)) = (u64::try_from(p.log_index), u64::try_from(p.tree_size)) else {
        return Err(VerifyError::Malformed("negative proof index or tree size"));
    };
    merkle::verify_inclusion(idx, size, leaf, &hashes, &root)
        .map_err(VerifyError::BadInclusionProof)?;
    let cp_err = VerifyError::BadCheckpoint;
    let note =
        SignedNote::parse(&p.checkpoint.envelope).map_err(|e| cp_err(CheckpointError::Note(e)))?;
    let hint: [u8; 4] = log.key.key_id()[..4].try_into().expect("4 bytes");
    let sig = note
        .signatures
        .iter()
        .find(|s| s.key_hint == hint)
        .ok_or(cp_err(CheckpointError::NotSignedByLog))?;
    log.key
        .verify_message(note.text.as_bytes(), &sig.signature)
        .map_err(|_| cp_err(CheckpointError::BadSignature))?;
    let cp = Checkpoint::from_text(&note.text).map_err(|e| cp_err(CheckpointError::Note(e)))?;
    if cp.root_hash.as_slice() != root.as_slice() || cp.size != size {
        return Err(cp_err(CheckpointError::NotCommitting));
    }
    Ok(())
}
