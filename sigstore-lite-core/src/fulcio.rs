//! The Fulcio certificate profile: Sigstore OIDs (1.3.6.1.4.1.57264.1.x) and a reader that pulls
//! identity, issuer and extensions out of a leaf certificate.

use std::collections::BTreeMap;

use x509_parser::extensions::{GeneralName, ParsedExtension};

use crate::keys::{KeyError, PublicKey};

/// The Sigstore OID arc.
pub const OID_ARC: &str = "1.3.6.1.4.1.57264.1";
/// Issuer, raw bytes (deprecated, still read by cosign and sigstore-python).
pub const OID_ISSUER_V1: &str = "1.3.6.1.4.1.57264.1.1";
/// otherName SAN type for username identities.
pub const OID_OTHERNAME_SAN: &str = "1.3.6.1.4.1.57264.1.7";
/// Issuer, DER UTF8String.
pub const OID_ISSUER_V2: &str = "1.3.6.1.4.1.57264.1.8";
/// Token subject, DER UTF8String.
pub const OID_TOKEN_SUBJECT: &str = "1.3.6.1.4.1.57264.1.24";
/// Extended key usage codeSigning.
pub const OID_EKU_CODE_SIGNING: &str = "1.3.6.1.5.5.7.3.3";

/// Fulcio's extension names (its config's `extension-templates` keys, pkg/certificate) and
/// their arc N in 1.3.6.1.4.1.57264.1.N.
pub const EXTENSIONS: [(&str, u32); 22] = [
    ("issuer", 1),
    ("github-workflow-trigger", 2),
    ("github-workflow-sha", 3),
    ("github-workflow-name", 4),
    ("github-workflow-repository", 5),
    ("github-workflow-ref", 6),
    ("issuer-v2", 8),
    ("build-signer-uri", 9),
    ("build-signer-digest", 10),
    ("runner-environment", 11),
    ("source-repository-uri", 12),
    ("source-repository-digest", 13),
    ("source-repository-ref", 14),
    ("source-repository-identifier", 15),
    ("source-repository-owner-uri", 16),
    ("source-repository-owner-identifier", 17),
    ("build-config-uri", 18),
    ("build-config-digest", 19),
    ("build-trigger", 20),
    ("run-invocation-uri", 21),
    ("source-repository-visibility-at-signing", 22),
    ("deployment-environment", 23),
];

/// The dotted OID of a Fulcio extension named by its name or its arc (`source-repository-uri`,
/// `12`, or `1.3.6.1.4.1.57264.1.12`).
pub fn extension_oid(name: &str) -> Option<String> {
    let arc = EXTENSIONS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, a)| *a)
        .or_else(|| name.parse().ok())
        .or_else(|| name.strip_prefix("1.3.6.1.4.1.57264.1.")?.parse().ok())?;
    (arc >= 1 && arc != 7 && arc < 100).then(|| format!("1.3.6.1.4.1.57264.1.{arc}"))
}

/// `.1.N` for N in 1..=6 holds raw bytes; 8 and up hold a DER UTF8String.
pub fn is_raw_oid(n: u32) -> bool {
    (1..=6).contains(&n)
}

/// A subject alternative name of a Fulcio leaf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum San {
    Email(String),
    Uri(String),
    /// otherName 1.3.6.1.4.1.57264.1.7 (`user!domain`).
    Username(String),
    Other(String),
}

impl San {
    /// The identity string as cosign compares it.
    pub fn value(&self) -> &str {
        match self {
            San::Email(s) | San::Uri(s) | San::Username(s) | San::Other(s) => s,
        }
    }
}

/// Why a certificate could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    #[error("the certificate cannot be parsed: {0}")]
    Parse(String),
    #[error("the certificate's Sigstore extension {oid} is malformed")]
    BadExtension { oid: String },
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// What a verifier needs from a Fulcio leaf.
#[derive(Debug, Clone)]
pub struct FulcioCert {
    pub sans: Vec<San>,
    /// SAN extension marked critical.
    pub san_critical: bool,
    /// From .1.8, else .1.1.
    pub issuer: Option<String>,
    /// Every Sigstore `.1.x` extension, decoded to text, by OID.
    pub sigstore_extensions: BTreeMap<String, String>,
    pub not_before: i64,
    pub not_after: i64,
    pub key: PublicKey,
    pub digital_signature: bool,
    pub key_usage_critical: bool,
    pub code_signing: bool,
    pub subject_empty: bool,
    /// The issuer's distinguished name, DER.
    pub issuer_dn: Vec<u8>,
    pub serial: Vec<u8>,
    pub subject_key_id: Option<Vec<u8>>,
    pub authority_key_id: Option<Vec<u8>>,
}

fn utf8_string(der: &[u8]) -> Option<String> {
    // tag 0x0C, short or long form length
    if der.first() != Some(&0x0c) || der.len() < 2 {
        return None;
    }
    let (len, off) = match der[1] {
        l if l < 0x80 => (l as usize, 2),
        0x81 if der.len() > 2 => (der[2] as usize, 3),
        0x82 if der.len() > 3 => (((der[2] as usize) << 8) | der[3] as usize, 4),
        _ => return None,
    };
    if der.len() != off + len {
        return None;
    }
    String::from_utf8(der[off..].to_vec()).ok()
}

fn other_name_value(raw: &[u8]) -> Option<String> {
    // [0] EXPLICIT UTF8String, with or without the explicit wrapper.
    if raw.first() == Some(&0xa0) && raw.len() > 2 {
        let off = if raw[1] < 0x80 {
            2
        } else {
            2 + (raw[1] & 0x7f) as usize
        };
        return utf8_string(raw.get(off..)?);
    }
    utf8_string(raw)
}

/// Reads a leaf certificate (DER).
pub fn read(der: &[u8]) -> Result<FulcioCert, CertError> {
    let (rest, cert) =
        x509_parser::parse_x509_certificate(der).map_err(|e| CertError::Parse(e.to_string()))?;
    if !rest.is_empty() {
        return Err(CertError::Parse("trailing bytes".into()));
    }
    let key = PublicKey::from_spki_der(cert.tbs_certificate.subject_pki.raw)?;
    let mut out = FulcioCert {
        sans: Vec::new(),
        san_critical: false,
        issuer: None,
        sigstore_extensions: BTreeMap::new(),
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        key,
        digital_signature: false,
        key_usage_critical: false,
        code_signing: false,
        subject_empty: cert.subject().iter().next().is_none(),
        issuer_dn: cert.issuer().as_raw().to_vec(),
        serial: cert.tbs_certificate.raw_serial().to_vec(),
        subject_key_id: None,
        authority_key_id: None,
    };
    for ext in cert.extensions() {
        let oid = ext.oid.to_id_string();
        match ext.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(san) => {
                out.san_critical = ext.critical;
                for n in &san.general_names {
                    out.sans.push(match n {
                        GeneralName::RFC822Name(e) => San::Email(e.to_string()),
                        GeneralName::URI(u) => San::Uri(u.to_string()),
                        GeneralName::OtherName(o, raw) if o.to_id_string() == OID_OTHERNAME_SAN => {
                            San::Username(other_name_value(raw).ok_or(CertError::BadExtension {
                                oid: OID_OTHERNAME_SAN.into(),
                            })?)
                        }
                        other => San::Other(other.to_string()),
                    });
                }
            }
            ParsedExtension::KeyUsage(ku) => {
                out.digital_signature = ku.digital_signature();
                out.key_usage_critical = ext.critical;
            }
            ParsedExtension::ExtendedKeyUsage(eku) => out.code_signing = eku.code_signing,
            ParsedExtension::SubjectKeyIdentifier(k) => out.subject_key_id = Some(k.0.to_vec()),
            ParsedExtension::AuthorityKeyIdentifier(a) => {
                out.authority_key_id = a.key_identifier.as_ref().map(|k| k.0.to_vec())
            }
            _ => {
                if let Some(n) = oid
                    .strip_prefix(OID_ARC)
                    .and_then(|s| s.strip_prefix('.'))
                    .and_then(|s| s.parse::<u32>().ok())
                {
                    let v = if is_raw_oid(n) {
                        String::from_utf8(ext.value.to_vec()).ok()
                    } else {
                        utf8_string(ext.value)
                    };
                    let v = v.ok_or(CertError::BadExtension { oid: oid.clone() })?;
                    out.sigstore_extensions.insert(oid, v);
                }
            }
        }
    }
    out.issuer = out
        .sigstore_extensions
        .get(OID_ISSUER_V2)
        .or_else(|| out.sigstore_extensions.get(OID_ISSUER_V1))
        .cloned();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::{engine::general_purpose::STANDARD as B64, Engine};

    #[test]
    fn reads_real_staging_leaf() {
        let b: serde_json::Value =
            serde_json::from_slice(&crate::testdata::sigstore("bundle_v3.txt.sigstore")).unwrap();
        let leaf = B64
            .decode(
                b["verificationMaterial"]["certificate"]["rawBytes"]
                    .as_str()
                    .unwrap(),
            )
            .unwrap();
        let c = read(&leaf).unwrap();
        assert_eq!(c.sans, vec![San::Email("william@yossarian.net".into())]);
        assert!(c.san_critical && c.subject_empty && c.digital_signature && c.code_signing);
        assert_eq!(c.issuer.as_deref(), Some("https://github.com/login/oauth"));
        assert_eq!(
            c.sigstore_extensions.get(OID_ISSUER_V1).map(String::as_str),
            Some("https://github.com/login/oauth")
        );
        assert_eq!(c.not_after - c.not_before, 600);
        assert!(c.authority_key_id.is_some());
    }
}
