//! `sign-blob` and `verify-blob`.

use std::path::Path;

use sigstore_lite_core::bundle::{self, Bundle};
use sigstore_lite_core::keys::sha256;
use sigstore_lite_core::rekor::{Proposed, Verifier};
use sigstore_lite_core::verify::{self, Artifact, Policy, TrustMaterial, Verified};

use crate::error::Error;
use crate::keyless::{self, Narrator};
use crate::trust::Trust;

/// A file's bytes; `-` is standard input.
fn read(p: &Path) -> Result<Vec<u8>, Error> {
    if p == Path::new("-") {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut b).map_err(|e| Error::Read {
            path: "standard input".into(),
            reason: e.to_string(),
        })?;
        return Ok(b);
    }
    std::fs::read(p).map_err(|e| Error::Read {
        path: p.display().to_string(),
        reason: e.to_string(),
    })
}

/// Signs `file` keylessly and returns a v0.3 bundle.
pub async fn sign_blob(
    trust: &Trust,
    file: &Path,
    token: &str,
    now: i64,
    n: Narrator,
) -> Result<Bundle, Error> {
    let data = read(file)?;
    let digest = sha256(&data);
    n.say(format!(
        "signing {} (sha256:{})",
        file.display(),
        hex::encode(digest)
    ));
    let id = keyless::certificate(trust, token, now, n).await?;
    let sig = id.key.sign(&data);
    let proposal = Proposed::hashedrekord(
        digest,
        sig.clone(),
        Verifier::Certificate(id.chain[0].clone()),
    );
    let w = keyless::witness(trust, &proposal, &sig, true, n).await?;
    Ok(bundle::message_bundle(
        bundle::Signer::Certificate(&id.chain[0]),
        w.tlog_entries,
        w.timestamps,
        &digest,
        &sig,
    ))
}

/// `FILE` or `sha256:<hex>`.
pub fn artifact_digest(spec: &str) -> Result<[u8; 32], Error> {
    if let Some(h) = spec.strip_prefix("sha256:") {
        return hex::decode(h)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| Error::Usage(format!("{spec:?} is not sha256:<64 hex digits>")));
    }
    Ok(sha256(&read(Path::new(spec))?))
}

/// Reads `FILE` (its bytes) or parses `sha256:<hex>` (a digest only).
fn load_artifact(spec: &str) -> Result<(Option<Vec<u8>>, [u8; 32]), Error> {
    if spec.starts_with("sha256:") {
        return Ok((None, artifact_digest(spec)?));
    }
    let data = read(Path::new(spec))?;
    let d = sha256(&data);
    Ok((Some(data), d))
}

/// Verifies a bundle file for an artifact.
pub fn verify_blob(
    material: &TrustMaterial,
    artifact: &str,
    bundle: &Path,
    policy: &Policy,
) -> Result<Verified, Error> {
    let (data, digest) = load_artifact(artifact)?;
    let artifact = match &data {
        Some(d) => Artifact::Bytes(d),
        None => Artifact::Sha256(digest),
    };
    let b: Bundle = serde_json::from_slice(&read(bundle)?).map_err(|e| {
        Error::Usage(format!(
            "{} is not a Sigstore bundle: {e}",
            bundle.display()
        ))
    })?;
    Ok(verify::verify_bundle(&b, artifact, material, policy)?)
}

/// Signs `file` with a key pair; logs it in Rekor (and timestamps it, when the signing config has a
/// timestamp authority) when `trust` is given (`--tlog-upload`).
pub async fn sign_blob_with_key(
    trust: Option<&Trust>,
    file: &Path,
    key: &dyn sigstore_lite_core::keys::Signer,
    n: Narrator,
) -> Result<Bundle, Error> {
    let data = read(file)?;
    let digest = sha256(&data);
    let sig = key.try_sign(&data)?;
    let w = match trust {
        Some(t) => {
            let v = Verifier::PublicKey(key.public_key().spki_der().to_vec());
            let proposal = Proposed::hashedrekord(digest, sig.clone(), v);
            keyless::witness(t, &proposal, &sig, false, n).await?
        }
        None => keyless::Witnessed {
            tlog_entries: Vec::new(),
            timestamps: Vec::new(),
        },
    };
    Ok(bundle::message_bundle(
        bundle::Signer::Key,
        w.tlog_entries,
        w.timestamps,
        &digest,
        &sig,
    ))
}

/// Verifies a key-signed bundle; the log entry is required unless `ignore_tlog`.
pub fn verify_blob_with_key(
    material: &TrustMaterial,
    artifact: &str,
    bundle: &Path,
    key: &sigstore_lite_core::keys::PublicKey,
    ignore_tlog: bool,
) -> Result<Option<i64>, Error> {
    let digest = artifact_digest(artifact)?;
    let mut b: Bundle = serde_json::from_slice(&read(bundle)?).map_err(|e| {
        Error::Usage(format!(
            "{} is not a Sigstore bundle: {e}",
            bundle.display()
        ))
    })?;
    if ignore_tlog {
        b.verification_material.tlog_entries.clear();
    }
    Ok(
        verify::verify_bundle_with_key(&b, Artifact::Sha256(digest), material, key, !ignore_tlog)?
            .time,
    )
}
