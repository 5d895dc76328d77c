//! Rekor wire types, typed entry bodies and signed entry timestamps (SET).
//!
//! - [`entry`]: typed v1 entry bodies (hashedrekord 0.0.1, dsse 0.0.1), proposals and the log's
//!   admission policy; [`intoto`]: intoto 0.0.2; [`v2`]: Rekor v2's hashedrekord 0.0.2.
//! - This module: the v1 `LogEntry` JSON, SETs, entry IDs.

mod base;
pub mod entry;
pub mod intoto;
pub mod v2;

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use serde::{Deserialize, Serialize};

use crate::keys::{KeyError, PublicKey, SignError, Signer};

pub use entry::{canonicalize, CanonicalEntry, Entry, EntryError, Proposed, Verifier};

/// `verification.inclusionProof` of a log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InclusionProof {
    pub log_index: u64,
    pub root_hash: String,
    pub tree_size: u64,
    pub hashes: Vec<String>,
    pub checkpoint: String,
}

/// `verification` of a log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inclusion_proof: Option<InclusionProof>,
    pub signed_entry_timestamp: String,
}

/// One value of Rekor's `LogEntry` map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    /// Base64 of the canonical body.
    pub body: String,
    pub integrated_time: i64,
    #[serde(rename = "logID")]
    pub log_id: String,
    pub log_index: u64,
    pub verification: Verification,
}

/// The bytes a SET signs: JCS of `{body, integratedTime, logID, logIndex}`.
pub fn set_payload(
    body_b64: &str,
    integrated_time: i64,
    log_id_hex: &str,
    log_index: u64,
) -> Vec<u8> {
    // Fields in sorted order, ASCII and integers only: serde_json writes RFC 8785 here.
    #[derive(Serialize)]
    struct SetPayload<'a> {
        body: &'a str,
        #[serde(rename = "integratedTime")]
        integrated_time: i64,
        #[serde(rename = "logID")]
        log_id: &'a str,
        #[serde(rename = "logIndex")]
        log_index: u64,
    }
    serde_json::to_vec(&SetPayload {
        body: body_b64,
        integrated_time,
        log_id: log_id_hex,
        log_index,
    })
    .expect("serializes")
}

/// Signs a SET.
pub fn sign_set(
    signer: &dyn Signer,
    body_b64: &str,
    integrated_time: i64,
    log_index: u64,
) -> Result<Vec<u8>, SignError> {
    let log_id = hex::encode(signer.public_key().key_id());
    signer.try_sign(&set_payload(body_b64, integrated_time, &log_id, log_index))
}

/// Verifies a log entry's SET with the log's key.
pub fn verify_set(key: &PublicKey, e: &LogEntry) -> Result<(), KeyError> {
    let sig = B64
        .decode(&e.verification.signed_entry_timestamp)
        .map_err(|_| KeyError::BadSignature)?;
    key.verify_message(
        &set_payload(&e.body, e.integrated_time, &e.log_id, e.log_index),
        &sig,
    )
}

/// Rekor's 80-hex entry ID: 16-hex tree ID then the 64-hex leaf hash.
pub fn entry_id(tree_id: i64, leaf_hash: &[u8; 32]) -> String {
    format!("{:016x}{}", tree_id, hex::encode(leaf_hash))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const STAGING_REKOR_KEY: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEDODRU688UYGuy54mNUlaEBiQdTE9nYLr0lg6RXowI/QV/RE1azBn4Eg5/2uTOMbhB1/gfcHzijzFi9Tk+g1Prg==";

    fn staging_bundle() -> Value {
        serde_json::from_slice(&crate::testdata::sigstore("bundle_v3.txt.sigstore")).unwrap()
    }

    #[test]
    fn real_staging_set_verifies_and_body_recanonicalizes() {
        let b = staging_bundle();
        let t = &b["verificationMaterial"]["tlogEntries"][0];
        let body_b64 = t["canonicalizedBody"].as_str().unwrap();
        let body = B64.decode(body_b64).unwrap();
        assert_eq!(
            hex::encode(crate::merkle::leaf_hash(&body)),
            "6394742c34e7669f4c7e72ad9fd0a4a36ddd17901738bf26293aaf4d5d50ff69"
        );
        // The real log's canonical body is a fixed point of our canonicalization.
        let ours = canonicalize(&body).unwrap();
        assert_eq!(ours.body, body);
        assert_eq!(Entry::parse_body(&body).unwrap().canonical_body(), body);
        let key = PublicKey::from_spki_der(&B64.decode(STAGING_REKOR_KEY).unwrap()).unwrap();
        let e = LogEntry {
            body: body_b64.to_string(),
            integrated_time: 1712085549,
            log_id: hex::encode(key.key_id()),
            log_index: 25915956,
            verification: Verification {
                inclusion_proof: None,
                signed_entry_timestamp: t["inclusionPromise"]["signedEntryTimestamp"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            },
        };
        assert_eq!(
            e.log_id,
            "d32f30a3c32d639c2b762205a21c7bb07788e68283a4ae6f42118723a1bea496"
        );
        verify_set(&key, &e).unwrap();
        let mut bad = e.clone();
        bad.log_index += 1;
        assert!(verify_set(&key, &bad).is_err());
    }
}
