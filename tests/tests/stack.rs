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
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv-interop/bin/sigstore");
    assert!(
        p.exists(),
        "sigstore-python is not installed at {}: run `bash scripts/test` (it installs sigstore==4.5.1 there)",
        p.display()
    );
    p
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

    // The bundle holds our log's entry with an inclusion proof and a promise (SET).
    let b: Value =
        serde_json::from_slice(&std::fs::read(w.join("a.sigstore.json")).unwrap()).unwrap();
    let tle = &b["verificationMaterial"]["tlogEntries"][0];
    assert_eq!(tle["kindVersion"]["kind"], "hashedrekord");
    assert!(tle["inclusionPromise"]["signedEntryTimestamp"].is_string());
    assert!(tle["inclusionProof"]["checkpoint"]["envelope"]
        .as_str()
        .unwrap()
        .contains(" - "));

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
    assert_eq!(
        b["verificationMaterial"]["tlogEntries"][0]["kindVersion"]["kind"],
        "dsse"
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
    assert_eq!(sc["rekorTlogUrls"][0]["url"], json!(s.rekor_url));
    assert_eq!(sc["caUrls"][0]["majorApiVersion"], 1);
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
    for k in ["certificateAuthorities", "tlogs", "ctlogs"] {
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
    let t = sigstore_lite::fetch_trust_inputs(&s.oidc_url, &s.fulcio_url, &s.rekor_url)
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

/// PyPI `oidc-provider-mock` 0.3.4 (installed by scripts/test into .venv-interop): an OIDC
/// provider that is not ours, logged into through its authorization-code flow.
struct PyProvider {
    child: std::process::Child,
    url: String,
}

impl Drop for PyProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl PyProvider {
    async fn start() -> PyProvider {
        let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv-interop/bin/python");
        assert!(
            python.exists(),
            "{} is missing: run `bash scripts/test`",
            python.display()
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(&python)
            .args(["-m", "oidc_provider_mock", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start oidc-provider-mock");
        let p = PyProvider {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        for _ in 0..100 {
            if reqwest::get(format!("{}/.well-known/openid-configuration", p.url))
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return p;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("oidc-provider-mock did not come up on {}", p.url);
    }

    async fn login(&self, email: &str) -> String {
        let c = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        c.put(format!("{}/users/{email}", self.url))
            .json(&json!({"email": email, "email_verified": true}))
            .send()
            .await
            .unwrap();
        let cb = "http://127.0.0.1:1/callback";
        let r = c
            .post(format!("{}/oauth2/authorize", self.url))
            .query(&[
                ("client_id", "sigstore"),
                ("redirect_uri", cb),
                ("response_type", "code"),
                ("scope", "openid email"),
                ("state", "s"),
            ])
            .form(&[("sub", email)])
            .send()
            .await
            .unwrap();
        let loc = r.headers()["location"].to_str().unwrap().to_string();
        let code = loc
            .split(['?', '&'])
            .find_map(|kv| kv.strip_prefix("code="))
            .unwrap()
            .to_string();
        let t: Value = c
            .post(format!("{}/oauth2/token", self.url))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", cb),
                ("client_id", "sigstore"),
                ("client_secret", "x"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        t["id_token"].as_str().unwrap().to_string()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigstore_python_signs_with_a_token_from_an_independent_issuer_added_with_issuer() {
    let provider = PyProvider::start().await;
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
