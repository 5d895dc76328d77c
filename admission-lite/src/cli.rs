//! The command line: `serve` and `manifests`. Errors are one sentence on stderr and exit 1.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};

pub use crate::manifests::ManifestArgs;
pub use crate::material::{load_trust, self_signed, SelfSigned, CA_CERT, TLS_CERT, TLS_KEY};
use crate::policy::PolicySet;
use crate::webhook::Webhook;
use crate::Error;

#[derive(Parser)]
#[command(
    name = "admission-lite",
    version,
    about = "A Kubernetes admission webhook that admits only signed, attested, digest-pinned images"
)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)]
pub enum Cmd {
    /// Serve /validate and /mutate (AdmissionReview v1) over HTTPS.
    Serve(ServeArgs),
    /// Print the webhook registrations, Deployment, Service, Secret and ConfigMap (YAML).
    Manifests(ManifestArgs),
}

#[derive(clap::Args)]
pub struct ServeArgs {
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub addr: SocketAddr,
    /// The serving certificate chain (PEM, leaf first).
    #[arg(long, requires = "tls_key", conflicts_with = "self_signed")]
    pub tls_cert: Option<PathBuf>,
    /// The serving key (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Make (once) and use a CA and serving certificate in DIR: ca.crt is the caBundle.
    #[arg(long, value_name = "DIR")]
    pub self_signed: Option<PathBuf>,
    /// Names the self-signed certificate is for (default: localhost and 127.0.0.1).
    #[arg(long = "san", value_name = "NAME")]
    pub sans: Vec<String>,
    /// A ClusterImagePolicy or Kyverno ClusterPolicy file (YAML or JSON); repeatable.
    #[arg(long = "policy", value_name = "FILE", required = true)]
    pub policies: Vec<PathBuf>,
    /// The trusted_root.json signatures are checked against (Fulcio CA, Rekor, CT log, TSA).
    #[arg(long, value_name = "FILE")]
    pub trusted_root: PathBuf,
    /// Talk plain HTTP to registries that do not offer HTTPS (Kyverno's allowInsecureRegistry).
    #[arg(long)]
    pub allow_insecure_registry: bool,
    /// How long a verdict for an image digest and a policy is reused, in seconds.
    #[arg(long, default_value_t = 300)]
    pub cache_ttl: u64,
    /// Registry request timeout in seconds (below the webhook's timeoutSeconds).
    #[arg(long, default_value_t = 8)]
    pub registry_timeout: u64,
    /// Start even when the policy files hold no image policy, admitting every image. Without
    /// it such a webhook refuses to start: enforcing nothing is a misconfiguration that fails open.
    #[arg(long)]
    pub allow_no_policies: bool,
    #[command(flatten)]
    pub log: sigstore_lite_server::LogArgs,
}

/// Runs the command line; returns the exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Serve(a) => {
            sigstore_lite_server::init_logging(a.log.log_format);
            let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
            rt.block_on(serve(a))
        }
        Cmd::Manifests(a) => crate::manifests::print(&a).map(|yaml| print!("{yaml}")),
    };
    match r {
        Ok(()) => 0,
        Err(e) => {
            eprintln!(
                "admission-lite: {}",
                sigstore_lite_core::text::printable(&e.to_string())
            );
            1
        }
    }
}

async fn serve(a: ServeArgs) -> Result<(), Error> {
    let policies = PolicySet::load(&a.policies, a.allow_no_policies)?;
    let material = load_trust(&a.trusted_root)?;
    let (cert, key) = match (&a.tls_cert, &a.tls_key, &a.self_signed) {
        (Some(c), Some(k), None) => (c.clone(), k.clone()),
        (None, None, Some(dir)) => {
            let sans = if a.sans.is_empty() {
                vec!["localhost".to_string(), "127.0.0.1".to_string()]
            } else {
                a.sans.clone()
            };
            let files = self_signed(dir, &sans)?;
            (files.cert, files.key)
        }
        _ => {
            return Err(Error::Tls(
                "give --tls-cert and --tls-key, or --self-signed DIR".into(),
            ))
        }
    };
    let read = |p: &Path| {
        std::fs::read(p).map_err(|e| Error::Tls(format!("{} cannot be read: {e}", p.display())))
    };
    let tls = sigstore_lite_server::tls::server_config(&read(&cert)?, &read(&key)?)
        .map_err(Error::Tls)?;
    let registry = registry_client::Registry::with_timeout(
        a.allow_insecure_registry,
        Duration::from_secs(a.registry_timeout),
    );
    let n = policies.policies.len();
    let webhook = Arc::new(Webhook::new(
        policies,
        material,
        registry,
        Duration::from_secs(a.cache_ttl),
    ));
    let listener = tokio::net::TcpListener::bind(a.addr)
        .await
        .map_err(|e| Error::Io(format!("cannot listen on {}: {e}", a.addr)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::Io(e.to_string()))?;
    // A closed stdout must not stop a server: the banner is best effort.
    let mut banner = format!("admission-lite: serving https://{addr} (POST /validate, POST /mutate, /healthz, /metrics) with {n} image policies\n");
    if n == 0 {
        banner.push_str("admission-lite: WARNING: no image policy is loaded (--allow-no-policies): every image is admitted\n");
    }
    if let Some(dir) = &a.self_signed {
        banner.push_str(&format!(
            "admission-lite: CA bundle {}\n",
            dir.join(CA_CERT).display()
        ));
    }
    let _ = std::io::Write::write_all(&mut std::io::stdout(), banner.as_bytes());
    sigstore_lite_server::tls::serve_tls(
        listener,
        tls,
        crate::api::router(webhook),
        sigstore_lite_server::shutdown_signal(),
    )
    .await
    .map_err(|e| Error::Io(e.to_string()))
}
