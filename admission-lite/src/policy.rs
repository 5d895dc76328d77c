//! Policies in the two formats users already write, sigstore policy-controller's
//! `ClusterImagePolicy` (policy.sigstore.dev v1alpha1/v1beta1) and Kyverno's `ClusterPolicy`
//! with `verifyImages` rules (kyverno.io/v1), read strictly into one model. A field this
//! webhook does not know, or knows but cannot honour, is an error naming the file and field:
//! a policy is never weaker than what its author wrote.

use std::collections::BTreeMap;

use globset::{GlobBuilder, GlobMatcher};
use serde::Deserialize;
use serde_json::Value as Json;
use serde_yaml::Value as Yaml;
use sigstore_lite_core::attestation;
use sigstore_lite_core::keys::PublicKey;
use sigstore_lite_core::verify::{Matcher, Policy as Identity};

use crate::Error;

/// Enforce denies a failing image; warn admits it with a warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Enforce,
    Warn,
}

/// Who must have signed.
#[derive(Debug, Clone)]
pub enum Signer {
    /// A public key (cosign key pair).
    Key(PublicKey),
    /// A Fulcio certificate whose identity matches one of these.
    Keyless(Vec<Identity>),
}

/// One signer, named for messages.
#[derive(Debug, Clone)]
pub struct Attestor {
    pub name: String,
    pub signer: Signer,
    /// Kyverno's `rekor.ignoreTlog`: certificates are then checked at the current time.
    pub ignore_tlog: bool,
}

/// `needed` of `entries` must verify (policy-controller: one; Kyverno: `count`, default all).
#[derive(Debug, Clone)]
pub struct AttestorSet {
    pub needed: usize,
    pub entries: Vec<Attestor>,
}

/// A Kyverno attestation condition, `{{ jmespath }}` over the predicate.
#[derive(Debug, Clone)]
pub struct Condition {
    pub key: String,
    pub expr: jmespath::Expression<'static>,
    pub operator: Operator,
    pub value: Json,
    pub message: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Equals,
    NotEquals,
    In,
    AnyIn,
    AllIn,
    NotIn,
    AnyNotIn,
    AllNotIn,
    GreaterThan,
    GreaterThanOrEquals,
    LessThan,
    LessThanOrEquals,
}

/// What a verified attestation must also satisfy.
#[derive(Debug, Clone)]
pub enum Check {
    /// policy-controller: Rego over the whole statement, `data.sigstore.isCompliant`.
    Rego { text: String },
    /// Kyverno: every block passes; a block is `all` (each) and `any` (at least one).
    Conditions(Vec<(Vec<Condition>, Vec<Condition>)>),
}

/// An attestation that must be attached, signed by `attestors`.
#[derive(Debug, Clone)]
pub struct AttestationReq {
    pub name: String,
    pub predicate_type: String,
    pub attestors: Vec<AttestorSet>,
    pub check: Option<Check>,
}

/// One way a policy can be satisfied.
#[derive(Debug, Clone)]
pub enum Alternative {
    /// policy-controller's `static` authority.
    Static { pass: bool, message: String },
    /// Signatures by every attestor set and every attestation.
    Verify {
        signatures: Vec<AttestorSet>,
        attestations: Vec<AttestationReq>,
    },
}

/// One policy, in either format.
#[derive(Debug, Clone)]
pub struct ImagePolicy {
    /// `ClusterImagePolicy/<name>` or `ClusterPolicy/<name>/<rule>[<i>]`.
    pub name: String,
    /// The file it came from.
    pub file: String,
    globs: Vec<(String, GlobMatcher)>,
    skip: Vec<GlobMatcher>,
    /// Kyverno `match` kinds (a Pod rule also covers pod controllers, as Kyverno's autogen does).
    kinds: Option<Vec<String>>,
    namespaces: Option<Vec<String>>,
    /// Any one passing admits the image (policy-controller's authorities); Kyverno has one.
    pub alternatives: Vec<(String, Alternative)>,
    pub mode: Mode,
    /// Patch tags to digests.
    pub mutate_digest: bool,
    /// Refuse images that are not pinned by digest at validation.
    pub verify_digest: bool,
}

/// The kinds a Pod rule covers through Kyverno's autogen.
const POD_CONTROLLERS: [&str; 7] = [
    "Pod",
    "Deployment",
    "ReplicaSet",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "CronJob",
];

impl ImagePolicy {
    /// Whether this policy applies to `image` (as written, and normalized) in an object of
    /// `kind` in `namespace`.
    pub fn applies(&self, written: &str, normalized: &str, kind: &str, namespace: &str) -> bool {
        if let Some(kinds) = &self.kinds {
            let pod_rule = kinds.iter().any(|k| k == "Pod");
            let covered =
                kinds.iter().any(|k| k == kind) || (pod_rule && POD_CONTROLLERS.contains(&kind));
            if !covered {
                return false;
            }
        }
        if let Some(ns) = &self.namespaces {
            if !ns.iter().any(|n| n == namespace) {
                return false;
            }
        }
        let hit = |g: &GlobMatcher| g.is_match(written) || g.is_match(normalized);
        self.globs.iter().any(|(_, g)| hit(g)) && !self.skip.iter().any(hit)
    }
}

/// Every policy the webhook enforces.
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    pub policies: Vec<ImagePolicy>,
}

impl PolicySet {
    /// Reads policy files (YAML or JSON, several documents each). A file that holds no image
    /// policy, and so a webhook that would enforce nothing, is refused unless `allow_empty`:
    /// a misconfigured webhook must not admit every image.
    pub fn load(files: &[std::path::PathBuf], allow_empty: bool) -> Result<PolicySet, Error> {
        let mut set = PolicySet::default();
        for f in files {
            let text = std::fs::read_to_string(f)
                .map_err(|e| Error::Policy(format!("{}: {e}", f.display())))?;
            let found = parse(&f.display().to_string(), &text)?;
            if found.is_empty() && !allow_empty {
                return Err(Error::Policy(format!(
                    "{} holds no image policy (a ClusterImagePolicy, or a ClusterPolicy with verifyImages rules), so the webhook would admit every image; give a policy, or --allow-no-policies to start anyway",
                    f.display()
                )));
            }
            set.policies.extend(found);
        }
        if set.policies.is_empty() && !allow_empty {
            return Err(Error::Policy(
                "no image policy is given, so the webhook would admit every image; give --policy FILE, or --allow-no-policies to start anyway".into(),
            ));
        }
        Ok(set)
    }
}

/// The YAML documents of a file, as text (so that serde's messages carry the field path).
fn documents(text: &str) -> Vec<String> {
    let mut docs = vec![String::new()];
    for line in text.lines() {
        if line == "---" || line.starts_with("--- ") {
            // A document may start on the separator's line (`--- {apiVersion: ...}`).
            let rest = line.strip_prefix("---").unwrap_or("").trim_start();
            let mut d = String::new();
            if !rest.is_empty() {
                d.push_str(rest);
                d.push('\n');
            }
            docs.push(d);
        } else {
            let d = docs.last_mut().expect("one document");
            d.push_str(line);
            d.push('\n');
        }
    }
    docs.into_iter()
        .filter(|d| {
            d.lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        })
        .collect()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Header {
    api_version: Option<String>,
    kind: Option<String>,
}

/// Parses the policies of one file.
pub fn parse(file: &str, text: &str) -> Result<Vec<ImagePolicy>, Error> {
    let mut out = Vec::new();
    for (i, doc) in documents(text).iter().enumerate() {
        let at = format!("{file} (document {})", i + 1);
        let err = |m: String| Error::Policy(format!("{at}: {m}"));
        let h: Header = serde_yaml::from_str(doc).map_err(|e| err(e.to_string()))?;
        match (h.api_version.as_deref(), h.kind.as_deref()) {
            (
                Some("policy.sigstore.dev/v1beta1" | "policy.sigstore.dev/v1alpha1"),
                Some("ClusterImagePolicy"),
            ) => {
                let p: Cip = serde_yaml::from_str(doc).map_err(|e| err(e.to_string()))?;
                out.push(cip(p, file).map_err(err)?);
            }
            (Some("kyverno.io/v1"), Some("ClusterPolicy")) => {
                let p: Kyverno = serde_yaml::from_str(doc).map_err(|e| err(e.to_string()))?;
                out.extend(kyverno(p, file).map_err(err)?);
            }
            (v, k) => {
                return Err(err(format!(
                    "apiVersion {:?} kind {:?} is not a policy this webhook reads (policy.sigstore.dev/v1beta1 ClusterImagePolicy or kyverno.io/v1 ClusterPolicy)",
                    v.unwrap_or(""),
                    k.unwrap_or("")
                )))
            }
        }
    }
    Ok(out)
}

#[derive(Deserialize)]
struct Metadata {
    name: String,
    #[serde(flatten)]
    _rest: BTreeMap<String, Yaml>,
}

// ---- policy-controller ClusterImagePolicy -------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Cip {
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

fn unsupported(field: &str, why: &str) -> String {
    format!("{field} is not supported by admission-lite ({why})")
}

/// A policy's image glob. An empty one would make the policy cover no image at all (a
/// misconfiguration that fails open), so it is refused, as policy-controller refuses it.
fn glob(g: &str, literal_separator: bool, field: &str) -> Result<GlobMatcher, String> {
    if g.trim().is_empty() {
        return Err(format!(
            "{field}: an empty glob matches no image; write the images the policy covers"
        ));
    }
    GlobBuilder::new(g)
        .literal_separator(literal_separator)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| format!("{field}: {g:?} is not a glob: {e}"))
}

fn identity(
    issuer: Option<&str>,
    issuer_re: Option<&str>,
    subject: Option<&str>,
    subject_re: Option<&str>,
    field: &str,
) -> Result<Identity, String> {
    let m = |exact: Option<&str>, re: Option<&str>, what: &str| {
        match (exact, re) {
        (Some(e), None) if !e.is_empty() => Ok(Matcher::exact(e)),
        (None, Some(r)) if r.trim().is_empty() => Err(format!(
            "{field}.{what}RegExp: an empty regular expression matches every {what}; write the {what}s this policy trusts"
        )),
        (None, Some(r)) => Matcher::regex_unanchored(r).map_err(|e| {
            format!(
                "{field}.{what}RegExp: {r:?} is not a regular expression: {}",
                Matcher::describe_error(&e)
            )
        }),
        (Some(_), Some(_)) => Err(format!("{field}: give {what} or {what}RegExp, not both")),
        _ => Err(format!("{field}: {what} or {what}RegExp is required")),
    }
    };
    Ok(Identity {
        issuer: m(issuer, issuer_re, "issuer")?,
        identity: m(subject, subject_re, "subject")?,
    })
}

fn public_key(pem: &str, field: &str) -> Result<PublicKey, String> {
    PublicKey::from_pem(pem.trim()).map_err(|e| format!("{field}: not a PEM public key: {e}"))
}

fn predicate_type(t: &str, field: &str) -> Result<String, String> {
    attestation::predicate_type(t)
        .map(str::to_string)
        .map_err(|e| format!("{field}: {e}"))
}

fn cip(p: Cip, file: &str) -> Result<ImagePolicy, String> {
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Kyverno {
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
struct KCondition {
    key: Json,
    operator: String,
    value: Json,
    message: Option<String>,
}

fn failure_mode(a: &str, f: &str) -> Result<Mode, String> {
    match a.to_ascii_lowercase().as_str() {
        "enforce" => Ok(Mode::Enforce),
        "audit" => Ok(Mode::Warn),
        _ => Err(format!("{f}: {a:?} is not Enforce or Audit")),
    }
}

fn kyverno(p: Kyverno, file: &str) -> Result<Vec<ImagePolicy>, String> {
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
                    if k.roots.is_some() || k.additional_extensions.is_some() {
                        return Err(unsupported(
                            &format!("{ef}.keyless.roots/additionalExtensions"),
                            "the Fulcio CA comes from --trusted-root",
                        ));
                    }
                    (
                        Signer::Keyless(vec![identity(
                            k.issuer.as_deref(),
                            k.issuer_reg_exp.as_deref(),
                            k.subject.as_deref(),
                            k.subject_reg_exp.as_deref(),
                            &format!("{ef}.keyless"),
                        )?]),
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

fn condition(c: KCondition, f: &str) -> Result<Condition, String> {
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

#[cfg(test)]
mod tests;
