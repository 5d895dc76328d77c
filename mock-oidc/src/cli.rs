//! The command line, in the library so tests can check that deployment files parse.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "mock-oidc",
    version,
    about = "An OpenID Connect issuer for tests and demos (it authenticates nobody)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Serve discovery, JWKS and token minting.
    Serve {
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
        /// Persist keys here (default: fresh keys every start).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// The issuer URL clients see (default: http://<addr>).
        #[arg(long)]
        issuer_url: Option<String>,
        #[command(flatten)]
        tls: sigstore_lite_server::tls::TlsArgs,
        #[command(flatten)]
        log: sigstore_lite_server::LogArgs,
    },
    /// Print a token from a running issuer.
    Token {
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        issuer_url: String,
        #[arg(long)]
        sub: Option<String>,
        /// An e-mail identity (sets email and email_verified=true).
        #[arg(long)]
        email: Option<String>,
        /// A GitHub-Actions-like workflow identity for OWNER/REPO.
        #[arg(long, value_name = "OWNER/REPO")]
        github_repo: Option<String>,
        /// A CI's documented claim set: github, gitlab, buildkite, codefresh, circleci or
        /// kubernetes (a projected service-account token); --claim replaces any of its values.
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(crate::PROFILES))]
        profile: Option<String>,
        /// Audience (default sigstore).
        #[arg(long)]
        aud: Option<String>,
        /// Lifetime in seconds.
        #[arg(long)]
        ttl: Option<i64>,
        /// RS256 (default) or ES256.
        #[arg(long)]
        alg: Option<String>,
        /// Any extra claim, KEY=VALUE (VALUE parsed as JSON when it is JSON).
        #[arg(long = "claim", value_name = "KEY=VALUE")]
        claims: Vec<String>,
    },
}
