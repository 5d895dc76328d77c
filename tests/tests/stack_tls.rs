//! `sigstore-lite up --tls`: every service over HTTPS with a local CA, and real clients that
//! trust it the documented way: cosign-keyless through SSL_CERT_FILE, sigstore-python 4.5.1
//! through REQUESTS_CA_BUNDLE. Without the CA, the same client fails (the TLS is real).

use std::path::Path;
use std::process::{Command, Output};

fn root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stack_over_https_with_a_local_ca() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = sigstore_lite::Options::loopback(&dir.path().join("stack"));
    opts.tls = true;
    let stack = sigstore_lite::Stack::start(&opts).await.unwrap();
    for u in [
        &stack.oidc_url,
        &stack.fulcio_url,
        &stack.rekor_url,
        &stack.rekor_v2_url,
        &stack.tsa_url,
        &stack.explorer_url,
    ] {
        assert!(u.starts_with("https://127.0.0.1:"), "{u}");
    }
    let ca = stack.ca_path.clone().expect("a local CA");
    let sc = std::fs::read_to_string(stack.signing_config_path()).unwrap();
    assert!(
        sc.contains(&stack.fulcio_url) && !sc.contains("\"http://"),
        "{sc}"
    );

    // Every service answers over HTTPS to a client that trusts the CA, and only to it.
    let trusting = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(&ca).unwrap()).unwrap())
        .build()
        .unwrap();
    for u in [
        &stack.oidc_url,
        &stack.fulcio_url,
        &stack.rekor_url,
        &stack.rekor_v2_url,
        &stack.tsa_url,
        &stack.explorer_url,
    ] {
        let r = trusting.get(format!("{u}/healthz")).send().await.unwrap();
        assert!(r.status().is_success(), "{u}");
        assert!(
            reqwest::get(format!("{u}/healthz")).await.is_err(),
            "{u} is trusted without the CA"
        );
    }

    // A token (fulcio-lite fetches the issuer's keys over HTTPS, trusting the CA).
    let mut claims = mock_oidc::email_claims("alice@example.com");
    claims.insert("ttl".into(), serde_json::json!(300));
    let token = stack
        .issuer
        .mint(
            claims,
            mock_oidc::Alg::RS256,
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64,
        )
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("artifact.txt"), b"over https\n").unwrap();
    let tc = stack.trust_config_path();
    let cosign = |args: &[&str], ca: Option<&Path>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_cosign-keyless-e2e"));
        c.args(args)
            .arg("--trust-config")
            .arg(&tc)
            .current_dir(work.path());
        if let Some(ca) = ca {
            c.env("SSL_CERT_FILE", ca);
        }
        c.output().unwrap()
    };
    let sign = [
        "sign-blob",
        "artifact.txt",
        "--bundle",
        "a.cosign.json",
        "--identity-token",
        token.as_str(),
    ];
    let o = cosign(&sign, None);
    assert!(
        !o.status.success(),
        "signing without trusting the CA must fail: {}",
        text(&o)
    );
    let o = cosign(&sign, Some(&ca));
    assert!(
        o.status.success(),
        "cosign-keyless with SSL_CERT_FILE: {}",
        text(&o)
    );
    let o = cosign(
        &[
            "verify-blob",
            "artifact.txt",
            "--bundle",
            "a.cosign.json",
            "--certificate-identity",
            "alice@example.com",
            "--certificate-oidc-issuer",
            &stack.oidc_url,
        ],
        Some(&ca),
    );
    assert!(o.status.success(), "{}", text(&o));

    // sigstore-python 4.5.1 with REQUESTS_CA_BUNDLE signs through Fulcio, Rekor v2 and the TSA
    // over HTTPS, and verifies.
    let py = root().join(".venv-interop/bin/sigstore");
    assert!(
        py.exists(),
        "sigstore-python is not installed: run `bash scripts/test`"
    );
    let o = Command::new(&py)
        .arg("--trust-config")
        .arg(&tc)
        .args([
            "sign",
            "--identity-token",
            &token,
            "--bundle",
            "a.python.json",
            "artifact.txt",
        ])
        .env("REQUESTS_CA_BUNDLE", &ca)
        .current_dir(work.path())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "sigstore-python sign over HTTPS: {}",
        text(&o)
    );
    let o = Command::new(&py)
        .arg("--trust-config")
        .arg(&tc)
        .args([
            "verify",
            "identity",
            "--bundle",
            "a.python.json",
            "--cert-identity",
            "alice@example.com",
            "--cert-oidc-issuer",
            &stack.oidc_url,
            "artifact.txt",
        ])
        .env("REQUESTS_CA_BUNDLE", &ca)
        .current_dir(work.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    // cosign-keyless verifies sigstore-python's bundle too.
    let o = cosign(
        &[
            "verify-blob",
            "artifact.txt",
            "--bundle",
            "a.python.json",
            "--certificate-identity",
            "alice@example.com",
            "--certificate-oidc-issuer",
            &stack.oidc_url,
        ],
        Some(&ca),
    );
    assert!(o.status.success(), "{}", text(&o));
    stack.stop().await;
}
