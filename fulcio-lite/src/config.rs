//! Issuer configuration: real Fulcio's JSON (`{"OIDCIssuers": {...}, "MetaIssuers": {...},
//! "CIIssuerMetadata": {...}}`) and YAML (`oidc-issuers:` / `meta-issuers:` /
//! `ci-issuer-metadata:`, with its `define:` anchors) forms, read unchanged. The ci-provider
//! metadata of GitHub, GitLab, Buildkite, Codefresh, CircleCI and Buddy is built in
//! (`ci-issuer-metadata.yaml`, from Fulcio's own config); a file's entries replace it by name.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::template::Template;

use serde::Deserialize;

use crate::error::Error;

/// Identity types fulcio-lite issues for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssuerType {
    Email,
    /// Legacy `github-workflow`.
    GithubWorkflow,
    /// `ci-provider`: the SAN and extensions come from the named provider's templates.
    CiProvider(Arc<CiMetadata>),
    /// `kubernetes`: a service account's projected token.
    Kubernetes,
    /// `chainguard-identity`.
    ChainguardIdentity,
    Uri,
    Spiffe,
    Username,
}

impl IssuerType {
    /// The config and `/api/v2/configuration` name.
    pub fn name(&self) -> &'static str {
        match self {
            IssuerType::Email => "email",
            IssuerType::GithubWorkflow => "github-workflow",
            IssuerType::CiProvider(_) => "ci-provider",
            IssuerType::Kubernetes => "kubernetes",
            IssuerType::ChainguardIdentity => "chainguard-identity",
            IssuerType::Uri => "uri",
            IssuerType::Spiffe => "spiffe",
            IssuerType::Username => "username",
        }
    }

    /// The claim the proof of possession signs.
    pub fn challenge_claim(&self) -> &'static str {
        match self {
            IssuerType::Email => "email",
            _ => "sub",
        }
    }
}

/// A value of an extension or the SAN: a template, or (no `{{`) the name of a claim.
#[derive(Debug, Clone, PartialEq)]
pub enum ClaimTemplate {
    Template(Template),
    Claim(String),
}

impl ClaimTemplate {
    fn parse(src: &str) -> Result<ClaimTemplate, String> {
        if src.contains("{{") {
            Template::parse(src)
                .map(ClaimTemplate::Template)
                .map_err(|e| e.to_string())
        } else {
            Ok(ClaimTemplate::Claim(src.to_string()))
        }
    }
}

/// One ci-provider's metadata, templates parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct CiMetadata {
    pub name: String,
    pub defaults: BTreeMap<String, String>,
    /// (OID arc, template), in OID order.
    pub extensions: Vec<(u32, ClaimTemplate)>,
    pub san: ClaimTemplate,
}

impl Eq for CiMetadata {}

#[derive(Deserialize, Default, Clone)]
struct RawCiMetadata {
    #[serde(
        alias = "DefaultTemplateValues",
        alias = "default-template-values",
        default
    )]
    defaults: BTreeMap<String, String>,
    #[serde(alias = "ExtensionTemplates", alias = "extension-templates", default)]
    extensions: BTreeMap<String, String>,
    #[serde(
        alias = "SubjectAlternativeNameTemplate",
        alias = "subject-alternative-name-template",
        default
    )]
    san: String,
}

fn ci_metadata(name: &str, raw: &RawCiMetadata) -> Result<CiMetadata, Error> {
    let bad = |why: String| Error::Config(format!("ci-provider {name}: {why}"));
    let mut extensions = Vec::new();
    for (key, src) in &raw.extensions {
        // The issuer extensions come from the token, never from a template.
        let oid = sigstore_lite_core::fulcio::EXTENSIONS
            .iter()
            .find(|(n, a)| n == key && *a != 1 && *a != 8)
            .map(|(_, o)| *o)
            .ok_or_else(|| {
                bad(format!(
                    "{key:?} is not a Fulcio extension a template may set"
                ))
            })?;
        extensions.push((
            oid,
            ClaimTemplate::parse(src).map_err(|e| bad(format!("{key}: {e}")))?,
        ));
    }
    extensions.sort_by_key(|(o, _)| *o);
    if raw.san.trim().is_empty() {
        return Err(bad("no subject-alternative-name-template".into()));
    }
    Ok(CiMetadata {
        name: name.to_string(),
        defaults: raw.defaults.clone(),
        extensions,
        san: ClaimTemplate::parse(&raw.san).map_err(|e| bad(format!("the SAN template: {e}")))?,
    })
}

/// The built-in ci-provider metadata (Fulcio's own).
fn builtin_ci_metadata() -> BTreeMap<String, RawCiMetadata> {
    #[derive(Deserialize)]
    struct File {
        #[serde(rename = "ci-issuer-metadata")]
        metadata: BTreeMap<String, RawCiMetadata>,
    }
    let f: File = serde_yaml::from_str(include_str!("ci-issuer-metadata.yaml"))
        .expect("the built-in ci-issuer-metadata parses");
    f.metadata
}

/// The ci-provider names fulcio-lite knows without a config file.
pub fn builtin_ci_providers() -> Vec<String> {
    builtin_ci_metadata().into_keys().collect()
}

/// The built-in metadata of `name`, for an issuer added without a config file.
pub fn builtin_ci_provider(name: &str) -> Result<IssuerType, Error> {
    let all = builtin_ci_metadata();
    let raw = all.get(name).ok_or_else(|| {
        Error::Config(format!(
            "unknown ci-provider {name:?} (known: {})",
            builtin_ci_providers().join(", ")
        ))
    })?;
    Ok(IssuerType::CiProvider(Arc::new(ci_metadata(name, raw)?)))
}

/// One configured issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerConfig {
    pub issuer_url: String,
    /// Expected `aud`.
    pub client_id: String,
    pub kind: IssuerType,
    /// JSONPath-like `$.a.b` claim whose value is written as the issuer (e.g. Dex's connector).
    pub issuer_claim: Option<String>,
    pub subject_domain: Option<String>,
    pub spiffe_trust_domain: Option<String>,
    pub skip_email_verification: bool,
}

/// All configured issuers.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub issuers: BTreeMap<String, IssuerConfig>,
    /// Wildcard issuers: each `*` matches `[-_a-zA-Z0-9]+`.
    pub meta_issuers: Vec<(regex::Regex, IssuerConfig)>,
}

#[derive(Deserialize, Default)]
struct RawIssuer {
    #[serde(alias = "IssuerURL", alias = "issuer-url")]
    issuer_url: Option<String>,
    #[serde(alias = "ClientID", alias = "client-id")]
    client_id: Option<String>,
    #[serde(alias = "Type", alias = "type")]
    kind: Option<String>,
    #[serde(alias = "CIProvider", alias = "ci-provider")]
    ci_provider: Option<String>,
    #[serde(alias = "IssuerClaim", alias = "issuer-claim")]
    issuer_claim: Option<String>,
    #[serde(alias = "SubjectDomain", alias = "subject-domain")]
    subject_domain: Option<String>,
    #[serde(alias = "SPIFFETrustDomain", alias = "spiffe-trust-domain")]
    spiffe_trust_domain: Option<String>,
    #[serde(
        alias = "SkipEmailVerification",
        alias = "skip-email-verification",
        default
    )]
    skip_email_verification: bool,
}

/// Fields of Fulcio's config that do not change what is issued (`define:` holds YAML anchors;
/// `contact`, `description` and `environment` describe an issuer) are accepted and ignored.
#[derive(Deserialize, Default)]
struct RawConfig {
    #[serde(alias = "OIDCIssuers", alias = "oidc-issuers", default)]
    issuers: BTreeMap<String, RawIssuer>,
    #[serde(alias = "MetaIssuers", alias = "meta-issuers", default)]
    meta_issuers: BTreeMap<String, RawIssuer>,
    #[serde(alias = "CIIssuerMetadata", alias = "ci-issuer-metadata", default)]
    ci_metadata: BTreeMap<String, RawCiMetadata>,
}

fn convert(
    key: &str,
    raw: RawIssuer,
    ci: &BTreeMap<String, Arc<CiMetadata>>,
) -> Result<IssuerConfig, Error> {
    let bad = |why: String| Error::Config(format!("issuer {key}: {why}"));
    let kind = match (raw.kind.as_deref(), raw.ci_provider.as_deref()) {
        (Some("email"), _) => IssuerType::Email,
        (Some("github-workflow"), _) => IssuerType::GithubWorkflow,
        (Some("ci-provider"), Some(name)) => match ci.get(name) {
            Some(m) => IssuerType::CiProvider(Arc::clone(m)),
            None => {
                return Err(bad(format!(
                    "ci-provider {name:?} has no ci-issuer-metadata (known: {})",
                    ci.keys().cloned().collect::<Vec<_>>().join(", ")
                )))
            }
        },
        (Some("ci-provider"), None) => {
            return Err(bad("type ci-provider needs ci-provider".into()))
        }
        (Some("kubernetes"), _) => IssuerType::Kubernetes,
        (Some("chainguard-identity"), _) => IssuerType::ChainguardIdentity,
        (Some("uri"), _) => IssuerType::Uri,
        (Some("spiffe"), _) => IssuerType::Spiffe,
        (Some("username"), _) => IssuerType::Username,
        (Some(other), _) => {
            return Err(bad(format!("unknown or unsupported issuer type {other:?}")))
        }
        (None, _) => return Err(bad("no type".into())),
    };
    let client_id = raw
        .client_id
        .filter(|c| !c.is_empty())
        .ok_or_else(|| bad("no client ID".into()))?;
    let needs = |v: &Option<String>, what: &str| -> Result<(), Error> {
        if v.as_deref().is_none_or(str::is_empty) {
            Err(bad(format!("type {} needs {what}", kind.name())))
        } else {
            Ok(())
        }
    };
    match kind {
        IssuerType::Uri | IssuerType::Username => needs(&raw.subject_domain, "a subject domain")?,
        IssuerType::Spiffe => needs(&raw.spiffe_trust_domain, "a SPIFFE trust domain")?,
        _ => {}
    }
    Ok(IssuerConfig {
        issuer_url: raw.issuer_url.unwrap_or_else(|| key.to_string()),
        client_id,
        kind,
        issuer_claim: raw.issuer_claim,
        subject_domain: raw.subject_domain,
        spiffe_trust_domain: raw.spiffe_trust_domain,
        skip_email_verification: raw.skip_email_verification,
    })
}

impl Config {
    /// Parses the JSON or YAML config text.
    pub fn parse(text: &str) -> Result<Config, Error> {
        let raw: RawConfig = match serde_json::from_str(text) {
            Ok(r) => r,
            Err(json_err) if text.trim_start().starts_with('{') => {
                return Err(Error::Config(format!("invalid JSON: {json_err}")))
            }
            Err(_) => serde_yaml::from_str(text)
                .map_err(|e| Error::Config(format!("invalid YAML: {e}")))?,
        };
        let mut metadata = builtin_ci_metadata();
        metadata.extend(raw.ci_metadata);
        let mut ci = BTreeMap::new();
        for (name, m) in &metadata {
            ci.insert(name.clone(), Arc::new(ci_metadata(name, m)?));
        }
        let mut c = Config::default();
        for (k, v) in raw.issuers {
            let ic = convert(&k, v, &ci)?;
            c.issuers.insert(ic.issuer_url.clone(), ic);
        }
        for (k, v) in raw.meta_issuers {
            let ic = convert(&k, v, &ci)?;
            let pattern = format!("^{}$", regex::escape(&k).replace(r"\*", "[-_a-zA-Z0-9]+"));
            let re = regex::Regex::new(&pattern)
                .map_err(|e| Error::Config(format!("meta-issuer {k}: {e}")))?;
            c.meta_issuers.push((re, ic));
        }
        if c.issuers.is_empty() && c.meta_issuers.is_empty() {
            return Err(Error::Config("no OIDC issuers are configured".into()));
        }
        Ok(c)
    }

    /// Adds (or replaces) an issuer.
    pub fn add(&mut self, ic: IssuerConfig) {
        self.issuers.insert(ic.issuer_url.clone(), ic);
    }

    /// The configuration for token issuer `iss`: exact match first, then meta-issuers.
    pub fn lookup(&self, iss: &str) -> Option<IssuerConfig> {
        if let Some(c) = self.issuers.get(iss) {
            return Some(c.clone());
        }
        self.meta_issuers
            .iter()
            .find(|(re, _)| re.is_match(iss))
            .map(|(_, c)| IssuerConfig {
                issuer_url: iss.to_string(),
                ..c.clone()
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_yaml_forms() {
        let j = Config::parse(r#"{"OIDCIssuers": {"https://a.example": {"IssuerURL": "https://a.example", "ClientID": "sigstore", "Type": "email"},
            "https://gh.example": {"IssuerURL": "https://gh.example", "ClientID": "sigstore", "Type": "ci-provider", "CIProvider": "github-workflow"}},
            "MetaIssuers": {"https://*.k8s.example/*": {"ClientID": "sigstore", "Type": "spiffe", "SPIFFETrustDomain": "example.org"}}}"#).unwrap();
        assert_eq!(
            j.lookup("https://a.example").unwrap().kind,
            IssuerType::Email
        );
        assert!(matches!(
            j.lookup("https://gh.example").unwrap().kind,
            IssuerType::CiProvider(m) if m.name == "github-workflow"
        ));
        assert_eq!(
            j.lookup("https://east.k8s.example/x1").unwrap().issuer_url,
            "https://east.k8s.example/x1"
        );
        assert!(j.lookup("https://east.k8s.example/x1/y").is_none());
        assert!(j.lookup("https://b.example").is_none());
        let y = Config::parse("oidc-issuers:\n  https://u.example:\n    issuer-url: https://u.example\n    client-id: sigstore\n    type: username\n    subject-domain: example.com\n").unwrap();
        let u = y.lookup("https://u.example").unwrap();
        assert_eq!(
            (u.kind, u.subject_domain.as_deref()),
            (IssuerType::Username, Some("example.com"))
        );
    }

    #[test]
    fn unknown_type_names_the_issuer() {
        let e = Config::parse(r#"{"OIDCIssuers": {"https://k.example": {"ClientID": "sigstore", "Type": "kubernetes-ish"}}}"#).unwrap_err();
        assert!(e.to_string().contains("https://k.example"), "{e}");
        assert!(e.to_string().contains("kubernetes-ish"));
        let e = Config::parse(r#"{"OIDCIssuers": {"https://j.example": {"ClientID": "sigstore", "Type": "ci-provider", "CIProvider": "jenkins"}}}"#).unwrap_err();
        assert!(
            e.to_string()
                .contains("ci-provider \"jenkins\" has no ci-issuer-metadata"),
            "{e}"
        );
        assert!(Config::parse(
            r#"{"OIDCIssuers": {"https://u": {"ClientID": "sigstore", "Type": "uri"}}}"#
        )
        .is_err());
        assert!(Config::parse("{}").is_err());
    }
}
