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
        keys: KeyArgs,
        #[command(flatten)]
        tls: sigstore_lite_server::tls::TlsArgs,
        #[command(flatten)]
        log: sigstore_lite_server::LogArgs,
    },
}

/// Where the CA's keys live (default: PEM files in the data directory, made on first start).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct KeyArgs {
    /// The key that signs leaf certificates: a PKCS#8 file, a PKCS#11 URI
    /// (pkcs11:token=T;object=O?module-path=M&pin-value=P) or a KMS plugin's <scheme>://KEY.
    /// Without --ca-cert, its certificate and a root are made on first start and written to
    /// the data directory (the keys are not).
    #[arg(long, value_parser = sigstore_lite_signer::KeyRefParser, value_name = "REF")]
    pub ca_key: Option<sigstore_lite_signer::KeyRef>,
    /// With --ca-key: the key of the root certificate made on first start (default: a root key
    /// made in memory, used once to sign the CA certificate and forgotten).
    #[arg(
        long,
        value_parser = sigstore_lite_signer::KeyRefParser,
        value_name = "REF",
        requires = "ca_key",
        conflicts_with = "ca_cert"
    )]
    pub root_key: Option<sigstore_lite_signer::KeyRef>,
    /// With --ca-key: its existing certificate chain, PEM, issuer first (its certificate, then
    /// the root).
    #[arg(long, value_name = "FILE", requires = "ca_key")]
    pub ca_cert: Option<PathBuf>,
    /// The built-in CT log's key (ECDSA P-256; default <data-dir>/ctlog-key.pem).
    #[arg(long, value_parser = sigstore_lite_signer::KeyRefParser, value_name = "REF")]
    pub ct_key: Option<sigstore_lite_signer::KeyRef>,
    /// Make the keys named in a token or KMS when they are not there yet (non-extractable).
    #[arg(long)]
    pub create_keys: bool,
}

impl KeyArgs {
    pub fn to_keys(&self) -> crate::ca::CaKeys {
        crate::ca::CaKeys {
            ca_key: self.ca_key.clone(),
            root_key: self.root_key.clone(),
            ca_cert: self.ca_cert.clone(),
            ct_key: self.ct_key.clone(),
            create: self.create_keys,
        }
    }
}
