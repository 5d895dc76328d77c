//! The launcher's command line (in the library so tests can check deployment files against it).

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "sigstore-lite",
    version,
    about = "Keyless signing infrastructure in miniature: the whole stack in one command"
)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Start mock-oidc, fulcio-lite and rekor-lite, write the trust files, and serve until Ctrl-C.
    Up {
        #[arg(long, default_value = "./sigstore-lite-data")]
        data_dir: PathBuf,
        #[arg(long, default_value = "127.0.0.1")]
        host: IpAddr,
        #[arg(long, default_value_t = 5555)]
        fulcio_port: u16,
        #[arg(long, default_value_t = 3000)]
        rekor_port: u16,
        #[arg(long, default_value_t = 8080)]
        oidc_port: u16,
        /// Also trust a real OIDC issuer: URL, or URL=TYPE (email, github-workflow, ci-provider).
        #[arg(long = "issuer", value_name = "URL[=TYPE]")]
        issuers: Vec<String>,
        /// Host name clients use in URLs (default: --host).
        #[arg(long)]
        public_host: Option<String>,
    },
    /// Write trusted_root.json, signing_config.json and trust_config.json for services that run
    /// separately (docker-compose), fetching their keys over HTTP.
    TrustFiles {
        #[arg(long, default_value = "http://localhost:8080")]
        oidc_url: String,
        #[arg(long, default_value = "http://localhost:5555")]
        fulcio_url: String,
        #[arg(long, default_value = "http://localhost:3000")]
        rekor_url: String,
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
}
