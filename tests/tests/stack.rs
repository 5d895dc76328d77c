//! The whole stack in one process on 127.0.0.1:0 ports, driven by real sigstore-python 4.5.1
//! (installed by scripts/test into .venv-interop; these tests fail, never skip, without it).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};
use sigstore_lite::{Options, Stack};

fn opts(dir: &Path) -> Options {
    Options::loopback(dir)
}

fn sigstore_python() -> PathBuf {
    sigstore_lite_tests::binaries::sigstore_python()
}

async fn token(stack: &Stack, email: &str) -> String {
    let mut claims = mock_oidc::email_claims(email);
    claims.insert("ttl".into(), json!(300));
    mock_oidc::fetch_token(&stack.oidc_url, &claims)
        .await
        .unwrap()
}

/// Runs sigstore-python with the stack's trust config; returns (success, stdout+stderr).
fn py(stack: &Stack, args: &[&str], cwd: &Path) -> (bool, String) {
    let out = Command::new(sigstore_python())
        .arg("--trust-config")
        .arg(stack.trust_config_path())
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run sigstore-python");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigstore_python_signs_attests_and_verifies_against_the_stack() {
    let dir = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let stack = Stack::start(&opts(dir.path())).await.unwrap();
    let w = work.path();
    std::fs::write(w.join("artifact.txt"), b"hello from sigstore-lite\n").unwrap();
    let t = token(&stack, "alice@example.com").await;

    let (ok, out) = py(
        &stack,
        &[
            "sign",
            "--identity-token",
            &t,
            "--bundle",
            "a.sigstore.json",
            "artifact.txt",
        ],
        w,
    );
    assert!(ok, "sign failed: {out}");
    let verify = |bundle: &str, identity: &str, issuer: &str, file: &str| {
        py(
            &stack,
            &[
                "verify",
                "identity",
                "--bundle",
                bundle,
                "--cert-identity",
                identity,
                "--cert-oidc-issuer",
                issuer,
                file,
            ],
            w,
        )
    };
    let (ok, out) = verify(
        "a.sigstore.json",
        "alice@example.com",
        &stack.oidc_url,
        "artifact.txt",
    );
    assert!(ok, "verify failed: {out}");
    let (ok, _) = verify(
        "a.sigstore.json",
        "mallory@example.com",
        &stack.oidc_url,
        "artifact.txt",
    );
    assert!(!ok, "a wrong identity must fail");
    let (ok, _) = verify(
        "a.sigstore.json",
        "alice@example.com",
        "https://accounts.google.com",
        "artifact.txt",
    );
    assert!(!ok, "a wrong issuer must fail");
    std::fs::write(w.join("other.txt"), b"something else\n").unwrap();
    std::fs::copy(w.join("a.sigstore.json"), w.join("other.txt.sigstore.json")).unwrap();
    let (ok, _) = verify(
        "other.txt.sigstore.json",
        "alice@example.com",
        &stack.oidc_url,
        "other.txt",
    );
    assert!(!ok, "another artifact must fail");

    // The default signing config sent sigstore-python to Rekor v2 and the TSA: the bundle holds
    // a hashedrekord 0.0.2 entry with an inclusion proof and a C2SP checkpoint (origin = the
    // bare host, no SET), and an RFC 3161 timestamp.
    let b: Value =
        serde_json::from_slice(&std::fs::read(w.join("a.sigstore.json")).unwrap()).unwrap();
    let tle = &b["verificationMaterial"]["tlogEntries"][0];
    assert_eq!(
        tle["kindVersion"],
        json!({"kind": "hashedrekord", "version": "0.0.2"})
    );
    assert!(tle.get("inclusionPromise").is_none());
    assert!(tle["inclusionProof"]["checkpoint"]["envelope"]
        .as_str()
        .unwrap()
        .starts_with("127.0.0.1\n"));
    assert_eq!(
        b["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    // DSSE: attest, then verify.
    let pred = json!({"buildDefinition": {"buildType": "https://example.com/build", "externalParameters": {}},
                      "runDetails": {"builder": {"id": "https://example.com/builder"}}});
    std::fs::write(w.join("pred.json"), pred.to_string()).unwrap();
    let t = token(&stack, "alice@example.com").await;
    let (ok, out) = py(
        &stack,
        &[
            "attest",
            "--predicate",
            "pred.json",
            "--predicate-type",
            "https://slsa.dev/provenance/v1",
            "--identity-token",
            &t,
            "--bundle",
            "a.att.json",
            "artifact.txt",
        ],
        w,
    );
    assert!(ok, "attest failed: {out}");
    let b: Value = serde_json::from_slice(&std::fs::read(w.join("a.att.json")).unwrap()).unwrap();
    // Rekor v2 logs a DSSE envelope as a hashedrekord over its PAE.
    assert_eq!(
        b["verificationMaterial"]["tlogEntries"][0]["kindVersion"],
        json!({"kind": "hashedrekord", "version": "0.0.2"})
    );
    let (ok, out) = verify(
        "a.att.json",
        "alice@example.com",
        &stack.oidc_url,
        "artifact.txt",
    );
    assert!(ok, "verify of the attestation failed: {out}");
    let (ok, _) = verify(
        "a.att.json",
        "bob@example.com",
        &stack.oidc_url,
        "artifact.txt",
    );
    assert!(!ok);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_reuses_keys_and_log() {
    let dir = tempfile::tempdir().unwrap();
    let s = Stack::start(&opts(dir.path())).await.unwrap();
    let root1 = std::fs::read_to_string(s.trusted_root_path()).unwrap();
    let tr: Value = serde_json::from_str(&root1).unwrap();
    assert_eq!(
        tr["mediaType"],
        sigstore_lite_core::trust::TRUSTED_ROOT_MEDIA_TYPE
    );
    let sc: Value =
        serde_json::from_slice(&std::fs::read(s.signing_config_path()).unwrap()).unwrap();
    // Rekor v2 (with the TSA) first, v1 still listed, one operator: clients take v2.
    assert_eq!(sc["rekorTlogUrls"][0]["url"], json!(s.rekor_v2_url));
    assert_eq!(sc["rekorTlogUrls"][0]["majorApiVersion"], 2);
    assert_eq!(sc["rekorTlogUrls"][1]["url"], json!(s.rekor_url));
    assert_eq!(sc["rekorTlogUrls"][1]["majorApiVersion"], 1);
    assert_eq!(
        sc["tsaUrls"][0]["url"],
        json!(format!("{}/api/v1/timestamp", s.tsa_url))
    );
    assert_eq!(sc["caUrls"][0]["majorApiVersion"], 1);
    assert_eq!(tr["tlogs"].as_array().unwrap().len(), 2);
    assert_eq!(tr["timestampAuthorities"].as_array().unwrap().len(), 1);
    let cp1 = reqwest::get(format!("{}/checkpoint", s.rekor_v2_url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let log1: Value = reqwest::get(format!("{}/api/v1/log", s.rekor_url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let oidc_key: Value = reqwest::get(format!("{}/jwks", s.oidc_url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    s.stop().await;
    let s = Stack::start(&opts(dir.path())).await.unwrap();
    let tr2: Value =
        serde_json::from_slice(&std::fs::read(s.trusted_root_path()).unwrap()).unwrap();
    // Ports differ between runs; keys, CA chain and log IDs do not.
    for k in [
        "certificateAuthorities",
        "tlogs",
        "ctlogs",
        "timestampAuthorities",
    ] {
        let strip = |v: &Value| {
            let mut v = v.clone();
            for e in v.as_array_mut().unwrap() {
                e.as_object_mut().unwrap().remove("baseUrl");
                e.as_object_mut().unwrap().remove("uri");
            }
            v
        };
        assert_eq!(strip(&tr[k]), strip(&tr2[k]), "{k}");
    }
    let log2: Value = reqwest::get(format!("{}/api/v1/log", s.rekor_url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(log1["treeID"], log2["treeID"]);
    let cp2 = reqwest::get(format!("{}/checkpoint", s.rekor_v2_url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(cp1, cp2, "the v2 log keeps its key and tree");
    let oidc_key2: Value = reqwest::get(format!("{}/jwks", s.oidc_url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(oidc_key, oidc_key2);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_files_fetched_over_http_match_the_ones_up_writes() {
    let dir = tempfile::tempdir().unwrap();
    let s = Stack::start(&opts(&dir.path().join("stack")))
        .await
        .unwrap();
    let t = sigstore_lite::fetch_trust_inputs(&sigstore_lite::ServiceUrls {
        oidc: s.oidc_url.clone(),
        fulcio: s.fulcio_url.clone(),
        rekor: s.rekor_url.clone(),
        rekor_v2: s.rekor_v2_url.clone(),
        tsa: s.tsa_url.clone(),
        rekor_api: 2,
    })
    .await
    .unwrap();
    let out = dir.path().join("fetched");
    sigstore_lite::write_trust_files(&out, &t).unwrap();
    for f in [
        sigstore_lite::TRUSTED_ROOT,
        sigstore_lite::SIGNING_CONFIG,
        sigstore_lite::TRUST_CONFIG,
    ] {
        let a: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("stack").join(f)).unwrap())
                .unwrap();
        let b: Value = serde_json::from_slice(&std::fs::read(out.join(f)).unwrap()).unwrap();
        assert_eq!(a, b, "{f}");
    }
    s.stop().await;
}

#[tokio::test]
async fn port_in_use_and_unwritable_dir_are_one_line_errors() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(dir.path());
    o.rekor_port = busy.local_addr().unwrap().port();
    let e = Stack::start(&o).await.err().expect("must fail").to_string();
    assert!(
        e.contains("rekor-lite") && e.contains("in use") && !e.contains('\n'),
        "{e}"
    );
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let e = Stack::start(&opts(&file.join("sub")))
        .await
        .err()
        .expect("must fail")
        .to_string();
    assert!(
        e.starts_with("cannot use the data directory") && !e.contains('\n'),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigstore_python_signs_with_a_token_from_an_independent_issuer_added_with_issuer() {
    let provider = sigstore_lite_tests::oidc_provider::PyProvider::start().await;
    let dir = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let mut o = opts(dir.path());
    o.issuers = vec![format!("{}=email", provider.url)];
    let stack = Stack::start(&o).await.unwrap();
    assert_eq!(stack.extra_issuers, vec![provider.url.clone()]);
    std::fs::write(
        work.path().join("a.txt"),
        b"signed with an independent issuer\n",
    )
    .unwrap();
    let t = provider.login("erin@example.com").await;
    let (ok, out) = py(
        &stack,
        &[
            "sign",
            "--identity-token",
            &t,
            "--bundle",
            "a.json",
            "a.txt",
        ],
        work.path(),
    );
    assert!(ok, "sign failed: {out}");
    let (ok, out) = py(
        &stack,
        &[
            "verify",
            "identity",
            "--bundle",
            "a.json",
            "--cert-identity",
            "erin@example.com",
            "--cert-oidc-issuer",
            &provider.url,
            "a.txt",
        ],
        work.path(),
    );
    assert!(ok, "verify failed: {out}");
    // The mock issuer is not that issuer.
    let (ok, _) = py(
        &stack,
        &[
            "verify",
            "identity",
            "--bundle",
            "a.json",
            "--cert-identity",
            "erin@example.com",
            "--cert-oidc-issuer",
            &stack.oidc_url,
            "a.txt",
        ],
        work.path(),
    );
    assert!(!ok);
    stack.stop().await;
}

/// fulcio-lite alone, configured for an OIDC provider that is not ours: it certifies that
/// provider's token (chain and SCT verified by the core verifier), and refuses a forged one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fulcio_lite_certifies_a_token_from_an_independent_provider() {
    use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
    use base64::Engine;
    use sigstore_lite_core::keys::{pem_parse_all, P256Signer};
    use sigstore_lite_core::trust::{CertificateAuthority, LogInstance, Subject, TrustedRoot};
    use sigstore_lite_core::verify::TrustMaterial;

    let p = sigstore_lite_tests::oidc_provider::PyProvider::start().await;
    let iss = p.issuer().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.yaml");
    std::fs::write(&cfg, format!("oidc-issuers:\n  {iss}:\n    issuer-url: {iss}\n    client-id: sigstore\n    type: email\n")).unwrap();
    let f = fulcio_lite::open(&fulcio_lite::Settings {
        data_dir: dir.path().join("ca"),
        config: Some(cfg),
        extra_issuers: Vec::new(),
        jwks_ttl: fulcio_lite::oidc::DEFAULT_JWKS_TTL,
        oidc_roots: Vec::new(),
        keys: Default::default(),
    })
    .unwrap();
    let root = TrustedRoot {
        media_type: sigstore_lite_core::trust::TRUSTED_ROOT_MEDIA_TYPE.into(),
        tlogs: Vec::new(),
        certificate_authorities: vec![CertificateAuthority::new(
            "http://fulcio",
            &[f.ca.intermediate_der().to_vec(), f.ca.root_der().to_vec()],
            Subject::default(),
            "2000-01-01T00:00:00Z",
        )],
        ctlogs: vec![LogInstance::new(
            "http://ct",
            f.ca.ct_key(),
            "2000-01-01T00:00:00Z",
        )],
        timestamp_authorities: Vec::new(),
    };
    let tm = TrustMaterial::from_trusted_root(&root).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let fulcio = format!(
        "http://{}/api/v2/signingCert",
        listener.local_addr().unwrap()
    );
    tokio::spawn(fulcio_lite::serve(listener, f, std::future::pending()));

    let request = |token: &str, email: &str, key: &P256Signer| {
        json!({"credentials": {"oidcIdentityToken": token},
               "publicKeyRequest": {"publicKey": {"algorithm": "ECDSA", "content": key.public_key().to_pem()},
                                    "proofOfPossession": B64.encode(key.sign(email.as_bytes()))}})
    };
    let t = p.login("dana@example.com").await;
    let key = P256Signer::generate_p256().unwrap();
    let r = reqwest::Client::new()
        .post(&fulcio)
        .json(&request(&t, "dana@example.com", &key))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let leaf = pem_parse_all(
        v["signedCertificateEmbeddedSct"]["chain"]["certificates"][0]
            .as_str()
            .unwrap(),
    )
    .unwrap()
    .remove(0)
    .der;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let cert = tm.verify_certificate(&leaf, &[], now + 1).unwrap();
    assert_eq!(cert.sans[0].value(), "dana@example.com");
    assert_eq!(cert.issuer.as_deref(), Some(iss.as_str()));
    assert_eq!(cert.key, *key.public_key());
    // The same provider's token with a tampered payload is refused.
    let parts: Vec<&str> = t.split('.').collect();
    let mut claims: Value = serde_json::from_slice(&B64URL.decode(parts[1]).unwrap()).unwrap();
    claims["email"] = json!("eve@example.com");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        B64URL.encode(claims.to_string()),
        parts[2]
    );
    let r = reqwest::Client::new()
        .post(&fulcio)
        .json(&request(&forged, "eve@example.com", &key))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

/// The repository and its `sigstore-lite` binary (the workspace's test build; built if missing).
fn sigstore_lite_binary() -> (PathBuf, PathBuf) {
    (
        sigstore_lite_tests::binaries::repo(),
        sigstore_lite_tests::binaries::sigstore_lite(),
    )
}

/// `sigstore-lite up --ephemeral --ready-file` (issue 23): two stacks side by side on free
/// ports, each announcing itself in a ready file under setup-sigstore-env's names; cosign-keyless
/// and sigstore-python sign and verify against each with its own token file; SIGTERM, and the
/// end of the parent (`--exit-with-parent`), stop a stack and leave no file behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ephemeral_stacks_run_side_by_side_and_clean_up() {
    let (_, up) = sigstore_lite_binary();
    let dir = tempfile::tempdir().unwrap();
    let start = |name: &str| {
        let ready = dir.path().join(name);
        let child = Command::new(&up)
            .args(["up", "--ephemeral", "--ready-file"])
            .arg(&ready)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        (child, ready)
    };
    let wait_ready = |p: &Path| -> Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            if let Ok(b) = std::fs::read(p) {
                return serde_json::from_slice(&b).expect("a ready file is whole JSON");
            }
            assert!(std::time::Instant::now() < deadline, "no ready file");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    };
    let (mut a, ready_a) = start("a.json");
    let (mut b, ready_b) = start("b.json");
    let (va, vb) = (wait_ready(&ready_a), wait_ready(&ready_b));
    assert_ne!(
        va["fulcio-url"], vb["fulcio-url"],
        "each stack on its own ports"
    );
    assert_ne!(va["data-dir"], vb["data-dir"]);
    assert_eq!(va["pid"], a.id().to_string());
    let cosign = env!("CARGO_BIN_EXE_cosign-keyless-e2e");
    for (v, who) in [(&va, "a"), (&vb, "b")] {
        for key in ["oidc-url", "fulcio-url", "rekor-url", "rekor-v2-url"] {
            let u = v[key].as_str().unwrap();
            let r = reqwest::get(format!("{u}/healthz")).await.unwrap();
            assert!(r.status().is_success(), "{who}: {key} {u}");
        }
        for key in ["trusted-root", "signing-config", "trust-config"] {
            let f = v[key].as_str().unwrap();
            serde_json::from_slice::<Value>(&std::fs::read(f).unwrap()).unwrap();
        }
        let token = std::fs::read_to_string(v["oidc-token"].as_str().unwrap()).unwrap();
        let tc = v["trust-config"].as_str().unwrap();
        let iss = v["oidc-url"].as_str().unwrap();
        let art = dir.path().join(format!("{who}.txt"));
        std::fs::write(&art, format!("signed against stack {who}\n")).unwrap();
        let bundle = dir.path().join(format!("{who}.sigstore.json"));
        let o = Command::new(cosign)
            .arg("sign-blob")
            .arg(&art)
            .arg("--bundle")
            .arg(&bundle)
            .args(["--identity-token", &token, "--trust-config", tc])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{who}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let o = Command::new(sigstore_python())
            .args(["--trust-config", tc, "verify", "identity", "--bundle"])
            .arg(&bundle)
            .args([
                "--cert-identity",
                "you@example.com",
                "--cert-oidc-issuer",
                iss,
            ])
            .arg(&art)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{who}: sigstore-python: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let py_bundle = dir.path().join(format!("{who}.py.sigstore.json"));
        let o = Command::new(sigstore_python())
            .args([
                "--trust-config",
                tc,
                "sign",
                "--identity-token",
                &token,
                "--bundle",
            ])
            .arg(&py_bundle)
            .arg(&art)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{who}: sigstore-python sign: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let o = Command::new(cosign)
            .arg("verify-blob")
            .arg(&art)
            .arg("--bundle")
            .arg(&py_bundle)
            .args([
                "--trust-config",
                tc,
                "--certificate-identity",
                "you@example.com",
                "--certificate-oidc-issuer",
                iss,
            ])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{who}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    // A bundle from one stack does not verify with the other's trust root.
    let o = Command::new(cosign)
        .arg("verify-blob")
        .arg(dir.path().join("a.txt"))
        .arg("--bundle")
        .arg(dir.path().join("a.sigstore.json"))
        .args([
            "--trust-config",
            vb["trust-config"].as_str().unwrap(),
            "--certificate-identity",
            "you@example.com",
            "--certificate-oidc-issuer",
            va["oidc-url"].as_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!o.status.success(), "stack b trusts stack a's CA");
    // SIGTERM: the stack stops and removes its data directory and its ready file.
    for (child, ready, v) in [(&mut a, &ready_a, &va), (&mut b, &ready_b, &vb)] {
        let ok = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
        let status = child.wait().unwrap();
        assert!(status.success(), "{status:?}");
        assert!(
            !Path::new(v["data-dir"].as_str().unwrap()).exists(),
            "data left behind"
        );
        assert!(!ready.exists(), "ready file left behind");
    }
    // The parent goes away: the stack notices and cleans up.
    let ready_c = dir.path().join("c.json");
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{} up --ephemeral --exit-with-parent --ready-file {} >/dev/null 2>&1 & \
             while [ ! -f {} ]; do sleep 0.05; done",
            up.display(),
            ready_c.display(),
            ready_c.display()
        ))
        .status()
        .unwrap();
    assert!(o.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while ready_c.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the orphaned stack never stopped"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The pytest plugin packaged in this repository (interop/python/pytest-sigstore-lite, installed
/// by scripts/test): a real pytest run whose `sigstore_stack` fixture starts an ephemeral stack,
/// and sigstore-python signs and verifies against it.
#[test]
fn the_pytest_fixture_runs_a_stack_for_sigstore_python() {
    let (repo, up) = sigstore_lite_binary();
    let python = repo.join(".venv-interop/bin/python");
    assert!(
        python.exists(),
        "run `bash scripts/test`: it installs pytest and the plugin"
    );
    let o = Command::new(&python)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(repo.join("interop/python/tests"))
        .env("SIGSTORE_LITE_BIN", &up)
        .output()
        .unwrap();
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "pytest failed: {out}");
    assert!(out.contains("2 passed"), "{out}");
}

/// The composite action (action.yml, issue 23): its steps' commands run as a runner would run
/// them (GITHUB_ACTION_PATH, RUNNER_TEMP, GITHUB_OUTPUT, the inputs as env), with a binary
/// already built so that the cargo install step is skipped. The outputs it declares are all
/// written, the stack they name signs and verifies, and its stop command stops and cleans up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_composite_action_runs_a_stack_for_the_job() {
    let (repo, up) = sigstore_lite_binary();
    let action: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(repo.join("action.yml")).unwrap()).unwrap();
    assert_eq!(action["runs"]["using"], "composite");
    let declared: Vec<String> = action["outputs"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    for name in [
        "oidc-url",
        "issuer-url",
        "fulcio-url",
        "rekor-url",
        "rekor-v2-url",
        "tsa-url",
        "oidc-token",
        "trusted-root",
        "signing-config",
        "trust-config",
    ] {
        assert!(
            declared.iter().any(|d| d == name),
            "setup-sigstore-env's {name}"
        );
    }
    let tmp = tempfile::tempdir().unwrap();
    let output = tmp.path().join("github-output");
    let inputs = [
        ("args", String::new()),
        ("binary", up.display().to_string()),
    ];
    let expand = |s: &str| {
        let mut s = s.to_string();
        for (k, v) in &inputs {
            s = s.replace(&format!("${{{{ inputs.{k} }}}}"), v);
        }
        s
    };
    for step in action["runs"]["steps"].as_sequence().unwrap() {
        if let Some(cond) = step["if"].as_str() {
            assert_eq!(
                cond, "inputs.binary == ''",
                "a condition this test does not know"
            );
            continue; // the binary is given
        }
        let mut c = Command::new("bash");
        c.arg("-e").arg("-c").arg(step["run"].as_str().unwrap());
        c.env("GITHUB_ACTION_PATH", &repo)
            .env("RUNNER_TEMP", tmp.path())
            .env("GITHUB_OUTPUT", &output)
            .stdout(std::process::Stdio::null());
        if let Some(env) = step["env"].as_mapping() {
            for (k, v) in env {
                c.env(k.as_str().unwrap(), expand(v.as_str().unwrap()));
            }
        }
        let o = c.output().unwrap();
        assert!(
            o.status.success(),
            "{:?}: {}",
            step["name"],
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let out: std::collections::BTreeMap<String, String> = std::fs::read_to_string(&output)
        .unwrap()
        .lines()
        .filter_map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect();
    for (name, def) in action["outputs"].as_mapping().unwrap() {
        let value = def["value"].as_str().unwrap();
        let key = value
            .trim_start_matches("${{ steps.up.outputs.")
            .trim_end_matches(" }}");
        assert!(
            out.contains_key(key),
            "{name:?}: {key} not written: {out:?}"
        );
    }
    let r = reqwest::get(format!("{}/healthz", out["fulcio-url"]))
        .await
        .unwrap();
    assert!(r.status().is_success());
    let art = tmp.path().join("a.txt");
    std::fs::write(&art, "signed in a workflow\n").unwrap();
    let token = std::fs::read_to_string(&out["oidc-token"]).unwrap();
    let cosign = env!("CARGO_BIN_EXE_cosign-keyless-e2e");
    let bundle = tmp.path().join("a.sigstore.json");
    let o = Command::new(cosign)
        .args([
            "sign-blob",
            "--identity-token",
            token.trim(),
            "--trust-config",
            &out["trust-config"],
            "--bundle",
        ])
        .arg(&bundle)
        .arg(&art)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = Command::new(cosign)
        .arg("verify-blob")
        .arg(&art)
        .arg("--bundle")
        .arg(&bundle)
        .args([
            "--trust-config",
            &out["trust-config"],
            "--certificate-identity",
            "you@example.com",
        ])
        .args(["--certificate-oidc-issuer", &out["oidc-url"]])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The stop command stops the stack, which removes its data directory.
    let data = std::path::PathBuf::from(&out["data-dir"]);
    assert!(data.exists());
    let o = Command::new("bash")
        .arg("-c")
        .arg(&out["stop-command"])
        .output()
        .unwrap();
    assert!(o.status.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while data.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the stack did not clean up"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// `--no-fulcio`, `--no-rekor`, `--no-rekor-v2`, `--no-tsa` (scaffolding's flags): a service
/// left out is not started, has no URL in the ready values, and is left out of the trust files
/// and of what the TUF repository hands out; the signing config sends clients only to what runs
/// (Rekor v2 only with a TSA), and sigstore-python signs and verifies against what is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_left_out_are_left_out_of_the_trust_files() {
    let dir = tempfile::tempdir().unwrap();
    let read =
        |p: PathBuf| -> Value { serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap() };
    let count = |v: &Value, k: &str| v[k].as_array().map_or(0, |a| a.len());
    let rekors = |sc: &Value| -> Vec<u64> {
        sc["rekorTlogUrls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["majorApiVersion"].as_u64().unwrap())
            .collect()
    };

    // No Rekor v2: clients sign through Rekor v1, without a TSA.
    let stack = Stack::start(&Options {
        without: sigstore_lite::Without {
            rekor_v2: true,
            ..Default::default()
        },
        ..opts(&dir.path().join("no-v2"))
    })
    .await
    .unwrap();
    assert!(stack.rekor_v2_url.is_empty());
    let (tr, sc) = (
        read(stack.trusted_root_path()),
        read(stack.signing_config_path()),
    );
    assert_eq!(
        (count(&tr, "tlogs"), count(&tr, "certificateAuthorities")),
        (1, 1)
    );
    assert_eq!((rekors(&sc), count(&sc, "tsaUrls")), (vec![1], 0));
    let tok = token(&stack, "left@example.com").await;
    let w = dir.path().to_path_buf();
    std::fs::write(w.join("a.txt"), b"signed without Rekor v2\n").unwrap();
    let (ok, out) = tokio::task::spawn_blocking({
        let (tc, w, tok) = (stack.trust_config_path(), w.clone(), tok.clone());
        move || {
            let r = Command::new(sigstore_python())
                .arg("--trust-config")
                .arg(&tc)
                .args([
                    "sign",
                    "--identity-token",
                    &tok,
                    "--bundle",
                    "a.sigstore.json",
                    "a.txt",
                ])
                .current_dir(&w)
                .output()
                .unwrap();
            (
                r.status.success(),
                String::from_utf8_lossy(&r.stderr).to_string(),
            )
        }
    })
    .await
    .unwrap();
    assert!(ok, "{out}");
    let bundle = read(w.join("a.sigstore.json"));
    assert_eq!(
        bundle["verificationMaterial"]["tlogEntries"][0]["kindVersion"]["version"], "0.0.1",
        "a Rekor v1 entry"
    );
    stack.stop().await;

    // No Rekor v1: Rekor v2 and the TSA.
    let stack = Stack::start(&Options {
        without: sigstore_lite::Without {
            rekor: true,
            ..Default::default()
        },
        ..opts(&dir.path().join("no-v1"))
    })
    .await
    .unwrap();
    let sc = read(stack.signing_config_path());
    assert_eq!((rekors(&sc), count(&sc, "tsaUrls")), (vec![2], 1));
    stack.stop().await;

    // No Fulcio and no TSA: the logs alone (for keyed signing); nothing names the others.
    let stack = Stack::start(&Options {
        without: sigstore_lite::Without {
            fulcio: true,
            tsa: true,
            ..Default::default()
        },
        ..opts(&dir.path().join("logs-only"))
    })
    .await
    .unwrap();
    let (tr, sc) = (
        read(stack.trusted_root_path()),
        read(stack.signing_config_path()),
    );
    for k in ["certificateAuthorities", "ctlogs", "timestampAuthorities"] {
        assert_eq!(count(&tr, k), 0, "{k}");
    }
    assert_eq!(count(&tr, "tlogs"), 2);
    assert_eq!(
        (count(&sc, "caUrls"), rekors(&sc), count(&sc, "tsaUrls")),
        (0, vec![1], 0)
    );
    let values = sigstore_lite::ready_values(&stack, &dir.path().join("token"));
    let names: Vec<&str> = values.iter().map(|(k, _)| *k).collect();
    assert!(
        !names.contains(&"fulcio-url") && !names.contains(&"tsa-url"),
        "{names:?}"
    );
    assert!(
        names.contains(&"rekor-url") && names.contains(&"tuf-url"),
        "{names:?}"
    );
    let r = reqwest::get(format!("{}/api/v1/log", stack.rekor_url))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // TUF hands out the same trusted root.
    let repo = sigstore_lite_tuf::Repository::new(dir.path().join("logs-only/tuf"), None);
    let state = repo.load().unwrap();
    assert_eq!(
        repo.target(&state, "trusted_root.json").unwrap(),
        std::fs::read(stack.trusted_root_path()).unwrap()
    );
    stack.stop().await;
}
