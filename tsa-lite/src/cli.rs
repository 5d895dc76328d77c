//! The command line, in the library so tests can check that deployment files parse.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "tsa-lite",
    version,
    about = "An RFC 3161 timestamp authority compatible with sigstore/timestamp-authority"
)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Serve timestamps over HTTP.
    Serve {
        #[arg(long, default_value = "127.0.0.1:3002")]
        addr: SocketAddr,
        /// Where the root and TSA certificates and keys live (created on first start).
        #[arg(long)]
        data_dir: PathBuf,
        #[command(flatten)]
        tls: sigstore_lite_server::tls::TlsArgs,
        #[command(flatten)]
        log: sigstore_lite_server::LogArgs,
    },
}
