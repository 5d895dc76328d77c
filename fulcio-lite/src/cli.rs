//! The command line, in the library so tests can check that deployment files parse.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "fulcio-lite",
    version,
    about = "A Fulcio-compatible CA issuing 10-minute certificates for OIDC identities"
)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Serve the CA over HTTP.
    Serve {
        #[arg(long, default_value = "127.0.0.1:5555")]
        addr: SocketAddr,
        #[arg(long)]
        data_dir: PathBuf,
        /// Fulcio issuer config (JSON `{"OIDCIssuers": ...}` or YAML `oidc-issuers:`).
        #[arg(long)]
        config: PathBuf,
        #[command(flatten)]
        tls: sigstore_lite_server::tls::TlsArgs,
        #[command(flatten)]
        log: sigstore_lite_server::LogArgs,
    },
}
