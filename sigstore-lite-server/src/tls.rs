//! Serving an axum router over HTTPS (rustls on aws-lc-rs), for servers that must speak TLS
//! themselves, such as an admission webhook (the Kubernetes API server calls webhooks only over
//! HTTPS).

use std::future::Future;
use std::sync::Arc;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::rustls;

/// A server's TLS configuration.
pub type Config = Arc<rustls::ServerConfig>;

/// Serves `app` over HTTPS when `tls` is given, else plain HTTP; the same limits either way.
pub async fn serve_maybe(
    listener: TcpListener,
    app: axum::Router,
    tls: Option<Config>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    match tls {
        Some(t) => serve_tls(listener, t, app, shutdown).await,
        None => crate::serve(listener, app, shutdown).await,
    }
}

/// `--tls-cert` / `--tls-key`, as every server takes them.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct TlsArgs {
    /// Serve HTTPS with this certificate chain (PEM, leaf first); plain HTTP without it.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
}

impl TlsArgs {
    /// The configuration, if HTTPS was asked for.
    pub fn load(&self) -> Result<Option<Config>, String> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(c), Some(k)) => load(c, k).map(Some),
            _ => Ok(None),
        }
    }

    /// `https` or `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls_cert.is_some() {
            "https"
        } else {
            "http"
        }
    }
}

/// Reads a PEM chain and key into a [`Config`], naming the files in errors.
pub fn load(chain: &std::path::Path, key: &std::path::Path) -> Result<Config, String> {
    let read = |p: &std::path::Path| {
        std::fs::read(p).map_err(|e| format!("{} cannot be read: {e}", p.display()))
    };
    server_config(&read(chain)?, &read(key)?)
}

pub const CA_CERT: &str = "ca.crt";
pub const TLS_CERT: &str = "tls.crt";
pub const TLS_KEY: &str = "tls.key";

/// The files of a local CA and the serving certificate it signed.
#[derive(Debug, Clone)]
pub struct LocalCa {
    pub ca: std::path::PathBuf,
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
}

/// Makes (once) a CA and a serving certificate for `names` (DNS names or IP addresses) in
/// `dir`; reuses them afterwards. Keys are 0600 in a 0700 directory.
pub fn local_ca(dir: &std::path::Path, names: &[String]) -> Result<LocalCa, String> {
    use rcgen::{
        BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose,
        IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let files = LocalCa {
        ca: dir.join(CA_CERT),
        cert: dir.join(TLS_CERT),
        key: dir.join(TLS_KEY),
    };
    if files.ca.exists() && files.cert.exists() && files.key.exists() {
        return Ok(files);
    }
    let tls = |e: rcgen::Error| e.to_string();
    crate::create_private_dir(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let dn = |cn: &str| {
        let mut d = DistinguishedName::new();
        d.push(DnType::OrganizationName, "sigstore-lite");
        d.push(DnType::CommonName, cn);
        d
    };
    let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(tls)?;
    let mut cp = CertificateParams::default();
    cp.distinguished_name = dn("sigstore-lite local CA");
    cp.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    cp.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = cp.self_signed(&ca_key).map_err(tls)?;
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(tls)?;
    let mut lp = CertificateParams::new(names.to_vec()).map_err(tls)?;
    lp.distinguished_name = dn(names.first().map_or("sigstore-lite", |s| s.as_str()));
    lp.is_ca = IsCa::ExplicitNoCa;
    lp.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    lp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf = lp.signed_by(&key, &Issuer::new(cp, &ca_key)).map_err(tls)?;
    let io = |e: std::io::Error| format!("cannot write in {}: {e}", dir.display());
    // The key first, the CA last: a half-written directory is never taken as complete.
    for p in [&files.key, &files.cert, &files.ca] {
        let _ = std::fs::remove_file(p);
    }
    crate::write_private(&files.key, key.serialize_pem().as_bytes()).map_err(io)?;
    std::fs::write(&files.cert, leaf.pem()).map_err(io)?;
    std::fs::write(&files.ca, ca.pem()).map_err(io)?;
    Ok(files)
}

/// A rustls server configuration from a PEM certificate chain (leaf first) and a PEM private
/// key (PKCS#8, SEC1 or PKCS#1), HTTP/1.1 offered by ALPN (what the API server speaks to webhooks).
pub fn server_config(
    chain_pem: &[u8],
    key_pem: &[u8],
) -> Result<Arc<rustls::ServerConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_slice_iter(chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("the certificate is not PEM: {e}"))?;
    if chain.is_empty() {
        return Err("no certificate in the PEM file".into());
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| format!("the private key is not PEM: {e}"))?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .map_err(|e| format!("the certificate and key do not go together: {e}"))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// Serves `app` over TLS on `listener` until `shutdown` resolves, with the limits of
/// [`crate::serve`] (header and request deadlines, a connection cap; the handshake counts
/// against the header deadline). A client that fails the handshake is dropped without
/// affecting the others.
pub async fn serve_tls(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = crate::serve::Limits::for_this_process();
    let app = app.layer(axum::middleware::from_fn_with_state(
        limits.request,
        crate::serve::request_deadline,
    ));
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let permits = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => return Ok(()),
            p = Arc::clone(&permits).acquire_owned() => p.expect("the semaphore is never closed"),
        };
        let (tcp, _) = tokio::select! {
            _ = &mut shutdown => return Ok(()),
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let stream = match tokio::time::timeout(limits.header_read, acceptor.accept(tcp)).await
            {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            let svc = TowerToHyperService::new(app);
            let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(limits.header_read);
            if let Err(e) = builder.serve_connection(TokioIo::new(stream), svc).await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
}
