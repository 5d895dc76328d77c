//! The TUF repository (`cargo bench -p sigstore-lite-tests --bench tuf`): what each change costs
//! (init, publish, re-signing, a root rotation; p50 and p99 over repeated runs) beside the
//! primitives it is made of, measured in the same run (an ECDSA P-256 signature, canonical JSON,
//! SHA-256 of a target, scrypt at cosign's cost), and how fast the repository is served
//! (GET /timestamp.json and a target, wrk, one server runtime of 2 threads).
//!
//! Knobs: BENCH_RUNS (default 30), BENCH_SECS (default 5).

use std::time::{Duration, Instant};

use sigstore_lite_tests::bench::{self, env_or, per_op, us};
use sigstore_lite_tuf::repo::{InitOptions, Repository};

fn timed(n: usize, mut f: impl FnMut(usize)) -> (f64, f64) {
    let mut t: Vec<Duration> = (0..n)
        .map(|i| {
            let s = Instant::now();
            f(i);
            s.elapsed()
        })
        .collect();
    t.sort();
    (bench::pct_ms(&t, 0.5), bench::pct_ms(&t, 0.99))
}

fn main() {
    bench::print_machine();
    let n: usize = env_or("BENCH_RUNS", "30").parse().unwrap();
    let secs: u64 = env_or("BENCH_SECS", "5").parse().unwrap();
    let w = tempfile::tempdir().unwrap();
    let w = w.path();

    // Real trust files, from a stack started for the benchmark.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (tr, sc) = rt.block_on(async {
        let s = sigstore_lite::Stack::start(&sigstore_lite::Options::loopback(&w.join("stack")))
            .await
            .unwrap();
        let out = (
            std::fs::read(s.trusted_root_path()).unwrap(),
            std::fs::read(s.signing_config_path()).unwrap(),
        );
        s.stop().await;
        out
    });
    let (trp, scp) = (w.join("tr.json"), w.join("sc.json"));
    std::fs::write(&trp, &tr).unwrap();
    std::fs::write(&scp, &sc).unwrap();

    println!("== primitives (one core) ==");
    let key = sigstore_lite_core::keys::P256Signer::generate_p256().unwrap();
    let timestamp: serde_json::Value = serde_json::json!({"_type": "timestamp", "spec_version": "1.0.31", "version": 7,
        "expires": "2027-01-01T00:00:00Z", "meta": {"snapshot.json": {"version": 7, "length": 620,
        "hashes": {"sha256": "00".repeat(32)}}}});
    let sign = per_op(500, || {
        key.sign(b"a canonical timestamp of about two hundred bytes .......................................................................................................");
    });
    let canon = per_op(5000, || {
        sigstore_lite_tuf::canonical::encode(&timestamp).unwrap();
    });
    let hash = per_op(2000, || {
        sigstore_lite_core::keys::sha256(&tr);
    });
    let scrypt = per_op(5, || {
        sigstore_lite_signer::encrypted::encrypt(key.pkcs8_der(), b"a passphrase");
    });
    let scrypt_empty = per_op(50, || {
        sigstore_lite_signer::encrypted::encrypt(key.pkcs8_der(), b"");
    });
    println!("ECDSA P-256 sign            : {:>9.1} us", us(sign));
    println!("canonical JSON (timestamp)  : {:>9.1} us", us(canon));
    println!(
        "SHA-256 of trusted_root.json: {:>9.1} us ({} bytes)",
        us(hash),
        tr.len()
    );
    println!(
        "scrypt N=2^15 + secretbox   : {:>9.1} ms (a key under a passphrase)",
        us(scrypt) / 1000.0
    );
    println!(
        "scrypt N=2^10 + secretbox   : {:>9.1} ms (an empty passphrase)",
        us(scrypt_empty) / 1000.0
    );

    println!("\n== changes, {n} runs each (files written whole and fsynced) ==");
    let now = sigstore_lite_tuf::serve::now();
    let repo = |i: usize, what: &str| Repository::new(w.join(format!("{what}-{i}")), None);
    for (label, pw) in [
        ("init, empty passphrase", &b""[..]),
        ("init, a passphrase", &b"pw"[..]),
    ] {
        let (p50, p99) = timed(n.min(if pw.is_empty() { n } else { 10 }), |i| {
            repo(i, if pw.is_empty() { "e" } else { "p" })
                .init((&trp, &tr), (&scp, &sc), &InitOptions::default(), pw, now)
                .unwrap();
        });
        println!("{label:<28}: p50 {p50:>7.2} ms, p99 {p99:>7.2} ms");
    }
    let r = repo(0, "e");
    let mut sc2: serde_json::Value = serde_json::from_slice(&sc).unwrap();
    let (p50, p99) = timed(n, |i| {
        sc2["caUrls"][0]["operator"] = format!("operator {i}").into();
        let b = serde_json::to_vec(&sc2).unwrap();
        r.publish(None, Some((&scp, &b)), b"", now).unwrap();
    });
    println!(
        "{:<28}: p50 {p50:>7.2} ms, p99 {p99:>7.2} ms (targets, snapshot, timestamp: 3 signatures)",
        "publish"
    );
    let (p50, p99) = timed(n, |_| {
        r.resign(now).unwrap();
    });
    println!(
        "{:<28}: p50 {p50:>7.2} ms, p99 {p99:>7.2} ms (snapshot, timestamp: 2 signatures)",
        "resign"
    );
    let (p50, p99) = timed(n, |_| {
        assert!(!r.refresh(now).unwrap());
    });
    println!(
        "{:<28}: p50 {p50:>7.2} ms, p99 {p99:>7.2} ms (nothing due: what up does every tick)",
        "refresh, nothing due"
    );
    let (p50, p99) = timed(n, |_| {
        r.rotate_root(1, 1, &[], b"", now).unwrap();
    });
    println!(
        "{:<28}: p50 {p50:>7.2} ms, p99 {p99:>7.2} ms (a new key, 2 signatures)",
        "rotate-root"
    );

    println!("\n== serving (wrk, 2 threads, 32 connections, {secs} s each) ==");
    let dir = r.dir.clone();
    let url = bench::background(2, move || async move {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        tokio::spawn(sigstore_lite_server::serve(
            l,
            sigstore_lite_tuf::serve::app(dir),
            std::future::pending(),
        ));
        url
    });
    let state = r.load().unwrap();
    let target = format!(
        "{url}/targets/{}.trusted_root.json",
        state.targets.signed.targets["trusted_root.json"].sha256()
    );
    for (label, u) in [
        ("GET /timestamp.json", format!("{url}/timestamp.json")),
        ("GET a target (5 KB)", target),
    ] {
        let m = bench::wrk_get(&u, 2, 32, secs);
        assert_eq!(m.unexpected, 0, "{label}: errors");
        println!(
            "{label:<22}: {:>8.0} req/s, p50 {:.2} ms, p99 {:.2} ms",
            m.per_second, m.p50_ms, m.p99_ms
        );
    }
}
