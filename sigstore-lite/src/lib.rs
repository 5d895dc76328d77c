//! sigstore-lite: the whole stack in one process. [`Stack::start`] binds the services (mock OIDC
//! issuer, Fulcio-compatible CA, Rekor v1 and Rekor v2 logs, RFC 3161 timestamp authority), opens
//! their stores in one data directory, writes the trust files real clients need
//! (`trusted_root.json`, `signing_config.json` v0.2, `trust_config.json`), and serves until
//! [`Stack::stop`].

pub mod cli;
pub mod explorer;
pub mod manuals;
pub mod testing;
pub mod tour;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use sigstore_lite_core::keys::{pem_parse_all, PublicKey};
use sigstore_lite_core::trust::{
    self, CertificateAuthority, ClientTrustConfig, LogInstance, SigningConfig, Subject, TrustedRoot,
};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Files written into the data directory.
pub const TRUSTED_ROOT: &str = "trusted_root.json";
pub const SIGNING_CONFIG: &str = "signing_config.json";
pub const TRUST_CONFIG: &str = "trust_config.json";

/// Everything that stops the stack from starting, as one sentence.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot use the data directory {path}: {reason}")]
    DataDir { path: PathBuf, reason: String },
    #[error("cannot listen on {addr} for {service}: {reason}")]
    Bind {
        service: &'static str,
        addr: SocketAddr,
        reason: String,
    },
    #[error("{service} failed to start: {reason}")]
    Service {
        service: &'static str,
        reason: String,
    },
    #[error(
        "bad --issuer {0:?}: give URL or URL=TYPE with TYPE email, github-workflow, ci-provider, kubernetes, chainguard-identity, or a ci-provider's name (gitlab-pipeline, buildkite-job, codefresh-workflow, circleci-job, buddy-pipeline)"
    )]
    BadIssuer(String),
}

/// Options of `sigstore-lite up`.
#[derive(Debug, Clone)]
pub struct Options {
    pub data_dir: PathBuf,
    pub host: IpAddr,
    pub fulcio_port: u16,
    pub rekor_port: u16,
    pub rekor_v2_port: u16,
    pub tsa_port: u16,
    pub explorer_port: u16,
    pub oidc_port: u16,
    /// The TUF repository's port (served over plain HTTP: its metadata is signed).
    pub tuf_port: u16,
    /// Expiry periods (`ROLE=DURATION`) for the TUF repository.
    pub tuf_expires: Vec<String>,
    /// Which Rekor the signing config sends clients to: 2 (Rekor v2 and the TSA; v1 stays
    /// listed for clients that only speak v1) or 1 (Rekor v1 only).
    pub rekor_api: u8,
    /// Extra real OIDC issuers, as `URL` or `URL=TYPE`.
    pub issuers: Vec<String>,
    /// The host name clients use (default: `host`); used in URLs and the checkpoint origin.
    pub public_host: Option<String>,
    /// Serve every service over HTTPS with a local CA (`<data_dir>/tls/ca.crt`).
    pub tls: bool,
    /// Keep both logs in PostgreSQL (schemas `rekor_v1` and `rekor_v2` of this database) instead
    /// of the data directory; their keys stay in the data directory.
    pub store: Option<String>,
    /// A whole Fulcio identity config; the mock issuer and `issuers` are added to it.
    pub fulcio_config: Option<PathBuf>,
    /// Where each service's signing key lives (default: files in the data directory).
    pub keys: cli::KeyArgs,
    /// Services not to start (scaffolding's `--no-fulcio` and the like); the trust files and
    /// the TUF targets then leave them out.
    pub without: Without,
}

/// The services `up` can leave out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Without {
    pub fulcio: bool,
    pub rekor: bool,
    pub rekor_v2: bool,
    pub tsa: bool,
}

impl Options {
    /// On 127.0.0.1 with ports chosen by the system (for tests and benchmarks).
    pub fn loopback(data_dir: &Path) -> Options {
        Options {
            data_dir: data_dir.to_path_buf(),
            host: IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            fulcio_port: 0,
            rekor_port: 0,
            rekor_v2_port: 0,
            tsa_port: 0,
            explorer_port: 0,
            oidc_port: 0,
            tuf_port: 0,
            tuf_expires: Vec::new(),
            rekor_api: 2,
            issuers: Vec::new(),
            public_host: None,
            tls: false,
            store: None,
            fulcio_config: None,
            keys: cli::KeyArgs::default(),
            without: Without::default(),
        }
    }
}

/// A running stack.
pub struct Stack {
    pub oidc_url: String,
    pub fulcio_url: String,
    pub rekor_url: String,
    pub rekor_v2_url: String,
    /// The TSA's base URL (timestamps at `<tsa_url>/api/v1/timestamp`).
    pub tsa_url: String,
    /// The log explorer.
    pub explorer_url: String,
    /// The TUF repository (a client's `--mirror` / `--instance` / `tufMirrorURL`).
    pub tuf_url: String,
    /// With `tls`: the local CA clients must trust (SSL_CERT_FILE, REQUESTS_CA_BUNDLE).
    pub ca_path: Option<PathBuf>,
    pub data_dir: PathBuf,
    pub issuer: mock_oidc::Issuer,
    pub extra_issuers: Vec<String>,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<std::io::Result<()>>>,
    /// Both logs, to give up a PostgreSQL lease on stop.
    logs: Vec<rekor_lite::Log>,
}

fn parse_issuer(spec: &str) -> Result<fulcio_lite::config::IssuerConfig, Error> {
    use fulcio_lite::config::{IssuerConfig, IssuerType};
    let (url, kind) = match spec.rsplit_once('=') {
        Some((u, t)) if !t.contains('/') => (u, Some(t)),
        _ => (spec, None),
    };
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(Error::BadIssuer(spec.to_string()));
    }
    let ci = |name: &str| {
        fulcio_lite::config::builtin_ci_provider(name).map_err(|_| Error::BadIssuer(spec.into()))
    };
    let kind = match kind {
        None if url == "https://token.actions.githubusercontent.com" => ci("github-workflow")?,
        None | Some("email") => IssuerType::Email,
        Some("github-workflow") => IssuerType::GithubWorkflow,
        // `ci-provider` alone is GitHub's, as before; a provider's name picks its templates.
        Some("ci-provider") => ci("github-workflow")?,
        Some("kubernetes") => IssuerType::Kubernetes,
        Some("chainguard-identity") => IssuerType::ChainguardIdentity,
        Some(name) => ci(name)?,
    };
    Ok(IssuerConfig {
        issuer_url: url.trim_end_matches('/').to_string(),
        client_id: "sigstore".into(),
        kind,
        issuer_claim: None,
        subject_domain: None,
        spiffe_trust_domain: None,
        skip_email_verification: false,
    })
}

async fn bind(service: &'static str, host: IpAddr, port: u16) -> Result<TcpListener, Error> {
    let addr = SocketAddr::new(host, port);
    TcpListener::bind(addr).await.map_err(|e| Error::Bind {
        service,
        addr,
        reason: if e.kind() == std::io::ErrorKind::AddrInUse {
            "the port is in use".into()
        } else {
            e.to_string()
        },
    })
}

fn check_dir(dir: &Path) -> Result<(), Error> {
    let err = |reason: String| Error::DataDir {
        path: dir.to_path_buf(),
        reason,
    };
    // The data directory holds every service's keys: the owner's alone, whatever the umask.
    sigstore_lite_server::create_private_dir(dir).map_err(|e| err(e.to_string()))?;
    let probe = dir.join(".write-test");
    std::fs::write(&probe, b"").map_err(|e| err(format!("not writable ({e})")))?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

/// [`bind`], unless the service is left out.
async fn bind_unless(
    skip: bool,
    service: &'static str,
    host: IpAddr,
    port: u16,
) -> Result<Option<TcpListener>, Error> {
    if skip {
        return Ok(None);
    }
    bind(service, host, port).await.map(Some)
}

impl Stack {
    /// Starts mock-oidc, fulcio-lite (trusting it and `opts.issuers`) and rekor-lite.
    pub async fn start(opts: &Options) -> Result<Stack, Error> {
        check_dir(&opts.data_dir)?;
        let oidc_l = bind("mock-oidc", opts.host, opts.oidc_port).await?;
        let w = opts.without;
        let fulcio_l = bind_unless(w.fulcio, "fulcio-lite", opts.host, opts.fulcio_port).await?;
        let rekor_l = bind_unless(w.rekor, "rekor-lite", opts.host, opts.rekor_port).await?;
        let rekor_v2_l =
            bind_unless(w.rekor_v2, "rekor-lite (v2)", opts.host, opts.rekor_v2_port).await?;
        let tsa_l = bind_unless(w.tsa, "tsa-lite", opts.host, opts.tsa_port).await?;
        let explorer_l = bind("explorer", opts.host, opts.explorer_port).await?;
        let tuf_l = bind("TUF repository", opts.host, opts.tuf_port).await?;
        let host = opts.public_host.clone().unwrap_or_else(|| match opts.host {
            IpAddr::V6(a) => format!("[{a}]"),
            IpAddr::V4(a) => a.to_string(),
        });
        let tls = if opts.tls {
            let mut names = vec![host.trim_matches(['[', ']']).to_string()];
            for n in ["localhost", "127.0.0.1"] {
                if !names.iter().any(|x| x == n) {
                    names.push(n.to_string());
                }
            }
            let files = sigstore_lite_server::tls::local_ca(&opts.data_dir.join("tls"), &names)
                .map_err(|e| Error::Service {
                    service: "tls",
                    reason: e,
                })?;
            let config = sigstore_lite_server::tls::load(&files.cert, &files.key).map_err(|e| {
                Error::Service {
                    service: "tls",
                    reason: e,
                }
            })?;
            let ca_pem = std::fs::read(&files.ca).map_err(|e| Error::Service {
                service: "tls",
                reason: e.to_string(),
            })?;
            Some((files, config, ca_pem))
        } else {
            None
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let url = |l: &TcpListener| {
            format!(
                "{scheme}://{host}:{}",
                l.local_addr().map(|a| a.port()).unwrap_or(0)
            )
        };
        // A service left out has no URL (an empty string).
        let url_of = |l: &Option<TcpListener>| l.as_ref().map(url).unwrap_or_default();
        let oidc_url = url(&oidc_l);
        let (fulcio_url, rekor_url) = (url_of(&fulcio_l), url_of(&rekor_l));
        let (rekor_v2_url, tsa_url) = (url_of(&rekor_v2_l), url_of(&tsa_l));
        let explorer_url = url(&explorer_l);
        let tuf_url = format!(
            "http://{host}:{}",
            tuf_l.local_addr().map(|a| a.port()).unwrap_or(0)
        );

        let svc = |service: &'static str| move |e: String| Error::Service { service, reason: e };
        let issuer = mock_oidc::Issuer::new(&oidc_url, Some(&opts.data_dir.join("oidc")))
            .map_err(|e| svc("mock-oidc")(e.to_string()))?;
        let mut extra = vec![fulcio_lite::config::IssuerConfig {
            issuer_url: oidc_url.clone(),
            client_id: "sigstore".into(),
            kind: fulcio_lite::config::IssuerType::Email,
            issuer_claim: None,
            subject_domain: None,
            spiffe_trust_domain: None,
            skip_email_verification: false,
        }];
        for spec in &opts.issuers {
            extra.push(parse_issuer(spec)?);
        }
        let extra_issuers = extra[1..].iter().map(|i| i.issuer_url.clone()).collect();
        let fulcio = fulcio_l.is_some().then(|| {
            fulcio_lite::open(&fulcio_lite::Settings {
                data_dir: opts.data_dir.join("fulcio"),
                config: opts.fulcio_config.clone(),
                extra_issuers: extra,
                jwks_ttl: fulcio_lite::oidc::DEFAULT_JWKS_TTL,
                oidc_roots: tls.iter().map(|(_, _, ca)| ca.clone()).collect(),
                keys: fulcio_lite::ca::CaKeys {
                    ca_key: opts.keys.fulcio_key.clone(),
                    root_key: opts.keys.fulcio_root_key.clone(),
                    ca_cert: None,
                    ct_key: opts.keys.ct_key.clone(),
                    create: true,
                },
            })
        });
        let fulcio = fulcio
            .transpose()
            .map_err(|e| svc("fulcio-lite")(e.to_string()))?;
        let origin = host.trim_matches(['[', ']']).to_string();
        // Each log in its data directory, or in its own schema of the PostgreSQL database.
        let log_config = |api: u8, dir: &str, url: &str| -> Result<rekor_lite::Config, Error> {
            let data_dir = opts.data_dir.join(dir);
            let mut c = if api == 1 {
                rekor_lite::Config::v1(data_dir.clone(), &origin)
            } else {
                rekor_lite::Config::v2(data_dir.clone(), &origin)
            };
            let key = if api == 1 {
                &opts.keys.rekor_key
            } else {
                &opts.keys.rekor_v2_key
            };
            c.key = key.clone();
            c.create_key = true;
            if let Some(store) = &opts.store {
                if c.key.is_none() {
                    let key = data_dir.join(if api == 1 {
                        "rekor-key.pem"
                    } else {
                        "rekor-v2-key.pem"
                    });
                    rekor_lite::ensure_key(&key, api)
                        .map_err(|e| svc("rekor-lite")(e.to_string()))?;
                    c.key = Some(rekor_lite::KeyRef::File(key));
                }
                c.store = Some(store.clone());
                c.schema = Some(format!("rekor_v{api}"));
                c.advertise = Some(url.to_string());
            }
            Ok(c)
        };
        let log = match rekor_l {
            Some(_) => Some(
                rekor_lite::open(&log_config(1, "rekor", &rekor_url)?)
                    .map_err(|e| svc("rekor-lite")(e.to_string()))?,
            ),
            None => None,
        };
        let log_v2 = match rekor_v2_l {
            Some(_) => Some(
                rekor_lite::open(&log_config(2, "rekor-v2", &rekor_v2_url)?)
                    .map_err(|e| svc("rekor-lite (v2)")(e.to_string()))?,
            ),
            None => None,
        };
        let tsa_keys = tsa_lite::authority::TsaKeys {
            key: opts.keys.tsa_key.clone(),
            create: true,
        };
        let tsa = match tsa_l {
            Some(_) => Some(
                tsa_lite::open_with(&opts.data_dir.join("tsa"), &tsa_keys)
                    .map_err(|e| svc("tsa-lite")(e.to_string()))?,
            ),
            None => None,
        };

        let tuf = sigstore_lite_tuf::Repository::new(opts.data_dir.join("tuf"), None);
        let previous = tuf_trusted_root(&tuf)?;
        write_trust_files_keeping(
            &opts.data_dir,
            previous.as_ref(),
            &TrustInputs {
                ca_chain: fulcio
                    .as_ref()
                    .map(|f| vec![f.ca.intermediate_der().to_vec(), f.ca.root_der().to_vec()])
                    .unwrap_or_default(),
                ct_key: fulcio.as_ref().map(|f| f.ca.ct_key().clone()),
                rekor_key: log.as_ref().map(|l| l.public_key().clone()),
                rekor_v2_key: log_v2.as_ref().map(|l| l.public_key().clone()),
                tsa_chain: tsa
                    .as_ref()
                    .map(|t| t.authority.chain_der())
                    .unwrap_or_default(),
                oidc_url: oidc_url.clone(),
                fulcio_url: fulcio_url.clone(),
                rekor_url: rekor_url.clone(),
                rekor_v2_url: rekor_v2_url.clone(),
                tsa_url: tsa_url.clone(),
                rekor_api: opts.rekor_api,
            },
        )?;
        publish_tuf(&tuf, &opts.data_dir, &opts.tuf_expires, &opts.keys)?;

        let (stop, rx) = watch::channel(false);
        let until = move || {
            let mut rx = rx.clone();
            async move {
                let _ = rx.wait_for(|s| *s).await;
            }
        };
        let cfg = tls.as_ref().map(|(_, c, _)| c.clone());
        let mut tasks = vec![tokio::spawn(mock_oidc::serve_on(
            oidc_l,
            issuer.clone(),
            cfg.clone(),
            until(),
        ))];
        if let (Some(l), Some(f)) = (fulcio_l, fulcio) {
            tasks.push(tokio::spawn(fulcio_lite::serve_on(
                l,
                f,
                cfg.clone(),
                until(),
            )));
        }
        if let (Some(l), Some(log)) = (rekor_l, &log) {
            tasks.push(tokio::spawn(rekor_lite::serve_on(
                l,
                log.clone(),
                cfg.clone(),
                until(),
            )));
        }
        if let (Some(l), Some(log)) = (rekor_v2_l, &log_v2) {
            tasks.push(tokio::spawn(rekor_lite::serve_on(
                l,
                log.clone(),
                cfg.clone(),
                until(),
            )));
        }
        if let (Some(l), Some(t)) = (tsa_l, tsa) {
            tasks.push(tokio::spawn(tsa_lite::serve_on(l, t, cfg.clone(), until())));
        }
        let some = |u: &String| (!u.is_empty()).then(|| u.clone());
        tasks.push(tokio::spawn(explorer::serve_on(
            explorer_l,
            explorer::Source {
                rekor_v1: some(&rekor_url),
                rekor_v2: some(&rekor_v2_url),
                extra_root: tls.as_ref().map(|(_, _, ca)| ca.clone()),
            },
            cfg,
            until(),
        )));
        // up holds the offline keys' passphrase (empty unless given), so it renews root and
        // targets too.
        let offline = Some(sigstore_lite_tuf::keys::password_from_env().unwrap_or_default());
        tasks.push(tokio::spawn(sigstore_lite_tuf::serve::serve(
            tuf_l,
            tuf,
            true,
            offline,
            until(),
        )));
        Ok(Stack {
            oidc_url,
            fulcio_url,
            rekor_url,
            rekor_v2_url,
            tsa_url,
            explorer_url,
            tuf_url,
            ca_path: tls.map(|(f, _, _)| f.ca),
            data_dir: opts.data_dir.clone(),
            issuer,
            extra_issuers,
            stop,
            tasks,
            logs: log.into_iter().chain(log_v2).collect(),
        })
    }

    pub fn trusted_root_path(&self) -> PathBuf {
        self.data_dir.join(TRUSTED_ROOT)
    }

    pub fn signing_config_path(&self) -> PathBuf {
        self.data_dir.join(SIGNING_CONFIG)
    }

    pub fn trust_config_path(&self) -> PathBuf {
        self.data_dir.join(TRUST_CONFIG)
    }

    /// The TUF root a client starts from (`cosign initialize --root`, `trust-instance`).
    pub fn tuf_root_path(&self) -> PathBuf {
        self.data_dir.join("tuf").join("root.json")
    }

    /// Tells every service to stop, without waiting (for a `Drop`).
    pub fn signal_stop(self) {
        let _ = self.stop.send(true);
        for l in &self.logs {
            l.release();
        }
    }

    /// Stops serving and waits until every store is closed.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        // A log in PostgreSQL hands its lease over at once (another process, or the next start,
        // integrates without waiting for it to run out).
        for l in &self.logs {
            l.release();
        }
    }
}

/// The values a test (or a CI step) needs from a running stack, under setup-sigstore-env's
/// names where it has one: every URL, the trust files, a token file, the PID.
pub fn ready_values(stack: &Stack, token_file: &Path) -> Vec<(&'static str, String)> {
    let p = |x: PathBuf| x.display().to_string();
    vec![
        ("oidc-url", stack.oidc_url.clone()),
        ("issuer-url", stack.oidc_url.clone()),
        ("fulcio-url", stack.fulcio_url.clone()),
        ("rekor-url", stack.rekor_url.clone()),
        ("rekor-v2-url", stack.rekor_v2_url.clone()),
        ("tsa-url", format!("{}/api/v1/timestamp", stack.tsa_url)),
        ("explorer-url", stack.explorer_url.clone()),
        ("oidc-token", token_file.display().to_string()),
        (
            "oidc-token-command",
            format!(
                "curl -s -X POST {}/token -H 'content-type: application/json' -d '{{\"preset\":\"email\",\"email\":\"you@example.com\"}}'",
                stack.oidc_url
            ),
        ),
        ("trusted-root", p(stack.trusted_root_path())),
        ("signing-config", p(stack.signing_config_path())),
        ("trust-config", p(stack.trust_config_path())),
        ("tuf-url", stack.tuf_url.clone()),
        ("tuf-root", p(stack.tuf_root_path())),
        ("data-dir", p(stack.data_dir.clone())),
        ("pid", std::process::id().to_string()),
    ]
    .into_iter()
    // A service left out (--no-fulcio...) has no URL to give.
    .filter(|(_, v)| !v.is_empty() && v != "/api/v1/timestamp")
    .collect()
}

/// Writes `contents` to `path` whole or not at all (a temporary file beside it, then a rename),
/// so that a reader never sees half of it.
pub fn write_atomically(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&tmp, contents)?;
    std::fs::rename(&tmp, path)
}

/// What the trust files are made of.
pub struct TrustInputs {
    /// The CA chain as DER, intermediates first and the root last (empty: no Fulcio).
    pub ca_chain: Vec<Vec<u8>>,
    pub ct_key: Option<PublicKey>,
    pub rekor_key: Option<PublicKey>,
    pub rekor_v2_key: Option<PublicKey>,
    /// The TSA chain as DER, leaf first (empty: no TSA).
    pub tsa_chain: Vec<Vec<u8>>,
    pub oidc_url: String,
    pub fulcio_url: String,
    pub rekor_url: String,
    pub rekor_v2_url: String,
    pub tsa_url: String,
    /// 2: clients sign through Rekor v2 and the TSA; 1: through Rekor v1 only.
    pub rekor_api: u8,
}

/// The subject (organization, common name) of a DER certificate.
fn subject_of(der: &[u8]) -> Subject {
    let Ok((_, c)) = x509_parser::parse_x509_certificate(der) else {
        return Subject::default();
    };
    let name = c.subject();
    let text = |a: Option<&x509_parser::x509::AttributeTypeAndValue<'_>>| {
        a.and_then(|a| a.as_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let organization = text(name.iter_organization().next());
    let common_name = text(name.iter_common_name().next());
    Subject {
        organization,
        common_name,
    }
}

/// The trusted root the TUF repository hands out now, if there is a repository.
fn tuf_trusted_root(tuf: &sigstore_lite_tuf::Repository) -> Result<Option<TrustedRoot>, Error> {
    if !tuf.exists() {
        return Ok(None);
    }
    let bad = |e: sigstore_lite_tuf::Error| Error::Service {
        service: "TUF repository",
        reason: e.to_string(),
    };
    let state = tuf.load().map_err(bad)?;
    let bytes = tuf
        .target(&state, sigstore_lite_tuf::TRUSTED_ROOT_TARGET)
        .map_err(bad)?;
    sigstore_lite_tuf::repo::parse_trusted_root(&tuf.dir, &bytes)
        .map(Some)
        .map_err(bad)
}

/// Creates the TUF repository from the trust files just written (first start), or publishes
/// them if they changed, so that what TUF hands out is what the data directory holds. The
/// offline keys' passphrase is `SIGSTORE_LITE_TUF_PASSWORD`, empty if unset.
fn publish_tuf(
    tuf: &sigstore_lite_tuf::Repository,
    data_dir: &Path,
    expires: &[String],
    keys: &cli::KeyArgs,
) -> Result<(), Error> {
    let bad = |e: sigstore_lite_tuf::Error| Error::Service {
        service: "TUF repository",
        reason: e.to_string(),
    };
    let password = sigstore_lite_tuf::keys::password_from_env().unwrap_or_default();
    let (trp, scp) = (data_dir.join(TRUSTED_ROOT), data_dir.join(SIGNING_CONFIG));
    let read = |p: &Path| {
        std::fs::read(p).map_err(|e| Error::DataDir {
            path: p.to_path_buf(),
            reason: e.to_string(),
        })
    };
    let (tr, sc) = (read(&trp)?, read(&scp)?);
    let now = sigstore_lite_tuf::serve::now();
    let mut periods = sigstore_lite_tuf::keys::Expiries::default();
    if tuf.exists() {
        let mut c = tuf.keys.config().map_err(bad)?;
        for e in expires {
            c.expires.set(e).map_err(bad)?;
        }
        tuf.publish(Some((&trp, &tr)), Some((&scp, &sc)), &password, now)
            .map_err(bad)?;
        // New periods only once the publish went through (bad input changes nothing).
        if !expires.is_empty() {
            tuf.keys.write_config(&c).map_err(bad)?;
        }
        // Re-sign now what expired, or is due, while the stack was down.
        tuf.renew(false, &password, now).map_err(bad)?;
        tuf.refresh(now).map_err(bad)?;
        return Ok(());
    }
    for e in expires {
        periods.set(e).map_err(bad)?;
    }
    let opts = sigstore_lite_tuf::repo::InitOptions {
        expires: periods,
        root_key_refs: keys.tuf_root_key.iter().cloned().collect(),
        targets_key_refs: keys.tuf_targets_key.iter().cloned().collect(),
        online_key: keys.tuf_online_key.clone(),
        ..Default::default()
    };
    tuf.init((&trp, &tr), (&scp, &sc), &opts, &password, now)
        .map_err(bad)?;
    Ok(())
}

/// The Rekor logs `(url, major API version)` and TSAs a signing config names. One operator:
/// clients (sigstore-python) keep one Rekor per operator, the highest API version they speak,
/// so with both listed Rekor v2 (and then a TSA) is the default. Rekor v2 needs the TSA: without
/// one, clients are sent to Rekor v1 if it runs.
fn signing_services<'a>(
    t: &'a TrustInputs,
    tsa_url: &'a str,
) -> (Vec<(&'a str, u32)>, Vec<&'a str>) {
    let (v1, v2, tsa) = (
        t.rekor_key.is_some(),
        t.rekor_v2_key.is_some(),
        !t.tsa_chain.is_empty(),
    );
    let tsas: Vec<&str> = if tsa { vec![tsa_url] } else { Vec::new() };
    let v2_first = v2 && (t.rekor_api == 2 || !v1) && (tsa || !v1);
    if v2_first {
        let mut r = vec![(t.rekor_v2_url.as_str(), 2)];
        if v1 {
            r.push((t.rekor_url.as_str(), 1));
        }
        (r, tsas)
    } else if v1 {
        (vec![(t.rekor_url.as_str(), 1)], Vec::new())
    } else {
        (Vec::new(), tsas)
    }
}

/// Writes `trusted_root.json`, `signing_config.json` and `trust_config.json` into `dir`.
pub fn write_trust_files(dir: &Path, t: &TrustInputs) -> Result<(), Error> {
    write_trust_files_keeping(dir, None, t)
}

/// [`write_trust_files`], keeping in the trusted root what `previous` trusted and this stack no
/// longer has (a rotated-out key, with an end of validity: `TrustedRoot::carry_over`).
pub fn write_trust_files_keeping(
    dir: &Path,
    previous: Option<&TrustedRoot>,
    t: &TrustInputs,
) -> Result<(), Error> {
    let not_before = |der: &[u8]| {
        x509_parser::parse_x509_certificate(der)
            .map(|(_, c)| trust::rfc3339(c.validity().not_before.timestamp()))
            .map_err(|e| Error::Service {
                service: "trust files",
                reason: format!("a certificate: {e}"),
            })
    };
    // Valid from the CA root's start (else the TSA's; with neither, no bound worth a clock).
    let tsa_since = t.tsa_chain.first().map(|c| not_before(c)).transpose()?;
    let since = match t.ca_chain.last() {
        Some(root) => not_before(root)?,
        None => tsa_since
            .clone()
            .unwrap_or_else(|| "1970-01-01T00:00:00Z".into()),
    };
    let tsa_url = format!("{}/api/v1/timestamp", t.tsa_url);
    let mut tlogs = Vec::new();
    if let Some(k) = &t.rekor_key {
        tlogs.push(LogInstance::new(&t.rekor_url, k, &since));
    }
    if let Some(k) = &t.rekor_v2_key {
        tlogs.push(LogInstance::new_v2(&t.rekor_v2_url, k, &since));
    }
    let tr = TrustedRoot {
        media_type: trust::TRUSTED_ROOT_MEDIA_TYPE.into(),
        tlogs,
        certificate_authorities: t
            .ca_chain
            .last()
            .map(|root| {
                CertificateAuthority::new(&t.fulcio_url, &t.ca_chain, subject_of(root), &since)
            })
            .into_iter()
            .collect(),
        ctlogs: t
            .ct_key
            .iter()
            .map(|k| LogInstance::new(&format!("{}/ct", t.fulcio_url), k, &since))
            .collect(),
        timestamp_authorities: t
            .tsa_chain
            .first()
            .map(|leaf| {
                CertificateAuthority::new(
                    &tsa_url,
                    &t.tsa_chain,
                    subject_of(leaf),
                    tsa_since.as_deref().unwrap_or(&since),
                )
            })
            .into_iter()
            .collect(),
    };
    let tr = match previous {
        Some(p) => {
            tr.carry_over(p, &trust::rfc3339(sigstore_lite_tuf::serve::now()))
                .0
        }
        None => tr,
    };
    let (rekors, tsas) = signing_services(t, &tsa_url);
    let mut sc = SigningConfig::new(
        &t.fulcio_url,
        &t.oidc_url,
        &rekors,
        &tsas,
        &since,
        "sigstore-lite",
    );
    sc.ca_urls.retain(|s| !s.url.is_empty());
    let ctc = ClientTrustConfig::new(tr.clone(), sc.clone());
    std::fs::create_dir_all(dir).map_err(|e| Error::DataDir {
        path: dir.to_path_buf(),
        reason: e.to_string(),
    })?;
    let write = |name: &str, v: serde_json::Value| {
        let p = dir.join(name);
        std::fs::write(&p, serde_json::to_vec_pretty(&v).expect("json")).map_err(|e| {
            Error::DataDir {
                path: p,
                reason: e.to_string(),
            }
        })
    };
    write(TRUSTED_ROOT, serde_json::to_value(&tr).expect("json"))?;
    write(SIGNING_CONFIG, serde_json::to_value(&sc).expect("json"))?;
    write(TRUST_CONFIG, serde_json::to_value(&ctc).expect("json"))
}

/// The services `trust-files` fetches keys from.
#[derive(Debug, Clone)]
pub struct ServiceUrls {
    pub oidc: String,
    pub fulcio: String,
    pub rekor: String,
    pub rekor_v2: String,
    pub tsa: String,
    pub rekor_api: u8,
}

/// Fetches the trust inputs from running services (for docker-compose deployments): the CA chain
/// (`/api/v2/trustBundle`), the CT log key (`/api/v1/ctlog/publicKey`), the Rekor keys
/// (`/api/v1/log/publicKey`, `/api/v2/log/publicKey`) and the TSA chain
/// (`/api/v1/timestamp/certchain`).
pub async fn fetch_trust_inputs(u: &ServiceUrls) -> Result<TrustInputs, Error> {
    let trim = |s: &str| s.trim_end_matches('/').to_string();
    let (oidc_url, fulcio_url, rekor_url) = (trim(&u.oidc), trim(&u.fulcio), trim(&u.rekor));
    let (rekor_v2_url, tsa_url) = (trim(&u.rekor_v2), trim(&u.tsa));
    let http = sigstore_lite_server::http_client(std::time::Duration::from_secs(30));
    let get = |service: &'static str, url: String| {
        let http = http.clone();
        async move {
            let r = http.get(&url).send().await.map_err(|e| Error::Service {
                service,
                reason: format!("{url}: {e}"),
            })?;
            if !r.status().is_success() {
                return Err(Error::Service {
                    service,
                    reason: format!("{url}: HTTP {}", r.status()),
                });
            }
            r.text().await.map_err(|e| Error::Service {
                service,
                reason: e.to_string(),
            })
        }
    };
    let bad = |service: &'static str, reason: String| Error::Service { service, reason };
    let bundle: serde_json::Value = serde_json::from_str(
        &get("fulcio-lite", format!("{fulcio_url}/api/v2/trustBundle")).await?,
    )
    .map_err(|e| bad("fulcio-lite", e.to_string()))?;
    let ca_chain = bundle["chains"][0]["certificates"]
        .as_array()
        .ok_or_else(|| bad("fulcio-lite", "no chain in the trust bundle".into()))?
        .iter()
        .map(|c| {
            c.as_str()
                .and_then(|p| pem_parse_all(p).ok())
                .and_then(|mut v| (!v.is_empty()).then(|| v.remove(0).der))
                .ok_or_else(|| {
                    bad(
                        "fulcio-lite",
                        "a trust bundle certificate is not PEM".into(),
                    )
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let ct_key = PublicKey::from_pem(
        &get(
            "fulcio-lite",
            format!("{fulcio_url}/api/v1/ctlog/publicKey"),
        )
        .await?,
    )
    .map_err(|e| bad("fulcio-lite", e.to_string()))?;
    let rekor_key =
        PublicKey::from_pem(&get("rekor-lite", format!("{rekor_url}/api/v1/log/publicKey")).await?)
            .map_err(|e| bad("rekor-lite", e.to_string()))?;
    let rekor_v2_key = PublicKey::from_pem(
        &get(
            "rekor-lite (v2)",
            format!("{rekor_v2_url}/api/v2/log/publicKey"),
        )
        .await?,
    )
    .map_err(|e| bad("rekor-lite (v2)", e.to_string()))?;
    let tsa_chain =
        pem_parse_all(&get("tsa-lite", format!("{tsa_url}/api/v1/timestamp/certchain")).await?)
            .map_err(|e| bad("tsa-lite", e.to_string()))?
            .into_iter()
            .map(|p| p.der)
            .collect();
    Ok(TrustInputs {
        ca_chain,
        ct_key: Some(ct_key),
        rekor_key: Some(rekor_key),
        rekor_v2_key: Some(rekor_v2_key),
        tsa_chain,
        oidc_url,
        fulcio_url,
        rekor_url,
        rekor_v2_url,
        tsa_url,
        rekor_api: u.rekor_api,
    })
}
