//! rekor-lite durable appends over HTTP, measured from outside with wrk (`cargo bench -p
//! sigstore-lite-tests --bench rekor`). Prints, from one run:
//! 1. the crypto of one append (hashedrekord verify over a digest, SET signature, checkpoint
//!    signature), the log's admission per entry (parse + verify + canonical body), and the ceiling
//!    the crypto implies on this machine's cores, also from `openssl speed`;
//! 2. durable appends/s and p50/p99 latency with wrk replaying distinct pre-signed hashedrekord
//!    entries over 64 connections (wrk and the server share the same cores), for entries carrying
//!    a public key and entries carrying a certificate (as keyless clients send them);
//! 3. the same through the Rekor v2 API (hashedRekordRequestV002 with a certificate; no SET, so
//!    the crypto per entry is one verification), then tile and checkpoint reads/s.
//!
//! Knobs: BENCH_SECONDS (default 10), BENCH_CONNS (default 64), BENCH_RATE_GUESS (bodies to
//! prepare per second, default 30000), BENCH_ONLY (`v1` or `v2`; default both).

use std::time::Duration;

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use serde_json::{json, Value};
use sigstore_lite_core::keys::{sha256, DigestAlg, P256Signer};
use sigstore_lite_core::rekor::{self, Proposed};
use sigstore_lite_tests::bench::{self, env_or, per_op, us};

fn proposal(key: &P256Signer, verifier_pem: &str, artifact: &[u8]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "kind": "hashedrekord", "apiVersion": "0.0.1",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": hex::encode(sha256(artifact))}},
            "signature": {"content": B64.encode(key.sign(artifact)), "publicKey": {"content": B64.encode(verifier_pem)}}
        }
    }))
    .unwrap()
}

/// A self-signed certificate for `key` with an e-mail SAN (the shape of a Fulcio leaf's cost).
fn cert_pem(key: &P256Signer, i: usize) -> String {
    let kp = rcgen::KeyPair::try_from(key.pkcs8_der()).unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.subject_alt_names = vec![rcgen::SanType::Rfc822Name(
        format!("bench{i}@example.com").try_into().unwrap(),
    )];
    params.self_signed(&kp).unwrap().pem()
}

fn crypto(pk_body: &[u8], cert_body: &[u8]) -> Duration {
    println!("== crypto of one append (one core) ==");
    let key = P256Signer::generate_p256().unwrap();
    let artifact = b"benchmark artifact";
    let digest = sha256(artifact);
    let sig = key.sign(artifact);
    let verify = per_op(3000, || {
        key.public_key()
            .verify_prehashed(DigestAlg::Sha256, &digest, &sig)
            .unwrap()
    });
    let body_b64 = B64.encode([7u8; 700]);
    let set = per_op(3000, || {
        rekor::sign_set(&key, &body_b64, 1_700_000_000, 12345).unwrap();
    });
    let admit_pk = per_op(3000, || {
        Proposed::parse(pk_body).unwrap().admit().unwrap();
    });
    let admit_cert = per_op(3000, || {
        Proposed::parse(cert_body).unwrap().admit().unwrap();
    });
    let cores = bench::cores();
    println!(
        "ECDSA P-256 verify over a digest (aws-lc-rs)   : {:>7.1} us",
        us(verify)
    );
    println!(
        "ECDSA P-256 sign, the SET (aws-lc-rs)          : {:>7.1} us",
        us(set)
    );
    println!(
        "admission (parse + verify + canonical body), key entry : {:>7.1} us",
        us(admit_pk)
    );
    println!(
        "admission (parse + verify + canonical body), cert entry: {:>7.1} us",
        us(admit_cert)
    );
    let per_entry = verify + set;
    println!(
        "crypto ceiling (verify + SET) = {:.1} us/entry -> {:.0} entries/s on {cores} cores",
        us(per_entry),
        cores / per_entry.as_secs_f64()
    );
    if let Some((sign_s, verify_s)) = bench::openssl_p256() {
        let per = 1.0 / sign_s + 1.0 / verify_s;
        println!(
            "openssl speed ecdsap256 (same run): sign {sign_s:.0}/s, verify {verify_s:.0}/s -> ceiling {:.0} entries/s on {cores} cores",
            cores / per
        );
    }
    per_entry
}

/// A Rekor v2 request carrying a certificate (DER), as keyless clients send it.
fn request_v2(key: &P256Signer, cert_der: &[u8], artifact: &[u8]) -> Vec<u8> {
    serde_json::to_vec(&json!({"hashedRekordRequestV002": {
        "digest": B64.encode(sha256(artifact)),
        "signature": {"content": B64.encode(key.sign(artifact)), "verifier": {
            "x509Certificate": {"rawBytes": B64.encode(cert_der)},
            "keyDetails": "PKIX_ECDSA_P256_SHA_256"}}
    }}))
    .unwrap()
}

fn main() {
    bench::print_machine();
    let secs: u64 = env_or("BENCH_SECONDS", "10").parse().unwrap();
    let conns: usize = env_or("BENCH_CONNS", "64").parse().unwrap();
    let guess: u64 = env_or("BENCH_RATE_GUESS", "30000").parse().unwrap();
    let keys: Vec<P256Signer> = (0..64)
        .map(|_| P256Signer::generate_p256().unwrap())
        .collect();
    let key_pems: Vec<String> = keys.iter().map(|k| k.public_key().to_pem()).collect();
    let cert_pems: Vec<String> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| cert_pem(k, i))
        .collect();
    let per_entry = crypto(
        &proposal(&keys[0], &key_pems[0], b"x"),
        &proposal(&keys[0], &cert_pems[0], b"x"),
    );
    let dir = tempfile::tempdir().unwrap();
    let only = env_or("BENCH_ONLY", "");
    let v1_runs: &[(&str, &Vec<String>)] = if only == "v2" {
        &[]
    } else {
        &[("public-key", &key_pems), ("certificate", &cert_pems)]
    };
    for &(what, pems) in v1_runs {
        let n = (guess * secs) as usize;
        println!("\n== durable appends, {what} entries: wrk -t2 -c{conns} -d{secs}s, {n} distinct pre-signed bodies ==");
        let bodies: Vec<Vec<u8>> = std::thread::scope(|s| {
            let chunks: Vec<_> = (0..2)
                .map(|t| {
                    let (keys, pems) = (&keys, pems);
                    s.spawn(move || {
                        (t..n)
                            .step_by(2)
                            .map(|i| {
                                let k = i % keys.len();
                                proposal(
                                    &keys[k],
                                    &pems[k],
                                    format!("{what} artifact {i}").as_bytes(),
                                )
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            chunks.into_iter().flat_map(|h| h.join().unwrap()).collect()
        });
        let prefix = dir.path().join(format!("bodies-{what}"));
        bench::write_bodies(&prefix, &bodies, 2);
        drop(bodies);
        let data = dir.path().join(format!("log-{what}"));
        let url = bench::background(2, move || async move {
            let log = rekor_lite::open(&rekor_lite::Config::v1(data, "127.0.0.1")).unwrap();
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
        let info: Value = std::process::Command::new("curl")
            .args(["-sf", &format!("{url}/api/v1/log")])
            .output()
            .ok()
            .and_then(|o| serde_json::from_slice(&o.stdout).ok())
            .unwrap_or(Value::Null);
        let size = info["treeSize"].as_u64().unwrap_or(0);
        assert_eq!(w.unexpected, 0, "some appends were not answered 201");
        assert!(
            size >= w.requests,
            "the log holds {size} entries but {} were acknowledged",
            w.requests
        );
        println!(
            "durable appends/s: {:.0} ({} acknowledged, each after its batch's fsync'd commit; tree size {size})",
            w.per_second, w.requests
        );
        println!("latency: p50 {:.2} ms, p99 {:.2} ms", w.p50_ms, w.p99_ms);
        let metrics = std::process::Command::new("curl")
            .args(["-sf", &format!("{url}/metrics")])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
            .unwrap_or_default();
        let metric = |name: &str| -> f64 {
            metrics
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0)
        };
        let (batches, batch_sum) = (
            metric("rekor_lite_batch_size_count"),
            metric("rekor_lite_batch_size_sum"),
        );
        let (commits, commit_sum) = (
            metric("rekor_lite_commit_seconds_count"),
            metric("rekor_lite_commit_seconds_sum"),
        );
        println!(
            "group commit: {batches:.0} batches, {:.1} entries per batch, {:.2} ms per durable commit",
            batch_sum / batches.max(1.0),
            1e3 * commit_sum / commits.max(1.0)
        );
        println!(
            "ratio to the crypto ceiling: {:.0}% (wrk shares the same cores)",
            100.0 * w.per_second / (bench::cores() / per_entry.as_secs_f64())
        );
    }
    if only != "v1" {
        rekor_v2(&keys, &cert_pems, secs, conns, guess, dir.path());
    }
}

fn rekor_v2(
    keys: &[P256Signer],
    cert_pems: &[String],
    secs: u64,
    conns: usize,
    guess: u64,
    dir: &std::path::Path,
) {
    let ders: Vec<Vec<u8>> = cert_pems
        .iter()
        .map(|p| {
            sigstore_lite_core::keys::pem_parse_all(p)
                .unwrap()
                .remove(0)
                .der
        })
        .collect();
    let one = request_v2(&keys[0], &ders[0], b"x");
    let admit = per_op(3000, || {
        let p = sigstore_lite_core::rekor::v2::ProposedV2::parse(&one).unwrap();
        p.admit().unwrap();
    });
    let n = (guess * secs) as usize;
    println!("\n== Rekor v2 durable appends, certificate entries: wrk -t2 -c{conns} -d{secs}s, {n} distinct pre-signed bodies ==");
    println!(
        "admission (parse + verify + canonical body) per entry: {:.1} us; no SET, so the crypto ceiling is the verification alone",
        us(admit)
    );
    let bodies: Vec<Vec<u8>> = std::thread::scope(|s| {
        let chunks: Vec<_> = (0..2)
            .map(|t| {
                let ders = &ders;
                s.spawn(move || {
                    (t..n)
                        .step_by(2)
                        .map(|i| {
                            let k = i % keys.len();
                            request_v2(&keys[k], &ders[k], format!("v2 artifact {i}").as_bytes())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        chunks.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let prefix = dir.join("bodies-v2");
    bench::write_bodies(&prefix, &bodies, 2);
    drop(bodies);
    let data = dir.join("log-v2");
    let url = bench::background(2, move || async move {
        let log = rekor_lite::open(&rekor_lite::Config::v2(data, "127.0.0.1")).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(rekor_lite::serve(listener, log, std::future::pending()));
        url
    });
    let w = bench::wrk_post(
        &format!("{url}/api/v2/log/entries"),
        &prefix,
        "application/json",
        2,
        conns,
        secs,
    );
    assert_eq!(w.unexpected, 0, "some v2 appends were not answered 201");
    let checkpoint = std::process::Command::new("curl")
        .args(["-sf", &format!("{url}/checkpoint")])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
        .unwrap_or_default();
    let size: u64 = checkpoint
        .lines()
        .nth(1)
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    assert!(
        size >= w.requests,
        "the log holds {size} entries but {} were acknowledged",
        w.requests
    );
    println!(
        "durable appends/s: {:.0} ({} acknowledged; tree size {size})",
        w.per_second, w.requests
    );
    println!("latency: p50 {:.2} ms, p99 {:.2} ms", w.p50_ms, w.p99_ms);
    let verify_only = admit.as_secs_f64();
    println!(
        "ratio to the admission ceiling ({:.0}/s on {} cores): {:.0}% (wrk shares the same cores)",
        bench::cores() / verify_only,
        bench::cores(),
        100.0 * w.per_second * verify_only / bench::cores()
    );
    assert!(size > 256, "a full tile to read");
    for (what, path) in [
        ("full level-0 tile (8 KiB)", "tile/0/000"),
        ("entry bundle (256 bodies)", "tile/entries/000"),
        ("checkpoint", "checkpoint"),
    ] {
        let w = bench::wrk_get(&format!("{url}/{path}"), 2, conns, secs.min(5));
        assert_eq!(w.unexpected, 0, "{path}");
        println!(
            "GET {what}: {:.0}/s, p50 {:.2} ms, p99 {:.2} ms",
            w.per_second, w.p50_ms, w.p99_ms
        );
    }
}
