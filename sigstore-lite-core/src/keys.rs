//! Public keys (from SPKI, PUBLIC KEY PEM or certificates), signature verification, PEM, and the
//! ECDSA P-256 signer the servers and the client use.
//!
//! Every signature made or checked goes through aws-lc-rs, including a signature over an already
//! computed digest ([`PublicKey::verify_prehashed`], what a hashedrekord entry is: the log only
//! ever sees the artifact's digest). Keys are parsed once, when a [`PublicKey`] is built, so that
//! repeated verifications with the same key (a log key, a CT log key) do not parse it again.
//!
//! Not supported: Ed25519ph (Ed25519 over a digest). aws-lc-rs does not expose it, so Ed25519
//! keys verify whole messages only.

use std::sync::Arc;

use aws_lc_rs::digest;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    self as sig, EcdsaKeyPair, KeyPair, ParsedPublicKey, UnparsedPublicKey, VerificationAlgorithm,
};
use base64::{engine::general_purpose::STANDARD as B64, Engine};
use x509_parser::prelude::FromDer;

const OID_EC: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_P384: &str = "1.3.132.0.34";
const OID_RSA: &str = "1.2.840.113549.1.1.1";
const OID_ED25519: &str = "1.3.101.112";

/// Why a key, PEM block or signature was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    #[error("not PEM: {0}")]
    BadPem(&'static str),
    #[error("expected a PEM block labelled {expected}, found {found}")]
    WrongPemLabel {
        expected: &'static str,
        found: String,
    },
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
    #[error("a {alg:?} digest must be {expected} bytes, not {found}")]
    BadDigestLength {
        alg: DigestAlg,
        expected: usize,
        found: usize,
    },
    #[error("{0} keys cannot verify a signature over a precomputed digest")]
    NoPrehashSupport(&'static str),
    #[error("cannot load the private key: {0}")]
    BadPrivateKey(&'static str),
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
        let b64: Vec<u8> = body_start[..end]
            .bytes()
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

/// The first PEM block of `s`.
pub fn pem_parse_first(s: &str) -> Result<Pem, KeyError> {
    Ok(pem_parse_all(s)?.swap_remove(0))
}

/// Encodes DER as PEM the way Go's `pem.Encode` does: 64-column lines and a trailing newline.
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = B64.encode(der);
    let mut s = String::with_capacity(b64.len() + b64.len() / 64 + 2 * label.len() + 40);
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
#[non_exhaustive]
pub enum KeyKind {
    EcdsaP256,
    EcdsaP384,
    Ed25519,
    Rsa { bits: usize },
}

impl KeyKind {
    /// A short name for messages.
    pub fn name(self) -> &'static str {
        match self {
            KeyKind::EcdsaP256 => "ECDSA P-256",
            KeyKind::EcdsaP384 => "ECDSA P-384",
            KeyKind::Ed25519 => "Ed25519",
            KeyKind::Rsa { .. } => "RSA",
        }
    }
}

/// Digest algorithms a prehashed signature may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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

    fn aws(self) -> &'static digest::Algorithm {
        match self {
            DigestAlg::Sha256 => &digest::SHA256,
            DigestAlg::Sha384 => &digest::SHA384,
            DigestAlg::Sha512 => &digest::SHA512,
        }
    }

    /// Hashes `data`.
    pub fn hash(self, data: &[u8]) -> Vec<u8> {
        digest::digest(self.aws(), data).as_ref().to_vec()
    }
}

/// SHA-256 of `data` (aws-lc-rs).
pub fn sha256(data: &[u8]) -> [u8; 32] {
    digest::digest(&digest::SHA256, data)
        .as_ref()
        .try_into()
        .expect("32 bytes")
}

/// A parsed public key, kept with its SPKI DER and parsed once for verification.
#[derive(Clone)]
pub struct PublicKey {
    kind: KeyKind,
    spki_der: Vec<u8>,
    /// The raw key: the EC point, the Ed25519 key, or the PKCS#1 RSAPublicKey DER.
    raw: Vec<u8>,
    /// Parsed for the key's default message algorithm (see [`PublicKey::verify_message`]).
    parsed: Arc<ParsedPublicKey>,
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.spki_der == other.spki_der
    }
}

impl Eq for PublicKey {}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicKey")
            .field("kind", &self.kind)
            .field("key_id", &hex::encode(self.key_id()))
            .finish()
    }
}

fn default_alg(kind: KeyKind) -> &'static dyn VerificationAlgorithm {
    match kind {
        KeyKind::EcdsaP256 => &sig::ECDSA_P256_SHA256_ASN1,
        KeyKind::EcdsaP384 => &sig::ECDSA_P384_SHA384_ASN1,
        KeyKind::Ed25519 => &sig::ED25519,
        KeyKind::Rsa { .. } => &sig::RSA_PKCS1_2048_8192_SHA256,
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
        let parsed =
            ParsedPublicKey::new(default_alg(kind), &raw).map_err(|_| KeyError::BadSpki)?;
        Ok(PublicKey {
            kind,
            spki_der: der.to_vec(),
            raw,
            parsed: Arc::new(parsed),
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
        let block = pem_parse_first(pem)?;
        if block.label != "PUBLIC KEY" {
            return Err(KeyError::WrongPemLabel {
                expected: "PUBLIC KEY",
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

    /// The raw key: the uncompressed EC point, the Ed25519 key, or the PKCS#1 RSAPublicKey DER.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// `PUBLIC KEY` PEM, 64-column lines.
    pub fn to_pem(&self) -> String {
        pem_encode("PUBLIC KEY", &self.spki_der)
    }

    /// SHA-256 of the SPKI DER: Rekor's log ID, a CT log ID, and (first 4 bytes) a note key hint.
    pub fn key_id(&self) -> [u8; 32] {
        sha256(&self.spki_der)
    }

    /// Verifies `sig` over `msg`: ECDSA P-256/SHA-256, P-384/SHA-384 (ASN.1 DER), Ed25519, or RSA
    /// PKCS#1 v1.5 with SHA-256.
    pub fn verify_message(&self, msg: &[u8], sig: &[u8]) -> Result<(), KeyError> {
        self.parsed
            .verify_sig(msg, sig)
            .map_err(|_| KeyError::BadSignature)
    }

    /// Verifies `sig` over `msg` the way sigstore's default verifier does for proofs of possession
    /// and bundle message signatures: SHA-256 whatever the ECDSA curve, RSA PKCS#1 v1.5 with
    /// SHA-256, or pure Ed25519.
    pub fn verify_message_sha256(&self, msg: &[u8], sig: &[u8]) -> Result<(), KeyError> {
        match self.kind {
            KeyKind::EcdsaP384 => UnparsedPublicKey::new(&sig::ECDSA_P384_SHA256_ASN1, &self.raw)
                .verify(msg, sig)
                .map_err(|_| KeyError::BadSignature),
            _ => self.verify_message(msg, sig),
        }
    }

    /// Verifies `sig` over an already computed `digest` (hashedrekord). Ed25519 cannot sign a
    /// digest here (that would be Ed25519ph, which aws-lc-rs does not offer) and is refused.
    pub fn verify_prehashed(
        &self,
        alg: DigestAlg,
        digest_value: &[u8],
        sig: &[u8],
    ) -> Result<(), KeyError> {
        if digest_value.len() != alg.digest_len() {
            return Err(KeyError::BadDigestLength {
                alg,
                expected: alg.digest_len(),
                found: digest_value.len(),
            });
        }
        let d = digest::Digest::import_less_safe(digest_value, alg.aws())
            .map_err(|_| KeyError::BadSignature)?;
        let valg: &'static dyn VerificationAlgorithm = match (self.kind, alg) {
            (KeyKind::Ed25519, _) => return Err(KeyError::NoPrehashSupport("Ed25519")),
            (KeyKind::EcdsaP256, DigestAlg::Sha256)
            | (KeyKind::EcdsaP384, DigestAlg::Sha384)
            | (KeyKind::Rsa { .. }, DigestAlg::Sha256) => {
                return self
                    .parsed
                    .verify_digest_sig(&d, sig)
                    .map_err(|_| KeyError::BadSignature)
            }
            (KeyKind::EcdsaP256, DigestAlg::Sha384) => &sig::ECDSA_P256_SHA384_ASN1,
            (KeyKind::EcdsaP256, DigestAlg::Sha512) => &sig::ECDSA_P256_SHA512_ASN1,
            (KeyKind::EcdsaP384, DigestAlg::Sha256) => &sig::ECDSA_P384_SHA256_ASN1,
            (KeyKind::EcdsaP384, DigestAlg::Sha512) => &sig::ECDSA_P384_SHA512_ASN1,
            (KeyKind::Rsa { .. }, DigestAlg::Sha384) => &sig::RSA_PKCS1_2048_8192_SHA384,
            (KeyKind::Rsa { .. }, DigestAlg::Sha512) => &sig::RSA_PKCS1_2048_8192_SHA512,
        };
        UnparsedPublicKey::new(valg, &self.raw)
            .verify_digest(&d, sig)
            .map_err(|_| KeyError::BadSignature)
    }
}

/// Why a backend could not sign: the key lives out of process (a PKCS#11 token, a KMS plugin)
/// and that part failed. In-process keys never fail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The backend cannot be reached or refused to sign (a removed token, a failed plugin).
    #[error("the signing key is unavailable: {0}")]
    Unavailable(String),
    /// The backend answered with something that is not a valid signature by this key.
    #[error("the signing key answered with a bad signature: {0}")]
    BadSignature(String),
}

/// A key that signs, wherever its private half lives: in process ([`P256Signer`],
/// [`Ed25519Signer`]), in a PKCS#11 token or behind a KMS plugin (the `sigstore-lite-signer`
/// crate). The public key, and so the log ID, C2SP key hash and SCT log ID, come from here.
///
/// The message scheme is fixed by the key's kind, as Sigstore's logs and CAs use them: ECDSA
/// P-256 signs SHA-256 of `msg` and P-384 SHA-384 (ASN.1 DER signatures), Ed25519 signs `msg`
/// itself.
pub trait Signer: Send + Sync + std::fmt::Debug {
    fn public_key(&self) -> &PublicKey;
    /// Signs `msg` under the key kind's scheme.
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, SignError>;
    /// Whether the key can sign now (a server's /healthz): in-process keys always can; a backend
    /// out of process checks its token or retries after a failure, so that it recovers.
    fn probe(&self) -> Result<(), SignError> {
        Ok(())
    }
}

impl KeyKind {
    /// The digest an ECDSA key of this kind signs under (`None` for Ed25519 and RSA).
    pub fn ecdsa_digest(self) -> Option<DigestAlg> {
        match self {
            KeyKind::EcdsaP256 => Some(DigestAlg::Sha256),
            KeyKind::EcdsaP384 => Some(DigestAlg::Sha384),
            _ => None,
        }
    }

    /// Byte length of one ECDSA scalar (r or s) for this curve.
    pub fn ecdsa_scalar_len(self) -> Option<usize> {
        match self {
            KeyKind::EcdsaP256 => Some(32),
            KeyKind::EcdsaP384 => Some(48),
            _ => None,
        }
    }
}

/// The DER SubjectPublicKeyInfo of an EC point (uncompressed, `04 || X || Y`) on a NIST curve,
/// or of a raw Ed25519 key: what a PKCS#11 token stores as `CKA_EC_POINT`.
pub fn spki_from_raw(kind: KeyKind, raw: &[u8]) -> Result<PublicKey, KeyError> {
    let prefix: &[u8] = match kind {
        KeyKind::EcdsaP256 => &P256_SPKI_PREFIX,
        KeyKind::EcdsaP384 => &P384_SPKI_PREFIX,
        KeyKind::Ed25519 => &ED25519_SPKI_PREFIX,
        KeyKind::Rsa { .. } => return Err(KeyError::UnsupportedAlgorithm("raw RSA".into())),
    };
    let mut spki = prefix.to_vec();
    spki.extend_from_slice(raw);
    PublicKey::from_spki_der(&spki)
}

/// An ECDSA signature as PKCS#11 and JOSE give it (`r || s`, each `scalar_len` bytes) in the
/// ASN.1 DER form Sigstore carries (`SEQUENCE { INTEGER r, INTEGER s }`).
pub fn ecdsa_fixed_to_der(fixed: &[u8], scalar_len: usize) -> Result<Vec<u8>, KeyError> {
    if fixed.len() != 2 * scalar_len {
        return Err(KeyError::BadSignature);
    }
    let int = |b: &[u8]| {
        let b = &b[b.iter().take_while(|&&x| x == 0).count().min(b.len() - 1)..];
        let mut v = vec![0x02];
        let pad = b[0] & 0x80 != 0;
        v.push((b.len() + pad as usize) as u8);
        if pad {
            v.push(0);
        }
        v.extend_from_slice(b);
        v
    };
    let (r, s) = (int(&fixed[..scalar_len]), int(&fixed[scalar_len..]));
    let body_len = r.len() + s.len();
    let mut out = vec![0x30];
    if body_len >= 0x80 {
        out.push(0x81);
    }
    out.push(body_len as u8);
    out.extend(r);
    out.extend(s);
    Ok(out)
}

/// DER SPKI prefix of an uncompressed P-384 point.
const P384_SPKI_PREFIX: [u8; 23] = [
    0x30, 0x76, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b,
    0x81, 0x04, 0x00, 0x22, 0x03, 0x62, 0x00,
];

impl Signer for P256Signer {
    fn public_key(&self) -> &PublicKey {
        &self.public
    }
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, SignError> {
        Ok(self.sign(msg))
    }
}

impl Signer for Ed25519Signer {
    fn public_key(&self) -> &PublicKey {
        &self.public
    }
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, SignError> {
        Ok(self.sign(msg))
    }
}

/// An ECDSA P-256 signing key (SHA-256, ASN.1 DER signatures), loaded from or saved as PKCS#8.
pub struct P256Signer {
    pair: EcdsaKeyPair,
    pkcs8: Vec<u8>,
    public: PublicKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for P256Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("P256Signer")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// DER SPKI prefix of an uncompressed P-256 point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

impl P256Signer {
    /// A fresh random key.
    pub fn generate_p256() -> Result<Self, KeyError> {
        let pair = EcdsaKeyPair::generate(&sig::ECDSA_P256_SHA256_ASN1_SIGNING)
            .map_err(|_| KeyError::BadPrivateKey("key generation failed"))?;
        let doc = pair
            .to_pkcs8v1()
            .map_err(|_| KeyError::BadPrivateKey("cannot encode the key as PKCS#8"))?;
        Self::from_pkcs8_der(doc.as_ref())
    }

    /// Loads a PKCS#8 DER P-256 key.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        let pair = EcdsaKeyPair::from_pkcs8(&sig::ECDSA_P256_SHA256_ASN1_SIGNING, der)
            .map_err(|_| KeyError::BadPrivateKey("not a PKCS#8 ECDSA P-256 key"))?;
        let mut spki = P256_SPKI_PREFIX.to_vec();
        spki.extend_from_slice(pair.public_key().as_ref());
        let public = PublicKey::from_spki_der(&spki)?;
        Ok(P256Signer {
            pair,
            pkcs8: der.to_vec(),
            public,
            rng: SystemRandom::new(),
        })
    }

    /// Loads a `PRIVATE KEY` (PKCS#8) PEM.
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, KeyError> {
        let block = pem_parse_first(pem)?;
        if block.label != "PRIVATE KEY" {
            return Err(KeyError::WrongPemLabel {
                expected: "PRIVATE KEY",
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

    /// ECDSA P-256 over an already computed SHA-256 digest, ASN.1 DER.
    pub fn sign_digest(&self, sha256_digest: &[u8; 32]) -> Vec<u8> {
        let d = digest::Digest::import_less_safe(sha256_digest, &digest::SHA256)
            .expect("32 bytes is a SHA-256 digest");
        self.pair
            .sign_digest(&d)
            .expect("ECDSA signing with a valid key does not fail")
            .as_ref()
            .to_vec()
    }
}

/// An Ed25519 signing key (PKCS#8), as C2SP notes and Rekor v2 checkpoints use.
pub struct Ed25519Signer {
    pair: sig::Ed25519KeyPair,
    pkcs8: Vec<u8>,
    public: PublicKey,
}

impl std::fmt::Debug for Ed25519Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ed25519Signer")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// DER SPKI prefix of an Ed25519 key.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

impl Ed25519Signer {
    /// A fresh random key.
    pub fn generate() -> Result<Self, KeyError> {
        let doc = sig::Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map_err(|_| KeyError::BadPrivateKey("key generation failed"))?;
        Self::from_pkcs8_der(doc.as_ref())
    }

    /// Loads a PKCS#8 DER Ed25519 key.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        let pair = sig::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
            .map_err(|_| KeyError::BadPrivateKey("not a PKCS#8 Ed25519 key"))?;
        let mut spki = ED25519_SPKI_PREFIX.to_vec();
        spki.extend_from_slice(pair.public_key().as_ref());
        Ok(Ed25519Signer {
            public: PublicKey::from_spki_der(&spki)?,
            pair,
            pkcs8: der.to_vec(),
        })
    }

    /// Loads a `PRIVATE KEY` (PKCS#8) PEM.
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, KeyError> {
        let block = pem_parse_first(pem)?;
        if block.label != "PRIVATE KEY" {
            return Err(KeyError::WrongPemLabel {
                expected: "PRIVATE KEY",
                found: block.label,
            });
        }
        Self::from_pkcs8_der(&block.der)
    }

    /// `PRIVATE KEY` PEM (PKCS#8).
    pub fn to_pkcs8_pem(&self) -> String {
        pem_encode("PRIVATE KEY", &self.pkcs8)
    }

    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// Pure Ed25519 over `msg`.
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        self.pair.sign(msg).as_ref().to_vec()
    }
}

/// Fills `buf` with random bytes from the system generator.
pub fn random_bytes(buf: &mut [u8]) {
    aws_lc_rs::rand::fill(buf).expect("the system random generator works");
}

/// Signature algorithms a certificate chain may use.
static ALGS: &[&dyn rustls_pki_types::SignatureVerificationAlgorithm] = &[
    webpki::aws_lc_rs::ECDSA_P256_SHA256,
    webpki::aws_lc_rs::ECDSA_P256_SHA384,
    webpki::aws_lc_rs::ECDSA_P384_SHA256,
    webpki::aws_lc_rs::ECDSA_P384_SHA384,
    webpki::aws_lc_rs::ED25519,
    webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA256,
    webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA384,
    webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA512,
];

/// The signature algorithms certificate chains may use (rustls-webpki on aws-lc-rs).
pub(crate) fn cert_algs() -> &'static [&'static dyn rustls_pki_types::SignatureVerificationAlgorithm]
{
    ALGS
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
    fn fixed_ecdsa_signatures_and_raw_points_become_what_sigstore_carries() {
        let rng = SystemRandom::new();
        for (fixed_alg, kind, n) in [
            (
                &sig::ECDSA_P256_SHA256_FIXED_SIGNING,
                KeyKind::EcdsaP256,
                32,
            ),
            (
                &sig::ECDSA_P384_SHA384_FIXED_SIGNING,
                KeyKind::EcdsaP384,
                48,
            ),
        ] {
            let pair = EcdsaKeyPair::generate(fixed_alg).unwrap();
            let public = spki_from_raw(kind, pair.public_key().as_ref()).unwrap();
            assert_eq!(public.kind(), kind);
            // Many signatures, so that high bits and leading zeros of r and s both occur.
            for i in 0..64u8 {
                let msg = [i; 40];
                let fixed = pair.sign(&rng, &msg).unwrap();
                let der = ecdsa_fixed_to_der(fixed.as_ref(), n).unwrap();
                public.verify_message(&msg, &der).unwrap();
            }
            assert_eq!(ecdsa_fixed_to_der(&[1; 10], n), Err(KeyError::BadSignature));
        }
        let ed = Ed25519Signer::generate().unwrap();
        let again = spki_from_raw(KeyKind::Ed25519, ed.public_key().raw()).unwrap();
        assert_eq!(&again, ed.public_key());
        let dynamic: &dyn Signer = &ed;
        again
            .verify_message(b"m", &dynamic.try_sign(b"m").unwrap())
            .unwrap();
    }

    #[test]
    fn signer_roundtrip_and_prehash() {
        let s = P256Signer::generate_p256().unwrap();
        let again = P256Signer::from_pkcs8_pem(&s.to_pkcs8_pem()).unwrap();
        assert_eq!(again.public_key(), s.public_key());
        let pk = PublicKey::from_pem(&s.public_key().to_pem()).unwrap();
        let msg = b"hello";
        let sig = s.sign(msg);
        pk.verify_message(msg, &sig).unwrap();
        assert!(pk.verify_message(b"hellO", &sig).is_err());
        let digest = sha256(msg);
        pk.verify_prehashed(DigestAlg::Sha256, &digest, &sig)
            .unwrap();
        let mut d2 = digest;
        d2[0] ^= 1;
        assert_eq!(
            pk.verify_prehashed(DigestAlg::Sha256, &d2, &sig),
            Err(KeyError::BadSignature)
        );
        assert!(matches!(
            pk.verify_prehashed(DigestAlg::Sha384, &digest, &sig),
            Err(KeyError::BadDigestLength { .. })
        ));
        // Signing a digest gives a signature over the message.
        let sd = s.sign_digest(&digest);
        pk.verify_message(msg, &sd).unwrap();
        // A P-256 signature over a SHA-384 digest: ECDSA uses its leftmost 256 bits.
        let d384 = DigestAlg::Sha384.hash(msg);
        let sig384 = s.sign_digest(&d384[..32].try_into().unwrap());
        pk.verify_prehashed(DigestAlg::Sha384, &d384, &sig384)
            .unwrap();
    }
}
