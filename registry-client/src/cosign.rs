//! Where cosign keeps what it attaches to an image, fetched and written: the legacy tags
//! (`sha256-<hex>.sig`, `.att`: one manifest whose layers are the signatures or attestations,
//! appended to) and cosign v3's Sigstore bundles as OCI 1.1 referrers. What the bytes mean and
//! whether they verify is `sigstore_lite_core::image`; cosign-keyless and admission-lite share
//! this.

use std::collections::BTreeMap;

use crate::{Descriptor, Error, Reference, Registry, OCI_MANIFEST};
use serde_json::{json, Value};
use sigstore_lite_core::bundle::Bundle;
use sigstore_lite_core::image::{self as policy, SignatureLayer, BUNDLE_V03, OCI_EMPTY_BLOB};

fn annotations_of(v: &Value) -> BTreeMap<String, String> {
    v["annotations"]
        .as_object()
        .map(|a| {
            a.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// The layers of the legacy manifest at `tag` with `media_type`, with their blobs; `None` when
/// the tag does not exist.
pub async fn legacy_layers(
    reg: &Registry,
    r: &Reference,
    tag: &str,
    media_type: &str,
) -> Result<Option<Vec<SignatureLayer>>, Error> {
    let Some((body, _, _)) = reg.manifest(r, tag).await? else {
        return Ok(None);
    };
    let m: Value = serde_json::from_slice(&body)
        .map_err(|e| Error::Registry(format!("the manifest at {tag} is not JSON: {e}")))?;
    let mut out = Vec::new();
    for l in m["layers"].as_array().cloned().unwrap_or_default() {
        if l["mediaType"] != media_type {
            continue;
        }
        let layer_digest = l["digest"]
            .as_str()
            .ok_or_else(|| Error::Registry("a layer without a digest".into()))?;
        out.push(SignatureLayer {
            media_type: media_type.to_string(),
            payload: reg.blob(r, layer_digest).await?,
            annotations: annotations_of(&l),
            online_entry: None,
        });
    }
    Ok(Some(out))
}

/// Appends a layer (`payload` with `media_type` and `annotations`) to the legacy manifest at
/// `tag`, keeping the layers there except those `replaced` says to drop (and an identical one).
pub async fn append_layer(
    reg: &Registry,
    r: &Reference,
    tag: &str,
    payload: &[u8],
    media_type: &str,
    annotations: &BTreeMap<String, String>,
    replaced: impl Fn(&Value) -> bool,
) -> Result<(), Error> {
    let layer_digest = reg.put_blob(r, payload).await?;
    let layer = json!({
        "mediaType": media_type,
        "size": payload.len(),
        "digest": layer_digest,
        "annotations": annotations,
    });
    let mut layers: Vec<Value> = match reg.manifest(r, tag).await? {
        Some((body, _, _)) => serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|m| m["layers"].as_array().cloned())
            .unwrap_or_default(),
        None => Vec::new(),
    };
    layers.retain(|l| !replaced(l) && l != &layer);
    layers.push(layer);
    let diff_ids: Vec<Value> = layers.iter().map(|l| l["digest"].clone()).collect();
    let config = serde_json::to_vec(&json!({
        "architecture": "", "created": "0001-01-01T00:00:00Z", "history": [{"created": "0001-01-01T00:00:00Z"}],
        "os": "", "rootfs": {"type": "layers", "diff_ids": diff_ids}, "config": {}
    }))
    .expect("json");
    let config_digest = reg.put_blob(r, &config).await?;
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": config.len(), "digest": config_digest},
        "layers": layers,
    }))
    .expect("json");
    reg.put_manifest(r, tag, &manifest, OCI_MANIFEST).await?;
    Ok(())
}

/// Pushes `bundle` as a referrer of the image manifest `digest`, as cosign v3 does; returns the
/// referrer manifest's digest.
pub async fn push_bundle(
    reg: &Registry,
    r: &Reference,
    digest: &str,
    bundle: &Bundle,
    predicate_type: &str,
    now: i64,
) -> Result<String, Error> {
    let (subject, subject_type, _) = reg
        .manifest(r, digest)
        .await?
        .ok_or_else(|| Error::NoSuchTag(format!("{}@{digest}", r.name())))?;
    let bundle_json = serde_json::to_vec(bundle).expect("bundle serializes");
    reg.put_blob(r, OCI_EMPTY_BLOB).await?;
    reg.put_blob(r, &bundle_json).await?;
    let manifest = policy::referrer_manifest(
        &subject_type,
        digest,
        subject.len() as u64,
        &bundle_json,
        predicate_type,
        &sigstore_lite_core::trust::rfc3339(now),
    );
    Ok(reg.push_referrer(r, &manifest, digest).await?.digest)
}

/// A Sigstore bundle attached to an image as a referrer.
pub struct Attached {
    /// The referrer manifest.
    pub manifest: Descriptor,
    /// The bundle layer's digest.
    pub layer: String,
    /// The bundle, if it parses (an unreadable one is listed but never verifies).
    pub bundle: Result<Bundle, String>,
}

/// The Sigstore bundles attached to `digest` as referrers (the referrers API or its tag schema).
pub async fn bundles(reg: &Registry, r: &Reference, digest: &str) -> Result<Vec<Attached>, Error> {
    let mut out = Vec::new();
    for d in reg.referrers(r, digest, Some(BUNDLE_V03)).await? {
        let Some((body, _, _)) = reg.manifest(r, &d.digest).await? else {
            continue;
        };
        let m: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let Some(layer) = m["layers"].as_array().and_then(|l| {
            l.iter().find(|l| {
                l["mediaType"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("application/vnd.dev.sigstore.bundle"))
            })
        }) else {
            continue;
        };
        let layer_digest = layer["digest"].as_str().unwrap_or_default().to_string();
        let bundle = match reg.blob(r, &layer_digest).await {
            Ok(b) => serde_json::from_slice::<Bundle>(&b).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        out.push(Attached {
            manifest: d,
            layer: layer_digest,
            bundle,
        });
    }
    Ok(out)
}
