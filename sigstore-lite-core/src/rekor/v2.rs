//! Rekor v2 (rekor-tiles) entry bodies: hashedrekord 0.0.2.
//!
//! Rekor v2 logs only hashedrekord 0.0.2; a DSSE envelope is logged as a hashedrekord whose digest
//! is the hash of its PAE and whose signature is the envelope's. Verifiers do not trust the logged
//! body: they rebuild it from the bundle ([`HashedRekordV002::canonical_body`]) and compare leaf
//! hashes, so the body must be byte-identical to rekor-tiles' (JCS of the protobuf JSON).

use base64::Engine;
use serde::{Deserialize, Serialize};

use super::base::{b64, CanonicalEntry, EntryError, Verifier};
use crate::keys::{DigestAlg, KeyKind, PublicKey};
use base64::engine::general_purpose::STANDARD as B64;

/// The protobuf `HashAlgorithm` name of a digest algorithm.
pub fn hash_algorithm_name(a: DigestAlg) -> &'static str {
    match a {
        DigestAlg::Sha256 => "SHA2_256",
        DigestAlg::Sha384 => "SHA2_384",
        DigestAlg::Sha512 => "SHA2_512",
    }
}

/// Parses a protobuf `HashAlgorithm` name.
pub fn parse_hash_algorithm(s: &str) -> Option<DigestAlg> {
    match s {
        "SHA2_256" => Some(DigestAlg::Sha256),
        "SHA2_384" => Some(DigestAlg::Sha384),
        "SHA2_512" => Some(DigestAlg::Sha512),
        _ => None,
    }
}

/// The `PublicKeyDetails` a Rekor v2 entry names for a key (sigstore-go's default algorithm
/// details, with Ed25519 as Ed25519ph since Rekor v2 logs only prehashed signatures), and the
/// digest it signs.
pub fn default_key_details(k: &PublicKey) -> (&'static str, DigestAlg) {
    match k.kind() {
        KeyKind::EcdsaP256 => ("PKIX_ECDSA_P256_SHA_256", DigestAlg::Sha256),
        KeyKind::EcdsaP384 => ("PKIX_ECDSA_P384_SHA_384", DigestAlg::Sha384),
        KeyKind::Ed25519 => ("PKIX_ED25519_PH", DigestAlg::Sha512),
        KeyKind::Rsa { bits } if bits >= 4096 => {
            ("PKIX_RSA_PKCS1V15_4096_SHA256", DigestAlg::Sha256)
        }
        KeyKind::Rsa { bits } if bits >= 3072 => {
            ("PKIX_RSA_PKCS1V15_3072_SHA256", DigestAlg::Sha256)
        }
        KeyKind::Rsa { .. } => ("PKIX_RSA_PKCS1V15_2048_SHA256", DigestAlg::Sha256),
    }
}

/// hashedrekord 0.0.2 as logged by Rekor v2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashedRekordV002 {
    pub digest_alg: DigestAlg,
    pub digest: Vec<u8>,
    pub signature: Vec<u8>,
    pub verifier: Verifier,
    /// `PublicKeyDetails` name, e.g. `PKIX_ECDSA_P256_SHA_256`.
    pub key_details: String,
}

impl HashedRekordV002 {
    /// The canonical body (JCS of the protobuf JSON).
    pub fn canonical_body(&self) -> Vec<u8> {
        let (x509, pk) = match &self.verifier {
            Verifier::Certificate(d) => (
                Some(RawBytes {
                    raw_bytes: B64.encode(d),
                }),
                None,
            ),
            Verifier::PublicKey(d) => (
                None,
                Some(RawBytes {
                    raw_bytes: B64.encode(d),
                }),
            ),
        };
        let body = Body {
            api_version: "0.0.2".into(),
            kind: "hashedrekord".into(),
            spec: Spec {
                hashed_rekord_v002: Hr {
                    data: Data {
                        algorithm: hash_algorithm_name(self.digest_alg).into(),
                        digest: B64.encode(&self.digest),
                    },
                    signature: Sig {
                        content: B64.encode(&self.signature),
                        verifier: V {
                            key_details: self.key_details.clone(),
                            public_key: pk,
                            x509_certificate: x509,
                        },
                    },
                },
            },
        };
        serde_json::to_vec(&body).expect("serializes")
    }

    /// Reads a logged body.
    pub fn parse_body(body: &[u8]) -> Result<HashedRekordV002, EntryError> {
        let b: Body =
            serde_json::from_slice(body).map_err(|e| EntryError::MalformedJson(e.to_string()))?;
        let h = b.spec.hashed_rekord_v002;
        let digest_alg = parse_hash_algorithm(&h.data.algorithm)
            .ok_or_else(|| EntryError::UnsupportedHash(h.data.algorithm.clone()))?;
        let verifier = match (
            h.signature.verifier.x509_certificate,
            h.signature.verifier.public_key,
        ) {
            (Some(c), None) => {
                Verifier::Certificate(b64(&c.raw_bytes, "x509Certificate.rawBytes")?)
            }
            (None, Some(k)) => Verifier::PublicKey(b64(&k.raw_bytes, "publicKey.rawBytes")?),
            _ => {
                return Err(EntryError::MissingField(
                    "spec.hashedRekordV002.signature.verifier",
                ))
            }
        };
        Ok(HashedRekordV002 {
            digest_alg,
            digest: b64(&h.data.digest, "data.digest")?,
            signature: b64(&h.signature.content, "signature.content")?,
            verifier,
            key_details: h.signature.verifier.key_details,
        })
    }
}

#[derive(Serialize, Deserialize)]
struct RawBytes {
    #[serde(rename = "rawBytes")]
    raw_bytes: String,
}

#[derive(Serialize, Deserialize)]
struct V {
    #[serde(rename = "keyDetails")]
    key_details: String,
    #[serde(rename = "publicKey", skip_serializing_if = "Option::is_none", default)]
    public_key: Option<RawBytes>,
    #[serde(
        rename = "x509Certificate",
        skip_serializing_if = "Option::is_none",
        default
    )]
    x509_certificate: Option<RawBytes>,
}

#[derive(Serialize, Deserialize)]
struct Sig {
    content: String,
    verifier: V,
}

#[derive(Serialize, Deserialize)]
struct Data {
    algorithm: String,
    digest: String,
}

#[derive(Serialize, Deserialize)]
struct Hr {
    data: Data,
    signature: Sig,
}

#[derive(Serialize, Deserialize)]
struct Spec {
    #[serde(rename = "hashedRekordV002")]
    hashed_rekord_v002: Hr,
}

#[derive(Serialize, Deserialize)]
struct Body {
    #[serde(rename = "apiVersion")]
    api_version: String,
    kind: String,
    spec: Spec,
}

/// The digest algorithm and key kind a `PublicKeyDetails` name fixes, for the keys Rekor v2
/// entries may use here.
fn key_details_spec(details: &str) -> Option<(DigestAlg, KeyKind)> {
    Some(match details {
        "PKIX_ECDSA_P256_SHA_256" => (DigestAlg::Sha256, KeyKind::EcdsaP256),
        "PKIX_ECDSA_P384_SHA_384" => (DigestAlg::Sha384, KeyKind::EcdsaP384),
        "PKIX_RSA_PKCS1V15_2048_SHA256" => (DigestAlg::Sha256, KeyKind::Rsa { bits: 2048 }),
        "PKIX_RSA_PKCS1V15_3072_SHA256" => (DigestAlg::Sha256, KeyKind::Rsa { bits: 3072 }),
        "PKIX_RSA_PKCS1V15_4096_SHA256" => (DigestAlg::Sha256, KeyKind::Rsa { bits: 4096 }),
        _ => return None,
    })
}

/// What a client proposes to a Rekor v2 log (`POST /api/v2/log/entries`). Rekor v2 logs only
/// hashedrekord 0.0.2; a DSSE envelope is proposed as a hashedrekord over the hash of its PAE
/// ([`ProposedV2::dsse`]), as sigstore-go and sigstore-python do. `dsseRequestV002` is refused,
/// as rekor-tiles refuses it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProposedV2 {
    /// `hashedRekordRequestV002`: a signature over a digest.
    HashedRekord(HashedRekordV002),
}

#[derive(Deserialize)]
struct RawBytesIn {
    #[serde(rename = "rawBytes", alias = "raw_bytes")]
    raw_bytes: Option<String>,
}

#[derive(Deserialize)]
struct VerifierIn {
    #[serde(rename = "x509Certificate", alias = "x509_certificate")]
    x509_certificate: Option<RawBytesIn>,
    #[serde(rename = "publicKey", alias = "public_key")]
    public_key: Option<RawBytesIn>,
    #[serde(rename = "keyDetails", alias = "key_details")]
    key_details: Option<String>,
}

#[derive(Deserialize)]
struct SignatureIn {
    content: Option<String>,
    verifier: Option<VerifierIn>,
}

#[derive(Deserialize)]
struct HashedRekordIn {
    digest: Option<String>,
    signature: Option<SignatureIn>,
}

#[derive(Deserialize)]
struct RequestIn {
    #[serde(
        rename = "hashedRekordRequestV002",
        alias = "hashed_rekord_request_v002"
    )]
    hashed_rekord: Option<HashedRekordIn>,
    #[serde(rename = "dsseRequestV002", alias = "dsse_request_v002")]
    dsse: Option<serde::de::IgnoredAny>,
}

fn verifier_in(v: VerifierIn, field: &'static str) -> Result<(Verifier, String), EntryError> {
    let details = v.key_details.ok_or(EntryError::MissingField(field))?;
    let verifier = match (v.x509_certificate, v.public_key) {
        (Some(c), None) => Verifier::Certificate(b64(
            &c.raw_bytes.ok_or(EntryError::MissingField(field))?,
            field,
        )?),
        (None, Some(k)) => Verifier::PublicKey(b64(
            &k.raw_bytes.ok_or(EntryError::MissingField(field))?,
            field,
        )?),
        _ => return Err(EntryError::MissingField(field)),
    };
    Ok((verifier, details))
}

/// The verifier's key, checked against its key details; the digest algorithm they fix.
fn checked_key(v: &Verifier, details: &str) -> Result<(PublicKey, DigestAlg), EntryError> {
    let (key, _) = v.key().map_err(EntryError::BadKey)?;
    if matches!(key.kind(), KeyKind::Ed25519) {
        return Err(EntryError::BadKey(crate::keys::KeyError::NoPrehashSupport(
            "Ed25519 (Rekor v2 needs Ed25519ph, which this log does not support)",
        )));
    }
    let Some((alg, kind)) = key_details_spec(details) else {
        return Err(EntryError::UnsupportedHash(format!(
            "key details {details}"
        )));
    };
    let matches = match (kind, key.kind()) {
        (KeyKind::Rsa { bits: want }, KeyKind::Rsa { bits }) => want == bits,
        (a, b) => a == b,
    };
    if !matches {
        return Err(EntryError::BadKey(
            crate::keys::KeyError::UnsupportedAlgorithm(format!(
                "key details {details} do not describe a {} key",
                key.kind().name()
            )),
        ));
    }
    Ok((key, alg))
}

impl ProposedV2 {
    /// Parses the protobuf JSON of a `CreateEntryRequest`.
    pub fn parse(json: &[u8]) -> Result<ProposedV2, EntryError> {
        let r: RequestIn =
            serde_json::from_slice(json).map_err(|e| EntryError::MalformedJson(e.to_string()))?;
        match (r.hashed_rekord, r.dsse) {
            (Some(h), None) => {
                let digest = b64(
                    &h.digest
                        .ok_or(EntryError::MissingField("hashedRekordRequestV002.digest"))?,
                    "hashedRekordRequestV002.digest",
                )?;
                let sig = h.signature.ok_or(EntryError::MissingField(
                    "hashedRekordRequestV002.signature",
                ))?;
                let signature = b64(
                    &sig.content.ok_or(EntryError::MissingField(
                        "hashedRekordRequestV002.signature.content",
                    ))?,
                    "hashedRekordRequestV002.signature.content",
                )?;
                let (verifier, key_details) = verifier_in(
                    sig.verifier.ok_or(EntryError::MissingField(
                        "hashedRekordRequestV002.signature.verifier",
                    ))?,
                    "hashedRekordRequestV002.signature.verifier",
                )?;
                let digest_alg = key_details_spec(&key_details)
                    .map(|(a, _)| a)
                    .unwrap_or(DigestAlg::Sha256);
                Ok(ProposedV2::HashedRekord(HashedRekordV002 {
                    digest_alg,
                    digest,
                    signature,
                    verifier,
                    key_details,
                }))
            }
            (None, Some(_)) => Err(EntryError::OnlyHashedRekord("dsseRequestV002")),
            _ => Err(EntryError::MissingField("hashedRekordRequestV002")),
        }
    }

    /// The log's admission policy for Rekor v2: the key matches its key details, the digest has
    /// their length, the signature verifies; returns the hashedrekord 0.0.2 entry to log and its
    /// canonical body (no search keys: Rekor v2 has no search).
    pub fn admit(&self) -> Result<(HashedRekordV002, CanonicalEntry), EntryError> {
        let h = match self {
            ProposedV2::HashedRekord(h) => {
                let (key, alg) = checked_key(&h.verifier, &h.key_details)?;
                if h.digest.len() != alg.digest_len() {
                    return Err(EntryError::BadDigest("digest", alg.digest_len() * 2));
                }
                key.verify_prehashed(alg, &h.digest, &h.signature)
                    .map_err(|_| EntryError::BadSignature)?;
                HashedRekordV002 {
                    digest_alg: alg,
                    ..h.clone()
                }
            }
        };
        let body = h.canonical_body();
        Ok((
            h,
            CanonicalEntry {
                body,
                index_keys: Vec::new(),
            },
        ))
    }

    /// A DSSE envelope with one signature, proposed as hashedrekord 0.0.2 whose digest is the
    /// hash of the envelope's PAE (with the key details' hash) and whose signature is the
    /// envelope's.
    pub fn dsse(
        envelope: &crate::dsse::Envelope,
        verifier: Verifier,
        key_details: &str,
    ) -> Result<ProposedV2, EntryError> {
        let [sig] = envelope.signatures.as_slice() else {
            return Err(EntryError::BadEnvelope(
                "a DSSE envelope to log must have exactly one signature".into(),
            ));
        };
        let alg = key_details_spec(key_details)
            .map(|(a, _)| a)
            .ok_or_else(|| EntryError::UnsupportedHash(format!("key details {key_details}")))?;
        let payload = b64(&envelope.payload, "envelope.payload")?;
        let pae = crate::dsse::pae(&envelope.payload_type, &payload);
        Ok(ProposedV2::HashedRekord(HashedRekordV002 {
            digest_alg: alg,
            digest: alg.hash(&pae),
            signature: b64(&sig.sig, "envelope.signatures.sig")?,
            verifier,
            key_details: key_details.to_string(),
        }))
    }

    /// The request as a client sends it.
    pub fn to_json(&self) -> serde_json::Value {
        let verifier = |v: &Verifier, details: &str| match v {
            Verifier::Certificate(d) => {
                serde_json::json!({"x509Certificate": {"rawBytes": B64.encode(d)}, "keyDetails": details})
            }
            Verifier::PublicKey(d) => {
                serde_json::json!({"publicKey": {"rawBytes": B64.encode(d)}, "keyDetails": details})
            }
        };
        match self {
            ProposedV2::HashedRekord(h) => serde_json::json!({"hashedRekordRequestV002": {
                "digest": B64.encode(&h.digest),
                "signature": {"content": B64.encode(&h.signature), "verifier": verifier(&h.verifier, &h.key_details)}
            }}),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::P256Signer;
    use crate::rekor::entry::Proposed;

    #[test]
    fn requests_roundtrip_and_are_checked() {
        let k = P256Signer::generate_p256().unwrap();
        let digest = DigestAlg::Sha256.hash(b"artifact");
        let v = Verifier::PublicKey(k.public_key().spki_der().to_vec());
        let p = ProposedV2::HashedRekord(HashedRekordV002 {
            digest_alg: DigestAlg::Sha256,
            digest: digest.clone(),
            signature: k.sign(b"artifact"),
            verifier: v.clone(),
            key_details: "PKIX_ECDSA_P256_SHA_256".into(),
        });
        let back = ProposedV2::parse(&serde_json::to_vec(&p.to_json()).unwrap()).unwrap();
        assert_eq!(back, p);
        let (h, c) = p.admit().unwrap();
        assert_eq!(HashedRekordV002::parse_body(&c.body).unwrap(), h);
        let jcs: serde_json::Value = serde_json::from_slice(&c.body).unwrap();
        assert_eq!(c.body, serde_json_canonicalizer::to_vec(&jcs).unwrap());
        // Wrong key details, short digest, another signature.
        let mut bad = p.clone();
        let ProposedV2::HashedRekord(h) = &mut bad;
        h.key_details = "PKIX_ECDSA_P384_SHA_384".into();
        assert!(matches!(bad.admit(), Err(EntryError::BadKey(_))));
        let mut bad = p.clone();
        let ProposedV2::HashedRekord(h) = &mut bad;
        h.digest.pop();
        assert!(matches!(bad.admit(), Err(EntryError::BadDigest(..))));
        let mut bad = p;
        let ProposedV2::HashedRekord(h) = &mut bad;
        h.signature = k.sign(b"other");
        assert_eq!(bad.admit().unwrap_err(), EntryError::BadSignature);
        // A DSSE envelope is proposed as hashedrekord 0.0.2 over the PAE; a dsseRequestV002 is
        // refused as rekor-tiles refuses it.
        let payload = br#"{"_type":"https://in-toto.io/Statement/v1"}"#;
        let pae = crate::dsse::pae("application/vnd.in-toto+json", payload);
        let env =
            crate::dsse::Envelope::new("application/vnd.in-toto+json", payload, &k.sign(&pae));
        let d = ProposedV2::dsse(&env, v.clone(), "PKIX_ECDSA_P256_SHA_256").unwrap();
        let (h, _) = d.admit().unwrap();
        assert_eq!(h.digest, DigestAlg::Sha256.hash(&pae));
        // The same from what a client would send Rekor v1.
        let v1 = Proposed::DsseV001 {
            envelope: serde_json::to_string(&env).unwrap(),
            verifiers: vec![v.clone()],
        };
        assert_eq!(ProposedV2::from_v1(&v1).unwrap(), d);
        let v1 = Proposed::hashedrekord(
            digest.clone().try_into().unwrap(),
            k.sign(b"artifact"),
            v.clone(),
        );
        let (h, _) = ProposedV2::from_v1(&v1).unwrap().admit().unwrap();
        assert_eq!(
            (h.digest, h.key_details.as_str()),
            (digest.clone(), "PKIX_ECDSA_P256_SHA_256")
        );
        let req = serde_json::json!({"dsseRequestV002": {"envelope": env, "verifiers": []}});
        assert_eq!(
            ProposedV2::parse(&serde_json::to_vec(&req).unwrap()).unwrap_err(),
            EntryError::OnlyHashedRekord("dsseRequestV002")
        );
    }

    #[test]
    fn the_public_good_v2_body_is_rebuilt_byte_for_byte() {
        let b: crate::bundle::Bundle = serde_json::from_slice(&crate::testdata::sigstore(
            "staging-rekor-v2.txt.sigstore.json",
        ))
        .unwrap();
        let body = B64
            .decode(&b.verification_material.tlog_entries[0].canonicalized_body)
            .unwrap();
        let h = HashedRekordV002::parse_body(&body).unwrap();
        assert_eq!(h.canonical_body(), body);
    }
}
