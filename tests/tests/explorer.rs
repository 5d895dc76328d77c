//! The log explorer in a real browser (headless Chromium, Debian's package): it loads the pages
//! the stack serves after real signatures were logged, runs the page's script (which re-checks
//! the proofs with WebCrypto), and the test asserts on the resulting DOM. A screenshot of an
//! entry page is written to target/screenshots for people to look at. A hostile log whose
//! entry holds markup shows it as inert text. The tour runs end to end against the stack and a
//! real registry.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use registry_client::{Reference, Registry};
use serde_json::json;
use sigstore_lite_tests::registry::{push_image, start_registry};

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn chromium() -> PathBuf {
    for p in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!("chromium is not installed: run `bash scripts/test` (apt-get install chromium)");
}

fn browser_args(profile: &Path) -> Vec<String> {
    vec![
        "--headless".into(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--no-first-run".into(),
        "--disable-dev-shm-usage".into(),
        format!("--user-data-dir={}", profile.display()),
        // Let the page's script (async WebCrypto) finish before the DOM is taken.
        "--virtual-time-budget=10000".into(),
    ]
}

/// The DOM after the page and its script ran.
async fn dom(url: &str) -> String {
    let url = url.to_string();
    tokio::task::spawn_blocking(move || {
        let profile = tempfile::tempdir().unwrap();
        let o = Command::new(chromium())
            .args(browser_args(profile.path()))
            .arg("--dump-dom")
            .arg(&url)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "chromium {url}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    })
    .await
    .unwrap()
}

async fn screenshot(url: &str, out: &Path) {
    let (url, out) = (url.to_string(), out.to_path_buf());
    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(out.parent().unwrap()).unwrap();
        let profile = tempfile::tempdir().unwrap();
        let o = Command::new(chromium())
            .args(browser_args(profile.path()))
            .arg(format!("--screenshot={}", out.display()))
            .arg("--window-size=1280,1400")
            .arg(&url)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    })
    .await
    .unwrap();
}

/// The text of the element with `id` in a dumped DOM.
fn text_of(dom: &str, id: &str) -> String {
    let start = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in the page"));
    let open = start + dom[start..].find('>').unwrap() + 1;
    let close = open + dom[open..].find("</").unwrap();
    dom[open..close].to_string()
}

async fn sign_blob(
    trust: &cosign_keyless::trust::Trust,
    dir: &Path,
    token: &str,
    content: &str,
) -> String {
    let f = dir.join(format!("a{}.txt", content.len()));
    std::fs::write(&f, content).unwrap();
    cosign_keyless::blob::sign_blob(trust, &f, token, now(), Default::default())
        .await
        .unwrap();
    hex::encode(sigstore_lite_core::keys::sha256(content.as_bytes()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explorer_in_a_real_browser_and_the_tour() {
    let dir = tempfile::tempdir().unwrap();
    let stack =
        sigstore_lite::Stack::start(&sigstore_lite::Options::loopback(&dir.path().join("stack")))
            .await
            .unwrap();
    let ex = stack.explorer_url.clone();
    let tc = stack.trust_config_path();
    // Rekor v1 (search) and v2 (the signing config's default) entries.
    let v1 = cosign_keyless::trust::Trust::load(
        None,
        None,
        Some(&tc),
        None,
        Some(&stack.rekor_url),
        now(),
    )
    .unwrap();
    let v2 = cosign_keyless::trust::Trust::load(None, None, Some(&tc), None, None, now()).unwrap();
    let token = |who: &'static str| {
        let url = stack.oidc_url.clone();
        async move {
            mock_oidc::fetch_token(&url, &mock_oidc::email_claims(who))
                .await
                .unwrap()
        }
    };
    let (alice, bob) = (
        token("alice@example.com").await,
        token("bob@example.com").await,
    );
    let a1 = sign_blob(&v1, dir.path(), &alice, "first artifact\n").await;
    sign_blob(&v1, dir.path(), &alice, "second artifact, longer\n").await;
    sign_blob(&v1, dir.path(), &bob, "bob's artifact, longer still\n").await;
    sign_blob(&v2, dir.path(), &alice, "through rekor v2\n").await;

    // Search by e-mail and by hash.
    let d = dom(&format!("{ex}/search?q=alice%40example.com")).await;
    assert!(d.contains("2 entries for alice@example.com"), "{d}");
    assert_eq!(d.matches("class=\"entry-link\"").count(), 2);
    assert!(!d.contains("bob@example.com"));
    let d = dom(&format!("{ex}/search?q=sha256%3A{a1}")).await;
    assert!(d.contains("1 entry for"), "{d}");

    // The visitor's mistakes are 4xx, never the log failing (502): a key that does not parse,
    // a log that does not exist, an index the log does not hold.
    let pem = sigstore_lite_core::keys::P256Signer::generate_p256()
        .unwrap()
        .public_key()
        .to_pem();
    let enc = |s: &str| s.bytes().map(|b| format!("%{b:02X}")).collect::<String>();
    for (path, status) in [
        (
            format!(
                "/search?kind=key&q={}",
                enc("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
            ),
            400,
        ),
        (
            format!(
                "/search?q={}",
                enc("-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----")
            ),
            400,
        ),
        (format!("/search?kind=key&q={}", enc(&pem)), 200),
        ("/entry?log=v3&index=0".to_string(), 400),
        ("/entry?log=&index=0".to_string(), 400),
        ("/log?log=v3".to_string(), 400),
        ("/entry?log=v1&index=0".to_string(), 200),
        ("/entry?index=999999".to_string(), 404),
        ("/log?log=v1".to_string(), 200),
    ] {
        let r = reqwest::get(format!("{ex}{path}")).await.unwrap();
        assert_eq!(r.status().as_u16(), status, "{path}");
    }

    // An entry: who signed, the certificate field by field, the SET, and the proof the page
    // re-verified.
    let d = dom(&format!("{ex}/entry?index=0")).await;
    assert!(
        d.contains("<td class=\"identity\">alice@example.com</td>"),
        "{d}"
    );
    assert!(d.contains("Issuer (V2) (1.3.6.1.4.1.57264.1.8)"), "{d}");
    assert!(d.contains(&stack.oidc_url));
    assert!(d.contains("verifies with the log's public key"));
    assert!(
        d.contains(&format!("<code>{a1}</code>")),
        "the artifact hash"
    );
    assert!(text_of(&d, "server-verdict").starts_with("verified"));
    let verdict = text_of(&d, "proof-verdict");
    assert!(
        verdict.starts_with(
            "verified: the path from this body leads to the root hash of the signed checkpoint"
        ),
        "{verdict}"
    );
    assert!(
        d.contains("leaf 0: SHA-256(0x00 ‖ body)"),
        "the path is drawn: {d}"
    );
    assert!(
        d.contains("href=\"/search?kind=email&amp;q=alice%40example.com\""),
        "links to the same identity"
    );
    let shot =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots/explorer-entry.png");
    screenshot(&format!("{ex}/entry?index=0"), &shot).await;
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "a real screenshot"
    );

    // The log page, and a consistency proof from a checkpoint the explorer saw to a later one.
    let d = dom(&format!("{ex}/log")).await;
    assert_eq!(text_of(&d, "tree-size"), "3");
    sign_blob(
        &v1,
        dir.path(),
        &bob,
        "one more, to grow the tree by one entry\n",
    )
    .await;
    let d = dom(&format!("{ex}/log?first=3&second=4")).await;
    let c = text_of(&d, "consistency-verdict");
    assert_eq!(
        c, "consistent: the tree of 3 is a prefix of the tree of 4",
        "{d}"
    );

    // Rekor v2: the checkpoint, and an entry read from the tiles with a proof from the hash tiles.
    let d = dom(&format!("{ex}/entry?log=v2&index=0")).await;
    assert!(d.contains("hashedrekord 0.0.2"), "{d}");
    assert!(d.contains("<td class=\"identity\">alice@example.com</td>"));
    assert!(text_of(&d, "proof-verdict").starts_with("verified"), "{d}");

    // Reflected input is inert text.
    let d = dom(&format!(
        "{ex}/search?kind=email&q=%3Cscript%3Edocument.title%3D%27pwned%27%3C%2Fscript%3E"
    ))
    .await;
    assert!(
        d.contains("&lt;script&gt;document.title='pwned'&lt;/script&gt;"),
        "{d}"
    );
    assert!(!d.contains("<title>pwned"));

    // A hostile log: an entry whose body and kind hold markup stays inert in the page.
    let hostile_body = json!({"apiVersion": "0.0.1", "kind": "<img src=x onerror=\"document.title='pwned'\">",
        "spec": {"note": "<script>document.title='pwned'</script>"}});
    let b64 = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        hostile_body.to_string(),
    );
    let entry = json!({"e0": {"body": b64, "integratedTime": 1, "logID": "<b>x</b>", "logIndex": 0,
        "verification": {"signedEntryTimestamp": "<script>x</script>"}}});
    let hostile = axum::Router::new()
        .route(
            "/api/v1/log/entries",
            axum::routing::get(move || {
                let e = entry.clone();
                async move { axum::Json(e) }
            }),
        )
        .route(
            "/api/v1/log/publicKey",
            axum::routing::get(|| async { "not a key" }),
        );
    let hl = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hostile_url = format!("http://{}", hl.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(hl, hostile).await.unwrap() });
    let el = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hostile_ex = format!("http://{}", el.local_addr().unwrap());
    tokio::spawn(sigstore_lite::explorer::serve(
        el,
        sigstore_lite::explorer::Source {
            rekor_v1: Some(hostile_url),
            rekor_v2: None,
            extra_root: None,
        },
        std::future::pending(),
    ));
    let d = dom(&format!("{hostile_ex}/entry?index=0")).await;
    assert!(!d.contains("<title>pwned"), "{d}");
    assert!(!d.contains("<img src=\"x\""), "{d}");
    assert!(
        d.contains("&lt;script&gt;document.title='pwned'&lt;/script&gt;"),
        "{d}"
    );
    assert!(
        d.contains("does NOT verify"),
        "the SET of a hostile log does not verify"
    );

    // The tour, end to end: token, certificate, log, then an image in a real registry signed,
    // attested, verified and admitted.
    let reg = start_registry().await;
    let image = format!("{}/tour/app:v1", reg.addr);
    push_image(dir.path(), &image, "the tour's image");
    let digest = Registry::new(false)
        .resolve(&Reference::parse(&image).unwrap())
        .await
        .unwrap();
    let args = sigstore_lite::tour::TourArgs {
        data_dir: stack.data_dir.clone(),
        image: Some(image.clone()),
        email: "tourist@example.com".into(),
        explorer: Some(ex.clone()),
    };
    sigstore_lite::tour::run(&args)
        .await
        .expect("the tour runs end to end");
    let d = dom(&format!("{ex}/log?log=v2")).await;
    let v2_size: u64 = text_of(&d, "tree-size").parse().unwrap();
    assert!(v2_size >= 4, "the tour logged through Rekor v2: {v2_size}");
    let refs = Registry::new(false)
        .referrers(&Reference::parse(&image).unwrap(), &digest, None)
        .await
        .unwrap();
    assert_eq!(
        refs.len(),
        2,
        "a signature and an SBOM attestation are attached"
    );

    // The tour stops, in one sentence, at the first step whose service is down.
    stack.stop().await;
    let e = sigstore_lite::tour::run(&args).await.unwrap_err();
    assert!(
        e.contains("is not running") && e.contains("sigstore-lite -- up"),
        "{e}"
    );
    let e = sigstore_lite::tour::run(&sigstore_lite::tour::TourArgs {
        data_dir: dir.path().join("nowhere"),
        ..args
    })
    .await
    .unwrap_err();
    assert!(e.contains("does not exist"), "{e}");
}
