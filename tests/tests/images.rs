//! cosign-keyless image signatures in the legacy `.sig` layout (`--new-bundle-format=false`)
//! against real parts on 127.0.0.1: the CNCF distribution registry (Debian `docker-registry`),
//! images built with umoci and pushed with skopeo, and the whole sigstore-lite stack. The bundle
//! layout and attestations are `attest.rs`. These tests fail, never skip, when those tools are missing (scripts/test
//! and .ci/run install them).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use registry_client::{Reference, Registry, OCI_MANIFEST};
use serde_json::Value;

use sigstore_lite_tests::registry::{push_image, start_registry, start_registry_with, tool};

async fn stack(dir: &Path) -> sigstore_lite::Stack {
    sigstore_lite::Stack::start(&sigstore_lite::Options::loopback(dir))
        .await
        .unwrap()
}

async fn cosign(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_cosign-keyless-e2e"))
            .args(args)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn v(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

struct Env {
    tc: String,
    issuer: String,
}

impl Env {
    async fn sign(&self, image: &str, token: &str) -> Output {
        cosign(v(&[
            "sign",
            "--new-bundle-format=false",
            image,
            "--identity-token",
            token,
            "--trust-config",
            &self.tc,
            "-y",
        ]))
        .await
    }

    async fn verify(&self, image: &str, extra: &[&str]) -> Output {
        let mut a = v(&[
            "verify",
            image,
            "--trust-config",
            &self.tc,
            "--certificate-oidc-issuer",
            &self.issuer,
        ]);
        a.extend(v(extra));
        if !extra
            .iter()
            .any(|e| e.starts_with("--certificate-identity"))
        {
            a.extend(v(&["--certificate-identity", "alice@example.com"]));
        }
        cosign(a).await
    }
}

/// Rewrites the annotations of the first layer of the image's signature manifest.
async fn tamper(image: &str, f: impl Fn(&mut serde_json::Map<String, Value>)) {
    let reg = Registry::new(false);
    let r = Reference::parse(image).unwrap();
    let digest = reg.resolve(&r).await.unwrap();
    let tag = cosign_keyless::image::signature_tag(&digest);
    let (body, _, _) = reg.manifest(&r, &tag).await.unwrap().unwrap();
    let mut m: Value = serde_json::from_slice(&body).unwrap();
    f(m["layers"][0]["annotations"].as_object_mut().unwrap());
    reg.put_manifest(&r, &tag, &serde_json::to_vec(&m).unwrap(), OCI_MANIFEST)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_and_verify_images_and_every_way_verification_fails() {
    let reg = start_registry().await;
    let dir = tempfile::tempdir().unwrap();
    let s = sigstore_lite::testing::Stack::start().await.unwrap();
    let env = Env {
        tc: s.trust_config().to_str().unwrap().to_string(),
        issuer: s.oidc_url().to_string(),
    };
    let token = mock_oidc::fetch_token(s.oidc_url(), &mock_oidc::email_claims("alice@example.com"))
        .await
        .unwrap();
    let image = format!("{}/demo/app:v1", reg.addr);
    push_image(dir.path(), &image, "version one");

    // Not signed yet: exit 10. A missing tag: exit 11.
    assert_eq!(env.verify(&image, &[]).await.status.code(), Some(10));
    assert_eq!(
        env.verify(&format!("{}/demo/app:nope", reg.addr), &[])
            .await
            .status
            .code(),
        Some(11)
    );

    let o = env.sign(&image, &token).await;
    assert!(o.status.success(), "{}", err(&o));
    assert!(
        err(&o).contains("Signing the digest"),
        "says it signs the digest of a tag: {}",
        err(&o)
    );
    let o = env.verify(&image, &[]).await;
    assert!(o.status.success(), "{}", err(&o));
    let out: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap();
    let digest = Registry::new(false)
        .resolve(&Reference::parse(&image).unwrap())
        .await
        .unwrap();
    assert_eq!(
        out[0]["critical"]["image"]["docker-manifest-digest"],
        Value::String(digest.clone())
    );
    assert_eq!(
        out[0]["critical"]["identity"]["docker-reference"],
        Value::String(format!("{}/demo/app", reg.addr))
    );
    assert_eq!(out[0]["optional"]["Subject"], "alice@example.com");
    assert!(err(&o).contains(&format!("Verification for {image}")));
    // By digest, offline, and with anchored regexps.
    assert!(env
        .verify(&format!("{}/demo/app@{digest}", reg.addr), &["--offline"])
        .await
        .status
        .success());
    assert!(env
        .verify(&image, &["--certificate-identity-regexp", "alice@.*"])
        .await
        .status
        .success());

    let fails = |o: Output, needle: &str| {
        assert_eq!(o.status.code(), Some(12), "{}", err(&o));
        assert!(
            err(&o).contains(needle),
            "expected {needle:?} in {}",
            err(&o)
        );
        assert_eq!(
            err(&o).trim().lines().count(),
            1,
            "one sentence: {}",
            err(&o)
        );
    };
    fails(
        env.verify(&image, &["--certificate-identity", "mallory@example.com"])
            .await,
        "identity does not match",
    );
    let o = cosign(v(&[
        "verify",
        &image,
        "--trust-config",
        &env.tc,
        "--certificate-identity",
        "alice@example.com",
        "--certificate-oidc-issuer",
        "https://accounts.google.com",
    ]))
    .await;
    fails(o, "issuer does not match");
    fails(
        env.verify(&image, &["--certificate-identity-regexp", "alice"])
            .await,
        "identity does not match",
    );

    // A second signature is appended, not replacing the first; `tree` shows both.
    let bob = mock_oidc::fetch_token(s.oidc_url(), &mock_oidc::email_claims("bob@example.com"))
        .await
        .unwrap();
    assert!(env.sign(&image, &bob).await.status.success());
    assert!(env
        .verify(&image, &["--certificate-identity", "bob@example.com"])
        .await
        .status
        .success());
    assert!(env.verify(&image, &[]).await.status.success());
    let t = cosign(v(&["tree", &image])).await;
    assert_eq!(String::from_utf8_lossy(&t.stdout).matches("🍒").count(), 2);
    let t = cosign(v(&["triangulate", &image])).await;
    assert_eq!(
        String::from_utf8_lossy(&t.stdout).trim(),
        format!(
            "{}/demo/app:{}",
            reg.addr,
            cosign_keyless::image::signature_tag(&digest)
        )
    );

    // Tampered SET: refused offline with its own message.
    tamper(&image, |a| {
        let mut b: Value =
            serde_json::from_str(a["dev.sigstore.cosign/bundle"].as_str().unwrap()).unwrap();
        b["Payload"]["integratedTime"] =
            Value::from(b["Payload"]["integratedTime"].as_i64().unwrap() + 1);
        a.insert(
            "dev.sigstore.cosign/bundle".into(),
            Value::String(b.to_string()),
        );
    })
    .await;
    fails(
        env.verify(&image, &["--offline"]).await,
        "signed entry timestamp",
    );
    // SET removed: offline has nothing to prove the signing time; online finds the entry in Rekor.
    tamper(&image, |a| {
        a.remove("dev.sigstore.cosign/bundle");
    })
    .await;
    fails(
        env.verify(&image, &["--offline"]).await,
        "no signed entry timestamp",
    );
    assert!(
        env.verify(&image, &[]).await.status.success(),
        "online verification finds the log entry"
    );
    // Certificate removed: exit 13.
    tamper(&image, |a| {
        a.remove("dev.sigstore.cosign/certificate");
    })
    .await;
    // Alice's layer lost its certificate; Bob's still verifies, Alice's no longer does.
    assert!(env
        .verify(&image, &["--certificate-identity", "bob@example.com"])
        .await
        .status
        .success());
    assert_eq!(env.verify(&image, &[]).await.status.code(), Some(12));

    // A different image pushed under the signed tag: its digest has no signatures.
    push_image(dir.path(), &image, "version two, not signed");
    let o = env.verify(&image, &[]).await;
    assert_eq!(o.status.code(), Some(10), "{}", err(&o));

    // A signature made under another CA (a second stack) does not verify with this trust root.
    let other = sigstore_lite::testing::Stack::start().await.unwrap();
    let image2 = format!("{}/demo/other:v1", reg.addr);
    push_image(dir.path(), &image2, "other");
    let t2 = mock_oidc::fetch_token(
        other.oidc_url(),
        &mock_oidc::email_claims("alice@example.com"),
    )
    .await
    .unwrap();
    let env2 = Env {
        tc: other.trust_config().to_str().unwrap().to_string(),
        issuer: other.oidc_url().to_string(),
    };
    assert!(env2.sign(&image2, &t2).await.status.success());
    let o = cosign(v(&[
        "verify",
        &image2,
        "--trust-config",
        &env.tc,
        "--certificate-identity",
        "alice@example.com",
        "--certificate-oidc-issuer",
        other.oidc_url(),
        "--offline",
    ]))
    .await;
    assert_eq!(o.status.code(), Some(12), "{}", err(&o));
    assert!(
        err(&o).contains("log entry is from log") || err(&o).contains("does not chain"),
        "{}",
        err(&o)
    );
    other.stop().await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signature_without_a_certificate_exits_13() {
    let reg = start_registry().await;
    let dir = tempfile::tempdir().unwrap();
    let s = sigstore_lite::testing::Stack::start().await.unwrap();
    let env = Env {
        tc: s.trust_config().to_str().unwrap().to_string(),
        issuer: s.oidc_url().to_string(),
    };
    let token = mock_oidc::fetch_token(s.oidc_url(), &mock_oidc::email_claims("alice@example.com"))
        .await
        .unwrap();
    let image = format!("{}/demo/nocert:v1", reg.addr);
    push_image(dir.path(), &image, "no cert");
    assert!(env.sign(&image, &token).await.status.success());
    tamper(&image, |a| {
        a.remove("dev.sigstore.cosign/certificate");
    })
    .await;
    let o = env.verify(&image, &[]).await;
    assert_eq!(o.status.code(), Some(13), "{}", err(&o));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_survive_a_restart_of_the_stack() {
    let reg = start_registry().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("stack");
    let s = stack(&data).await;
    let token = mock_oidc::fetch_token(&s.oidc_url, &mock_oidc::email_claims("alice@example.com"))
        .await
        .unwrap();
    let env = Env {
        tc: s.trust_config_path().to_str().unwrap().to_string(),
        issuer: s.oidc_url.clone(),
    };
    let image = format!("{}/demo/restart:v1", reg.addr);
    push_image(dir.path(), &image, "restart me");
    assert!(env.sign(&image, &token).await.status.success());
    let issuer = s.oidc_url.clone();
    s.stop().await;
    // New ports after the restart, same keys, CA and log: the old signature still verifies, online
    // (found in the restarted log) and offline.
    let s = stack(&data).await;
    let env = Env {
        tc: s.trust_config_path().to_str().unwrap().to_string(),
        issuer,
    };
    let o = env.verify(&image, &[]).await;
    assert!(o.status.success(), "{}", err(&o));
    tamper(&image, |a| {
        a.remove("dev.sigstore.cosign/bundle");
    })
    .await;
    let o = env.verify(&image, &[]).await;
    assert!(
        o.status.success(),
        "found in the restarted log: {}",
        err(&o)
    );
    s.stop().await;
}

fn cosign_env(args: Vec<String>, dir: &Path, password: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cosign-keyless-e2e"))
        .args(args)
        .current_dir(dir)
        .env("COSIGN_PASSWORD", password)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_pair_mode_signs_and_verifies_images_and_blobs() {
    let reg = start_registry().await;
    let dir = tempfile::tempdir().unwrap();
    let s = sigstore_lite::testing::Stack::start().await.unwrap();
    let tc = s.trust_config().to_str().unwrap().to_string();
    let w = dir.path().to_path_buf();
    let run = |args: Vec<String>, pw: &'static str| {
        let w = w.clone();
        async move {
            tokio::task::spawn_blocking(move || cosign_env(args, &w, pw))
                .await
                .unwrap()
        }
    };
    let o = run(v(&["generate-key-pair"]), "s3cret").await;
    assert!(o.status.success(), "{}", err(&o));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(w.join("cosign.key"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
    }
    assert!(std::fs::read_to_string(w.join("cosign.key"))
        .unwrap()
        .contains("ENCRYPTED SIGSTORE PRIVATE KEY"));
    assert!(std::fs::read_to_string(w.join("cosign.pub"))
        .unwrap()
        .starts_with("-----BEGIN PUBLIC KEY-----"));
    let o = run(v(&["generate-key-pair"]), "s3cret").await;
    assert!(
        !o.status.success() && err(&o).contains("already exists"),
        "{}",
        err(&o)
    );
    let o = run(
        v(&["generate-key-pair", "--output-key-prefix", "other"]),
        "x",
    )
    .await;
    assert!(o.status.success());

    // Images: signed with the key and logged in Rekor.
    let image = format!("{}/demo/keyed:v1", reg.addr);
    push_image(dir.path(), &image, "keyed");
    let o = run(
        v(&[
            "sign",
            "--new-bundle-format=false",
            "--key",
            "cosign.key",
            &image,
            "--trust-config",
            &tc,
        ]),
        "s3cret",
    )
    .await;
    assert!(o.status.success(), "{}", err(&o));
    let o = run(
        v(&[
            "sign",
            "--new-bundle-format=false",
            "--key",
            "cosign.key",
            &image,
            "--trust-config",
            &tc,
        ]),
        "wrong",
    )
    .await;
    assert!(
        !o.status.success() && err(&o).contains("password is wrong"),
        "{}",
        err(&o)
    );
    let o = run(
        v(&[
            "verify",
            "--key",
            "cosign.pub",
            &image,
            "--trust-config",
            &tc,
            "--offline",
        ]),
        "",
    )
    .await;
    assert!(o.status.success(), "{}", err(&o));
    assert!(err(&o).contains("specified public key"));
    let o = run(
        v(&[
            "verify",
            "--key",
            "other.pub",
            &image,
            "--trust-config",
            &tc,
        ]),
        "",
    )
    .await;
    assert_eq!(o.status.code(), Some(12), "{}", err(&o));
    // A keyless verification finds no certificate on a key-signed image.
    let o = run(
        v(&[
            "verify",
            &image,
            "--trust-config",
            &tc,
            "--certificate-identity",
            "a@b.c",
            "--certificate-oidc-issuer",
            "x",
        ]),
        "",
    )
    .await;
    assert_eq!(o.status.code(), Some(13), "{}", err(&o));
    // Without the log: refused unless the log is explicitly ignored.
    let image2 = format!("{}/demo/keyed2:v1", reg.addr);
    push_image(dir.path(), &image2, "keyed, not logged");
    let o = run(
        v(&[
            "sign",
            "--new-bundle-format=false",
            "--key",
            "cosign.key",
            &image2,
            "--tlog-upload=false",
        ]),
        "s3cret",
    )
    .await;
    assert!(o.status.success(), "{}", err(&o));
    let o = run(
        v(&[
            "verify",
            "--key",
            "cosign.pub",
            &image2,
            "--trust-config",
            &tc,
            "--offline",
        ]),
        "",
    )
    .await;
    assert_eq!(o.status.code(), Some(12), "{}", err(&o));
    let o = run(
        v(&[
            "verify",
            "--key",
            "cosign.pub",
            &image2,
            "--insecure-ignore-tlog",
        ]),
        "",
    )
    .await;
    assert!(o.status.success(), "{}", err(&o));

    // Blobs.
    std::fs::write(w.join("f.txt"), b"blob signed with a key\n").unwrap();
    let o = run(
        v(&[
            "sign-blob",
            "--key",
            "cosign.key",
            "f.txt",
            "--bundle",
            "f.json",
            "--trust-config",
            &tc,
        ]),
        "s3cret",
    )
    .await;
    assert!(o.status.success(), "{}", err(&o));
    let o = run(
        v(&[
            "verify-blob",
            "--key",
            "cosign.pub",
            "f.txt",
            "--bundle",
            "f.json",
            "--trust-config",
            &tc,
        ]),
        "",
    )
    .await;
    assert!(o.status.success(), "{}", err(&o));
    let o = run(
        v(&[
            "verify-blob",
            "--key",
            "other.pub",
            "f.txt",
            "--bundle",
            "f.json",
            "--trust-config",
            &tc,
        ]),
        "",
    )
    .await;
    assert_eq!(o.status.code(), Some(12), "{}", err(&o));
    std::fs::write(w.join("g.txt"), b"another blob\n").unwrap();
    let o = run(
        v(&[
            "verify-blob",
            "--key",
            "cosign.pub",
            "g.txt",
            "--bundle",
            "f.json",
            "--trust-config",
            &tc,
        ]),
        "",
    )
    .await;
    assert_eq!(o.status.code(), Some(12), "{}", err(&o));
    let o = run(
        v(&[
            "sign-blob",
            "--key",
            "cosign.key",
            "f.txt",
            "--bundle",
            "f2.json",
            "--tlog-upload=false",
        ]),
        "s3cret",
    )
    .await;
    assert!(o.status.success(), "{}", err(&o));
    let o = run(
        v(&[
            "verify-blob",
            "--key",
            "cosign.pub",
            "f.txt",
            "--bundle",
            "f2.json",
            "--trust-config",
            &tc,
        ]),
        "",
    )
    .await;
    assert_eq!(o.status.code(), Some(12), "{}", err(&o));
    assert!(err(&o).contains("no transparency log entry"), "{}", err(&o));
    let o = run(
        v(&[
            "verify-blob",
            "--key",
            "cosign.pub",
            "f.txt",
            "--bundle",
            "f2.json",
            "--insecure-ignore-tlog",
        ]),
        "",
    )
    .await;
    assert!(o.status.success(), "{}", err(&o));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_credentials_come_from_the_docker_config() {
    let reg = start_registry_with(Some(("ci", "hunter2"))).await;
    let dir = tempfile::tempdir().unwrap();
    let s = sigstore_lite::testing::Stack::start().await.unwrap();
    let token = mock_oidc::fetch_token(s.oidc_url(), &mock_oidc::email_claims("alice@example.com"))
        .await
        .unwrap();
    let image = format!("{}/private/app:v1", reg.addr);
    // Push with skopeo and credentials.
    let layout = dir.path().join("l");
    let l = layout.to_str().unwrap();
    for args in [
        vec!["init", "--layout", l],
        vec!["new", "--image", &format!("{l}:latest")],
    ] {
        assert!(Command::new(tool("umoci"))
            .args(&args)
            .output()
            .unwrap()
            .status
            .success());
    }
    let o = Command::new(tool("skopeo"))
        .args([
            "copy",
            "-q",
            "--dest-tls-verify=false",
            "--dest-creds",
            "ci:hunter2",
            &format!("oci:{l}:latest"),
            &format!("docker://{image}"),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let tc = s.trust_config().to_str().unwrap().to_string();
    let sign = |docker_config: Option<PathBuf>| {
        let (image, token, tc) = (image.clone(), token.clone(), tc.clone());
        async move {
            tokio::task::spawn_blocking(move || {
                let mut c = Command::new(env!("CARGO_BIN_EXE_cosign-keyless-e2e"));
                c.args([
                    "sign",
                    "--new-bundle-format=false",
                    &image,
                    "--identity-token",
                    &token,
                    "--trust-config",
                    &tc,
                ]);
                match docker_config {
                    Some(d) => c.env("DOCKER_CONFIG", d),
                    None => c.env("DOCKER_CONFIG", "/nonexistent").env_remove("HOME"),
                };
                c.output().unwrap()
            })
            .await
            .unwrap()
        }
    };
    // Without credentials: refused, one sentence.
    let o = sign(None).await;
    assert!(!o.status.success());
    assert!(err(&o).contains("needs credentials"), "{}", err(&o));
    // With a Docker config naming the registry: signed, and verifiable with the same config.
    let cfg_dir = dir.path().join("docker");
    std::fs::create_dir_all(&cfg_dir).unwrap();
    let auth = registry_client::docker_auth_entry("ci", "hunter2");
    std::fs::write(
        cfg_dir.join("config.json"),
        format!(
            "{{\"auths\": {{\"{}\": {{\"auth\": \"{auth}\"}}}}}}",
            reg.addr
        ),
    )
    .unwrap();
    let o = sign(Some(cfg_dir.clone())).await;
    assert!(o.status.success(), "{}", err(&o));
    let args = v(&[
        "verify",
        &image,
        "--trust-config",
        &tc,
        "--certificate-identity",
        "alice@example.com",
        "--certificate-oidc-issuer",
        s.oidc_url(),
    ]);
    let o = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_cosign-keyless-e2e"))
            .args(args)
            .env("DOCKER_CONFIG", cfg_dir)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(o.status.success(), "{}", err(&o));
    s.stop().await;
}
