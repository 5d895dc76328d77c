//! Whether an image satisfies a policy: what is attached to the image (cosign v3 bundles as
//! OCI 1.1 referrers, and the legacy `.sig` / `.att` tags), checked by the same core rules as
//! `cosign-keyless verify` and `verify-attestation`. The fetch is the shell; [`evaluate`] is
//! pure (bytes, trust material and time in, a verdict out).

use registry_client::cosign::{self as layout, Attached as Bundle};
use registry_client::{Reference, Registry};
use sigstore_lite_core::attestation::{self, POLICY_CONTROLLER_RULE, SIGN_V1};
use sigstore_lite_core::image::{
    self as core_image, attestation_tag, signature_tag, SignatureLayer, DSSE_LAYER, SIMPLESIGNING,
};
use sigstore_lite_core::verify::TrustMaterial;

use crate::policy::{
    Alternative, AttestationReq, Attestor, AttestorSet, Check, ImagePolicy, Signer,
};

/// Everything cosign attaches to one image digest.
#[derive(Default)]
pub struct Attached {
    pub bundles: Vec<Bundle>,
    pub signatures: Vec<SignatureLayer>,
    pub attestations: Vec<SignatureLayer>,
}

/// Fetches what is attached to `digest` in `r`'s repository.
pub async fn fetch(
    reg: &Registry,
    r: &Reference,
    digest: &str,
) -> Result<Attached, registry_client::Error> {
    let (sig_tag, att_tag) = (signature_tag(digest), attestation_tag(digest));
    let (bundles, signatures, attestations) = tokio::try_join!(
        layout::bundles(reg, r, digest),
        layout::legacy_layers(reg, r, &sig_tag, SIMPLESIGNING),
        layout::legacy_layers(reg, r, &att_tag, DSSE_LAYER),
    )?;
    Ok(Attached {
        bundles,
        signatures: signatures.unwrap_or_default(),
        attestations: attestations.unwrap_or_default(),
    })
}

/// Checks `image_digest` against one policy: `Ok` names the authority that admitted it, `Err`
/// says why none did (every authority's reason).
pub fn evaluate(
    p: &ImagePolicy,
    a: &Attached,
    image_digest: &str,
    tm: &TrustMaterial,
    now: i64,
) -> Result<String, String> {
    let mut reasons = Vec::new();
    for (name, alt) in &p.alternatives {
        let r = match alt {
            Alternative::Static { pass: true, .. } => Ok(()),
            Alternative::Static {
                pass: false,
                message,
            } => Err(message.clone()),
            Alternative::Verify {
                signatures,
                attestations,
            } => signatures
                .iter()
                .try_for_each(|s| signed(s, a, image_digest, tm, now))
                .and_then(|()| {
                    attestations
                        .iter()
                        .try_for_each(|req| attested(req, a, image_digest, tm, now))
                }),
        };
        match r {
            Ok(()) => return Ok(name.clone()),
            Err(e) if p.alternatives.len() > 1 => reasons.push(format!("authority {name}: {e}")),
            Err(e) => reasons.push(e),
        }
    }
    Err(reasons.join("; "))
}

fn options(at: &Attestor, now: i64) -> core_image::Options {
    core_image::Options {
        ignore_tlog: at.ignore_tlog,
        now,
    }
}

/// Each way the attestor may have signed (a keyless attestor with several identities tries each).
fn signers(at: &Attestor) -> Vec<core_image::Signer<'_>> {
    match &at.signer {
        Signer::Key(k) => vec![core_image::Signer::Key(k)],
        Signer::Keyless(ids) => ids.iter().map(core_image::Signer::Identity).collect(),
    }
}

/// At least `needed` attestors of the set signed the image.
fn signed(
    set: &AttestorSet,
    a: &Attached,
    digest: &str,
    tm: &TrustMaterial,
    now: i64,
) -> Result<(), String> {
    let mut ok = 0;
    let mut first_error = None;
    for at in &set.entries {
        match signature_by(at, a, digest, tm, now) {
            Ok(()) => ok += 1,
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
        if ok >= set.needed {
            return Ok(());
        }
    }
    Err(match (set.entries.len(), first_error) {
        (1, Some(e)) => e,
        (n, e) => format!(
            "{ok} of {n} attestors verified, {} needed{}",
            set.needed,
            e.map(|e| format!(": {e}")).unwrap_or_default()
        ),
    })
}

fn signature_by(
    at: &Attestor,
    a: &Attached,
    digest: &str,
    tm: &TrustMaterial,
    now: i64,
) -> Result<(), String> {
    if a.bundles.is_empty() && a.signatures.is_empty() {
        return Err("no signatures found (no cosign bundle referrers and no .sig tag)".into());
    }
    let mut first_error = None;
    for who in signers(at) {
        for b in &a.bundles {
            let Ok(bundle) = &b.bundle else { continue };
            match core_image::verify_image_bundle(bundle, digest, tm, who, options(at, now)) {
                Ok(v) if v.statement.predicate_type == SIGN_V1 => return Ok(()),
                Ok(_) => {} // an attestation, not a signature
                Err(e) => {
                    first_error.get_or_insert(e.to_string());
                }
            }
        }
        if !a.signatures.is_empty() {
            match core_image::verify_signatures(&a.signatures, digest, tm, who, options(at, now)) {
                Ok(v) if !v.is_empty() => return Ok(()),
                Ok(_) => {}
                Err(e) => {
                    first_error.get_or_insert(e.to_string());
                }
            }
        }
    }
    Err(format!(
        "signature validation failed for {}: {}",
        at.name,
        first_error.unwrap_or_else(|| "no matching signatures".into())
    ))
}

/// What the search for attestations saw besides what it wanted, for the denial message.
#[derive(Default)]
struct Seen {
    found_types: Vec<String>,
    first_error: Option<String>,
}

/// The statements of `predicate_type` about the image that `at` signed.
fn statements_by(
    at: &Attestor,
    a: &Attached,
    digest: &str,
    predicate_type: &str,
    tm: &TrustMaterial,
    now: i64,
    seen: &mut Seen,
) -> Vec<sigstore_lite_core::dsse::Statement> {
    let mut out = Vec::new();
    for who in signers(at) {
        let bundles = a
            .bundles
            .iter()
            .filter_map(|b| b.bundle.as_ref().ok())
            .map(|b| {
                core_image::verify_image_bundle(b, digest, tm, who, options(at, now))
                    .map_err(|e| e.to_string())
            });
        let layers = a.attestations.iter().map(|l| {
            core_image::verify_attestation_layer(l, digest, tm, who, options(at, now))
                .map_err(|e| e.to_string())
        });
        for v in bundles.chain(layers) {
            match v {
                Ok(v) if v.statement.predicate_type == SIGN_V1 => {}
                Ok(v) => {
                    if attestation::check(&v.statement, digest, predicate_type).is_ok() {
                        out.push(v.statement);
                    } else if !seen.found_types.contains(&v.statement.predicate_type) {
                        seen.found_types.push(v.statement.predicate_type.clone());
                    }
                }
                Err(e) => {
                    seen.first_error.get_or_insert(e);
                }
            }
        }
        if !out.is_empty() {
            break;
        }
    }
    out
}

/// The attestation is attached, signed by enough attestors, and passes its check.
fn attested(
    req: &AttestationReq,
    a: &Attached,
    digest: &str,
    tm: &TrustMaterial,
    now: i64,
) -> Result<(), String> {
    for set in &req.attestors {
        let mut ok = 0;
        let mut seen = Seen::default();
        let mut policy_failure = None;
        for at in &set.entries {
            let sts = statements_by(at, a, digest, &req.predicate_type, tm, now, &mut seen);
            if sts.is_empty() {
                continue;
            }
            match sts.iter().map(|st| check(req, st)).find(Result::is_ok) {
                Some(_) => ok += 1,
                None => {
                    policy_failure
                        .get_or_insert_with(|| check(req, &sts[0]).expect_err("none passed"));
                }
            }
            if ok >= set.needed {
                break;
            }
        }
        if ok < set.needed {
            if let Some(f) = policy_failure {
                return Err(format!("attestation {}: failed policy: {f}", req.name));
            }
            let mut msg = format!(
                "attestation {}: no matching attestations with type {}",
                req.name, req.predicate_type
            );
            if !seen.found_types.is_empty() {
                msg.push_str(&format!(
                    ", checked the following predicateTypes: {:?}",
                    seen.found_types.join(",")
                ));
            }
            if let Some(e) = seen.first_error {
                msg.push_str(&format!(" ({e})"));
            }
            return Err(msg);
        }
    }
    Ok(())
}

fn check(req: &AttestationReq, st: &sigstore_lite_core::dsse::Statement) -> Result<(), String> {
    match &req.check {
        None => Ok(()),
        Some(Check::Rego { text }) => {
            let input = serde_json::to_value(st).map_err(|e| e.to_string())?;
            attestation::evaluate_rego_rule(text, &input, POLICY_CONTROLLER_RULE)
                .map_err(|e| e.to_string())
        }
        Some(Check::Conditions(blocks)) => {
            let predicate = st.predicate.clone().unwrap_or(serde_json::Value::Null);
            for (all, any) in blocks {
                for c in all {
                    if !c.holds(&predicate)? {
                        return Err(c.message.clone().unwrap_or_else(|| {
                            format!("condition {} {:?} {} is false", c.key, c.operator, c.value)
                        }));
                    }
                }
                if !any.is_empty() {
                    let mut held = false;
                    for c in any {
                        held |= c.holds(&predicate)?;
                    }
                    if !held {
                        return Err(format!(
                            "none of the any conditions holds ({})",
                            any.iter()
                                .map(|c| c.key.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ));
                    }
                }
            }
            Ok(())
        }
    }
}
