//! Claims to certificate identity: the SAN, the proof-of-possession challenge, the issuer string
//! and the Sigstore extensions, per issuer type. Pure: claims in, [`Principal`] out.

use serde_json::{Map, Value};

use crate::config::{CiMetadata, ClaimTemplate, IssuerConfig, IssuerType};
use crate::error::Error;
use crate::template::TemplateError;

/// The certificate's single SAN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SanValue {
    Email(String),
    Uri(String),
    /// otherName 1.3.6.1.4.1.57264.1.7, `user!domain`.
    Username(String),
}

/// Everything the identity contributes to a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub san: SanValue,
    /// The string the proof of possession must sign.
    pub challenge: String,
    /// Written to .1.1 (raw) and .1.8 (UTF8String).
    pub issuer: String,
    /// Other `.1.N` extensions as (N, value); N <= 6 are written raw, the rest as UTF8String.
    pub extensions: Vec<(u32, String)>,
}

fn claim_str<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    claims
        .get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn required<'a>(claims: &'a Map<String, Value>, name: &'static str) -> Result<&'a str, Error> {
    claim_str(claims, name).ok_or(Error::MissingClaim(name))
}

/// Follows a `$.a.b` path into the claims.
fn claim_path(claims: &Map<String, Value>, path: &str) -> Option<String> {
    let mut cur: Option<&Value> = None;
    for (i, part) in path.trim_start_matches("$.").split('.').enumerate() {
        cur = if i == 0 {
            claims.get(part)
        } else {
            cur?.get(part)
        };
    }
    cur?.as_str().map(str::to_string)
}

fn valid_email(e: &str) -> bool {
    let Some((local, domain)) = e.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !e
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
        && !domain.contains('@')
}

fn scheme_host(u: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = u.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    (!scheme.is_empty() && !host.is_empty()).then_some((scheme, host))
}

/// Builds the principal for verified `claims` of an issuer configured as `cfg`.
pub fn principal(cfg: &IssuerConfig, claims: &Map<String, Value>) -> Result<Principal, Error> {
    let sub = required(claims, "sub")?;
    let iss = required(claims, "iss")?;
    let issuer = match &cfg.issuer_claim {
        Some(path) => claim_path(claims, path)
            .ok_or_else(|| Error::InvalidIdentity(format!("the token has no {path} claim")))?,
        None => iss.to_string(),
    };
    let mut extensions = Vec::new();
    let (san, challenge) = match &cfg.kind {
        IssuerType::Email => {
            let email = required(claims, "email")?;
            if !valid_email(email) {
                return Err(Error::InvalidIdentity(format!(
                    "{email:?} is not a valid e-mail address"
                )));
            }
            let verified = match claims.get("email_verified") {
                Some(Value::Bool(b)) => *b,
                Some(Value::String(s)) => s == "true",
                _ => false,
            };
            if !verified && !cfg.skip_email_verification {
                return Err(Error::EmailNotVerified);
            }
            (SanValue::Email(email.to_string()), email.to_string())
        }
        IssuerType::CiProvider(m) => {
            let (san, exts) = ci_provider(m, claims)?;
            extensions.extend(exts);
            (san, sub.to_string())
        }
        IssuerType::Kubernetes => {
            let k8s = claims.get("kubernetes.io");
            let field = |path: &[&str]| {
                path.iter()
                    .try_fold(k8s?, |v, p| v.get(p))
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
            };
            let ns = field(&["namespace"]).ok_or_else(|| {
                Error::InvalidIdentity("the token has no kubernetes.io.namespace claim".into())
            })?;
            let sa = field(&["serviceaccount", "name"]).ok_or_else(|| {
                Error::InvalidIdentity(
                    "the token has no kubernetes.io.serviceaccount.name claim".into(),
                )
            })?;
            (
                SanValue::Uri(format!(
                    "https://kubernetes.io/namespaces/{ns}/serviceaccounts/{sa}"
                )),
                sub.to_string(),
            )
        }
        IssuerType::ChainguardIdentity => {
            // As Go's url.JoinPath(issuer, sub): the subject as a path under the issuer.
            let san = format!(
                "{}/{}",
                cfg.issuer_url.trim_end_matches('/'),
                sub.trim_start_matches('/')
            );
            let challenge = match claim_str(claims, "email") {
                Some(e) => {
                    if claims.get("email_verified") != Some(&Value::Bool(true)) {
                        return Err(Error::EmailNotVerified);
                    }
                    e.to_string()
                }
                None => sub.to_string(),
            };
            (SanValue::Uri(san), challenge)
        }
        IssuerType::GithubWorkflow => {
            const NEEDED: [&str; 16] = [
                "job_workflow_ref",
                "sha",
                "event_name",
                "repository",
                "workflow",
                "ref",
                "job_workflow_sha",
                "runner_environment",
                "repository_id",
                "repository_owner",
                "repository_owner_id",
                "repository_visibility",
                "workflow_ref",
                "workflow_sha",
                "run_id",
                "run_attempt",
            ];
            for n in NEEDED {
                required(claims, n)?;
            }
            let c = |n: &str| claim_str(claims, n).unwrap_or_default().to_string();
            let server = claim_str(claims, "enterprise_server_url")
                .unwrap_or("https://github.com")
                .trim_end_matches('/')
                .to_string();
            let uri = format!("{server}/{}", c("job_workflow_ref"));
            extensions.extend([
                (2, c("event_name")),
                (3, c("sha")),
                (4, c("workflow")),
                (5, c("repository")),
                (6, c("ref")),
                (9, uri.clone()),
                (10, c("job_workflow_sha")),
                (11, c("runner_environment")),
                (12, format!("{server}/{}", c("repository"))),
                (13, c("sha")),
                (14, c("ref")),
                (15, c("repository_id")),
                (16, format!("{server}/{}", c("repository_owner"))),
                (17, c("repository_owner_id")),
                (18, format!("{server}/{}", c("workflow_ref"))),
                (19, c("workflow_sha")),
                (20, c("event_name")),
                (
                    21,
                    format!(
                        "{server}/{}/actions/runs/{}/attempts/{}",
                        c("repository"),
                        c("run_id"),
                        c("run_attempt")
                    ),
                ),
                (22, c("repository_visibility")),
            ]);
            (SanValue::Uri(uri), sub.to_string())
        }
        IssuerType::Uri => {
            let domain = cfg.subject_domain.as_deref().unwrap_or_default();
            match (scheme_host(sub), scheme_host(domain)) {
                (Some(a), Some(b)) if a == b => {}
                _ => {
                    return Err(Error::InvalidIdentity(format!(
                        "subject {sub:?} does not have the scheme and host of the subject domain {domain:?}"
                    )))
                }
            }
            (SanValue::Uri(sub.to_string()), sub.to_string())
        }
        IssuerType::Spiffe => {
            let td = cfg.spiffe_trust_domain.as_deref().unwrap_or_default();
            let prefix = format!("spiffe://{td}/");
            if !sub.starts_with(&prefix) || sub.len() == prefix.len() {
                return Err(Error::InvalidIdentity(format!(
                    "subject {sub:?} is not a SPIFFE ID in trust domain {td:?}"
                )));
            }
            (SanValue::Uri(sub.to_string()), sub.to_string())
        }
        IssuerType::Username => {
            if sub.contains('!') || valid_email(sub) {
                return Err(Error::InvalidIdentity(format!(
                    "username {sub:?} must not contain '!' or be an e-mail address"
                )));
            }
            let domain = cfg.subject_domain.as_deref().unwrap_or_default();
            (
                SanValue::Username(format!("{sub}!{domain}")),
                sub.to_string(),
            )
        }
    };
    extensions.push((24, sub.to_string()));
    Ok(Principal {
        san,
        challenge,
        issuer,
        extensions,
    })
}

/// The claims as Fulcio's ci-provider gives them to templates: one flat map of strings, the
/// provider's defaults first and every top-level claim after (a claim wins over a default of the
/// same name), each printed as Go's `%v` prints it.
pub fn template_data(
    defaults: &std::collections::BTreeMap<String, String>,
    claims: &Map<String, Value>,
) -> Map<String, Value> {
    let mut m: Map<String, Value> = defaults
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    for (k, v) in claims {
        m.insert(k.clone(), Value::String(go_print(v)));
    }
    m
}

/// Go's `fmt.Sprint` of a decoded JSON value (maps print with sorted keys).
fn go_print(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "<nil>".into(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) if f.fract() == 0.0 && f.abs() < 1e21 => format!("{f:.0}"),
            _ => n.to_string(),
        },
        Value::Array(a) => format!("[{}]", a.iter().map(go_print).collect::<Vec<_>>().join(" ")),
        Value::Object(o) => format!(
            "map[{}]",
            o.iter()
                .map(|(k, v)| format!("{k}:{}", go_print(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

/// The SAN and extensions of a ci-provider token, from the provider's templates. A missing claim
/// (of a plain claim value, or of a `.field` in a template) is an error; a value that comes out
/// empty leaves its extension out, as Fulcio does.
pub fn ci_provider(
    m: &CiMetadata,
    claims: &Map<String, Value>,
) -> Result<(SanValue, Vec<(u32, String)>), Error> {
    let data = template_data(&m.defaults, claims);
    let render = |t: &ClaimTemplate, what: &str| -> Result<String, Error> {
        let missing = |claim: &str| {
            Error::InvalidIdentity(format!(
                "the token has no {claim} claim, which the {} template of {what} needs",
                m.name
            ))
        };
        match t {
            ClaimTemplate::Claim(name) => data
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| missing(name)),
            ClaimTemplate::Template(tpl) => tpl.render(&data).map_err(|e| match e {
                TemplateError::MissingKey(k) => missing(&k),
                other => {
                    Error::InvalidIdentity(format!("the {} template of {what}: {other}", m.name))
                }
            }),
        }
    };
    let mut exts = Vec::new();
    for (oid, t) in &m.extensions {
        let name = sigstore_lite_core::fulcio::EXTENSIONS
            .iter()
            .find(|(_, o)| o == oid)
            .map_or("an extension", |(n, _)| n);
        let v = render(t, name)?;
        if !v.is_empty() {
            exts.push((*oid, v));
        }
    }
    let san = render(&m.san, "the SAN")?;
    if scheme_host(&san).is_none() || san.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::InvalidIdentity(format!(
            "the {} SAN template gives {san:?}, which is not a URI",
            m.name
        )));
    }
    Ok((SanValue::Uri(san), exts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfg(kind: IssuerType) -> IssuerConfig {
        IssuerConfig {
            issuer_url: "https://issuer.example".into(),
            client_id: "sigstore".into(),
            kind,
            issuer_claim: None,
            subject_domain: Some("https://example.com".into()),
            spiffe_trust_domain: Some("example.org".into()),
            skip_email_verification: false,
        }
    }

    fn claims(v: Value) -> Map<String, Value> {
        let mut m = v.as_object().unwrap().clone();
        m.insert("iss".into(), json!("https://issuer.example"));
        m
    }

    #[test]
    fn email() {
        let p = principal(
            &cfg(IssuerType::Email),
            &claims(json!({"sub": "x", "email": "a@b.example", "email_verified": "true"})),
        )
        .unwrap();
        assert_eq!(p.san, SanValue::Email("a@b.example".into()));
        assert_eq!(p.challenge, "a@b.example");
        assert_eq!(p.extensions, vec![(24, "x".to_string())]);
        assert!(matches!(
            principal(
                &cfg(IssuerType::Email),
                &claims(json!({"sub": "x", "email": "a@b.example"}))
            ),
            Err(Error::EmailNotVerified)
        ));
        assert!(principal(
            &cfg(IssuerType::Email),
            &claims(json!({"sub": "x", "email": "nope", "email_verified": true}))
        )
        .is_err());
        let mut dex = cfg(IssuerType::Email);
        dex.issuer_claim = Some("$.federated_claims.connector_id".into());
        let p = principal(
            &dex,
            &claims(
                json!({"sub": "x", "email": "a@b.example", "email_verified": true,
            "federated_claims": {"connector_id": "https://github.com/login/oauth"}}),
            ),
        )
        .unwrap();
        assert_eq!(p.issuer, "https://github.com/login/oauth");
    }

    #[test]
    fn uri_spiffe_username() {
        assert!(principal(
            &cfg(IssuerType::Uri),
            &claims(json!({"sub": "https://example.com/users/1"}))
        )
        .is_ok());
        assert!(principal(
            &cfg(IssuerType::Uri),
            &claims(json!({"sub": "https://evil.com/users/1"}))
        )
        .is_err());
        assert!(principal(
            &cfg(IssuerType::Spiffe),
            &claims(json!({"sub": "spiffe://example.org/ns/a"}))
        )
        .is_ok());
        assert!(principal(
            &cfg(IssuerType::Spiffe),
            &claims(json!({"sub": "spiffe://other.org/ns/a"}))
        )
        .is_err());
        let p = principal(&cfg(IssuerType::Username), &claims(json!({"sub": "alice"}))).unwrap();
        assert_eq!(
            p.san,
            SanValue::Username("alice!https://example.com".into())
        );
        assert!(principal(&cfg(IssuerType::Username), &claims(json!({"sub": "a!b"}))).is_err());
    }
}
