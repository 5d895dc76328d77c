//! cosign-keyless benchmark (`cargo bench -p sigstore-lite-tests --bench client`; it starts the stack,
//! so it lives here rather than in the client crate). Prints, from one run: the cost of
//! the signature checks one offline bundle verification makes, offline bundle verifications/s on
//! one core (a public-good staging bundle, P-384 CA; and a bundle from this stack, P-256 CA), and
//! end-to-end keyless `sign-blob` latency against the stack on loopback (p50/p99).
//! Knobs: BENCH_VERIFIES (default 3000), BENCH_SIGNS (default 100).

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sigstore_lite_core::bundle::Bundle;
use sigstore_lite_core::keys::{DigestAlg, Signer};
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
    let k = Signer::generate_p256().unwrap();
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
    };
    let t2 = per_op(n, || {
        verify_bundle(&ours, Artifact::Bytes(&data), &trust.material, &p2).unwrap();
    });
    println!("bundle from this stack (P-256 CA, 5 signatures)    : {:>7.1} us -> {:.0} verifies/s per core", us(t2), 1.0 / t2.as_secs_f64());
    let d = sigstore_lite_core::keys::sha256(&data);
    let t3 = per_op(n / 3, || {
        verify_bundle(&ours, Artifact::Sha256(d), &trust.material, &p2).unwrap();
    });
    println!("  the same given only sha256:<hex> (prehash verify)  : {:>7.1} us -> {:.0} verifies/s per core", us(t3), 1.0 / t3.as_secs_f64());
    println!(
        "  its 5 signature checks (5 x P-256 verify = {:.0} us) are {:.0}% of it",
        5.0 * us(msg_p256),
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
    rt.block_on(stack.stop());
}
