//! The verification policy: a Sigstore bundle (or the pieces of a cosign image signature) against
//! a trusted root, an identity and an issuer. Pure: every check takes the time it is made at
//! (the log's integrated time), never the clock.
//!
//! Order of checks (as cosign): transparency log entry (SET and/or inclusion proof + signed
//! checkpoint) giving the integrated time; the certificate chain to a trusted CA at that time;
//! the embedded SCT; identity and issuer; the signature over the artifact; the log entry's body
//! against the bundle's signature, certificate and artifact.

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use rustls_pki_types::{CertificateDer, UnixTime};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::bundle::{Bundle, BundleVersion, TlogEntry};
use crate::fulcio::{self, FulcioCert};
use crate::keys::{DigestAlg, KeyKind, PublicKey};
use crate::merkle;
use crate::note::{Checkpoint, SignedNote};
use crate::rekor;
use crate::sct;
use crate::trust::{parse_rfc3339, TimeRange, TrustedRoot};

/// Why verification failed; each names the check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the bundle is not supported: {0}")]
    UnsupportedBundle(String),
    #[error("the bundle is malformed: {0}")]
    Malformed(String),
    #[error("the trusted root is unusable: {0}")]
    BadTrustedRoot(String),
    #[error("the bundle has no transparency log entry")]
    NoTlogEntry,
    #[error("Rekor v2 log entries ({0}, with RFC 3161 timestamps) are not supported yet")]
    RekorV2Unsupported(String),
    #[error("the log entry is from log {0}, which the trusted root does not list")]
    UnknownLog(String),
    #[error("the log key is not valid at the entry's integrated time {0}")]
    LogKeyNotValid(i64),
    #[error(
        "the log entry has no signed entry timestamp (SET), which this bundle version requires"
    )]
    MissingPromise,
    #[error("the log entry has no inclusion proof, which this bundle version requires")]
    MissingProof,
    #[error("the signed entry timestamp (SET) does not verify with the log's key")]
    BadSet,
    #[error("the inclusion proof does not verify: {0}")]
    BadInclusionProof(String),
    #[error("the checkpoint does not verify: {0}")]
    BadCheckpoint(String),
    #[error("the certificate does not chain to a trusted CA at {at}: {reason}")]
    Chain { at: i64, reason: String },
    #[error("the certificate's SCT does not verify: {0}")]
    Sct(String),
    #[error("the certificate identity does not match: expected {expected}, found {found}")]
    IdentityMismatch { expected: String, found: String },
    #[error("the certificate's OIDC issuer does not match: expected {expected}, found {found}")]
    IssuerMismatch { expected: String, found: String },
    #[error("the signature does not verify with the certificate's key")]
    BadSignature,
    #[error("the artifact does not match: {0}")]
    ArtifactMismatch(String),
    #[error("the log entry does not match the bundle: {0}")]
    BodyMismatch(String),
}

/// A string matcher for identities and issuers. Regexps are anchored (full match).
#[derive(Debug, Clone)]
pub enum Matcher {
    Exact(String),
    Regex(regex::Regex, String),
}

impl Matcher {
    pub fn exact(s: &str) -> Matcher {
        Matcher::Exact(s.to_string())
    }

    /// `re` must match the whole value.
    pub fn regex(re: &str) -> Result<Matcher, regex::Error> {
        Ok(Matcher::Regex(
            regex::Regex::new(&format!("^(?:{re})$"))?,
            re.to_string(),
        ))
    }

    pub fn matches(&self, s: &str) -> bool {
        match self {
            Matcher::Exact(e) => e == s,
            Matcher::Regex(r, _) => r.is_match(s),
        }
    }

    fn describe(&self) -> String {
        match self {
            Matcher::Exact(e) => format!("{e:?}"),
            Matcher::Regex(_, r) => format!("a match of /{r}/"),
        }
    }
}

/// Who must have signed.
#[derive(Debug, Clone)]
pub struct Policy {
    pub identity: Matcher,
    pub issuer: Matcher,
}

impl Policy {
    /// Checks a certificate's SANs and issuer; returns the matching SAN and the issuer.
    pub fn check(&self, c: &FulcioCert) -> Result<(String, String), VerifyError> {
        let issuer = c.issuer.clone().unwrap_or_default();
        let found = c
            .sans
            .iter()
            .map(|s| s.value().to_string())
            .collect::<Vec<_>>();
        let Some(identity) = found.iter().find(|s| self.identity.matches(s)) else {
            return Err(VerifyError::IdentityMismatch {
                expected: self.identity.describe(),
                found: format!("{found:?}"),
            });
        };
        if !self.issuer.matches(&issuer) {
            return Err(VerifyError::IssuerMismatch {
                expected: self.issuer.describe(),
                found: format!("{issuer:?}"),
            });
        }
        Ok((identity.clone(), issuer))
    }
}

#[derive(Debug, Clone)]
struct LogKey {
    id: [u8; 32],
    key: PublicKey,
    from: Option<i64>,
    to: Option<i64>,
}

#[derive(Debug, Clone)]
struct CaCerts {
    from: Option<i64>,
    to: Option<i64>,
    /// Parsed once: the root as a trust anchor, the intermediates, and every certificate's
    /// (subject, SPKI) for finding an SCT's issuer.
    anchor: Option<rustls_pki_types::TrustAnchor<'static>>,
    intermediates: Vec<CertificateDer<'static>>,
    names: Vec<(Vec<u8>, Vec<u8>)>,
}

fn subject_and_spki(der: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let (_, x) = x509_parser::parse_x509_certificate(der).ok()?;
    Some((
        x.subject().as_raw().to_vec(),
        x.tbs_certificate.subject_pki.raw.to_vec(),
    ))
}

fn within(from: Option<i64>, to: Option<i64>, t: i64) -> bool {
    from.is_none_or(|f| f <= t) && to.is_none_or(|e| t <= e)
}

fn range(r: Option<&TimeRange>) -> (Option<i64>, Option<i64>) {
    match r {
        Some(r) => (
            r.start.as_deref().and_then(parse_rfc3339),
            r.end.as_deref().and_then(parse_rfc3339),
        ),
        None => (None, None),
    }
}

/// A trusted root, decoded once.
#[derive(Debug, Clone)]
pub struct TrustMaterial {
    tlogs: Vec<LogKey>,
    ctlogs: Vec<LogKey>,
    cas: Vec<CaCerts>,
}

fn b64(s: &str, what: &str) -> Result<Vec<u8>, VerifyError> {
    B64.decode(s)
        .map_err(|_| VerifyError::Malformed(format!("{what} is not base64")))
}

impl TrustMaterial {
    pub fn from_trusted_root(tr: &TrustedRoot) -> Result<TrustMaterial, VerifyError> {
        let bad = |w: String| VerifyError::BadTrustedRoot(w);
        let logs = |v: &[crate::trust::LogInstance]| -> Result<Vec<LogKey>, VerifyError> {
            let mut out = Vec::new();
            for l in v {
                let der = B64
                    .decode(&l.public_key.raw_bytes)
                    .map_err(|_| bad(format!("{}: key is not base64", l.base_url)))?;
                let Ok(key) = PublicKey::from_spki_der(&der) else {
                    continue;
                }; // e.g. key types we do not verify
                let id: [u8; 32] = B64
                    .decode(&l.log_id.key_id)
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| bad(format!("{}: log ID is not 32 bytes", l.base_url)))?;
                let (from, to) = range(l.public_key.valid_for.as_ref());
                out.push(LogKey { id, key, from, to });
            }
            Ok(out)
        };
        let mut cas = Vec::new();
        for ca in &tr.certificate_authorities {
            let certs = ca
                .cert_chain
                .certificates
                .iter()
                .map(|c| {
                    B64.decode(&c.raw_bytes)
                        .map_err(|_| bad(format!("{}: certificate is not base64", ca.uri)))
                })
                .collect::<Result<Vec<_>, _>>()?;
            if certs.is_empty() {
                continue;
            }
            let (from, to) = range(Some(&ca.valid_for));
            let root = CertificateDer::from(certs.last().expect("non-empty").clone());
            let anchor = webpki::anchor_from_trusted_cert(&root)
                .ok()
                .map(|a| a.to_owned());
            let intermediates = certs[..certs.len() - 1]
                .iter()
                .map(|c| CertificateDer::from(c.clone()))
                .collect();
            let names = certs.iter().filter_map(|c| subject_and_spki(c)).collect();
            cas.push(CaCerts {
                from,
                to,
                anchor,
                intermediates,
                names,
            });
        }
        Ok(TrustMaterial {
            tlogs: logs(&tr.tlogs)?,
            ctlogs: logs(&tr.ctlogs)?,
            cas,
        })
    }

    fn tlog(&self, id: &[u8]) -> Option<&LogKey> {
        self.tlogs.iter().find(|l| l.id == id)
    }

    /// Verifies a SET (cosign's `dev.sigstore.cosign/bundle` annotation or a bundle's promise).
    pub fn verify_set(
        &self,
        body_b64: &str,
        integrated_time: i64,
        log_id: &[u8],
        log_index: i64,
        set_b64: &str,
    ) -> Result<(), VerifyError> {
        let log = self
            .tlog(log_id)
            .ok_or_else(|| VerifyError::UnknownLog(hex::encode(log_id)))?;
        if !within(log.from, log.to, integrated_time) {
            return Err(VerifyError::LogKeyNotValid(integrated_time));
        }
        let e = rekor::LogEntry {
            body: body_b64.to_string(),
            integrated_time,
            log_id: hex::encode(log_id),
            log_index: u64::try_from(log_index)
                .map_err(|_| VerifyError::Malformed("negative log index".into()))?,
            verification: rekor::Verification {
                inclusion_proof: None,
                signed_entry_timestamp: set_b64.to_string(),
            },
        };
        rekor::verify_set(&log.key, &e).map_err(|_| VerifyError::BadSet)
    }

    /// Verifies a bundle's log entry; returns the integrated time.
    pub fn verify_tlog_entry(
        &self,
        t: &TlogEntry,
        need_promise: bool,
        need_proof: bool,
    ) -> Result<i64, VerifyError> {
        if t.kind_version.version == "0.0.2" {
            return Err(VerifyError::RekorV2Unsupported(format!(
                "{} {}",
                t.kind_version.kind, t.kind_version.version
            )));
        }
        let log_id = b64(&t.log_id.key_id, "logId")?;
        let log = self
            .tlog(&log_id)
            .ok_or_else(|| VerifyError::UnknownLog(hex::encode(&log_id)))?;
        match &t.inclusion_promise {
            Some(p) => self.verify_set(
                &t.canonicalized_body,
                t.integrated_time,
                &log_id,
                t.log_index,
                &p.signed_entry_timestamp,
            )?,
            None if need_promise => return Err(VerifyError::MissingPromise),
            None => {}
        }
        match &t.inclusion_proof {
            Some(p) => {
                let body = b64(&t.canonicalized_body, "canonicalizedBody")?;
                let leaf = merkle::leaf_hash(&body);
                let root = b64(&p.root_hash, "rootHash")?;
                let hashes = p
                    .hashes
                    .iter()
                    .map(|h| b64(h, "inclusion proof hash"))
                    .collect::<Result<Vec<_>, _>>()?;
                let (idx, size) = (u64::try_from(p.log_index), u64::try_from(p.tree_size));
                let (Ok(idx), Ok(size)) = (idx, size) else {
                    return Err(VerifyError::BadInclusionProof(
                        "negative index or size".into(),
                    ));
                };
                merkle::verify_inclusion(idx, size, &leaf, &hashes, &root)
                    .map_err(|e| VerifyError::BadInclusionProof(e.to_string()))?;
                let note = SignedNote::parse(&p.checkpoint.envelope)
                    .map_err(|e| VerifyError::BadCheckpoint(e.to_string()))?;
                let hint: [u8; 4] = log.key.key_id()[..4].try_into().expect("4 bytes");
                let sig = note
                    .signatures
                    .iter()
                    .find(|s| s.key_hint == hint)
                    .ok_or_else(|| {
                        VerifyError::BadCheckpoint("no signature by the log's key".into())
                    })?;
                log.key
                    .verify_message(note.text.as_bytes(), &sig.signature)
                    .map_err(|_| {
                        VerifyError::BadCheckpoint("the signature does not verify".into())
                    })?;
                let cp = Checkpoint::from_text(&note.text)
                    .map_err(|e| VerifyError::BadCheckpoint(e.to_string()))?;
                if cp.root_hash.as_slice() != root.as_slice() || cp.size != size {
                    return Err(VerifyError::BadCheckpoint(
                        "it does not commit to the proof's root hash and tree size".into(),
                    ));
                }
            }
            None if need_proof => return Err(VerifyError::MissingProof),
            None => {}
        }
        if t.inclusion_promise.is_none() && t.inclusion_proof.is_none() {
            return Err(VerifyError::MissingProof);
        }
        if !within(log.from, log.to, t.integrated_time) {
            return Err(VerifyError::LogKeyNotValid(t.integrated_time));
        }
        Ok(t.integrated_time)
    }

    /// Verifies the leaf's chain to a trusted CA valid at `at` (with extra intermediates, e.g. a
    /// v0.1 bundle's chain), for codeSigning, and its embedded SCT. Returns the decoded leaf.
    pub fn verify_certificate(
        &self,
        leaf: &[u8],
        extra: &[Vec<u8>],
        at: i64,
    ) -> Result<FulcioCert, VerifyError> {
        let cert = fulcio::read(leaf).map_err(|e| VerifyError::Chain {
            at,
            reason: e.to_string(),
        })?;
        let leaf_der = CertificateDer::from(leaf.to_vec());
        let ee = webpki::EndEntityCert::try_from(&leaf_der).map_err(|e| VerifyError::Chain {
            at,
            reason: format!("{e:?}"),
        })?;
        let algs: &[&dyn rustls_pki_types::SignatureVerificationAlgorithm] = &[
            webpki::ring::ECDSA_P256_SHA256,
            webpki::ring::ECDSA_P256_SHA384,
            webpki::ring::ECDSA_P384_SHA256,
            webpki::ring::ECDSA_P384_SHA384,
            webpki::ring::ED25519,
            webpki::ring::RSA_PKCS1_2048_8192_SHA256,
            webpki::ring::RSA_PKCS1_2048_8192_SHA384,
            webpki::ring::RSA_PKCS1_2048_8192_SHA512,
        ];
        const CODE_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];
        let time = UnixTime::since_unix_epoch(std::time::Duration::from_secs(
            u64::try_from(at).unwrap_or(0),
        ));
        let mut last =
            String::from("no certificate authority in the trusted root is valid at that time");
        for ca in self.cas.iter().filter(|c| within(c.from, c.to, at)) {
            let Some(anchor) = ca.anchor.clone() else {
                continue;
            };
            let mut inter = ca.intermediates.clone();
            inter.extend(extra.iter().map(|c| CertificateDer::from(c.clone())));
            match ee.verify_for_usage(
                algs,
                &[anchor],
                &inter,
                time,
                webpki::KeyUsage::required(CODE_SIGNING),
                None,
                None,
            ) {
                Ok(_) => {
                    let extra_names: Vec<_> =
                        extra.iter().filter_map(|c| subject_and_spki(c)).collect();
                    self.verify_sct(leaf, &cert.issuer_dn, ca.names.iter().chain(&extra_names))?;
                    return Ok(cert);
                }
                Err(e) => last = format!("{e:?}"),
            }
        }
        Err(VerifyError::Chain { at, reason: last })
    }

    fn verify_sct<'a>(
        &self,
        leaf: &[u8],
        issuer_name: &[u8],
        mut names: impl Iterator<Item = &'a (Vec<u8>, Vec<u8>)>,
    ) -> Result<(), VerifyError> {
        let issuer_spki = names
            .find(|(subject, _)| subject.as_slice() == issuer_name)
            .map(|(_, spki)| spki.clone())
            .ok_or_else(|| VerifyError::Sct("the issuing certificate is not known".into()))?;
        let ikh: [u8; 32] = Sha256::digest(&issuer_spki).into();
        let (tbs, scts) =
            sct::tbs_without_sct(leaf).map_err(|e| VerifyError::Sct(e.to_string()))?;
        for s in &scts {
            let Some(log) = self.ctlogs.iter().find(|l| l.id == s.log_id) else {
                continue;
            };
            let signed = sct::precert_signed_data(s.timestamp_ms, &ikh, &tbs, &s.extensions);
            if log.key.verify_message(&signed, &s.signature).is_ok()
                && within(log.from, log.to, (s.timestamp_ms / 1000) as i64)
            {
                return Ok(());
            }
        }
        Err(VerifyError::Sct(format!(
            "none of the {} embedded SCTs is from a trusted CT log and verifies",
            scts.len()
        )))
    }
}

/// What was signed: the bytes, or only their SHA-256.
#[derive(Debug, Clone, Copy)]
pub enum Artifact<'a> {
    Bytes(&'a [u8]),
    Sha256([u8; 32]),
}

impl Artifact<'_> {
    pub fn sha256(&self) -> [u8; 32] {
        match self {
            Artifact::Bytes(b) => Sha256::digest(b).into(),
            Artifact::Sha256(d) => *d,
        }
    }
}

/// A successful verification.
#[derive(Debug, Clone)]
pub struct Verified {
    pub integrated_time: i64,
    pub log_index: i64,
    pub identity: String,
    pub issuer: String,
    pub cert: FulcioCert,
    /// For DSSE bundles: the in-toto statement.
    pub statement: Option<Value>,
}

fn pem_der_of_b64(s: &str) -> Option<Vec<u8>> {
    let pem = String::from_utf8(B64.decode(s).ok()?).ok()?;
    Some(
        crate::keys::pem_parse_all(&pem)
            .ok()?
            .into_iter()
            .next()?
            .der,
    )
}

/// Checks the signature over the artifact with `key`, and, given the log
/// entry, that its body names this signature, `verifier_der` (the certificate or SPKI DER) and
/// artifact. Returns the in-toto statement of a DSSE bundle.
fn check_content(
    b: &Bundle,
    t: Option<&TlogEntry>,
    artifact: Artifact<'_>,
    key: &PublicKey,
    verifier_der: &[u8],
) -> Result<Option<Value>, VerifyError> {
    let digest = artifact.sha256();
    let body: Value = match t {
        Some(t) => serde_json::from_slice(&b64(&t.canonicalized_body, "canonicalizedBody")?)
            .map_err(|_| VerifyError::Malformed("the log entry body is not JSON".into()))?,
        None => Value::Null,
    };
    let statement = match (&b.message_signature, &b.dsse_envelope) {
        (Some(ms), None) => {
            if let Some(md) = &ms.message_digest {
                if md.algorithm != "SHA2_256" || b64(&md.digest, "messageDigest")? != digest {
                    return Err(VerifyError::ArtifactMismatch(
                        "its SHA-256 is not the bundle's message digest".into(),
                    ));
                }
            }
            let sig = b64(&ms.signature, "signature")?;
            // With the bytes, ring checks the signature over them; with only the digest, it has
            // to be the (slower) prehash verifier.
            match artifact {
                Artifact::Bytes(m) => key.verify_message_sha256(m, &sig),
                Artifact::Sha256(_) => key.verify_prehashed(DigestAlg::Sha256, &digest, &sig),
            }
            .map_err(|_| VerifyError::BadSignature)?;
            if let Some(t) = t {
                if (t.kind_version.kind.as_str(), body["kind"].as_str())
                    != ("hashedrekord", Some("hashedrekord"))
                {
                    return Err(VerifyError::BodyMismatch(format!(
                        "a message signature needs a hashedrekord entry, not {}",
                        t.kind_version.kind
                    )));
                }
                let spec = &body["spec"];
                if spec["data"]["hash"]["algorithm"] != "sha256"
                    || spec["data"]["hash"]["value"]
                        .as_str()
                        .map(str::to_ascii_lowercase)
                        != Some(hex::encode(digest))
                {
                    return Err(VerifyError::BodyMismatch(
                        "the logged digest is not the artifact's".into(),
                    ));
                }
                if spec["signature"]["content"]
                    .as_str()
                    .and_then(|s| B64.decode(s).ok())
                    != Some(sig.clone())
                {
                    return Err(VerifyError::BodyMismatch(
                        "the logged signature is not the bundle's".into(),
                    ));
                }
                if spec["signature"]["publicKey"]["content"]
                    .as_str()
                    .and_then(pem_der_of_b64)
                    != Some(verifier_der.to_vec())
                {
                    return Err(VerifyError::BodyMismatch(
                        "the logged certificate is not the bundle's".into(),
                    ));
                }
            }
            None
        }
        (None, Some(env)) => {
            let [s] = env.signatures.as_slice() else {
                return Err(VerifyError::Malformed(
                    "a DSSE envelope in a bundle has exactly one signature".into(),
                ));
            };
            let payload = b64(&env.payload, "payload")?;
            let sig = b64(&s.sig, "envelope signature")?;
            let pae = rekor::pae(&env.payload_type, &payload);
            let ok = match key.kind() {
                KeyKind::EcdsaP256
                | KeyKind::EcdsaP384
                | KeyKind::Ed25519
                | KeyKind::Rsa { .. } => key.verify_message(&pae, &sig),
            };
            ok.map_err(|_| VerifyError::BadSignature)?;
            let st: Value = serde_json::from_slice(&payload)
                .map_err(|_| VerifyError::Malformed("the DSSE payload is not JSON".into()))?;
            let hexd = hex::encode(digest);
            let subjects = st["subject"].as_array().cloned().unwrap_or_default();
            if !subjects.iter().any(|s| {
                s["digest"]["sha256"].as_str().map(str::to_ascii_lowercase) == Some(hexd.clone())
            }) {
                return Err(VerifyError::ArtifactMismatch(
                    "it is not a subject of the in-toto statement".into(),
                ));
            }
            if let Some(t) = t {
                if (t.kind_version.kind.as_str(), body["kind"].as_str()) != ("dsse", Some("dsse")) {
                    return Err(VerifyError::BodyMismatch(format!(
                        "a DSSE envelope needs a dsse entry, not {}",
                        t.kind_version.kind
                    )));
                }
                let spec = &body["spec"];
                if spec["payloadHash"]["value"].as_str()
                    != Some(hex::encode(Sha256::digest(&payload)).as_str())
                {
                    return Err(VerifyError::BodyMismatch(
                        "the logged payload hash is not the envelope's".into(),
                    ));
                }
                let logged = spec["signatures"].as_array().cloned().unwrap_or_default();
                let matches = logged.len() == 1
                    && logged[0]["signature"]
                        .as_str()
                        .and_then(|s| B64.decode(s).ok())
                        == Some(sig.clone())
                    && logged[0]["verifier"].as_str().and_then(pem_der_of_b64)
                        == Some(verifier_der.to_vec());
                if !matches {
                    return Err(VerifyError::BodyMismatch(
                        "the logged signature or verifier is not the bundle's".into(),
                    ));
                }
            }
            Some(st)
        }
        _ => {
            return Err(VerifyError::Malformed(
                "a bundle has exactly one of messageSignature or dsseEnvelope".into(),
            ))
        }
    };
    Ok(statement)
}

/// Verifies a bundle against a trust root, an artifact and a policy.
pub fn verify_bundle(
    b: &Bundle,
    artifact: Artifact<'_>,
    tm: &TrustMaterial,
    policy: &Policy,
) -> Result<Verified, VerifyError> {
    let version = b
        .version()
        .ok_or_else(|| VerifyError::UnsupportedBundle(format!("media type {:?}", b.media_type)))?;
    let vm = &b.verification_material;
    let (leaf, extra): (Vec<u8>, Vec<Vec<u8>>) = match (&vm.certificate, &vm.x509_certificate_chain)
    {
        (Some(c), None) => (b64(&c.raw_bytes, "certificate")?, Vec::new()),
        (None, Some(chain)) if version < BundleVersion::V03 && !chain.certificates.is_empty() => {
            let all = chain
                .certificates
                .iter()
                .map(|c| b64(&c.raw_bytes, "certificate"))
                .collect::<Result<Vec<_>, _>>()?;
            (all[0].clone(), all[1..].to_vec())
        }
        (None, Some(_)) => {
            return Err(VerifyError::UnsupportedBundle(
                "v0.3 bundles carry a single certificate, not a chain".into(),
            ))
        }
        _ => {
            return Err(VerifyError::UnsupportedBundle(
                "only certificate (keyless) bundles are supported here".into(),
            ))
        }
    };
    let [t] = vm.tlog_entries.as_slice() else {
        return Err(if vm.tlog_entries.is_empty() {
            VerifyError::NoTlogEntry
        } else {
            VerifyError::Malformed("more than one log entry".into())
        });
    };
    // 1. The log entry and its integrated time.
    let at = tm.verify_tlog_entry(
        t,
        version == BundleVersion::V01,
        version >= BundleVersion::V02,
    )?;
    // 2-3. Chain at that time, SCT.
    let cert = tm.verify_certificate(&leaf, &extra, at)?;
    // 4. Identity and issuer.
    let (identity, issuer) = policy.check(&cert)?;
    // 5. Signature over the artifact, and 6. the log body against it.
    let statement = check_content(b, Some(t), artifact, &cert.key, &leaf)?;
    Ok(Verified {
        integrated_time: at,
        log_index: t.log_index,
        identity,
        issuer,
        cert,
        statement,
    })
}

/// Verifies a bundle signed with a plain key (cosign's key-pair mode): its log entry if it has
/// one (required when `require_tlog`), the signature by `key`, and the logged body. Returns the
/// integrated time, if logged.
pub fn verify_bundle_with_key(
    b: &Bundle,
    artifact: Artifact<'_>,
    tm: &TrustMaterial,
    key: &PublicKey,
    require_tlog: bool,
) -> Result<Option<i64>, VerifyError> {
    let version = b
        .version()
        .ok_or_else(|| VerifyError::UnsupportedBundle(format!("media type {:?}", b.media_type)))?;
    let t = match b.verification_material.tlog_entries.as_slice() {
        [] if require_tlog => return Err(VerifyError::NoTlogEntry),
        [] => None,
        [t] => Some(t),
        _ => return Err(VerifyError::Malformed("more than one log entry".into())),
    };
    let at = match t {
        Some(t) => Some(tm.verify_tlog_entry(
            t,
            version == BundleVersion::V01,
            version >= BundleVersion::V02,
        )?),
        None => None,
    };
    check_content(b, t, artifact, key, key.spki_der())?;
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vectors(f: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/../../shared/vectors/sigstore/{f}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    fn staging() -> (Bundle, TrustMaterial, Vec<u8>) {
        let b: Bundle = serde_json::from_slice(&vectors("bundle_v3.txt.sigstore")).unwrap();
        let tr: TrustedRoot =
            serde_json::from_slice(&vectors("staging_trusted_root.json")).unwrap();
        (
            b,
            TrustMaterial::from_trusted_root(&tr).unwrap(),
            vectors("bundle_v3.txt"),
        )
    }

    fn policy(id: &str, iss: &str) -> Policy {
        Policy {
            identity: Matcher::exact(id),
            issuer: Matcher::exact(iss),
        }
    }

    #[test]
    fn public_good_staging_bundle_verifies_and_only_for_its_identity() {
        let (b, tm, artifact) = staging();
        let good = policy("william@yossarian.net", "https://github.com/login/oauth");
        let v = verify_bundle(&b, Artifact::Bytes(&artifact), &tm, &good).unwrap();
        assert_eq!(v.integrated_time, 1712085549);
        assert_eq!(v.identity, "william@yossarian.net");
        assert!(matches!(
            verify_bundle(
                &b,
                Artifact::Bytes(&artifact),
                &tm,
                &policy("x@yossarian.net", "https://github.com/login/oauth")
            ),
            Err(VerifyError::IdentityMismatch { .. })
        ));
        assert!(matches!(
            verify_bundle(
                &b,
                Artifact::Bytes(&artifact),
                &tm,
                &policy("william@yossarian.net", "https://accounts.google.com")
            ),
            Err(VerifyError::IssuerMismatch { .. })
        ));
        assert!(matches!(
            verify_bundle(&b, Artifact::Bytes(b"other"), &tm, &good),
            Err(VerifyError::BadSignature | VerifyError::ArtifactMismatch(_))
        ));
        // Anchored regexps.
        let re = Policy {
            identity: Matcher::regex("william@.*").unwrap(),
            issuer: Matcher::regex("https://github\\.com/.*").unwrap(),
        };
        assert!(verify_bundle(&b, Artifact::Bytes(&artifact), &tm, &re).is_ok());
        let unanchored = Policy {
            identity: Matcher::regex("william").unwrap(),
            issuer: Matcher::exact("https://github.com/login/oauth"),
        };
        assert!(matches!(
            verify_bundle(&b, Artifact::Bytes(&artifact), &tm, &unanchored),
            Err(VerifyError::IdentityMismatch { .. })
        ));
        // The production root does not trust it.
        let prod: TrustedRoot = serde_json::from_slice(&vectors("prod_trusted_root.json")).unwrap();
        assert!(verify_bundle(
            &b,
            Artifact::Bytes(&artifact),
            &TrustMaterial::from_trusted_root(&prod).unwrap(),
            &good
        )
        .is_err());
    }

    #[test]
    fn modified_bundles_are_refused() {
        let (b, tm, artifact) = staging();
        let good = policy("william@yossarian.net", "https://github.com/login/oauth");
        let t = |f: &dyn Fn(&mut Bundle)| {
            let mut m = b.clone();
            f(&mut m);
            verify_bundle(&m, Artifact::Bytes(&artifact), &tm, &good).map(|_| ())
        };
        assert_eq!(
            t(&|m| m.verification_material.tlog_entries[0].integrated_time += 1),
            Err(VerifyError::BadSet)
        );
        assert_eq!(
            t(&|m| m.verification_material.tlog_entries[0].log_index += 1),
            Err(VerifyError::BadSet)
        );
        assert!(matches!(
            t(&|m| {
                m.verification_material.tlog_entries[0].inclusion_promise = None;
                m.verification_material.tlog_entries[0]
                    .inclusion_proof
                    .as_mut()
                    .unwrap()
                    .hashes[0] = B64.encode([0u8; 32]);
            }),
            Err(VerifyError::BadInclusionProof(_))
        ));
        assert!(matches!(
            t(&|m| {
                m.verification_material.tlog_entries[0].inclusion_promise = None;
                let p = m.verification_material.tlog_entries[0]
                    .inclusion_proof
                    .as_mut()
                    .unwrap();
                p.checkpoint.envelope = p.checkpoint.envelope.replacen("25901138", "25901139", 1);
            }),
            Err(VerifyError::BadCheckpoint(_))
        ));
        assert_eq!(
            t(&|m| {
                let s = m.message_signature.as_mut().unwrap();
                let mut raw = B64.decode(&s.signature).unwrap();
                let n = raw.len();
                raw[n - 3] ^= 1;
                s.signature = B64.encode(raw);
            }),
            Err(VerifyError::BadSignature)
        );
        assert!(matches!(
            t(&|m| {
                let c = m.verification_material.certificate.as_mut().unwrap();
                let mut raw = B64.decode(&c.raw_bytes).unwrap();
                let n = raw.len();
                raw[n - 10] ^= 1;
                c.raw_bytes = B64.encode(raw);
            }),
            Err(VerifyError::Chain { .. })
        ));
        assert!(matches!(
            t(&|m| m.media_type = "application/json".into()),
            Err(VerifyError::UnsupportedBundle(_))
        ));
    }

    #[test]
    fn older_bundle_versions_verify_with_their_own_rules() {
        let (b, tm, artifact) = staging();
        let good = policy("william@yossarian.net", "https://github.com/login/oauth");
        let leaf = b.verification_material.certificate.clone().unwrap();
        let as_version = |media: &str| {
            let mut m = b.clone();
            m.media_type = media.into();
            m.verification_material.certificate = None;
            m.verification_material.x509_certificate_chain = Some(crate::trust::CertChain {
                certificates: vec![leaf.clone()],
            });
            m
        };
        // v0.2: a chain, and an inclusion proof is required.
        let v02 = as_version(crate::bundle::MEDIA_TYPE_V02);
        verify_bundle(&v02, Artifact::Bytes(&artifact), &tm, &good).unwrap();
        let mut no_proof = v02.clone();
        no_proof.verification_material.tlog_entries[0].inclusion_proof = None;
        assert!(matches!(
            verify_bundle(&no_proof, Artifact::Bytes(&artifact), &tm, &good),
            Err(VerifyError::MissingProof)
        ));
        // v0.1: an inclusion promise (SET) is required, a proof is not.
        let mut v01 = as_version(crate::bundle::MEDIA_TYPE_V01);
        v01.verification_material.tlog_entries[0].inclusion_proof = None;
        verify_bundle(&v01, Artifact::Bytes(&artifact), &tm, &good).unwrap();
        v01.verification_material.tlog_entries[0].inclusion_promise = None;
        assert!(verify_bundle(&v01, Artifact::Bytes(&artifact), &tm, &good).is_err());
        // v0.3 must not carry a chain.
        let mut v03_chain = as_version(crate::bundle::MEDIA_TYPE_V03);
        v03_chain.media_type = crate::bundle::MEDIA_TYPE_V03.into();
        assert!(matches!(
            verify_bundle(&v03_chain, Artifact::Bytes(&artifact), &tm, &good),
            Err(VerifyError::UnsupportedBundle(_))
        ));
    }

    #[test]
    fn certificates_are_checked_at_the_time_given() {
        let (b, tm, _) = staging();
        let leaf = B64
            .decode(
                &b.verification_material
                    .certificate
                    .as_ref()
                    .unwrap()
                    .raw_bytes,
            )
            .unwrap();
        let c = fulcio::read(&leaf).unwrap();
        // Valid at the log's integrated time, within the 10 minutes.
        assert!(tm.verify_certificate(&leaf, &[], 1712085549).is_ok());
        // Used after expiry (e.g. with its SET removed, so "now" is all there is): refused.
        let late = tm
            .verify_certificate(&leaf, &[], c.not_after + 1)
            .unwrap_err();
        assert!(late.to_string().contains("CertExpired"), "{late}");
        // And before it existed.
        assert!(tm
            .verify_certificate(&leaf, &[], c.not_before - 3600)
            .is_err());
    }

    #[test]
    fn rekor_v2_bundles_are_refused_as_unsupported() {
        let b: Bundle =
            serde_json::from_slice(&vectors("staging-rekor-v2.txt.sigstore.json")).unwrap();
        let tr: TrustedRoot =
            serde_json::from_slice(&vectors("staging_trusted_root.json")).unwrap();
        let tm = TrustMaterial::from_trusted_root(&tr).unwrap();
        let r = verify_bundle(
            &b,
            Artifact::Bytes(&vectors("staging-rekor-v2.txt")),
            &tm,
            &policy("jku@goto.fi", "https://github.com/login/oauth"),
        );
        assert!(
            matches!(r, Err(VerifyError::RekorV2Unsupported(_))),
            "{r:?}"
        );
        assert!(r.unwrap_err().to_string().contains("not supported"));
    }
}
