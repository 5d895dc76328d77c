use anyhow::Context;
use clap::Parser;
use rekor_lite::cli::{Cli, Cmd};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    sigstore_lite_server::init_tracing();
    let Cmd::Serve {
        addr,
        data_dir,
        key,
        origin,
        api_version,
    } = Cli::parse().cmd;
    let cfg = rekor_lite::Config {
        data_dir,
        key,
        origin: origin.unwrap_or_else(|| addr.ip().to_string()),
        api_version,
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
    rekor_lite::serve(listener, log, sigstore_lite_server::shutdown_signal()).await?;
    Ok(())
}
