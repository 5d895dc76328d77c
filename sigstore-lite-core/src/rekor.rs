//! Rekor v1 wire types, entry canonicalization (hashedrekord 0.0.1, dsse 0.0.1) and signed entry
//! timestamps (SET).
//!
//! [`canonicalize`] is the whole admission policy of the log: it parses a proposed entry, verifies
//! its signatures, and returns the canonical body (RFC 8785) whose leaf hash identifies the entry,
//! plus the keys it should be searchable by. It takes bytes and returns bytes; no I/O.

use std::collections::BTreeMap;

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::keys::{pem_encode, pem_parse_all, DigestAlg, KeyError, PublicKey, Signer};

/// Why a proposed entry was refused. `code()` is the stable machine-readable name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    #[error("the request body is not valid JSON for a proposed entry: {0}")]
    MalformedJson(String),
    #[error("unsupported entry kind {0:?} (supported: hashedrekord, dsse)")]
    UnknownKind(String),
    #[error("unsupported apiVersion {version:?} for kind {kind} (supported: 0.0.1)")]
    UnknownVersion { kind: String, version: String },
    #[error("missing or invalid field {0}")]
    MissingField(&'static str),
    #[error("unsupported hash algorithm {0:?} (only sha256 is accepted)")]
    UnsupportedHash(String),
    #[error("the sha256 digest must be 64 lowercase hex characters")]
    BadDigest,
    #[error("field {0} is not valid base64")]
    BadBase64(&'static str),
    #[error("the public key or certificate cannot be used: {0}")]
    BadKey(KeyError),
    #[error("the signature does not verify with the given key")]
    BadSignature,
    #[error("the DSSE envelope is invalid: {0}")]
    BadEnvelope(String),
}

impl EntryError {
    pub fn code(&self) -> &'static str {
        match self {
            EntryError::MalformedJson(_) => "malformed_json",
            EntryError::UnknownKind(_) => "unknown_kind",
            EntryError::UnknownVersion { .. } => "unknown_api_version",
            EntryError::MissingField(_) => "missing_field",
            EntryError::UnsupportedHash(_) => "unsupported_hash_algorithm",
            EntryError::BadDigest => "bad_digest",
            EntryError::BadBase64(_) => "bad_base64",
            EntryError::BadKey(_) => "bad_public_key",
            EntryError::BadSignature => "bad_signature",
            EntryError::BadEnvelope(_) => "bad_dsse_envelope",
        }
    }
}

/// A verified, canonicalized entry ready to be logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalEntry {
    /// RFC 8785 JSON: the leaf data, returned base64-encoded as `body`.
    pub body: Vec<u8>,
    /// Search keys: `sha256:<hex>` artifact/payload hashes, `key:<hex sha256 of SPKI DER>`, and
    /// `email:<lowercase address>` for certificate e-mail SANs.
    pub index_keys: Vec<String>,
}

/// The signed key material of an entry: a certificate or a bare public key.
#[derive(Debug, Clone)]
pub struct Verifier {
    pub key: PublicKey,
    /// Canonical PEM (64-column lines, trailing newline) of the certificate or public key.
    pub canonical_pem: String,
    pub emails: Vec<String>,
}

impl Verifier {
    /// Parses PEM bytes holding a `CERTIFICATE` (the first one is used) or a `PUBLIC KEY`.
    pub fn from_pem(pem: &[u8]) -> Result<Self, KeyError> {
        let text = std::str::from_utf8(pem).map_err(|_| KeyError::BadPem("not UTF-8"))?;
        let block = pem_parse_all(text)?.remove(0);
        match block.label.as_str() {
            "CERTIFICATE" => {
                let (_, cert) = x509_parser::parse_x509_certificate(&block.der)
                    .map_err(|_| KeyError::BadCertificate)?;
                let key = PublicKey::from_spki_der(cert.tbs_certificate.subject_pki.raw)?;
                let mut emails = Vec::new();
                if let Ok(Some(san)) = cert.subject_alternative_name() {
                    for n in &san.value.general_names {
                        if let x509_parser::extensions::GeneralName::RFC822Name(e) = n {
                            emails.push(e.to_ascii_lowercase());
                        }
                    }
                }
                Ok(Verifier {
                    key,
                    canonical_pem: pem_encode("CERTIFICATE", &block.der),
                    emails,
                })
            }
            "PUBLIC KEY" => {
                let key = PublicKey::from_spki_der(&block.der)?;
                Ok(Verifier {
                    canonical_pem: key.to_pem(),
                    key,
                    emails: Vec::new(),
                })
            }
            other => Err(KeyError::WrongPemLabel {
                expected: "CERTIFICATE or PUBLIC KEY".into(),
                found: other.to_string(),
            }),
        }
    }

    fn index_keys(&self, out: &mut Vec<String>) {
        out.push(format!("key:{}", hex::encode(self.key.key_id())));
        for e in &self.emails {
            out.push(format!("email:{e}"));
        }
    }
}

/// RFC 8785 canonical JSON.
pub fn jcs(v: &Value) -> Vec<u8> {
    serde_json_canonicalizer::to_vec(v).expect("a serde_json::Value always serializes")
}

fn get<'a>(v: &'a Value, path: &[&str], name: &'static str) -> Result<&'a Value, EntryError> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p).ok_or(EntryError::MissingField(name))?;
    }
    Ok(cur)
}

fn get_str<'a>(v: &'a Value, path: &[&str], name: &'static str) -> Result<&'a str, EntryError> {
    get(v, path, name)?
        .as_str()
        .ok_or(EntryError::MissingField(name))
}

fn b64(s: &str, name: &'static str) -> Result<Vec<u8>, EntryError> {
    B64.decode(s).map_err(|_| EntryError::BadBase64(name))
}

/// Parses, verifies and canonicalizes a proposed entry (`{"kind", "apiVersion", "spec"}`).
pub fn canonicalize(proposed: &[u8]) -> Result<CanonicalEntry, EntryError> {
    let v: Value =
        serde_json::from_slice(proposed).map_err(|e| EntryError::MalformedJson(e.to_string()))?;
    canonicalize_value(&v)
}

/// [`canonicalize`] on already parsed JSON.
pub fn canonicalize_value(v: &Value) -> Result<CanonicalEntry, EntryError> {
    if !v.is_object() {
        return Err(EntryError::MalformedJson("expected a JSON object".into()));
    }
    let kind = get_str(v, &["kind"], "kind")?;
    let version = get_str(v, &["apiVersion"], "apiVersion")?;
    match (kind, version) {
        ("hashedrekord", "0.0.1") => hashedrekord(get(v, &["spec"], "spec")?),
        ("dsse", "0.0.1") => dsse(get(v, &["spec"], "spec")?),
        ("hashedrekord" | "dsse", other) => Err(EntryError::UnknownVersion {
            kind: kind.to_string(),
            version: other.to_string(),
        }),
        (other, _) => Err(EntryError::UnknownKind(other.to_string())),
    }
}

fn hashedrekord(spec: &Value) -> Result<CanonicalEntry, EntryError> {
    let alg = get_str(
        spec,
        &["data", "hash", "algorithm"],
        "spec.data.hash.algorithm",
    )?;
    if alg != "sha256" {
        return Err(EntryError::UnsupportedHash(alg.to_string()));
    }
    let value = get_str(spec, &["data", "hash", "value"], "spec.data.hash.value")?;
    if value.len() != 64
        || !value
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(EntryError::BadDigest);
    }
    let digest = hex::decode(value).map_err(|_| EntryError::BadDigest)?;
    let sig_b64 = get_str(spec, &["signature", "content"], "spec.signature.content")?;
    let sig = b64(sig_b64, "spec.signature.content")?;
    if sig.is_empty() {
        return Err(EntryError::MissingField("spec.signature.content"));
    }
    let pem = b64(
        get_str(
            spec,
            &["signature", "publicKey", "content"],
            "spec.signature.publicKey.content",
        )?,
        "spec.signature.publicKey.content",
    )?;
    let verifier = Verifier::from_pem(&pem).map_err(EntryError::BadKey)?;
    verifier
        .key
        .verify_prehashed(DigestAlg::Sha256, &digest, &sig)
        .map_err(|e| match e {
            KeyError::BadSignature => EntryError::BadSignature,
            other => EntryError::BadKey(other),
        })?;
    let body = jcs(&json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": value}},
            "signature": {
                "content": sig_b64,
                "publicKey": {"content": B64.encode(verifier.canonical_pem.as_bytes())}
            }
        }
    }));
    let mut index_keys = vec![format!("sha256:{value}")];
    verifier.index_keys(&mut index_keys);
    Ok(CanonicalEntry { body, index_keys })
}

/// DSSE pre-authentication encoding.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "payloadType")]
    payload_type: String,
    payload: String,
    signatures: Vec<EnvelopeSig>,
}

#[derive(Deserialize)]
struct EnvelopeSig {
    sig: String,
}

fn dsse(spec: &Value) -> Result<CanonicalEntry, EntryError> {
    let env_str = get_str(
        spec,
        &["proposedContent", "envelope"],
        "spec.proposedContent.envelope",
    )?;
    let verifiers = get(
        spec,
        &["proposedContent", "verifiers"],
        "spec.proposedContent.verifiers",
    )?
    .as_array()
    .ok_or(EntryError::MissingField("spec.proposedContent.verifiers"))?;
    if verifiers.is_empty() {
        return Err(EntryError::MissingField("spec.proposedContent.verifiers"));
    }
    let verifiers = verifiers
        .iter()
        .map(|v| {
            let s = v
                .as_str()
                .ok_or(EntryError::MissingField("spec.proposedContent.verifiers"))?;
            let pem = b64(s, "spec.proposedContent.verifiers")?;
            Verifier::from_pem(&pem).map_err(EntryError::BadKey)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let env: Envelope =
        serde_json::from_str(env_str).map_err(|e| EntryError::BadEnvelope(e.to_string()))?;
    if env.signatures.is_empty() {
        return Err(EntryError::BadEnvelope(
            "the envelope has no signatures".into(),
        ));
    }
    let payload = b64(&env.payload, "envelope.payload")?;
    let pae = pae(&env.payload_type, &payload);
    let mut sigs = BTreeMap::new();
    let mut index_keys = Vec::new();
    for s in &env.signatures {
        let raw = b64(&s.sig, "envelope.signatures.sig")?;
        let v = verifiers
            .iter()
            .find(|v| v.key.verify_message(&pae, &raw).is_ok())
            .ok_or(EntryError::BadSignature)?;
        v.index_keys(&mut index_keys);
        sigs.insert(s.sig.clone(), B64.encode(v.canonical_pem.as_bytes()));
    }
    let signatures: Vec<Value> = sigs
        .into_iter()
        .map(|(signature, verifier)| json!({"signature": signature, "verifier": verifier}))
        .collect();
    let payload_hash = hex::encode(Sha256::digest(&payload));
    let body = jcs(&json!({
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {
            "envelopeHash": {"algorithm": "sha256", "value": hex::encode(Sha256::digest(env_str.as_bytes()))},
            "payloadHash": {"algorithm": "sha256", "value": payload_hash},
            "signatures": signatures
        }
    }));
    index_keys.insert(0, format!("sha256:{payload_hash}"));
    index_keys.dedup();
    Ok(CanonicalEntry { body, index_keys })
}

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
    jcs(&json!({
        "body": body_b64,
        "integratedTime": integrated_time,
        "logID": log_id_hex,
        "logIndex": log_index,
    }))
}

/// Signs a SET.
pub fn sign_set(signer: &Signer, body_b64: &str, integrated_time: i64, log_index: u64) -> Vec<u8> {
    let log_id = hex::encode(signer.public_key().key_id());
    signer.sign(&set_payload(body_b64, integrated_time, &log_id, log_index))
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

    const STAGING_REKOR_KEY: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEDODRU688UYGuy54mNUlaEBiQdTE9nYLr0lg6RXowI/QV/RE1azBn4Eg5/2uTOMbhB1/gfcHzijzFi9Tk+g1Prg==";

    fn staging_bundle() -> Value {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/vectors/sigstore/bundle_v3.txt.sigstore"
        );
        serde_json::from_slice(&std::fs::read(path).expect("shared vectors present")).unwrap()
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
        let proposed: Value = serde_json::from_slice(&body).unwrap();
        let ours = canonicalize_value(&proposed).unwrap();
        assert_eq!(ours.body, body);
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
