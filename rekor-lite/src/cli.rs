//! The command line, in the library so tests can check that deployment files parse.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "rekor-lite",
    version,
    about = "A durable RFC 6962 transparency log speaking the Rekor v1 API"
)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Serve the log over HTTP.
    Serve {
        #[arg(long, default_value = "127.0.0.1:3000")]
        addr: SocketAddr,
        #[arg(long)]
        data_dir: PathBuf,
        /// PKCS#8 PEM ECDSA P-256 log key (default: <data-dir>/rekor-key.pem, created if missing).
        #[arg(long)]
        key: Option<PathBuf>,
        /// Checkpoint origin host name (default: the host part of --addr).
        #[arg(long)]
        origin: Option<String>,
    },
}
