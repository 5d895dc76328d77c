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
        extensions: Vec::new(),
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

mod cip;
mod kyverno;

use cip::{cip, Cip};
#[cfg(test)]
use kyverno::{condition, KCondition};
use kyverno::{kyverno, Kyverno};

#[cfg(test)]
mod tests;
