use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "fulcio-lite",
    version,
    about = "A Fulcio-compatible CA issuing 10-minute certificates for OIDC identities"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve the CA over HTTP.
    Serve {
        #[arg(long, default_value = "127.0.0.1:5555")]
        addr: SocketAddr,
        #[arg(long)]
        data_dir: PathBuf,
        /// Fulcio issuer config (JSON `{"OIDCIssuers": ...}` or YAML `oidc-issuers:`).
        #[arg(long)]
        config: PathBuf,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let Cmd::Serve {
        addr,
        data_dir,
        config,
    } = Cli::parse().cmd;
    let settings = fulcio_lite::Settings {
        data_dir,
        config: Some(config),
        extra_issuers: Vec::new(),
        jwks_ttl: fulcio_lite::oidc::DEFAULT_JWKS_TTL,
    };
    let f = fulcio_lite::open(&settings).context("cannot start the CA")?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    println!("fulcio-lite listening on http://{}", listener.local_addr()?);
    fulcio_lite::serve(listener, f, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
