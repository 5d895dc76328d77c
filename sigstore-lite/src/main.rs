use clap::Parser;
use sigstore_lite::cli::{Cli, Cmd};

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    sigstore_lite_server::init_logging(match &cli.cmd {
        Cmd::Up(args) => args.log.log_format,
        _ => Default::default(),
    });
    let (opts, fixture) = match cli.cmd {
        Cmd::Up(args) => {
            let fixture = Fixture {
                ephemeral: args.ephemeral,
                ready_file: args.ready_file.clone(),
                print_env: args.print_env,
                github_output: args.github_output.clone(),
                exit_with_parent: args.exit_with_parent,
            };
            let mut opts = sigstore_lite::Options::from(args);
            if fixture.ephemeral {
                let mut b = [0u8; 6];
                sigstore_lite_core::keys::random_bytes(&mut b);
                opts.data_dir = std::env::temp_dir().join(format!(
                    "sigstore-lite-{}-{}",
                    std::process::id(),
                    hex::encode(b)
                ));
                opts.fulcio_port = 0;
                opts.rekor_port = 0;
                opts.rekor_v2_port = 0;
                opts.tsa_port = 0;
                opts.explorer_port = 0;
                opts.tuf_port = 0;
                opts.oidc_port = 0;
            }
            (opts, fixture)
        }
        Cmd::TrustFiles {
            oidc_url,
            fulcio_url,
            rekor_url,
            rekor_v2_url,
            tsa_url,
            rekor_api,
            out,
        } => {
            let urls = sigstore_lite::ServiceUrls {
                oidc: oidc_url,
                fulcio: fulcio_url,
                rekor: rekor_url,
                rekor_v2: rekor_v2_url,
                tsa: tsa_url,
                rekor_api,
            };
            let r = async {
                let t = sigstore_lite::fetch_trust_inputs(&urls).await?;
                sigstore_lite::write_trust_files(&out, &t)
            };
            if let Err(e) = r.await {
                sigstore_lite_server::fail("sigstore-lite", &e.to_string());
            }
            println!(
                "wrote {}, {} and {} into {}",
                sigstore_lite::TRUSTED_ROOT,
                sigstore_lite::SIGNING_CONFIG,
                sigstore_lite::TRUST_CONFIG,
                out.display()
            );
            return;
        }
        Cmd::Explore {
            addr,
            rekor,
            rekor_v2,
        } => {
            if rekor.is_none() && rekor_v2.is_none() {
                eprintln!("sigstore-lite: give --rekor URL and/or --rekor-v2 URL");
                std::process::exit(1);
            }
            let listener = match tokio::net::TcpListener::bind(addr).await {
                Ok(l) => l,
                Err(e) => {
                    sigstore_lite_server::fail(
                        "sigstore-lite",
                        &format!("cannot listen on {addr}: {e}"),
                    );
                }
            };
            println!(
                "the log explorer is at http://{}",
                listener
                    .local_addr()
                    .map(|a| a.to_string())
                    .unwrap_or_default()
            );
            let src = sigstore_lite::explorer::Source {
                rekor_v1: rekor,
                rekor_v2,
                extra_root: None,
            };
            if let Err(e) = sigstore_lite::explorer::serve(
                listener,
                src,
                sigstore_lite_server::shutdown_signal(),
            )
            .await
            {
                sigstore_lite_server::fail("sigstore-lite", &e.to_string());
            }
            return;
        }
        Cmd::Witness(w) => {
            witness(w).await;
            return;
        }
        Cmd::Completions { shell, out } => {
            match sigstore_lite::manuals::write_completions(shell, &out) {
                Ok(files) => println!(
                    "wrote {} completion scripts into {}",
                    files.len(),
                    out.display()
                ),
                Err(e) => sigstore_lite_server::fail(
                    "sigstore-lite completions",
                    &format!("cannot write into {}: {e}", out.display()),
                ),
            }
            return;
        }
        Cmd::Man { out } => {
            match sigstore_lite::manuals::write_man_pages(&out) {
                Ok(files) => println!("wrote {} man pages into {}", files.len(), out.display()),
                Err(e) => sigstore_lite_server::fail(
                    "sigstore-lite man",
                    &format!("cannot write into {}: {e}", out.display()),
                ),
            }
            return;
        }
        Cmd::Tuf(cmd) => {
            if let Err(e) = sigstore_lite_tuf::cli::run(cmd).await {
                sigstore_lite_server::fail("sigstore-lite tuf", &e.to_string());
            }
            return;
        }
        Cmd::Tour(args) => {
            if let Err(e) = sigstore_lite::tour::run(&args).await {
                eprintln!(
                    "\nsigstore-lite tour: {}",
                    sigstore_lite_core::text::printable(&e.to_string())
                );
                std::process::exit(1);
            }
            return;
        }
    };
    if !opts.host.is_loopback() {
        eprintln!(
            "sigstore-lite: WARNING: listening on {} exposes the mock OIDC issuer, which mints a token for any identity to anyone who can reach it; use a trusted network, or --host 127.0.0.1",
            opts.host
        );
    }
    let stack = match sigstore_lite::Stack::start(&opts).await {
        Ok(s) => s,
        Err(e) => {
            sigstore_lite_server::fail("sigstore-lite", &e.to_string());
        }
    };
    if let Err(e) = fixture.announce(&stack) {
        stack.stop().await;
        fixture.clean_up(&opts.data_dir);
        sigstore_lite_server::fail("sigstore-lite", &e.to_string());
    }
    if fixture.quiet() {
        fixture.wait().await;
        eprintln!("sigstore-lite: stopping");
        stack.stop().await;
        fixture.clean_up(&opts.data_dir);
        return;
    }
    let dir = stack.data_dir.display();
    let email = "you@example.com";
    // A service left out (--no-fulcio, ...) has no URL.
    let shown = |u: &str| {
        if u.is_empty() {
            "(left out)".to_string()
        } else {
            u.to_string()
        }
    };
    let signs_through = if opts.rekor_api == 1 {
        "clients sign through Rekor v1"
    } else {
        "clients sign through Rekor v2 + the TSA"
    };
    println!(
        "sigstore-lite is up (data in {dir}; Ctrl-C stops it)

  mock OIDC issuer  {oidc}   (issues any identity: for tests and demos only)
  fulcio-lite (CA)  {fulcio}
  rekor-lite v1     {rekor}
  rekor-lite v2     {rekor_v2}   (C2SP checkpoint and tiles; {signs_through})
  tsa-lite (TSA)    {tsa}/api/v1/timestamp   (RFC 3161)
  log explorer      {explorer}   (search the logs, see entries, certificates and proofs)
  trust files       {dir}/{tr}, {dir}/{sc}, {dir}/{tc}{tls}
  TUF repository    {tuf}   (trusted_root.json and signing_config.v0.2.json; clients start from {tuf_root})
  health, metrics   <url>/healthz, <url>/metrics{extra}

Next:
  # the whole loop, step by step (add --image REGISTRY/REPO:TAG for the image steps)
  cargo run --release -q -p sigstore-lite -- tour --data-dir {dir}

  # a token for an e-mail identity
  TOKEN=$(cargo run --release -q -p mock-oidc -- token --issuer-url {oidc} --email {email})
  # or: curl -s -X POST {oidc}/token -H 'content-type: application/json' -d '{{\"preset\":\"email\",\"email\":\"{email}\"}}'

  # sign and verify a file with cosign-keyless
  echo hello > artifact.txt
  cargo run --release -q -p cosign-keyless -- sign-blob artifact.txt --bundle artifact.cosign.json \\
      --identity-token \"$TOKEN\" --trust-config {dir}/{tc}
  cargo run --release -q -p cosign-keyless -- verify-blob artifact.txt --bundle artifact.cosign.json \\
      --trust-config {dir}/{tc} --certificate-identity {email} --certificate-oidc-issuer {oidc}

  # sign and verify an image (any registry; loopback ones are plain HTTP)
  cargo run --release -q -p cosign-keyless -- sign 127.0.0.1:5000/demo/hello:v1 --identity-token \"$TOKEN\" --trust-config {dir}/{tc}
  cargo run --release -q -p cosign-keyless -- verify 127.0.0.1:5000/demo/hello:v1 --trust-config {dir}/{tc} \\
      --certificate-identity {email} --certificate-oidc-issuer {oidc}

  # admit into a cluster only images {email} signed: the admission webhook (README: admission-lite)
  cargo run --release -q -p admission-lite -- serve --self-signed webhook-tls --policy policy.yaml \\
      --trusted-root {dir}/{tr} --allow-insecure-registry

  # the same file with sigstore-python 4.5.1 (pip install sigstore==4.5.1)
  sigstore --trust-config {dir}/{tc} sign --identity-token \"$TOKEN\" --bundle artifact.sigstore.json artifact.txt
  sigstore --trust-config {dir}/{tc} verify identity --bundle artifact.sigstore.json \\
      --cert-identity {email} --cert-oidc-issuer {oidc} artifact.txt

  # or let clients fetch the trust root through TUF (and follow its rotations):
  cosign initialize --mirror {tuf} --root {tuf_root}
  sigstore --instance {tuf} trust-instance {tuf_root}   # once; then: sigstore --instance {tuf} sign|verify ...
  # sigstore-js: sigstore.verify(bundle, data, {{ tufMirrorURL: '{tuf}', tufRootPath: '{tuf_root}' }})
",
        oidc = stack.oidc_url,
        fulcio = shown(&stack.fulcio_url),
        rekor = shown(&stack.rekor_url),
        rekor_v2 = shown(&stack.rekor_v2_url),
        tsa = shown(&stack.tsa_url),
        explorer = stack.explorer_url,
        tuf = stack.tuf_url,
        tuf_root = stack.tuf_root_path().display(),
        tls = match &stack.ca_path {
            Some(ca) => format!("\n  HTTPS             local CA {ca}: export SSL_CERT_FILE={ca} (cosign-keyless and other rustls/OpenSSL clients), REQUESTS_CA_BUNDLE={ca} (sigstore-python)", ca = ca.display()),
            None => String::new(),
        },
        tr = sigstore_lite::TRUSTED_ROOT,
        sc = sigstore_lite::SIGNING_CONFIG,
        tc = sigstore_lite::TRUST_CONFIG,
        extra = if stack.extra_issuers.is_empty() { String::new() } else { format!("\n  extra issuers     {}", stack.extra_issuers.join(", ")) },
    );
    fixture.wait().await;
    eprintln!("sigstore-lite: stopping");
    stack.stop().await;
    fixture.clean_up(&opts.data_dir);
}

/// What `up` does for a test fixture: an ephemeral data directory, the ready file and the
/// environment outputs, stopping with its parent.
struct Fixture {
    ephemeral: bool,
    ready_file: Option<std::path::PathBuf>,
    print_env: bool,
    github_output: Option<std::path::PathBuf>,
    exit_with_parent: bool,
}

impl Fixture {
    /// A fixture prints no banner: its values go where it was asked to put them.
    fn quiet(&self) -> bool {
        self.ephemeral
            || self.ready_file.is_some()
            || self.print_env
            || self.github_output.is_some()
    }

    /// Mints a token into the data directory, then writes the ready file and the outputs.
    fn announce(&self, stack: &sigstore_lite::Stack) -> std::io::Result<()> {
        if !self.quiet() {
            return Ok(());
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let token = stack
            .issuer
            .mint(
                mock_oidc::email_claims("you@example.com"),
                mock_oidc::Alg::RS256,
                now,
            )
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let token_file = stack.data_dir.join("oidc-token");
        let _ = std::fs::remove_file(&token_file);
        sigstore_lite_server::write_private(&token_file, token.as_bytes())?;
        let values = sigstore_lite::ready_values(stack, &token_file);
        if let Some(out) = &self.github_output {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(out)?;
            for (k, v) in &values {
                writeln!(f, "{k}={v}")?;
            }
        }
        if self.print_env {
            for (k, v) in &values {
                let name = format!("SIGSTORE_LITE_{}", k.to_ascii_uppercase().replace('-', "_"));
                println!("export {name}='{}'", v.replace('\'', "'\\''"));
            }
        }
        if let Some(path) = &self.ready_file {
            let map: serde_json::Map<String, serde_json::Value> = values
                .into_iter()
                .map(|(k, v)| (k.to_string(), serde_json::Value::String(v)))
                .collect();
            sigstore_lite::write_atomically(path, &serde_json::to_vec_pretty(&map).expect("JSON"))?;
        }
        Ok(())
    }

    /// Until Ctrl-C, SIGTERM or (with --exit-with-parent) the parent's exit.
    async fn wait(&self) {
        if !self.exit_with_parent {
            return sigstore_lite_server::shutdown_signal().await;
        }
        let parent = std::os::unix::process::parent_id();
        let orphaned = async move {
            while std::os::unix::process::parent_id() == parent {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        };
        tokio::select! {
            _ = sigstore_lite_server::shutdown_signal() => {}
            _ = orphaned => {}
        }
    }

    /// Removes what a fixture made: the ephemeral data directory and the ready file.
    fn clean_up(&self, data_dir: &std::path::Path) {
        if self.ephemeral {
            let _ = std::fs::remove_dir_all(data_dir);
        }
        if let Some(p) = &self.ready_file {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// `sigstore-lite witness serve|vkey`.
async fn witness(cmd: sigstore_lite::cli::WitnessCmd) {
    use sigstore_lite::cli::WitnessCmd;
    let fail = |e: &dyn std::fmt::Display| -> ! {
        sigstore_lite_server::fail("sigstore-lite witness", &e.to_string())
    };
    match cmd {
        WitnessCmd::Vkey { state_dir } => match sigstore_lite_witness::Witness::vkey_in(&state_dir)
        {
            Ok(v) => println!("{v}"),
            Err(e) => fail(&e),
        },
        WitnessCmd::Serve {
            addr,
            state_dir,
            name,
            logs,
        } => {
            let w = match sigstore_lite_witness::Witness::open(&state_dir, &name, &logs) {
                Ok(w) => std::sync::Arc::new(w),
                Err(e) => fail(&e),
            };
            let listener = match tokio::net::TcpListener::bind(addr).await {
                Ok(l) => l,
                Err(e) => fail(&format!("cannot listen on {addr}: {e}")),
            };
            println!(
                "sigstore-lite witness listening on http://{} as {}",
                listener
                    .local_addr()
                    .map(|a| a.to_string())
                    .unwrap_or_default(),
                w.vkey()
            );
            if let Err(e) =
                sigstore_lite_witness::serve(listener, w, sigstore_lite_server::shutdown_signal())
                    .await
            {
                fail(&e);
            }
        }
    }
}
