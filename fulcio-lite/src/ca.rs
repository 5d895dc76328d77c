//! The CA: an ECDSA P-256 root and intermediate, the built-in CT log key, and leaf issuance with
//! an embedded precertificate SCT.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, PublicKeyData,
    SanType, SignatureAlgorithm, SigningKey,
};
use sigstore_lite_core::keys::{
    pem_encode, pem_parse_all, random_bytes, sha256, KeyKind, PublicKey, Signer,
};
use sigstore_lite_core::sct::{self, Sct};

use crate::error::Error;
use crate::identity::{Principal, SanValue};

/// Leaf validity.
pub const LEAF_VALIDITY: Duration = Duration::from_secs(600);

const SIGSTORE_ARC: [u64; 9] = [1, 3, 6, 1, 4, 1, 57264, 1, 0];
const SCT_LIST_OID: [u64; 10] = [1, 3, 6, 1, 4, 1, 11129, 2, 4, 2];

fn oid(n: u32) -> Vec<u64> {
    let mut v = SIGSTORE_ARC.to_vec();
    *v.last_mut().expect("arc") = n as u64;
    v
}

/// DER UTF8String (definite length in as many bytes as it takes: a claim is never truncated).
fn utf8_der(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut v = vec![0x0c];
    match b.len() {
        n if n < 0x80 => v.push(n as u8),
        n => {
            let len = (n as u64).to_be_bytes();
            let skip = len.iter().take_while(|&&x| x == 0).count();
            v.push(0x80 | (8 - skip) as u8);
            v.extend_from_slice(&len[skip..]);
        }
    }
    v.extend_from_slice(b);
    v
}

/// The requester's key as rcgen sees it.
struct LeafKey<'a> {
    raw: &'a [u8],
    alg: &'static SignatureAlgorithm,
}

impl PublicKeyData for LeafKey<'_> {
    fn der_bytes(&self) -> &[u8] {
        self.raw
    }
    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.alg
    }
}

/// Signs nothing: used to lay out the TBSCertificate the SCT covers without paying for a second
/// CA signature. The TBS names the same signature algorithm as the real issuer.
struct TbsOnly {
    raw: Vec<u8>,
    alg: &'static SignatureAlgorithm,
}

impl PublicKeyData for TbsOnly {
    fn der_bytes(&self) -> &[u8] {
        &self.raw
    }
    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.alg
    }
}

impl SigningKey for TbsOnly {
    fn sign(&self, _msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        Ok(Vec::new())
    }
}

/// The certificate authority.
pub struct Ca {
    root_der: Vec<u8>,
    intermediate_der: Vec<u8>,
    issuer: Issuer<'static, KeyPair>,
    tbs_issuer: Issuer<'static, TbsOnly>,
    intermediate_key_hash: [u8; 32],
    ct: Signer,
}

fn rcgen_err(e: rcgen::Error) -> Error {
    Error::Internal(format!("certificate encoding: {e}"))
}

fn random_serial() -> Vec<u8> {
    let mut s = [0u8; 20];
    random_bytes(&mut s);
    s[0] &= 0x7f;
    s[0] |= 0x01;
    s.to_vec()
}

fn to_offset(t: SystemTime) -> time::OffsetDateTime {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    time::OffsetDateTime::from_unix_timestamp(secs as i64).expect("valid time")
}

fn ca_params(cn: &str, path_len: Option<u8>, now: SystemTime, years: u64) -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "sigstore-lite");
    dn.push(DnType::CommonName, cn);
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(match path_len {
        Some(n) => BasicConstraints::Constrained(n),
        None => BasicConstraints::Unconstrained,
    });
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.key_identifier_method = KeyIdMethod::Sha256;
    p.serial_number = Some(random_serial().into());
    p.not_before = to_offset(now - Duration::from_secs(60));
    p.not_after = to_offset(now + Duration::from_secs(years * 365 * 86400));
    p
}

fn write_private(path: &Path, contents: &str) -> Result<(), Error> {
    sigstore_lite_server::write_private(path, contents.as_bytes())
        .map_err(|e| Error::Config(format!("cannot write {}: {e}", path.display())))
}

fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path)
        .map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))
}

fn one_pem(text: &str, label: &str, path: &Path) -> Result<Vec<u8>, Error> {
    pem_parse_all(text)
        .ok()
        .and_then(|v| v.into_iter().find(|p| p.label == label))
        .map(|p| p.der)
        .ok_or_else(|| Error::Config(format!("{} holds no {label} PEM block", path.display())))
}

/// File names in the data directory.
pub const ROOT_CERT: &str = "fulcio-root.pem";
pub const INTERMEDIATE_CERT: &str = "fulcio-intermediate.pem";
pub const INTERMEDIATE_KEY: &str = "fulcio-intermediate-key.pem";
pub const ROOT_KEY: &str = "fulcio-root-key.pem";
pub const CT_KEY: &str = "ctlog-key.pem";

impl Ca {
    /// Loads the CA from `dir`, creating root, intermediate and CT key on first use (keys 0600).
    pub fn load_or_create(dir: &Path) -> Result<Ca, Error> {
        sigstore_lite_server::create_private_dir(dir)
            .map_err(|e| Error::Config(format!("cannot create {}: {e}", dir.display())))?;
        let inter_path = dir.join(INTERMEDIATE_CERT);
        let ct_path = dir.join(CT_KEY);
        let files = [
            ROOT_CERT,
            ROOT_KEY,
            INTERMEDIATE_CERT,
            INTERMEDIATE_KEY,
            CT_KEY,
        ];
        let present: Vec<&str> = files
            .iter()
            .copied()
            .filter(|f| dir.join(f).exists())
            .collect();
        if !present.is_empty() && present.len() < files.len() {
            // A start interrupted while creating the CA, or a file lost since: making new keys
            // would silently replace a CA (or CT log) clients may already trust.
            let missing: Vec<&str> = files
                .iter()
                .copied()
                .filter(|f| !present.contains(f))
                .collect();
            return Err(Error::Config(format!(
                "{} holds part of a CA ({} present, {} missing): restore the missing files, or remove the CA files to create a new CA (which clients must then trust anew)",
                dir.display(),
                present.join(", "),
                missing.join(", ")
            )));
        }
        if present.is_empty() {
            let now = SystemTime::now();
            let root_key =
                KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(rcgen_err)?;
            let root_params = ca_params("sigstore-lite root", None, now, 10);
            let root = root_params.self_signed(&root_key).map_err(rcgen_err)?;
            let inter_key =
                KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(rcgen_err)?;
            let mut inter_params = ca_params("sigstore-lite intermediate", Some(0), now, 5);
            inter_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
            inter_params.use_authority_key_identifier_extension = true;
            let inter = inter_params
                .signed_by(&inter_key, &Issuer::new(root_params, &root_key))
                .map_err(rcgen_err)?;
            write_private(&dir.join(ROOT_KEY), &root_key.serialize_pem())?;
            write_private(&dir.join(INTERMEDIATE_KEY), &inter_key.serialize_pem())?;
            write_private(&dir.join(ROOT_CERT), &root.pem())?;
            let ct = Signer::generate_p256().map_err(|e| Error::Internal(e.to_string()))?;
            write_private(&ct_path, &ct.to_pkcs8_pem())?;
            // The intermediate certificate last: its presence marks a complete CA.
            write_private(&inter_path, &inter.pem())?;
        }
        Ca::from_files(
            &dir.join(ROOT_CERT),
            &inter_path,
            &dir.join(INTERMEDIATE_KEY),
            &ct_path,
        )
    }

    /// Loads the CA from PEM files: root certificate, intermediate certificate and its PKCS#8 key
    /// (ECDSA P-256 or P-384), and the CT log's PKCS#8 P-256 key.
    pub fn from_files(
        root: &Path,
        intermediate: &Path,
        intermediate_key: &Path,
        ct_key: &Path,
    ) -> Result<Ca, Error> {
        let root_der = one_pem(&read(root)?, "CERTIFICATE", root)?;
        let intermediate_der = one_pem(&read(intermediate)?, "CERTIFICATE", intermediate)?;
        let key = KeyPair::from_pem(&read(intermediate_key)?)
            .map_err(|e| Error::Config(format!("{}: {e}", intermediate_key.display())))?;
        let ct = Signer::from_pkcs8_pem(&read(ct_key)?)
            .map_err(|e| Error::Config(format!("{}: {e}", ct_key.display())))?;
        let (_, inter) = x509_parser::parse_x509_certificate(&intermediate_der)
            .map_err(|e| Error::Config(format!("{}: {e}", intermediate.display())))?;
        if inter.tbs_certificate.subject_pki.raw != key.subject_public_key_info().as_slice() {
            return Err(Error::Config(format!(
                "{} is not the key of {}",
                intermediate_key.display(),
                intermediate.display()
            )));
        }
        let intermediate_key_hash = sha256(inter.tbs_certificate.subject_pki.raw);
        let tbs_only = TbsOnly {
            raw: key.der_bytes().to_vec(),
            alg: key.algorithm(),
        };
        let der = intermediate_der.clone().into();
        let tbs_issuer = Issuer::from_ca_cert_der(&der, tbs_only).map_err(rcgen_err)?;
        let issuer = Issuer::from_ca_cert_der(&der, key).map_err(rcgen_err)?;
        Ok(Ca {
            root_der,
            intermediate_der,
            issuer,
            tbs_issuer,
            intermediate_key_hash,
            ct,
        })
    }

    pub fn root_der(&self) -> &[u8] {
        &self.root_der
    }

    pub fn intermediate_der(&self) -> &[u8] {
        &self.intermediate_der
    }

    /// The CT log's public key.
    pub fn ct_key(&self) -> &PublicKey {
        self.ct.public_key()
    }

    /// `[intermediate, root]` as PEM.
    pub fn chain_pem(&self) -> Vec<String> {
        vec![
            pem_encode("CERTIFICATE", &self.intermediate_der),
            pem_encode("CERTIFICATE", &self.root_der),
        ]
    }

    /// Issues a leaf for `key` naming `who`, valid from `now` for ten minutes, with one embedded
    /// SCT from the built-in CT log. Returns the leaf DER.
    pub fn issue(
        &self,
        key: &PublicKey,
        who: &Principal,
        now: SystemTime,
    ) -> Result<Vec<u8>, Error> {
        let alg: &'static SignatureAlgorithm = match key.kind() {
            KeyKind::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            KeyKind::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            KeyKind::Ed25519 => &rcgen::PKCS_ED25519,
            KeyKind::Rsa { .. } => &rcgen::PKCS_RSA_SHA256,
            other => {
                return Err(Error::BadPublicKey(format!(
                    "{} keys cannot be certified",
                    other.name()
                )))
            }
        };
        let leaf_key = LeafKey {
            raw: key.raw(),
            alg,
        };
        let mut p = CertificateParams::default();
        p.distinguished_name = DistinguishedName::new();
        p.serial_number = Some(random_serial().into());
        let nb = now
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs();
        p.not_before = to_offset(UNIX_EPOCH + Duration::from_secs(nb));
        p.not_after = to_offset(UNIX_EPOCH + Duration::from_secs(nb) + LEAF_VALIDITY);
        p.is_ca = IsCa::ExplicitNoCa;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
        p.key_identifier_method = KeyIdMethod::Sha256;
        p.use_authority_key_identifier_extension = true;
        let ia5 = |s: &str| {
            s.to_string()
                .try_into()
                .map_err(|_| Error::InvalidIdentity(format!("{s:?} is not ASCII")))
        };
        p.subject_alt_names = vec![match &who.san {
            SanValue::Email(e) => SanType::Rfc822Name(ia5(e)?),
            SanValue::Uri(u) => SanType::URI(ia5(u)?),
            SanValue::Username(u) => {
                SanType::OtherName((oid(7), rcgen::OtherNameValue::Utf8String(u.clone())))
            }
        }];
        let mut exts = vec![
            CustomExtension::from_oid_content(&oid(1), who.issuer.as_bytes().to_vec()),
            CustomExtension::from_oid_content(&oid(8), utf8_der(&who.issuer)),
        ];
        for (n, v) in &who.extensions {
            let content = if sigstore_lite_core::fulcio::is_raw_oid(*n) {
                v.as_bytes().to_vec()
            } else {
                utf8_der(v)
            };
            exts.push(CustomExtension::from_oid_content(&oid(*n), content));
        }
        p.custom_extensions = exts;

        // 1. The TBS without the SCT extension: what the CT log signs (a precertificate entry).
        let unsigned = p
            .signed_by(&leaf_key, &self.tbs_issuer)
            .map_err(rcgen_err)?;
        let (_, parsed) = x509_parser::parse_x509_certificate(unsigned.der())
            .map_err(|e| Error::Internal(format!("re-parsing the TBS: {e}")))?;
        let tbs = parsed.tbs_certificate.as_ref().to_vec();

        // 2. The SCT.
        let timestamp_ms = now
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_millis() as u64;
        let signed = sct::precert_signed_data(timestamp_ms, &self.intermediate_key_hash, &tbs, &[]);
        let s = Sct {
            log_id: self.ct.public_key().key_id(),
            timestamp_ms,
            extensions: Vec::new(),
            hash_alg: 4,
            sig_alg: 3,
            signature: self.ct.sign(&signed),
        };

        // 3. The final certificate: same fields, SCT list appended last.
        p.custom_extensions.push(CustomExtension::from_oid_content(
            &SCT_LIST_OID,
            sct::extension_value(&[s.encode()]),
        ));
        let cert = p.signed_by(&leaf_key, &self.issuer).map_err(rcgen_err)?;
        Ok(cert.der().to_vec())
    }
}
