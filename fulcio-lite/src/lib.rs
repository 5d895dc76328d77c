//! fulcio-lite: a Fulcio-compatible certificate authority.
//!
//! It verifies an OIDC identity token ([`oidc`]), turns its claims into a certificate identity
//! ([`identity`]), checks proof of possession of the caller's key (a signature over the e-mail or
//! subject, or a CSR's self-signature; [`issue`]), and issues a 10-minute code-signing certificate with the
//! Sigstore OIDs and one embedded SCT from its built-in CT log ([`ca`]). [`api`] is the HTTP shell.
//!
//! Not implemented: kubernetes, buildkite, gitlab, codefresh and chainguard identity types, CT log
//! submission to an external log, detached SCTs, KMS/HSM keys. It has not been audited.

pub mod api;
pub mod ca;
pub mod cli;
pub mod config;
pub mod error;
pub mod identity;
pub mod issue;
pub mod oidc;
pub mod template;

use std::path::PathBuf;
use std::sync::Arc;

pub use error::Error;

/// Where and how to run the CA.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    /// Issuer config file (JSON or YAML).
    pub config: Option<PathBuf>,
    /// Extra issuers, in addition to the config file.
    pub extra_issuers: Vec<config::IssuerConfig>,
    /// How long issuers' JWKS are cached (an unknown key ID refetches at once).
    pub jwks_ttl: std::time::Duration,
    /// Extra CA certificates (PEM) trusted when fetching issuers' discovery and JWKS over HTTPS
    /// (a local CA, as `sigstore-lite up --tls` makes).
    pub oidc_roots: Vec<Vec<u8>>,
    /// Where the CA's keys are (default: files in `data_dir`).
    pub keys: ca::CaKeys,
}

/// Loads the CA and issuer config.
pub fn open(s: &Settings) -> Result<Arc<api::Fulcio>, Error> {
    let mut cfg = match &s.config {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| Error::Config(format!("cannot read {}: {e}", p.display())))?;
            config::Config::parse(&text)?
        }
        None => config::Config::default(),
    };
    for ic in &s.extra_issuers {
        cfg.add(ic.clone());
    }
    if cfg.issuers.is_empty() && cfg.meta_issuers.is_empty() {
        return Err(Error::Config(
            "no OIDC issuers are configured (give --config)".into(),
        ));
    }
    let ca = ca::Ca::open(&s.data_dir, &s.keys)?;
    Ok(api::Fulcio::new(
        ca,
        oidc::TokenVerifier::with_roots(cfg, &s.oidc_roots)?.with_jwks_ttl(s.jwks_ttl),
    ))
}

/// Serves the CA on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    f: Arc<api::Fulcio>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_on(listener, f, None, shutdown).await
}

/// [`serve`], over HTTPS when `tls` is given.
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    f: Arc<api::Fulcio>,
    tls: Option<sigstore_lite_server::tls::Config>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    sigstore_lite_server::tls::serve_maybe(listener, api::app(f), tls, shutdown).await
}
