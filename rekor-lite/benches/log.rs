//! rekor-lite at scale (run with `cargo bench -p rekor-lite`; appends/s are measured with wrk by
//! `cargo bench -p sigstore-lite-tests --bench rekor`). Prints, from one run: the SET signature a
//! read costs, then for each size in BENCH_BIG (default "1000000,10000000"): bulk-load time,
//! inclusion and consistency proof latency and the server's RSS, measured against the real binary
//! over HTTP.
//!
//! Knobs: BENCH_BIG ("" to skip), BENCH_DIR (where the logs are written; default the cargo target
//! tmp dir).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use sigstore_lite_core::keys::P256Signer;
use sigstore_lite_core::rekor;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn bench_dir() -> PathBuf {
    PathBuf::from(env_or("BENCH_DIR", env!("CARGO_TARGET_TMPDIR")))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn per_op<F: FnMut()>(n: u32, mut f: F) -> Duration {
    for _ in 0..n / 10 {
        f();
    }
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    t.elapsed() / n
}

fn crypto() {
    println!("== crypto of one read (one core) ==");
    let key = P256Signer::generate_p256().unwrap();
    let body_b64 = B64.encode([7u8; 700]);
    let set = per_op(3000, || {
        rekor::sign_set(&key, &body_b64, 1_700_000_000, 12345).unwrap();
    });
    println!(
        "ECDSA P-256 sign, a fresh SET per GET (aws-lc-rs): {:>7.1} us",
        set.as_secs_f64() * 1e6
    );
}

fn rss_kib(pid: u32) -> (u64, u64) {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let get = |k: &str| {
        s.lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (get("VmRSS:"), get("VmHWM:"))
}

async fn big(size: u64) {
    println!("\n== {size} entries ==");
    let dir = tempfile::tempdir_in(bench_dir()).unwrap();
    let signer = P256Signer::generate_p256().unwrap();
    std::fs::write(dir.path().join("rekor-key.pem"), signer.to_pkcs8_pem()).unwrap();
    std::fs::write(dir.path().join("tree-id"), "4242\n").unwrap();
    let t = Instant::now();
    {
        let store = rekor_lite::store::RedbStore::open(
            &dir.path().join("rekor.redb"),
            rekor_lite::CACHE_BYTES,
            &rekor_lite::search_keys,
        )
        .unwrap();
        let id = rekor_lite::LogIdentity {
            tree_id: 4242,
            key_name: "127.0.0.1".into(),
        };
        let bodies = (0..size).map(|i| format!("{{\"apiVersion\":\"0.0.1\",\"kind\":\"bulk\",\"spec\":{{\"n\":{i},\"pad\":\"{:0>120}\"}}}}", i).into_bytes());
        rekor_lite::log::bulk_load(&store, &signer, &id, bodies, 100_000, 1_700_000_000).unwrap();
    }
    println!(
        "bulk load (library path): {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let disk: u64 = std::fs::metadata(dir.path().join("rekor.redb"))
        .unwrap()
        .len();
    println!("store file: {:.0} MiB", disk as f64 / (1 << 20) as f64);

    // The real server on that store.
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rekor-lite"))
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("rekor-lite listening on ")
        .unwrap()
        .to_string();
    let c = reqwest::Client::new();
    let mut state = 0x2545F4914F6CDD1Du64;
    let mut rnd = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let reqs = 5000;
    let mut incl = Vec::new();
    for _ in 0..reqs {
        let i = rnd() % size;
        let t = Instant::now();
        let r = c
            .get(format!("{base}/api/v1/log/entries?logIndex={i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap();
        incl.push(t.elapsed());
    }
    let mut cons = Vec::new();
    for _ in 0..reqs {
        let a = 1 + rnd() % (size - 1);
        let t = Instant::now();
        let r = c
            .get(format!(
                "{base}/api/v1/log/proof?firstSize={a}&lastSize={size}"
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap();
        cons.push(t.elapsed());
    }
    let (rss, peak) = rss_kib(child.id());
    // Library-level proof cost (no HTTP, no SET signature).
    let store = {
        child.kill().unwrap();
        child.wait().unwrap();
        rekor_lite::store::RedbStore::open(
            &dir.path().join("rekor.redb"),
            rekor_lite::CACHE_BYTES,
            &rekor_lite::search_keys,
        )
        .unwrap()
    };
    let mut lib = Vec::new();
    for _ in 0..reqs {
        let i = rnd() % size;
        let t = Instant::now();
        tlog_tiles::prove_record(size, i, &rekor_lite::store::StoreHashReader(&store)).unwrap();
        lib.push(t.elapsed());
    }
    incl.sort();
    cons.sort();
    lib.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "inclusion proof, library: p50 {:.3} ms, p99 {:.3} ms",
        ms(percentile(&lib, 0.5)),
        ms(percentile(&lib, 0.99))
    );
    println!(
        "GET entry by index over HTTP (proof + SET sign): p50 {:.3} ms, p99 {:.3} ms",
        ms(percentile(&incl, 0.5)),
        ms(percentile(&incl, 0.99))
    );
    println!(
        "GET consistency proof over HTTP: p50 {:.3} ms, p99 {:.3} ms",
        ms(percentile(&cons, 0.5)),
        ms(percentile(&cons, 0.99))
    );
    println!(
        "server RSS after {reqs}x2 proof requests: {} MiB (peak {} MiB)",
        rss / 1024,
        peak / 1024
    );
}

fn main() {
    crypto();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for s in env_or("BENCH_BIG", "1000000,10000000")
        .split(',')
        .filter(|s| !s.is_empty())
    {
        rt.block_on(big(s.trim().parse().unwrap()));
    }
}
