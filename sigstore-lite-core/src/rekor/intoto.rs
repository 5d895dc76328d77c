//! Rekor v1's `intoto` 0.0.2 entries (sigstore/rekor `pkg/types/intoto/v0.0.2`): a DSSE
//! envelope whose signatures the log checks, logged without its payload.
//!
//! The proposal carries `spec.content.envelope{payloadType, payload, signatures[{keyid?, sig,
//! publicKey}]}` and `spec.content.hash` (SHA-256 of the envelope JSON, given by the client).
//! Rekor's generated models read `payload` and `sig` as OpenAPI `byte` fields, so they hold the
//! base64 of the envelope's own base64 text: double-encoded. `publicKey` is the base64 of a PEM
//! certificate or key. The log computes `payloadHash` (SHA-256 of the statement) and logs
//! `{"apiVersion":"0.0.2","kind":"intoto","spec":{"content":{"envelope":{"payloadType",
//! "signatures"},"hash","payloadHash"}}}` in RFC 8785, the signatures in the order sent and each
//! public key re-encoded as canonical PEM (the fix of sigstore/rekor#1170, as hashedrekord does).

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use serde::{Deserialize, Serialize};

use super::base::{b64, EntryError, Verifier, MAX_DSSE_SIGNATURES};
use crate::dsse::pae;
use crate::keys::sha256;

/// Who signed: each signature's key and the e-mail addresses of its certificate.
pub type Signers = Vec<(crate::keys::PublicKey, Vec<String>)>;

/// One signature of an intoto 0.0.2 entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntotoSignature {
    /// The raw signature bytes (what the envelope's `sig` decodes to).
    pub signature: Vec<u8>,
    pub verifier: Verifier,
    pub keyid: String,
}

/// intoto 0.0.2 as logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntotoV002 {
    pub payload_type: String,
    /// SHA-256 of the envelope JSON, as the client stated it.
    pub envelope_hash: [u8; 32],
    /// SHA-256 of the payload (the statement).
    pub payload_hash: [u8; 32],
    pub signatures: Vec<IntotoSignature>,
}

/// An intoto 0.0.2 proposal, decoded but not verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposedIntoto {
    pub payload_type: String,
    /// The decoded payload (the statement bytes).
    pub payload: Vec<u8>,
    pub signatures: Vec<IntotoSignature>,
    pub envelope_hash: [u8; 32],
}

impl IntotoV002 {
    /// The canonical (RFC 8785) body.
    pub fn canonical_body(&self) -> Vec<u8> {
        let body = Body {
            api_version: "0.0.2",
            kind: "intoto",
            spec: Spec {
                content: ContentOut {
                    envelope: EnvelopeOut {
                        payload_type: &self.payload_type,
                        signatures: self
                            .signatures
                            .iter()
                            .map(|s| SigOut {
                                keyid: (!s.keyid.is_empty()).then_some(s.keyid.as_str()),
                                public_key: B64.encode(s.verifier.canonical_pem()),
                                sig: B64.encode(B64.encode(&s.signature)),
                            })
                            .collect(),
                    },
                    hash: Hash::of(&self.envelope_hash),
                    payload_hash: Hash::of(&self.payload_hash),
                },
            },
        };
        // Sorted field order and ASCII values (payloadType is checked to be ASCII): serde_json's
        // output is RFC 8785 here.
        serde_json::to_vec(&body).expect("serializes")
    }

    /// Reads a logged body.
    pub fn parse_body(body: &[u8]) -> Result<IntotoV002, EntryError> {
        let b: BodyIn =
            serde_json::from_slice(body).map_err(|e| EntryError::MalformedJson(e.to_string()))?;
        let c = b.spec.content;
        let signatures = c
            .envelope
            .signatures
            .iter()
            .map(|s| sig_in(s, "spec.content.envelope.signatures"))
            .collect::<Result<Vec<_>, _>>()?;
        if signatures.is_empty() {
            return Err(EntryError::MissingField("spec.content.envelope.signatures"));
        }
        Ok(IntotoV002 {
            payload_type: c.envelope.payload_type,
            envelope_hash: c.hash.digest("spec.content.hash")?,
            payload_hash: c.payload_hash.digest("spec.content.payloadHash")?,
            signatures,
        })
    }
}

impl ProposedIntoto {
    /// Reads `spec.content` of a proposed intoto 0.0.2 entry.
    pub fn from_content(content: &serde_json::Value) -> Result<ProposedIntoto, EntryError> {
        let content: ProposedContentIn = serde::Deserialize::deserialize(content)
            .map_err(|e| EntryError::MalformedJson(e.to_string()))?;
        let env = content
            .envelope
            .ok_or(EntryError::MissingField("spec.content.envelope"))?;
        let payload_type =
            env.payload_type
                .filter(|t| !t.is_empty())
                .ok_or(EntryError::MissingField(
                    "spec.content.envelope.payloadType",
                ))?;
        if !payload_type.is_ascii() || payload_type.chars().any(|c| c.is_ascii_control()) {
            return Err(EntryError::MissingField(
                "spec.content.envelope.payloadType",
            ));
        }
        // `byte` fields: base64 of the envelope's base64 text.
        let payload_b64 = b64(
            &env.payload
                .ok_or(EntryError::MissingField("spec.content.envelope.payload"))?,
            "spec.content.envelope.payload",
        )?;
        let payload = B64
            .decode(&payload_b64)
            .map_err(|_| EntryError::BadBase64("spec.content.envelope.payload"))?;
        if payload.is_empty() {
            return Err(EntryError::MissingField("spec.content.envelope.payload"));
        }
        let sigs = env
            .signatures
            .filter(|s| !s.is_empty())
            .ok_or(EntryError::MissingField("spec.content.envelope.signatures"))?;
        if sigs.len() > MAX_DSSE_SIGNATURES {
            return Err(EntryError::BadEnvelope(format!(
                "at most {} signatures are accepted",
                MAX_DSSE_SIGNATURES
            )));
        }
        let signatures = sigs
            .iter()
            .map(|s| sig_in(s, "spec.content.envelope.signatures"))
            .collect::<Result<Vec<_>, _>>()?;
        let envelope_hash = content
            .hash
            .ok_or(EntryError::MissingField("spec.content.hash"))?
            .digest("spec.content.hash")?;
        Ok(ProposedIntoto {
            payload_type,
            payload,
            signatures,
            envelope_hash,
        })
    }

    /// The proposal as a client sends it.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "apiVersion": "0.0.2",
            "kind": "intoto",
            "spec": {"content": {
                "envelope": {
                    "payloadType": self.payload_type,
                    "payload": B64.encode(B64.encode(&self.payload)),
                    "signatures": self.signatures.iter().map(|s| {
                        let mut o = serde_json::json!({
                            "sig": B64.encode(B64.encode(&s.signature)),
                            "publicKey": B64.encode(s.verifier.canonical_pem()),
                        });
                        if !s.keyid.is_empty() {
                            o["keyid"] = s.keyid.clone().into();
                        }
                        o
                    }).collect::<Vec<_>>(),
                },
                "hash": {"algorithm": "sha256", "value": hex::encode(self.envelope_hash)},
            }}
        })
    }

    /// Rekor's check: every signature verifies over the PAE with the key given beside it.
    /// Returns the logged entry and the keys it is searched by: the statement's hash and each
    /// signer's key and e-mail addresses.
    pub fn admit(&self) -> Result<(IntotoV002, Signers), EntryError> {
        let pae = pae(&self.payload_type, &self.payload);
        let mut signers = Vec::new();
        for s in &self.signatures {
            let (key, emails) = s.verifier.key().map_err(EntryError::BadKey)?;
            key.verify_message(&pae, &s.signature)
                .map_err(|_| EntryError::BadSignature)?;
            signers.push((key, emails));
        }
        Ok((
            IntotoV002 {
                payload_type: self.payload_type.clone(),
                envelope_hash: self.envelope_hash,
                payload_hash: sha256(&self.payload),
                signatures: self.signatures.clone(),
            },
            signers,
        ))
    }
}

fn sig_in(s: &SigIn, field: &'static str) -> Result<IntotoSignature, EntryError> {
    let sig_text = b64(
        s.sig.as_deref().ok_or(EntryError::MissingField(field))?,
        field,
    )?;
    let signature = B64
        .decode(&sig_text)
        .map_err(|_| EntryError::BadBase64(field))?;
    if signature.is_empty() {
        return Err(EntryError::MissingField(field));
    }
    let pem = b64(
        s.public_key
            .as_deref()
            .ok_or(EntryError::MissingField(field))?,
        field,
    )?;
    let verifier = Verifier::from_pem_text(&pem).map_err(EntryError::BadKey)?;
    let keyid = s.keyid.clone().unwrap_or_default();
    if !keyid.is_ascii() || keyid.chars().any(|c| c.is_ascii_control()) {
        return Err(EntryError::MissingField(field));
    }
    Ok(IntotoSignature {
        signature,
        verifier,
        keyid,
    })
}

// ---- wire structs (fields in sorted order: serde_json then writes RFC 8785) ----

#[derive(Serialize, Deserialize)]
struct Hash {
    algorithm: String,
    value: String,
}

impl Hash {
    fn of(d: &[u8; 32]) -> Hash {
        Hash {
            algorithm: "sha256".into(),
            value: hex::encode(d),
        }
    }

    fn digest(&self, what: &'static str) -> Result<[u8; 32], EntryError> {
        if self.algorithm != "sha256" {
            return Err(EntryError::UnsupportedHash(self.algorithm.clone()));
        }
        let mut out = [0u8; 32];
        if self.value.len() != 64
            || !self
                .value
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            || hex::decode_to_slice(&self.value, &mut out).is_err()
        {
            return Err(EntryError::BadDigest(what, 64));
        }
        Ok(out)
    }
}

#[derive(Serialize)]
struct SigOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    keyid: Option<&'a str>,
    #[serde(rename = "publicKey")]
    public_key: String,
    sig: String,
}

#[derive(Serialize)]
struct EnvelopeOut<'a> {
    #[serde(rename = "payloadType")]
    payload_type: &'a str,
    signatures: Vec<SigOut<'a>>,
}

#[derive(Serialize)]
struct ContentOut<'a> {
    envelope: EnvelopeOut<'a>,
    hash: Hash,
    #[serde(rename = "payloadHash")]
    payload_hash: Hash,
}

#[derive(Serialize)]
struct Spec<'a> {
    content: ContentOut<'a>,
}

#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    kind: &'static str,
    spec: Spec<'a>,
}

#[derive(Deserialize)]
struct SigIn {
    keyid: Option<String>,
    #[serde(rename = "publicKey")]
    public_key: Option<String>,
    sig: Option<String>,
}

#[derive(Deserialize)]
struct EnvelopeIn {
    #[serde(rename = "payloadType")]
    payload_type: String,
    #[serde(default)]
    signatures: Vec<SigIn>,
}

#[derive(Deserialize)]
struct ContentIn {
    envelope: EnvelopeIn,
    hash: Hash,
    #[serde(rename = "payloadHash")]
    payload_hash: Hash,
}

#[derive(Deserialize)]
struct SpecIn {
    content: ContentIn,
}

#[derive(Deserialize)]
struct BodyIn {
    spec: SpecIn,
}

#[derive(Deserialize)]
struct ProposedEnvelopeIn {
    #[serde(rename = "payloadType")]
    payload_type: Option<String>,
    payload: Option<String>,
    signatures: Option<Vec<SigIn>>,
}

#[derive(Deserialize)]
struct ProposedContentIn {
    envelope: Option<ProposedEnvelopeIn>,
    hash: Option<Hash>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::P256Signer;

    fn proposal(k: &P256Signer, statement: &[u8]) -> (serde_json::Value, Vec<u8>) {
        let t = "application/vnd.in-toto+json";
        let sig = k.sign(&pae(t, statement));
        let env = crate::dsse::Envelope::new(t, statement, &sig);
        let env_json = serde_json::to_vec(&env).unwrap();
        let pem = k.public_key().to_pem();
        let p = serde_json::json!({
            "apiVersion": "0.0.2", "kind": "intoto",
            "spec": {"content": {
                "envelope": {
                    "payloadType": t,
                    "payload": B64.encode(&env.payload),
                    "signatures": [{"sig": B64.encode(&env.signatures[0].sig), "publicKey": B64.encode(pem.trim_end())}],
                },
                "hash": {"algorithm": "sha256", "value": hex::encode(sha256(&env_json))},
            }}
        });
        (p, env_json)
    }

    /// The body is what Rekor logs: JCS (checked with an independent canonicalizer), the
    /// payload dropped, sig double-encoded, the key's PEM made canonical, payloadHash added.
    #[test]
    fn intoto_bodies_are_canonical_as_rekor_logs_them() {
        let k = P256Signer::generate_p256().unwrap();
        let statement = br#"{"_type":"https://in-toto.io/Statement/v0.1","subject":[]}"#;
        let (p, env_json) = proposal(&k, statement);
        let proposed = ProposedIntoto::from_content(&p["spec"]["content"]).unwrap();
        assert_eq!(proposed.payload, statement);
        let (entry, signers) = proposed.admit().unwrap();
        assert_eq!(signers.len(), 1);
        let body = entry.canonical_body();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            serde_json_canonicalizer::to_vec(&v).unwrap(),
            body,
            "RFC 8785"
        );
        let c = &v["spec"]["content"];
        assert!(c["envelope"].get("payload").is_none());
        assert_eq!(c["payloadHash"]["value"], hex::encode(sha256(statement)));
        assert_eq!(c["hash"]["value"], hex::encode(sha256(&env_json)));
        let sig_text = String::from_utf8(
            B64.decode(c["envelope"]["signatures"][0]["sig"].as_str().unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            B64.decode(sig_text).unwrap(),
            proposed.signatures[0].signature
        );
        let pem = B64
            .decode(
                c["envelope"]["signatures"][0]["publicKey"]
                    .as_str()
                    .unwrap(),
            )
            .unwrap();
        assert!(
            pem.ends_with(b"-----END PUBLIC KEY-----\n"),
            "canonical PEM"
        );
        assert!(c["envelope"]["signatures"][0].get("keyid").is_none());
        assert_eq!(IntotoV002::parse_body(&body).unwrap(), entry);

        // Refusals: another key's signature, no hash, no signatures, a payload that is
        // single-encoded base64 of non-base64 text.
        let other = P256Signer::generate_p256().unwrap();
        let mut bad = p.clone();
        bad["spec"]["content"]["envelope"]["signatures"][0]["publicKey"] =
            B64.encode(other.public_key().to_pem()).into();
        let e = ProposedIntoto::from_content(&bad["spec"]["content"])
            .unwrap()
            .admit();
        assert_eq!(e.err(), Some(EntryError::BadSignature));
        let mut bad = p.clone();
        bad["spec"]["content"]
            .as_object_mut()
            .unwrap()
            .remove("hash");
        assert_eq!(
            ProposedIntoto::from_content(&bad["spec"]["content"]).err(),
            Some(EntryError::MissingField("spec.content.hash"))
        );
        let mut bad = p.clone();
        bad["spec"]["content"]["envelope"]["signatures"] = serde_json::json!([]);
        assert!(ProposedIntoto::from_content(&bad["spec"]["content"]).is_err());
        let mut bad = p;
        bad["spec"]["content"]["envelope"]["payload"] = B64.encode("not base64 !").into();
        assert_eq!(
            ProposedIntoto::from_content(&bad["spec"]["content"]).err(),
            Some(EntryError::BadBase64("spec.content.envelope.payload"))
        );
    }
}
