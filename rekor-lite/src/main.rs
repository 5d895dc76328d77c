use anyhow::Context;
use clap::Parser;
use rekor_lite::cli::{Cli, Cmd};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let Cmd::Serve {
        addr,
        data_dir,
        key,
        origin,
    } = Cli::parse().cmd;
    let cfg = rekor_lite::Config {
        data_dir,
        key,
        origin: origin.unwrap_or_else(|| addr.ip().to_string()),
    };
    let log = rekor_lite::open(&cfg)
        .with_context(|| format!("cannot open the log in {}", cfg.data_dir.display()))?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    // One plain line on stdout for scripts and tests (the address is useful with port 0).
    println!("rekor-lite listening on http://{local}");
    tracing::info!(addr = %local, origin = log.origin(), log_id = log.log_id_hex(), "rekor-lite serving");
    rekor_lite::serve(listener, log, shutdown_signal()).await?;
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
