use anyhow::Context;
use clap::Parser;
use tsa_lite::cli::{Cli, Cmd};

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        sigstore_lite_server::fail("tsa-lite", &format!("{e:#}"));
    }
}

async fn run() -> anyhow::Result<()> {
    let Cmd::Serve {
        addr,
        data_dir,
        key,
        create_key,
        tls,
        log,
    } = Cli::parse().cmd;
    sigstore_lite_server::init_logging(log.log_format);
    let tls_config = tls.load().map_err(anyhow::Error::msg)?;
    let keys = tsa_lite::authority::TsaKeys {
        key,
        create: create_key,
    };
    let t = tsa_lite::open_with(&data_dir, &keys).with_context(|| {
        format!(
            "cannot open the timestamp authority in {}",
            data_dir.display()
        )
    })?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    println!(
        "tsa-lite listening on {}://{}",
        tls.scheme(),
        listener.local_addr()?
    );
    tsa_lite::serve_on(
        listener,
        t,
        tls_config,
        sigstore_lite_server::shutdown_signal(),
    )
    .await?;
    Ok(())
}
