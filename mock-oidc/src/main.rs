use anyhow::Context;
use clap::Parser;
use mock_oidc::cli::{Cli, Cmd};
use serde_json::{json, Map, Value};

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        sigstore_lite_server::fail("mock-oidc", &format!("{e:#}"));
    }
}

async fn run() -> anyhow::Result<()> {
    match Cli::parse().cmd {
        Cmd::Serve {
            addr,
            data_dir,
            issuer_url,
            tls,
            log,
        } => {
            sigstore_lite_server::init_logging(log.log_format);
            let tls_config = tls.load().map_err(anyhow::Error::msg)?;
            if !addr.ip().is_loopback() {
                eprintln!(
                    "mock-oidc: WARNING: listening on {addr}: anyone who can reach it gets a token for any identity, which a CA trusting this issuer will certify; keep it on a trusted network"
                );
            }
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr}"))?;
            let local = listener.local_addr()?;
            let url = issuer_url.unwrap_or_else(|| format!("{}://{local}", tls.scheme()));
            let issuer = mock_oidc::Issuer::new(&url, data_dir.as_deref())
                .context("cannot set up the issuer keys")?;
            println!(
                "mock-oidc listening on {}://{local} as issuer {url}",
                tls.scheme()
            );
            mock_oidc::serve_on(
                listener,
                issuer,
                tls_config,
                sigstore_lite_server::shutdown_signal(),
            )
            .await?;
        }
        Cmd::Token {
            issuer_url,
            sub,
            email,
            github_repo,
            profile,
            aud,
            ttl,
            alg,
            claims,
        } => {
            let mut m = Map::new();
            if let Some(p) = profile {
                m.insert("profile".into(), json!(p));
            }
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
