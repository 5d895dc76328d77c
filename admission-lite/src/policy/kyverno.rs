//! Kyverno's ClusterPolicy `verifyImages` rules (kyverno.io/v1), read strictly into the shared
//! model of [`super`], and its attestation conditions.

use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Kyverno {
    #[allow(dead_code)]
    api_version: String,
    #[allow(dead_code)]
    kind: String,
    metadata: Metadata,
    spec: KSpec,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct KSpec {
    rules: Vec<KRule>,
    validation_failure_action: Option<String>,
    // Registration and background scans: the webhook's own registration comes from
    // `admission-lite manifests`; background scans do not apply to a webhook.
    #[allow(dead_code)]
    background: Option<bool>,
    #[allow(dead_code)]
    admission: Option<bool>,
    #[allow(dead_code)]
    webhook_configuration: Option<Yaml>,
    #[allow(dead_code)]
    failure_policy: Option<String>,
    #[allow(dead_code)]
    webhook_timeout_seconds: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct KRule {
    name: String,
    #[serde(rename = "match")]
    matches: KMatch,
    exclude: Option<Yaml>,
    verify_images: Option<Vec<KVerify>>,
    validate: Option<Yaml>,
    mutate: Option<Yaml>,
    generate: Option<Yaml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KMatch {
    any: Option<Vec<KFilter>>,
    all: Option<Vec<KFilter>>,
    resources: Option<KResources>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KFilter {
    resources: KResources,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KResources {
    kinds: Option<Vec<String>>,
    namespaces: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct KVerify {
    #[serde(rename = "type")]
    kind: Option<String>,
    image_references: Vec<String>,
    skip_image_references: Option<Vec<String>>,
    attestors: Option<Vec<KAttestorSet>>,
    attestations: Option<Vec<KAttestation>>,
    mutate_digest: Option<bool>,
    verify_digest: Option<bool>,
    required: Option<bool>,
    #[allow(dead_code)]
    use_cache: Option<bool>,
    failure_action: Option<String>,
    repository: Option<String>,
    image_registry_credentials: Option<KCreds>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct KCreds {
    /// Honoured by `serve --allow-insecure-registry`.
    #[allow(dead_code)]
    allow_insecure_registry: Option<bool>,
    secrets: Option<Vec<String>>,
    providers: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KAttestorSet {
    count: Option<usize>,
    entries: Vec<KEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KEntry {
    keys: Option<KKeys>,
    keyless: Option<KKeyless>,
    certificates: Option<Yaml>,
    attestor: Option<Yaml>,
    repository: Option<String>,
    annotations: Option<Yaml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct KKeys {
    public_keys: Option<String>,
    signature_algorithm: Option<String>,
    kms: Option<String>,
    secret: Option<Yaml>,
    rekor: Option<KRekor>,
    ctlog: Option<KCtlog>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct KKeyless {
    issuer: Option<String>,
    issuer_reg_exp: Option<String>,
    subject: Option<String>,
    subject_reg_exp: Option<String>,
    roots: Option<String>,
    additional_extensions: Option<Yaml>,
    rekor: Option<KRekor>,
    ctlog: Option<KCtlog>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct KRekor {
    #[allow(dead_code)]
    url: Option<String>,
    pubkey: Option<String>,
    ignore_tlog: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct KCtlog {
    #[serde(rename = "ignoreSCT")]
    ignore_sct: Option<bool>,
    pubkey: Option<String>,
    tsa_cert_chain: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct KAttestation {
    name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    predicate_type: Option<String>,
    attestors: Option<Vec<KAttestorSet>>,
    conditions: Option<Vec<KConditionBlock>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KConditionBlock {
    all: Option<Vec<KCondition>>,
    any: Option<Vec<KCondition>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KCondition {
    pub(crate) key: Json,
    pub(crate) operator: String,
    pub(crate) value: Json,
    pub(crate) message: Option<String>,
}

fn failure_mode(a: &str, f: &str) -> Result<Mode, String> {
    match a.to_ascii_lowercase().as_str() {
        "enforce" => Ok(Mode::Enforce),
        "audit" => Ok(Mode::Warn),
        _ => Err(format!("{f}: {a:?} is not Enforce or Audit")),
    }
}

pub(crate) fn kyverno(p: Kyverno, file: &str) -> Result<Vec<ImagePolicy>, String> {
    let spec_mode = match &p.spec.validation_failure_action {
        Some(a) => failure_mode(a, "spec.validationFailureAction")?,
        None => Mode::Warn, // Kyverno's default is Audit
    };
    if p.spec.rules.is_empty() {
        return Err("spec.rules: at least one rule with verifyImages is required".into());
    }
    let mut out = Vec::new();
    for (ri, r) in p.spec.rules.into_iter().enumerate() {
        let f = format!("spec.rules[{ri}]");
        for (set, name) in [
            (r.validate.is_some(), "validate"),
            (r.mutate.is_some(), "mutate"),
            (r.generate.is_some(), "generate"),
            (r.exclude.is_some(), "exclude"),
        ] {
            if set {
                return Err(unsupported(
                    &format!("{f}.{name}"),
                    "admission-lite enforces verifyImages rules only",
                ));
            }
        }
        let (kinds, namespaces) = kyverno_match(&r.matches, &format!("{f}.match"))?;
        let vis = match r.verify_images {
            Some(v) if !v.is_empty() => v,
            _ => return Err(format!("{f}: a verifyImages list is required")),
        };
        for (vi, v) in vis.into_iter().enumerate() {
            let vf = format!("{f}.verifyImages[{vi}]");
            out.push(kyverno_verify(
                v,
                &vf,
                spec_mode,
                format!("ClusterPolicy/{}/{}[{vi}]", p.metadata.name, r.name),
                file,
                kinds.clone(),
                namespaces.clone(),
            )?);
        }
    }
    Ok(out)
}

type KindsAndNamespaces = (Option<Vec<String>>, Option<Vec<String>>);

fn kyverno_match(m: &KMatch, f: &str) -> Result<KindsAndNamespaces, String> {
    let mut filters: Vec<&KResources> = Vec::new();
    filters.extend(m.any.iter().flatten().map(|x| &x.resources));
    filters.extend(m.all.iter().flatten().map(|x| &x.resources));
    filters.extend(m.resources.iter());
    if filters.is_empty() {
        return Err(format!("{f}: resources with kinds are required"));
    }
    if m.all.as_ref().is_some_and(|a| a.len() > 1) {
        return Err(unsupported(
            &format!("{f}.all"),
            "use one resource filter or any",
        ));
    }
    // One namespace list for the whole rule: filters that scope kinds to different namespaces
    // cannot be merged into one (that would check one kind in the other's namespaces only).
    if filters.len() > 1
        && filters
            .windows(2)
            .any(|w| w[0].namespaces != w[1].namespaces)
    {
        return Err(unsupported(
            &format!("{f}: resource filters with different namespaces"),
            "write one rule per set of namespaces",
        ));
    }
    let mut kinds = Vec::new();
    let mut namespaces: Option<Vec<String>> = None;
    for r in filters {
        for k in r.kinds.iter().flatten() {
            // `Pod`, `v1/Pod`, `apps/v1/Deployment`
            kinds.push(k.rsplit('/').next().unwrap_or(k).to_string());
        }
        if let Some(ns) = &r.namespaces {
            if let Some(n) = ns.iter().find(|n| n.contains(['*', '?'])) {
                return Err(unsupported(
                    &format!("{f}: the namespace pattern {n:?}"),
                    "name each namespace (wildcards are not matched here)",
                ));
            }
            if ns.is_empty() || ns.iter().any(|n| n.trim().is_empty()) {
                return Err(format!(
                    "{f}: an empty namespace list or name matches no object; leave namespaces out to cover all"
                ));
            }
            namespaces
                .get_or_insert_with(Vec::new)
                .extend(ns.iter().cloned());
        }
    }
    if kinds.is_empty() {
        return Err(format!("{f}: resources.kinds is required"));
    }
    if let Some(k) = kinds
        .iter()
        .find(|k| !POD_CONTROLLERS.contains(&k.as_str()))
    {
        return Err(unsupported(
            &format!("{f} kind {k}"),
            "images are read from Pods and pod controllers",
        ));
    }
    Ok((Some(kinds), namespaces))
}

fn kyverno_verify(
    v: KVerify,
    f: &str,
    spec_mode: Mode,
    name: String,
    file: &str,
    kinds: Option<Vec<String>>,
    namespaces: Option<Vec<String>>,
) -> Result<ImagePolicy, String> {
    match v.kind.as_deref() {
        None | Some("Cosign") | Some("SigstoreBundle") => {}
        Some(t) => {
            return Err(unsupported(
                &format!("{f}.type {t}"),
                "Cosign and SigstoreBundle signatures only",
            ))
        }
    }
    if v.repository.is_some() {
        return Err(unsupported(
            &format!("{f}.repository"),
            "signatures are read from the image's own repository",
        ));
    }
    if let Some(c) = &v.image_registry_credentials {
        if c.secrets.is_some() || c.providers.is_some() {
            return Err(unsupported(
                &format!("{f}.imageRegistryCredentials"),
                "credentials come from the webhook's docker config",
            ));
        }
    }
    let mut mode = match &v.failure_action {
        Some(a) => failure_mode(a, &format!("{f}.failureAction"))?,
        None => spec_mode,
    };
    if v.required == Some(false) {
        mode = Mode::Warn;
    }
    if v.image_references.is_empty() {
        return Err(format!("{f}.imageReferences: at least one is required"));
    }
    let globs = v
        .image_references
        .iter()
        .enumerate()
        .map(|(i, g)| {
            Ok((
                g.clone(),
                glob(g, false, &format!("{f}.imageReferences[{i}]"))?,
            ))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let skip = v
        .skip_image_references
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, g)| {
            // A skip pattern that covers every image leaves the rule enforcing nothing.
            if matches!(g.trim(), "*" | "**") {
                return Err(format!(
                    "{f}.skipImageReferences[{i}]: {g:?} skips every image, so the rule would check none"
                ));
            }
            glob(g, false, &format!("{f}.skipImageReferences[{i}]"))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let signatures = kyverno_attestors(v.attestors.unwrap_or_default(), &format!("{f}.attestors"))?;
    let mut attestations = Vec::new();
    for (i, a) in v.attestations.unwrap_or_default().into_iter().enumerate() {
        let af = format!("{f}.attestations[{i}]");
        let t = a
            .kind
            .or(a.predicate_type)
            .ok_or_else(|| format!("{af}.type is required"))?;
        let attestors = match a.attestors {
            Some(s) if !s.is_empty() => kyverno_attestors(s, &format!("{af}.attestors"))?,
            _ if !signatures.is_empty() => signatures.clone(),
            _ => return Err(format!("{af}.attestors: at least one attestor is required")),
        };
        let mut blocks = Vec::new();
        for (bi, b) in a.conditions.unwrap_or_default().into_iter().enumerate() {
            let bf = format!("{af}.conditions[{bi}]");
            let conv = |v: Option<Vec<KCondition>>, w: &str| {
                v.unwrap_or_default()
                    .into_iter()
                    .enumerate()
                    .map(|(ci, c)| condition(c, &format!("{bf}.{w}[{ci}]")))
                    .collect::<Result<Vec<_>, String>>()
            };
            blocks.push((conv(b.all, "all")?, conv(b.any, "any")?));
        }
        attestations.push(AttestationReq {
            name: a.name.unwrap_or_else(|| format!("attestation-{i}")),
            predicate_type: predicate_type(&t, &format!("{af}.type"))?,
            attestors,
            check: (!blocks.is_empty()).then_some(Check::Conditions(blocks)),
        });
    }
    if signatures.is_empty() && attestations.is_empty() {
        return Err(format!("{f}: attestors or attestations are required"));
    }
    Ok(ImagePolicy {
        name,
        file: file.to_string(),
        globs,
        skip,
        kinds,
        namespaces,
        alternatives: vec![(
            "attestors".into(),
            Alternative::Verify {
                signatures,
                attestations,
            },
        )],
        mode,
        mutate_digest: v.mutate_digest.unwrap_or(true),
        verify_digest: v.verify_digest.unwrap_or(true),
    })
}

fn kyverno_attestors(sets: Vec<KAttestorSet>, f: &str) -> Result<Vec<AttestorSet>, String> {
    let mut out = Vec::new();
    for (si, s) in sets.into_iter().enumerate() {
        let sf = format!("{f}[{si}]");
        let mut entries = Vec::new();
        for (ei, e) in s.entries.into_iter().enumerate() {
            let ef = format!("{sf}.entries[{ei}]");
            for (set, name) in [
                (e.certificates.is_some(), "certificates"),
                (e.attestor.is_some(), "attestor"),
                (e.repository.is_some(), "repository"),
                (e.annotations.is_some(), "annotations"),
            ] {
                if set {
                    return Err(unsupported(&format!("{ef}.{name}"), "use keys or keyless"));
                }
            }
            let (signer, rekor, ctlog) = match (e.keys, e.keyless) {
                (Some(k), None) => {
                    if k.kms.is_some() || k.secret.is_some() {
                        return Err(unsupported(
                            &format!("{ef}.keys.kms/secret"),
                            "give the public key inline in publicKeys",
                        ));
                    }
                    if k.signature_algorithm
                        .as_deref()
                        .is_some_and(|a| a != "sha256")
                    {
                        return Err(unsupported(
                            &format!("{ef}.keys.signatureAlgorithm"),
                            "only sha256",
                        ));
                    }
                    let pem = k
                        .public_keys
                        .ok_or_else(|| format!("{ef}.keys.publicKeys is required"))?;
                    (
                        Signer::Key(public_key(&pem, &format!("{ef}.keys.publicKeys"))?),
                        k.rekor,
                        k.ctlog,
                    )
                }
                (None, Some(k)) => {
                    if k.roots.is_some() {
                        return Err(unsupported(
                            &format!("{ef}.keyless.roots"),
                            "the Fulcio CA comes from --trusted-root",
                        ));
                    }
                    let extensions = additional_extensions(
                        k.additional_extensions.as_ref(),
                        &format!("{ef}.keyless.additionalExtensions"),
                    )?;
                    (
                        Signer::Keyless(vec![with_extensions(
                            identity(
                                k.issuer.as_deref(),
                                k.issuer_reg_exp.as_deref(),
                                k.subject.as_deref(),
                                k.subject_reg_exp.as_deref(),
                                &format!("{ef}.keyless"),
                            )?,
                            extensions,
                        )]),
                        k.rekor,
                        k.ctlog,
                    )
                }
                _ => return Err(format!("{ef}: exactly one of keys, keyless is required")),
            };
            if rekor.as_ref().is_some_and(|r| r.pubkey.is_some()) {
                return Err(unsupported(
                    &format!("{ef}.rekor.pubkey"),
                    "log keys come from --trusted-root",
                ));
            }
            if let Some(c) = ctlog {
                if c.ignore_sct == Some(true) || c.pubkey.is_some() || c.tsa_cert_chain.is_some() {
                    return Err(unsupported(
                        &format!("{ef}.ctlog"),
                        "SCTs are always checked, and CT log and TSA keys come from --trusted-root",
                    ));
                }
            }
            entries.push(Attestor {
                name: ef,
                signer,
                ignore_tlog: rekor.and_then(|r| r.ignore_tlog).unwrap_or(false),
            });
        }
        if entries.is_empty() {
            return Err(format!("{sf}.entries: at least one entry is required"));
        }
        let needed = s.count.unwrap_or(entries.len());
        if needed == 0 || needed > entries.len() {
            return Err(format!(
                "{sf}.count: {needed} is not between 1 and the {} entries",
                entries.len()
            ));
        }
        out.push(AttestorSet { needed, entries });
    }
    Ok(out)
}

pub(crate) fn condition(c: KCondition, f: &str) -> Result<Condition, String> {
    let key = c
        .key
        .as_str()
        .ok_or_else(|| format!("{f}.key: a {{{{ jmespath }}}} expression is required"))?
        .trim();
    let inner = key
        .strip_prefix("{{")
        .and_then(|k| k.strip_suffix("}}"))
        .ok_or_else(|| {
            unsupported(
                &format!("{f}.key {key:?}"),
                "the key must be one {{ jmespath }} expression over the predicate",
            )
        })?
        .trim()
        .to_string();
    let expr = jmespath::compile(&inner)
        .map_err(|e| format!("{f}.key: {inner:?} is not JMESPath: {e}"))?;
    if c.value.as_str().is_some_and(|v| v.contains("{{")) {
        return Err(unsupported(&format!("{f}.value"), "values are literals"));
    }
    let operator = match c.operator.as_str() {
        "Equals" | "Equal" => Operator::Equals,
        "NotEquals" | "NotEqual" => Operator::NotEquals,
        "In" => Operator::In,
        "AnyIn" => Operator::AnyIn,
        "AllIn" => Operator::AllIn,
        "NotIn" => Operator::NotIn,
        "AnyNotIn" => Operator::AnyNotIn,
        "AllNotIn" => Operator::AllNotIn,
        "GreaterThan" => Operator::GreaterThan,
        "GreaterThanOrEquals" => Operator::GreaterThanOrEquals,
        "LessThan" => Operator::LessThan,
        "LessThanOrEquals" => Operator::LessThanOrEquals,
        o => {
            return Err(unsupported(
                &format!("{f}.operator {o}"),
                "see the README's list",
            ))
        }
    };
    Ok(Condition {
        key: key.to_string(),
        expr,
        operator,
        value: c.value,
        message: c.message,
    })
}

impl Condition {
    /// Evaluates the condition over a predicate.
    pub fn holds(&self, predicate: &Json) -> Result<bool, String> {
        let found = self
            .expr
            .search(predicate)
            .map_err(|e| format!("{}: {e}", self.key))?;
        let found: Json = serde_json::to_value(&*found).unwrap_or(Json::Null);
        // A key the predicate does not have is an error (as Kyverno cannot substitute it), never
        // a value that makes the negative operators hold.
        if found.is_null() {
            return Err(format!("{}: the predicate has no such key", self.key));
        }
        let as_list = |v: &Json| match v {
            Json::Array(a) => a.clone(),
            other => vec![other.clone()],
        };
        let num = |v: &Json| {
            v.as_f64()
                .or_else(|| v.as_str().and_then(|s| s.parse::<f64>().ok()))
        };
        let want = &self.value;
        Ok(match self.operator {
            Operator::Equals => loose_eq(&found, want),
            Operator::NotEquals => !loose_eq(&found, want),
            Operator::In | Operator::AllIn => as_list(&found)
                .iter()
                .all(|x| as_list(want).iter().any(|w| loose_eq(x, w))),
            Operator::AnyIn => as_list(&found)
                .iter()
                .any(|x| as_list(want).iter().any(|w| loose_eq(x, w))),
            Operator::NotIn | Operator::AllNotIn => as_list(&found)
                .iter()
                .all(|x| !as_list(want).iter().any(|w| loose_eq(x, w))),
            Operator::AnyNotIn => as_list(&found)
                .iter()
                .any(|x| !as_list(want).iter().any(|w| loose_eq(x, w))),
            op => match (num(&found), num(want)) {
                (Some(a), Some(b)) => match op {
                    Operator::GreaterThan => a > b,
                    Operator::GreaterThanOrEquals => a >= b,
                    Operator::LessThan => a < b,
                    _ => a <= b,
                },
                _ => false,
            },
        })
    }
}

/// Kyverno compares scalars by value whatever their JSON type (`"1"` equals `1`).
fn loose_eq(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::String(x), Json::Number(y)) | (Json::Number(y), Json::String(x)) => {
            x.parse::<f64>().ok() == y.as_f64()
        }
        (Json::String(x), Json::Bool(y)) | (Json::Bool(y), Json::String(x)) => {
            x.parse::<bool>().ok() == Some(*y)
        }
        (Json::Number(x), Json::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// Kyverno's `keyless.additionalExtensions`: cosign's GitHub workflow extensions under Kyverno's
/// names (`githubWorkflowTrigger`, `githubWorkflowSha`, `githubWorkflowName`,
/// `githubWorkflowRepository`, `githubWorkflowRef`), and, beyond Kyverno, any Fulcio extension
/// by its name (`source-repository-uri`) or OID; each value must equal the certificate's.
fn additional_extensions(
    y: Option<&Yaml>,
    field: &str,
) -> Result<Vec<(String, sigstore_lite_core::verify::Matcher)>, String> {
    let Some(y) = y else {
        return Ok(Vec::new());
    };
    let map = y
        .as_mapping()
        .ok_or_else(|| format!("{field}: a map of extension names to values"))?;
    let mut out = Vec::new();
    for (k, v) in map {
        let (Some(k), Some(v)) = (k.as_str(), v.as_str()) else {
            return Err(format!("{field}: names and values are strings"));
        };
        let name = match k {
            "githubWorkflowTrigger" => "github-workflow-trigger",
            "githubWorkflowSha" => "github-workflow-sha",
            "githubWorkflowName" => "github-workflow-name",
            "githubWorkflowRepository" => "github-workflow-repository",
            "githubWorkflowRef" => "github-workflow-ref",
            other => other,
        };
        let oid = sigstore_lite_core::fulcio::extension_oid(name)
            .ok_or_else(|| format!("{field}.{k}: not a Fulcio extension"))?;
        if v.is_empty() {
            return Err(format!(
                "{field}.{k}: an empty value matches nothing a certificate carries"
            ));
        }
        out.push((oid, sigstore_lite_core::verify::Matcher::exact(v)));
    }
    Ok(out)
}

fn with_extensions(
    mut id: sigstore_lite_core::verify::Policy,
    extensions: Vec<(String, sigstore_lite_core::verify::Matcher)>,
) -> sigstore_lite_core::verify::Policy {
    id.extensions = extensions;
    id
}
