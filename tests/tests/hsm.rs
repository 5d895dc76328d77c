//! Keys that never touch the disk (issue 18), on real parts: SoftHSM2 tokens (Debian
//! `softhsm2`) inspected with OpenSC's `pkcs11-tool`, the whole stack started by the
//! `sigstore-lite` binary with every server key in a token and checked by sigstore-python,
//! cosign-keyless signing blobs and images with `--key pkcs11:...`, and cosign's KMS plugin
//! protocol through a plugin written in Python for the test (tests/kms-plugin). These tests fail,
//! never skip, when those tools are missing (scripts/test installs them).
//!
//! Every key is used from processes started by the test, never inside it: SoftHSM lists the
//! tokens there are when a process loads it, and each test makes its own token.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::Value;
use sigstore_lite_core::keys::{spki_from_raw, KeyKind, PublicKey};
use sigstore_lite_signer::softhsm::{TestToken, MODULE, PIN};
use sigstore_lite_tests::binaries;
use sigstore_lite_tests::registry::{push_image, start_registry};

const COSIGN: &str = env!("CARGO_BIN_EXE_cosign-keyless-e2e");

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn run(c: &mut Command) -> Output {
    c.output().expect("the command runs")
}

/// `sigstore-lite up` in `data` on free ports with the keys given; waits for its ready file.
fn up(data: &Path, ready: &Path, keys: &[(&str, String)]) -> (Running, Value) {
    let _ = std::fs::remove_file(ready);
    let mut c = Command::new(binaries::sigstore_lite());
    c.arg("up").arg("--data-dir").arg(data);
    for port in [
        "--oidc-port",
        "--fulcio-port",
        "--rekor-port",
        "--rekor-v2-port",
        "--tsa-port",
        "--explorer-port",
        "--tuf-port",
    ] {
        c.args([port, "0"]);
    }
    for (flag, r) in keys {
        c.arg(flag).arg(r);
    }
    let mut child = c
        .arg("--ready-file")
        .arg(ready)
        .env("SOFTHSM2_CONF", TestToken::conf())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(b) = std::fs::read(ready) {
            return (Running(child), serde_json::from_slice(&b).unwrap());
        }
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
            panic!("up exited ({status}): {err}");
        }
        assert!(Instant::now() < deadline, "no ready file");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A child process stopped when the test ends, whether it passes or panics.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.0.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn stop(child: Running) {
    drop(child);
}

fn python_sign(v: &Value, artifact: &Path, bundle: &Path) -> Output {
    let token = std::fs::read_to_string(v["oidc-token"].as_str().unwrap()).unwrap();
    run(Command::new(binaries::sigstore_python())
        .args(["--trust-config", v["trust-config"].as_str().unwrap()])
        .args(["sign", "--identity-token", token.trim(), "--bundle"])
        .arg(bundle)
        .arg(artifact))
}

/// Verifies with `v`'s trust config a bundle signed by a token of `issuer`.
fn python_verify(v: &Value, issuer: &Value, artifact: &Path, bundle: &Path) -> Output {
    run(Command::new(binaries::sigstore_python())
        .args(["--trust-config", v["trust-config"].as_str().unwrap()])
        .args(["verify", "identity", "--bundle"])
        .arg(bundle)
        .args(["--cert-identity", "you@example.com", "--cert-oidc-issuer"])
        .arg(issuer.as_str().unwrap())
        .arg(artifact))
}

fn b64_spki(v: &Value) -> PublicKey {
    PublicKey::from_spki_der(&B64.decode(v.as_str().unwrap()).unwrap()).unwrap()
}

fn cert_key(v: &Value) -> PublicKey {
    PublicKey::from_certificate_der(&B64.decode(v.as_str().unwrap()).unwrap()).unwrap()
}

async fn status(url: &str) -> (u16, Value) {
    let r = reqwest::get(url).await.unwrap();
    let code = r.status().as_u16();
    (code, r.json().await.unwrap_or(Value::Null))
}

/// Every server key of the stack in one token: the trust root names exactly the token's keys,
/// sigstore-python signs and verifies through all of them, no private key is in the data
/// directory, and pkcs11-tool shows every key sensitive and never extractable. A token removed
/// while the stack runs gives 503 JSON and NOT_SERVING, never a panic or a key on disk; with
/// the token back, a restarted stack is the same instance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_stack_signs_with_keys_in_a_token() {
    let t = TestToken::new("stack");
    let dir = tempfile::tempdir().unwrap();
    let (data, ready) = (dir.path().join("data"), dir.path().join("ready.json"));
    let keys: Vec<(&str, String)> = [
        ("--fulcio-key", "fulcio"),
        ("--fulcio-root-key", "fulcio-root"),
        ("--ct-key", "ctlog"),
        ("--rekor-key", "rekor"),
        ("--rekor-v2-key", "rekor-v2"),
        ("--tsa-key", "tsa"),
        ("--tuf-root-key", "tuf-root"),
        ("--tuf-targets-key", "tuf-targets"),
        ("--tuf-online-key", "tuf-online"),
    ]
    .into_iter()
    .map(|(f, o)| (f, t.uri(o)))
    .collect();
    let (child, v) = up(&data, &ready, &keys);

    // The token holds nine keys (six services', three of the TUF repository), none of which
    // can leave it.
    let listed = t.listed_private_keys();
    let mut labels: Vec<&str> = listed.iter().map(|(l, _)| l.as_str()).collect();
    labels.sort();
    assert_eq!(
        labels,
        [
            "ctlog",
            "fulcio",
            "fulcio-root",
            "rekor",
            "rekor-v2",
            "tsa",
            "tuf-online",
            "tuf-root",
            "tuf-targets"
        ]
    );
    for (label, access) in &listed {
        assert!(
            access.contains("sensitive") && access.contains("never extractable"),
            "{label}: {access}"
        );
    }
    // No private key in the data directory: only certificates and the mock issuer's own key.
    let mut pems = Vec::new();
    let mut stack = vec![data.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if std::fs::read_to_string(&p).is_ok_and(|s| s.contains("PRIVATE KEY")) {
                pems.push(p.strip_prefix(&data).unwrap().display().to_string());
            }
        }
    }
    assert!(
        pems.iter().all(|p| p.starts_with("oidc")),
        "private keys on disk: {pems:?}"
    );

    // The trust root names the token's keys: derived from the token, never from a file.
    let point = |label: &str, kind| spki_from_raw(kind, &t.listed_point(label)).unwrap();
    let root: Value =
        serde_json::from_slice(&std::fs::read(v["trusted-root"].as_str().unwrap()).unwrap())
            .unwrap();
    let tlog = |url: &str| {
        root["tlogs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["baseUrl"] == url)
            .unwrap_or_else(|| panic!("no tlog {url} in {root}"))
            .clone()
    };
    let v1 = tlog(v["rekor-url"].as_str().unwrap());
    let rekor_key = point("rekor", KeyKind::EcdsaP256);
    assert_eq!(b64_spki(&v1["publicKey"]["rawBytes"]), rekor_key);
    assert_eq!(
        B64.decode(v1["logId"]["keyId"].as_str().unwrap()).unwrap(),
        rekor_key.key_id()
    );
    let v2 = tlog(v["rekor-v2-url"].as_str().unwrap());
    assert_eq!(
        b64_spki(&v2["publicKey"]["rawBytes"]),
        point("rekor-v2", KeyKind::Ed25519)
    );
    assert_eq!(
        b64_spki(&root["ctlogs"][0]["publicKey"]["rawBytes"]),
        point("ctlog", KeyKind::EcdsaP256)
    );
    let ca = &root["certificateAuthorities"][0]["certChain"]["certificates"];
    assert_eq!(
        cert_key(&ca[0]["rawBytes"]),
        point("fulcio", KeyKind::EcdsaP256)
    );
    assert_eq!(
        cert_key(&ca[1]["rawBytes"]),
        point("fulcio-root", KeyKind::EcdsaP256)
    );
    let tsa = &root["timestampAuthorities"][0]["certChain"]["certificates"];
    assert_eq!(
        cert_key(&tsa[0]["rawBytes"]),
        point("tsa", KeyKind::EcdsaP256)
    );

    // The v1 log's checkpoint is signed by its token key.
    let (_, log) = status(&format!("{}/api/v1/log", v["rekor-url"].as_str().unwrap())).await;
    let note = sigstore_lite_core::note::SignedNote::parse(log["signedTreeHead"].as_str().unwrap())
        .unwrap();
    rekor_key
        .verify_message(note.text.as_bytes(), &note.signatures[0].signature)
        .unwrap();

    // sigstore-python signs (Fulcio CA and CT log, Rekor v2, the TSA: all in the token) and
    // verifies with the trust root.
    let art = dir.path().join("artifact.txt");
    std::fs::write(&art, "signed with keys in a token\n").unwrap();
    let bundle = dir.path().join("artifact.sigstore.json");
    let o = python_sign(&v, &art, &bundle);
    assert!(o.status.success(), "sigstore-python sign: {}", text(&o));
    let o = python_verify(&v, &v["oidc-url"], &art, &bundle);
    assert!(o.status.success(), "sigstore-python verify: {}", text(&o));
    let first_issuer = v["oidc-url"].clone();
    let b: Value = serde_json::from_slice(&std::fs::read(&bundle).unwrap()).unwrap();
    assert!(
        !b["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"]
            .as_array()
            .unwrap()
            .is_empty(),
        "the bundle carries the token-signed timestamp"
    );

    // The token goes away while the stack runs.
    let saved = tempfile::tempdir().unwrap();
    let before: Vec<PathBuf> = std::fs::read_dir(TestToken::token_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    for d in &before {
        copy_dir(d, &saved.path().join(d.file_name().unwrap()));
    }
    t.remove();
    for key in ["fulcio-url", "rekor-url", "rekor-v2-url"] {
        let (code, body) = status(&format!("{}/healthz", v[key].as_str().unwrap())).await;
        assert_eq!(
            (code, &body["status"]),
            (503, &Value::from("NOT_SERVING")),
            "{key}: {body}"
        );
        assert_eq!(body["reason"], "signing_key_unavailable", "{key}: {body}");
    }
    let tsa_base = v["tsa-url"]
        .as_str()
        .unwrap()
        .trim_end_matches("/api/v1/timestamp");
    let (code, body) = status(&format!("{tsa_base}/healthz")).await;
    assert_eq!(code, 503, "{body}");
    // A timestamp request (made by openssl) gets the JSON error, not a half-made token.
    let q = dir.path().join("q.tsq");
    let o = run(Command::new("openssl")
        .args(["ts", "-query", "-sha256", "-cert", "-data"])
        .arg(&art)
        .arg("-out")
        .arg(&q));
    assert!(o.status.success(), "{}", text(&o));
    let r = reqwest::Client::new()
        .post(v["tsa-url"].as_str().unwrap())
        .header("content-type", "application/timestamp-query")
        .body(std::fs::read(&q).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["reason"], "signing_key_unavailable", "{body}");
    assert_eq!(body["code"], 503);
    let o = python_sign(&v, &art, &dir.path().join("refused.sigstore.json"));
    assert!(!o.status.success(), "signed without the token");
    assert!(!dir.path().join("refused.sigstore.json").exists());
    stop(child);

    // The token back: the restarted stack is the same instance (same trust root) and signs.
    for d in &before {
        if !d.exists() {
            copy_dir(&saved.path().join(d.file_name().unwrap()), d);
        }
    }
    let (child, v) = up(&data, &ready, &keys);
    let root_again: Value =
        serde_json::from_slice(&std::fs::read(v["trusted-root"].as_str().unwrap()).unwrap())
            .unwrap();
    // The same keys and certificates (the URLs are new: free ports).
    for (part, field) in [
        ("certificateAuthorities", "certChain"),
        ("ctlogs", "publicKey"),
        ("timestampAuthorities", "certChain"),
        ("tlogs", "publicKey"),
    ] {
        let keys = |r: &Value| -> Vec<Value> {
            r[part]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x[field].clone())
                .collect()
        };
        assert_eq!(keys(&root_again), keys(&root), "{part} changed on restart");
    }
    let o = python_verify(&v, &first_issuer, &art, &bundle);
    assert!(o.status.success(), "the old bundle: {}", text(&o));
    let bundle2 = dir.path().join("again.sigstore.json");
    let o = python_sign(&v, &art, &bundle2);
    assert!(o.status.success(), "after restart: {}", text(&o));
    stop(child);

    // A wrong PIN is one sentence at start, and nothing is written.
    let bad: Vec<(&str, String)> = vec![("--tsa-key", t.uri("tsa").replace(PIN, "0000"))];
    let o = run(Command::new(binaries::sigstore_lite())
        .arg("up")
        .arg("--data-dir")
        .arg(dir.path().join("bad"))
        .args([
            "--oidc-port",
            "0",
            "--fulcio-port",
            "0",
            "--rekor-port",
            "0",
        ])
        .args([
            "--rekor-v2-port",
            "0",
            "--tsa-port",
            "0",
            "--explorer-port",
            "0",
            "--tuf-port",
            "0",
        ])
        .args([bad[0].0, &bad[0].1])
        .env("SOFTHSM2_CONF", TestToken::conf()));
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("the token refused the PIN"), "{err}");
    assert!(
        !err.contains("0000") && !err.contains(PIN),
        "a PIN in {err}"
    );
    assert!(!dir.path().join("bad/tsa/tsa-leaf.pem").exists());
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn cosign(dir: &Path, args: &[&str]) -> Output {
    run(Command::new(COSIGN)
        .args(args)
        .current_dir(dir)
        .env("SOFTHSM2_CONF", TestToken::conf()))
}

/// cosign-keyless with a key in a token: `generate-key-pair --kms pkcs11:...` makes it there
/// (non-extractable) and writes cosign.pub; blobs and images signed with `--key pkcs11:...`
/// verify with cosign.pub and with the token's own public key (also through cosign's
/// COSIGN_PKCS11_MODULE_PATH / COSIGN_PKCS11_PIN); a wrong PIN or object is one sentence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cosign_keyless_signs_blobs_and_images_with_a_token_key() {
    let t = TestToken::new("cosign");
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path();
    let uri = t.uri("signer");
    let o = cosign(w, &["generate-key-pair", "--kms", &uri]);
    assert!(o.status.success(), "{}", text(&o));
    let public =
        PublicKey::from_pem(&std::fs::read_to_string(w.join("cosign.pub")).unwrap()).unwrap();
    assert_eq!(
        public,
        spki_from_raw(KeyKind::EcdsaP256, &t.listed_point("signer")).unwrap()
    );
    assert!(!w.join("cosign.key").exists());
    let (_, access) = t
        .listed_private_keys()
        .into_iter()
        .find(|(l, _)| l == "signer")
        .unwrap();
    assert!(access.contains("never extractable"), "{access}");
    let o = cosign(
        w,
        &[
            "generate-key-pair",
            "--kms",
            &uri,
            "--output-key-prefix",
            "again",
        ],
    );
    assert!(!o.status.success(), "a second key under the same label");
    assert!(text(&o).contains("already in the token"), "{}", text(&o));

    // Blobs (no log: the key alone).
    std::fs::write(w.join("blob.txt"), "a blob\n").unwrap();
    let o = cosign(
        w,
        &[
            "sign-blob",
            "--key",
            &uri,
            "--tlog-upload=false",
            "--bundle",
            "blob.json",
            "blob.txt",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    // openssl checks the signature with cosign.pub, independently of our verifier.
    let b: Value = serde_json::from_slice(&std::fs::read(w.join("blob.json")).unwrap()).unwrap();
    let sig = B64
        .decode(b["messageSignature"]["signature"].as_str().unwrap())
        .unwrap();
    std::fs::write(w.join("blob.sig.der"), sig).unwrap();
    let o = run(Command::new("openssl")
        .args([
            "dgst",
            "-sha256",
            "-verify",
            "cosign.pub",
            "-signature",
            "blob.sig.der",
            "blob.txt",
        ])
        .current_dir(w));
    assert!(o.status.success(), "openssl: {}", text(&o));
    let public_only = uri.replace(&format!("&pin-value={PIN}"), "");
    for key in ["cosign.pub", uri.as_str(), public_only.as_str()] {
        let o = cosign(
            w,
            &[
                "verify-blob",
                "--key",
                key,
                "--insecure-ignore-tlog",
                "--bundle",
                "blob.json",
                "blob.txt",
            ],
        );
        assert!(o.status.success(), "{key}: {}", text(&o));
    }
    std::fs::write(w.join("other.txt"), "another blob\n").unwrap();
    let o = cosign(
        w,
        &[
            "verify-blob",
            "--key",
            &uri,
            "--insecure-ignore-tlog",
            "--bundle",
            "blob.json",
            "other.txt",
        ],
    );
    assert!(!o.status.success());

    // The module and PIN from cosign's environment variables.
    let bare = format!("pkcs11:token={};object=signer", t.label);
    let o = run(Command::new(COSIGN)
        .args([
            "sign-blob",
            "--key",
            &bare,
            "--tlog-upload=false",
            "--bundle",
            "env.json",
            "blob.txt",
        ])
        .current_dir(w)
        .env("SOFTHSM2_CONF", TestToken::conf())
        .env("COSIGN_PKCS11_MODULE_PATH", MODULE)
        .env("COSIGN_PKCS11_PIN", PIN));
    assert!(o.status.success(), "{}", text(&o));

    // Bad references: one sentence, a non-zero exit, no PIN shown.
    for (bad, want) in [
        (uri.replace(PIN, "0000"), "the token refused the PIN"),
        (
            uri.replace("object=signer", "object=nobody"),
            "no such private key",
        ),
        (uri.replace(MODULE, "/nonexistent/p11.so"), "does not load"),
        (bare.clone(), "no PKCS#11 module"),
    ] {
        let o = cosign(
            w,
            &[
                "sign-blob",
                "--key",
                &bad,
                "--tlog-upload=false",
                "--bundle",
                "bad.json",
                "blob.txt",
            ],
        );
        assert_eq!(o.status.code(), Some(1), "{bad}");
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(e.contains(want), "{bad}: {e}");
        assert_eq!(e.trim().lines().count(), 1, "{e}");
        assert!(!e.contains("0000") && !e.contains(PIN), "{e}");
    }

    // Images, logged in the stack's Rekor.
    let reg = start_registry().await;
    let s = sigstore_lite::Stack::start(&sigstore_lite::Options::loopback(&w.join("stack")))
        .await
        .unwrap();
    let tc = s.trust_config_path().to_str().unwrap().to_string();
    let image = format!("{}/hsm/app:1", reg.addr);
    push_image(w, &image, "signed with a token key");
    let w2 = w.to_path_buf();
    let (img, tc2, uri2) = (image.clone(), tc.clone(), uri.clone());
    let o = tokio::task::spawn_blocking(move || {
        cosign(
            &w2,
            &["sign", &img, "--key", &uri2, "--trust-config", &tc2, "-y"],
        )
    })
    .await
    .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    for key in ["cosign.pub".to_string(), uri.clone()] {
        let (w2, img, tc2) = (w.to_path_buf(), image.clone(), tc.clone());
        let o = tokio::task::spawn_blocking(move || {
            cosign(
                &w2,
                &["verify", &img, "--key", &key, "--trust-config", &tc2],
            )
        })
        .await
        .unwrap();
        assert!(o.status.success(), "{}", text(&o));
    }
    s.stop().await;
}

/// cosign's KMS plugin protocol end to end, with a plugin written in Python for the test
/// (tests/kms-plugin/sigstore-kms-testkms): cosign-keyless makes a key through it and signs,
/// rekor-lite signs its log with it; a plugin that fails gives 503 JSON and NOT_SERVING, and
/// the log recovers when it answers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kms_plugin_signs_for_cosign_keyless_and_rekor_lite() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path();
    let path = binaries::kms_test_plugin(w);
    let kms = |c: &mut Command| -> Output { run(c.current_dir(w).env("PATH", &path)) };

    let key = format!("testkms://{}", w.join("signer.pem").display());
    let o = kms(Command::new(COSIGN).args(["generate-key-pair", "--kms", &key]));
    assert!(o.status.success(), "{}", text(&o));
    let calls = std::fs::read_to_string(w.join("signer.pem.calls")).unwrap();
    assert!(
        calls.starts_with("defaultAlgorithm\ncreateKey\n"),
        "{calls}"
    );
    std::fs::write(w.join("blob.txt"), "a blob\n").unwrap();
    let o = kms(Command::new(COSIGN).args([
        "sign-blob",
        "--key",
        &key,
        "--tlog-upload=false",
        "--bundle",
        "blob.json",
        "blob.txt",
    ]));
    assert!(o.status.success(), "{}", text(&o));
    for k in ["cosign.pub", key.as_str()] {
        let o = kms(Command::new(COSIGN).args([
            "verify-blob",
            "--key",
            k,
            "--insecure-ignore-tlog",
            "--bundle",
            "blob.json",
            "blob.txt",
        ]));
        assert!(o.status.success(), "{k}: {}", text(&o));
    }
    std::fs::write(w.join("blob2.txt"), "another blob\n").unwrap();
    let o = kms(Command::new(COSIGN).args([
        "sign-blob",
        "--key",
        &key,
        "--tlog-upload=false",
        "--bundle",
        "blob2.json",
        "blob2.txt",
    ]));
    assert!(o.status.success(), "{}", text(&o));
    let o = kms(Command::new(COSIGN).args([
        "sign-blob",
        "--key",
        "nokms://k",
        "--tlog-upload=false",
        "--bundle",
        "no.json",
        "blob.txt",
    ]));
    assert!(!o.status.success());
    assert!(
        text(&o).contains("sigstore-kms-nokms is not on PATH"),
        "{}",
        text(&o)
    );

    // rekor-lite's log key through the plugin.
    let log_key = format!("testkms://{}", w.join("log.pem").display());
    let rekor = binaries::binary("rekor-lite", "rekor-lite");
    let mut child = Command::new(&rekor)
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(w.join("log"))
        .args(["--key", &log_key, "--create-key"])
        .env("PATH", &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let _child = Running(child);
    let url = line
        .split_whitespace()
        .find(|s| s.starts_with("http"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_string();
    let log_public = {
        let (_, log) = status(&format!("{url}/api/v1/log")).await;
        let note =
            sigstore_lite_core::note::SignedNote::parse(log["signedTreeHead"].as_str().unwrap())
                .unwrap();
        let pem = run(Command::new(binaries::venv_python())
            .args([
                "-c",
                "import sys;from cryptography.hazmat.primitives import serialization as s;k=s.load_pem_private_key(open(sys.argv[1],'rb').read(),None);sys.stdout.write(k.public_key().public_bytes(s.Encoding.PEM,s.PublicFormat.SubjectPublicKeyInfo).decode())",
            ])
            .arg(w.join("log.pem")));
        let public = PublicKey::from_pem(&String::from_utf8(pem.stdout).unwrap()).unwrap();
        public
            .verify_message(note.text.as_bytes(), &note.signatures[0].signature)
            .unwrap();
        public
    };
    // An entry gets a SET signed through the plugin.
    let blob_key = std::fs::read_to_string(w.join("cosign.pub")).unwrap();
    let entry_for = |bundle: &str, content: &[u8]| {
        let sig = B64
            .decode(
                serde_json::from_slice::<Value>(&std::fs::read(w.join(bundle)).unwrap()).unwrap()
                    ["messageSignature"]["signature"]
                    .as_str()
                    .unwrap(),
            )
            .unwrap();
        serde_json::json!({
            "apiVersion": "0.0.1", "kind": "hashedrekord",
            "spec": {"signature": {"content": B64.encode(&sig),
                                   "publicKey": {"content": B64.encode(blob_key.as_bytes())}},
                     "data": {"hash": {"algorithm": "sha256",
                                       "value": hex::encode(sigstore_lite_core::keys::sha256(content))}}}
        })
    };
    let entry = entry_for("blob.json", b"a blob\n");
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{url}/api/v1/log/entries"))
        .json(&entry)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let created: Value = r.json().await.unwrap();
    let (_, e) = created.as_object().unwrap().iter().next().unwrap();
    let le: sigstore_lite_core::rekor::LogEntry = serde_json::from_value(e.clone()).unwrap();
    sigstore_lite_core::rekor::verify_set(&log_public, &le).unwrap();

    // The KMS goes away: 503 JSON and NOT_SERVING; back: SERVING, and entries are taken again.
    // The KMS goes away. A plugin is a process per call, so the log learns it at its next
    // signature: the entry is refused with 503 JSON, then /healthz says NOT_SERVING.
    std::fs::write(w.join("log.pem.broken"), "").unwrap();
    let other = entry_for("blob2.json", b"another blob\n");
    let r = client
        .post(format!("{url}/api/v1/log/entries"))
        .json(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["reason"], "signing_key_unavailable", "{body}");
    assert_eq!(body["code"], 503, "{body}");
    let (code, body) = status(&format!("{url}/healthz")).await;
    assert_eq!(
        (code, body["reason"].as_str()),
        (503, Some("signing_key_unavailable")),
        "{body}"
    );
    std::fs::remove_file(w.join("log.pem.broken")).unwrap();
    let (code, body) = status(&format!("{url}/healthz")).await;
    assert_eq!(code, 200, "{body}");
    let (_, log) = status(&format!("{url}/api/v1/log")).await;
    assert_eq!(
        log["treeSize"], 1,
        "the refused entry was not logged: {log}"
    );
    let r = client
        .post(format!("{url}/api/v1/log/entries"))
        .json(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "taken again once the KMS answers");
}
