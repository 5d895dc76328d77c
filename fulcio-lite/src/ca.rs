//! The CA: an ECDSA P-256 root and intermediate, the built-in CT log key, and leaf issuance with
//! an embedded precertificate SCT.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyUsagePurpose, PublicKeyData, SanType,
    SignatureAlgorithm, SigningKey,
};
use sigstore_lite_core::keys::{
    pem_encode, pem_parse_all, random_bytes, sha256, KeyKind, PublicKey, SignError, Signer,
};
use sigstore_lite_core::sct::{self, Sct};
use sigstore_lite_signer::{CertSigner, KeyRef};

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
    issuer: Issuer<'static, CertSigner>,
    tbs_issuer: Issuer<'static, TbsOnly>,
    intermediate_key_hash: [u8; 32],
    ct: Arc<dyn Signer>,
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

/// Where the CA's keys are. Nothing named: keys in files of the data directory.
#[derive(Debug, Clone, Default)]
pub struct CaKeys {
    /// The key that signs leaf certificates (a file, `pkcs11:` URI or `<scheme>://` KMS key).
    pub ca_key: Option<KeyRef>,
    /// With `ca_key` and no `ca_cert`: the key of the root certificate made on first start
    /// (default: a root key made in memory, used once to sign the CA certificate, forgotten).
    pub root_key: Option<KeyRef>,
    /// With `ca_key`: its certificate chain (PEM, issuer first: its certificate, then the root).
    pub ca_cert: Option<PathBuf>,
    /// The CT log's key (default: `<data dir>/ctlog-key.pem`, made on first start).
    pub ct_key: Option<KeyRef>,
    /// Make keys named in a token or KMS when they are missing (non-extractable).
    pub create: bool,
}

/// Opens a key, made when missing only if `create` (the data directory's own files, or keys
/// named with --create-keys): a mistyped path or label never becomes a new key.
fn open_key(r: &KeyRef, create: bool, what: &str) -> Result<Arc<dyn Signer>, Error> {
    sigstore_lite_signer::open_or_generate(r, KeyKind::EcdsaP256, create)
        .map_err(|e| Error::Config(format!("{what}: {e}")))
}

/// A root certificate (self-signed by `root`) and the CA certificate for `ca` it signs, PEM.
fn make_chain(root: Arc<dyn Signer>, ca: Arc<dyn Signer>) -> Result<(String, String), Error> {
    let now = SystemTime::now();
    let root = CertSigner::new(root).map_err(Error::Config)?;
    let ca = CertSigner::new(ca).map_err(Error::Config)?;
    let key_err = |e: rcgen::Error, k: &CertSigner| match k.take_error() {
        Some(why) => Error::Config(format!("signing the CA certificates: {why}")),
        None => rcgen_err(e),
    };
    let root_params = ca_params("sigstore-lite root", None, now, 10);
    let root_cert = root_params
        .self_signed(&root)
        .map_err(|e| key_err(e, &root))?;
    let mut inter_params = ca_params("sigstore-lite intermediate", Some(0), now, 5);
    inter_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
    inter_params.use_authority_key_identifier_extension = true;
    let inter = inter_params
        .signed_by(&ca, &Issuer::new(root_params, &root))
        .map_err(|e| key_err(e, &root))?;
    Ok((root_cert.pem(), inter.pem()))
}

/// File names in the data directory.
pub const ROOT_CERT: &str = "fulcio-root.pem";
pub const INTERMEDIATE_CERT: &str = "fulcio-intermediate.pem";
pub const INTERMEDIATE_KEY: &str = "fulcio-intermediate-key.pem";
pub const ROOT_KEY: &str = "fulcio-root-key.pem";
pub const CT_KEY: &str = "ctlog-key.pem";

impl Ca {
    /// Opens the CA as `keys` says: keys in files of `dir` (made on first use, 0600) when no
    /// `ca_key` is named; otherwise the leaf-signing key where `ca_key` points (a file, a
    /// PKCS#11 token or a KMS plugin), with its certificates in `dir` (made on first start, as
    /// Fulcio's `createca` does for an HSM key) or given by `ca_cert`.
    pub fn open(dir: &Path, keys: &CaKeys) -> Result<Ca, Error> {
        sigstore_lite_server::create_private_dir(dir)
            .map_err(|e| Error::Config(format!("cannot create {}: {e}", dir.display())))?;
        let Some(ca_ref) = &keys.ca_key else {
            return Self::load_or_create(dir, keys);
        };
        let ca = open_key(ca_ref, keys.create, "the CA key")?;
        let ct = match &keys.ct_key {
            Some(r) => open_key(r, keys.create, "the CT log key")?,
            None => open_key(&KeyRef::File(dir.join(CT_KEY)), true, "the CT log key")?,
        };
        let (root_der, intermediate_der) = match &keys.ca_cert {
            Some(chain) => {
                let certs: Vec<Vec<u8>> = pem_parse_all(&read(chain)?)
                    .map_err(|e| Error::Config(format!("{}: {e}", chain.display())))?
                    .into_iter()
                    .filter(|p| p.label == "CERTIFICATE")
                    .map(|p| p.der)
                    .collect();
                match &certs[..] {
                    [inter, root] => (root.clone(), inter.clone()),
                    _ => {
                        return Err(Error::Config(format!(
                            "{} must hold the CA's certificate chain, issuer first: the certificate of --ca-key, then its root ({} certificates found)",
                            chain.display(),
                            certs.len()
                        )))
                    }
                }
            }
            None => {
                let (root_path, inter_path) = (dir.join(ROOT_CERT), dir.join(INTERMEDIATE_CERT));
                if !inter_path.exists() {
                    let root = match &keys.root_key {
                        Some(r) => open_key(r, keys.create, "the root key")?,
                        // Used once to sign the intermediate certificate, then forgotten: no
                        // root key exists anywhere to sign another.
                        None => sigstore_lite_signer::from_pem(
                            &sigstore_lite_signer::generate_pem(KeyKind::EcdsaP256)
                                .map_err(Error::Internal)?,
                        )
                        .map_err(Error::Internal)?,
                    };
                    let (root_cert, inter_cert) = make_chain(root, ca.clone())?;
                    // A root certificate without the CA certificate is a first start that
                    // stopped half way: nothing trusts it yet, so it is made anew.
                    if root_path.exists() {
                        std::fs::remove_file(&root_path).map_err(|e| {
                            Error::Config(format!("cannot replace {}: {e}", root_path.display()))
                        })?;
                    }
                    write_private(&root_path, &root_cert)?;
                    // The intermediate certificate last: its presence marks a complete CA.
                    write_private(&inter_path, &inter_cert)?;
                }
                (
                    one_pem(&read(&root_path)?, "CERTIFICATE", &root_path)?,
                    one_pem(&read(&inter_path)?, "CERTIFICATE", &inter_path)?,
                )
            }
        };
        Self::assemble(root_der, intermediate_der, ca, ct, &ca_ref.to_string())
    }

    /// The CA in files of `dir`, made on first use.
    fn load_or_create(dir: &Path, keys: &CaKeys) -> Result<Ca, Error> {
        let inter_path = dir.join(INTERMEDIATE_CERT);
        let ct_path = dir.join(CT_KEY);
        let mut files = vec![ROOT_CERT, ROOT_KEY, INTERMEDIATE_CERT, INTERMEDIATE_KEY];
        if keys.ct_key.is_none() {
            files.push(CT_KEY);
        }
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
            let root_key = open_key(&KeyRef::File(dir.join(ROOT_KEY)), true, "the root key")?;
            let inter_key = open_key(
                &KeyRef::File(dir.join(INTERMEDIATE_KEY)),
                true,
                "the CA key",
            )?;
            let (root, inter) = make_chain(root_key, inter_key)?;
            write_private(&dir.join(ROOT_CERT), &root)?;
            if keys.ct_key.is_none() {
                open_key(&KeyRef::File(ct_path.clone()), true, "the CT log key")?;
            }
            // The intermediate certificate last: its presence marks a complete CA.
            write_private(&inter_path, &inter)?;
        }
        let ct = match &keys.ct_key {
            Some(r) => open_key(r, keys.create, "the CT log key")?,
            None => open_key(&KeyRef::File(ct_path), false, "the CT log key")?,
        };
        let root_path = dir.join(ROOT_CERT);
        let ca_key = dir.join(INTERMEDIATE_KEY);
        Self::assemble(
            one_pem(&read(&root_path)?, "CERTIFICATE", &root_path)?,
            one_pem(&read(&inter_path)?, "CERTIFICATE", &inter_path)?,
            open_key(&KeyRef::File(ca_key.clone()), false, "the CA key")?,
            ct,
            &ca_key.display().to_string(),
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
        Self::assemble(
            one_pem(&read(root)?, "CERTIFICATE", root)?,
            one_pem(&read(intermediate)?, "CERTIFICATE", intermediate)?,
            open_key(&KeyRef::File(intermediate_key.into()), false, "the CA key")?,
            open_key(&KeyRef::File(ct_key.into()), false, "the CT log key")?,
            &intermediate_key.display().to_string(),
        )
    }

    fn assemble(
        root_der: Vec<u8>,
        intermediate_der: Vec<u8>,
        key: Arc<dyn Signer>,
        ct: Arc<dyn Signer>,
        key_name: &str,
    ) -> Result<Ca, Error> {
        let (_, inter) = x509_parser::parse_x509_certificate(&intermediate_der)
            .map_err(|e| Error::Config(format!("the CA certificate: {e}")))?;
        if inter.tbs_certificate.subject_pki.raw != key.public_key().spki_der() {
            return Err(Error::Config(format!(
                "{key_name} is not the key of the CA certificate"
            )));
        }
        if ct.public_key().kind() != KeyKind::EcdsaP256 {
            return Err(Error::Config(
                "the CT log key must be ECDSA P-256 (SCTs are signed with it)".into(),
            ));
        }
        let intermediate_key_hash = sha256(inter.tbs_certificate.subject_pki.raw);
        let signer = CertSigner::new(key).map_err(Error::Config)?;
        let tbs_only = TbsOnly {
            raw: signer.der_bytes().to_vec(),
            alg: signer.algorithm(),
        };
        let der = intermediate_der.clone().into();
        let tbs_issuer = Issuer::from_ca_cert_der(&der, tbs_only).map_err(rcgen_err)?;
        let issuer = Issuer::from_ca_cert_der(&der, signer).map_err(rcgen_err)?;
        Ok(Ca {
            root_der,
            intermediate_der,
            issuer,
            tbs_issuer,
            intermediate_key_hash,
            ct,
        })
    }

    /// Whether the CA and CT keys can sign now (/healthz).
    pub fn probe(&self) -> Result<(), SignError> {
        self.issuer.key().signer().probe()?;
        self.ct.probe()
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
            signature: self
                .ct
                .try_sign(&signed)
                .map_err(|e| Error::KeyUnavailable(e.to_string()))?,
        };

        // 3. The final certificate: same fields, SCT list appended last.
        p.custom_extensions.push(CustomExtension::from_oid_content(
            &SCT_LIST_OID,
            sct::extension_value(&[s.encode()]),
        ));
        let cert = p.signed_by(&leaf_key, &self.issuer).map_err(|e| {
            match self.issuer.key().take_error() {
                Some(why) => Error::KeyUnavailable(why.to_string()),
                None => rcgen_err(e),
            }
        })?;
        Ok(cert.der().to_vec())
    }
}
