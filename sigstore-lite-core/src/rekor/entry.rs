//! Typed Rekor entry bodies: the one place where an entry's JSON is read or written.
//!
//! - [`Proposed`] is what a client sends to `POST /api/v1/log/entries` (hashedrekord 0.0.1,
//!   dsse 0.0.1, or intoto 0.0.2, read in [`crate::rekor::intoto`]). [`Proposed::admit`] is the log's whole admission policy: it verifies the
//!   signatures and returns the canonical [`Entry`], its RFC 8785 body and its search keys.
//! - [`Entry`] is a logged, canonical body. [`Entry::parse_body`] reads one from a log or a bundle
//!   (verifiers compare its typed fields with what they were given); [`Entry::canonical_body`]
//!   writes it.
//!
//! Rekor v2 bodies (hashedrekord 0.0.2, and DSSE logged as hashedrekord 0.0.2 over the PAE) live
//! in [`crate::rekor::v2`].
//!
//! The canonical JSON is written with serde from structs whose fields are declared in sorted
//! order and hold only ASCII strings (base64, hex, PEM): serde_json's output for such values is
//! byte-identical to RFC 8785, without building an intermediate `Value`.

use std::collections::BTreeMap;

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use serde::{Deserialize, Serialize};

pub(crate) use super::base::b64;
pub use super::base::{CanonicalEntry, EntryError, Verifier, MAX_DSSE_SIGNATURES};
use crate::dsse::{pae, Envelope};
use crate::keys::{sha256, DigestAlg, KeyError, PublicKey};

/// hashedrekord 0.0.1: a signature over an artifact's SHA-256 digest and who made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashedRekordV001 {
    /// SHA-256 of the artifact.
    pub digest: [u8; 32],
    pub signature: Vec<u8>,
    pub verifier: Verifier,
}

/// One signature of a dsse 0.0.1 entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsseSignature {
    pub signature: Vec<u8>,
    pub verifier: Verifier,
}

/// dsse 0.0.1 as logged: the envelope's hash (as sent), the payload's hash, and the signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsseV001 {
    pub envelope_hash: [u8; 32],
    pub payload_hash: [u8; 32],
    /// Sorted by the base64 signature, as Rekor stores them.
    pub signatures: Vec<DsseSignature>,
}

/// A logged entry body.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Entry {
    HashedRekordV001(HashedRekordV001),
    DsseV001(DsseV001),
    IntotoV002(super::intoto::IntotoV002),
    HashedRekordV002(super::v2::HashedRekordV002),
}

impl Entry {
    /// `(kind, apiVersion)`.
    pub fn kind_version(&self) -> (&'static str, &'static str) {
        match self {
            Entry::HashedRekordV001(_) => ("hashedrekord", "0.0.1"),
            Entry::DsseV001(_) => ("dsse", "0.0.1"),
            Entry::IntotoV002(_) => ("intoto", "0.0.2"),
            Entry::HashedRekordV002(_) => ("hashedrekord", "0.0.2"),
        }
    }

    /// The canonical (RFC 8785) body.
    pub fn canonical_body(&self) -> Vec<u8> {
        match self {
            Entry::HashedRekordV001(h) => {
                let body = HrBody {
                    api_version: "0.0.1".into(),
                    kind: "hashedrekord".into(),
                    spec: HrSpec {
                        data: HrData {
                            hash: HashValue {
                                algorithm: "sha256".into(),
                                value: hex::encode(h.digest),
                            },
                        },
                        signature: HrSignature {
                            content: B64.encode(&h.signature),
                            public_key: Content {
                                content: B64.encode(h.verifier.canonical_pem()),
                            },
                        },
                    },
                };
                serde_json::to_vec(&body).expect("serializes")
            }
            Entry::DsseV001(d) => {
                let body = DsseBody {
                    api_version: "0.0.1",
                    kind: "dsse",
                    spec: DsseSpec {
                        envelope_hash: HashValue {
                            algorithm: "sha256".into(),
                            value: hex::encode(d.envelope_hash),
                        },
                        payload_hash: HashValue {
                            algorithm: "sha256".into(),
                            value: hex::encode(d.payload_hash),
                        },
                        signatures: d
                            .signatures
                            .iter()
                            .map(|s| DsseSigOut {
                                signature: B64.encode(&s.signature),
                                verifier: B64.encode(s.verifier.canonical_pem()),
                            })
                            .collect(),
                    },
                };
                serde_json::to_vec(&body).expect("serializes")
            }
            Entry::IntotoV002(i) => i.canonical_body(),
            Entry::HashedRekordV002(h) => h.canonical_body(),
        }
    }

    /// The keys a log files this entry under for search: `sha256:<hex>` of the artifact (or DSSE
    /// payload), `key:<hex SHA-256 of SPKI DER>` of each verifier, and `email:<lowercase>` for
    /// certificate e-mail SANs. The same rule [`Proposed::admit`] applies.
    pub fn search_keys(&self) -> Result<Vec<String>, EntryError> {
        let mut out = Vec::new();
        match self {
            Entry::HashedRekordV001(h) => {
                out.push(format!("sha256:{}", hex::encode(h.digest)));
                let (key, emails) = h.verifier.key().map_err(EntryError::BadKey)?;
                push_keys(&mut out, &key, emails);
            }
            Entry::DsseV001(d) => {
                out.push(format!("sha256:{}", hex::encode(d.payload_hash)));
                for s in &d.signatures {
                    let (key, emails) = s.verifier.key().map_err(EntryError::BadKey)?;
                    push_keys(&mut out, &key, emails);
                }
                out.dedup();
            }
            Entry::IntotoV002(i) => {
                out.push(format!("sha256:{}", hex::encode(i.payload_hash)));
                for s in &i.signatures {
                    let (key, emails) = s.verifier.key().map_err(EntryError::BadKey)?;
                    push_keys(&mut out, &key, emails);
                }
                out.dedup();
            }
            Entry::HashedRekordV002(h) => {
                out.push(format!(
                    "{}:{}",
                    match h.digest_alg {
                        DigestAlg::Sha256 => "sha256",
                        DigestAlg::Sha384 => "sha384",
                        DigestAlg::Sha512 => "sha512",
                    },
                    hex::encode(&h.digest)
                ));
                let (key, emails) = h.verifier.key().map_err(EntryError::BadKey)?;
                push_keys(&mut out, &key, emails);
            }
        }
        Ok(out)
    }

    /// Reads a logged body (from a log entry, a bundle or an annotation).
    pub fn parse_body(body: &[u8]) -> Result<Entry, EntryError> {
        let head: KindHead =
            serde_json::from_slice(body).map_err(|e| EntryError::MalformedJson(e.to_string()))?;
        match (head.kind.as_str(), head.api_version.as_str()) {
            ("hashedrekord", "0.0.1") => {
                let b: HrBody = de(body)?;
                if b.spec.data.hash.algorithm != "sha256" {
                    return Err(EntryError::UnsupportedHash(b.spec.data.hash.algorithm));
                }
                Ok(Entry::HashedRekordV001(HashedRekordV001 {
                    digest: hex32(&b.spec.data.hash.value, "sha256")?,
                    signature: b64(&b.spec.signature.content, "spec.signature.content")?,
                    verifier: pem_verifier(
                        &b.spec.signature.public_key.content,
                        "spec.signature.publicKey.content",
                    )?,
                }))
            }
            ("dsse", "0.0.1") => {
                let b: DsseBodyIn = de(body)?;
                let signatures = b
                    .spec
                    .signatures
                    .iter()
                    .map(|s| {
                        Ok(DsseSignature {
                            signature: b64(&s.signature, "spec.signatures.signature")?,
                            verifier: pem_verifier(&s.verifier, "spec.signatures.verifier")?,
                        })
                    })
                    .collect::<Result<Vec<_>, EntryError>>()?;
                Ok(Entry::DsseV001(DsseV001 {
                    envelope_hash: hex32(&b.spec.envelope_hash.value, "envelope")?,
                    payload_hash: hex32(&b.spec.payload_hash.value, "payload")?,
                    signatures,
                }))
            }
            ("hashedrekord", "0.0.2") => Ok(Entry::HashedRekordV002(
                super::v2::HashedRekordV002::parse_body(body)?,
            )),
            ("intoto", "0.0.2") => Ok(Entry::IntotoV002(super::intoto::IntotoV002::parse_body(
                body,
            )?)),
            ("hashedrekord" | "dsse", v) => Err(EntryError::UnknownVersion {
                kind: head.kind.clone(),
                version: v.to_string(),
                supported: "0.0.1, 0.0.2",
            }),
            ("intoto", v) => Err(EntryError::UnknownVersion {
                kind: head.kind.clone(),
                version: v.to_string(),
                supported: "0.0.2",
            }),
            (k, _) => Err(EntryError::UnknownKind(k.to_string())),
        }
    }
}

/// `(kind, apiVersion)` of a body, without reading the rest.
pub fn kind_version_of(body: &[u8]) -> Result<(String, String), EntryError> {
    let h: KindHead =
        serde_json::from_slice(body).map_err(|e| EntryError::MalformedJson(e.to_string()))?;
    Ok((h.kind, h.api_version))
}

/// What a client proposes to a Rekor v1 log.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Proposed {
    HashedRekordV001(HashedRekordV001),
    DsseV001 {
        /// The envelope JSON exactly as sent (its hash is logged).
        envelope: String,
        verifiers: Vec<Verifier>,
    },
    IntotoV002(super::intoto::ProposedIntoto),
}

impl Proposed {
    /// A hashedrekord 0.0.1 proposal.
    pub fn hashedrekord(digest: [u8; 32], signature: Vec<u8>, verifier: Verifier) -> Proposed {
        Proposed::HashedRekordV001(HashedRekordV001 {
            digest,
            signature,
            verifier,
        })
    }

    /// Parses the JSON a client sends (`{"kind", "apiVersion", "spec"}`), without checking
    /// signatures.
    pub fn parse(json: &[u8]) -> Result<Proposed, EntryError> {
        let p: ProposedIn =
            serde_json::from_slice(json).map_err(|e| EntryError::MalformedJson(e.to_string()))?;
        Proposed::from_in(p)
    }

    /// [`Proposed::parse`] on already parsed JSON.
    pub fn from_value(v: &serde_json::Value) -> Result<Proposed, EntryError> {
        if !v.is_object() {
            return Err(EntryError::MalformedJson("expected a JSON object".into()));
        }
        let p = ProposedIn::deserialize(v).map_err(|e| EntryError::MalformedJson(e.to_string()))?;
        Proposed::from_in(p)
    }

    fn from_in(p: ProposedIn) -> Result<Proposed, EntryError> {
        let kind = p.kind.ok_or(EntryError::MissingField("kind"))?;
        let version = p
            .api_version
            .ok_or(EntryError::MissingField("apiVersion"))?;
        match (kind.as_str(), version.as_str()) {
            ("hashedrekord", "0.0.1") => {
                let spec = p.spec.ok_or(EntryError::MissingField("spec"))?;
                let hash = spec
                    .data
                    .and_then(|d| d.hash)
                    .ok_or(EntryError::MissingField("spec.data.hash"))?;
                let alg = hash
                    .algorithm
                    .ok_or(EntryError::MissingField("spec.data.hash.algorithm"))?;
                if alg != "sha256" {
                    return Err(EntryError::UnsupportedHash(alg));
                }
                let value = hash
                    .value
                    .ok_or(EntryError::MissingField("spec.data.hash.value"))?;
                let sig = spec
                    .signature
                    .ok_or(EntryError::MissingField("spec.signature"))?;
                let content = sig
                    .content
                    .ok_or(EntryError::MissingField("spec.signature.content"))?;
                let signature = b64(&content, "spec.signature.content")?;
                if signature.is_empty() {
                    return Err(EntryError::MissingField("spec.signature.content"));
                }
                let key = sig
                    .public_key
                    .and_then(|k| k.content)
                    .ok_or(EntryError::MissingField("spec.signature.publicKey.content"))?;
                Ok(Proposed::HashedRekordV001(HashedRekordV001 {
                    digest: hex32(&value, "sha256")?,
                    signature,
                    verifier: pem_verifier(&key, "spec.signature.publicKey.content")?,
                }))
            }
            ("dsse", "0.0.1") => {
                let pc = p
                    .spec
                    .and_then(|s| s.proposed_content)
                    .ok_or(EntryError::MissingField("spec.proposedContent"))?;
                let envelope = pc
                    .envelope
                    .ok_or(EntryError::MissingField("spec.proposedContent.envelope"))?;
                let verifiers = pc
                    .verifiers
                    .filter(|v| !v.is_empty())
                    .ok_or(EntryError::MissingField("spec.proposedContent.verifiers"))?
                    .iter()
                    .map(|v| pem_verifier(v, "spec.proposedContent.verifiers"))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Proposed::DsseV001 {
                    envelope,
                    verifiers,
                })
            }
            ("intoto", "0.0.2") => {
                let content = p
                    .spec
                    .and_then(|s| s.content)
                    .ok_or(EntryError::MissingField("spec.content"))?;
                Ok(Proposed::IntotoV002(
                    super::intoto::ProposedIntoto::from_content(&content)?,
                ))
            }
            ("hashedrekord" | "dsse", other) => Err(EntryError::UnknownVersion {
                kind,
                version: other.to_string(),
                supported: "0.0.1",
            }),
            ("intoto", other) => Err(EntryError::UnknownVersion {
                kind,
                version: other.to_string(),
                supported: "0.0.2",
            }),
            (other, _) => Err(EntryError::UnknownKind(other.to_string())),
        }
    }

    /// The proposal as JSON, as a client sends it.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Proposed::HashedRekordV001(h) => {
                serde_json::from_slice(&Entry::HashedRekordV001(h.clone()).canonical_body())
                    .expect("canonical body is JSON")
            }
            Proposed::DsseV001 {
                envelope,
                verifiers,
            } => serde_json::json!({
                "apiVersion": "0.0.1",
                "kind": "dsse",
                "spec": {"proposedContent": {
                    "envelope": envelope,
                    "verifiers": verifiers.iter().map(|v| B64.encode(v.canonical_pem())).collect::<Vec<_>>(),
                }}
            }),
            Proposed::IntotoV002(i) => i.to_json(),
        }
    }

    /// The log's admission policy: verifies every signature and returns the canonical entry and
    /// its search keys.
    pub fn admit(&self) -> Result<(Entry, CanonicalEntry), EntryError> {
        let mut index_keys = Vec::new();
        let entry = match self {
            Proposed::HashedRekordV001(h) => {
                let (key, emails) = h.verifier.key().map_err(EntryError::BadKey)?;
                key.verify_prehashed(DigestAlg::Sha256, &h.digest, &h.signature)
                    .map_err(|e| match e {
                        KeyError::BadSignature => EntryError::BadSignature,
                        other => EntryError::BadKey(other),
                    })?;
                index_keys.push(format!("sha256:{}", hex::encode(h.digest)));
                push_keys(&mut index_keys, &key, emails);
                Entry::HashedRekordV001(h.clone())
            }
            Proposed::DsseV001 {
                envelope,
                verifiers,
            } => {
                let keys = verifiers
                    .iter()
                    .map(|v| v.key())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(EntryError::BadKey)?;
                let env: Envelope = serde_json::from_str(envelope)
                    .map_err(|e| EntryError::BadEnvelope(e.to_string()))?;
                if env.signatures.is_empty() {
                    return Err(EntryError::BadEnvelope(
                        "the envelope has no signatures".into(),
                    ));
                }
                // Each signature is tried with each verifier: bounded, so that one request
                // cannot ask for millions of signature checks.
                if env.signatures.len() > MAX_DSSE_SIGNATURES
                    || verifiers.len() > MAX_DSSE_SIGNATURES
                {
                    return Err(EntryError::BadEnvelope(format!(
                        "at most {MAX_DSSE_SIGNATURES} signatures and {MAX_DSSE_SIGNATURES} verifiers are accepted"
                    )));
                }
                let payload = b64(&env.payload, "envelope.payload")?;
                let pae = pae(&env.payload_type, &payload);
                let payload_hash = sha256(&payload);
                index_keys.push(format!("sha256:{}", hex::encode(payload_hash)));
                // Sorted by the base64 signature, one entry per signature.
                let mut sigs: BTreeMap<String, DsseSignature> = BTreeMap::new();
                for s in &env.signatures {
                    let raw = b64(&s.sig, "envelope.signatures.sig")?;
                    let (i, (key, emails)) = keys
                        .iter()
                        .enumerate()
                        .find(|(_, (k, _))| k.verify_message(&pae, &raw).is_ok())
                        .ok_or(EntryError::BadSignature)?;
                    push_keys(&mut index_keys, key, emails.clone());
                    sigs.insert(
                        B64.encode(&raw),
                        DsseSignature {
                            signature: raw,
                            verifier: verifiers[i].clone(),
                        },
                    );
                }
                index_keys.dedup();
                Entry::DsseV001(DsseV001 {
                    envelope_hash: sha256(envelope.as_bytes()),
                    payload_hash,
                    signatures: sigs.into_values().collect(),
                })
            }
            Proposed::IntotoV002(p) => {
                let (entry, signers) = p.admit()?;
                index_keys.push(format!("sha256:{}", hex::encode(entry.payload_hash)));
                for (key, emails) in signers {
                    push_keys(&mut index_keys, &key, emails);
                }
                index_keys.dedup();
                Entry::IntotoV002(entry)
            }
        };
        let body = entry.canonical_body();
        Ok((entry, CanonicalEntry { body, index_keys }))
    }
}

fn push_keys(out: &mut Vec<String>, key: &PublicKey, emails: Vec<String>) {
    out.push(format!("key:{}", hex::encode(key.key_id())));
    out.extend(emails.into_iter().map(|e| format!("email:{e}")));
}

/// Parses, verifies and canonicalizes a proposed entry (`{"kind", "apiVersion", "spec"}`).
pub fn canonicalize(proposed: &[u8]) -> Result<CanonicalEntry, EntryError> {
    Ok(Proposed::parse(proposed)?.admit()?.1)
}

fn de<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, EntryError> {
    serde_json::from_slice(body).map_err(|e| EntryError::MalformedJson(e.to_string()))
}

fn hex32(s: &str, what: &'static str) -> Result<[u8; 32], EntryError> {
    if s.len() != 64 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(EntryError::BadDigest(what, 64));
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).map_err(|_| EntryError::BadDigest(what, 64))?;
    Ok(out)
}

fn pem_verifier(b64_pem: &str, name: &'static str) -> Result<Verifier, EntryError> {
    let pem = b64(b64_pem, name)?;
    Verifier::from_pem_text(&pem).map_err(EntryError::BadKey)
}

// ---- wire structs (fields in sorted order: serde_json then writes RFC 8785) ----

#[derive(Deserialize)]
struct KindHead {
    kind: String,
    #[serde(rename = "apiVersion")]
    api_version: String,
}

#[derive(Serialize, Deserialize)]
struct HashValue {
    algorithm: String,
    value: String,
}

#[derive(Serialize, Deserialize)]
struct Content {
    content: String,
}

#[derive(Serialize, Deserialize)]
struct HrData {
    hash: HashValue,
}

#[derive(Serialize, Deserialize)]
struct HrSignature {
    content: String,
    #[serde(rename = "publicKey")]
    public_key: Content,
}

#[derive(Serialize, Deserialize)]
struct HrSpec {
    data: HrData,
    signature: HrSignature,
}

#[derive(Serialize, Deserialize)]
struct HrBody {
    #[serde(rename = "apiVersion")]
    api_version: String,
    kind: String,
    spec: HrSpec,
}

#[derive(Serialize)]
struct DsseSigOut {
    signature: String,
    verifier: String,
}

#[derive(Serialize)]
struct DsseSpec {
    #[serde(rename = "envelopeHash")]
    envelope_hash: HashValue,
    #[serde(rename = "payloadHash")]
    payload_hash: HashValue,
    signatures: Vec<DsseSigOut>,
}

#[derive(Serialize)]
struct DsseBody {
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    kind: &'static str,
    spec: DsseSpec,
}

#[derive(Deserialize)]
struct DsseSigIn {
    signature: String,
    verifier: String,
}

#[derive(Deserialize)]
struct DsseSpecIn {
    #[serde(rename = "envelopeHash")]
    envelope_hash: HashValue,
    #[serde(rename = "payloadHash")]
    payload_hash: HashValue,
    signatures: Vec<DsseSigIn>,
}

#[derive(Deserialize)]
struct DsseBodyIn {
    spec: DsseSpecIn,
}

// Proposed entries: everything optional so that a missing field is named precisely.

#[derive(Deserialize)]
struct ProposedIn {
    kind: Option<String>,
    #[serde(rename = "apiVersion")]
    api_version: Option<String>,
    spec: Option<SpecIn>,
}

#[derive(Deserialize)]
struct SpecIn {
    data: Option<DataIn>,
    signature: Option<SignatureIn>,
    #[serde(rename = "proposedContent")]
    proposed_content: Option<ProposedContentIn>,
    /// intoto 0.0.2's `spec.content`, read by [`super::intoto`].
    content: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct DataIn {
    hash: Option<HashIn>,
}

#[derive(Deserialize)]
struct HashIn {
    algorithm: Option<String>,
    value: Option<String>,
}

#[derive(Deserialize)]
struct SignatureIn {
    content: Option<String>,
    #[serde(rename = "publicKey")]
    public_key: Option<ContentIn>,
}

#[derive(Deserialize)]
struct ContentIn {
    content: Option<String>,
}

#[derive(Deserialize)]
struct ProposedContentIn {
    envelope: Option<String>,
    verifiers: Option<Vec<String>>,
}

impl super::v2::ProposedV2 {
    /// The Rekor v2 request for what a client would propose to Rekor v1: a hashedrekord as it
    /// is, a DSSE envelope (one signature, one verifier) over its PAE; the key details are the
    /// verifier key's defaults ([`default_key_details`]).
    pub fn from_v1(p: &Proposed) -> Result<super::v2::ProposedV2, EntryError> {
        let details = |v: &Verifier| -> Result<&'static str, EntryError> {
            let (key, _) = v.key().map_err(EntryError::BadKey)?;
            Ok(super::v2::default_key_details(&key).0)
        };
        match p {
            Proposed::HashedRekordV001(h) => Ok(super::v2::ProposedV2::HashedRekord(
                super::v2::HashedRekordV002 {
                    digest_alg: DigestAlg::Sha256,
                    digest: h.digest.to_vec(),
                    signature: h.signature.clone(),
                    key_details: details(&h.verifier)?.to_string(),
                    verifier: h.verifier.clone(),
                },
            )),
            Proposed::DsseV001 {
                envelope,
                verifiers,
            } => {
                let [v] = verifiers.as_slice() else {
                    return Err(EntryError::BadEnvelope(
                        "Rekor v2 logs a DSSE envelope with exactly one verifier".into(),
                    ));
                };
                let env: crate::dsse::Envelope = serde_json::from_str(envelope)
                    .map_err(|e| EntryError::BadEnvelope(e.to_string()))?;
                super::v2::ProposedV2::dsse(&env, v.clone(), details(v)?)
            }
            Proposed::IntotoV002(_) => Err(EntryError::OnlyHashedRekord("intoto")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::P256Signer;

    #[test]
    fn hashedrekord_body_is_jcs_and_roundtrips() {
        let k = P256Signer::generate_p256().unwrap();
        let digest = sha256(b"artifact");
        let p = Proposed::hashedrekord(
            digest,
            k.sign(b"artifact"),
            Verifier::PublicKey(k.public_key().spki_der().to_vec()),
        );
        let (entry, c) = p.admit().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&c.body).unwrap();
        assert_eq!(c.body, serde_json_canonicalizer::to_vec(&v).unwrap());
        assert_eq!(Entry::parse_body(&c.body).unwrap(), entry);
        assert_eq!(Proposed::from_value(&p.to_json()).unwrap(), p);
        assert!(c.index_keys[0].starts_with("sha256:"));
        // One rule for search keys: at admission and when re-indexing a stored body.
        assert_eq!(entry.search_keys().unwrap(), c.index_keys);
    }

    #[test]
    fn dsse_body_is_jcs_sorted_and_checks_signatures() {
        let (a, b) = (
            P256Signer::generate_p256().unwrap(),
            P256Signer::generate_p256().unwrap(),
        );
        let payload = br#"{"_type":"https://in-toto.io/Statement/v1"}"#;
        let pae_bytes = pae("application/vnd.in-toto+json", payload);
        let env = serde_json::json!({"payloadType": "application/vnd.in-toto+json", "payload": B64.encode(payload),
            "signatures": [{"sig": B64.encode(a.sign(&pae_bytes))}, {"sig": B64.encode(b.sign(&pae_bytes))}]})
        .to_string();
        let verifiers = vec![
            Verifier::PublicKey(a.public_key().spki_der().to_vec()),
            Verifier::PublicKey(b.public_key().spki_der().to_vec()),
        ];
        let p = Proposed::DsseV001 {
            envelope: env.clone(),
            verifiers: verifiers.clone(),
        };
        let (entry, c) = p.admit().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&c.body).unwrap();
        assert_eq!(c.body, serde_json_canonicalizer::to_vec(&v).unwrap());
        let sigs: Vec<&str> = v["spec"]["signatures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["signature"].as_str().unwrap())
            .collect();
        let mut sorted = sigs.clone();
        sorted.sort();
        assert_eq!(sigs, sorted);
        assert_eq!(Entry::parse_body(&c.body).unwrap(), entry);
        let mut keys = entry.search_keys().unwrap();
        let mut admitted = c.index_keys.clone();
        keys.sort();
        admitted.sort();
        assert_eq!(keys, admitted);
        // Only one of the signers is a verifier: refused.
        let p = Proposed::DsseV001 {
            envelope: env,
            verifiers: verifiers[..1].to_vec(),
        };
        assert_eq!(p.admit().unwrap_err(), EntryError::BadSignature);
        // Signatures x verifiers is bounded: 17 verifiers (or signatures) are refused before
        // any signature check.
        let many = Proposed::DsseV001 {
            envelope: serde_json::json!({"payloadType": "t", "payload": B64.encode(payload),
                "signatures": vec![serde_json::json!({"sig": B64.encode(a.sign(&pae_bytes))}); 17]})
            .to_string(),
            verifiers: verifiers.clone(),
        };
        assert!(matches!(many.admit(), Err(EntryError::BadEnvelope(_))));
        let many = Proposed::DsseV001 {
            envelope: serde_json::json!({"payloadType": "t", "payload": B64.encode(payload),
                "signatures": [{"sig": B64.encode(a.sign(&pae_bytes))}]})
            .to_string(),
            verifiers: vec![verifiers[0].clone(); MAX_DSSE_SIGNATURES + 1],
        };
        assert!(matches!(many.admit(), Err(EntryError::BadEnvelope(_))));
    }
}
