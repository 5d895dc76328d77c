//! cosign-keyless benchmark (`cargo bench -p sigstore-lite-tests --bench client`; it starts the stack,
//! so it lives here rather than in the client crate). Prints, from one run: the cost of
//! the signature checks one offline bundle verification makes, offline bundle verifications/s on
//! one core (a public-good staging bundle, P-384 CA; and a bundle from this stack, Rekor v2 and a
//! TSA timestamp, P-256 CA), and
//! end-to-end keyless `sign-blob` latency against the stack on loopback (p50/p99), and for image
//! attestations in a real registry (Debian docker-registry): verify-attestation per image (the
//! pure check of a fetched bundle, and the whole command with its registry round trips) and
//! keyless attestations/s (sequential and 8 at a time).
//! Knobs: BENCH_VERIFIES (default 3000), BENCH_SIGNS (default 100), BENCH_ATTESTS (default 64).

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sigstore_lite_core::bundle::Bundle;
use sigstore_lite_core::keys::{DigestAlg, P256Signer};
use sigstore_lite_core::trust::TrustedRoot;
use sigstore_lite_core::verify::{verify_bundle, Artifact, Matcher, Policy, TrustMaterial};

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn per_op(n: u32, mut f: impl FnMut()) -> Duration {
    for _ in 0..n / 10 {
        f();
    }
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    t.elapsed() / n
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn vectors(f: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("vectors/sigstore")
            .join(f),
    )
    .unwrap()
}

fn main() {
    let n: u32 = env_or("BENCH_VERIFIES", "3000").parse().unwrap();
    println!("== signature checks (one core) ==");
    let k = P256Signer::generate_p256().unwrap();
    let msg = b"a message of some length, like a simple-signing payload";
    let sig = k.sign(msg);
    let digest = sigstore_lite_core::keys::sha256(msg);
    let msg_p256 = per_op(n, || k.public_key().verify_message(msg, &sig).unwrap());
    let prehash_p256 = per_op(n / 3, || {
        k.public_key()
            .verify_prehashed(DigestAlg::Sha256, &digest, &sig)
            .unwrap()
    });
    println!(
        "ECDSA P-256 verify over the bytes (aws-lc-rs) : {:>7.1} us",
        us(msg_p256)
    );
    println!(
        "ECDSA P-256 verify over a digest (aws-lc-rs)  : {:>7.1} us",
        us(prehash_p256)
    );

    println!("\n== offline bundle verification (one core) ==");
    let staging: Bundle = serde_json::from_slice(&vectors("bundle_v3.txt.sigstore")).unwrap();
    let root: TrustedRoot = serde_json::from_slice(&vectors("staging_trusted_root.json")).unwrap();
    let tm = TrustMaterial::from_trusted_root(&root).unwrap();
    let art = vectors("bundle_v3.txt");
    let policy = Policy {
        identity: Matcher::exact("william@yossarian.net"),
        issuer: Matcher::exact("https://github.com/login/oauth"),
        extensions: Vec::new(),
    };
    let t = per_op(n / 3, || {
        verify_bundle(&staging, Artifact::Bytes(&art), &tm, &policy).unwrap();
    });
    println!("public-good staging bundle (P-384 CA, 5 signatures): {:>7.1} us -> {:.0} verifies/s per core", us(t), 1.0 / t.as_secs_f64());

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let stack = rt
        .block_on(sigstore_lite::Stack::start(
            &sigstore_lite::Options::loopback(&dir.path().join("stack")),
        ))
        .unwrap();
    let trust = cosign_keyless::trust::Trust::load(
        None,
        None,
        Some(&stack.trust_config_path()),
        None,
        None,
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64,
    )
    .unwrap();
    let file = dir.path().join("artifact.txt");
    std::fs::write(&file, b"benchmark artifact\n").unwrap();
    let token = rt
        .block_on(mock_oidc::fetch_token(
            &stack.oidc_url,
            &mock_oidc::email_claims("bench@example.com"),
        ))
        .unwrap();
    let now = || {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    };
    let n_narr = cosign_keyless::keyless::Narrator::default();
    let ours = rt
        .block_on(cosign_keyless::blob::sign_blob(
            &trust,
            &file,
            &token,
            now(),
            n_narr,
        ))
        .unwrap();
    let data = std::fs::read(&file).unwrap();
    let p2 = Policy {
        identity: Matcher::exact("bench@example.com"),
        issuer: Matcher::exact(&stack.oidc_url),
        extensions: Vec::new(),
    };
    let t2 = per_op(n, || {
        verify_bundle(&ours, Artifact::Bytes(&data), &trust.material, &p2).unwrap();
    });
    println!("bundle from this stack (Rekor v2 + TSA, P-256 CA)   : {:>7.1} us -> {:.0} verifies/s per core", us(t2), 1.0 / t2.as_secs_f64());
    let d = sigstore_lite_core::keys::sha256(&data);
    let t3 = per_op(n / 3, || {
        verify_bundle(&ours, Artifact::Sha256(d), &trust.material, &p2).unwrap();
    });
    println!("  the same given only sha256:<hex> (prehash verify)  : {:>7.1} us -> {:.0} verifies/s per core", us(t3), 1.0 / t3.as_secs_f64());
    println!(
        "  its 5 ECDSA P-256 checks (certificate, SCT, timestamp token, TSA certificate, artifact: 5 x {:.0} us) are {:.0}% of it; the Ed25519 checkpoint and parsing are the rest",
        us(msg_p256),
        100.0 * 5.0 * us(msg_p256) / us(t2)
    );

    let signs: usize = env_or("BENCH_SIGNS", "100").parse().unwrap();
    println!("\n== keyless sign-blob on loopback: {signs} signatures (token, key, Fulcio, Rekor, all checks) ==");
    let mut lat = Vec::new();
    for _ in 0..signs {
        let t = Instant::now();
        rt.block_on(cosign_keyless::blob::sign_blob(
            &trust,
            &file,
            &token,
            now(),
            n_narr,
        ))
        .unwrap();
        lat.push(t.elapsed());
    }
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3;
    println!(
        "sign latency: p50 {:.2} ms, p99 {:.2} ms",
        pct(0.5),
        pct(0.99)
    );

    attestations(&rt, &trust, &token, &p2, us(msg_p256), dir.path());
    rt.block_on(stack.stop());
}

fn pcts(mut lat: Vec<Duration>) -> (f64, f64) {
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3;
    (pct(0.5), pct(0.99))
}

fn attestations(
    rt: &tokio::runtime::Runtime,
    trust: &cosign_keyless::trust::Trust,
    token: &str,
    policy: &Policy,
    verify_us: f64,
    dir: &Path,
) {
    use cosign_keyless::image::{self, Layout, SignWith, VerifyOptions, VerifyWith};
    let attests: usize = env_or("BENCH_ATTESTS", "64").parse().unwrap();
    let reg_proc = rt.block_on(sigstore_lite_tests::registry::start_registry());
    // One image per concurrent signer: the referrers tag schema is a read-modify-write index per
    // image, which concurrent writers to one image would race on (as with cosign).
    let mut images = Vec::new();
    let reg = registry_client::Registry::new(false);
    for i in 0..8 {
        let tagged = format!("{}/bench/app{i}:v1", reg_proc.addr);
        sigstore_lite_tests::registry::push_image(dir, &tagged, &format!("benchmark image {i}"));
        let d = rt
            .block_on(reg.resolve(&registry_client::Reference::parse(&tagged).unwrap()))
            .unwrap();
        images.push(format!("{}/bench/app{i}@{d}", reg_proc.addr));
    }
    let image_ref = images[0].clone();
    let sbom = br#"{"spdxVersion": "SPDX-2.3", "SPDXID": "SPDXRef-DOCUMENT", "name": "bench", "packages": [{"name": "openssl", "versionInfo": "3.0.11"}]}"#;
    let now = || {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    };
    let narr = cosign_keyless::keyless::Narrator::default();
    let attest = |image_ref: &str| {
        let image_ref = image_ref.to_string();
        let reg = &reg;
        async move {
            image::attest(
                Some(trust),
                reg,
                &image_ref,
                "spdxjson",
                sbom,
                SignWith::Token(token),
                Layout::Bundle,
                false,
                now(),
                narr,
            )
            .await
        }
    };
    let (digest, _) = rt.block_on(attest(&image_ref)).unwrap();

    println!("\n== image attestations (registry on loopback, bundle layout, Rekor v2 + TSA) ==");
    let r = registry_client::Reference::parse(&image_ref).unwrap();
    let attached = rt
        .block_on(registry_client::cosign::bundles(&reg, &r, &digest))
        .unwrap();
    let bundle = attached[0].bundle.clone().unwrap();
    let opts = sigstore_lite_core::image::Options {
        ignore_tlog: false,
        now: now(),
    };
    let pure = per_op(300, || {
        sigstore_lite_core::image::verify_image_bundle(
            &bundle,
            &digest,
            &trust.material,
            sigstore_lite_core::image::Signer::Identity(policy),
            opts,
        )
        .unwrap();
    });
    println!(
        "verify one attestation bundle, offline and pure (chain, SCT, v2 proof, checkpoint, TSA, DSSE): {:.0} us -> {:.0}/s per core ({:.0}% is its 5 ECDSA checks at {verify_us:.0} us)",
        us(pure),
        1.0 / pure.as_secs_f64(),
        100.0 * 5.0 * verify_us / us(pure)
    );
    let vopts = VerifyOptions {
        offline: true,
        ignore_tlog: false,
        now: now(),
        narrator: narr,
    };
    let mut lat = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        rt.block_on(image::verify_attestation(
            trust,
            &reg,
            &image_ref,
            VerifyWith::Identity(policy),
            sigstore_lite_core::attestation::SPDX,
            &[],
            &vopts,
        ))
        .unwrap();
        lat.push(t.elapsed());
    }
    let n_attached = attached.len();
    let (p50, p99) = pcts(lat);
    println!("verify-attestation per image, offline, with its registry round trips ({n_attached} bundle(s) attached): p50 {p50:.2} ms, p99 {p99:.2} ms");

    let mut lat = Vec::new();
    let t0 = Instant::now();
    for _ in 0..attests {
        let t = Instant::now();
        rt.block_on(attest(&images[1])).unwrap();
        lat.push(t.elapsed());
    }
    let seq = attests as f64 / t0.elapsed().as_secs_f64();
    let (p50, p99) = pcts(lat);
    println!("keyless attest, one at a time ({attests}; Fulcio, TSA, Rekor v2, push, every check): {seq:.1} attestations/s, p50 {p50:.2} ms, p99 {p99:.2} ms");
    let t0 = Instant::now();
    rt.block_on(async {
        let mut set = Vec::new();
        for img in &images {
            let attest = &attest;
            set.push(async move {
                for _ in 0..attests / 8 {
                    attest(img).await.unwrap();
                }
            });
        }
        futures_join_all(set).await;
    });
    println!(
        "keyless attest, 8 at a time: {:.1} attestations/s",
        (attests / 8 * 8) as f64 / t0.elapsed().as_secs_f64()
    );
}

/// Runs the futures concurrently on the current task.
async fn futures_join_all<F: std::future::Future<Output = ()>>(fs: Vec<F>) {
    let mut fs: Vec<std::pin::Pin<Box<F>>> = fs.into_iter().map(Box::pin).collect();
    std::future::poll_fn(move |cx| {
        fs.retain_mut(|f| f.as_mut().poll(cx).is_pending());
        if fs.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await
}
