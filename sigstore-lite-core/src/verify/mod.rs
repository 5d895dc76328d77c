//! The verification policy: a Sigstore bundle (or the pieces of a cosign image signature) against
//! a trusted root, an identity and an issuer. Pure: every check takes the time it is made at
//! (the log's integrated time), never the clock.
//!
//! Order of checks (as cosign): transparency log entry (SET and/or inclusion proof + signed
//! checkpoint) giving the integrated time ([`tlog`]); the certificate chain to a trusted CA at
//! that time and the embedded SCT ([`cert`]); identity and issuer ([`policy`]); the signature
//! over the artifact and the log entry's body against it ([`content`]).

mod cert;
pub mod content;
mod error;
mod material;
mod policy;
pub mod tlog;

pub use crate::trust::host_of;
pub use content::Artifact;
pub use error::{
    ArtifactMismatch, BodyMismatch, ChainError, CheckpointError, SctFailure, Unsupported,
    VerifyError,
};
pub use material::TrustMaterial;
pub use policy::{Matcher, Policy};
pub use tlog::LoggedEntry;

use crate::bundle::{Bundle, BundleVersion};
use crate::dsse::Statement;
use crate::fulcio::FulcioCert;
use crate::keys::PublicKey;
use crate::rekor::{Entry, Verifier};

use tlog::b64;

/// A successful verification.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The log's integrated time (Rekor v1 entries).
    pub integrated_time: Option<i64>,
    /// genTimes of the bundle's verified RFC 3161 timestamps.
    pub timestamps: Vec<i64>,
    pub log_index: i64,
    pub identity: String,
    pub issuer: String,
    pub cert: FulcioCert,
    /// For DSSE bundles: the in-toto statement.
    pub statement: Option<Statement>,
}

impl Verified {
    /// The earliest verified time.
    pub fn time(&self) -> i64 {
        self.integrated_time
            .into_iter()
            .chain(self.timestamps.iter().copied())
            .min()
            .unwrap_or(0)
    }
}

fn bundle_version(b: &Bundle) -> Result<BundleVersion, VerifyError> {
    b.version()
        .ok_or_else(|| VerifyError::UnsupportedBundle(Unsupported::MediaType(b.media_type.clone())))
}

/// The leaf certificate and any extra chain certificates of a keyless bundle.
fn leaf_and_chain(
    b: &Bundle,
    version: BundleVersion,
) -> Result<(Vec<u8>, Vec<Vec<u8>>), VerifyError> {
    let vm = &b.verification_material;
    match (&vm.certificate, &vm.x509_certificate_chain) {
        (Some(c), None) => Ok((
            b64(&c.raw_bytes, "the certificate is not base64")?,
            Vec::new(),
        )),
        (None, Some(chain)) if version < BundleVersion::V03 && !chain.certificates.is_empty() => {
            let all = chain
                .certificates
                .iter()
                .map(|c| b64(&c.raw_bytes, "a chain certificate is not base64"))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((all[0].clone(), all[1..].to_vec()))
        }
        (None, Some(_)) => Err(VerifyError::UnsupportedBundle(Unsupported::ChainInV03)),
        _ => Err(VerifyError::UnsupportedBundle(Unsupported::NotKeyless)),
    }
}

/// What the log and the timestamps established about a bundle.
struct Logged {
    /// The verified v1 entry body (v2 bodies are rebuilt, so none is kept).
    entry: Option<Entry>,
    log_index: i64,
    integrated_time: Option<i64>,
    timestamps: Vec<i64>,
}

impl Logged {
    fn times(&self) -> Vec<i64> {
        self.integrated_time
            .into_iter()
            .chain(self.timestamps.iter().copied())
            .collect()
    }
}

/// What [`check_log_and_time`] needs to know about who signed and what is required.
struct Signed<'a> {
    verifier: Verifier,
    key: &'a PublicKey,
    require_tlog: bool,
    /// At least one verified time must result (keyless: the certificate is checked at it).
    require_time: bool,
}

/// The transparency-log entry (v1: SET and/or proof; v2: proof of the rebuilt body) and the RFC
/// 3161 timestamps of a bundle.
fn check_log_and_time(
    b: &Bundle,
    version: BundleVersion,
    artifact: Artifact<'_>,
    tm: &TrustMaterial,
    who: Signed<'_>,
) -> Result<Logged, VerifyError> {
    let Signed {
        verifier,
        key,
        require_tlog,
        require_time,
    } = who;
    let t = match b.verification_material.tlog_entries.as_slice() {
        [] if require_tlog => return Err(VerifyError::NoTlogEntry),
        [] => None,
        [t] => Some(t),
        _ => return Err(VerifyError::UnsupportedBundle(Unsupported::ManyTlogEntries)),
    };
    let sig = content::signature_bytes(b)?;
    let timestamps = b
        .timestamps()
        .ok_or(VerifyError::Malformed("a signed timestamp is not base64"))?
        .iter()
        .map(|ts| tm.verify_timestamp(ts, &sig))
        .collect::<Result<Vec<_>, _>>()?;
    let mut logged = Logged {
        entry: None,
        log_index: t.map_or(0, |t| t.log_index),
        integrated_time: None,
        timestamps,
    };
    match t {
        Some(t) if t.kind_version.is_rekor_v2() => {
            if t.kind_version.kind != "hashedrekord" {
                return Err(VerifyError::UnsupportedBundle(Unsupported::EntryKind {
                    kind: t.kind_version.kind.clone(),
                    version: t.kind_version.version.clone(),
                }));
            }
            if logged.timestamps.is_empty() {
                return Err(VerifyError::NoVerifiedTime);
            }
            let body = content::rebuild_v2_body(b, artifact, verifier, key)?;
            tm.verify_tlog_entry_v2(t, &body, &logged.timestamps)?;
        }
        Some(t) => {
            let l = tm.verify_tlog_entry(
                t,
                version == BundleVersion::V01,
                version >= BundleVersion::V02,
            )?;
            logged.integrated_time = Some(l.integrated_time);
            logged.entry = Some(l.entry);
        }
        None => {}
    }
    if require_time && logged.times().is_empty() {
        return Err(VerifyError::NoVerifiedTime);
    }
    Ok(logged)
}

/// Verifies a bundle against a trust root, an artifact and a policy.
pub fn verify_bundle(
    b: &Bundle,
    artifact: Artifact<'_>,
    tm: &TrustMaterial,
    policy: &Policy,
) -> Result<Verified, VerifyError> {
    let version = bundle_version(b)?;
    let (leaf, extra) = leaf_and_chain(b, version)?;
    let key = PublicKey::from_certificate_der(&leaf).map_err(|e| VerifyError::Chain {
        at: 0,
        source: ChainError::Certificate(crate::fulcio::CertError::Key(e)),
    })?;
    // 1. The log entry and the verified times (integrated time, RFC 3161 timestamps).
    let logged = check_log_and_time(
        b,
        version,
        artifact,
        tm,
        Signed {
            verifier: Verifier::Certificate(leaf.clone()),
            key: &key,
            require_tlog: true,
            require_time: true,
        },
    )?;
    // 2-3. Chain and SCT, at every verified time.
    let mut cert = None;
    for at in logged.times() {
        cert = Some(tm.verify_certificate(&leaf, &extra, at)?);
    }
    let cert = cert.expect("at least one verified time");
    // 4. Identity and issuer.
    let (identity, issuer) = policy.check(&cert)?;
    // 5. Signature over the artifact, and 6. the v1 log body against it.
    let statement = content::check_content(b, logged.entry.as_ref(), artifact, &cert.key, &leaf)?;
    Ok(Verified {
        integrated_time: logged.integrated_time,
        timestamps: logged.timestamps,
        log_index: logged.log_index,
        identity,
        issuer,
        cert,
        statement,
    })
}

/// A bundle verified with a plain key.
#[derive(Debug, Clone)]
pub struct KeyVerified {
    /// The earliest verified time (log or timestamp), if any.
    pub time: Option<i64>,
    /// For DSSE bundles: the in-toto statement.
    pub statement: Option<Statement>,
}

/// Verifies a bundle signed with a plain key (cosign's key-pair mode): its log entry if it has
/// one (required when `require_tlog`), its timestamps, the signature by `key`, and the logged
/// body.
pub fn verify_bundle_with_key(
    b: &Bundle,
    artifact: Artifact<'_>,
    tm: &TrustMaterial,
    key: &PublicKey,
    require_tlog: bool,
) -> Result<KeyVerified, VerifyError> {
    let version = bundle_version(b)?;
    let logged = check_log_and_time(
        b,
        version,
        artifact,
        tm,
        Signed {
            verifier: Verifier::PublicKey(key.spki_der().to_vec()),
            key,
            require_tlog,
            require_time: false,
        },
    )?;
    let statement =
        content::check_content(b, logged.entry.as_ref(), artifact, key, key.spki_der())?;
    Ok(KeyVerified {
        time: logged.times().into_iter().min(),
        statement,
    })
}

#[cfg(test)]
mod tests;
