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
    let cmd = Cli::parse().cmd;
    sigstore_lite_server::init_logging(match &cmd {
        Cmd::Serve { log, .. } => log.log_format,
        Cmd::Migrate { .. } => Default::default(),
    });
    match cmd {
        Cmd::Migrate { store } => {
            let v = rekor_lite::pgstore::migrate(&store).map_err(|e| anyhow::anyhow!(e.0))?;
            println!("rekor-lite: schema version {v} ready");
            Ok(())
        }
        serve => serve_log(serve).await,
    }
}

async fn serve_log(cmd: Cmd) -> anyhow::Result<()> {
    let Cmd::Serve {
        addr,
        data_dir,
        store,
        advertise,
        read_only,
        store_password_file: password_file,
        store_ca,
        schema,
        key,
        create_key,
        origin,
        api_version,
        tls,
        log: _,
    } = cmd
    else {
        unreachable!("run() handles the other commands")
    };
    let tls_config = match tls.load() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("rekor-lite: {}", printable(&e.to_string()));
            std::process::exit(1);
        }
    };
    // Listen first: a log shared through PostgreSQL advertises the address it got.
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    let where_ = match (&store, &data_dir) {
        (Some(_), _) => "the database".to_string(),
        (None, Some(d)) => d.display().to_string(),
        (None, None) => unreachable!("clap requires --data-dir or --store"),
    };
    let store_password = match &password_file {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .with_context(|| format!("cannot read the database password in {}", p.display()))?
                .trim_end_matches(['\r', '\n'])
                .to_string(),
        ),
        None => None,
    };
    let cfg = rekor_lite::Config {
        data_dir: data_dir.unwrap_or_default(),
        key,
        create_key,
        origin: origin.unwrap_or_else(|| addr.ip().to_string()),
        api_version,
        read_only,
        store_password,
        store_ca,
        schema,
        advertise: store
            .as_ref()
            .map(|_| advertise.unwrap_or_else(|| format!("{}://{local}", tls.scheme()))),
        store,
    };
    let log = match rekor_lite::open(&cfg) {
        Ok(l) => l,
        Err(e) => {
            // One sentence (a forked or lost store must stop the log, loudly and clearly).
            eprintln!(
                "rekor-lite: cannot open the log in {}: {}",
                printable(&where_),
                printable(&e.to_string())
            );
            std::process::exit(1);
        }
    };
    // A failed commit may leave the embedded store needing a reopen: exit, so that a supervisor
    // restarts the log (which then checks the store against its recorded size). A log in
    // PostgreSQL reconnects by itself instead.
    let watched = log.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            if watched.commit_failed() {
                eprintln!("rekor-lite: a commit failed; exiting so that the log is restarted on a reopened store");
                std::process::exit(70);
            }
        }
    });
    // One plain line on stdout for scripts and tests (the address is useful with port 0).
    println!("rekor-lite listening on {}://{local}", tls.scheme());
    tracing::info!(addr = %local, origin = log.origin(), log_id = log.log_id_hex(), "rekor-lite serving");
    rekor_lite::serve_on(
        listener,
        log.clone(),
        tls_config,
        sigstore_lite_server::shutdown_signal(),
    )
    .await?;
    log.release();
    Ok(())
}
