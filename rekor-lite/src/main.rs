use anyhow::Context;
use clap::Parser;
use rekor_lite::cli::{Cli, Cmd};
use sigstore_lite_core::text::printable;

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        sigstore_lite_server::fail("rekor-lite", &format!("{e:#}"));
    }
}

async fn run() -> anyhow::Result<()> {
    sigstore_lite_server::init_tracing();
    let Cmd::Serve {
        addr,
        data_dir,
        key,
        origin,
        api_version,
        tls,
    } = Cli::parse().cmd;
    let tls_config = match tls.load() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("rekor-lite: {}", printable(&e.to_string()));
            std::process::exit(1);
        }
    };
    let cfg = rekor_lite::Config {
        data_dir,
        key,
        origin: origin.unwrap_or_else(|| addr.ip().to_string()),
        api_version,
    };
    let log = match rekor_lite::open(&cfg) {
        Ok(l) => l,
        Err(e) => {
            // One sentence (a forked or lost store must stop the log, loudly and clearly).
            eprintln!(
                "rekor-lite: cannot open the log in {}: {}",
                printable(&cfg.data_dir.display().to_string()),
                printable(&e.to_string())
            );
            std::process::exit(1);
        }
    };
    // A failed commit may leave the store needing a reopen: exit, so that a supervisor
    // restarts the log (which then checks the store against its recorded size).
    let watched = log.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            if !watched.is_healthy() {
                eprintln!("rekor-lite: a commit failed; exiting so that the log is restarted on a reopened store");
                std::process::exit(70);
            }
        }
    });
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    // One plain line on stdout for scripts and tests (the address is useful with port 0).
    println!("rekor-lite listening on {}://{local}", tls.scheme());
    tracing::info!(addr = %local, origin = log.origin(), log_id = log.log_id_hex(), "rekor-lite serving");
    rekor_lite::serve_on(
        listener,
        log,
        tls_config,
        sigstore_lite_server::shutdown_signal(),
    )
    .await?;
    Ok(())
}
