//! DSSE envelopes and in-toto statements.
//!
//! The envelope serializes in cosign v3's (sigstore-go's) byte form:
//! `{"payload":..,"payloadType":..,"signatures":[{"sig":..}]}`, `keyid` omitted when empty. A
//! legacy `.att` layer must be byte-identical to the envelope string logged in Rekor, so the
//! bytes that were signed and logged are kept, never re-serialized.

use std::collections::BTreeMap;

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `payloadType` of in-toto statements.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// in-toto Statement v0.1 (cosign attest).
pub const STATEMENT_V01: &str = "https://in-toto.io/Statement/v0.1";
/// in-toto Statement v1 (cosign v3 sign, sigstore-python).
pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";

/// DSSE pre-authentication encoding: `DSSEv1 SP len(type) SP type SP len(payload) SP payload`.
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeSignature {
    /// Base64.
    pub sig: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub keyid: String,
}

/// A DSSE envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// Base64.
    pub payload: String,
    pub payload_type: String,
    pub signatures: Vec<EnvelopeSignature>,
}

impl Envelope {
    /// An envelope with one signature.
    pub fn new(payload_type: &str, payload: &[u8], sig: &[u8]) -> Envelope {
        Envelope {
            payload: B64.encode(payload),
            payload_type: payload_type.to_string(),
            signatures: vec![EnvelopeSignature {
                sig: B64.encode(sig),
                keyid: String::new(),
            }],
        }
    }

    /// The decoded payload.
    pub fn payload_bytes(&self) -> Option<Vec<u8>> {
        B64.decode(&self.payload).ok()
    }

    /// The envelope's JSON bytes (cosign v3 form).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("serializes")
    }
}

/// An in-toto subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub digest: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Value>,
}

/// An in-toto statement (v0.1 or v1). Unknown fields are ignored, as the spec requires.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statement {
    #[serde(rename = "_type")]
    pub type_: String,
    pub subject: Vec<Subject>,
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicate: Option<Value>,
}

impl Statement {
    /// Whether some subject's sha256 digest is `hex` (case-insensitive).
    pub fn has_subject_sha256(&self, hex: &str) -> bool {
        self.subject.iter().any(|s| {
            s.digest
                .get("sha256")
                .is_some_and(|d| d.eq_ignore_ascii_case(hex))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_and_envelope_form() {
        assert_eq!(pae("t", b"ab"), b"DSSEv1 1 t 2 ab".to_vec());
        let e = Envelope::new(IN_TOTO_PAYLOAD_TYPE, b"{}", b"sig");
        assert_eq!(
            String::from_utf8(e.to_json()).unwrap(),
            r#"{"payload":"e30=","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"c2ln"}]}"#
        );
        let st: Statement = serde_json::from_str(
            r#"{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"p","subject":[{"name":"x","digest":{"sha256":"AB"}}],"predicate":{},"extra":1}"#,
        )
        .unwrap();
        assert!(st.has_subject_sha256("ab"));
        assert!(!st.has_subject_sha256("cd"));
    }
}
