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
        /// The timestamping key (ECDSA P-256): a PKCS#8 file, a PKCS#11 URI
        /// (pkcs11:token=T;object=O?module-path=M&pin-value=P) or a KMS plugin's <scheme>://KEY
        /// (default: <data-dir>/tsa-leaf-key.pem). Its certificate is made on first start.
        #[arg(long, value_parser = sigstore_lite_signer::KeyRefParser, value_name = "REF")]
        key: Option<sigstore_lite_signer::KeyRef>,
        /// Make the key in its token or KMS if it is not there yet (non-extractable).
        #[arg(long, requires = "key")]
        create_key: bool,
        #[command(flatten)]
        tls: sigstore_lite_server::tls::TlsArgs,
        #[command(flatten)]
        log: sigstore_lite_server::LogArgs,
    },
}
