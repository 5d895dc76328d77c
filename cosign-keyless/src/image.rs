//! `sign IMAGE` and `verify IMAGE` in cosign's legacy layout: a `sha256-<hex>.sig` manifest whose
//! layers are simple-signing payloads annotated with the signature, certificate, chain and Rekor
//! bundle (SET).

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use sigstore_lite_core::bundle::{Bundle, TlogEntry};
use sigstore_lite_core::keys::{pem_parse_all, Signer};
use sigstore_lite_core::verify::{Policy, VerifyError};

use crate::error::Error;
use crate::keyless::{self, Narrator};
use crate::oci::{Reference, Registry, OCI_MANIFEST};
use crate::services;
use crate::trust::Trust;

pub const SIMPLESIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
pub const ANN_SIGNATURE: &str = "dev.cosignproject.cosign/signature";
pub const ANN_CERTIFICATE: &str = "dev.sigstore.cosign/certificate";
pub const ANN_CHAIN: &str = "dev.sigstore.cosign/chain";
pub const ANN_BUNDLE: &str = "dev.sigstore.cosign/bundle";
pub const SIGNATURE_TYPE: &str = "cosign container image signature";

/// `sha256-<hex>.sig`.
pub fn signature_tag(digest: &str) -> String {
    format!("{}.sig", digest.replace(':', "-"))
}

/// The simple-signing payload cosign signs.
pub fn payload(r: &Reference, digest: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "critical": {"identity": {"docker-reference": r.name()}, "image": {"docker-manifest-digest": digest}, "type": SIGNATURE_TYPE},
        "optional": null
    }))
    .expect("json")
}

/// How to sign.
pub enum SignWith<'a> {
    /// An OIDC token: ephemeral key and Fulcio certificate.
    Token(&'a str),
    /// A key pair (cosign.key); logged in Rekor unless `tlog_upload` is false.
    Key { key: &'a Signer, tlog_upload: bool },
}

/// Signs `image` and attaches the signature. Returns (image digest, v0.3 bundle).
pub async fn sign(
    trust: Option<&Trust>,
    reg: &Registry,
    image: &str,
    with: SignWith<'_>,
    now: i64,
    n: Narrator,
) -> Result<(String, Bundle), Error> {
    let r = Reference::parse(image)?;
    let digest = reg.resolve(&r).await?;
    if r.digest.is_none() {
        eprintln!("Signing the digest {digest} that the tag {} points to (signatures attach to digests, not tags)", r.tag.as_deref().unwrap_or("latest"));
    }
    let p = payload(&r, &digest);
    let pd: [u8; 32] = Sha256::digest(&p).into();
    let need_trust = || {
        trust.ok_or_else(|| {
            Error::Usage(
                "give --trust-config or --trusted-root (needed to sign with Fulcio and Rekor)"
                    .into(),
            )
        })
    };
    let mut annotations = serde_json::Map::new();
    let (sig, leaf_der, tle) = match with {
        SignWith::Token(token) => {
            let t = need_trust()?;
            let id = keyless::certificate(t, token, now, n).await?;
            let sig = id.key.sign(&p);
            annotations.insert(ANN_CERTIFICATE.into(), json!(id.leaf_pem()));
            annotations.insert(ANN_CHAIN.into(), json!(id.chain_pem()));
            let (entry, tle) =
                keyless::log(t, &keyless::hashedrekord(&pd, &sig, &id.leaf_pem()), n).await?;
            annotations.insert(ANN_BUNDLE.into(), json!(rekor_bundle(&entry).to_string()));
            (sig, Some(id.chain[0].clone()), Some(tle))
        }
        SignWith::Key { key, tlog_upload } => {
            let sig = key.sign(&p);
            let pem = key.public_key().to_pem();
            let tle = if tlog_upload {
                let (entry, tle) =
                    keyless::log(need_trust()?, &keyless::hashedrekord(&pd, &sig, &pem), n).await?;
                annotations.insert(ANN_BUNDLE.into(), json!(rekor_bundle(&entry).to_string()));
                Some(tle)
            } else {
                None
            };
            (sig, None, tle)
        }
    };
    annotations.insert(ANN_SIGNATURE.into(), json!(B64.encode(&sig)));
    let layer_digest = reg.put_blob(&r, &p).await?;
    let layer = json!({
        "mediaType": SIMPLESIGNING,
        "size": p.len(),
        "digest": layer_digest,
        "annotations": annotations,
    });
    // Read-modify-write the signature manifest, appending to what is there.
    let tag = signature_tag(&digest);
    let mut layers: Vec<Value> = match reg.manifest(&r, &tag).await? {
        Some((body, _, _)) => serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|m| m["layers"].as_array().cloned())
            .unwrap_or_default(),
        None => Vec::new(),
    };
    layers.retain(|l| {
        l["digest"] != layer["digest"]
            || l["annotations"][ANN_SIGNATURE] != layer["annotations"][ANN_SIGNATURE]
    });
    layers.push(layer);
    let diff_ids: Vec<Value> = layers.iter().map(|l| l["digest"].clone()).collect();
    let config = serde_json::to_vec(&json!({
        "architecture": "", "created": "0001-01-01T00:00:00Z", "history": [{"created": "0001-01-01T00:00:00Z"}],
        "os": "", "rootfs": {"type": "layers", "diff_ids": diff_ids}, "config": {}
    }))
    .expect("json");
    let config_digest = reg.put_blob(&r, &config).await?;
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": config.len(), "digest": config_digest},
        "layers": layers,
    }))
    .expect("json");
    reg.put_manifest(&r, &tag, &manifest, OCI_MANIFEST).await?;
    n.say(format!("pushed the signature to {}:{tag}", r.name()));
    let bundle =
        crate::blob::message_bundle(leaf_der.as_deref(), tle.into_iter().collect(), &pd, &sig);
    Ok((digest, bundle))
}

/// cosign's Rekor bundle annotation for a log entry.
fn rekor_bundle(entry: &sigstore_lite_core::rekor::LogEntry) -> Value {
    json!({
        "SignedEntryTimestamp": entry.verification.signed_entry_timestamp,
        "Payload": {"body": entry.body, "integratedTime": entry.integrated_time, "logIndex": entry.log_index, "logID": entry.log_id},
    })
}

/// Options of `verify`.
pub struct VerifyOptions {
    /// Use only the bundle annotation; never ask Rekor.
    pub offline: bool,
    /// Skip the transparency log (cosign's --insecure-ignore-tlog): certificates are then checked
    /// at `now`, so an expired one fails.
    pub ignore_tlog: bool,
    pub now: i64,
    pub narrator: Narrator,
}

/// Who must have signed: an identity (keyless) or a key.
#[derive(Clone, Copy)]
pub enum VerifyWith<'a> {
    Identity(&'a Policy),
    Key(&'a sigstore_lite_core::keys::PublicKey),
}

fn layer_error(e: impl Into<Error>) -> Error {
    e.into()
}

/// Verifies one signature layer; returns the augmented payload.
async fn verify_layer(
    trust: &Trust,
    reg: &Registry,
    r: &Reference,
    digest: &str,
    layer: &Value,
    with: VerifyWith<'_>,
    opts: &VerifyOptions,
) -> Result<Value, Error> {
    let n = opts.narrator;
    let ann = layer["annotations"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let get = |k: &str| ann.get(k).and_then(Value::as_str).map(str::to_string);
    let payload_digest = layer["digest"]
        .as_str()
        .ok_or_else(|| Error::Registry("a layer without a digest".into()))?;
    let p = reg.blob(r, payload_digest).await?;
    let sig = B64
        .decode(get(ANN_SIGNATURE).unwrap_or_default())
        .map_err(|_| {
            layer_error(VerifyError::Malformed(
                "the signature annotation is not base64".into(),
            ))
        })?;
    // The verifier as logged: the certificate (keyless) or the public key.
    let (verifier_pem, verifier_der) = match with {
        VerifyWith::Identity(_) => {
            let pem = get(ANN_CERTIFICATE).ok_or(Error::NoCertificate)?;
            let der = pem_parse_all(&pem)
                .map_err(|_| Error::NoCertificate)?
                .remove(0)
                .der;
            (pem, der)
        }
        VerifyWith::Key(k) => (k.to_pem(), k.spki_der().to_vec()),
    };
    let chain: Vec<Vec<u8>> = get(ANN_CHAIN)
        .and_then(|c| pem_parse_all(&c).ok())
        .unwrap_or_default()
        .into_iter()
        .map(|p| p.der)
        .collect();
    let pd: [u8; 32] = Sha256::digest(&p).into();

    // 1. Transparency log: the bundle annotation's SET, else (online) a Rekor search.
    let mut bundle_json = Value::Null;
    let logged = match get(ANN_BUNDLE) {
        _ if opts.ignore_tlog => None,
        Some(b) => {
            let v: Value = serde_json::from_str(&b).map_err(|_| {
                layer_error(VerifyError::Malformed(
                    "the bundle annotation is not JSON".into(),
                ))
            })?;
            let pl = &v["Payload"];
            let body = pl["body"].as_str().unwrap_or_default().to_string();
            let t = pl["integratedTime"].as_i64().unwrap_or(0);
            let log_id = hex::decode(pl["logID"].as_str().unwrap_or_default()).unwrap_or_default();
            trust.material.verify_set(
                &body,
                t,
                &log_id,
                pl["logIndex"].as_i64().unwrap_or(-1),
                v["SignedEntryTimestamp"].as_str().unwrap_or_default(),
            )?;
            n.say(format!(
                "the SET of log entry {} verifies offline (integrated {})",
                pl["logIndex"],
                sigstore_lite_core::trust::rfc3339(t)
            ));
            bundle_json = v;
            Some((body, t))
        }
        None if opts.offline => return Err(VerifyError::MissingPromise.into()),
        None => {
            let proposed = keyless::hashedrekord(&pd, &sig, &verifier_pem);
            let e = services::rekor_find(trust.rekor()?, &proposed)
                .await?
                .ok_or_else(|| layer_error(VerifyError::NoTlogEntry))?;
            let tle = TlogEntry::from_rekor(&e).ok_or_else(|| {
                layer_error(VerifyError::Malformed(
                    "the Rekor entry cannot be read".into(),
                ))
            })?;
            let t = trust.material.verify_tlog_entry(&tle, false, false)?;
            n.say(format!(
                "found log entry {} in Rekor; its SET and inclusion proof verify",
                e.log_index
            ));
            Some((e.body, t))
        }
    };
    // The logged body must be this signature, verifier and payload.
    let at = if let Some((body_b64, at)) = logged {
        let body: Value = serde_json::from_slice(&B64.decode(&body_b64).unwrap_or_default())
            .unwrap_or(Value::Null);
        let spec = &body["spec"];
        let logged_cert = spec["signature"]["publicKey"]["content"]
            .as_str()
            .and_then(|s| B64.decode(s).ok())
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|p| pem_parse_all(&p).ok())
            .map(|mut v| v.remove(0).der);
        if body["kind"] != "hashedrekord"
            || spec["data"]["hash"]["value"].as_str() != Some(hex::encode(pd).as_str())
            || spec["signature"]["content"]
                .as_str()
                .and_then(|s| B64.decode(s).ok())
                != Some(sig.clone())
            || logged_cert != Some(verifier_der.clone())
        {
            return Err(VerifyError::BodyMismatch(
                "the logged entry is not this signature, certificate and payload".into(),
            )
            .into());
        }
        at
    } else {
        n.say("the transparency log is ignored (--insecure-ignore-tlog)");
        opts.now
    };
    // 2. Certificate chain and SCT at the integrated time (or now); identity and issuer.
    let (key, who) = match with {
        VerifyWith::Identity(policy) => {
            let cert = trust
                .material
                .verify_certificate(&verifier_der, &chain, at)?;
            let (identity, issuer) = policy.check(&cert)?;
            n.say(format!("certificate for {identity} (issuer {issuer}) chains to a trusted CA at the integrated time; SCT verifies"));
            let v1 = cert
                .sigstore_extensions
                .get(sigstore_lite_core::fulcio::OID_ISSUER_V1)
                .cloned();
            (cert.key, Some((identity, issuer, v1)))
        }
        VerifyWith::Key(k) => (k.clone(), None),
    };
    // 3. Signature over the payload, and the payload names this image.
    key.verify_message_sha256(&p, &sig)
        .map_err(|_| layer_error(VerifyError::BadSignature))?;
    let pv: Value = serde_json::from_slice(&p)
        .map_err(|_| layer_error(VerifyError::Malformed("the payload is not JSON".into())))?;
    if pv["critical"]["type"] != SIGNATURE_TYPE {
        return Err(VerifyError::Malformed(
            "the payload is not a cosign container image signature".into(),
        )
        .into());
    }
    let signed_digest = pv["critical"]["image"]["docker-manifest-digest"]
        .as_str()
        .unwrap_or_default();
    if signed_digest != digest {
        return Err(VerifyError::ArtifactMismatch(format!(
            "the signature is for {signed_digest}, not {digest}"
        ))
        .into());
    }
    let mut out = pv;
    let mut optional = out["optional"]
        .as_object()
        .cloned()
        .unwrap_or_else(Map::new);
    if let Some((identity, issuer, v1)) = who {
        optional.insert("Subject".into(), json!(identity));
        optional.insert("Issuer".into(), json!(issuer));
        optional.insert("1.3.6.1.4.1.57264.1.1".into(), json!(v1));
    }
    if !bundle_json.is_null() {
        optional.insert("Bundle".into(), bundle_json);
    }
    out["optional"] = Value::Object(optional);
    Ok(out)
}

/// Verifies that some signature attached to `image` satisfies the policy; returns the verified
/// payloads (cosign's stdout JSON array).
pub async fn verify(
    trust: &Trust,
    reg: &Registry,
    image: &str,
    with: VerifyWith<'_>,
    opts: &VerifyOptions,
) -> Result<Vec<Value>, Error> {
    let n = opts.narrator;
    let r = Reference::parse(image)?;
    let digest = reg.resolve(&r).await?;
    n.say(format!("{image} is {digest}"));
    let tag = signature_tag(&digest);
    let Some((body, _, _)) = reg.manifest(&r, &tag).await? else {
        return Err(Error::NoSignatures(r.to_string()));
    };
    let m: Value = serde_json::from_slice(&body)
        .map_err(|e| Error::Registry(format!("the signature manifest is not JSON: {e}")))?;
    let layers = m["layers"].as_array().cloned().unwrap_or_default();
    if layers.is_empty() {
        return Err(Error::NoSignatures(r.to_string()));
    }
    let mut ok = Vec::new();
    let mut errors = Vec::new();
    for l in layers.iter().filter(|l| l["mediaType"] == SIMPLESIGNING) {
        match verify_layer(trust, reg, &r, &digest, l, with, opts).await {
            Ok(v) => ok.push(v),
            Err(e) => {
                n.say(format!("a signature did not verify: {e}"));
                errors.push(e);
            }
        }
    }
    if ok.is_empty() {
        if !errors.is_empty() && errors.iter().all(|e| matches!(e, Error::NoCertificate)) {
            return Err(Error::NoCertificate);
        }
        let first = errors.into_iter().next().map(|e| match e {
            Error::Verify(v) => v.to_string(),
            other => other.to_string(),
        });
        return Err(Error::NoMatchingSignature(
            first.unwrap_or_else(|| "no cosign signature layers".into()),
        ));
    }
    Ok(ok)
}

/// `triangulate`: where the signatures of `image` are stored.
pub async fn triangulate(reg: &Registry, image: &str) -> Result<String, Error> {
    let r = Reference::parse(image)?;
    let digest = reg.resolve(&r).await?;
    Ok(format!("{}:{}", r.name(), signature_tag(&digest)))
}

/// `tree`: what is attached to `image`, one line per signature.
pub async fn tree(reg: &Registry, image: &str) -> Result<Vec<String>, Error> {
    let r = Reference::parse(image)?;
    let digest = reg.resolve(&r).await?;
    let mut out = vec![format!(
        "📦 Supply Chain Security Related artifacts for an image: {}@{digest}",
        r.name()
    )];
    let tag = signature_tag(&digest);
    if let Some((body, _, _)) = reg.manifest(&r, &tag).await? {
        let m: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        out.push(format!(
            "└── 🔐 Signatures for an image tag: {}:{tag}",
            r.name()
        ));
        for l in m["layers"].as_array().cloned().unwrap_or_default() {
            out.push(format!("   └── 🍒 {}", l["digest"].as_str().unwrap_or("?")));
        }
    } else {
        out.push("└── (no signatures)".into());
    }
    Ok(out)
}
