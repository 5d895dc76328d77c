//! OIDC identity-token verification: `openidconnect` does discovery (the issuer must match) and
//! fetches the JWKS; the JWS signature (RS256 or ES256 only) is verified with aws-lc-rs against
//! the key the `kid` names, parsed once per JWKS fetch; the claims (issuer, audience = the
//! issuer's client ID, exp, iat and nbf with a small leeway at a time given by the caller) are
//! checked here. JWKS are cached per issuer and refetched once on an unknown key ID, at most
//! once per [`MIN_REFETCH`] per issuer.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::signature::{self as sig, ParsedPublicKey, RsaPublicKeyComponents};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64URL, Engine};
use openidconnect::core::{CoreJsonWebKeySet, CoreProviderMetadata};
use openidconnect::{IssuerUrl, JsonWebKeySetUrl};
use serde_json::{Map, Value};
use tokio::sync::RwLock;

use crate::config::{Config, IssuerConfig};
use crate::error::Error;

/// Clock skew tolerated on exp, nbf and iat.
pub const LEEWAY_SECS: i64 = 60;

/// A verified token.
#[derive(Debug, Clone)]
pub struct Verified {
    pub issuer: IssuerConfig,
    pub claims: Map<String, Value>,
}

struct Provider {
    jwks_uri: JsonWebKeySetUrl,
    keys: Vec<Jwk>,
    fetched: std::time::Instant,
}

/// A signing key from a JWKS, parsed for aws-lc-rs.
struct Jwk {
    kid: Option<String>,
    alg: &'static str,
    key: ParsedPublicKey,
}

fn jwks_keys(jwks: &CoreJsonWebKeySet) -> Vec<Jwk> {
    let b = |v: &Value| {
        v.as_str()
            .and_then(|s| B64URL.decode(s.trim_end_matches('=')).ok())
    };
    jwks.keys()
        .iter()
        .filter_map(|k| {
            let v = serde_json::to_value(k).ok()?;
            if v["use"].as_str().is_some_and(|u| u != "sig") {
                return None;
            }
            let kid = v["kid"].as_str().map(str::to_string);
            match v["kty"].as_str()? {
                "RSA" => {
                    let (n, e) = (b(&v["n"])?, b(&v["e"])?);
                    let key = RsaPublicKeyComponents { n: &n, e: &e }
                        .to_parsed_public_key(&sig::RSA_PKCS1_2048_8192_SHA256)
                        .ok()?;
                    Some(Jwk {
                        kid,
                        alg: "RS256",
                        key,
                    })
                }
                "EC" if v["crv"] == "P-256" => {
                    let mut point = vec![4u8];
                    point.extend(b(&v["x"])?);
                    point.extend(b(&v["y"])?);
                    let key = ParsedPublicKey::new(&sig::ECDSA_P256_SHA256_FIXED, &point).ok()?;
                    Some(Jwk {
                        kid,
                        alg: "ES256",
                        key,
                    })
                }
                _ => None,
            }
        })
        .collect()
}

/// Verifies the JWS signature: `Ok(false)` when no published key has the token's kid.
fn verify_signature(
    token: &str,
    alg: &str,
    kid: Option<&str>,
    keys: &[Jwk],
) -> Result<bool, Error> {
    let (signed, sig) = token
        .rsplit_once('.')
        .ok_or_else(|| Error::MalformedToken("no signature".into()))?;
    let sig = B64URL
        .decode(sig.trim_end_matches('='))
        .map_err(|_| Error::MalformedToken("the signature is not base64url".into()))?;
    let candidates: Vec<&Jwk> = keys
        .iter()
        .filter(|k| k.alg == alg && (kid.is_none() || k.kid.as_deref() == kid))
        .collect();
    if candidates.is_empty() {
        return Ok(false);
    }
    let ok = candidates
        .iter()
        .any(|k| k.key.verify_sig(signed.as_bytes(), &sig).is_ok());
    if ok {
        Ok(true)
    } else {
        Err(Error::BadTokenSignature)
    }
}

/// How long a fetched JWKS is trusted before it is fetched again (an unknown key ID refetches at
/// once), so that keys an issuer retires stop being accepted.
pub const DEFAULT_JWKS_TTL: Duration = Duration::from_secs(300);

/// Verifies identity tokens against the configured issuers.
pub struct TokenVerifier {
    config: Config,
    http: Http,
    providers: RwLock<HashMap<String, Arc<Provider>>>,
    jwks_ttl: Duration,
    /// When each issuer's JWKS was last refetched for an unknown key ID.
    refetched: std::sync::Mutex<HashMap<String, std::time::Instant>>,
    /// Discovery and JWKS fetches made (for /metrics).
    pub fetches: std::sync::atomic::AtomicU64,
}

/// The least time between two refetches of an issuer's JWKS for unknown key IDs: tokens naming
/// made-up key IDs must not make fulcio fetch on every request.
pub const MIN_REFETCH: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(String);

/// openidconnect's HTTP client: reqwest without redirects.
struct Http(reqwest::Client);

impl<'c> openidconnect::AsyncHttpClient<'c> for Http {
    type Error = HttpError;
    type Future = std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Result<openidconnect::HttpResponse, HttpError>>
                + Send
                + 'c,
        >,
    >;

    fn call(&'c self, req: openidconnect::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let r = self
                .0
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await
                .map_err(|e| HttpError(e.to_string()))?;
            let mut b = openidconnect::http::Response::builder().status(r.status());
            for (k, v) in r.headers() {
                b = b.header(k, v);
            }
            let bytes = r.bytes().await.map_err(|e| HttpError(e.to_string()))?;
            b.body(bytes.to_vec()).map_err(|e| HttpError(e.to_string()))
        })
    }
}

fn decode_part(part: &str) -> Result<Map<String, Value>, Error> {
    let raw = B64URL
        .decode(part.trim_end_matches('='))
        .map_err(|_| Error::MalformedToken("a segment is not base64url".into()))?;
    match serde_json::from_slice(&raw) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(Error::MalformedToken(
            "a segment is not a JSON object".into(),
        )),
    }
}

impl TokenVerifier {
    pub fn new(config: Config) -> TokenVerifier {
        Self::with_roots(config, &[]).expect("no extra roots to parse")
    }

    /// A verifier that also trusts `roots` (PEM CA certificates) when fetching issuers' discovery
    /// documents and keys over HTTPS.
    pub fn with_roots(config: Config, roots: &[Vec<u8>]) -> Result<TokenVerifier, Error> {
        let mut b = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10));
        for pem in roots {
            let c = reqwest::Certificate::from_pem(pem).map_err(|e| {
                Error::Discovery(format!("an extra OIDC root is not a PEM certificate: {e}"))
            })?;
            b = b.add_root_certificate(c);
        }
        let http = b.build().expect("HTTP client");
        Ok(Self::from_client(config, http))
    }

    fn from_client(config: Config, http: reqwest::Client) -> TokenVerifier {
        TokenVerifier {
            config,
            http: Http(http),
            providers: RwLock::new(HashMap::new()),
            jwks_ttl: DEFAULT_JWKS_TTL,
            refetched: std::sync::Mutex::new(HashMap::new()),
            fetches: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Sets how long a JWKS is cached.
    pub fn with_jwks_ttl(mut self, ttl: Duration) -> TokenVerifier {
        self.jwks_ttl = ttl;
        self
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    async fn provider(&self, iss: &str, refresh_keys: bool) -> Result<Arc<Provider>, Error> {
        if !refresh_keys {
            if let Some(p) = self.providers.read().await.get(iss) {
                if p.fetched.elapsed() < self.jwks_ttl {
                    return Ok(Arc::clone(p));
                }
            }
        }
        let client = &self.http;
        let existing = self.providers.read().await.get(iss).cloned();
        self.fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let provider = match existing {
            Some(p) => {
                let jwks = CoreJsonWebKeySet::fetch_async(&p.jwks_uri, client)
                    .await
                    .map_err(|e| Error::Discovery(format!("{iss}: {e}")))?;
                Provider {
                    jwks_uri: p.jwks_uri.clone(),
                    keys: jwks_keys(&jwks),
                    fetched: std::time::Instant::now(),
                }
            }
            None => {
                let url = IssuerUrl::new(iss.to_string())
                    .map_err(|e| Error::Discovery(format!("{iss}: {e}")))?;
                let meta = CoreProviderMetadata::discover_async(url, client)
                    .await
                    .map_err(|e| Error::Discovery(format!("{iss}: {e}")))?;
                Provider {
                    jwks_uri: meta.jwks_uri().clone(),
                    keys: jwks_keys(meta.jwks()),
                    fetched: std::time::Instant::now(),
                }
            }
        };
        let p = Arc::new(provider);
        self.providers
            .write()
            .await
            .insert(iss.to_string(), Arc::clone(&p));
        Ok(p)
    }

    /// Verifies `token` as of `now` (unix seconds).
    pub async fn verify(&self, token: &str, now: i64) -> Result<Verified, Error> {
        let parts: Vec<&str> = token.split('.').collect();
        let [header, payload, _sig] = parts.as_slice() else {
            return Err(Error::MalformedToken(
                "a JWT has three dot-separated parts".into(),
            ));
        };
        let header = decode_part(header)?;
        let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
        if alg != "RS256" && alg != "ES256" {
            return Err(Error::UnsupportedTokenAlg(alg.to_string()));
        }
        let claims = decode_part(payload)?;
        let iss = claims
            .get("iss")
            .and_then(Value::as_str)
            .ok_or(Error::MissingClaim("iss"))?
            .to_string();
        let cfg = self
            .config
            .lookup(&iss)
            .ok_or_else(|| Error::UnknownIssuer(iss.clone()))?;
        let kid = header.get("kid").and_then(Value::as_str);
        let mut provider = self.provider(&iss, false).await?;
        if !verify_signature(token, alg, kid, &provider.keys)? {
            let may_refetch = {
                let mut r = self.refetched.lock().expect("lock");
                match r.get(&iss) {
                    Some(at) if at.elapsed() < MIN_REFETCH => false,
                    _ => {
                        r.insert(iss.clone(), std::time::Instant::now());
                        true
                    }
                }
            };
            if !may_refetch {
                return Err(Error::UnknownKey(kid.unwrap_or("").to_string()));
            }
            provider = self.provider(&iss, true).await?;
            if !verify_signature(token, alg, kid, &provider.keys)? {
                return Err(Error::UnknownKey(kid.unwrap_or("").to_string()));
            }
        }
        check_claims(&claims, &cfg, now)?;
        Ok(Verified {
            issuer: cfg,
            claims,
        })
    }
}

/// The claims checks (the signature was verified before): audience, expiry, issue time and
/// not-before, with [`LEEWAY_SECS`] of clock skew.
fn check_claims(claims: &Map<String, Value>, cfg: &IssuerConfig, now: i64) -> Result<(), Error> {
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => *a == cfg.client_id,
        Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(&cfg.client_id)),
        _ => false,
    };
    if !aud_ok {
        return Err(Error::WrongAudience {
            expected: cfg.client_id.clone(),
        });
    }
    let time = |name: &'static str| -> Result<Option<i64>, Error> {
        match claims.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_i64()
                .or_else(|| v.as_f64().map(|f| f as i64))
                .map(Some)
                .ok_or_else(|| Error::MalformedToken(format!("the {name} claim is not a number"))),
        }
    };
    let exp = time("exp")?.ok_or(Error::MissingValidity("exp"))?;
    if exp.saturating_add(LEEWAY_SECS) < now {
        return Err(Error::TokenExpired);
    }
    let iat = time("iat")?.ok_or(Error::MissingValidity("iat"))?;
    if iat > now.saturating_add(LEEWAY_SECS) {
        return Err(Error::TokenNotYetValid);
    }
    if let Some(nbf) = time("nbf")? {
        if nbf > now.saturating_add(LEEWAY_SECS) {
            return Err(Error::TokenNotYetValid);
        }
    }
    Ok(())
}
