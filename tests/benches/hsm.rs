//! Keys in a PKCS#11 token (SoftHSM2) against keys in process (`cargo bench -p
//! sigstore-lite-tests --bench hsm`). Prints, from one run: ECDSA P-256 and Ed25519 signatures
//! per second through the token and in process (one thread and two), a KMS plugin's signature
//! (a process per call), and what the token does to fulcio-lite's certificates/s (two ECDSA
//! signatures each: SCT and certificate) and to rekor-lite v1's durable appends/s over HTTP with
//! wrk (a SET per entry and a checkpoint per batch, all by the log key).
//!
//! Knobs: BENCH_SECONDS (default 5), BENCH_CONNS (default 64).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use serde_json::json;
use sigstore_lite_core::keys::{sha256, KeyKind, P256Signer, Signer};
use sigstore_lite_signer::softhsm::TestToken;
use sigstore_lite_signer::KeyRef;
use sigstore_lite_tests::bench::{self, env_or, per_op, us};

fn per_second(d: Duration) -> f64 {
    1.0 / d.as_secs_f64()
}

/// Signatures per second from `threads` threads signing for `secs`.
fn throughput(s: &Arc<dyn Signer>, threads: usize, secs: f64) -> (f64, f64, f64) {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let mut lat: Vec<Duration> = std::thread::scope(|scope| {
        let hs: Vec<_> = (0..threads)
            .map(|i| {
                let s = Arc::clone(s);
                scope.spawn(move || {
                    let mut v = Vec::new();
                    let msg = format!("thread {i}");
                    while Instant::now() < deadline {
                        let t = Instant::now();
                        s.try_sign(msg.as_bytes()).unwrap();
                        v.push(t.elapsed());
                    }
                    v
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    lat.sort();
    let n = lat.len() as f64;
    (
        n / secs,
        bench::pct_ms(&lat, 0.50),
        bench::pct_ms(&lat, 0.99),
    )
}

fn main() {
    bench::print_machine();
    let secs: u64 = env_or("BENCH_SECONDS", "5").parse().unwrap();
    let conns: usize = env_or("BENCH_CONNS", "64").parse().unwrap();
    // The token exists before this process loads SoftHSM.
    let t = TestToken::shared();
    let r = |o: &str| KeyRef::parse(&t.uri(o)).unwrap();
    let dir = tempfile::tempdir().unwrap();

    println!("== one signature (one thread) ==");
    let in_process: Arc<dyn Signer> = Arc::new(P256Signer::generate_p256().unwrap());
    let token = sigstore_lite_signer::generate(&r("bench-p256"), KeyKind::EcdsaP256).unwrap();
    let ed_in: Arc<dyn Signer> =
        Arc::new(sigstore_lite_core::keys::Ed25519Signer::generate().unwrap());
    let ed_token = sigstore_lite_signer::generate(&r("bench-ed25519"), KeyKind::Ed25519).unwrap();
    let msg = [0x5au8; 700];
    let sig = in_process.try_sign(&msg).unwrap();
    let t_verify = per_op(3000, || {
        in_process.public_key().verify_message(&msg, &sig).unwrap();
    });
    let rows = [
        ("ECDSA P-256, in process", &in_process),
        ("ECDSA P-256, PKCS#11 (SoftHSM2)", &token),
        ("Ed25519, in process", &ed_in),
        ("Ed25519, PKCS#11 (SoftHSM2)", &ed_token),
    ];
    let mut single = Vec::new();
    for (name, s) in rows {
        let d = per_op(3000, || {
            s.try_sign(&msg).unwrap();
        });
        single.push(d);
        println!(
            "{name:<36}: {:>7.1} us  ({:>6.0} signatures/s)",
            us(d),
            per_second(d)
        );
    }
    println!(
        "ECDSA P-256 verify, in process (for scale): {:>7.1} us",
        us(t_verify)
    );
    println!(
        "token / in process, P-256: {:.1}x the time per signature",
        single[1].as_secs_f64() / single[0].as_secs_f64()
    );

    println!("\n== signatures/s from 2 threads for {secs} s (the token's session pool) ==");
    for (name, s) in [("in process", &in_process), ("PKCS#11", &token)] {
        let (rate, p50, p99) = throughput(s, 2, secs as f64);
        println!("P-256 {name:<10}: {rate:>7.0}/s, p50 {p50:.3} ms, p99 {p99:.3} ms");
    }

    println!("\n== a KMS plugin (a process per call; tests/kms-plugin in Python) ==");
    let path = sigstore_lite_tests::binaries::kms_test_plugin(dir.path());
    std::env::set_var("PATH", path);
    let plugin = sigstore_lite_signer::generate(
        &KeyRef::parse(&format!("testkms://{}", dir.path().join("k.pem").display())).unwrap(),
        KeyKind::EcdsaP256,
    )
    .unwrap();
    let d = per_op(30, || {
        plugin.try_sign(&msg).unwrap();
    });
    println!(
        "ECDSA P-256 via sigstore-kms-testkms: {:>8.1} ms ({:.0} signatures/s; Python start-up dominates)",
        us(d) / 1000.0,
        per_second(d)
    );

    println!(
        "\n== fulcio-lite certificate issue (CA and CT key: SCT + certificate, one thread) =="
    );
    let who = fulcio_lite::identity::Principal {
        san: fulcio_lite::identity::SanValue::Email("bench@example.com".into()),
        challenge: "bench@example.com".into(),
        issuer: "https://issuer.example".into(),
        extensions: Vec::new(),
    };
    let leaf = P256Signer::generate_p256().unwrap();
    let ca_file =
        fulcio_lite::ca::Ca::open(&dir.path().join("ca-file"), &Default::default()).unwrap();
    let ca_token = fulcio_lite::ca::Ca::open(
        &dir.path().join("ca-token"),
        &fulcio_lite::ca::CaKeys {
            ca_key: Some(r("bench-fulcio")),
            ct_key: Some(r("bench-ct")),
            create: true,
            ..Default::default()
        },
    )
    .unwrap();
    let mut issue = Vec::new();
    for (name, ca) in [
        ("keys in files", &ca_file),
        ("keys in the token", &ca_token),
    ] {
        let d = per_op(2000, || {
            ca.issue(leaf.public_key(), &who, SystemTime::now())
                .unwrap();
        });
        issue.push(d);
        println!(
            "{name:<18}: {:>7.1} us  ({:>6.0} certificates/s per core)",
            us(d),
            per_second(d)
        );
    }
    println!(
        "the token costs {:.0}% of the certificate rate",
        100.0 * (1.0 - issue[0].as_secs_f64() / issue[1].as_secs_f64())
    );

    println!("\n== rekor-lite v1 durable appends over HTTP: wrk -t2 -c{conns} -d{secs}s ==");
    let signer = P256Signer::generate_p256().unwrap();
    let pem = signer.public_key().to_pem();
    let n = 15_000 * secs as usize;
    let bodies: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            let artifact = format!("artifact {i}");
            serde_json::to_vec(&json!({
                "kind": "hashedrekord", "apiVersion": "0.0.1",
                "spec": {
                    "data": {"hash": {"algorithm": "sha256", "value": hex::encode(sha256(artifact.as_bytes()))}},
                    "signature": {"content": B64.encode(signer.sign(artifact.as_bytes())),
                                  "publicKey": {"content": B64.encode(&pem)}}
                }
            }))
            .unwrap()
        })
        .collect();
    let mut rates = Vec::new();
    for (what, key) in [
        ("key in a file", None),
        ("key in the token", Some(r("bench-rekor"))),
    ] {
        let prefix = dir.path().join(format!("bodies-{}", rates.len()));
        bench::write_bodies(&prefix, &bodies, 2);
        let data = dir.path().join(format!("log-{}", rates.len()));
        let url = bench::background(2, move || async move {
            let mut c = rekor_lite::Config::v1(data, "127.0.0.1");
            c.key = key;
            c.create_key = true;
            let log = rekor_lite::open(&c).unwrap();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            tokio::spawn(rekor_lite::serve(listener, log, std::future::pending()));
            url
        });
        let w = bench::wrk_post(
            &format!("{url}/api/v1/log/entries"),
            &prefix,
            "application/json",
            2,
            conns,
            secs,
        );
        assert_eq!(w.unexpected, 0, "some appends were not answered 201");
        println!(
            "{what:<17}: {:>7.0} appends/s, p50 {:.2} ms, p99 {:.2} ms",
            w.per_second, w.p50_ms, w.p99_ms
        );
        rates.push(w.per_second);
    }
    println!(
        "the token keeps {:.0}% of the append rate (one SET signature per entry: {:.1} us in process, {:.1} us in the token)",
        100.0 * rates[1] / rates[0],
        us(single[0]),
        us(single[1])
    );
}
