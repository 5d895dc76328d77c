//! Rekor v2 (rekor-tiles) entry bodies: hashedrekord 0.0.2.
//!
//! Rekor v2 logs only hashedrekord 0.0.2; a DSSE envelope is logged as a hashedrekord whose digest
//! is the hash of its PAE and whose signature is the envelope's. Verifiers do not trust the logged
//! body: they rebuild it from the bundle ([`HashedRekordV002::canonical_body`]) and compare leaf
//! hashes, so the body must be byte-identical to rekor-tiles' (JCS of the protobuf JSON).

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use serde::{Deserialize, Serialize};

use super::entry::{b64, EntryError, Verifier};
use crate::keys::{DigestAlg, KeyKind, PublicKey};

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
