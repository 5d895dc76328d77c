//! How fast a test fixture starts (`cargo bench -p sigstore-lite-tests --bench fixture`):
//! `sigstore-lite up --ephemeral --ready-file` from spawn to the ready file, and the in-process
//! `sigstore_lite::testing::Stack::start()`, each over repeated starts (p50, p99), beside the
//! cost of the key generation a fresh stack does, measured in the same run.
//!
//! Knobs: BENCH_STARTS (default 20).

use std::time::{Duration, Instant};

use sigstore_lite_tests::bench::{self, env_or, per_op, us};

fn pct(sorted: &[Duration], p: f64) -> f64 {
    bench::pct_ms(sorted, p)
}

fn main() {
    bench::print_machine();
    let n: usize = env_or("BENCH_STARTS", "20").parse().unwrap();

    println!("== key generation a fresh stack does (one core) ==");
    let p256 = per_op(200, || {
        sigstore_lite_core::keys::P256Signer::generate_p256().unwrap();
    });
    let ed = per_op(200, || {
        sigstore_lite_core::keys::Ed25519Signer::generate().unwrap();
    });
    let dir = tempfile::tempdir().unwrap();
    let mut i = 0;
    let oidc = per_op(5, || {
        i += 1;
        mock_oidc::Issuer::new(
            "http://127.0.0.1:1",
            Some(&dir.path().join(format!("o{i}"))),
        )
        .unwrap();
    });
    println!("ECDSA P-256 key       : {:>9.1} us (x6: Fulcio root, CA, CT log, Rekor v1, TSA root and leaf)", us(p256));
    println!("Ed25519 key           : {:>9.1} us (Rekor v2)", us(ed));
    println!(
        "mock-oidc issuer keys : {:>9.1} us (RSA 2048 and ES256)",
        us(oidc)
    );
    let floor = 6.0 * us(p256) + us(ed) + us(oidc);
    println!("key generation floor  : {:>9.1} ms", floor / 1000.0);

    println!("\n== in process: sigstore_lite::testing::Stack::start(), {n} starts ==");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut times = Vec::new();
    for _ in 0..n {
        let t = Instant::now();
        let s = rt.block_on(sigstore_lite::testing::Stack::start()).unwrap();
        times.push(t.elapsed());
        rt.block_on(s.stop());
    }
    times.sort();
    println!(
        "start to serving: p50 {:.1} ms, p99 {:.1} ms ({:.0}% of it key generation at p50)",
        pct(&times, 0.5),
        pct(&times, 0.99),
        100.0 * floor / 1000.0 / pct(&times, 0.5)
    );

    println!("\n== sigstore-lite up --ephemeral --ready-file (release binary), {n} starts ==");
    let up = sigstore_lite_tests::binaries::release_binary("sigstore-lite", "sigstore-lite");
    let mut times = Vec::new();
    for k in 0..n {
        let ready = dir.path().join(format!("ready-{k}.json"));
        let t = Instant::now();
        let mut child = std::process::Command::new(&up)
            .args(["up", "--ephemeral", "--ready-file"])
            .arg(&ready)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        while !ready.exists() {
            assert!(t.elapsed() < Duration::from_secs(30), "no ready file");
            std::thread::sleep(Duration::from_micros(500));
        }
        times.push(t.elapsed());
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let _ = child.wait();
    }
    times.sort();
    println!(
        "spawn to ready file: p50 {:.1} ms, p99 {:.1} ms",
        pct(&times, 0.5),
        pct(&times, 0.99)
    );
}
