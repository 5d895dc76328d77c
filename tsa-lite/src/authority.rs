//! The timestamp authority: its keys and certificates (a root and a TSA leaf whose only extended
//! key usage is timeStamping, marked critical), and the pure mapping from a DER `TimeStampReq`
//! and a time to a DER `TimeStampResp`.
//!
//! The token follows sigstore/timestamp-authority (digitorus/timestamp): TSTInfo version 1 under
//! policy 1.3.6.1.4.1.57264.2, the request's imprint, a random 160-bit serial, genTime, accuracy
//! 1 s, the nonce echoed, `tsa` = the leaf's subject; CMS SignedData v3 with the signed
//! attributes contentType, signingTime, messageDigest and signingCertificateV2 (ESSCertIDv2 over
//! the leaf with the request's hash algorithm); the leaf embedded when certReq is set. Encoding is
//! the RustCrypto `der`, `cms`, `x509-cert` and `x509-tsp` crates'; the signature is aws-lc-rs.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cmpv2::status::{PkiStatus, PkiStatusInfo};
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use der::asn1::{GeneralizedTime, Int, OctetString, SetOfVec, UtcTime};
use der::{Any, Decode, Encode};
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, IsCa, Issuer,
    KeyIdMethod, KeyUsagePurpose,
};
use sigstore_lite_core::keys::{
    pem_encode, pem_parse_all, random_bytes, DigestAlg, KeyKind, SignError, Signer,
};
use sigstore_lite_core::timestamp::{
    digest_alg, digest_oid, EssCertIdV2, IssuerSerial, SigningCertificateV2, ECDSA_WITH_SHA256,
    ID_CONTENT_TYPE, ID_CT_TSTINFO, ID_KP_TIME_STAMPING, ID_MESSAGE_DIGEST, ID_SHA256,
    ID_SIGNED_DATA, ID_SIGNING_CERTIFICATE_V2, ID_SIGNING_TIME, SIGSTORE_TSA_POLICY,
};
use sigstore_lite_signer::{CertSigner, KeyRef};
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_tsp::{Accuracy, TimeStampReq, TimeStampResp, TspVersion, TstInfo};

use crate::error::Error;
pub use crate::refusal::Refusal;

/// File names in the data directory.
pub const ROOT_CERT: &str = "tsa-root.pem";
pub const ROOT_KEY: &str = "tsa-root-key.pem";
pub const LEAF_CERT: &str = "tsa-leaf.pem";
pub const LEAF_KEY: &str = "tsa-leaf-key.pem";

/// A timestamp answer: a granted token or a refusal, both as a DER `TimeStampResp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Granted(Vec<u8>),
    Refused {
        refusal: Refusal,
        response: Vec<u8>,
    },
    /// The signing key (in a token or behind a KMS plugin) cannot sign at the moment.
    Unavailable(SignError),
}

impl Answer {
    /// The DER `TimeStampResp` (none when the key is unavailable).
    pub fn der(&self) -> &[u8] {
        match self {
            Answer::Granted(d) | Answer::Refused { response: d, .. } => d,
            Answer::Unavailable(_) => &[],
        }
    }
}

/// Where the TSA's signing key is. Nothing named: `tsa-leaf-key.pem` in the data directory.
#[derive(Debug, Clone, Default)]
pub struct TsaKeys {
    /// The key that signs timestamps (ECDSA P-256): a file, `pkcs11:` URI or KMS key. Its
    /// certificate, under a root whose key is made in memory and forgotten, is made on first
    /// start and written to the data directory.
    pub key: Option<KeyRef>,
    /// Make the key in its token or KMS when it is missing (non-extractable).
    pub create: bool,
}

/// The authority: signing key, leaf and root.
pub struct Authority {
    signer: Arc<dyn Signer>,
    leaf: x509_cert::Certificate,
    leaf_der: Vec<u8>,
    root_der: Vec<u8>,
}

fn rcgen_err(e: rcgen::Error) -> Error {
    Error::Config(format!("certificate encoding: {e}"))
}

fn to_offset(t: SystemTime) -> time::OffsetDateTime {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    time::OffsetDateTime::from_unix_timestamp(secs as i64).expect("a valid time")
}

fn serial() -> Vec<u8> {
    let mut s = [0u8; 20];
    random_bytes(&mut s);
    s[0] &= 0x7f;
    s[0] |= 0x01;
    s.to_vec()
}

fn read_pem(path: &Path, label: &str) -> Result<Vec<u8>, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))?;
    pem_parse_all(&text)
        .ok()
        .and_then(|v| v.into_iter().find(|p| p.label == label))
        .map(|p| p.der)
        .ok_or_else(|| Error::Config(format!("{} holds no {label} PEM block", path.display())))
}

fn write_private(path: &Path, contents: &str) -> Result<(), Error> {
    sigstore_lite_server::write_private(path, contents.as_bytes())
        .map_err(|e| Error::Config(format!("cannot write {}: {e}", path.display())))
}

impl Authority {
    /// Loads the authority from `dir`, creating its root and leaf on first use (keys 0600).
    pub fn load_or_create(dir: &Path, now: SystemTime) -> Result<Authority, Error> {
        Self::open(dir, &TsaKeys::default(), now)
    }

    /// Opens the authority with its signing key where `keys` says; the certificates (and, for
    /// keys in files, the keys) are in `dir`, made on first use.
    pub fn open(dir: &Path, keys: &TsaKeys, now: SystemTime) -> Result<Authority, Error> {
        sigstore_lite_server::create_private_dir(dir)
            .map_err(|e| Error::Config(format!("cannot create {}: {e}", dir.display())))?;
        let in_files = keys.key.is_none();
        let files: Vec<&str> = if in_files {
            vec![ROOT_CERT, ROOT_KEY, LEAF_CERT, LEAF_KEY]
        } else {
            vec![ROOT_CERT, LEAF_CERT]
        };
        let present = files.iter().filter(|f| dir.join(f).exists()).count();
        let key_ref = keys
            .key
            .clone()
            .unwrap_or_else(|| KeyRef::File(dir.join(LEAF_KEY)));
        let open_key = |create: bool| -> Result<Arc<dyn Signer>, Error> {
            let s = sigstore_lite_signer::open_or_generate(&key_ref, KeyKind::EcdsaP256, create)
                .map_err(|e| Error::Config(format!("the timestamping key: {e}")))?;
            if s.public_key().kind() != KeyKind::EcdsaP256 {
                return Err(Error::Config(format!(
                    "the timestamping key {key_ref} is {}; timestamps are signed with ECDSA P-256",
                    s.public_key().kind().name()
                )));
            }
            Ok(s)
        };
        if present == 0 {
            let signer = open_key(keys.create || in_files)?;
            Self::create(dir, now, signer, in_files)?;
        } else if present < files.len() {
            return Err(Error::Config(format!(
                "{} holds only some of the timestamp authority's files ({}); restore them or empty the directory to create a new authority",
                dir.display(),
                files
                    .iter()
                    .filter(|f| !dir.join(f).exists())
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let leaf_der = read_pem(&dir.join(LEAF_CERT), "CERTIFICATE")?;
        let root_der = read_pem(&dir.join(ROOT_CERT), "CERTIFICATE")?;
        let signer = open_key(false)?;
        let leaf = x509_cert::Certificate::from_der(&leaf_der)
            .map_err(|e| Error::Config(format!("{}: {e}", dir.join(LEAF_CERT).display())))?;
        if leaf
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .ok()
            .as_deref()
            != Some(signer.public_key().spki_der())
        {
            return Err(Error::Config(format!(
                "{key_ref} is not the key of {}",
                dir.join(LEAF_CERT).display()
            )));
        }
        Ok(Authority {
            signer,
            leaf,
            leaf_der,
            root_der,
        })
    }

    /// The root and leaf certificates for `signer`. A root key in a file when the leaf key is
    /// one too (as before); otherwise a root key made in memory, used once, and forgotten.
    fn create(
        dir: &Path,
        now: SystemTime,
        signer: Arc<dyn Signer>,
        root_in_file: bool,
    ) -> Result<(), Error> {
        let dn = |cn: &str| {
            let mut d = DistinguishedName::new();
            d.push(DnType::OrganizationName, "sigstore-lite");
            d.push(DnType::CommonName, cn);
            d
        };
        let root_pem =
            sigstore_lite_signer::generate_pem(KeyKind::EcdsaP256).map_err(Error::Config)?;
        let root_key =
            CertSigner::new(sigstore_lite_signer::from_pem(&root_pem).map_err(Error::Config)?)
                .map_err(Error::Config)?;
        let mut rp = CertificateParams::default();
        rp.distinguished_name = dn("sigstore-lite tsa root");
        rp.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        rp.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        rp.key_identifier_method = KeyIdMethod::Sha256;
        rp.serial_number = Some(serial().into());
        rp.not_before = to_offset(now - Duration::from_secs(60));
        rp.not_after = to_offset(now + Duration::from_secs(10 * 365 * 86400));
        let root = rp.self_signed(&root_key).map_err(rcgen_err)?;
        let leaf_key = CertSigner::new(signer).map_err(Error::Config)?;
        let mut lp = CertificateParams::default();
        lp.distinguished_name = dn("sigstore-lite tsa");
        lp.is_ca = IsCa::ExplicitNoCa;
        lp.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        lp.key_identifier_method = KeyIdMethod::Sha256;
        lp.use_authority_key_identifier_extension = true;
        lp.serial_number = Some(serial().into());
        lp.not_before = to_offset(now - Duration::from_secs(60));
        lp.not_after = to_offset(now + Duration::from_secs(5 * 365 * 86400));
        // RFC 3161 §2.3: the one extended key usage, timeStamping, marked critical.
        let eku = x509_cert::ext::pkix::ExtendedKeyUsage(vec![ID_KP_TIME_STAMPING])
            .to_der()
            .expect("an EKU encodes");
        let mut ext = CustomExtension::from_oid_content(&[2, 5, 29, 37], eku);
        ext.set_criticality(true);
        lp.custom_extensions = vec![ext];
        let leaf = lp
            .signed_by(&leaf_key, &Issuer::new(rp, &root_key))
            .map_err(rcgen_err)?;
        if root_in_file {
            write_private(&dir.join(ROOT_KEY), &root_pem)?;
        }
        write_private(&dir.join(ROOT_CERT), &root.pem())?;
        write_private(&dir.join(LEAF_CERT), &leaf.pem())?;
        Ok(())
    }

    /// Whether the signing key can sign now (/healthz).
    pub fn probe(&self) -> Result<(), SignError> {
        self.signer.probe()
    }

    /// `[leaf, root]`, DER.
    pub fn chain_der(&self) -> Vec<Vec<u8>> {
        vec![self.leaf_der.clone(), self.root_der.clone()]
    }

    /// The chain as PEM, leaf first (`/api/v1/timestamp/certchain`).
    pub fn chain_pem(&self) -> String {
        self.chain_der()
            .iter()
            .map(|d| pem_encode("CERTIFICATE", d))
            .collect()
    }

    /// Answers a DER `TimeStampReq` at `now`.
    pub fn answer(&self, req_der: &[u8], now: SystemTime) -> Answer {
        match self.grant(req_der, now) {
            Ok(Ok(der)) => Answer::Granted(der),
            Ok(Err(e)) => Answer::Unavailable(e),
            Err(refusal) => Answer::Refused {
                refusal,
                response: refusal.response(),
            },
        }
    }

    /// The token, a refusal, or (inside) the key's failure.
    #[allow(clippy::type_complexity)]
    fn grant(
        &self,
        req_der: &[u8],
        now: SystemTime,
    ) -> Result<Result<Vec<u8>, SignError>, Refusal> {
        let req = TimeStampReq::from_der(req_der).map_err(|_| Refusal::BadDataFormat)?;
        let alg = digest_alg(&req.message_imprint.hash_algorithm.oid).ok_or(Refusal::BadAlg)?;
        if req.message_imprint.hashed_message.as_bytes().len() != alg.digest_len() {
            return Err(Refusal::BadRequest);
        }
        if req.req_policy.is_some_and(|p| p != SIGSTORE_TSA_POLICY) {
            return Err(Refusal::UnacceptedPolicy);
        }
        if req.extensions.is_some() {
            return Err(Refusal::UnacceptedExtension);
        }
        Ok(self.token(&req, alg, now))
    }

    fn token(
        &self,
        req: &TimeStampReq,
        alg: DigestAlg,
        now: SystemTime,
    ) -> Result<Vec<u8>, SignError> {
        let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
        let whole = Duration::from_secs(since.as_secs());
        let tbs = &self.leaf.tbs_certificate;
        let tst = TstInfo {
            version: TspVersion::V1,
            policy: SIGSTORE_TSA_POLICY,
            message_imprint: req.message_imprint.clone(),
            serial_number: Int::new(&serial()).expect("a serial"),
            gen_time: GeneralizedTime::from_unix_duration(whole).expect("a time after 1970"),
            accuracy: Some(Accuracy {
                seconds: Some(1),
                millis: None,
                micros: None,
            }),
            ordering: false,
            nonce: req.nonce.clone(),
            tsa: Some(GeneralName::DirectoryName(tbs.subject.clone())),
            extensions: None,
        };
        let tst_der = tst.to_der().expect("a TSTInfo encodes");
        let attr = |oid, value: Any| Attribute {
            oid,
            values: SetOfVec::try_from(vec![value]).expect("one value"),
        };
        let ess = SigningCertificateV2 {
            certs: vec![EssCertIdV2 {
                hash_algorithm: (alg != DigestAlg::Sha256).then(|| AlgorithmIdentifierOwned {
                    oid: digest_oid(alg),
                    parameters: None,
                }),
                cert_hash: OctetString::new(alg.hash(&self.leaf_der)).expect("a hash"),
                issuer_serial: Some(IssuerSerial {
                    issuer: vec![GeneralName::DirectoryName(tbs.issuer.clone())],
                    serial_number: tbs.serial_number.clone(),
                }),
            }],
            policies: None,
        };
        let signed_attrs = SetOfVec::try_from(vec![
            attr(
                ID_CONTENT_TYPE,
                Any::encode_from(&ID_CT_TSTINFO).expect("oid"),
            ),
            attr(
                ID_SIGNING_TIME,
                Any::encode_from(&UtcTime::from_unix_duration(whole).expect("a time"))
                    .expect("time"),
            ),
            attr(
                ID_MESSAGE_DIGEST,
                Any::encode_from(
                    &OctetString::new(DigestAlg::Sha256.hash(&tst_der)).expect("a digest"),
                )
                .expect("digest"),
            ),
            attr(
                ID_SIGNING_CERTIFICATE_V2,
                Any::encode_from(&ess).expect("ESS"),
            ),
        ])
        .expect("distinct attributes");
        let signature = self
            .signer
            .try_sign(&signed_attrs.to_der().expect("attributes encode"))?;
        let sha256 = AlgorithmIdentifierOwned {
            oid: ID_SHA256,
            parameters: None,
        };
        let signer_info = SignerInfo {
            version: CmsVersion::V1,
            sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
                issuer: tbs.issuer.clone(),
                serial_number: tbs.serial_number.clone(),
            }),
            digest_alg: sha256.clone(),
            signed_attrs: Some(signed_attrs),
            signature_algorithm: AlgorithmIdentifierOwned {
                oid: ECDSA_WITH_SHA256,
                parameters: None,
            },
            signature: OctetString::new(signature).expect("a signature"),
            unsigned_attrs: None,
        };
        let signed_data = SignedData {
            version: CmsVersion::V3,
            digest_algorithms: SetOfVec::try_from(vec![sha256]).expect("one algorithm"),
            encap_content_info: EncapsulatedContentInfo {
                econtent_type: ID_CT_TSTINFO,
                econtent: Some(
                    Any::encode_from(&OctetString::new(tst_der).expect("a TSTInfo"))
                        .expect("eContent"),
                ),
            },
            certificates: req.cert_req.then(|| {
                CertificateSet(
                    SetOfVec::try_from(vec![CertificateChoices::Certificate(self.leaf.clone())])
                        .expect("one certificate"),
                )
            }),
            crls: None,
            signer_infos: SignerInfos(SetOfVec::try_from(vec![signer_info]).expect("one signer")),
        };
        Ok(TimeStampResp {
            status: PkiStatusInfo {
                status: PkiStatus::Accepted,
                status_string: None,
                fail_info: None,
            },
            time_stamp_token: Some(ContentInfo {
                content_type: ID_SIGNED_DATA,
                content: Any::encode_from(&signed_data).expect("SignedData"),
            }),
        }
        .to_der()
        .expect("a TimeStampResp encodes"))
    }
}

/// sigstore/timestamp-authority's JSON request. The nonce is kept as written: it is an integer
/// of any size (Go's `*big.Int`), and a timestamp must echo it exactly or not be granted.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JsonRequest<'a> {
    artifact_hash: Option<String>,
    hash_algorithm: Option<String>,
    #[serde(borrow, default)]
    nonce: Option<&'a serde_json::value::RawValue>,
    #[serde(default)]
    certificates: bool,
    #[serde(rename = "tsaPolicyOID")]
    tsa_policy_oid: Option<String>,
}

/// The longest decimal nonce taken (a 1 KiB body cannot hold much more; the conversion is
/// quadratic in the digits).
const MAX_NONCE_DIGITS: usize = 1000;

/// A JSON integer literal (`-?(0|[1-9][0-9]*)`) as a minimal DER INTEGER; `None` for anything
/// else (a string, a fraction, an exponent).
pub fn nonce_from_json(text: &str) -> Option<Int> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text),
    };
    let b = digits.as_bytes();
    if b.is_empty()
        || b.len() > MAX_NONCE_DIGITS
        || !b.iter().all(u8::is_ascii_digit)
        || (b[0] == b'0' && b.len() > 1)
    {
        return None;
    }
    // Magnitude, big-endian, by repeated multiply-and-add.
    let mut mag: Vec<u8> = vec![0];
    for &d in b {
        let mut carry = (d - b'0') as u32;
        for byte in mag.iter_mut().rev() {
            let v = *byte as u32 * 10 + carry;
            *byte = v as u8;
            carry = v >> 8;
        }
        while carry > 0 {
            mag.insert(0, carry as u8);
            carry >>= 8;
        }
    }
    // Two's complement with a sign byte, then the minimal form.
    let mut v = Vec::with_capacity(mag.len() + 1);
    v.push(0);
    v.extend(mag);
    if negative {
        for x in v.iter_mut() {
            *x = !*x;
        }
        for x in v.iter_mut().rev() {
            let (n, overflow) = x.overflowing_add(1);
            *x = n;
            if !overflow {
                break;
            }
        }
    }
    let mut start = 0;
    while start + 1 < v.len()
        && ((v[start] == 0 && v[start + 1] & 0x80 == 0)
            || (v[start] == 0xff && v[start + 1] & 0x80 != 0))
    {
        start += 1;
    }
    Int::new(&v[start..]).ok()
}

/// Renders a JSON timestamp request (`{"artifactHash", "hashAlgorithm", "nonce", "certificates",
/// "tsaPolicyOID"}`, as sigstore/timestamp-authority takes it) as a DER `TimeStampReq`. A nonce
/// that is present but not an integer is refused: dropping it would grant a timestamp the
/// client cannot match to its request.
pub fn json_request(body: &[u8]) -> Result<Vec<u8>, JsonRefusal> {
    use base64::{engine::general_purpose::STANDARD as B64, Engine};
    use x509_tsp::MessageImprint;
    let v: JsonRequest = serde_json::from_slice(body).map_err(JsonRefusal::NotJson)?;
    let hash = v
        .artifact_hash
        .as_deref()
        .and_then(|s| B64.decode(s).ok())
        .ok_or(Refusal::BadDataFormat)?;
    let alg = match v.hash_algorithm.as_deref().unwrap_or("sha256") {
        "sha256" => DigestAlg::Sha256,
        "sha384" => DigestAlg::Sha384,
        "sha512" => DigestAlg::Sha512,
        _ => return Err(Refusal::BadAlg.into()),
    };
    let policy = match v.tsa_policy_oid.as_deref() {
        Some(p) => Some(der::oid::ObjectIdentifier::new(p).map_err(|_| Refusal::UnacceptedPolicy)?),
        None => None,
    };
    let nonce = match v.nonce.map(|r| r.get().trim()) {
        None | Some("null") => None,
        Some(t) => Some(nonce_from_json(t).ok_or(Refusal::BadNonce)?),
    };
    Ok(TimeStampReq {
        version: TspVersion::V1,
        message_imprint: MessageImprint {
            hash_algorithm: AlgorithmIdentifierOwned {
                oid: digest_oid(alg),
                parameters: Some(Any::null()),
            },
            hashed_message: OctetString::new(hash).map_err(|_| Refusal::BadRequest)?,
        },
        req_policy: policy,
        nonce,
        cert_req: v.certificates,
        extensions: None,
    }
    .to_der()
    .map_err(|_| Refusal::BadDataFormat)?)
}

/// Why a JSON request cannot become a `TimeStampReq`.
#[derive(Debug, thiserror::Error)]
pub enum JsonRefusal {
    #[error("the body is not a JSON timestamp request: {0}")]
    NotJson(serde_json::Error),
    #[error(transparent)]
    Refused(#[from] Refusal),
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigstore_lite_core::timestamp::{self, Authority as Trusted};

    #[test]
    fn tokens_verify_with_the_core_verifier_and_refusals_carry_their_bit() {
        let dir = tempfile::tempdir().unwrap();
        let t0 = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let a = Authority::load_or_create(dir.path(), t0).unwrap();
        let again = Authority::load_or_create(dir.path(), t0).unwrap();
        assert_eq!(again.chain_der(), a.chain_der());
        let trusted = [Trusted {
            chain: a.chain_der(),
            from: None,
            to: None,
        }];
        for cert_req in [false, true] {
            let sig = b"a signature";
            let q = timestamp::request(sig, Some(42), cert_req);
            let r = match a.answer(&q, t0 + Duration::from_secs(5)) {
                Answer::Granted(r) => r,
                other => panic!("{other:?} {:?}", TimeStampReq::from_der(&q)),
            };
            let v = timestamp::verify(&r, sig, &trusted).unwrap();
            assert_eq!(v.time, 1_800_000_005);
            assert!(timestamp::verify(&r, b"another", &trusted).is_err());
            let p = timestamp::parse_response(&r).unwrap();
            assert_eq!(
                p.tst_info.nonce.unwrap().as_bytes(),
                &42u64.to_be_bytes()[7..]
            );
            assert_eq!(p.signed_data.certificates.is_some(), cert_req);
        }
        // Garbage, a short imprint, an unknown hash, another policy.
        let bad = |der: &[u8]| match a.answer(der, t0) {
            Answer::Refused { refusal, response } => {
                assert!(matches!(
                    timestamp::parse_response(&response),
                    Err(timestamp::TimestampError::NotGranted(2))
                ));
                refusal
            }
            other => panic!("{other:?}"),
        };
        assert_eq!(bad(b"garbage"), Refusal::BadDataFormat);
        let j = |v: serde_json::Value| json_request(v.to_string().as_bytes());
        let short = j(serde_json::json!({"artifactHash": "AAAA"})).unwrap();
        assert_eq!(bad(&short), Refusal::BadRequest);
        let policy = j(serde_json::json!({
            "artifactHash": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
            "tsaPolicyOID": "1.2.3.4"
        }))
        .unwrap();
        assert_eq!(bad(&policy), Refusal::UnacceptedPolicy);
        assert!(matches!(
            j(serde_json::json!({"artifactHash": "AA==", "hashAlgorithm": "sha1"})),
            Err(JsonRefusal::Refused(Refusal::BadAlg))
        ));
    }

    /// A nonce of any size is echoed byte for byte; one that is not an integer is refused,
    /// never dropped.
    #[test]
    fn json_nonces_are_echoed_exactly_or_refused() {
        let dir = tempfile::tempdir().unwrap();
        let t0 = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let a = Authority::load_or_create(dir.path(), t0).unwrap();
        let hash = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
        for (nonce, der) in [
            ("0", vec![0x00]),
            ("127", vec![0x7f]),
            ("128", vec![0x00, 0x80]),
            (
                "18446744073709551615",
                vec![0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            ),
            ("18446744073709551616", vec![0x01, 0, 0, 0, 0, 0, 0, 0, 0]),
            ("-1", vec![0xff]),
            ("-128", vec![0x80]),
            ("-129", vec![0xff, 0x7f]),
            ("-18446744073709551616", vec![0xff, 0, 0, 0, 0, 0, 0, 0, 0]),
        ] {
            let body = format!(r#"{{"artifactHash": "{hash}", "nonce": {nonce}}}"#);
            let q = json_request(body.as_bytes()).unwrap();
            let Answer::Granted(r) = a.answer(&q, t0) else {
                panic!("{nonce} refused")
            };
            let p = timestamp::parse_response(&r).unwrap();
            assert_eq!(p.tst_info.nonce.unwrap().as_bytes(), &der[..], "{nonce}");
        }
        let big = "9".repeat(200);
        let body = format!(r#"{{"artifactHash": "{hash}", "nonce": {big}}}"#);
        let Answer::Granted(r) = a.answer(&json_request(body.as_bytes()).unwrap(), t0) else {
            panic!("a 200-digit nonce refused")
        };
        assert!(timestamp::parse_response(&r)
            .unwrap()
            .tst_info
            .nonce
            .is_some());
        for nonce in [
            r#""12""#, "1.5", "1e3", "-0.0", "true", "[1]", "{}", "01", "-",
        ] {
            let body = format!(r#"{{"artifactHash": "{hash}", "nonce": {nonce}}}"#);
            match json_request(body.as_bytes()) {
                Err(JsonRefusal::Refused(Refusal::BadNonce)) => {}
                Err(JsonRefusal::NotJson(_)) if nonce == "01" || nonce == "-" => {}
                other => panic!("{nonce}: {other:?}"),
            }
        }
        let too_long = "1".repeat(MAX_NONCE_DIGITS + 1);
        let body = format!(r#"{{"artifactHash": "{hash}", "nonce": {too_long}}}"#);
        assert!(matches!(
            json_request(body.as_bytes()),
            Err(JsonRefusal::Refused(Refusal::BadNonce))
        ));
        // null is no nonce, as Go reads a nil *big.Int.
        let body = format!(r#"{{"artifactHash": "{hash}", "nonce": null}}"#);
        let Answer::Granted(r) = a.answer(&json_request(body.as_bytes()).unwrap(), t0) else {
            panic!("null refused")
        };
        assert!(timestamp::parse_response(&r)
            .unwrap()
            .tst_info
            .nonce
            .is_none());
    }

    #[test]
    fn a_half_created_directory_is_explained_not_repaired_silently() {
        let dir = tempfile::tempdir().unwrap();
        Authority::load_or_create(dir.path(), SystemTime::now()).unwrap();
        std::fs::remove_file(dir.path().join(LEAF_KEY)).unwrap();
        let e = Authority::load_or_create(dir.path(), SystemTime::now())
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains(LEAF_KEY), "{e}");
    }
}
