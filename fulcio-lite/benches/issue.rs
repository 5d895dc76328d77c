//! fulcio-lite benchmark (`cargo bench -p fulcio-lite`). Prints, from one run: the cost of each
//! primitive of one issuance (token signature verify, PoP verify, certificate + SCT signing) and
//! the ceiling they imply; certificates/s over HTTP with concurrent clients; and latency
//! percentiles at a fixed 2,000 requests/s.
//!
//! Knobs: BENCH_CERTS (closed-loop requests, default 20000), BENCH_CLIENTS (default 64),
//! BENCH_RATE (open-loop rate, default 2000/s), BENCH_SECONDS (open-loop duration, default 5).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use serde_json::{json, Value};
use sigstore_lite_core::keys::Signer;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn per_op<F, Fut>(n: u32, mut f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..n / 10 {
        f().await;
    }
    let t = Instant::now();
    for _ in 0..n {
        f().await;
    }
    t.elapsed() / n
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let oidc_url = format!("http://{}", listener.local_addr().unwrap());
    let issuer = mock_oidc::Issuer::new(&oidc_url, None).unwrap();
    let i2 = issuer.clone();
    tokio::spawn(async move {
        mock_oidc::serve(listener, i2, std::future::pending())
            .await
            .unwrap()
    });
    let cfg = dir.path().join("config.json");
    std::fs::write(&cfg, json!({"OIDCIssuers": {oidc_url.clone(): {"IssuerURL": oidc_url, "ClientID": "sigstore", "Type": "email"}}}).to_string()).unwrap();
    let fulcio = fulcio_lite::open(&fulcio_lite::Settings {
        data_dir: dir.path().join("ca"),
        config: Some(cfg),
        extra_issuers: Vec::new(),
        jwks_ttl: fulcio_lite::oidc::DEFAULT_JWKS_TTL,
    })
    .unwrap();

    println!("== primitives of one issuance (one core) ==");
    let email = "bench@example.com";
    let token = issuer
        .mint(mock_oidc::email_claims(email), mock_oidc::Alg::RS256, now())
        .unwrap();
    fulcio.verifier.verify(&token, now()).await.unwrap(); // warm the JWKS cache
    let t_verify = per_op(2000, || async {
        fulcio.verifier.verify(&token, now()).await.unwrap();
    })
    .await;
    let key = Signer::generate_p256().unwrap();
    let pop = key.sign(email.as_bytes());
    let t_pop = per_op(2000, || async {
        key.public_key()
            .verify_message_sha256(email.as_bytes(), &pop)
            .unwrap();
    })
    .await;
    let v = fulcio.verifier.verify(&token, now()).await.unwrap();
    let who = fulcio_lite::identity::principal(&v.issuer, &v.claims).unwrap();
    let t_issue = per_op(2000, || async {
        fulcio
            .ca
            .issue(key.public_key(), &who, SystemTime::now())
            .unwrap();
    })
    .await;
    let ct = Signer::generate_p256().unwrap();
    let tbs = vec![0x5a; 700];
    let t_sct = per_op(2000, || async {
        ct.sign(&tbs);
    })
    .await;
    let total = t_verify + t_pop + t_issue;
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1) as f64;
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "token verify (RS256 via ring, claims via openidconnect): {:>7.1} us",
        us(t_verify)
    );
    println!(
        "proof-of-possession verify (ECDSA P-256, ring)  : {:>7.1} us",
        us(t_pop)
    );
    println!(
        "certificate issue (TBS + SCT sign + cert sign)  : {:>7.1} us",
        us(t_issue)
    );
    println!(
        "  of which one ECDSA P-256 signature (ring)     : {:>7.1} us (x2: SCT and certificate)",
        us(t_sct)
    );
    println!(
        "ceiling: {:.1} us/certificate -> {:.0} certificates/s on {cores} cores",
        us(total),
        cores / total.as_secs_f64()
    );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/api/v2/signingCert",
        listener.local_addr().unwrap()
    );
    let f2 = Arc::clone(&fulcio);
    tokio::spawn(async move {
        fulcio_lite::serve(listener, f2, std::future::pending())
            .await
            .unwrap()
    });
    let body = Arc::new(
        serde_json::to_vec(&json!({
            "credentials": {"oidcIdentityToken": token},
            "publicKeyRequest": {"publicKey": {"algorithm": "ECDSA", "content": key.public_key().to_pem()},
                                 "proofOfPossession": B64.encode(&pop)}
        }))
        .unwrap(),
    );
    let client = reqwest::Client::new();
    let send = |c: reqwest::Client, url: String, body: Arc<Vec<u8>>| async move {
        let t = Instant::now();
        let r = c
            .post(&url)
            .header("content-type", "application/json")
            .body((*body).clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let _: Value = r.json().await.unwrap();
        t.elapsed()
    };

    let n: usize = env_or("BENCH_CERTS", "20000").parse().unwrap();
    let clients: usize = env_or("BENCH_CLIENTS", "64").parse().unwrap();
    println!("\n== closed loop: {n} certificates, {clients} concurrent clients, loopback ==");
    let left = Arc::new(std::sync::atomic::AtomicUsize::new(n));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (c, url, body, left) = (
            client.clone(),
            url.clone(),
            Arc::clone(&body),
            Arc::clone(&left),
        );
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while left
                .fetch_update(
                    std::sync::atomic::Ordering::Relaxed,
                    std::sync::atomic::Ordering::Relaxed,
                    |x| x.checked_sub(1),
                )
                .is_ok()
            {
                lat.push(send(c.clone(), url.clone(), Arc::clone(&body)).await);
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    lat.sort();
    println!(
        "certificates/s: {rate:.0} ({:.0}% of the ceiling; the load generator shares the cores)",
        100.0 * rate * total.as_secs_f64() / cores
    );
    println!(
        "latency: p50 {:.2} ms, p99 {:.2} ms",
        pct(&lat, 0.5),
        pct(&lat, 0.99)
    );

    let target: f64 = env_or("BENCH_RATE", "2000").parse().unwrap();
    let secs: f64 = env_or("BENCH_SECONDS", "5").parse().unwrap();
    println!("\n== open loop: {target:.0} requests/s for {secs:.0} s ==");
    let total_reqs = (target * secs) as usize;
    let interval = Duration::from_secs_f64(1.0 / target);
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(total_reqs);
    for i in 0..total_reqs {
        tokio::time::sleep_until(start + interval * i as u32).await;
        tasks.push(tokio::spawn(send(
            client.clone(),
            url.clone(),
            Arc::clone(&body),
        )));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.push(t.await.unwrap());
    }
    let achieved = total_reqs as f64 / start.elapsed().as_secs_f64();
    lat.sort();
    println!(
        "achieved {achieved:.0}/s; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        pct(&lat, 1.0)
    );
}
