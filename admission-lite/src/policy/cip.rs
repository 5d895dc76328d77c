//! policy-controller's ClusterImagePolicy (policy.sigstore.dev v1beta1/v1alpha1), read strictly
//! into the shared model of [`super`].

use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Cip {
    #[allow(dead_code)]
    api_version: String,
    #[allow(dead_code)]
    kind: String,
    metadata: Metadata,
    spec: CipSpec,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CipSpec {
    images: Vec<CipImage>,
    authorities: Vec<CipAuthority>,
    mode: Option<String>,
    policy: Option<Yaml>,
    #[serde(rename = "match")]
    matches: Option<Yaml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CipImage {
    glob: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CipAuthority {
    name: Option<String>,
    key: Option<CipKey>,
    keyless: Option<CipKeyless>,
    #[serde(rename = "static")]
    static_: Option<CipStatic>,
    source: Option<Yaml>,
    ctlog: Option<CipCtlog>,
    #[serde(rename = "rfc3161timestamp")]
    rfc3161_timestamp: Option<CipTrustRef>,
    attestations: Option<Vec<CipAttestation>>,
    signature_format: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CipKey {
    data: Option<String>,
    secret_ref: Option<Yaml>,
    kms: Option<String>,
    hash_algorithm: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CipKeyless {
    /// Fulcio's URL: not contacted (certificates come with the signatures).
    #[allow(dead_code)]
    url: Option<String>,
    identities: Option<Vec<CipIdentity>>,
    #[serde(rename = "ca-cert")]
    ca_cert: Option<Yaml>,
    #[allow(dead_code)]
    trust_root_ref: Option<String>,
    #[serde(rename = "insecureIgnoreSCT")]
    insecure_ignore_sct: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CipIdentity {
    issuer: Option<String>,
    subject: Option<String>,
    issuer_reg_exp: Option<String>,
    subject_reg_exp: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CipStatic {
    action: String,
    message: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CipCtlog {
    /// Rekor's URL (despite the name): entries come with the signatures and are checked against
    /// the trusted root's logs.
    #[allow(dead_code)]
    url: Option<String>,
    #[allow(dead_code)]
    trust_root_ref: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CipTrustRef {
    #[allow(dead_code)]
    trust_root_ref: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CipAttestation {
    name: String,
    predicate_type: String,
    policy: Option<CipPolicy>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CipPolicy {
    #[serde(rename = "type")]
    kind: String,
    data: Option<String>,
    remote: Option<Yaml>,
    config_map_ref: Option<Yaml>,
    fetch_config_file: Option<bool>,
    include_spec: Option<bool>,
    include_object_meta: Option<bool>,
    include_type_meta: Option<bool>,
}

pub(crate) fn cip(p: Cip, file: &str) -> Result<ImagePolicy, String> {
    let s = p.spec;
    if s.policy.is_some() {
        return Err(unsupported(
            "spec.policy",
            "policies over the whole image verification result; put Rego under authorities[].attestations[].policy",
        ));
    }
    if s.matches.is_some() {
        return Err(unsupported(
            "spec.match",
            "the webhook checks Pods and pod controllers, as registered by `admission-lite manifests`",
        ));
    }
    let mode = match s.mode.as_deref() {
        None | Some("enforce") => Mode::Enforce,
        Some("warn") => Mode::Warn,
        Some(m) => return Err(format!("spec.mode: {m:?} is not enforce or warn")),
    };
    if s.images.is_empty() {
        return Err("spec.images: at least one glob is required".into());
    }
    let globs = s
        .images
        .iter()
        .enumerate()
        .map(|(i, g)| {
            Ok((
                g.glob.clone(),
                glob(&g.glob, true, &format!("spec.images[{i}].glob"))?,
            ))
        })
        .collect::<Result<Vec<_>, String>>()?;
    if s.authorities.is_empty() {
        return Err("spec.authorities: at least one authority is required".into());
    }
    let mut alternatives = Vec::new();
    for (i, a) in s.authorities.into_iter().enumerate() {
        let f = format!("spec.authorities[{i}]");
        let name = a.name.clone().unwrap_or_else(|| format!("authority-{i}"));
        if a.source.is_some() {
            return Err(unsupported(
                &format!("{f}.source"),
                "signatures are read from the image's own repository",
            ));
        }
        if let Some(sf) = a.signature_format.as_deref() {
            if sf != "legacy" && sf != "bundle" {
                return Err(format!(
                    "{f}.signatureFormat: {sf:?} is not legacy or bundle"
                ));
            }
        }
        let _ = (a.ctlog, a.rfc3161_timestamp);
        let chosen = [a.key.is_some(), a.keyless.is_some(), a.static_.is_some()]
            .iter()
            .filter(|b| **b)
            .count();
        if chosen != 1 {
            return Err(format!(
                "{f}: exactly one of key, keyless, static is required"
            ));
        }
        if let Some(st) = a.static_ {
            let pass = match st.action.as_str() {
                "pass" => true,
                "fail" => false,
                other => return Err(format!("{f}.static.action: {other:?} is not pass or fail")),
            };
            let message = st
                .message
                .unwrap_or_else(|| format!("static authority {name}: {}", st.action));
            alternatives.push((name, Alternative::Static { pass, message }));
            continue;
        }
        let signer = if let Some(k) = a.key {
            if k.secret_ref.is_some() {
                return Err(unsupported(
                    &format!("{f}.key.secretRef"),
                    "give the public key inline in key.data",
                ));
            }
            if k.kms.is_some() {
                return Err(unsupported(&format!("{f}.key.kms"), "no KMS here"));
            }
            if k.hash_algorithm.as_deref().is_some_and(|h| h != "sha256") {
                return Err(unsupported(
                    &format!("{f}.key.hashAlgorithm"),
                    "only sha256",
                ));
            }
            let data = k
                .data
                .ok_or_else(|| format!("{f}.key: data (a PEM public key) is required"))?;
            Signer::Key(public_key(&data, &format!("{f}.key.data"))?)
        } else {
            let k = a.keyless.expect("chosen");
            if k.ca_cert.is_some() {
                return Err(unsupported(
                    &format!("{f}.keyless.ca-cert"),
                    "the Fulcio CA comes from --trusted-root",
                ));
            }
            if k.insecure_ignore_sct == Some(true) {
                return Err(unsupported(
                    &format!("{f}.keyless.insecureIgnoreSCT"),
                    "SCTs are always checked",
                ));
            }
            let ids = k.identities.unwrap_or_default();
            if ids.is_empty() {
                return Err(format!(
                    "{f}.keyless.identities: at least one identity is required"
                ));
            }
            Signer::Keyless(
                ids.iter()
                    .enumerate()
                    .map(|(j, id)| {
                        identity(
                            id.issuer.as_deref(),
                            id.issuer_reg_exp.as_deref(),
                            id.subject.as_deref(),
                            id.subject_reg_exp.as_deref(),
                            &format!("{f}.keyless.identities[{j}]"),
                        )
                    })
                    .collect::<Result<_, _>>()?,
            )
        };
        let set = AttestorSet {
            needed: 1,
            entries: vec![Attestor {
                name: name.clone(),
                signer,
                ignore_tlog: false,
            }],
        };
        let atts = a.attestations.unwrap_or_default();
        let alt = if atts.is_empty() {
            Alternative::Verify {
                signatures: vec![set],
                attestations: Vec::new(),
            }
        } else {
            // As policy-controller: an authority with attestations checks those instead of
            // plain signatures.
            let mut reqs = Vec::new();
            for (j, at) in atts.into_iter().enumerate() {
                let af = format!("{f}.attestations[{j}]");
                let check = match at.policy {
                    None => None,
                    Some(pol) => Some(rego_policy(pol, &format!("{af}.policy"))?),
                };
                reqs.push(AttestationReq {
                    name: at.name,
                    predicate_type: predicate_type(
                        &at.predicate_type,
                        &format!("{af}.predicateType"),
                    )?,
                    attestors: vec![set.clone()],
                    check,
                });
            }
            Alternative::Verify {
                signatures: Vec::new(),
                attestations: reqs,
            }
        };
        alternatives.push((name, alt));
    }
    Ok(ImagePolicy {
        name: format!("ClusterImagePolicy/{}", p.metadata.name),
        file: file.to_string(),
        globs,
        skip: Vec::new(),
        kinds: None,
        namespaces: None,
        alternatives,
        mode,
        mutate_digest: true,
        verify_digest: true,
    })
}

fn rego_policy(p: CipPolicy, f: &str) -> Result<Check, String> {
    if p.kind != "rego" {
        return Err(unsupported(
            &format!("{f}.type {:?}", p.kind),
            "write the policy in Rego (type: rego, package sigstore, isCompliant)",
        ));
    }
    for (set, name) in [
        (p.remote.is_some(), "remote"),
        (p.config_map_ref.is_some(), "configMapRef"),
        (p.fetch_config_file.is_some(), "fetchConfigFile"),
        (p.include_spec.is_some(), "includeSpec"),
        (p.include_object_meta.is_some(), "includeObjectMeta"),
        (p.include_type_meta.is_some(), "includeTypeMeta"),
    ] {
        if set {
            return Err(unsupported(
                &format!("{f}.{name}"),
                "give the policy inline in data",
            ));
        }
    }
    let text = p.data.ok_or_else(|| format!("{f}.data is required"))?;
    // Compile now, so that a broken policy stops the webhook at start rather than denying
    // every image later.
    match attestation::evaluate_rego_rule(&text, &Json::Null, attestation::POLICY_CONTROLLER_RULE) {
        Err(attestation::PolicyError::Compile(e)) => Err(format!("{f}.data: {e}")),
        Err(attestation::PolicyError::NoAllowRule(r)) => Err(format!(
            "{f}.data: the policy has no rule {r} (package sigstore, isCompliant)"
        )),
        _ => Ok(Check::Rego { text }),
    }
}

// ---- Kyverno ClusterPolicy ---------------------------------------------------------------
