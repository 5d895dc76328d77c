//! What every Rekor entry kind shares: why an entry is refused ([`EntryError`]), who signed it
//! ([`Verifier`]), the canonical entry a log stores ([`CanonicalEntry`]), and the limits. The
//! entry kinds ([`super::entry`], [`super::intoto`], [`super::v2`]) build on this module and
//! never on each other's internals.

use base64::{engine::general_purpose::STANDARD as B64, Engine};

use crate::keys::{pem_encode, pem_parse_first, KeyError, Pem, PublicKey};

/// Why a proposed entry or a logged body was refused. `code()` is the stable machine-readable name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EntryError {
    #[error("the request body is not valid JSON for a proposed entry: {0}")]
    MalformedJson(String),
    #[error("unsupported entry kind {0:?} (supported: hashedrekord, dsse, intoto)")]
    UnknownKind(String),
    #[error("unsupported apiVersion {version:?} for kind {kind} (supported here: {supported})")]
    UnknownVersion {
        kind: String,
        version: String,
        supported: &'static str,
    },
    #[error("missing or invalid field {0}")]
    MissingField(&'static str),
    #[error("unsupported hash algorithm {0:?} (only sha256 is accepted)")]
    UnsupportedHash(String),
    #[error("the {0} digest must be {1} lowercase hex characters")]
    BadDigest(&'static str, usize),
    #[error("field {0} is not valid base64")]
    BadBase64(&'static str),
    #[error("the public key or certificate cannot be used: {0}")]
    BadKey(#[source] KeyError),
    #[error("the signature does not verify with the given key")]
    BadSignature,
    #[error("the DSSE envelope is invalid: {0}")]
    BadEnvelope(String),
    #[error("invalid type, must be hashedrekord: Rekor v2 does not accept {0} (log a DSSE envelope as a hashedrekord over the hash of its PAE)")]
    OnlyHashedRekord(&'static str),
}

impl EntryError {
    pub fn code(&self) -> &'static str {
        match self {
            EntryError::MalformedJson(_) => "malformed_json",
            EntryError::UnknownKind(_) => "unknown_kind",
            EntryError::UnknownVersion { .. } => "unknown_api_version",
            EntryError::MissingField(_) => "missing_field",
            EntryError::UnsupportedHash(_) => "unsupported_hash_algorithm",
            EntryError::BadDigest(..) => "bad_digest",
            EntryError::BadBase64(_) => "bad_base64",
            EntryError::BadKey(_) => "bad_public_key",
            EntryError::BadSignature => "bad_signature",
            EntryError::BadEnvelope(_) => "bad_dsse_envelope",
            EntryError::OnlyHashedRekord(_) => "unknown_kind",
        }
    }
}

/// The key material an entry names: a certificate or a bare public key, as logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verifier {
    /// DER certificate.
    Certificate(Vec<u8>),
    /// DER SubjectPublicKeyInfo.
    PublicKey(Vec<u8>),
}

impl Verifier {
    /// From a PEM block labelled `CERTIFICATE` or `PUBLIC KEY`.
    pub fn from_pem(p: Pem) -> Result<Verifier, KeyError> {
        match p.label.as_str() {
            "CERTIFICATE" => Ok(Verifier::Certificate(p.der)),
            "PUBLIC KEY" => Ok(Verifier::PublicKey(p.der)),
            _ => Err(KeyError::WrongPemLabel {
                expected: "CERTIFICATE or PUBLIC KEY",
                found: p.label,
            }),
        }
    }

    /// From PEM text (the first block).
    pub fn from_pem_text(pem: &[u8]) -> Result<Verifier, KeyError> {
        let text = std::str::from_utf8(pem).map_err(|_| KeyError::BadPem("not UTF-8"))?;
        Verifier::from_pem(pem_parse_first(text)?)
    }

    /// The DER of the certificate or key.
    pub fn der(&self) -> &[u8] {
        match self {
            Verifier::Certificate(d) | Verifier::PublicKey(d) => d,
        }
    }

    /// Canonical PEM: Go's `pem.Encode` layout (64 columns, trailing newline).
    pub fn canonical_pem(&self) -> String {
        match self {
            Verifier::Certificate(d) => pem_encode("CERTIFICATE", d),
            Verifier::PublicKey(d) => pem_encode("PUBLIC KEY", d),
        }
    }

    /// The public key, and for certificates the lowercase e-mail SANs (for search keys).
    pub fn key(&self) -> Result<(PublicKey, Vec<String>), KeyError> {
        match self {
            Verifier::PublicKey(d) => Ok((PublicKey::from_spki_der(d)?, Vec::new())),
            Verifier::Certificate(d) => {
                let (_, cert) =
                    x509_parser::parse_x509_certificate(d).map_err(|_| KeyError::BadCertificate)?;
                let key = PublicKey::from_spki_der(cert.tbs_certificate.subject_pki.raw)?;
                let mut emails = Vec::new();
                if let Ok(Some(san)) = cert.subject_alternative_name() {
                    for n in &san.value.general_names {
                        if let x509_parser::extensions::GeneralName::RFC822Name(e) = n {
                            emails.push(e.to_ascii_lowercase());
                        }
                    }
                }
                Ok((key, emails))
            }
        }
    }
}

/// A verified entry ready to be logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalEntry {
    /// RFC 8785 JSON: the leaf data, returned base64-encoded as `body`.
    pub body: Vec<u8>,
    /// Search keys: `sha256:<hex>` artifact/payload hashes, `key:<hex sha256 of SPKI DER>`, and
    /// `email:<lowercase address>` for certificate e-mail SANs.
    pub index_keys: Vec<String>,
}

/// The most signatures (and verifiers) a DSSE entry may carry.
pub const MAX_DSSE_SIGNATURES: usize = 16;

pub(crate) fn b64(s: &str, name: &'static str) -> Result<Vec<u8>, EntryError> {
    B64.decode(s).map_err(|_| EntryError::BadBase64(name))
}
