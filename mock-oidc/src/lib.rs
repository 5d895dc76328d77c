//! mock-oidc: an OpenID Connect issuer for integration tests and demos.
//!
//! It serves discovery (`/.well-known/openid-configuration`), a JWKS with an RS256 and an ES256 key,
//! and mints ID tokens with whatever claims the caller asks for (`POST /token`). Keys can be
//! rotated (`POST /keys/rotate`: a new key pair signs, old ones stay published) and retired
//! (`DELETE /keys/{kid}`), so verifiers' JWKS caching can be tested.
//!
//! It authenticates nobody: anyone who can reach it gets any identity. Never point a CA that
//! matters at it.

pub mod cli;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, KeyPair, RsaKeyPair};
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// The longest token life a caller may ask for (a year).
pub const MAX_TTL_SECS: i64 = 365 * 86400;

/// Default token lifetime.
pub const DEFAULT_TTL_SECS: i64 = 600;

/// Everything that can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    BadRequest(String),
    #[error("no key with kid {0:?}")]
    UnknownKid(String),
    #[error("unsupported alg {0:?} (RS256 or ES256)")]
    UnsupportedAlg(String),
    #[error("key storage: {0}")]
    Storage(String),
    #[error("key error: {0}")]
    Key(String),
    #[error("cannot get a token: {0}")]
    Fetch(String),
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (status, reason) = match &self {
            Error::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Error::UnknownKid(_) => (StatusCode::NOT_FOUND, "unknown_kid"),
            Error::UnsupportedAlg(_) => (StatusCode::BAD_REQUEST, "unsupported_alg"),
            Error::Storage(_) | Error::Key(_) | Error::Fetch(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        };
        // Internal details are logged, never sent.
        let message = match &self {
            Error::Storage(_) | Error::Key(_) | Error::Fetch(_) => {
                tracing::error!(detail = %self, "internal error");
                "internal error".to_string()
            }
            other => other.to_string(),
        };
        sigstore_lite_server::json_error(status, reason, &message)
    }
}

/// JWS algorithms the issuer signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Alg {
    RS256,
    ES256,
}

impl Alg {
    pub fn parse(s: &str) -> Result<Alg, Error> {
        match s {
            "RS256" => Ok(Alg::RS256),
            "ES256" => Ok(Alg::ES256),
            other => Err(Error::UnsupportedAlg(other.to_string())),
        }
    }
}

#[derive(Serialize, Deserialize, Clone)]
struct StoredKey {
    kid: String,
    alg: Alg,
    /// PKCS#8 DER, base64.
    pkcs8: String,
}

enum Signing {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

struct Key {
    stored: StoredKey,
    signing: Signing,
    jwk: Value,
}

impl Key {
    fn load(stored: StoredKey) -> Result<Key, Error> {
        let der = B64
            .decode(&stored.pkcs8)
            .map_err(|e| Error::Key(e.to_string()))?;
        let (signing, jwk) = match stored.alg {
            Alg::RS256 => {
                let kp = RsaKeyPair::from_pkcs8(&der).map_err(|e| Error::Key(e.to_string()))?;
                let (n, e) = (
                    kp.public_key().modulus().big_endian_without_leading_zero(),
                    kp.public_key().exponent().big_endian_without_leading_zero(),
                );
                let jwk = json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": stored.kid,
                    "n": B64URL.encode(n), "e": B64URL.encode(e)});
                (Signing::Rsa(kp), jwk)
            }
            Alg::ES256 => {
                let kp = EcdsaKeyPair::from_pkcs8(&sig::ECDSA_P256_SHA256_FIXED_SIGNING, &der)
                    .map_err(|e| Error::Key(e.to_string()))?;
                let point = kp.public_key().as_ref();
                let jwk = json!({"kty": "EC", "use": "sig", "alg": "ES256", "kid": stored.kid, "crv": "P-256",
                    "x": B64URL.encode(&point[1..33]), "y": B64URL.encode(&point[33..65])});
                (Signing::Ec(kp), jwk)
            }
        };
        Ok(Key {
            stored,
            signing,
            jwk,
        })
    }

    fn generate(alg: Alg) -> Result<Key, Error> {
        let key_err = |e: aws_lc_rs::error::Unspecified| Error::Key(e.to_string());
        let pkcs8 = match alg {
            Alg::RS256 => RsaKeyPair::generate(KeySize::Rsa2048)
                .and_then(|k| k.as_der())
                .map_err(key_err)?
                .as_ref()
                .to_vec(),
            Alg::ES256 => EcdsaKeyPair::generate(&sig::ECDSA_P256_SHA256_FIXED_SIGNING)
                .and_then(|k| k.to_pkcs8v1())
                .map_err(key_err)?
                .as_ref()
                .to_vec(),
        };
        let mut id = [0u8; 8];
        aws_lc_rs::rand::fill(&mut id).map_err(key_err)?;
        Key::load(StoredKey {
            kid: hex(&id),
            alg,
            pkcs8: B64.encode(pkcs8),
        })
    }

    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, Error> {
        let rng = SystemRandom::new();
        match &self.signing {
            Signing::Rsa(kp) => {
                let mut sig = vec![0; kp.public_key().modulus_len()];
                kp.sign(&sig::RSA_PKCS1_SHA256, &rng, msg, &mut sig)
                    .map_err(|e| Error::Key(e.to_string()))?;
                Ok(sig)
            }
            Signing::Ec(kp) => Ok(kp
                .sign(&rng, msg)
                .map_err(|e| Error::Key(e.to_string()))?
                .as_ref()
                .to_vec()),
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The issuer's keys: every published key, and which one signs per algorithm.
struct KeySet {
    keys: Vec<Key>,
    path: Option<PathBuf>,
}

impl KeySet {
    fn active(&self, alg: Alg) -> Option<&Key> {
        self.keys.iter().rev().find(|k| k.stored.alg == alg)
    }

    fn save(&self) -> Result<(), Error> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let stored: Vec<&StoredKey> = self.keys.iter().map(|k| &k.stored).collect();
        let tmp = path.with_extension("tmp");
        let _ = std::fs::remove_file(&tmp);
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut f = opts.open(&tmp)?;
            f.write_all(&serde_json::to_vec_pretty(&stored).expect("keys serialize"))?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        };
        write().map_err(|e| Error::Storage(format!("{}: {e}", path.display())))
    }
}

/// A mock OIDC issuer.
#[derive(Clone)]
pub struct Issuer {
    url: String,
    keys: Arc<RwLock<KeySet>>,
    /// Authorization codes handed out by `/authorize`, redeemed once at `/token`.
    codes: Arc<std::sync::Mutex<std::collections::HashMap<String, PendingCode>>>,
}

/// What an authorization code stands for.
#[derive(Debug, Clone)]
struct PendingCode {
    claims: Map<String, Value>,
    redirect_uri: String,
    /// PKCE: (challenge, method).
    challenge: Option<(String, String)>,
    issued: i64,
}

/// How long an authorization code may wait before `/token` redeems it.
const CODE_TTL_SECS: i64 = 120;

/// The identity `/authorize` approves when the request has no `login_hint` e-mail.
pub const DEFAULT_LOGIN: &str = "user@example.com";

/// File in the data directory holding the issuer's private keys (test-only keys, mode 0600).
pub const KEY_FILE: &str = "mock-oidc-keys.json";

impl Issuer {
    /// An issuer whose `iss` is `url` (e.g. `http://127.0.0.1:8080`, no trailing slash). With a
    /// data directory, keys are loaded from or created in `<dir>/mock-oidc-keys.json`.
    pub fn new(url: &str, data_dir: Option<&Path>) -> Result<Issuer, Error> {
        let url = url.trim_end_matches('/').to_string();
        let path = data_dir.map(|d| d.join(KEY_FILE));
        let keys = match &path {
            Some(p) if p.exists() => {
                let raw = std::fs::read(p)
                    .map_err(|e| Error::Storage(format!("{}: {e}", p.display())))?;
                let stored: Vec<StoredKey> = serde_json::from_slice(&raw)
                    .map_err(|e| Error::Storage(format!("{}: {e}", p.display())))?;
                stored
                    .into_iter()
                    .map(Key::load)
                    .collect::<Result<Vec<_>, _>>()?
            }
            _ => vec![Key::generate(Alg::RS256)?, Key::generate(Alg::ES256)?],
        };
        if let Some(d) = data_dir {
            sigstore_lite_server::create_private_dir(d)
                .map_err(|e| Error::Storage(format!("{}: {e}", d.display())))?;
        }
        let set = KeySet { keys, path };
        set.save()?;
        Ok(Issuer {
            url,
            keys: Arc::new(RwLock::new(set)),
            codes: Arc::new(std::sync::Mutex::new(std::collections::HashMap::new())),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The discovery document.
    pub fn discovery(&self) -> Value {
        json!({
            "issuer": self.url,
            "jwks_uri": format!("{}/jwks", self.url),
            "token_endpoint": format!("{}/token", self.url),
            "authorization_endpoint": format!("{}/authorize", self.url),
            "response_types_supported": ["code", "id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            "grant_types_supported": ["authorization_code", "client_credentials"],
            "code_challenge_methods_supported": ["S256", "plain"],
            "claims_supported": ["sub", "aud", "exp", "iat", "iss", "email", "email_verified"],
        })
    }

    /// The published keys.
    pub fn jwks(&self) -> Value {
        let set = self.keys.read().expect("lock");
        json!({"keys": set.keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()})
    }

    /// Rotates: a new key per algorithm signs from now on; old keys stay published. Returns the
    /// new key IDs.
    pub fn rotate(&self) -> Result<Vec<String>, Error> {
        let (rs, es) = (Key::generate(Alg::RS256)?, Key::generate(Alg::ES256)?);
        let kids = vec![rs.stored.kid.clone(), es.stored.kid.clone()];
        let mut set = self.keys.write().expect("lock");
        set.keys.push(rs);
        set.keys.push(es);
        set.save()?;
        Ok(kids)
    }

    /// Stops publishing (and signing with) key `kid`.
    pub fn remove_key(&self, kid: &str) -> Result<(), Error> {
        let mut set = self.keys.write().expect("lock");
        let before = set.keys.len();
        set.keys.retain(|k| k.stored.kid != kid);
        if set.keys.len() == before {
            return Err(Error::UnknownKid(kid.to_string()));
        }
        set.save()
    }

    /// Signs `claims` as a JWT with the active key for `alg`, filling `iss`, `aud` ("sigstore"),
    /// `iat` and `exp` (now + `ttl` or [`DEFAULT_TTL_SECS`]) unless the caller set them.
    pub fn mint(
        &self,
        mut claims: Map<String, Value>,
        alg: Alg,
        now: i64,
    ) -> Result<String, Error> {
        let ttl = match claims.remove("ttl") {
            Some(v) => v
                .as_i64()
                .filter(|t| (1..=MAX_TTL_SECS).contains(t))
                .ok_or_else(|| {
                    Error::BadRequest(format!(
                        "ttl must be a whole number of seconds from 1 to {MAX_TTL_SECS}"
                    ))
                })?,
            None => DEFAULT_TTL_SECS,
        };
        claims.entry("iss").or_insert_with(|| json!(self.url));
        claims.entry("aud").or_insert_with(|| json!("sigstore"));
        claims.entry("iat").or_insert_with(|| json!(now));
        claims.entry("exp").or_insert_with(|| json!(now + ttl));
        claims.entry("sub").or_insert_with(|| json!("mock-subject"));
        let set = self.keys.read().expect("lock");
        let key = set
            .active(alg)
            .ok_or_else(|| Error::BadRequest(format!("no {alg:?} key is published")))?;
        let header = json!({"alg": alg, "kid": key.stored.kid, "typ": "JWT"});
        let signing_input = format!(
            "{}.{}",
            B64URL.encode(serde_json::to_vec(&header).expect("json")),
            B64URL.encode(serde_json::to_vec(&claims).expect("json"))
        );
        let sig = key.sign(signing_input.as_bytes())?;
        Ok(format!("{signing_input}.{}", B64URL.encode(sig)))
    }
}

/// Claims for an e-mail identity (as a Dex/Google-style issuer would give them).
pub fn email_claims(email: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("sub".into(), json!(email));
    m.insert("email".into(), json!(email));
    m.insert("email_verified".into(), json!(true));
    m
}

/// Claims shaped like a GitHub Actions workflow token for `repository` (`owner/name`) at `git_ref`
/// running `.github/workflows/<workflow_file>`.
pub fn github_claims(repository: &str, git_ref: &str, workflow_file: &str) -> Map<String, Value> {
    let owner = repository.split('/').next().unwrap_or(repository);
    let workflow_ref = format!("{repository}/.github/workflows/{workflow_file}@{git_ref}");
    let sha = "0123456789abcdef0123456789abcdef01234567";
    let v = json!({
        "sub": format!("repo:{repository}:ref:{git_ref}"),
        "repository": repository,
        "repository_id": "1000001",
        "repository_owner": owner,
        "repository_owner_id": "2000002",
        "repository_visibility": "public",
        "ref": git_ref,
        "ref_type": "branch",
        "sha": sha,
        "event_name": "push",
        "workflow": "Release",
        "workflow_ref": workflow_ref,
        "workflow_sha": sha,
        "job_workflow_ref": workflow_ref,
        "job_workflow_sha": sha,
        "runner_environment": "github-hosted",
        "run_id": "123456789",
        "run_attempt": "1",
        "actor": owner,
    });
    v.as_object().expect("object").clone()
}

/// The CI profiles [`profile_claims`] knows, for `--profile` and `{"profile": ...}`.
pub const PROFILES: [&str; 6] = [
    "github",
    "gitlab",
    "buildkite",
    "codefresh",
    "circleci",
    "kubernetes",
];

/// A token's claims as each CI documents them (GitHub Actions, GitLab CI `id_tokens`, a
/// Buildkite job, Codefresh, CircleCI, a Kubernetes projected service-account token), with
/// example values; given claims replace them by name. Fulcio's ci-provider templates read these.
pub fn profile_claims(profile: &str) -> Option<Map<String, Value>> {
    let sha = "0123456789abcdef0123456789abcdef01234567";
    let v = match profile {
        "github" => {
            return Some(github_claims(
                "example/repo",
                "refs/heads/main",
                "release.yml",
            ))
        }
        "gitlab" => json!({
            "sub": "project_path:example/repo:ref_type:branch:ref:main",
            "namespace_id": "1000", "namespace_path": "example",
            "project_id": "2000", "project_path": "example/repo",
            "user_id": "3000", "user_login": "builder", "user_email": "builder@example.com",
            "user_access_level": "developer",
            "pipeline_id": "4000", "pipeline_source": "push",
            "job_id": "5000", "ref": "main", "ref_type": "branch", "ref_path": "refs/heads/main",
            "ref_protected": "true", "runner_id": 60, "runner_environment": "gitlab-hosted",
            "sha": sha, "project_visibility": "public",
            "ci_config_ref_uri": "gitlab.com/example/repo//.gitlab-ci.yml@refs/heads/main",
            "ci_config_sha": sha
        }),
        "buildkite" => json!({
            "sub": "organization:example:pipeline:repo:ref:refs/heads/main:commit:0123456789abcdef0123456789abcdef01234567:step:build",
            "organization_slug": "example", "pipeline_slug": "repo", "build_number": 42,
            "build_branch": "main", "build_tag": null, "build_commit": sha, "build_source": "webhook",
            "step_key": "build", "job_id": "0190a3c1-8d2e-4f5a-b6c7-d8e9f0a1b2c3",
            "agent_id": "0190a3c1-0000-4000-8000-000000000001",
            "organization_id": "0190a3c1-0000-4000-8000-000000000002",
            "pipeline_id": "0190a3c1-0000-4000-8000-000000000003",
            "runner_environment": "buildkite-hosted"
        }),
        "codefresh" => json!({
            "sub": "account:64f447c02199f903000gh20:pipeline:64f447c02199f903000gh21",
            "account_id": "64f447c02199f903000gh20", "account_name": "example",
            "pipeline_id": "64f447c02199f903000gh21", "pipeline_name": "repo/build",
            "workflow_id": "64f447c02199f903000gh22", "initiator": "builder",
            "scm_user_name": "builder", "scm_repo_url": "https://github.com/example/repo",
            "scm_ref": "main", "scm_pull_request_target_branch": null,
            "platform_url": "https://g.codefresh.io", "runner_environment": "hybrid"
        }),
        "circleci" => json!({
            "sub": "org/0b3f6d7e-0000-4000-8000-000000000001/project/0b3f6d7e-0000-4000-8000-000000000002/user/0b3f6d7e-0000-4000-8000-000000000003",
            "oidc.circleci.com/org-id": "0b3f6d7e-0000-4000-8000-000000000001",
            "oidc.circleci.com/project-id": "0b3f6d7e-0000-4000-8000-000000000002",
            "oidc.circleci.com/pipeline-definition-id": "0b3f6d7e-0000-4000-8000-000000000004",
            "oidc.circleci.com/pipeline-id": "0b3f6d7e-0000-4000-8000-000000000005",
            "oidc.circleci.com/workflow-id": "0b3f6d7e-0000-4000-8000-000000000006",
            "oidc.circleci.com/job-id": "0b3f6d7e-0000-4000-8000-000000000007",
            "oidc.circleci.com/context-ids": [], "oidc.circleci.com/ssh-rerun": false,
            "oidc.circleci.com/vcs-ref": "refs/heads/main",
            "oidc.circleci.com/vcs-origin": "github.com/example/repo"
        }),
        "kubernetes" => json!({
            "sub": "system:serviceaccount:ci:builder",
            "kubernetes.io": {
                "namespace": "ci",
                "pod": {"name": "builder-7d9f8", "uid": "2f0e3a4b-0000-4000-8000-000000000001"},
                "serviceaccount": {"name": "builder", "uid": "2f0e3a4b-0000-4000-8000-000000000002"}
            }
        }),
        _ => return None,
    };
    v.as_object().cloned()
}

/// Decodes one `application/x-www-form-urlencoded` component.
fn form_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 3 <= b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
                {
                    Ok(x) => {
                        out.push(x);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// Builds the claims of a `POST /token` request. JSON bodies are claim maps, with optional
/// `"profile"` (a CI's claim set, [`profile_claims`]; the body's claims replace its values),
/// `"preset": "email" | "github"` (plus `email`, or `repository`/`ref`/`workflow_file`), and
/// optional `"alg"`; form bodies are the client-credentials grant (`client_id` becomes `aud` and,
/// unless given, `sub`).
pub fn token_request(headers: &HeaderMap, body: &[u8]) -> Result<(Map<String, Value>, Alg), Error> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    let mut claims = if is_form {
        let mut m = Map::new();
        for pair in std::str::from_utf8(body)
            .map_err(|_| Error::BadRequest("form is not UTF-8".into()))?
            .split('&')
        {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            m.insert(form_decode(k), json!(form_decode(v)));
        }
        match m.remove("grant_type").as_ref().and_then(Value::as_str) {
            Some("client_credentials") => {}
            other => {
                return Err(Error::BadRequest(format!(
                    "unsupported grant_type {other:?} (authorization_code or client_credentials)"
                )))
            }
        }
        if let Some(id) = m.remove("client_id") {
            m.entry("sub").or_insert_with(|| id.clone());
            m.insert("aud".into(), id);
        }
        m.remove("scope");
        m.remove("client_secret");
        if let Some(ev) = m
            .get("email_verified")
            .and_then(Value::as_str)
            .map(|s| s == "true")
        {
            m.insert("email_verified".into(), json!(ev));
        }
        m
    } else if body.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(m)) => m,
            Ok(_) => {
                return Err(Error::BadRequest(
                    "the body must be a JSON object of claims".into(),
                ))
            }
            Err(e) => {
                return Err(Error::BadRequest(format!(
                    "the body is not valid JSON: {e}"
                )))
            }
        }
    };
    let alg = match claims.remove("alg") {
        Some(Value::String(s)) => Alg::parse(&s)?,
        Some(_) => return Err(Error::BadRequest("alg must be a string".into())),
        None => Alg::RS256,
    };
    if let Some(profile) = claims.remove("profile") {
        let name = profile.as_str().unwrap_or_default();
        let base = profile_claims(name).ok_or_else(|| {
            Error::BadRequest(format!("profile must be one of {}", PROFILES.join(", ")))
        })?;
        for (k, v) in base {
            claims.entry(k).or_insert(v);
        }
    }
    if let Some(preset) = claims.remove("preset") {
        let base = match preset.as_str() {
            Some("email") => {
                let email = claims
                    .get("email")
                    .and_then(Value::as_str)
                    .ok_or_else(|| Error::BadRequest("preset email needs an email claim".into()))?;
                email_claims(email)
            }
            Some("github") => {
                let s = |k: &str, d: &str| {
                    claims
                        .get(k)
                        .and_then(Value::as_str)
                        .unwrap_or(d)
                        .to_string()
                };
                let (wf, repo, git_ref) = (
                    s("workflow_file", "release.yml"),
                    s("repository", "example/repo"),
                    s("ref", "refs/heads/main"),
                );
                claims.remove("workflow_file");
                github_claims(&repo, &git_ref, &wf)
            }
            _ => {
                return Err(Error::BadRequest(
                    "preset must be \"email\" or \"github\"".into(),
                ))
            }
        };
        for (k, v) in base {
            claims.entry(k).or_insert(v);
        }
    }
    Ok((claims, alg))
}

fn form_pairs(body: &str) -> Map<String, Value> {
    let mut m = Map::new();
    for pair in body.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        m.insert(form_decode(k), json!(form_decode(v)));
    }
    m
}

/// `GET /authorize`: the authorization-code flow for browser-style clients (sigstore-python's
/// and cosign's interactive sign-in), approved at once (it is a mock): the identity is the
/// `login_hint` e-mail, else [`DEFAULT_LOGIN`]. Redirects to `redirect_uri` with the code.
async fn authorize(State(issuer): State<Issuer>, uri: axum::http::Uri) -> Result<Response, Error> {
    let q = form_pairs(uri.query().unwrap_or(""));
    let get = |k: &str| q.get(k).and_then(Value::as_str).map(str::to_string);
    if get("response_type").as_deref() != Some("code") {
        return Err(Error::BadRequest("response_type must be code".into()));
    }
    let client_id =
        get("client_id").ok_or_else(|| Error::BadRequest("client_id is required".into()))?;
    let redirect_uri = get("redirect_uri")
        .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
        .ok_or_else(|| Error::BadRequest("redirect_uri must be an http(s) URL".into()))?;
    let challenge = match (get("code_challenge"), get("code_challenge_method")) {
        (Some(c), m) => {
            let m = m.unwrap_or_else(|| "plain".into());
            if m != "S256" && m != "plain" {
                return Err(Error::BadRequest(
                    "code_challenge_method must be S256 or plain".into(),
                ));
            }
            Some((c, m))
        }
        (None, _) => None,
    };
    let email = get("login_hint")
        .filter(|h| h.contains('@'))
        .unwrap_or_else(|| DEFAULT_LOGIN.into());
    let mut claims = email_claims(&email);
    claims.insert("aud".into(), json!(client_id));
    if let Some(n) = get("nonce") {
        claims.insert("nonce".into(), json!(n));
    }
    let mut raw = [0u8; 24];
    aws_lc_rs::rand::SecureRandom::fill(&SystemRandom::new(), &mut raw)
        .map_err(|_| Error::Key("no randomness".into()))?;
    let code = B64URL.encode(raw);
    {
        let mut codes = issuer.codes.lock().expect("lock");
        codes.retain(|_, p| now() - p.issued < CODE_TTL_SECS);
        codes.insert(
            code.clone(),
            PendingCode {
                claims,
                redirect_uri: redirect_uri.clone(),
                challenge,
                issued: now(),
            },
        );
    }
    let sep = if redirect_uri.contains('?') { '&' } else { '?' };
    let mut location = format!("{redirect_uri}{sep}code={code}");
    if let Some(state) = get("state") {
        location.push_str(&format!("&state={}", url_encode(&state)));
    }
    Ok((StatusCode::FOUND, [(header::LOCATION, location)]).into_response())
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Redeems an authorization code (once), checking the redirect URI and the PKCE verifier.
fn redeem(issuer: &Issuer, form: &Map<String, Value>) -> Result<Map<String, Value>, Error> {
    let get = |k: &str| form.get(k).and_then(Value::as_str).unwrap_or("");
    let pending = issuer
        .codes
        .lock()
        .expect("lock")
        .remove(get("code"))
        .filter(|p| now() - p.issued < CODE_TTL_SECS)
        .ok_or_else(|| Error::BadRequest("invalid_grant: unknown, used or expired code".into()))?;
    if !get("redirect_uri").is_empty() && get("redirect_uri") != pending.redirect_uri {
        return Err(Error::BadRequest(
            "invalid_grant: redirect_uri differs from the authorization request's".into(),
        ));
    }
    if let Some((challenge, method)) = &pending.challenge {
        let verifier = get("code_verifier");
        let computed = if method == "S256" {
            B64URL.encode(aws_lc_rs::digest::digest(
                &aws_lc_rs::digest::SHA256,
                verifier.as_bytes(),
            ))
        } else {
            verifier.to_string()
        };
        if verifier.is_empty() || &computed != challenge {
            return Err(Error::BadRequest(
                "invalid_grant: the code_verifier does not match the code_challenge".into(),
            ));
        }
    }
    Ok(pending.claims)
}

async fn token(
    State(issuer): State<Issuer>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Value>, Error> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    let (claims, alg) = match std::str::from_utf8(&body).ok().map(form_pairs) {
        Some(form)
            if is_form
                && form.get("grant_type").and_then(Value::as_str) == Some("authorization_code") =>
        {
            (redeem(&issuer, &form)?, Alg::RS256)
        }
        _ => token_request(&headers, &body)?,
    };
    let exp_in = claims.get("exp").and_then(Value::as_i64).map(|e| e - now());
    let jwt = issuer.mint(claims, alg, now())?;
    Ok(Json(json!({
        "access_token": jwt,
        "id_token": jwt,
        "token_type": "Bearer",
        "expires_in": exp_in.unwrap_or(DEFAULT_TTL_SECS),
    })))
}

/// The issuer's router.
pub fn app(issuer: Issuer) -> Router {
    Router::new()
        .route("/.well-known/openid-configuration", get(|State(i): State<Issuer>| async move { Json(i.discovery()) }))
        .route("/jwks", get(|State(i): State<Issuer>| async move { Json(i.jwks()) }))
        .route("/token", post(token))
        .route("/authorize", get(authorize))
        .route("/keys/rotate", post(|State(i): State<Issuer>| async move { i.rotate().map(|k| Json(json!({"kids": k}))) }))
        .route("/keys/{kid}", delete(|State(i): State<Issuer>, kid: Result<UrlPath<String>, axum::extract::rejection::PathRejection>| async move {
            // A path that is not UTF-8 gets the JSON error, not axum's text/plain one.
            let UrlPath(kid) = kid.map_err(|r| Error::BadRequest(r.body_text()))?;
            i.remove_key(&kid).map(|()| StatusCode::NO_CONTENT)
        }))
        .route("/healthz", get(|| async { Json(json!({"status": "SERVING"})) }))
        .route("/metrics", get(|State(i): State<Issuer>| async move {
            let n = i.keys.read().expect("lock").keys.len();
            format!("# HELP mock_oidc_keys Published signing keys.\n# TYPE mock_oidc_keys gauge\nmock_oidc_keys {n}\n")
        }))
        .fallback(sigstore_lite_server::not_found)
        .method_not_allowed_fallback(sigstore_lite_server::method_not_allowed)
        .layer(axum::middleware::from_fn(sigstore_lite_server::access_log))
        .with_state(issuer)
}

/// Serves `issuer` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    issuer: Issuer,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_on(listener, issuer, None, shutdown).await
}

/// [`serve`], over HTTPS when `tls` is given.
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    issuer: Issuer,
    tls: Option<sigstore_lite_server::tls::Config>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    sigstore_lite_server::tls::serve_maybe(listener, app(issuer), tls, shutdown).await
}

/// Asks a running issuer at `issuer_url` for a token with `claims` (client side of `POST /token`).
pub async fn fetch_token(issuer_url: &str, claims: &Map<String, Value>) -> Result<String, Error> {
    let fetch = |e: reqwest::Error| Error::Fetch(e.to_string());
    let r = sigstore_lite_server::http_client(std::time::Duration::from_secs(30))
        .post(format!("{}/token", issuer_url.trim_end_matches('/')))
        .json(claims)
        .send()
        .await
        .map_err(fetch)?;
    let status = r.status();
    let v: Value = r.json().await.map_err(fetch)?;
    if !status.is_success() {
        return Err(Error::Fetch(format!(
            "the issuer refused: {}",
            v["message"].as_str().unwrap_or("unknown error")
        )));
    }
    v["id_token"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| Error::Fetch("no id_token in the answer".into()))
}

#[cfg(test)]
mod profile_tests {
    use super::*;

    #[test]
    fn a_profile_gives_its_ci_claims_and_given_claims_win() {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        let (c, _) =
            token_request(&h, br#"{"profile": "gitlab", "project_path": "acme/app"}"#).unwrap();
        assert_eq!(c["project_path"], "acme/app");
        assert_eq!(
            c["ci_config_ref_uri"],
            "gitlab.com/example/repo//.gitlab-ci.yml@refs/heads/main"
        );
        assert!(!c.contains_key("profile"));
        let (k, _) = token_request(&h, br#"{"profile": "kubernetes"}"#).unwrap();
        assert_eq!(k["kubernetes.io"]["serviceaccount"]["name"], "builder");
        for p in PROFILES {
            let (c, _) = token_request(&h, format!(r#"{{"profile": "{p}"}}"#).as_bytes()).unwrap();
            assert!(c.contains_key("sub"), "{p}");
        }
        let e = token_request(&h, br#"{"profile": "jenkins"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("profile must be one of github, gitlab"), "{e}");
    }
}
