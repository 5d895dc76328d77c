use anyhow::Context;
use clap::Parser;
use fulcio_lite::cli::{Cli, Cmd};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let Cmd::Serve {
        addr,
        data_dir,
        config,
    } = Cli::parse().cmd;
    let settings = fulcio_lite::Settings {
        data_dir,
        config: Some(config),
        extra_issuers: Vec::new(),
        jwks_ttl: fulcio_lite::oidc::DEFAULT_JWKS_TTL,
    };
    let f = fulcio_lite::open(&settings).context("cannot start the CA")?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    println!("fulcio-lite listening on http://{}", listener.local_addr()?);
    fulcio_lite::serve(listener, f, shutdown_signal()).await?;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM (what `docker stop` sends).
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
