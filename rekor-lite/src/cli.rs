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
#[allow(clippy::large_enum_variant)] // parsed once at start
pub enum Cmd {
    /// Serve the log over HTTP.
    Serve {
        #[arg(long, default_value = "127.0.0.1:3000")]
        addr: SocketAddr,
        /// Where the embedded (redb) store, key and tree ID live; not used with --store.
        #[arg(long, required_unless_present = "store", conflicts_with = "store")]
        data_dir: Option<PathBuf>,
        /// Keep the log in PostgreSQL: postgres://USER@HOST:PORT[,HOST:PORT...]/DB[?target_session_attrs=read-write]
        /// (one log per database). Several processes may serve it; one integrates at a time.
        #[arg(long, value_name = "URL", requires = "key")]
        store: Option<String>,
        /// With --store: the URL the log's other processes forward writes to while this one
        /// integrates (default: http(s)://<the address this process listens on>).
        #[arg(long, value_name = "URL", requires = "store")]
        advertise: Option<String>,
        /// With --store: the database password, read from this file (a mounted Secret) rather
        /// than written into the connection string.
        #[arg(long, value_name = "FILE", requires = "store")]
        store_password_file: Option<PathBuf>,
        /// With --store: the CA certificates (PEM) the database's TLS certificate must chain to
        /// (default: the system's). Ask for TLS with sslmode=require in the URL.
        #[arg(long, value_name = "FILE", requires = "store")]
        store_ca: Option<PathBuf>,
        /// With --store: the PostgreSQL schema the log lives in, created if missing (default:
        /// the connection's search_path; one log per database or per schema).
        #[arg(long, value_name = "NAME", requires = "store")]
        schema: Option<String>,
        /// With --store: serve reads only (a read replica; SELECT rights suffice). Writes get 405.
        #[arg(long, requires = "store")]
        read_only: bool,
        /// The log key (v1: ECDSA P-256, v2: Ed25519): a PKCS#8 PEM file (default
        /// <data-dir>/rekor-key.pem or rekor-v2-key.pem, made if missing), a PKCS#11 URI
        /// (pkcs11:token=T;object=O?module-path=M&pin-value=P) or a KMS plugin's <scheme>://KEY.
        #[arg(long, value_parser = sigstore_lite_signer::KeyRefParser, value_name = "REF")]
        key: Option<sigstore_lite_signer::KeyRef>,
        /// Make the key in its token or KMS if it is not there yet (non-extractable).
        #[arg(long, requires = "key")]
        create_key: bool,
        /// Checkpoint origin host name (default: the host part of --addr).
        #[arg(long)]
        origin: Option<String>,
        /// 1: the Rekor v1 API; 2: Rekor v2 (rekor-tiles: POST /api/v2/log/entries and the C2SP
        /// tlog-tiles read API).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=2))]
        api_version: u8,
        #[command(flatten)]
        tls: sigstore_lite_server::tls::TlsArgs,
        #[command(flatten)]
        log: sigstore_lite_server::LogArgs,
    },
    /// Create or upgrade the schema of a log kept in PostgreSQL (also done on first start).
    Migrate {
        #[arg(long, value_name = "URL")]
        store: String,
    },
}
