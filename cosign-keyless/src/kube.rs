//! Keys in a Kubernetes Secret, as cosign keeps them (`k8s://NAMESPACE/NAME`): the Secret holds
//! `cosign.key` (the encrypted private key), `cosign.pub` and `cosign.password`, and is immutable
//! on API servers from 1.21. The API server is the current context of the kubeconfig
//! (`$KUBECONFIG`, else `~/.kube/config`; bearer token, token file or client certificate; the
//! cluster's CA), or the in-cluster service account.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::Error;

/// `k8s://NAMESPACE/NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRef {
    pub namespace: String,
    pub name: String,
}

impl SecretRef {
    /// `Some` for a `k8s://` reference (an error if it is malformed), `None` for a file path.
    pub fn parse(s: &str) -> Option<Result<SecretRef, Error>> {
        let rest = s.strip_prefix("k8s://")?;
        Some(match rest.split('/').collect::<Vec<_>>().as_slice() {
            [ns, name] if !ns.is_empty() && !name.is_empty() => Ok(SecretRef {
                namespace: ns.to_string(),
                name: name.to_string(),
            }),
            _ => Err(Error::Usage(
                "kubernetes specification should be in the format k8s://<namespace>/<secret>"
                    .into(),
            )),
        })
    }
}

impl std::fmt::Display for SecretRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "k8s://{}/{}", self.namespace, self.name)
    }
}

#[derive(Deserialize, Default)]
struct KubeConfig {
    #[serde(rename = "current-context", default)]
    current_context: String,
    #[serde(default)]
    contexts: Vec<Named<Context>>,
    #[serde(default)]
    clusters: Vec<Named<Cluster>>,
    #[serde(default)]
    users: Vec<Named<User>>,
}

#[derive(Deserialize)]
struct Named<T> {
    name: String,
    #[serde(alias = "context", alias = "cluster", alias = "user")]
    item: T,
}

#[derive(Deserialize)]
struct Context {
    cluster: String,
    #[serde(default)]
    user: String,
}

#[derive(Deserialize, Default)]
struct Cluster {
    server: String,
    #[serde(rename = "certificate-authority")]
    certificate_authority: Option<PathBuf>,
    #[serde(rename = "certificate-authority-data")]
    certificate_authority_data: Option<String>,
    #[serde(rename = "insecure-skip-tls-verify", default)]
    insecure_skip_tls_verify: bool,
}

#[derive(Deserialize, Default)]
struct User {
    token: Option<String>,
    #[serde(rename = "tokenFile")]
    token_file: Option<PathBuf>,
    #[serde(rename = "client-certificate")]
    client_certificate: Option<PathBuf>,
    #[serde(rename = "client-certificate-data")]
    client_certificate_data: Option<String>,
    #[serde(rename = "client-key")]
    client_key: Option<PathBuf>,
    #[serde(rename = "client-key-data")]
    client_key_data: Option<String>,
}

fn kerr(msg: impl Into<String>) -> Error {
    Error::Kubernetes(msg.into())
}

/// A file named in a kubeconfig (relative to the kubeconfig's directory), or inline base64 data.
fn material(
    base: &Path,
    path: &Option<PathBuf>,
    data: &Option<String>,
) -> Result<Option<Vec<u8>>, Error> {
    if let Some(d) = data {
        return B64
            .decode(d.trim())
            .map(Some)
            .map_err(|_| kerr("kubeconfig: a *-data field is not base64"));
    }
    match path {
        Some(p) => {
            let p = if p.is_absolute() {
                p.clone()
            } else {
                base.join(p)
            };
            std::fs::read(&p)
                .map(Some)
                .map_err(|e| kerr(format!("cannot read {}: {e}", p.display())))
        }
        None => Ok(None),
    }
}

/// A client of the Kubernetes API server for Secrets.
pub struct Client {
    http: reqwest::Client,
    server: String,
    token: Option<String>,
}

impl Client {
    /// From the kubeconfig's current context (`$KUBECONFIG`, the first of its paths, else
    /// `~/.kube/config`), or in-cluster.
    pub fn from_env() -> Result<Client, Error> {
        let path = match std::env::var_os("KUBECONFIG") {
            Some(v) if !v.is_empty() => std::env::split_paths(&v).next(),
            _ => std::env::var_os("HOME").map(|h| Path::new(&h).join(".kube/config")),
        };
        match path.filter(|p| p.exists()) {
            Some(p) => Client::from_kubeconfig(&p),
            None => Client::in_cluster(),
        }
    }

    pub fn from_kubeconfig(path: &Path) -> Result<Client, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| kerr(format!("cannot read {}: {e}", path.display())))?;
        let cfg: KubeConfig = serde_yaml::from_str(&text)
            .map_err(|e| kerr(format!("{} is not a kubeconfig: {e}", path.display())))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let ctx = cfg
            .contexts
            .iter()
            .find(|c| c.name == cfg.current_context)
            .ok_or_else(|| {
                kerr(format!(
                    "{}: the current context {:?} is not defined",
                    path.display(),
                    cfg.current_context
                ))
            })?;
        let cluster = cfg
            .clusters
            .iter()
            .find(|c| c.name == ctx.item.cluster)
            .ok_or_else(|| kerr(format!("the cluster {:?} is not defined", ctx.item.cluster)))?;
        let default_user = Named {
            name: String::new(),
            item: User::default(),
        };
        let user = cfg
            .users
            .iter()
            .find(|u| u.name == ctx.item.user)
            .unwrap_or(&default_user);
        let c = &cluster.item;
        let u = &user.item;
        let mut b = reqwest::Client::builder().timeout(std::time::Duration::from_secs(30));
        if c.insecure_skip_tls_verify {
            b = b.tls_danger_accept_invalid_certs(true);
        } else if let Some(ca) = material(
            base,
            &c.certificate_authority,
            &c.certificate_authority_data,
        )? {
            let certs = reqwest::Certificate::from_pem_bundle(&ca)
                .map_err(|e| kerr(format!("the cluster CA is not PEM: {e}")))?;
            b = b.tls_certs_only(certs);
        }
        let cert = material(base, &u.client_certificate, &u.client_certificate_data)?;
        let key = material(base, &u.client_key, &u.client_key_data)?;
        if let (Some(mut cert), Some(key)) = (cert, key) {
            cert.push(b'\n');
            cert.extend_from_slice(&key);
            b = b
                .identity(reqwest::Identity::from_pem(&cert).map_err(|e| {
                    kerr(format!("the client certificate or key is unusable: {e}"))
                })?);
        }
        let token = match (&u.token, &u.token_file) {
            (Some(t), _) => Some(t.clone()),
            (None, Some(f)) => {
                let p = if f.is_absolute() {
                    f.clone()
                } else {
                    base.join(f)
                };
                Some(
                    std::fs::read_to_string(&p)
                        .map_err(|e| kerr(format!("cannot read {}: {e}", p.display())))?
                        .trim()
                        .to_string(),
                )
            }
            _ => None,
        };
        Ok(Client {
            http: b.build().map_err(|e| kerr(e.to_string()))?,
            server: c.server.trim_end_matches('/').to_string(),
            token,
        })
    }

    fn in_cluster() -> Result<Client, Error> {
        let (Ok(host), Ok(port)) = (
            std::env::var("KUBERNETES_SERVICE_HOST"),
            std::env::var("KUBERNETES_SERVICE_PORT"),
        ) else {
            return Err(kerr(
                "no kubeconfig ($KUBECONFIG or ~/.kube/config) and not running in a cluster",
            ));
        };
        let sa = Path::new("/var/run/secrets/kubernetes.io/serviceaccount");
        let ca = std::fs::read(sa.join("ca.crt"))
            .map_err(|e| kerr(format!("the service account CA: {e}")))?;
        let token = std::fs::read_to_string(sa.join("token"))
            .map_err(|e| kerr(format!("the service account token: {e}")))?;
        let certs = reqwest::Certificate::from_pem_bundle(&ca).map_err(|e| kerr(e.to_string()))?;
        Ok(Client {
            http: reqwest::Client::builder()
                .tls_certs_only(certs)
                .build()
                .map_err(|e| kerr(e.to_string()))?,
            server: format!("https://{host}:{port}"),
            token: Some(token.trim().to_string()),
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), Error> {
        let url = format!("{}{path}", self.server);
        let mut req = self
            .http
            .request(method, &url)
            .header("accept", "application/json");
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let r = req.send().await.map_err(|e| {
            kerr(format!(
                "cannot reach the API server at {}: {e}",
                self.server
            ))
        })?;
        let status = r.status().as_u16();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        Ok((status, v))
    }

    fn failed(what: &str, status: u16, v: &Value) -> Error {
        let msg = v["message"].as_str().unwrap_or("no message");
        kerr(format!("{what}: the API server answered {status}: {msg}"))
    }

    /// The server's minor version (`GET /version`).
    pub async fn minor_version(&self) -> Result<u32, Error> {
        let (status, v) = self.call(reqwest::Method::GET, "/version", None).await?;
        if status != 200 {
            return Err(Client::failed("GET /version", status, &v));
        }
        let minor = v["minor"].as_str().unwrap_or_default();
        minor.trim_end_matches('+').parse().map_err(|_| {
            kerr(format!(
                "the server's minor version {minor:?} is not a number"
            ))
        })
    }

    /// The Secret's data, decoded; `None` if it does not exist.
    pub async fn secret(&self, s: &SecretRef) -> Result<Option<BTreeMap<String, Vec<u8>>>, Error> {
        let path = format!("/api/v1/namespaces/{}/secrets/{}", s.namespace, s.name);
        let (status, v) = self.call(reqwest::Method::GET, &path, None).await?;
        match status {
            200 => Ok(Some(
                v["data"]
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .filter_map(|(k, v)| Some((k.clone(), B64.decode(v.as_str()?).ok()?)))
                            .collect()
                    })
                    .unwrap_or_default(),
            )),
            404 => Ok(None),
            _ => Err(Client::failed(&format!("GET {path}"), status, &v)),
        }
    }

    /// Creates the Secret with `data`, or updates it keeping its other keys, as cosign does.
    pub async fn put_secret(
        &self,
        s: &SecretRef,
        data: &BTreeMap<String, Vec<u8>>,
        immutable: bool,
    ) -> Result<(), Error> {
        let existing = self.secret(s).await?;
        let mut all = existing.clone().unwrap_or_default();
        all.extend(data.iter().map(|(k, v)| (k.clone(), v.clone())));
        let mut body = json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": s.name, "namespace": s.namespace},
            "data": all.iter().map(|(k, v)| (k.clone(), json!(B64.encode(v)))).collect::<serde_json::Map<_, _>>(),
        });
        if immutable {
            body["immutable"] = json!(true);
        }
        let collection = format!("/api/v1/namespaces/{}/secrets", s.namespace);
        let (method, path) = match existing {
            None => (reqwest::Method::POST, collection),
            Some(_) => (reqwest::Method::PUT, format!("{collection}/{}", s.name)),
        };
        let (status, v) = self.call(method.clone(), &path, Some(&body)).await?;
        if !(200..300).contains(&status) {
            return Err(Client::failed(&format!("{method} {path}"), status, &v));
        }
        Ok(())
    }
}

/// The keys of a cosign key Secret.
pub const KEY: &str = "cosign.key";
pub const PUB: &str = "cosign.pub";
pub const PASSWORD: &str = "cosign.password";

/// Reads `key` of the Secret, as text.
pub async fn secret_text(
    s: &SecretRef,
    key: &str,
) -> Result<(String, BTreeMap<String, Vec<u8>>), Error> {
    let data = Client::from_env()?
        .secret(s)
        .await?
        .ok_or_else(|| kerr(format!("the secret {} does not exist", s)))?;
    let v = data
        .get(key)
        .ok_or_else(|| kerr(format!("the secret {s} has no {key}")))?;
    let text =
        String::from_utf8(v.clone()).map_err(|_| kerr(format!("{key} in {s} is not text")))?;
    Ok((text, data))
}
