//! rekor-lite benchmark (run with `cargo bench -p rekor-lite`). Prints, from one run:
//! 1. the crypto primitives of one append (hashedrekord verify, SET sign, checkpoint sign) and the
//!    append ceiling they imply on this machine's cores;
//! 2. durable appends/s and p50/p99/p99.9 latency of concurrent HTTP submissions on loopback;
//! 3. for each size in BENCH_BIG (default "1000000,10000000"): bulk-load time, then inclusion and
//!    consistency proof latency and the server's RSS, measured against the real binary over HTTP.
//!
//! Knobs: BENCH_ENTRIES (HTTP appends, default 20000), BENCH_CLIENTS (default 64), BENCH_BIG
//! ("" to skip), BENCH_DIR (where the logs are written; default the cargo target tmp dir).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sigstore_lite_core::keys::{DigestAlg, Signer};
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

fn proposal(key: &Signer, artifact: &[u8]) -> Value {
    json!({
        "kind": "hashedrekord", "apiVersion": "0.0.1",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": hex::encode(Sha256::digest(artifact))}},
            "signature": {"content": B64.encode(key.sign(artifact)), "publicKey": {"content": B64.encode(key.public_key().to_pem())}}
        }
    })
}

fn crypto() -> Duration {
    println!("== crypto primitives (one core) ==");
    let key = Signer::generate_p256().unwrap();
    let artifact = b"benchmark artifact";
    let digest = Sha256::digest(artifact);
    let sig = key.sign(artifact);
    let verify = per_op(2000, || {
        key.public_key()
            .verify_prehashed(DigestAlg::Sha256, &digest, &sig)
            .unwrap()
    });
    let body_b64 = B64.encode([7u8; 700]);
    let set = per_op(2000, || {
        rekor::sign_set(&key, &body_b64, 1_700_000_000, 12345);
    });
    let prop = serde_json::to_vec(&proposal(&key, artifact)).unwrap();
    let canon = per_op(2000, || {
        rekor::canonicalize(&prop).unwrap();
    });
    let note = per_op(2000, || {
        key.sign(b"127.0.0.1 - 1\n1000\nAAAA\nTimestamp: 1\n");
    });
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1) as f64;
    let per_entry = canon + set;
    println!(
        "ECDSA P-256 verify over a digest (p256) : {:>8.1} us",
        verify.as_secs_f64() * 1e6
    );
    println!(
        "ECDSA P-256 sign, SET (ring)             : {:>8.1} us",
        set.as_secs_f64() * 1e6
    );
    println!(
        "checkpoint sign (ring, once per batch)   : {:>8.1} us",
        note.as_secs_f64() * 1e6
    );
    println!(
        "canonicalize (parse+verify+JCS) per entry: {:>8.1} us",
        canon.as_secs_f64() * 1e6
    );
    println!(
        "crypto ceiling: canonicalize + SET = {:.1} us/entry -> {:.0} entries/s on {cores} cores",
        per_entry.as_secs_f64() * 1e6,
        cores / per_entry.as_secs_f64()
    );
    per_entry
}

async fn http_appends(per_entry: Duration) {
    let n: usize = env_or("BENCH_ENTRIES", "20000").parse().unwrap();
    let clients: usize = env_or("BENCH_CLIENTS", "64").parse().unwrap();
    println!("\n== durable HTTP appends: {n} hashedrekord entries, {clients} concurrent clients, loopback ==");
    let dir = tempfile::tempdir_in(bench_dir()).unwrap();
    let log = rekor_lite::open(&rekor_lite::Config {
        data_dir: dir.path().to_path_buf(),
        key: None,
        origin: "127.0.0.1".into(),
    })
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/api/v1/log/entries",
        listener.local_addr().unwrap()
    );
    let server_log = log.clone();
    tokio::spawn(async move {
        rekor_lite::serve(listener, server_log, std::future::pending())
            .await
            .unwrap();
    });
    let keys: Vec<Signer> = (0..16).map(|_| Signer::generate_p256().unwrap()).collect();
    let bodies: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            serde_json::to_vec(&proposal(
                &keys[i % keys.len()],
                format!("artifact {i}").as_bytes(),
            ))
            .unwrap()
        })
        .collect();
    let queue = Arc::new(std::sync::Mutex::new(bodies));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (queue, url) = (Arc::clone(&queue), url.clone());
        tasks.push(tokio::spawn(async move {
            let c = reqwest::Client::new();
            let mut lat = Vec::new();
            loop {
                let Some(b) = queue.lock().unwrap().pop() else {
                    break;
                };
                let t = Instant::now();
                let r = c
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(b)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 201);
                r.bytes().await.unwrap();
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    let secs = started.elapsed().as_secs_f64();
    lat.sort();
    let rate = n as f64 / secs;
    println!("appends/s: {rate:.0} (durable: each acknowledged after its batch's fsync'd commit)");
    println!(
        "latency: p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms",
        percentile(&lat, 0.5).as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3,
        percentile(&lat, 0.999).as_secs_f64() * 1e3,
        lat.last().unwrap().as_secs_f64() * 1e3
    );
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1) as f64;
    println!(
        "ratio to the crypto ceiling: {:.0}% (the load generator shares the same cores)",
        100.0 * rate / (cores / per_entry.as_secs_f64())
    );
    let m = log.metrics().render(log.latest().size);
    for l in m.lines().filter(|l| {
        l.starts_with("rekor_lite_batch_size_sum") || l.starts_with("rekor_lite_batch_size_count")
    }) {
        println!("{l}");
    }
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
    let signer = Signer::generate_p256().unwrap();
    std::fs::write(dir.path().join("rekor-key.pem"), signer.to_pkcs8_pem()).unwrap();
    std::fs::write(dir.path().join("tree-id"), "4242\n").unwrap();
    let t = Instant::now();
    {
        let store = rekor_lite::store::RedbStore::open(
            &dir.path().join("rekor.redb"),
            rekor_lite::CACHE_BYTES,
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
        rekor_lite::store::RedbStore::open(&dir.path().join("rekor.redb"), rekor_lite::CACHE_BYTES)
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
    let per_entry = crypto();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(http_appends(per_entry));
    for s in env_or("BENCH_BIG", "1000000,10000000")
        .split(',')
        .filter(|s| !s.is_empty())
    {
        rt.block_on(big(s.trim().parse().unwrap()));
    }
}
