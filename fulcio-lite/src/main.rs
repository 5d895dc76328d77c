use anyhow::Context;
use clap::Parser;
use fulcio_lite::cli::{Cli, Cmd};

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        sigstore_lite_server::fail("fulcio-lite", &format!("{e:#}"));
    }
}

async fn run() -> anyhow::Result<()> {
    let Cmd::Serve {
        addr,
        data_dir,
        config,
        keys,
        tls,
        log,
    } = Cli::parse().cmd;
    sigstore_lite_server::init_logging(log.log_format);
    let tls_config = tls.load().map_err(anyhow::Error::msg)?;
    let settings = fulcio_lite::Settings {
        data_dir,
        config: Some(config),
        extra_issuers: Vec::new(),
        jwks_ttl: fulcio_lite::oidc::DEFAULT_JWKS_TTL,
        oidc_roots: Vec::new(),
        keys: keys.to_keys(),
    };
    let f = fulcio_lite::open(&settings).context("cannot start the CA")?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    println!(
        "fulcio-lite listening on {}://{}",
        tls.scheme(),
        listener.local_addr()?
    );
    fulcio_lite::serve_on(
        listener,
        f,
        tls_config,
        sigstore_lite_server::shutdown_signal(),
    )
    .await?;
    Ok(())
}
