//! The content checks: the signature over the artifact (a message signature or a DSSE envelope),
//! and that the log entry records exactly this signature, key and artifact.

use crate::bundle::Bundle;
use crate::dsse::{pae, Statement};
use crate::keys::{sha256, DigestAlg, PublicKey};
use crate::rekor::v2::{default_key_details, parse_hash_algorithm, HashedRekordV002};
use crate::rekor::{Entry, Verifier};

use super::tlog::b64;
use super::{ArtifactMismatch, BodyMismatch, Unsupported, VerifyError};

/// What was signed: the bytes, or only their SHA-256.
#[derive(Debug, Clone, Copy)]
pub enum Artifact<'a> {
    Bytes(&'a [u8]),
    Sha256([u8; 32]),
}

impl Artifact<'_> {
    pub fn sha256(&self) -> [u8; 32] {
        match self {
            Artifact::Bytes(b) => sha256(b),
            Artifact::Sha256(d) => *d,
        }
    }
}

fn wrong_kind(content: &'static str, expected: &'static str, e: &Entry) -> VerifyError {
    let (k, v) = e.kind_version();
    VerifyError::BodyMismatch(BodyMismatch::WrongKind {
        content,
        expected,
        found: format!("{k} {v}"),
    })
}

/// Checks a logged hashedrekord against a signature over `digest` by `verifier_der`.
pub fn check_hashedrekord(
    entry: &Entry,
    digest: &[u8; 32],
    sig: &[u8],
    verifier_der: &[u8],
) -> Result<(), VerifyError> {
    let Entry::HashedRekordV001(h) = entry else {
        return Err(wrong_kind("message signature", "hashedrekord", entry));
    };
    if h.digest != *digest {
        return Err(VerifyError::BodyMismatch(BodyMismatch::Digest));
    }
    if h.signature != sig {
        return Err(VerifyError::BodyMismatch(BodyMismatch::Signature));
    }
    if h.verifier.der() != verifier_der {
        return Err(VerifyError::BodyMismatch(BodyMismatch::Verifier));
    }
    Ok(())
}

/// Checks a logged dsse 0.0.1 or intoto 0.0.2 entry against an envelope's payload, its one
/// signature and its verifier.
pub fn check_dsse(
    entry: &Entry,
    payload: &[u8],
    sig: &[u8],
    verifier_der: &[u8],
    envelope_json: Option<&[u8]>,
) -> Result<(), VerifyError> {
    // dsse 0.0.1 (what clients log today) or intoto 0.0.2 (what older cosign logged, still in
    // public-good bundles): the same checks on either, as sigstore-go makes them.
    let (payload_hash, envelope_hash, signatures): (_, _, Vec<(&[u8], &Verifier)>) = match entry {
        Entry::DsseV001(d) => (
            d.payload_hash,
            d.envelope_hash,
            d.signatures
                .iter()
                .map(|s| (s.signature.as_slice(), &s.verifier))
                .collect(),
        ),
        Entry::IntotoV002(i) => (
            i.payload_hash,
            i.envelope_hash,
            i.signatures
                .iter()
                .map(|s| (s.signature.as_slice(), &s.verifier))
                .collect(),
        ),
        _ => return Err(wrong_kind("DSSE envelope", "dsse or intoto", entry)),
    };
    if payload_hash != sha256(payload) {
        return Err(VerifyError::BodyMismatch(BodyMismatch::PayloadHash));
    }
    if let Some(env) = envelope_json {
        if envelope_hash != sha256(env) {
            return Err(VerifyError::BodyMismatch(BodyMismatch::EnvelopeHash));
        }
    }
    match signatures.as_slice() {
        [(s, v)] if *s == sig && v.der() == verifier_der => Ok(()),
        _ => Err(VerifyError::BodyMismatch(BodyMismatch::Signature)),
    }
}

/// The signature bytes a bundle carries (what RFC 3161 timestamps cover).
pub(crate) fn signature_bytes(b: &Bundle) -> Result<Vec<u8>, VerifyError> {
    match (&b.message_signature, &b.dsse_envelope) {
        (Some(ms), None) => b64(&ms.signature, "the signature is not base64"),
        (None, Some(env)) => match env.signatures.as_slice() {
            [s] => b64(&s.sig, "the envelope signature is not base64"),
            _ => Err(VerifyError::Malformed(
                "a DSSE envelope in a bundle has exactly one signature",
            )),
        },
        _ => Err(VerifyError::UnsupportedBundle(Unsupported::Content)),
    }
}

/// The hashedrekord 0.0.2 body a Rekor v2 log must have recorded for this bundle, rebuilt from
/// it (sigstore-go's `reconstructV2EntryHash`): the verifier, its default key details, the
/// message digest (or the hash of the DSSE PAE) and the signature.
pub(crate) fn rebuild_v2_body(
    b: &Bundle,
    artifact: Artifact<'_>,
    verifier: Verifier,
    key: &PublicKey,
) -> Result<Vec<u8>, VerifyError> {
    let (key_details, key_alg) = default_key_details(key);
    let signature = signature_bytes(b)?;
    let (digest_alg, digest) = match (&b.message_signature, &b.dsse_envelope) {
        (Some(ms), None) => match &ms.message_digest {
            Some(md) => (
                parse_hash_algorithm(&md.algorithm).ok_or(VerifyError::Malformed(
                    "the message digest algorithm is unknown",
                ))?,
                b64(&md.digest, "messageDigest is not base64")?,
            ),
            None => (DigestAlg::Sha256, artifact.sha256().to_vec()),
        },
        (None, Some(env)) => {
            let payload = b64(&env.payload, "the DSSE payload is not base64")?;
            (key_alg, key_alg.hash(&pae(&env.payload_type, &payload)))
        }
        _ => return Err(VerifyError::UnsupportedBundle(Unsupported::Content)),
    };
    Ok(HashedRekordV002 {
        digest_alg,
        digest,
        signature,
        verifier,
        key_details: key_details.to_string(),
    }
    .canonical_body())
}

/// Checks the signature over the artifact with `key` and, given the log entry, that it records
/// this signature, `verifier_der` (the certificate or SPKI DER) and artifact. Returns the in-toto
/// statement of a DSSE bundle.
pub(crate) fn check_content(
    b: &Bundle,
    logged: Option<&Entry>,
    artifact: Artifact<'_>,
    key: &PublicKey,
    verifier_der: &[u8],
) -> Result<Option<Statement>, VerifyError> {
    let digest = artifact.sha256();
    match (&b.message_signature, &b.dsse_envelope) {
        (Some(ms), None) => {
            if let Some(md) = &ms.message_digest {
                if md.algorithm != "SHA2_256"
                    || b64(&md.digest, "messageDigest is not base64")? != digest
                {
                    return Err(VerifyError::ArtifactMismatch(
                        ArtifactMismatch::MessageDigest,
                    ));
                }
            }
            let sig = b64(&ms.signature, "the signature is not base64")?;
            match artifact {
                Artifact::Bytes(m) => key.verify_message_sha256(m, &sig),
                Artifact::Sha256(_) => key.verify_prehashed(DigestAlg::Sha256, &digest, &sig),
            }
            .map_err(|_| VerifyError::BadSignature)?;
            if let Some(e) = logged {
                check_hashedrekord(e, &digest, &sig, verifier_der)?;
            }
            Ok(None)
        }
        (None, Some(env)) => {
            let [s] = env.signatures.as_slice() else {
                return Err(VerifyError::Malformed(
                    "a DSSE envelope in a bundle has exactly one signature",
                ));
            };
            let payload = b64(&env.payload, "the DSSE payload is not base64")?;
            let sig = b64(&s.sig, "the envelope signature is not base64")?;
            key.verify_message(&pae(&env.payload_type, &payload), &sig)
                .map_err(|_| VerifyError::BadSignature)?;
            let st: Statement = serde_json::from_slice(&payload).map_err(|_| {
                VerifyError::Malformed("the DSSE payload is not an in-toto statement")
            })?;
            if !st.has_subject_sha256(&hex::encode(digest)) {
                return Err(VerifyError::ArtifactMismatch(ArtifactMismatch::NotASubject));
            }
            if let Some(e) = logged {
                check_dsse(e, &payload, &sig, verifier_der, None)?;
            }
            Ok(Some(st))
        }
        _ => Err(VerifyError::UnsupportedBundle(Unsupported::Content)),
    }
}
