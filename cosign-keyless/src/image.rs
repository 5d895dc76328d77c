//! `sign IMAGE` and `verify IMAGE` in cosign's legacy layout: a `sha256-<hex>.sig` manifest whose
//! layers are simple-signing payloads annotated with the signature, certificate, chain and Rekor
//! bundle (SET), so it signs through Rekor v1 whatever the signing config prefers (cosign v3's
//! OCI 1.1 bundle layout is the one that can carry Rekor v2 entries). This module fetches and pushes; what is signed and whether a signature is
//! accepted is `sigstore_lite_core::image`.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use sigstore_lite_core::bundle::{self, Bundle, TlogEntry};
use sigstore_lite_core::image::{self as policy, ImageError, SignatureLayer, SIMPLESIGNING};
use sigstore_lite_core::keys::{sha256, PublicKey, Signer};
use sigstore_lite_core::rekor::{Proposed, Verifier};
use sigstore_lite_core::verify::Policy;

use crate::error::Error;
use crate::keyless::{self, Narrator};
use crate::oci::{Reference, Registry, OCI_MANIFEST};
use crate::services;
use crate::trust::Trust;

pub use policy::{signature_tag, ANN_BUNDLE, ANN_SIGNATURE};

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
    let p = policy::simple_signing_payload(&r.name(), &digest);
    let pd = sha256(&p);
    let need_trust = || {
        trust.ok_or_else(|| {
            Error::Usage(
                "give --trust-config or --trusted-root (needed to sign with Fulcio and Rekor)"
                    .into(),
            )
        })
    };
    let (sig, chain, logged) = match with {
        SignWith::Token(token) => {
            let t = need_trust()?;
            let id = keyless::certificate(t, token, now, n).await?;
            let sig = id.key.sign(&p);
            let proposal =
                Proposed::hashedrekord(pd, sig.clone(), Verifier::Certificate(id.chain[0].clone()));
            let logged = keyless::log_v1(t, &proposal, n).await?;
            (sig, Some(id.chain), Some(logged))
        }
        SignWith::Key { key, tlog_upload } => {
            let sig = key.sign(&p);
            let logged = if tlog_upload {
                let v = Verifier::PublicKey(key.public_key().spki_der().to_vec());
                Some(
                    keyless::log_v1(
                        need_trust()?,
                        &Proposed::hashedrekord(pd, sig.clone(), v),
                        n,
                    )
                    .await?,
                )
            } else {
                None
            };
            (sig, None, logged)
        }
    };
    let annotations =
        policy::signature_annotations(&sig, chain.as_deref(), logged.as_ref().map(|(e, _)| e));
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
    let who = match &chain {
        Some(c) => bundle::Signer::Certificate(&c[0]),
        None => bundle::Signer::Key,
    };
    let tles: Vec<TlogEntry> = logged.into_iter().map(|(_, t)| t).collect();
    Ok((
        digest,
        bundle::message_bundle(who, tles, Vec::new(), &pd, &sig),
    ))
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
    Key(&'a PublicKey),
}

impl<'a> VerifyWith<'a> {
    fn signer(self) -> policy::Signer<'a> {
        match self {
            VerifyWith::Identity(p) => policy::Signer::Identity(p),
            VerifyWith::Key(k) => policy::Signer::Key(k),
        }
    }
}

/// Fetches the `.sig` layers of `digest`, with their payloads.
async fn signature_layers(
    reg: &Registry,
    r: &Reference,
    digest: &str,
) -> Result<Vec<SignatureLayer>, Error> {
    let tag = signature_tag(digest);
    let Some((body, _, _)) = reg.manifest(r, &tag).await? else {
        return Err(Error::NoSignatures(r.to_string()));
    };
    let m: Value = serde_json::from_slice(&body)
        .map_err(|e| Error::Registry(format!("the signature manifest is not JSON: {e}")))?;
    let mut out = Vec::new();
    for l in m["layers"].as_array().cloned().unwrap_or_default() {
        let media_type = l["mediaType"].as_str().unwrap_or_default().to_string();
        if media_type != SIMPLESIGNING {
            continue;
        }
        let layer_digest = l["digest"]
            .as_str()
            .ok_or_else(|| Error::Registry("a layer without a digest".into()))?;
        let annotations: BTreeMap<String, String> = l["annotations"]
            .as_object()
            .map(|a| {
                a.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        out.push(SignatureLayer {
            media_type,
            payload: reg.blob(r, layer_digest).await?,
            annotations,
            online_entry: None,
        });
    }
    if out.is_empty() {
        return Err(Error::NoSignatures(r.to_string()));
    }
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
    let mut layers = signature_layers(reg, &r, &digest).await?;
    // A signature without a bundle annotation is looked up in Rekor, unless offline.
    if !opts.offline && !opts.ignore_tlog {
        for l in layers
            .iter_mut()
            .filter(|l| !l.annotations.contains_key(ANN_BUNDLE))
        {
            let Ok(proposal) = policy::layer_log_proposal(l, with.signer()) else {
                continue;
            };
            if let Some(e) = services::rekor_find(trust.rekor_v1()?, &proposal.to_json()).await? {
                n.say(format!("found log entry {} in Rekor", e.log_index));
                l.online_entry = TlogEntry::from_rekor(&e);
            }
        }
    }
    let verified = policy::verify_signatures(
        &layers,
        &digest,
        &trust.material,
        with.signer(),
        policy::Options {
            ignore_tlog: opts.ignore_tlog,
            now: opts.now,
        },
    )
    .map_err(|e| match e {
        ImageError::NoSignatures => Error::NoSignatures(r.to_string()),
        ImageError::NoCertificate => Error::NoCertificate,
        ImageError::NoMatching(v) => Error::NoMatchingSignature(v.to_string()),
        other => Error::NoMatchingSignature(other.to_string()),
    })?;
    for v in &verified {
        match (&v.identity, v.integrated_time) {
            (Some((id, iss)), Some(t)) => n.say(format!(
                "a signature by {id} (issuer {iss}) verifies: logged at {}, certificate chain and SCT valid then",
                sigstore_lite_core::trust::rfc3339(t)
            )),
            (Some((id, iss)), None) => n.say(format!(
                "a signature by {id} (issuer {iss}) verifies; the transparency log was not checked"
            )),
            (None, _) => n.say("a signature by the given key verifies"),
        }
    }
    Ok(verified.into_iter().map(|v| v.payload).collect())
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
