//! Durable appends on redb and on PostgreSQL, side by side in one run (`cargo bench -p
//! rekor-lite --bench pg`): the real binary over HTTP, 64 concurrent clients (in this process, on
//! the same 2 cores), distinct pre-signed hashedrekord entries; throughput and p50/p99 for redb,
//! PostgreSQL with 1 frontend and with 2 frontends, beside the crypto ceiling measured in the
//! same run (the log verifies each entry's ECDSA P-256 signature and signs a SET for it); then
//! the integrator takeover time (kill -9 to the first 201 on the other frontend).
//!
//! Knobs: BENCH_ENTRIES (per configuration, default 6000), BENCH_CLIENTS (default 64).

#[path = "../tests/common/pg.rs"]
#[allow(dead_code)]
mod pg;

use std::io::BufRead;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sigstore_lite_core::keys::{sha256, P256Signer};
use sigstore_lite_core::rekor::{Proposed, Verifier};

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Proc(std::process::Child, String);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(args: &[&str]) -> Proc {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rekor-lite"))
        .args(["serve", "--addr", "127.0.0.1:0"])
        .args(args)
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_string();
    Proc(child, url)
}

fn proposals(n: usize, tag: &str) -> Vec<Vec<u8>> {
    let k = P256Signer::generate_p256().unwrap();
    let v = Verifier::PublicKey(k.public_key().spki_der().to_vec());
    (0..n)
        .map(|i| {
            let art = format!("{tag} {i}");
            serde_json::to_vec(
                &Proposed::hashedrekord(sha256(art.as_bytes()), k.sign(art.as_bytes()), v.clone())
                    .to_json(),
            )
            .unwrap()
        })
        .collect()
}

async fn wait_integrator(urls: &[String]) {
    let c = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        for u in urls {
            if let Ok(r) = c.get(format!("{u}/healthz")).send().await {
                if let Ok(v) = r.json::<serde_json::Value>().await {
                    if v["role"] == "integrator" {
                        return;
                    }
                }
            }
        }
        assert!(Instant::now() < deadline, "no integrator");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Posts every body, `clients` at a time, spread over `urls`; returns (entries/s, p50, p99).
async fn load(urls: &[String], bodies: Vec<Vec<u8>>, clients: usize) -> (f64, Duration, Duration) {
    let c = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()
        .unwrap();
    let queue = Arc::new(std::sync::Mutex::new(bodies));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..clients {
        let (c, queue, url) = (c.clone(), queue.clone(), urls[w % urls.len()].clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let Some(b) = queue.lock().unwrap().pop() else {
                    return lat;
                };
                let t = Instant::now();
                let r = c
                    .post(format!("{url}/api/v1/log/entries"))
                    .header("content-type", "application/json")
                    .body(b)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 201);
                let _ = r.bytes().await;
                lat.push(t.elapsed());
            }
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    let secs = started.elapsed().as_secs_f64();
    lat.sort();
    let p = |q: f64| lat[((lat.len() - 1) as f64 * q) as usize];
    (lat.len() as f64 / secs, p(0.5), p(0.99))
}

fn crypto_ceiling() -> f64 {
    let k = P256Signer::generate_p256().unwrap();
    let msg = b"an artifact";
    let sig = k.sign(msg);
    let d = sha256(msg);
    let pk = k.public_key().clone();
    let n = 2000;
    let t = Instant::now();
    for _ in 0..n {
        pk.verify_prehashed(sigstore_lite_core::keys::DigestAlg::Sha256, &d, &sig)
            .unwrap();
    }
    let verify = t.elapsed() / n;
    let t = Instant::now();
    for _ in 0..n {
        let _ = k.sign(msg);
    }
    let sign = t.elapsed() / n;
    println!(
        "crypto per entry (one core): ECDSA P-256 verify {:.1} us + SET sign {:.1} us",
        verify.as_secs_f64() * 1e6,
        sign.as_secs_f64() * 1e6
    );
    let ceiling = 2.0 / (verify + sign).as_secs_f64();
    println!("crypto ceiling on 2 cores: {ceiling:.0} entries/s");
    ceiling
}

#[tokio::main]
async fn main() {
    let n = env_num("BENCH_ENTRIES", 6000);
    let clients = env_num("BENCH_CLIENTS", 64);
    println!("== rekor-lite durable appends: redb and PostgreSQL ({n} entries, {clients} clients, 2 cores shared by clients, servers and the database) ==");
    let ceiling = crypto_ceiling();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.pem");
    std::fs::write(&key, P256Signer::generate_p256().unwrap().to_pkcs8_pem()).unwrap();
    let report = |what: &str, (rate, p50, p99): (f64, Duration, Duration)| {
        println!(
            "{what:<28} {rate:>7.0} appends/s  p50 {:>6.1} ms  p99 {:>6.1} ms  ({:.0}% of the crypto ceiling)",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            100.0 * rate / ceiling
        );
        rate
    };
    // redb
    let redb_dir = dir.path().join("redb");
    let r = spawn(&["--data-dir", redb_dir.to_str().unwrap()]);
    let redb = report(
        "redb",
        load(std::slice::from_ref(&r.1), proposals(n, "redb"), clients).await,
    );
    drop(r);
    // PostgreSQL, one frontend then two.
    let cluster = tokio::task::spawn_blocking(pg::Cluster::start)
        .await
        .unwrap();
    let url1 = cluster.create_db("bench1");
    let k = key.to_str().unwrap();
    let a = spawn(&["--store", &url1, "--key", k]);
    wait_integrator(std::slice::from_ref(&a.1)).await;
    let one = report(
        "PostgreSQL, 1 frontend",
        load(std::slice::from_ref(&a.1), proposals(n, "pg1"), clients).await,
    );
    drop(a);
    let url2 = cluster.create_db("bench2");
    let a = spawn(&["--store", &url2, "--key", k]);
    wait_integrator(std::slice::from_ref(&a.1)).await;
    let mut b = spawn(&["--store", &url2, "--key", k]);
    let urls = [a.1.clone(), b.1.clone()];
    report(
        "PostgreSQL, 2 frontends",
        load(&urls, proposals(n, "pg2"), clients).await,
    );
    println!("PostgreSQL, 1 frontend / redb: {:.0}%", 100.0 * one / redb);
    // Takeover: kill -9 the integrator (a, the first to start), time the first 201 on b.
    let mut a = a;
    let body = proposals(1, "after the kill").pop().unwrap();
    a.0.kill().unwrap();
    a.0.wait().unwrap();
    let killed = Instant::now();
    let c = reqwest::Client::new();
    loop {
        let r = c
            .post(format!("{}/api/v1/log/entries", b.1))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await;
        if r.is_ok_and(|r| r.status() == 201) {
            break;
        }
        assert!(killed.elapsed() < Duration::from_secs(30));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "integrator takeover (kill -9 to the first 201 on the other frontend): {:.2} s",
        killed.elapsed().as_secs_f64()
    );
    let _ = b.0.kill();
    drop(cluster);
}
