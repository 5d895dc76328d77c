//! A small OCI distribution client, shared by the client tools (cosign-keyless, the SBOM
//! generator, the admission webhook): references, the token/basic auth dance with Docker config
//! credentials, manifests and blobs (upload as POST then PUT), and OCI 1.1 referrers: the
//! referrers API, or the referrers tag schema (an index tagged `sha256-<hex>`) where the registry
//! lacks it, as Debian's docker-registry 2.8 does. Plain HTTP for loopback hosts or with
//! `allow_insecure`.
//!
//! Why not oci-client: it covers referrers and token auth, but not the tag-schema fallback for
//! pushing or listing referrers on registries without the API, which is what cosign (through
//! go-containerregistry) does and what this project's tests run against; and this client is
//! ~500 lines with only reqwest beneath it.

pub mod cosign;

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use reqwest::{header, Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What can go wrong talking to a registry, in one sentence each.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("{0:?} is not an image reference (registry/repository[:tag][@sha256:digest])")]
    BadReference(String),
    #[error("the tag {0} does not exist")]
    NoSuchTag(String),
    #[error("registry: {0}")]
    Registry(String),
}

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// The empty config and blob of OCI 1.1 artifacts (`{}`).
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";

/// `registry/repository[:tag][@digest]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl Reference {
    /// Parses a reference by the grammar of distribution/reference (what docker, cosign and the
    /// kubelet accept): `[domain[:port]/]path[:tag][@sha256:hex]`, path components of lower-case
    /// letters and digits joined by `.`, `_`, `__` or dashes, tags `[\w][\w.-]{0,127}`, names of
    /// at most 255 characters. Anything else (`../x`, a URL, non-ASCII names) is refused.
    pub fn parse(s: &str) -> Result<Reference, Error> {
        let bad = || Error::BadReference(s.to_string());
        let (rest, digest) = match s.split_once('@') {
            Some((r, d))
                if d.len() == 71
                    && d.starts_with("sha256:")
                    && d[7..]
                        .bytes()
                        .all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) =>
            {
                (r, Some(d.to_string()))
            }
            Some(_) => return Err(bad()),
            None => (s, None),
        };
        let (name, tag) = match rest.rfind(':') {
            Some(i) if !rest[i + 1..].contains('/') => {
                (&rest[..i], Some(rest[i + 1..].to_string()))
            }
            _ => (rest, None),
        };
        if name.len() > 255 || tag.as_deref().is_some_and(|t| !tag_ok(t)) {
            return Err(bad());
        }
        let (registry, repository) = match name.split_once('/') {
            Some((r, p))
                if r.contains('.')
                    || r.contains(':')
                    || r == "localhost"
                    || r.bytes().any(|c| c.is_ascii_uppercase()) =>
            {
                if !domain_ok(r) {
                    return Err(bad());
                }
                (normalize_registry(r), p.to_string())
            }
            Some(_) => ("docker.io".to_string(), name.to_string()),
            None => ("docker.io".to_string(), format!("library/{name}")),
        };
        if !repository.split('/').all(path_component_ok) {
            return Err(bad());
        }
        // Docker Hub's official images: `docker.io/nginx` is `docker.io/library/nginx`, as the
        // kubelet pulls it (so that a policy on one spelling covers the other).
        let repository = if registry == "docker.io" && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        let tag = if tag.is_none() && digest.is_none() {
            Some("latest".to_string())
        } else {
            tag
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// `registry/repository`, as cosign writes it in `docker-reference`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    pub fn with_tag(&self, tag: &str) -> Reference {
        Reference {
            tag: Some(tag.to_string()),
            digest: None,
            ..self.clone()
        }
    }
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.name())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// The registry as the kubelet and containerd reach it: host names are case-insensitive, 443 is
/// HTTPS's port, and `index.docker.io` is Docker Hub (`docker.io`). One spelling per registry,
/// so that image policies match however a Pod writes the name.
fn normalize_registry(r: &str) -> String {
    let r = r.to_ascii_lowercase();
    let r = r.strip_suffix(":443").map(str::to_string).unwrap_or(r);
    match r.as_str() {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_string(),
        _ => r,
    }
}

/// `[a-z0-9]+ (separator [a-z0-9]+)*` with separators `.`, `_`, `__` and runs of `-`.
fn path_component_ok(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    let mut i = 0;
    loop {
        let start = i;
        while i < b.len() && alnum(b[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == b.len() {
            return true;
        }
        match b[i] {
            b'.' => i += 1,
            b'_' => i += if b.get(i + 1) == Some(&b'_') { 2 } else { 1 },
            b'-' => {
                while b.get(i) == Some(&b'-') {
                    i += 1;
                }
            }
            _ => return false,
        }
    }
}

/// `[\w][\w.-]{0,127}`.
fn tag_ok(t: &str) -> bool {
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && word(b[0])
        && b[1..].iter().all(|&c| word(c) || c == b'.' || c == b'-')
}

/// `host[:port]`: DNS labels of letters, digits and inner dashes, or `[IPv6]`.
fn domain_ok(d: &str) -> bool {
    let (host, port) = if let Some(rest) = d.strip_prefix('[') {
        match rest.split_once(']') {
            Some((v6, tail)) => {
                if v6.is_empty()
                    || !v6
                        .bytes()
                        .all(|c| c.is_ascii_hexdigit() || c == b':' || c == b'.')
                {
                    return false;
                }
                match tail {
                    "" => return true,
                    t => match t.strip_prefix(':') {
                        Some(p) => return !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()),
                        None => return false,
                    },
                }
            }
            None => return false,
        }
    } else {
        match d.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (d, None),
        }
    };
    if port.is_some_and(|p| p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit())) {
        return false;
    }
    !host.is_empty()
        && host.split('.').all(|l| {
            let b = l.as_bytes();
            !b.is_empty()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
        })
}

/// The largest manifest read (distribution's own limit is 4 MiB).
pub const MAX_MANIFEST: usize = 4 << 20;
/// The largest blob read into memory (configs, signature and attestation layers); image layers
/// are streamed with [`Registry::blob_to`] instead.
pub const MAX_BLOB_IN_MEMORY: usize = 64 << 20;

/// A response body of at most `limit` bytes: a hostile registry cannot exhaust memory.
async fn body_limited(
    mut resp: reqwest::Response,
    limit: usize,
    what: &str,
) -> Result<Vec<u8>, Error> {
    let too_big = || Error::Registry(format!("{what} is larger than the {limit}-byte limit"));
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_big());
    }
    let mut out = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| Error::Registry(e.to_string()))?
    {
        if out.len() + chunk.len() > limit {
            return Err(too_big());
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// `sha256:<hex>` of bytes.
pub fn digest_of(b: &[u8]) -> String {
    format!(
        "sha256:{}",
        hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b))
    )
}

/// `sha256-<hex>`: the referrers tag schema's tag for `digest`.
pub fn referrers_tag(digest: &str) -> String {
    digest.replace(':', "-")
}

/// An OCI content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Descriptor {
    /// The descriptor of `bytes` with `media_type`.
    pub fn of(media_type: &str, bytes: &[u8]) -> Descriptor {
        Descriptor {
            media_type: media_type.to_string(),
            digest: digest_of(bytes),
            size: bytes.len() as u64,
            artifact_type: None,
            annotations: BTreeMap::new(),
        }
    }
}

/// The descriptors an index (`manifests`) lists; empty for anything else.
fn index_manifests(body: &[u8]) -> Vec<Descriptor> {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("manifests").cloned())
        .and_then(|m| serde_json::from_value(m).ok())
        .unwrap_or_default()
}

/// A registry client.
pub struct Registry {
    http: reqwest::Client,
    insecure: bool,
    tokens: Mutex<HashMap<String, String>>,
}

fn docker_credentials(registry: &str) -> Option<String> {
    let dir = std::env::var("DOCKER_CONFIG")
        .ok()
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var("HOME")
                .ok()
                .map(|h| std::path::Path::new(&h).join(".docker"))
        })?;
    let v: Value = serde_json::from_slice(&std::fs::read(dir.join("config.json")).ok()?).ok()?;
    let auths = v["auths"].as_object()?;
    let keys = [
        registry.to_string(),
        format!("https://{registry}"),
        format!("http://{registry}"),
    ];
    keys.iter()
        .find_map(|k| auths.get(k))
        .and_then(|a| a["auth"].as_str())
        .map(str::to_string)
}

fn challenge_param(h: &str, name: &str) -> Option<String> {
    let i = h.find(&format!("{name}=\""))?;
    let rest = &h[i + name.len() + 2..];
    Some(rest[..rest.find('"')?].to_string())
}

impl Registry {
    pub fn new(allow_insecure: bool) -> Registry {
        Registry::with_timeout(allow_insecure, std::time::Duration::from_secs(60))
    }

    /// A client whose requests give up after `timeout` (an admission webhook must answer
    /// within the API server's timeoutSeconds).
    pub fn with_timeout(allow_insecure: bool, timeout: std::time::Duration) -> Registry {
        Registry::configured(allow_insecure, false, timeout)
    }

    /// cosign's two flags: `plain_http` (`--allow-http-registry`: HTTP instead of HTTPS) and
    /// `skip_tls_verify` (`--allow-insecure-registry`: HTTPS whose certificate is not checked,
    /// such as a self-signed test registry). Loopback registries always use plain HTTP.
    pub fn configured(
        plain_http: bool,
        skip_tls_verify: bool,
        timeout: std::time::Duration,
    ) -> Registry {
        let http = reqwest::Client::builder()
            .danger_accept_invalid_certs(skip_tls_verify)
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .expect("HTTP client");
        Registry {
            http,
            insecure: plain_http,
            tokens: Mutex::new(HashMap::new()),
        }
    }

    fn base(&self, r: &Reference) -> String {
        let host = match r.registry.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(""),
            None => r.registry.split(':').next().unwrap_or(""),
        };
        // Plain HTTP only for a loopback address (an IP, not a name that merely starts with
        // "127."), or when asked for.
        let local = host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        let scheme = if local || self.insecure {
            "http"
        } else {
            "https"
        };
        let registry = if r.registry == "docker.io" {
            "registry-1.docker.io"
        } else {
            &r.registry
        };
        format!("{scheme}://{registry}/v2/{}", r.repository)
    }

    /// [`Registry::send_once`], retried (twice, after 50 and 100 ms) when a read gets a 5xx: a
    /// registry may answer 500 for a manifest another client is writing at that moment.
    async fn send(
        &self,
        r: &Reference,
        method: Method,
        url: &str,
        headers: &[(header::HeaderName, String)],
        body: Option<Vec<u8>>,
        push: bool,
    ) -> Result<reqwest::Response, Error> {
        let idempotent = matches!(method, Method::GET | Method::HEAD);
        let mut delay = std::time::Duration::from_millis(50);
        for _ in 0..2 {
            let resp = self
                .send_once(r, method.clone(), url, headers, body.clone(), push)
                .await?;
            if !(idempotent && resp.status().is_server_error()) {
                return Ok(resp);
            }
            tokio::time::sleep(delay).await;
            delay *= 2;
        }
        self.send_once(r, method, url, headers, body, push).await
    }

    async fn send_once(
        &self,
        r: &Reference,
        method: Method,
        url: &str,
        headers: &[(header::HeaderName, String)],
        body: Option<Vec<u8>>,
        push: bool,
    ) -> Result<reqwest::Response, Error> {
        let scope = format!(
            "repository:{}:{}",
            r.repository,
            if push { "pull,push" } else { "pull" }
        );
        let creds = docker_credentials(&r.registry);
        let build = |auth: Option<String>| {
            let mut b = self.http.request(method.clone(), url);
            for (k, v) in headers {
                b = b.header(k, v);
            }
            if let Some(a) = auth {
                b = b.header(header::AUTHORIZATION, a);
            }
            if let Some(body) = &body {
                b = b.body(body.clone());
            }
            b
        };
        let net = |e: reqwest::Error| Error::Registry(format!("cannot reach {}: {e}", r.registry));
        // Tokens and credentials are per registry: a token for one must never reach another.
        let cache_key = format!("{} {scope}", r.registry);
        let cached = self.tokens.lock().expect("lock").get(&cache_key).cloned();
        let resp = build(cached.clone()).send().await.map_err(net)?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        let www = resp
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let auth = if www.to_ascii_lowercase().starts_with("bearer") {
            let realm = challenge_param(&www, "realm")
                .ok_or_else(|| Error::Registry("a bearer challenge without a realm".into()))?;
            let mut q = vec![("scope", scope.clone())];
            if let Some(s) = challenge_param(&www, "service") {
                q.push(("service", s));
            }
            let mut tb = self.http.get(&realm).query(&q);
            if let Some(c) = &creds {
                tb = tb.header(header::AUTHORIZATION, format!("Basic {c}"));
            }
            let tr = tb.send().await.map_err(net)?;
            if !tr.status().is_success() {
                return Err(Error::Registry(format!(
                    "{} refused a token ({})",
                    r.registry,
                    tr.status()
                )));
            }
            let v: Value = tr.json().await.map_err(net)?;
            let t = v["token"]
                .as_str()
                .or_else(|| v["access_token"].as_str())
                .ok_or_else(|| Error::Registry("no token in the token answer".into()))?;
            format!("Bearer {t}")
        } else {
            format!(
                "Basic {}",
                creds.ok_or_else(|| Error::Registry(format!(
                    "{} needs credentials (docker login)",
                    r.registry
                )))?
            )
        };
        self.tokens
            .lock()
            .expect("lock")
            .insert(cache_key, auth.clone());
        build(Some(auth)).send().await.map_err(net)
    }

    /// The manifest at `reference` (tag or digest): bytes, media type and digest; `None` if absent.
    pub async fn manifest(
        &self,
        r: &Reference,
        reference: &str,
    ) -> Result<Option<(Vec<u8>, String, String)>, Error> {
        let url = format!("{}/manifests/{reference}", self.base(r));
        let accept = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST].join(", ");
        let resp = self
            .send(
                r,
                Method::GET,
                &url,
                &[(header::ACCEPT, accept)],
                None,
                false,
            )
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !resp.status().is_success() {
            return Err(Error::Registry(format!("GET {url}: {}", resp.status())));
        }
        let mt = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(OCI_MANIFEST)
            .to_string();
        let body = body_limited(resp, MAX_MANIFEST, "the manifest").await?;
        let d = digest_of(&body);
        if reference.starts_with("sha256:") && d != reference {
            return Err(Error::Registry(format!(
                "the registry returned a manifest whose digest is {d}, not {reference}"
            )));
        }
        Ok(Some((body, mt, d)))
    }

    /// Resolves the reference to the digest of its manifest.
    pub async fn resolve(&self, r: &Reference) -> Result<String, Error> {
        if let Some(d) = &r.digest {
            return Ok(d.clone());
        }
        let tag = r.tag.as_deref().unwrap_or("latest");
        match self.manifest(r, tag).await? {
            Some((_, _, d)) => Ok(d),
            None => Err(Error::NoSuchTag(r.to_string())),
        }
    }

    /// A blob, checked against its digest.
    pub async fn blob(&self, r: &Reference, digest: &str) -> Result<Vec<u8>, Error> {
        let url = format!("{}/blobs/{digest}", self.base(r));
        let resp = self.send(r, Method::GET, &url, &[], None, false).await?;
        if !resp.status().is_success() {
            return Err(Error::Registry(format!("GET {url}: {}", resp.status())));
        }
        let b = body_limited(resp, MAX_BLOB_IN_MEMORY, "the blob").await?;
        if digest_of(&b) != digest {
            return Err(Error::Registry(format!(
                "blob {digest} does not match its digest"
            )));
        }
        Ok(b)
    }

    /// A blob streamed into `out` chunk by chunk (never whole in memory), checked against its
    /// digest; the caller discards what was written if this fails. Returns the byte count.
    pub async fn blob_to(
        &self,
        r: &Reference,
        digest: &str,
        out: &mut (dyn std::io::Write + Send),
    ) -> Result<u64, Error> {
        let url = format!("{}/blobs/{digest}", self.base(r));
        let mut resp = self.send(r, Method::GET, &url, &[], None, false).await?;
        if !resp.status().is_success() {
            return Err(Error::Registry(format!("GET {url}: {}", resp.status())));
        }
        let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        let mut n = 0u64;
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| Error::Registry(e.to_string()))?
        {
            ctx.update(&chunk);
            n += chunk.len() as u64;
            out.write_all(&chunk)
                .map_err(|e| Error::Registry(format!("cannot store blob {digest}: {e}")))?;
        }
        if format!("sha256:{}", hex::encode(ctx.finish())) != digest {
            return Err(Error::Registry(format!(
                "blob {digest} does not match its digest"
            )));
        }
        Ok(n)
    }

    /// Uploads a blob (skipped when present); returns its digest.
    pub async fn put_blob(&self, r: &Reference, data: &[u8]) -> Result<String, Error> {
        let d = digest_of(data);
        let base = self.base(r);
        let head = self
            .send(
                r,
                Method::HEAD,
                &format!("{base}/blobs/{d}"),
                &[],
                None,
                true,
            )
            .await?;
        if head.status().is_success() {
            return Ok(d);
        }
        let start = self
            .send(
                r,
                Method::POST,
                &format!("{base}/blobs/uploads/"),
                &[],
                None,
                true,
            )
            .await?;
        if start.status() != StatusCode::ACCEPTED {
            return Err(Error::Registry(format!(
                "starting a blob upload: {}",
                start.status()
            )));
        }
        let loc = start
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| Error::Registry("no upload location".into()))?;
        let mut url = if loc.starts_with("http") {
            loc.to_string()
        } else {
            format!("{}{}", base.split("/v2/").next().unwrap_or(""), loc)
        };
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&format!("digest={d}"));
        let put = self
            .send(
                r,
                Method::PUT,
                &url,
                &[(header::CONTENT_TYPE, "application/octet-stream".into())],
                Some(data.to_vec()),
                true,
            )
            .await?;
        if put.status() != StatusCode::CREATED {
            return Err(Error::Registry(format!(
                "uploading blob {d}: {}",
                put.status()
            )));
        }
        Ok(d)
    }

    /// Puts a manifest under `reference` (a tag or its digest); returns its digest.
    pub async fn put_manifest(
        &self,
        r: &Reference,
        reference: &str,
        body: &[u8],
        media_type: &str,
    ) -> Result<String, Error> {
        self.put_manifest_response(r, reference, body, media_type)
            .await?;
        Ok(digest_of(body))
    }

    /// PUTs a manifest; the registry's answer once it is 201 Created.
    async fn put_manifest_response(
        &self,
        r: &Reference,
        reference: &str,
        body: &[u8],
        media_type: &str,
    ) -> Result<reqwest::Response, Error> {
        let url = format!("{}/manifests/{reference}", self.base(r));
        let resp = self
            .send(
                r,
                Method::PUT,
                &url,
                &[(header::CONTENT_TYPE, media_type.into())],
                Some(body.to_vec()),
                true,
            )
            .await?;
        if resp.status() != StatusCode::CREATED {
            let status = resp.status();
            let text = resp.text().await.unwrap_or_default();
            return Err(Error::Registry(format!(
                "PUT {url}: {status} {}",
                text.chars().take(200).collect::<String>()
            )));
        }
        Ok(resp)
    }

    /// The manifests that name `digest` as their subject: from the referrers API, or from the
    /// referrers tag schema when the registry answers the API with 404 (as registries without
    /// it do). Filtered to `artifact_type` when given.
    pub async fn referrers(
        &self,
        r: &Reference,
        digest: &str,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>, Error> {
        let url = format!("{}/referrers/{digest}", self.base(r));
        let resp = self
            .send(
                r,
                Method::GET,
                &url,
                &[(header::ACCEPT, OCI_INDEX.into())],
                None,
                false,
            )
            .await?;
        let all = if resp.status().is_success() {
            let body = resp
                .bytes()
                .await
                .map_err(|e| Error::Registry(e.to_string()))?;
            index_manifests(&body)
        } else if matches!(
            resp.status(),
            StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED | StatusCode::BAD_REQUEST
        ) {
            match self.manifest(r, &referrers_tag(digest)).await? {
                Some((body, _, _)) => index_manifests(&body),
                None => Vec::new(),
            }
        } else {
            return Err(Error::Registry(format!("GET {url}: {}", resp.status())));
        };
        Ok(all
            .into_iter()
            .filter(|d| artifact_type.is_none_or(|t| d.artifact_type.as_deref() == Some(t)))
            .collect())
    }

    /// Pushes an OCI 1.1 artifact manifest (with a `subject`) by digest, and lists it in the
    /// referrers tag schema's index when the registry did not take the subject itself (no
    /// `OCI-Subject` header in its answer). Returns the manifest's descriptor.
    pub async fn push_referrer(
        &self,
        r: &Reference,
        manifest: &[u8],
        subject_digest: &str,
    ) -> Result<Descriptor, Error> {
        let v: Value = serde_json::from_slice(manifest)
            .map_err(|e| Error::Registry(format!("the manifest to push is not JSON: {e}")))?;
        let media_type = v["mediaType"].as_str().unwrap_or(OCI_MANIFEST).to_string();
        let mut desc = Descriptor::of(&media_type, manifest);
        desc.artifact_type = v["artifactType"]
            .as_str()
            .or_else(|| v["config"]["mediaType"].as_str())
            .map(str::to_string);
        desc.annotations = v["annotations"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        let resp = self
            .put_manifest_response(r, &desc.digest, manifest, &media_type)
            .await?;
        let took_subject = resp.headers().get("oci-subject").is_some();
        if took_subject {
            return Ok(desc);
        }
        // The tag schema: read, add, write back the index (racy, as in every client).
        let tag = referrers_tag(subject_digest);
        let mut manifests = match self.manifest(r, &tag).await? {
            Some((body, _, _)) => index_manifests(&body),
            None => Vec::new(),
        };
        if !manifests.iter().any(|d| d.digest == desc.digest) {
            manifests.push(desc.clone());
        }
        let index = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": manifests,
        }))
        .expect("json");
        self.put_manifest(r, &tag, &index, OCI_INDEX).await?;
        Ok(desc)
    }
}

/// Basic credentials for a Docker config entry (for tests and docs).
pub fn docker_auth_entry(user: &str, password: &str) -> String {
    B64.encode(format!("{user}:{password}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        let r = Reference::parse("127.0.0.1:5000/demo/hello:v1").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_deref()),
            ("127.0.0.1:5000", "demo/hello", Some("v1"))
        );
        let d = format!("sha256:{}", "a".repeat(64));
        let r = Reference::parse(&format!("localhost:5000/x@{d}")).unwrap();
        assert_eq!((r.tag, r.digest.as_deref()), (None, Some(d.as_str())));
        assert_eq!(
            Reference::parse("alpine").unwrap().name(),
            "docker.io/library/alpine"
        );
        assert_eq!(
            Reference::parse("ghcr.io/o/r").unwrap().tag.as_deref(),
            Some("latest")
        );
        assert!(Reference::parse("x@sha256:zz").is_err());
        assert!(Reference::parse("host:5000/x:").is_err());
    }

    /// The grammar of distribution/reference: what docker and the kubelet accept parses, the rest
    /// (hostile or mistyped references an admission webhook must deny) does not.
    #[test]
    fn references_outside_the_grammar_are_refused() {
        let d = "a".repeat(64);
        for ok in [
            "alpine",
            "alpine:3.20",
            "library/alpine",
            "my-org/my_app/sub__x/a.b---c:v1.2_3-rc",
            "ghcr.io/o/r:latest",
            "localhost/x",
            "localhost:5000/x",
            "Registry.Example.com:443/team/app",
            "[::1]:5000/app:v1",
            "127.0.0.1:5000/demo/hello@sha256:aaaa",
        ] {
            let ok = ok.replace("sha256:aaaa", &format!("sha256:{d}"));
            assert!(Reference::parse(&ok).is_ok(), "{ok} should parse");
        }
        // One spelling per image: the kubelet's normalisation (issue 24 audit: a policy on
        // docker.io/library/* must cover every way of writing the same image).
        for (written, normal) in [
            ("nginx:1.27", "docker.io/library/nginx:1.27"),
            ("docker.io/nginx:1.27", "docker.io/library/nginx:1.27"),
            (
                "index.docker.io/library/nginx:1.27",
                "docker.io/library/nginx:1.27",
            ),
            ("index.docker.io/nginx:1.27", "docker.io/library/nginx:1.27"),
            ("GHCR.IO/org/app:v1", "ghcr.io/org/app:v1"),
            ("ghcr.io:443/org/app:v1", "ghcr.io/org/app:v1"),
            ("ghcr.io:5000/org/app:v1", "ghcr.io:5000/org/app:v1"),
            ("docker.io/org/app:v1", "docker.io/org/app:v1"),
        ] {
            assert_eq!(
                Reference::parse(written).unwrap().to_string(),
                normal,
                "{written}"
            );
        }
        let upper = format!("x@sha256:{}", "A".repeat(64));
        let long = format!("h.io/{}", "a".repeat(256));
        let long_tag = format!("a:{}", "t".repeat(129));
        for bad in [
            "",
            "../x",
            "x/../y",
            "./x",
            "/x",
            "x/",
            "x//y",
            "\u{ff41}\u{ff42}\u{ff43}",
            "ｒｅｇｉｓｔｒｙ/app",
            "http://host:5000/app",
            "https://ghcr.io/o/r",
            "Alpine",
            "team/App",
            "-x",
            "x-",
            "x.",
            "a__b___c",
            "x:-tag",
            "x:.tag",
            "x:t@g",
            "x y",
            "x\ny",
            "x\u{0}",
            "h.io:/x",
            "h.io:port/x",
            "-h.io/x",
            "h-.io/x",
            "[zz]/x",
            upper.as_str(),
            long.as_str(),
            long_tag.as_str(),
            "x@sha512:aa",
        ] {
            assert!(
                matches!(Reference::parse(bad), Err(Error::BadReference(_))),
                "{bad:?} should be refused"
            );
        }
    }
}
