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

use tlog::b64;

/// A successful verification.
#[derive(Debug, Clone)]
pub struct Verified {
    pub integrated_time: i64,
    pub log_index: i64,
    pub identity: String,
    pub issuer: String,
    pub cert: FulcioCert,
    /// For DSSE bundles: the in-toto statement.
    pub statement: Option<Statement>,
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

/// Verifies a bundle against a trust root, an artifact and a policy.
pub fn verify_bundle(
    b: &Bundle,
    artifact: Artifact<'_>,
    tm: &TrustMaterial,
    policy: &Policy,
) -> Result<Verified, VerifyError> {
    let version = bundle_version(b)?;
    let (leaf, extra) = leaf_and_chain(b, version)?;
    let [t] = b.verification_material.tlog_entries.as_slice() else {
        return Err(if b.verification_material.tlog_entries.is_empty() {
            VerifyError::NoTlogEntry
        } else {
            VerifyError::UnsupportedBundle(Unsupported::ManyTlogEntries)
        });
    };
    // 1. The log entry and its integrated time.
    let logged = tm.verify_tlog_entry(
        t,
        version == BundleVersion::V01,
        version >= BundleVersion::V02,
    )?;
    let at = logged.integrated_time;
    // 2-3. Chain at that time, SCT.
    let cert = tm.verify_certificate(&leaf, &extra, at)?;
    // 4. Identity and issuer.
    let (identity, issuer) = policy.check(&cert)?;
    // 5. Signature over the artifact, and 6. the log body against it.
    let statement = content::check_content(b, Some(&logged.entry), artifact, &cert.key, &leaf)?;
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
    let version = bundle_version(b)?;
    let t = match b.verification_material.tlog_entries.as_slice() {
        [] if require_tlog => return Err(VerifyError::NoTlogEntry),
        [] => None,
        [t] => Some(t),
        _ => return Err(VerifyError::UnsupportedBundle(Unsupported::ManyTlogEntries)),
    };
    let logged = match t {
        Some(t) => Some(tm.verify_tlog_entry(
            t,
            version == BundleVersion::V01,
            version >= BundleVersion::V02,
        )?),
        None => None,
    };
    content::check_content(
        b,
        logged.as_ref().map(|l| &l.entry),
        artifact,
        key,
        key.spki_der(),
    )?;
    Ok(logged.map(|l| l.integrated_time))
}

#[cfg(test)]
mod tests;
