use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use serde_json::{json, Map, Value};

#[derive(Parser)]
#[command(
    name = "mock-oidc",
    version,
    about = "An OpenID Connect issuer for tests and demos (it authenticates nobody)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    match Cli::parse().cmd {
        Cmd::Serve {
            addr,
            data_dir,
            issuer_url,
        } => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr}"))?;
            let local = listener.local_addr()?;
            let url = issuer_url.unwrap_or_else(|| format!("http://{local}"));
            let issuer = mock_oidc::Issuer::new(&url, data_dir.as_deref())
                .context("cannot set up the issuer keys")?;
            println!("mock-oidc listening on http://{local} as issuer {url}");
            mock_oidc::serve(listener, issuer, async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
        }
        Cmd::Token {
            issuer_url,
            sub,
            email,
            github_repo,
            aud,
            ttl,
            alg,
            claims,
        } => {
            let mut m = Map::new();
            if let Some(repo) = github_repo {
                m.insert("preset".into(), json!("github"));
                m.insert("repository".into(), json!(repo));
            }
            if let Some(e) = email {
                m.extend(mock_oidc::email_claims(&e));
            }
            if let Some(s) = sub {
                m.insert("sub".into(), json!(s));
            }
            if let Some(a) = aud {
                m.insert("aud".into(), json!(a));
            }
            if let Some(t) = ttl {
                m.insert("ttl".into(), json!(t));
            }
            if let Some(a) = alg {
                m.insert("alg".into(), json!(a));
            }
            for c in claims {
                let (k, v) = c
                    .split_once('=')
                    .with_context(|| format!("--claim {c:?} is not KEY=VALUE"))?;
                let v = serde_json::from_str::<Value>(v).unwrap_or_else(|_| json!(v));
                m.insert(k.to_string(), v);
            }
            let token = mock_oidc::fetch_token(&issuer_url, &m)
                .await
                .with_context(|| format!("cannot get a token from {issuer_url}"))?;
            println!("{token}");
        }
    }
    Ok(())
}
