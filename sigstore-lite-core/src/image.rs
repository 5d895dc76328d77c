//! cosign's image-signature policy, pure: what is signed for an image, how it is stored in the
//! legacy `sha256-<hex>.sig` layout, and whether the signatures attached to an image digest satisfy
//! an identity (or a key) under a trusted root.
//!
//! The caller fetches (manifests, layers, an online Rekor lookup for a layer without a bundle
//! annotation) and passes bytes in; this module decides. `cosign-keyless verify` and the
//! admission webhook call the same functions.

use std::collections::BTreeMap;

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::bundle::TlogEntry;
use crate::fulcio::OID_ISSUER_V1;
use crate::keys::{pem_parse_all, sha256, PublicKey};
use crate::rekor::{Entry, LogEntry, Proposed, Verifier};
use crate::verify::{
    content::check_hashedrekord, ArtifactMismatch, Policy, TrustMaterial, VerifyError,
};

/// Layer media type of a simple-signing payload.
pub const SIMPLESIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// Base64 signature over the layer's payload.
pub const ANN_SIGNATURE: &str = "dev.cosignproject.cosign/signature";
/// Leaf certificate PEM.
pub const ANN_CERTIFICATE: &str = "dev.sigstore.cosign/certificate";
/// Intermediates and root PEM (may be empty).
pub const ANN_CHAIN: &str = "dev.sigstore.cosign/chain";
/// Rekor bundle (SET and entry) JSON.
pub const ANN_BUNDLE: &str = "dev.sigstore.cosign/bundle";
/// RFC 3161 timestamp JSON.
pub const ANN_RFC3161: &str = "dev.sigstore.cosign/rfc3161timestamp";
/// `critical.type` of a simple-signing payload.
pub const SIGNATURE_TYPE: &str = "cosign container image signature";

/// `sha256-<hex>.sig`: where legacy signatures of `digest` live.
pub fn signature_tag(digest: &str) -> String {
    format!("{}.sig", digest.replace(':', "-"))
}

/// `sha256-<hex>.att`: where legacy attestations of `digest` live.
pub fn attestation_tag(digest: &str) -> String {
    format!("{}.att", digest.replace(':', "-"))
}

/// The simple-signing payload cosign signs for `repository@digest` (`docker_reference` is the
/// repository without tag or digest).
pub fn simple_signing_payload(docker_reference: &str, digest: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "critical": {"identity": {"docker-reference": docker_reference}, "image": {"docker-manifest-digest": digest}, "type": SIGNATURE_TYPE},
        "optional": null
    }))
    .expect("json")
}

/// cosign's Rekor bundle annotation: `{"SignedEntryTimestamp", "Payload": {body, integratedTime,
/// logIndex, logID}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RekorBundle {
    #[serde(rename = "SignedEntryTimestamp")]
    pub signed_entry_timestamp: String,
    #[serde(rename = "Payload")]
    pub payload: RekorBundlePayload,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RekorBundlePayload {
    /// Base64 of the canonical body.
    pub body: String,
    #[serde(rename = "integratedTime")]
    pub integrated_time: i64,
    #[serde(rename = "logIndex")]
    pub log_index: i64,
    /// Hex log ID.
    #[serde(rename = "logID")]
    pub log_id: String,
}

impl RekorBundle {
    pub fn from_log_entry(e: &LogEntry) -> RekorBundle {
        RekorBundle {
            signed_entry_timestamp: e.verification.signed_entry_timestamp.clone(),
            payload: RekorBundlePayload {
                body: e.body.clone(),
                integrated_time: e.integrated_time,
                log_index: e.log_index as i64,
                log_id: e.log_id.clone(),
            },
        }
    }
}

/// One layer of a `.sig` manifest, as fetched.
#[derive(Debug, Clone, Default)]
pub struct SignatureLayer {
    pub media_type: String,
    /// The layer blob: what was signed.
    pub payload: Vec<u8>,
    pub annotations: BTreeMap<String, String>,
    /// The log entry found online for this signature, when the layer has no bundle annotation
    /// and the caller looked it up.
    pub online_entry: Option<TlogEntry>,
}

/// Who must have signed.
#[derive(Debug, Clone, Copy)]
pub enum Signer<'a> {
    Identity(&'a Policy),
    Key(&'a PublicKey),
}

/// Verification options.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Skip the transparency log (cosign's `--insecure-ignore-tlog`): certificates are then
    /// checked at `now`, so an expired one fails.
    pub ignore_tlog: bool,
    /// The time used only when there is no log entry to take the time from.
    pub now: i64,
}

/// A verified image signature.
#[derive(Debug, Clone)]
pub struct VerifiedSignature {
    /// The simple-signing payload, with `optional` augmented as cosign prints it (Subject,
    /// Issuer, the .1.1 issuer, Bundle).
    pub payload: Value,
    /// `(identity, issuer)` for keyless signatures.
    pub identity: Option<(String, String)>,
    /// The log's integrated time, if the log was checked.
    pub integrated_time: Option<i64>,
}

/// Why no signature of an image was accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    #[error("the image has no signatures")]
    NoSignatures,
    #[error("the signature has no certificate")]
    NoCertificate,
    #[error("no signature matched: {0}")]
    NoMatching(#[source] VerifyError),
}

/// Where a layer's verifier comes from.
fn verifier(layer: &SignatureLayer, who: Signer<'_>) -> Result<Verifier, ImageError> {
    match who {
        Signer::Identity(_) => {
            let pem = layer
                .annotations
                .get(ANN_CERTIFICATE)
                .ok_or(ImageError::NoCertificate)?;
            let first = pem_parse_all(pem)
                .map_err(|_| ImageError::NoCertificate)?
                .swap_remove(0);
            Ok(Verifier::Certificate(first.der))
        }
        Signer::Key(k) => Ok(Verifier::PublicKey(k.spki_der().to_vec())),
    }
}

fn signature(layer: &SignatureLayer) -> Result<Vec<u8>, VerifyError> {
    B64.decode(layer.annotations.get(ANN_SIGNATURE).map_or("", |s| s))
        .map_err(|_| VerifyError::Malformed("the signature annotation is not base64"))
}

/// The hashedrekord a layer's signature was logged as: what an online Rekor search looks for.
pub fn layer_log_proposal(layer: &SignatureLayer, who: Signer<'_>) -> Result<Proposed, ImageError> {
    let v = verifier(layer, who)?;
    let sig = signature(layer).map_err(ImageError::NoMatching)?;
    Ok(Proposed::hashedrekord(sha256(&layer.payload), sig, v))
}

/// Verifies one signature layer of `image_digest` (`sha256:<hex>`).
pub fn verify_signature_layer(
    layer: &SignatureLayer,
    image_digest: &str,
    tm: &TrustMaterial,
    who: Signer<'_>,
    opts: Options,
) -> Result<VerifiedSignature, ImageError> {
    let v = verifier(layer, who)?;
    verify_layer_inner(layer, &v, image_digest, tm, who, opts).map_err(ImageError::NoMatching)
}

fn verify_layer_inner(
    layer: &SignatureLayer,
    v: &Verifier,
    image_digest: &str,
    tm: &TrustMaterial,
    who: Signer<'_>,
    opts: Options,
) -> Result<VerifiedSignature, VerifyError> {
    let sig = signature(layer)?;
    let payload_digest = sha256(&layer.payload);
    // 1. Transparency log: the bundle annotation's SET, else an entry found online.
    let mut bundle_json = None;
    let logged: Option<(Entry, i64)> = if opts.ignore_tlog {
        None
    } else if let Some(b) = layer.annotations.get(ANN_BUNDLE) {
        let rb: RekorBundle = serde_json::from_str(b)
            .map_err(|_| VerifyError::Malformed("the bundle annotation is not a Rekor bundle"))?;
        let log_id = hex::decode(&rb.payload.log_id)
            .map_err(|_| VerifyError::Malformed("the bundle annotation's logID is not hex"))?;
        tm.verify_set(
            &rb.payload.body,
            rb.payload.integrated_time,
            &log_id,
            rb.payload.log_index,
            &rb.signed_entry_timestamp,
        )?;
        let body = B64
            .decode(&rb.payload.body)
            .map_err(|_| VerifyError::Malformed("the bundle annotation's body is not base64"))?;
        let entry = Entry::parse_body(&body).map_err(VerifyError::BadEntry)?;
        let t = rb.payload.integrated_time;
        bundle_json = Some(serde_json::to_value(&rb).expect("serializes"));
        Some((entry, t))
    } else if let Some(t) = &layer.online_entry {
        let l = tm.verify_tlog_entry(t, false, false)?;
        Some((l.entry, l.integrated_time))
    } else {
        return Err(VerifyError::MissingPromise);
    };
    // The logged body must be this signature, verifier and payload.
    let at = match &logged {
        Some((entry, t)) => {
            check_hashedrekord(entry, &payload_digest, &sig, v.der())?;
            *t
        }
        None => opts.now,
    };
    // 2. Certificate chain and SCT at the integrated time (or now); identity and issuer.
    let (key, identity, v1_issuer) = match who {
        Signer::Identity(policy) => {
            let chain: Vec<Vec<u8>> = layer
                .annotations
                .get(ANN_CHAIN)
                .and_then(|c| pem_parse_all(c).ok())
                .unwrap_or_default()
                .into_iter()
                .map(|p| p.der)
                .collect();
            let cert = tm.verify_certificate(v.der(), &chain, at)?;
            let (identity, issuer) = policy.check(&cert)?;
            let v1 = cert.sigstore_extensions.get(OID_ISSUER_V1).cloned();
            (cert.key, Some((identity, issuer)), v1)
        }
        Signer::Key(k) => (k.clone(), None, None),
    };
    // 3. Signature over the payload, and the payload names this image.
    key.verify_message_sha256(&layer.payload, &sig)
        .map_err(|_| VerifyError::BadSignature)?;
    let pv: Value = serde_json::from_slice(&layer.payload)
        .map_err(|_| VerifyError::Malformed("the payload is not JSON"))?;
    if pv["critical"]["type"] != SIGNATURE_TYPE {
        return Err(VerifyError::ArtifactMismatch(
            ArtifactMismatch::NotImageSignature,
        ));
    }
    let signed = pv["critical"]["image"]["docker-manifest-digest"]
        .as_str()
        .unwrap_or_default();
    if signed != image_digest {
        return Err(VerifyError::ArtifactMismatch(
            ArtifactMismatch::ImageDigest {
                signed: signed.to_string(),
                expected: image_digest.to_string(),
            },
        ));
    }
    let mut out = pv;
    let mut optional = out["optional"]
        .as_object()
        .cloned()
        .unwrap_or_else(Map::new);
    if let Some((identity, issuer)) = &identity {
        optional.insert("Subject".into(), json!(identity));
        optional.insert("Issuer".into(), json!(issuer));
        optional.insert(OID_ISSUER_V1.into(), json!(v1_issuer));
    }
    if let Some(b) = bundle_json {
        optional.insert("Bundle".into(), b);
    }
    out["optional"] = Value::Object(optional);
    Ok(VerifiedSignature {
        payload: out,
        identity,
        integrated_time: logged.map(|(_, t)| t),
    })
}

/// Verifies every simple-signing layer of a `.sig` manifest; passes if any satisfies the policy.
/// Returns the verified signatures, or why none was accepted (the first layer's reason).
pub fn verify_signatures(
    layers: &[SignatureLayer],
    image_digest: &str,
    tm: &TrustMaterial,
    who: Signer<'_>,
    opts: Options,
) -> Result<Vec<VerifiedSignature>, ImageError> {
    let candidates: Vec<&SignatureLayer> = layers
        .iter()
        .filter(|l| l.media_type == SIMPLESIGNING)
        .collect();
    if candidates.is_empty() {
        return Err(ImageError::NoSignatures);
    }
    let mut ok = Vec::new();
    let mut errors = Vec::new();
    for l in candidates {
        match verify_signature_layer(l, image_digest, tm, who, opts) {
            Ok(v) => ok.push(v),
            Err(e) => errors.push(e),
        }
    }
    if !ok.is_empty() {
        return Ok(ok);
    }
    if errors.iter().all(|e| *e == ImageError::NoCertificate) {
        return Err(ImageError::NoCertificate);
    }
    Err(errors
        .into_iter()
        .find(|e| *e != ImageError::NoCertificate)
        .expect("some error is not NoCertificate"))
}

/// The annotations of a new signature layer: signature, certificate and chain (keyless), and the
/// Rekor bundle (when logged).
pub fn signature_annotations(
    sig: &[u8],
    chain_der: Option<&[Vec<u8>]>,
    logged: Option<&LogEntry>,
) -> BTreeMap<String, String> {
    let mut a = BTreeMap::new();
    a.insert(ANN_SIGNATURE.to_string(), B64.encode(sig));
    if let Some(chain) = chain_der {
        let pem = |d: &Vec<u8>| crate::keys::pem_encode("CERTIFICATE", d);
        a.insert(ANN_CERTIFICATE.to_string(), pem(&chain[0]));
        a.insert(
            ANN_CHAIN.to_string(),
            chain[1..].iter().map(pem).collect::<String>(),
        );
    }
    if let Some(e) = logged {
        a.insert(
            ANN_BUNDLE.to_string(),
            serde_json::to_string(&RekorBundle::from_log_entry(e)).expect("serializes"),
        );
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Signer as KeySigner;
    use crate::rekor::{self, InclusionProof, Verification};
    use crate::trust::{LogInstance, TrustedRoot, TRUSTED_ROOT_MEDIA_TYPE};

    const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

    /// A key-signed layer for `digest`, logged by `log` at index 7 (SET in the annotation).
    fn layer(key: &KeySigner, log: &KeySigner, digest: &str) -> SignatureLayer {
        let payload = simple_signing_payload("127.0.0.1:5000/demo/app", digest);
        let sig = key.sign(&payload);
        let (_, c) = Proposed::hashedrekord(
            sha256(&payload),
            sig.clone(),
            Verifier::PublicKey(key.public_key().spki_der().to_vec()),
        )
        .admit()
        .unwrap();
        let body = B64.encode(&c.body);
        let set = rekor::sign_set(log, &body, 1_700_000_000, 7);
        let e = LogEntry {
            body,
            integrated_time: 1_700_000_000,
            log_id: hex::encode(log.public_key().key_id()),
            log_index: 7,
            verification: Verification {
                inclusion_proof: None::<InclusionProof>,
                signed_entry_timestamp: B64.encode(set),
            },
        };
        SignatureLayer {
            media_type: SIMPLESIGNING.into(),
            annotations: signature_annotations(&sig, None, Some(&e)),
            payload,
            online_entry: None,
        }
    }

    fn material(log: &KeySigner) -> TrustMaterial {
        TrustMaterial::from_trusted_root(&TrustedRoot {
            media_type: TRUSTED_ROOT_MEDIA_TYPE.into(),
            tlogs: vec![LogInstance::new(
                "http://rekor",
                log.public_key(),
                "2000-01-01T00:00:00Z",
            )],
            certificate_authorities: Vec::new(),
            ctlogs: Vec::new(),
            timestamp_authorities: Vec::new(),
        })
        .unwrap()
    }

    const OPTS: Options = Options {
        ignore_tlog: false,
        now: 1_700_000_100,
    };

    #[test]
    fn a_logged_key_signature_verifies_and_names_its_image() {
        let (key, log) = (
            KeySigner::generate_p256().unwrap(),
            KeySigner::generate_p256().unwrap(),
        );
        let tm = material(&log);
        let l = layer(&key, &log, DIGEST);
        let v = verify_signatures(
            std::slice::from_ref(&l),
            DIGEST,
            &tm,
            Signer::Key(key.public_key()),
            OPTS,
        )
        .unwrap();
        assert_eq!(v[0].integrated_time, Some(1_700_000_000));
        assert!(v[0].payload["optional"]["Bundle"].is_object());
        // Another image's digest, another key, a tampered payload, a log we do not trust.
        let other = DIGEST.replace('1', "2");
        let e = |r: Result<Vec<VerifiedSignature>, ImageError>| match r {
            Err(ImageError::NoMatching(e)) => e,
            other => panic!("{other:?}"),
        };
        assert!(matches!(
            e(verify_signatures(
                std::slice::from_ref(&l),
                &other,
                &tm,
                Signer::Key(key.public_key()),
                OPTS
            )),
            VerifyError::ArtifactMismatch(ArtifactMismatch::ImageDigest { .. })
        ));
        let stranger = KeySigner::generate_p256().unwrap();
        assert!(matches!(
            e(verify_signatures(
                std::slice::from_ref(&l),
                DIGEST,
                &tm,
                Signer::Key(stranger.public_key()),
                OPTS
            )),
            VerifyError::BodyMismatch(_)
        ));
        let mut t = l.clone();
        t.payload[10] ^= 1;
        assert!(matches!(
            e(verify_signatures(
                &[t],
                DIGEST,
                &tm,
                Signer::Key(key.public_key()),
                OPTS
            )),
            VerifyError::BodyMismatch(_)
        ));
        assert!(matches!(
            e(verify_signatures(
                std::slice::from_ref(&l),
                DIGEST,
                &material(&stranger),
                Signer::Key(key.public_key()),
                OPTS
            )),
            VerifyError::UnknownLog(_)
        ));
        // Without the bundle annotation and no online entry: refused (offline).
        let mut bare = l.clone();
        bare.annotations.remove(ANN_BUNDLE);
        assert_eq!(
            e(verify_signatures(
                std::slice::from_ref(&bare),
                DIGEST,
                &tm,
                Signer::Key(key.public_key()),
                OPTS
            )),
            VerifyError::MissingPromise
        );
        // ... unless the log is ignored, or the entry was found online.
        let ignore = Options {
            ignore_tlog: true,
            ..OPTS
        };
        verify_signatures(
            std::slice::from_ref(&bare),
            DIGEST,
            &tm,
            Signer::Key(key.public_key()),
            ignore,
        )
        .unwrap();
        // Keyless verification needs a certificate on the layer.
        let p = Policy::exact("a@example.com", "https://issuer");
        assert_eq!(
            verify_signatures(&[l], DIGEST, &tm, Signer::Identity(&p), OPTS).unwrap_err(),
            ImageError::NoCertificate
        );
        assert_eq!(
            verify_signatures(&[], DIGEST, &tm, Signer::Key(key.public_key()), OPTS).unwrap_err(),
            ImageError::NoSignatures
        );
    }
}
