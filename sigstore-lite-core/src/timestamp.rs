//! RFC 3161 timestamps as Sigstore uses them: what is timestamped (the raw signature bytes), the
//! request a client sends, the ESS signing-certificate attribute, and the verification of a
//! `TimeStampResp` against the timestamp authorities of a trusted root.
//!
//! Verification (as sigstore-go and timestamp-authority do): the status is granted; the token is
//! CMS SignedData over a TSTInfo whose imprint is the hash of what was timestamped; the signer's
//! signed attributes carry the TSTInfo's digest and its content type, and an ESSCertIDv2 naming
//! the signing certificate; the signature over the signed attributes verifies with the key of a
//! trusted TSA leaf (equal to any certificate the token embeds), whose only extended key usage is
//! timeStamping, marked critical, and which chains to that TSA's root at the token's genTime;
//! genTime lies in the TSA's validity window. ASN.1 is encoded and decoded by the RustCrypto
//! `der`, `cms` and `x509-tsp` crates.

use der::asn1::{Int, OctetString, SetOfVec};
use der::oid::ObjectIdentifier;
use der::{Any, Decode, Encode, Sequence};
use rustls_pki_types::{CertificateDer, UnixTime};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_tsp::{MessageImprint, TimeStampReq, TimeStampResp, TspVersion, TstInfo};

use crate::keys::{DigestAlg, PublicKey};

/// Sigstore's TSA policy.
pub const SIGSTORE_TSA_POLICY: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.2");
pub const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
pub const ID_CT_TSTINFO: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
pub const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
pub const ID_MESSAGE_DIGEST: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
pub const ID_SIGNING_TIME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");
pub const ID_SIGNING_CERTIFICATE_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");
pub const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
pub const ID_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
pub const ID_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
pub const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
pub const ECDSA_WITH_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
pub const ECDSA_WITH_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.4");
pub const SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
pub const SHA384_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
pub const SHA512_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
pub const ID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
/// Extended key usage timeStamping.
pub const ID_KP_TIME_STAMPING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");

/// `IssuerSerial ::= SEQUENCE { issuer GeneralNames, serialNumber CertificateSerialNumber }`
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct IssuerSerial {
    pub issuer: Vec<GeneralName>,
    pub serial_number: SerialNumber,
}

/// `ESSCertIDv2 ::= SEQUENCE { hashAlgorithm AlgorithmIdentifier DEFAULT {id-sha256},
/// certHash OCTET STRING, issuerSerial IssuerSerial OPTIONAL }` (RFC 5816). `None` is the
/// default, SHA-256, which DER omits.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct EssCertIdV2 {
    #[asn1(optional = "true")]
    pub hash_algorithm: Option<AlgorithmIdentifierOwned>,
    pub cert_hash: OctetString,
    #[asn1(optional = "true")]
    pub issuer_serial: Option<IssuerSerial>,
}

/// `SigningCertificateV2 ::= SEQUENCE { certs SEQUENCE OF ESSCertIDv2, policies SEQUENCE OF
/// PolicyInformation OPTIONAL }`
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct SigningCertificateV2 {
    pub certs: Vec<EssCertIdV2>,
    #[asn1(optional = "true")]
    pub policies: Option<Vec<Any>>,
}

/// The digest algorithm an OID names.
pub fn digest_alg(oid: &ObjectIdentifier) -> Option<DigestAlg> {
    match *oid {
        ID_SHA256 => Some(DigestAlg::Sha256),
        ID_SHA384 => Some(DigestAlg::Sha384),
        ID_SHA512 => Some(DigestAlg::Sha512),
        _ => None,
    }
}

/// The OID of a digest algorithm.
pub fn digest_oid(a: DigestAlg) -> ObjectIdentifier {
    match a {
        DigestAlg::Sha256 => ID_SHA256,
        DigestAlg::Sha384 => ID_SHA384,
        DigestAlg::Sha512 => ID_SHA512,
    }
}

/// A non-negative DER INTEGER (minimal two's complement: no leading zero byte, unless the next
/// byte's high bit is set).
pub fn int_from_u64(n: u64) -> Int {
    let b = n.to_be_bytes();
    let start = b.iter().position(|x| *x != 0).unwrap_or(7);
    let mut v = Vec::with_capacity(9);
    if b[start] & 0x80 != 0 {
        v.push(0);
    }
    v.extend_from_slice(&b[start..]);
    Int::new(&v).expect("a minimal integer")
}

/// A DER `TimeStampReq` for `data` (hashed with SHA-256), as a client sends it.
pub fn request(data: &[u8], nonce: Option<u64>, cert_req: bool) -> Vec<u8> {
    TimeStampReq {
        version: TspVersion::V1,
        message_imprint: MessageImprint {
            hash_algorithm: AlgorithmIdentifierOwned {
                oid: ID_SHA256,
                parameters: Some(Any::null()),
            },
            hashed_message: OctetString::new(DigestAlg::Sha256.hash(data))
                .expect("a digest fits an OCTET STRING"),
        },
        req_policy: None,
        nonce: nonce.map(int_from_u64),
        cert_req,
        extensions: None,
    }
    .to_der()
    .expect("a TimeStampReq encodes")
}

/// Why a timestamp was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimestampError {
    #[error("it is not a DER TimeStampResp: {0}")]
    Malformed(String),
    #[error("the timestamp authority refused the request (status {0})")]
    NotGranted(u8),
    #[error("the token is not CMS SignedData over a TSTInfo")]
    NotTstInfo,
    #[error("its imprint is not the hash of the signature")]
    ImprintMismatch,
    #[error("its nonce is not the one sent")]
    NonceMismatch,
    #[error("it uses an unsupported digest algorithm")]
    UnsupportedDigest,
    #[error("its signed attributes do not match the TSTInfo ({0})")]
    BadSignedAttributes(&'static str),
    #[error("no timestamp authority in the trusted root issued it at {0}")]
    UnknownAuthority(i64),
    #[error("the certificate it embeds is not the trusted authority's")]
    WrongEmbeddedCertificate,
    #[error("its ESS signing-certificate attribute does not name the authority's certificate")]
    WrongSigningCertificate,
    #[error("its signature does not verify with the authority's key")]
    BadSignature,
    #[error("the authority's certificate is not a timestamping certificate: {0}")]
    BadAuthorityCertificate(String),
    #[error("the authority's certificate does not chain to its root at {at}: {reason}")]
    Chain { at: i64, reason: String },
}

/// One timestamp authority of a trusted root: its certificates (leaf first, root last) and when
/// its timestamps are trusted.
#[derive(Debug, Clone)]
pub struct Authority {
    pub chain: Vec<Vec<u8>>,
    pub from: Option<i64>,
    pub to: Option<i64>,
}

/// What a verified timestamp says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// genTime, unix seconds.
    pub time: i64,
    /// Index of the authority (in the order given) that issued it.
    pub authority: usize,
}

fn malformed(e: impl std::fmt::Display) -> TimestampError {
    TimestampError::Malformed(e.to_string())
}

/// The parts of a granted response the verifier needs.
pub struct Parsed {
    pub tst_info: TstInfo,
    /// The TSTInfo as signed (the eContent octets).
    pub tst_der: Vec<u8>,
    pub signed_data: cms::signed_data::SignedData,
}

/// Parses a DER `TimeStampResp` whose status is granted.
pub fn parse_response(der: &[u8]) -> Result<Parsed, TimestampError> {
    let resp = TimeStampResp::from_der(der).map_err(malformed)?;
    let status = resp.status.status as u8;
    if status > 1 {
        return Err(TimestampError::NotGranted(status));
    }
    let token = resp
        .time_stamp_token
        .ok_or(TimestampError::NotGranted(status))?;
    if token.content_type != ID_SIGNED_DATA {
        return Err(TimestampError::NotTstInfo);
    }
    let signed_data: cms::signed_data::SignedData = token.content.decode_as().map_err(malformed)?;
    if signed_data.encap_content_info.econtent_type != ID_CT_TSTINFO {
        return Err(TimestampError::NotTstInfo);
    }
    let econtent = signed_data
        .encap_content_info
        .econtent
        .as_ref()
        .ok_or(TimestampError::NotTstInfo)?;
    let octets: OctetString = econtent.decode_as().map_err(malformed)?;
    let tst_der = octets.as_bytes().to_vec();
    let tst_info = TstInfo::from_der(&tst_der).map_err(malformed)?;
    Ok(Parsed {
        tst_info,
        tst_der,
        signed_data,
    })
}

fn attr(attrs: &cms::signed_data::SignedAttributes, oid: ObjectIdentifier) -> Option<&Any> {
    attrs
        .iter()
        .find(|a| a.oid == oid)
        .and_then(|a| a.values.iter().next())
}

/// Verifies `sig` over `msg` with `key` under a CMS signature algorithm.
fn verify_cms_signature(
    key: &PublicKey,
    alg: &ObjectIdentifier,
    msg: &[u8],
    sig: &[u8],
) -> Result<(), TimestampError> {
    use crate::keys::KeyKind;
    let ok = match (*alg, key.kind()) {
        (ECDSA_WITH_SHA256, KeyKind::EcdsaP256 | KeyKind::EcdsaP384)
        | (SHA256_WITH_RSA, KeyKind::Rsa { .. }) => key.verify_message_sha256(msg, sig),
        (ECDSA_WITH_SHA384, KeyKind::EcdsaP384) | (ID_ED25519, KeyKind::Ed25519) => {
            key.verify_message(msg, sig)
        }
        (ECDSA_WITH_SHA384, KeyKind::EcdsaP256)
        | (ECDSA_WITH_SHA512, KeyKind::EcdsaP256 | KeyKind::EcdsaP384)
        | (SHA384_WITH_RSA | SHA512_WITH_RSA, KeyKind::Rsa { .. }) => {
            let d = match *alg {
                ECDSA_WITH_SHA384 | SHA384_WITH_RSA => DigestAlg::Sha384,
                _ => DigestAlg::Sha512,
            };
            key.verify_prehashed(d, &d.hash(msg), sig)
        }
        _ => return Err(TimestampError::BadSignature),
    };
    ok.map_err(|_| TimestampError::BadSignature)
}

/// Checks that a TSA leaf's only extended key usage is timeStamping, marked critical.
fn check_tsa_leaf(der: &[u8]) -> Result<(), TimestampError> {
    let bad = |s: &str| TimestampError::BadAuthorityCertificate(s.to_string());
    let (_, c) =
        x509_parser::parse_x509_certificate(der).map_err(|_| bad("it cannot be parsed"))?;
    let eku = c
        .extended_key_usage()
        .map_err(|_| bad("its extended key usage is malformed"))?
        .ok_or_else(|| bad("it has no extended key usage"))?;
    let e = eku.value;
    let only_ts = e.time_stamping
        && !e.any
        && !e.server_auth
        && !e.client_auth
        && !e.code_signing
        && !e.email_protection
        && !e.ocsp_signing
        && e.other.is_empty();
    if !only_ts || !eku.critical {
        return Err(bad(
            "its extended key usage must be timeStamping only, marked critical",
        ));
    }
    Ok(())
}

fn gen_time(t: &TstInfo) -> i64 {
    t.gen_time.to_unix_duration().as_secs() as i64
}

/// Checks that a response answers the request that carried `nonce` (a client's replay check).
pub fn check_nonce(resp_der: &[u8], nonce: u64) -> Result<(), TimestampError> {
    let p = parse_response(resp_der)?;
    match p.tst_info.nonce {
        Some(n) if n == int_from_u64(nonce) => Ok(()),
        _ => Err(TimestampError::NonceMismatch),
    }
}

/// Verifies a DER `TimeStampResp` over `timestamped` (the signature bytes) against `authorities`.
pub fn verify(
    resp_der: &[u8],
    timestamped: &[u8],
    authorities: &[Authority],
) -> Result<Verified, TimestampError> {
    let p = parse_response(resp_der)?;
    let imprint = &p.tst_info.message_imprint;
    let alg = digest_alg(&imprint.hash_algorithm.oid).ok_or(TimestampError::UnsupportedDigest)?;
    if imprint.hashed_message.as_bytes() != alg.hash(timestamped).as_slice() {
        return Err(TimestampError::ImprintMismatch);
    }
    let at = gen_time(&p.tst_info);
    use cms::content_info::CmsVersion;
    use cms::signed_data::SignerIdentifier;
    let [si] = p.signed_data.signer_infos.0.as_slice() else {
        return Err(TimestampError::BadSignedAttributes(
            "not exactly one signer",
        ));
    };
    // RFC 5652's versions for what the token uses, and the signer's digest announced.
    let sid_version = match si.sid {
        SignerIdentifier::IssuerAndSerialNumber(_) => CmsVersion::V1,
        SignerIdentifier::SubjectKeyIdentifier(_) => CmsVersion::V3,
    };
    if p.signed_data.version != CmsVersion::V3
        || si.version != sid_version
        || !p
            .signed_data
            .digest_algorithms
            .iter()
            .any(|a| a.oid == si.digest_alg.oid)
    {
        return Err(TimestampError::NotTstInfo);
    }
    let attrs = si
        .signed_attrs
        .as_ref()
        .ok_or(TimestampError::BadSignedAttributes("no signed attributes"))?;
    let dalg = digest_alg(&si.digest_alg.oid).ok_or(TimestampError::UnsupportedDigest)?;
    let md: OctetString = attr(attrs, ID_MESSAGE_DIGEST)
        .ok_or(TimestampError::BadSignedAttributes("no messageDigest"))?
        .decode_as()
        .map_err(malformed)?;
    if md.as_bytes() != dalg.hash(&p.tst_der).as_slice() {
        return Err(TimestampError::BadSignedAttributes("messageDigest"));
    }
    let ct: ObjectIdentifier = attr(attrs, ID_CONTENT_TYPE)
        .ok_or(TimestampError::BadSignedAttributes("no contentType"))?
        .decode_as()
        .map_err(malformed)?;
    if ct != ID_CT_TSTINFO {
        return Err(TimestampError::BadSignedAttributes("contentType"));
    }
    let ess: SigningCertificateV2 = attr(attrs, ID_SIGNING_CERTIFICATE_V2)
        .ok_or(TimestampError::WrongSigningCertificate)?
        .decode_as()
        .map_err(malformed)?;
    let signed = attrs.to_der().map_err(malformed)?;
    let embedded: Vec<Vec<u8>> = p
        .signed_data
        .certificates
        .as_ref()
        .map(|cs| {
            cs.0.iter()
                .filter_map(|c| match c {
                    cms::cert::CertificateChoices::Certificate(c) => c.to_der().ok(),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let mut last = TimestampError::UnknownAuthority(at);
    for (i, a) in authorities.iter().enumerate() {
        if a.from.is_some_and(|f| at < f) || a.to.is_some_and(|t| at > t) {
            continue;
        }
        let Some(leaf) = a.chain.first() else {
            continue;
        };
        let Ok(cert) = x509_cert::Certificate::from_der(leaf) else {
            continue;
        };
        // The signer must be this leaf.
        let names_leaf = match &si.sid {
            cms::signed_data::SignerIdentifier::IssuerAndSerialNumber(is) => {
                is.issuer == cert.tbs_certificate.issuer
                    && is.serial_number == cert.tbs_certificate.serial_number
            }
            cms::signed_data::SignerIdentifier::SubjectKeyIdentifier(_) => true,
        };
        if !names_leaf {
            continue;
        }
        if !embedded.is_empty() && !embedded.iter().any(|e| e == leaf) {
            last = TimestampError::WrongEmbeddedCertificate;
            continue;
        }
        let ess_ok = ess.certs.first().is_some_and(|id| {
            id.hash_algorithm
                .as_ref()
                .map_or(Some(DigestAlg::Sha256), |a| digest_alg(&a.oid))
                .is_some_and(|h| id.cert_hash.as_bytes() == h.hash(leaf).as_slice())
                && id
                    .issuer_serial
                    .as_ref()
                    .is_none_or(|s| s.serial_number == cert.tbs_certificate.serial_number)
        });
        if !ess_ok {
            last = TimestampError::WrongSigningCertificate;
            continue;
        }
        let key = PublicKey::from_certificate_der(leaf)
            .map_err(|e| TimestampError::BadAuthorityCertificate(e.to_string()))?;
        verify_cms_signature(
            &key,
            &si.signature_algorithm.oid,
            &signed,
            si.signature.as_bytes(),
        )?;
        check_tsa_leaf(leaf)?;
        verify_chain(a, at)?;
        return Ok(Verified {
            time: at,
            authority: i,
        });
    }
    Err(last)
}

/// The TSA leaf chains to the authority's root at `at`, for timeStamping.
fn verify_chain(a: &Authority, at: i64) -> Result<(), TimestampError> {
    let chain_err = |reason: String| TimestampError::Chain { at, reason };
    let (leaf, rest) = a.chain.split_first().expect("non-empty");
    let Some((root, inter)) = rest.split_last() else {
        // A single self-issued TSA certificate: trusted as given, but only within its own
        // validity period.
        let (_, c) = x509_parser::parse_x509_certificate(leaf)
            .map_err(|e| chain_err(format!("the TSA certificate does not parse: {e}")))?;
        let v = c.validity();
        if at < v.not_before.timestamp() || at > v.not_after.timestamp() {
            return Err(chain_err(
                "the time is outside the TSA certificate's validity".into(),
            ));
        }
        return Ok(());
    };
    let leaf = CertificateDer::from(leaf.as_slice());
    let ee = webpki::EndEntityCert::try_from(&leaf).map_err(|e| chain_err(format!("{e:?}")))?;
    let root = CertificateDer::from(root.as_slice());
    let anchor =
        webpki::anchor_from_trusted_cert(&root).map_err(|e| chain_err(format!("{e:?}")))?;
    let inter: Vec<CertificateDer<'_>> = inter
        .iter()
        .map(|c| CertificateDer::from(c.as_slice()))
        .collect();
    const TIME_STAMPING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x08];
    ee.verify_for_usage(
        crate::keys::cert_algs(),
        &[anchor],
        &inter,
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(at.max(0) as u64)),
        webpki::KeyUsage::required(TIME_STAMPING),
        None,
        None,
    )
    .map(|_| ())
    .map_err(|e| chain_err(format!("{e:?}")))
}

/// The DER of a signed-attributes SET as it is signed (tag SET, not the `[0]` of SignerInfo).
pub fn signed_attributes_der(attrs: &SetOfVec<x509_cert::attr::Attribute>) -> Vec<u8> {
    attrs.to_der().expect("attributes encode")
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::{engine::general_purpose::STANDARD as B64, Engine};

    fn staging() -> (Vec<u8>, Vec<u8>, Vec<Authority>) {
        let b: serde_json::Value = serde_json::from_slice(&crate::testdata::sigstore(
            "staging-rekor-v2.txt.sigstore.json",
        ))
        .unwrap();
        let ts = B64
            .decode(
                b["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"][0]
                    ["signedTimestamp"]
                    .as_str()
                    .unwrap(),
            )
            .unwrap();
        let sig = B64
            .decode(b["messageSignature"]["signature"].as_str().unwrap())
            .unwrap();
        let tr: crate::trust::TrustedRoot =
            serde_json::from_slice(&crate::testdata::sigstore("staging_trusted_root.json"))
                .unwrap();
        let tsas = tr
            .timestamp_authorities
            .iter()
            .map(|t| {
                let bound = |b: Option<&String>| b.and_then(|b| crate::trust::parse_rfc3339(b));
                let w = t.valid_for.as_ref();
                let (from, to) = (
                    bound(w.and_then(|w| w.start.as_ref())),
                    bound(w.and_then(|w| w.end.as_ref())),
                );
                Authority {
                    chain: t
                        .cert_chain
                        .certificates
                        .iter()
                        .map(|c| B64.decode(&c.raw_bytes).unwrap())
                        .collect(),
                    from,
                    to,
                }
            })
            .collect();
        (ts, sig, tsas)
    }

    #[test]
    fn the_public_good_staging_timestamp_verifies_and_tampering_is_refused() {
        let (ts, sig, tsas) = staging();
        let v = verify(&ts, &sig, &tsas).unwrap();
        assert!(v.time > 1_700_000_000, "{v:?}");
        // Another signature.
        let mut other = sig.clone();
        other[5] ^= 1;
        assert_eq!(
            verify(&ts, &other, &tsas).unwrap_err(),
            TimestampError::ImprintMismatch
        );
        // No trusted authority.
        assert!(matches!(
            verify(&ts, &sig, &[]).unwrap_err(),
            TimestampError::UnknownAuthority(_)
        ));
        // A flipped bit anywhere in the response is refused, or (outside the signed token, e.g.
        // status granted -> grantedWithMods) changes nothing the timestamp attests.
        let mut accepted = 0;
        for i in 0..ts.len() {
            let mut t = ts.clone();
            t[i] ^= 0x01;
            if let Ok(v2) = verify(&t, &sig, &tsas) {
                assert_eq!(v2, v, "byte {i}");
                accepted += 1;
            }
        }
        assert!(accepted <= 1, "{accepted} tampered responses verified");
        // A request is what openssl ts -query -sha256 -no_nonce sends.
        let q = request(b"x", None, false);
        assert_eq!(&q[..4], &[0x30, 0x36, 0x02, 0x01]);
        for n in [0u64, 1, 42, 127, 128, 255, 256, u64::MAX] {
            let i = int_from_u64(n);
            assert_eq!(Int::from_der(&i.to_der().unwrap()).unwrap(), i, "{n}");
        }
    }
}
