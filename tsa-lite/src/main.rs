use anyhow::Context;
use clap::Parser;
use tsa_lite::cli::{Cli, Cmd};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    sigstore_lite_server::init_tracing();
    let Cmd::Serve { addr, data_dir } = Cli::parse().cmd;
    let t = tsa_lite::open(&data_dir).with_context(|| {
        format!(
            "cannot open the timestamp authority in {}",
            data_dir.display()
        )
    })?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    println!("tsa-lite listening on http://{}", listener.local_addr()?);
    tsa_lite::serve(listener, t, sigstore_lite_server::shutdown_signal()).await?;
    Ok(())
}
