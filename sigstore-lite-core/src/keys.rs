//! Public keys (from SPKI, PUBLIC KEY PEM or certificates), signature verification, PEM, and the
//! ECDSA P-256 signer the servers use.
//!
//! Verification over a whole message goes through ring. ring has no API to verify a signature over
//! an already computed digest, which hashedrekord entries need (the log only ever sees the
//! artifact's SHA-256), so [`PublicKey::verify_prehashed`] uses RustCrypto's `p256`/`p384`/`rsa`
//! verifiers; nothing else in the tree uses them.

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use ring::rand::SystemRandom;
use ring::signature::{self as rsig, EcdsaKeyPair, KeyPair, UnparsedPublicKey};
use sha2::Digest;
use x509_parser::prelude::FromDer;

const OID_EC: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_P384: &str = "1.3.132.0.34";
const OID_RSA: &str = "1.2.840.113549.1.1.1";
const OID_ED25519: &str = "1.3.101.112";

/// Why a key, PEM block or signature was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("not PEM: {0}")]
    BadPem(&'static str),
    #[error("expected a PEM block labelled {expected}, found {found}")]
    WrongPemLabel { expected: String, found: String },
    #[error("the public key is not valid DER SubjectPublicKeyInfo")]
    BadSpki,
    #[error("the certificate cannot be parsed")]
    BadCertificate,
    #[error("unsupported public key algorithm {0}")]
    UnsupportedAlgorithm(String),
    #[error("RSA key of {bits} bits is too weak (at least 2048 required)")]
    WeakRsaKey { bits: usize },
    #[error("the signature does not verify")]
    BadSignature,
    #[error("unsupported digest algorithm {0}")]
    UnsupportedDigest(String),
    #[error("cannot load the private key: {0}")]
    BadPrivateKey(String),
}

/// One PEM block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pem {
    pub label: String,
    pub der: Vec<u8>,
}

/// Parses every PEM block in `s`, in order.
pub fn pem_parse_all(s: &str) -> Result<Vec<Pem>, KeyError> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + 11..];
        let label_end = after
            .find("-----")
            .ok_or(KeyError::BadPem("unterminated BEGIN line"))?;
        let label = &after[..label_end];
        let body_start = &after[label_end + 5..];
        let end_marker = format!("-----END {label}-----");
        let end = body_start
            .find(&end_marker)
            .ok_or(KeyError::BadPem("missing END line"))?;
        let b64: String = body_start[..end]
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        let der = B64
            .decode(b64)
            .map_err(|_| KeyError::BadPem("body is not base64"))?;
        out.push(Pem {
            label: label.to_string(),
            der,
        });
        rest = &body_start[end + end_marker.len()..];
    }
    if out.is_empty() {
        return Err(KeyError::BadPem("no PEM block found"));
    }
    Ok(out)
}

/// Encodes DER as PEM the way Go's `pem.Encode` does: 64-column lines and a trailing newline.
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = B64.encode(der);
    let mut s = String::with_capacity(b64.len() + b64.len() / 64 + 64);
    s.push_str("-----BEGIN ");
    s.push_str(label);
    s.push_str("-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        s.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        s.push('\n');
    }
    s.push_str("-----END ");
    s.push_str(label);
    s.push_str("-----\n");
    s
}

/// Key types the log and CA accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    EcdsaP256,
    EcdsaP384,
    Ed25519,
    Rsa { bits: usize },
}

/// A parsed public key, kept with its SPKI DER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    kind: KeyKind,
    spki_der: Vec<u8>,
    /// The raw key: the EC point, the Ed25519 key, or the PKCS#1 RSAPublicKey DER.
    raw: Vec<u8>,
}

/// Digest algorithms a prehashed signature may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestAlg {
    Sha256,
    Sha384,
    Sha512,
}

impl DigestAlg {
    pub fn digest_len(self) -> usize {
        match self {
            DigestAlg::Sha256 => 32,
            DigestAlg::Sha384 => 48,
            DigestAlg::Sha512 => 64,
        }
    }
}

impl PublicKey {
    /// Parses a DER SubjectPublicKeyInfo. RSA keys under 2048 bits are refused.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        let (rest, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(der)
            .map_err(|_| KeyError::BadSpki)?;
        if !rest.is_empty() {
            return Err(KeyError::BadSpki);
        }
        let alg = spki.algorithm.algorithm.to_id_string();
        let raw = spki.subject_public_key.data.to_vec();
        let kind = match alg.as_str() {
            OID_EC => {
                let curve = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.as_oid().ok())
                    .map(|o| o.to_id_string())
                    .ok_or(KeyError::BadSpki)?;
                match curve.as_str() {
                    OID_P256 if raw.len() == 65 && raw[0] == 4 => KeyKind::EcdsaP256,
                    OID_P384 if raw.len() == 97 && raw[0] == 4 => KeyKind::EcdsaP384,
                    OID_P256 | OID_P384 => return Err(KeyError::BadSpki),
                    other => {
                        return Err(KeyError::UnsupportedAlgorithm(format!("EC curve {other}")))
                    }
                }
            }
            OID_ED25519 if raw.len() == 32 => KeyKind::Ed25519,
            OID_RSA => {
                let parsed = spki.parsed().map_err(|_| KeyError::BadSpki)?;
                let x509_parser::public_key::PublicKey::RSA(rsa) = parsed else {
                    return Err(KeyError::BadSpki);
                };
                let bits = rsa.key_size();
                if bits < 2048 {
                    return Err(KeyError::WeakRsaKey { bits });
                }
                KeyKind::Rsa { bits }
            }
            other => return Err(KeyError::UnsupportedAlgorithm(other.to_string())),
        };
        Ok(PublicKey {
            kind,
            spki_der: der.to_vec(),
            raw,
        })
    }

    /// The subject key of a DER certificate.
    pub fn from_certificate_der(der: &[u8]) -> Result<Self, KeyError> {
        let (_, cert) =
            x509_parser::parse_x509_certificate(der).map_err(|_| KeyError::BadCertificate)?;
        Self::from_spki_der(cert.tbs_certificate.subject_pki.raw)
    }

    /// Parses a `PUBLIC KEY` PEM.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let block = pem_parse_all(pem)?.remove(0);
        if block.label != "PUBLIC KEY" {
            return Err(KeyError::WrongPemLabel {
                expected: "PUBLIC KEY".into(),
                found: block.label,
            });
        }
        Self::from_spki_der(&block.der)
    }

    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// `PUBLIC KEY` PEM, 64-column lines.
    pub fn to_pem(&self) -> String {
        pem_encode("PUBLIC KEY", &self.spki_der)
    }

    /// SHA-256 of the SPKI DER: Rekor's log ID, a CT log ID, and (first 4 bytes) a note key hint.
    pub fn key_id(&self) -> [u8; 32] {
        sha2::Sha256::digest(&self.spki_der).into()
    }

    /// Verifies `sig` over `msg`: ECDSA P-256/SHA-256, P-384/SHA-384 (ASN.1 DER), Ed25519, or RSA
    /// PKCS#1 v1.5 with SHA-256.
    pub fn verify_message(&self, msg: &[u8], sig: &[u8]) -> Result<(), KeyError> {
        let alg: &dyn rsig::VerificationAlgorithm = match self.kind {
            KeyKind::EcdsaP256 => &rsig::ECDSA_P256_SHA256_ASN1,
            KeyKind::EcdsaP384 => &rsig::ECDSA_P384_SHA384_ASN1,
            KeyKind::Ed25519 => &rsig::ED25519,
            KeyKind::Rsa { .. } => &rsig::RSA_PKCS1_2048_8192_SHA256,
        };
        UnparsedPublicKey::new(alg, &self.raw)
            .verify(msg, sig)
            .map_err(|_| KeyError::BadSignature)
    }

    /// Verifies `sig` over `msg` the way sigstore's default verifier does for proofs of possession:
    /// SHA-256 whatever the ECDSA curve, RSA PKCS#1 v1.5 with SHA-256, or pure Ed25519.
    pub fn verify_message_sha256(&self, msg: &[u8], sig: &[u8]) -> Result<(), KeyError> {
        let alg: &dyn rsig::VerificationAlgorithm = match self.kind {
            KeyKind::EcdsaP256 => &rsig::ECDSA_P256_SHA256_ASN1,
            KeyKind::EcdsaP384 => &rsig::ECDSA_P384_SHA256_ASN1,
            KeyKind::Ed25519 => &rsig::ED25519,
            KeyKind::Rsa { .. } => &rsig::RSA_PKCS1_2048_8192_SHA256,
        };
        UnparsedPublicKey::new(alg, &self.raw)
            .verify(msg, sig)
            .map_err(|_| KeyError::BadSignature)
    }

    /// The raw key: the uncompressed EC point, the Ed25519 key, or the PKCS#1 RSAPublicKey DER.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// Verifies `sig` over an already computed `digest` (hashedrekord). Ed25519 cannot sign a
    /// digest (that would be Ed25519ph, which this project does not implement) and is refused.
    pub fn verify_prehashed(
        &self,
        alg: DigestAlg,
        digest: &[u8],
        sig: &[u8],
    ) -> Result<(), KeyError> {
        use p256::ecdsa::signature::hazmat::PrehashVerifier;
        if digest.len() != alg.digest_len() {
            return Err(KeyError::BadSignature);
        }
        match self.kind {
            KeyKind::EcdsaP256 => {
                let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&self.raw)
                    .map_err(|_| KeyError::BadSpki)?;
                let s =
                    p256::ecdsa::Signature::from_der(sig).map_err(|_| KeyError::BadSignature)?;
                vk.verify_prehash(digest, &s)
                    .map_err(|_| KeyError::BadSignature)
            }
            KeyKind::EcdsaP384 => {
                let vk = p384::ecdsa::VerifyingKey::from_sec1_bytes(&self.raw)
                    .map_err(|_| KeyError::BadSpki)?;
                let s =
                    p384::ecdsa::Signature::from_der(sig).map_err(|_| KeyError::BadSignature)?;
                vk.verify_prehash(digest, &s)
                    .map_err(|_| KeyError::BadSignature)
            }
            KeyKind::Rsa { .. } => {
                use rsa::pkcs1::DecodeRsaPublicKey;
                let key =
                    rsa::RsaPublicKey::from_pkcs1_der(&self.raw).map_err(|_| KeyError::BadSpki)?;
                let scheme = match alg {
                    DigestAlg::Sha256 => rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
                    DigestAlg::Sha384 => rsa::Pkcs1v15Sign::new::<sha2::Sha384>(),
                    DigestAlg::Sha512 => rsa::Pkcs1v15Sign::new::<sha2::Sha512>(),
                };
                key.verify(scheme, digest, sig)
                    .map_err(|_| KeyError::BadSignature)
            }
            KeyKind::Ed25519 => Err(KeyError::UnsupportedAlgorithm(
                "Ed25519 over a digest (Ed25519ph)".into(),
            )),
        }
    }
}

/// An ECDSA P-256 signing key (SHA-256, ASN.1 DER signatures), loaded from or saved as PKCS#8.
pub struct Signer {
    pair: EcdsaKeyPair,
    pkcs8: Vec<u8>,
    public: PublicKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// DER SPKI prefix of an uncompressed P-256 point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

impl Signer {
    /// A fresh random key.
    pub fn generate_p256() -> Result<Self, KeyError> {
        let rng = SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(&rsig::ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
            .map_err(|_| KeyError::BadPrivateKey("key generation failed".into()))?;
        Self::from_pkcs8_der(doc.as_ref())
    }

    /// Loads a PKCS#8 DER P-256 key.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&rsig::ECDSA_P256_SHA256_ASN1_SIGNING, der, &rng)
            .map_err(|e| KeyError::BadPrivateKey(format!("not a PKCS#8 ECDSA P-256 key ({e})")))?;
        let mut spki = P256_SPKI_PREFIX.to_vec();
        spki.extend_from_slice(pair.public_key().as_ref());
        let public = PublicKey::from_spki_der(&spki)?;
        Ok(Signer {
            pair,
            pkcs8: der.to_vec(),
            public,
            rng,
        })
    }

    /// Loads a `PRIVATE KEY` (PKCS#8) PEM.
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, KeyError> {
        let block = pem_parse_all(pem)?.remove(0);
        if block.label != "PRIVATE KEY" {
            return Err(KeyError::WrongPemLabel {
                expected: "PRIVATE KEY".into(),
                found: block.label,
            });
        }
        Self::from_pkcs8_der(&block.der)
    }

    /// `PRIVATE KEY` PEM (PKCS#8).
    pub fn to_pkcs8_pem(&self) -> String {
        pem_encode("PRIVATE KEY", &self.pkcs8)
    }

    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// ECDSA P-256 / SHA-256 over `msg`, ASN.1 DER.
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        self.pair
            .sign(&self.rng, msg)
            .expect("ECDSA signing with a valid key does not fail")
            .as_ref()
            .to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_roundtrip_and_64_columns() {
        let der: Vec<u8> = (0..=255u8).collect();
        let pem = pem_encode("CERTIFICATE", &der);
        assert!(pem.lines().all(|l| l.len() <= 64));
        assert!(pem.ends_with("-----END CERTIFICATE-----\n"));
        let back = pem_parse_all(&pem).unwrap();
        assert_eq!(
            back,
            vec![Pem {
                label: "CERTIFICATE".into(),
                der
            }]
        );
        assert!(pem_parse_all("nothing").is_err());
    }

    #[test]
    fn signer_roundtrip_and_prehash() {
        let s = Signer::generate_p256().unwrap();
        let again = Signer::from_pkcs8_pem(&s.to_pkcs8_pem()).unwrap();
        assert_eq!(again.public_key(), s.public_key());
        let pk = PublicKey::from_pem(&s.public_key().to_pem()).unwrap();
        let msg = b"hello";
        let sig = s.sign(msg);
        pk.verify_message(msg, &sig).unwrap();
        assert!(pk.verify_message(b"hellO", &sig).is_err());
        let digest = sha2::Sha256::digest(msg);
        pk.verify_prehashed(DigestAlg::Sha256, &digest, &sig)
            .unwrap();
        let mut d2 = digest;
        d2[0] ^= 1;
        assert_eq!(
            pk.verify_prehashed(DigestAlg::Sha256, &d2, &sig),
            Err(KeyError::BadSignature)
        );
    }
}
