//! cosign's image-signature policy, pure: what is signed for an image, how it is stored (the
//! legacy `sha256-<hex>.sig` and `.att` layouts, and cosign v3's Sigstore bundles as OCI 1.1
//! referrers), and whether the signatures and attestations attached to an image digest satisfy
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
/// Layer media type of a legacy attestation (a DSSE envelope).
pub const DSSE_LAYER: &str = "application/vnd.dsse.envelope.v1+json";
/// A legacy attestation layer's predicate type annotation.
pub const ANN_PREDICATE_TYPE: &str = "predicateType";
/// Artifact type and layer media type of a Sigstore bundle referrer.
pub const BUNDLE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// The empty config of OCI 1.1 artifacts, and its blob.
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
pub const OCI_EMPTY_BLOB: &[u8] = b"{}";
/// Referrer manifest annotations cosign writes.
pub const ANN_CREATED: &str = "org.opencontainers.image.created";
pub const ANN_BUNDLE_CONTENT: &str = "dev.sigstore.bundle.content";
pub const ANN_BUNDLE_PREDICATE: &str = "dev.sigstore.bundle.predicateType";

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

/// Verifies a layer's Rekor bundle annotation (its SET under a trusted log); returns the logged
/// entry, its integrated time and the annotation. `None` when the layer has none.
fn annotated_entry(
    layer: &SignatureLayer,
    tm: &TrustMaterial,
) -> Result<Option<(Entry, i64, RekorBundle)>, VerifyError> {
    let Some(b) = layer.annotations.get(ANN_BUNDLE) else {
        return Ok(None);
    };
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
    Ok(Some((entry, t, rb)))
}

/// Who signed a layer, checked at `at`: the certificate (chain from the chain annotation, SCT)
/// and the policy's identity and issuer, or the given key. Returns the key, the identity and the
/// certificate's .1.1 issuer.
#[allow(clippy::type_complexity)]
fn layer_signer(
    layer: &SignatureLayer,
    v: &Verifier,
    tm: &TrustMaterial,
    who: Signer<'_>,
    at: i64,
) -> Result<(PublicKey, Option<(String, String)>, Option<String>), VerifyError> {
    match who {
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
            let id = policy.check(&cert)?;
            let v1 = cert.sigstore_extensions.get(OID_ISSUER_V1).cloned();
            Ok((cert.key, Some(id), v1))
        }
        Signer::Key(k) => Ok((k.clone(), None, None)),
    }
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
    } else if let Some((entry, t, rb)) = annotated_entry(layer, tm)? {
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
    let (key, identity, v1_issuer) = layer_signer(layer, v, tm, who, at)?;
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

/// The referrer manifest cosign v3 pushes for a bundle: an OCI 1.1 artifact of type
/// [`BUNDLE_V03`] with the empty config, the bundle as its one layer, and the signed image
/// manifest (`subject_media_type`, `sha256:<hex>`, size) as its subject.
pub fn referrer_manifest(
    subject_media_type: &str,
    subject_digest: &str,
    subject_size: u64,
    bundle: &[u8],
    predicate_type: &str,
    created: &str,
) -> Vec<u8> {
    let digest = |b: &[u8]| format!("sha256:{}", hex::encode(sha256(b)));
    serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": BUNDLE_V03,
        "config": {"mediaType": OCI_EMPTY, "digest": digest(OCI_EMPTY_BLOB), "size": OCI_EMPTY_BLOB.len()},
        "layers": [{"mediaType": BUNDLE_V03, "digest": digest(bundle), "size": bundle.len()}],
        "subject": {"mediaType": subject_media_type, "digest": subject_digest, "size": subject_size},
        "annotations": {
            ANN_CREATED: created,
            ANN_BUNDLE_CONTENT: "dsse-envelope",
            ANN_BUNDLE_PREDICATE: predicate_type,
        },
    }))
    .expect("json")
}

/// A verified in-toto statement about an image (a bundle referrer, or a legacy attestation).
#[derive(Debug, Clone)]
pub struct VerifiedStatement {
    pub envelope: crate::dsse::Envelope,
    pub statement: crate::dsse::Statement,
    /// `(identity, issuer)` for keyless signatures.
    pub identity: Option<(String, String)>,
    /// The earliest verified time (log or timestamp), if any.
    pub time: Option<i64>,
}

/// Verifies a Sigstore bundle attached to `image_digest` (`sha256:<hex>`), as cosign v3 does
/// with sigstore-go: the bundle verifies for the image digest as its artifact (so its DSSE
/// statement names the image), signed by `who`. Only DSSE bundles describe images.
pub fn verify_image_bundle(
    b: &crate::bundle::Bundle,
    image_digest: &str,
    tm: &TrustMaterial,
    who: Signer<'_>,
    opts: Options,
) -> Result<VerifiedStatement, VerifyError> {
    let hex_digest: [u8; 32] = hex::decode(image_digest.trim_start_matches("sha256:"))
        .ok()
        .and_then(|d| d.try_into().ok())
        .ok_or(VerifyError::Malformed(
            "the image digest is not sha256:<hex>",
        ))?;
    let envelope = b
        .dsse_envelope
        .clone()
        .ok_or(VerifyError::ArtifactMismatch(ArtifactMismatch::NotASubject))?;
    let artifact = crate::verify::Artifact::Sha256(hex_digest);
    let (statement, identity, time) = match who {
        Signer::Identity(policy) => {
            let v = crate::verify::verify_bundle(b, artifact, tm, policy)?;
            let t = v.time();
            (v.statement, Some((v.identity, v.issuer)), Some(t))
        }
        Signer::Key(k) => {
            let v = crate::verify::verify_bundle_with_key(b, artifact, tm, k, !opts.ignore_tlog)?;
            (v.statement, None, v.time)
        }
    };
    Ok(VerifiedStatement {
        envelope,
        statement: statement.ok_or(VerifyError::Malformed(
            "the bundle's DSSE payload is not an in-toto statement",
        ))?,
        identity,
        time,
    })
}

/// Verifies one legacy attestation layer (`.att`) of `image_digest`: the Rekor bundle annotation
/// (a dsse entry whose envelope hash is the layer's bytes, as cosign checks it), the certificate
/// at the logged time and the identity (or the key), the DSSE signature over the PAE, and a
/// statement naming the image.
pub fn verify_attestation_layer(
    layer: &SignatureLayer,
    image_digest: &str,
    tm: &TrustMaterial,
    who: Signer<'_>,
    opts: Options,
) -> Result<VerifiedStatement, ImageError> {
    let v = verifier(layer, who)?;
    attestation_inner(layer, &v, image_digest, tm, who, opts).map_err(ImageError::NoMatching)
}

fn attestation_inner(
    layer: &SignatureLayer,
    v: &Verifier,
    image_digest: &str,
    tm: &TrustMaterial,
    who: Signer<'_>,
    opts: Options,
) -> Result<VerifiedStatement, VerifyError> {
    let envelope: crate::dsse::Envelope = serde_json::from_slice(&layer.payload)
        .map_err(|_| VerifyError::Malformed("the attestation layer is not a DSSE envelope"))?;
    if envelope.payload_type != crate::dsse::IN_TOTO_PAYLOAD_TYPE {
        return Err(VerifyError::Malformed(
            "the envelope's payloadType is not application/vnd.in-toto+json",
        ));
    }
    let [s] = envelope.signatures.as_slice() else {
        return Err(VerifyError::Malformed(
            "an attestation envelope has exactly one signature",
        ));
    };
    let sig = B64
        .decode(&s.sig)
        .map_err(|_| VerifyError::Malformed("the envelope signature is not base64"))?;
    let payload = envelope
        .payload_bytes()
        .ok_or(VerifyError::Malformed("the envelope payload is not base64"))?;
    // 1. The log: the bundle annotation's SET over a dsse entry of exactly these bytes.
    let at = if opts.ignore_tlog {
        opts.now
    } else {
        let (entry, t, _) = annotated_entry(layer, tm)?.ok_or(VerifyError::MissingPromise)?;
        crate::verify::content::check_dsse(&entry, &payload, &sig, v.der(), Some(&layer.payload))?;
        t
    };
    // 2. The certificate at that time, and who signed.
    let (key, identity, _) = layer_signer(layer, v, tm, who, at)?;
    // 3. The DSSE signature, and a statement about this image.
    key.verify_message(&crate::dsse::pae(&envelope.payload_type, &payload), &sig)
        .map_err(|_| VerifyError::BadSignature)?;
    let statement: crate::dsse::Statement = serde_json::from_slice(&payload)
        .map_err(|_| VerifyError::Malformed("the DSSE payload is not an in-toto statement"))?;
    if !statement.has_subject_sha256(image_digest.trim_start_matches("sha256:")) {
        return Err(VerifyError::ArtifactMismatch(ArtifactMismatch::NotASubject));
    }
    Ok(VerifiedStatement {
        envelope,
        statement,
        identity,
        time: (!opts.ignore_tlog).then_some(at),
    })
}

/// The annotations of a legacy attestation layer, as cosign writes them: an empty signature,
/// the certificate and chain (the chain present, maybe empty, whenever the certificate is), the
/// Rekor bundle, the predicate type.
pub fn attestation_annotations(
    chain_der: Option<&[Vec<u8>]>,
    logged: Option<&LogEntry>,
    predicate_type: &str,
) -> BTreeMap<String, String> {
    let mut a = signature_annotations(&[], chain_der, logged);
    a.insert(ANN_PREDICATE_TYPE.to_string(), predicate_type.to_string());
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::P256Signer as KeySigner;
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
        let set = rekor::sign_set(log, &body, 1_700_000_000, 7).unwrap();
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
