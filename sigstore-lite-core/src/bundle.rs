//! Sigstore bundles (v0.1, v0.2, v0.3) as protobuf-JSON, their conversion from Rekor v1 log
//! entries, and the builders of the v0.3 bundles this project writes.

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

pub use crate::dsse::{Envelope, EnvelopeSignature};
use crate::rekor::LogEntry;
use crate::trust::{CertChain, LogId, RawBytes};

pub const MEDIA_TYPE_V01: &str = "application/vnd.dev.sigstore.bundle+json;version=0.1";
pub const MEDIA_TYPE_V02: &str = "application/vnd.dev.sigstore.bundle+json;version=0.2";
pub const MEDIA_TYPE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
pub const MEDIA_TYPE_V03_ALT: &str = "application/vnd.dev.sigstore.bundle+json;version=0.3";

/// protobuf-JSON int64: written as a string, read from a string or a number.
pub mod int64 {
    use super::*;

    pub fn serialize<S: Serializer>(v: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => s.parse().map_err(serde::de::Error::custom),
            Value::Number(n) => n
                .as_i64()
                .ok_or_else(|| serde::de::Error::custom("not an int64")),
            Value::Null => Ok(0),
            _ => Err(serde::de::Error::custom("expected an int64")),
        }
    }
}

fn default_zero() -> i64 {
    0
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindVersion {
    pub kind: String,
    pub version: String,
}

impl KindVersion {
    /// Whether the entry is a Rekor v2 (rekor-tiles) entry: hashedrekord or dsse 0.0.2. Rekor v1
    /// logs hashedrekord and dsse 0.0.1, and intoto 0.0.2: the version alone does not tell.
    pub fn is_rekor_v2(&self) -> bool {
        self.version == "0.0.2" && matches!(self.kind.as_str(), "hashedrekord" | "dsse")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InclusionPromise {
    pub signed_entry_timestamp: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointEnvelope {
    pub envelope: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InclusionProof {
    #[serde(with = "int64", default = "default_zero")]
    pub log_index: i64,
    /// Base64.
    pub root_hash: String,
    #[serde(with = "int64", default = "default_zero")]
    pub tree_size: i64,
    /// Base64, leaf to root.
    #[serde(default)]
    pub hashes: Vec<String>,
    pub checkpoint: CheckpointEnvelope,
}

/// A transparency log entry as a bundle carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TlogEntry {
    #[serde(with = "int64", default = "default_zero")]
    pub log_index: i64,
    pub log_id: LogId,
    pub kind_version: KindVersion,
    #[serde(with = "int64", default = "default_zero")]
    pub integrated_time: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inclusion_promise: Option<InclusionPromise>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inclusion_proof: Option<InclusionProof>,
    /// Base64 of the canonical body.
    pub canonicalized_body: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicKeyIdentifier {
    #[serde(default)]
    pub hint: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerificationMaterial {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<RawBytes>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x509_certificate_chain: Option<CertChain>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<PublicKeyIdentifier>,
    #[serde(default)]
    pub tlog_entries: Vec<TlogEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_verification_data: Option<TimestampVerificationData>,
}

/// `timestampVerificationData`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct TimestampVerificationData {
    #[serde(default)]
    pub rfc3161_timestamps: Vec<Rfc3161Timestamp>,
}

/// One RFC 3161 timestamp: a base64 DER `TimeStampResp`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rfc3161Timestamp {
    pub signed_timestamp: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageDigest {
    pub algorithm: String,
    /// Base64.
    pub digest: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageSignature {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_digest: Option<MessageDigest>,
    /// Base64.
    pub signature: String,
}

/// A Sigstore bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bundle {
    pub media_type: String,
    pub verification_material: VerificationMaterial,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_signature: Option<MessageSignature>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dsse_envelope: Option<Envelope>,
}

/// Bundle format versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum BundleVersion {
    V01,
    V02,
    V03,
}

impl Bundle {
    /// The RFC 3161 timestamps (DER), base64-decoded; `None` if one is not base64.
    pub fn timestamps(&self) -> Option<Vec<Vec<u8>>> {
        self.verification_material
            .timestamp_verification_data
            .as_ref()
            .map_or(&[][..], |t| &t.rfc3161_timestamps)
            .iter()
            .map(|t| B64.decode(&t.signed_timestamp).ok())
            .collect()
    }

    pub fn version(&self) -> Option<BundleVersion> {
        match self.media_type.as_str() {
            MEDIA_TYPE_V01 => Some(BundleVersion::V01),
            MEDIA_TYPE_V02 => Some(BundleVersion::V02),
            MEDIA_TYPE_V03 | MEDIA_TYPE_V03_ALT => Some(BundleVersion::V03),
            _ => None,
        }
    }
}

impl TlogEntry {
    /// Converts a Rekor v1 log entry (hex IDs and hashes) to the bundle form (base64).
    pub fn from_rekor(e: &LogEntry) -> Option<TlogEntry> {
        let body = B64.decode(&e.body).ok()?;
        let (kind, version) = crate::rekor::entry::kind_version_of(&body).ok()?;
        let kind_version = KindVersion { kind, version };
        let hex_b64 = |h: &str| hex::decode(h).ok().map(|b| B64.encode(b));
        let inclusion_proof = match &e.verification.inclusion_proof {
            Some(p) => Some(InclusionProof {
                log_index: p.log_index as i64,
                root_hash: hex_b64(&p.root_hash)?,
                tree_size: p.tree_size as i64,
                hashes: p
                    .hashes
                    .iter()
                    .map(|h| hex_b64(h))
                    .collect::<Option<Vec<_>>>()?,
                checkpoint: CheckpointEnvelope {
                    envelope: p.checkpoint.clone(),
                },
            }),
            None => None,
        };
        Some(TlogEntry {
            log_index: e.log_index as i64,
            log_id: LogId {
                key_id: hex_b64(&e.log_id)?,
            },
            kind_version,
            integrated_time: e.integrated_time,
            inclusion_promise: Some(InclusionPromise {
                signed_entry_timestamp: e.verification.signed_entry_timestamp.clone(),
            }),
            inclusion_proof,
            canonicalized_body: e.body.clone(),
        })
    }
}

/// Where a bundle's key material comes from.
#[derive(Debug, Clone, Copy)]
pub enum Signer<'a> {
    /// A Fulcio leaf certificate (DER): keyless.
    Certificate(&'a [u8]),
    /// A key the verifier already has (cosign.pub): only a hint is written.
    Key,
}

fn verification_material(
    who: Signer<'_>,
    tlog_entries: Vec<TlogEntry>,
    timestamps: Vec<String>,
) -> VerificationMaterial {
    VerificationMaterial {
        certificate: match who {
            Signer::Certificate(d) => Some(RawBytes {
                raw_bytes: B64.encode(d),
            }),
            Signer::Key => None,
        },
        x509_certificate_chain: None,
        public_key: matches!(who, Signer::Key).then(|| PublicKeyIdentifier {
            hint: String::new(),
        }),
        tlog_entries,
        timestamp_verification_data: (!timestamps.is_empty()).then(|| TimestampVerificationData {
            rfc3161_timestamps: timestamps
                .into_iter()
                .map(|t| Rfc3161Timestamp {
                    signed_timestamp: t,
                })
                .collect(),
        }),
    }
}

/// A v0.3 message-signature bundle over a SHA-256 `digest`. `timestamps` are base64 DER
/// TimeStampResps.
pub fn message_bundle(
    who: Signer<'_>,
    tlog_entries: Vec<TlogEntry>,
    timestamps: Vec<String>,
    digest: &[u8; 32],
    sig: &[u8],
) -> Bundle {
    Bundle {
        media_type: MEDIA_TYPE_V03.into(),
        verification_material: verification_material(who, tlog_entries, timestamps),
        message_signature: Some(MessageSignature {
            message_digest: Some(MessageDigest {
                algorithm: "SHA2_256".into(),
                digest: B64.encode(digest),
            }),
            signature: B64.encode(sig),
        }),
        dsse_envelope: None,
    }
}

/// A v0.3 DSSE bundle.
pub fn dsse_bundle(
    who: Signer<'_>,
    tlog_entries: Vec<TlogEntry>,
    timestamps: Vec<String>,
    envelope: Envelope,
) -> Bundle {
    Bundle {
        media_type: MEDIA_TYPE_V03.into(),
        verification_material: verification_material(who, tlog_entries, timestamps),
        message_signature: None,
        dsse_envelope: Some(envelope),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_real_bundles_and_roundtrips() {
        for f in [
            "bundle_v3.txt.sigstore",
            "staging-rekor-v2.txt.sigstore.json",
        ] {
            let raw: Value = serde_json::from_slice(&crate::testdata::sigstore(f)).unwrap();
            let b: Bundle = serde_json::from_value(raw.clone()).unwrap();
            assert_eq!(b.version(), Some(BundleVersion::V03));
            let mut back = serde_json::to_value(&b).unwrap();
            // protobuf-JSON omits a zero int64; we always write it.
            if raw["verificationMaterial"]["tlogEntries"][0]
                .get("integratedTime")
                .is_none()
            {
                back["verificationMaterial"]["tlogEntries"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("integratedTime");
            }
            assert_eq!(
                back["verificationMaterial"]["tlogEntries"],
                raw["verificationMaterial"]["tlogEntries"]
            );
        }
    }
}
