//! tsa-lite timestamps over HTTP, measured from outside with wrk (`cargo bench -p
//! sigstore-lite-tests --bench tsa`). Prints, from one run:
//! 1. the crypto of one timestamp (an ECDSA P-256 signature over the signed attributes), the
//!    whole pure answer (parse the request, build TSTInfo and CMS, sign), and the ceiling they
//!    imply on this machine's cores, also from `openssl speed`;
//! 2. timestamps/s and p50/p99 latency with wrk replaying distinct DER `TimeStampReq`s (each its
//!    own nonce) over 64 connections (wrk and the server share the same cores);
//! 3. a client's check of one timestamp (core `timestamp::verify` against the trusted chain).
//!
//! Knobs: BENCH_SECONDS (default 10), BENCH_CONNS (default 64).

use std::time::SystemTime;

use sigstore_lite_core::keys::P256Signer;
use sigstore_lite_core::timestamp;
use sigstore_lite_tests::bench::{self, env_or, per_op, us};

fn main() {
    bench::print_machine();
    let secs: u64 = env_or("BENCH_SECONDS", "10").parse().unwrap();
    let conns: usize = env_or("BENCH_CONNS", "64").parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let authority =
        tsa_lite::authority::Authority::load_or_create(&dir.path().join("tsa"), SystemTime::now())
            .unwrap();

    println!("== crypto of one timestamp (one core) ==");
    let key = P256Signer::generate_p256().unwrap();
    let sign = per_op(3000, || {
        key.sign(&[7u8; 120]);
    });
    let req = timestamp::request(b"a signature", Some(42), true);
    let now = SystemTime::now();
    let answer = per_op(3000, || {
        assert!(matches!(
            authority.answer(&req, now),
            tsa_lite::authority::Answer::Granted(_)
        ));
    });
    let resp = authority.answer(&req, now).der().to_vec();
    let trusted = [timestamp::Authority {
        chain: authority.chain_der(),
        from: None,
        to: None,
    }];
    let verify = per_op(2000, || {
        timestamp::verify(&resp, b"a signature", &trusted).unwrap();
    });
    let cores = bench::cores();
    println!(
        "ECDSA P-256 sign (aws-lc-rs)                         : {:>7.1} us",
        us(sign)
    );
    println!(
        "whole answer (parse, TSTInfo, CMS, sign), pure        : {:>7.1} us",
        us(answer)
    );
    println!(
        "client check of a timestamp (imprint, chain, CMS sig) : {:>7.1} us",
        us(verify)
    );
    println!(
        "ceilings on {cores} cores: signature alone {:.0}/s, whole answer {:.0}/s",
        cores / sign.as_secs_f64(),
        cores / answer.as_secs_f64()
    );
    if let Some((sign_s, _)) = bench::openssl_p256() {
        println!(
            "openssl speed ecdsap256 (same run): sign {sign_s:.0}/s -> ceiling {:.0} timestamps/s on {cores} cores",
            cores * sign_s
        );
    }

    let n = 200_000;
    println!(
        "\n== timestamps over HTTP: wrk -t2 -c{conns} -d{secs}s, {n} distinct DER requests =="
    );
    let bodies: Vec<Vec<u8>> = (0..n as u64)
        .map(|i| timestamp::request(format!("signature {i}").as_bytes(), Some(i + 1), true))
        .collect();
    let prefix = dir.path().join("requests");
    bench::write_bodies_hex(&prefix, &bodies, 2);
    drop(bodies);
    let data = dir.path().join("tsa");
    let url = bench::background(2, move || async move {
        let tsa = tsa_lite::open(&data).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(tsa_lite::serve(listener, tsa, std::future::pending()));
        url
    });
    // One request by hand first: the server grants it and the client's check accepts it.
    let probe = timestamp::request(b"probe", Some(7), true);
    let got = std::process::Command::new("curl")
        .args([
            "-sf",
            "-H",
            "content-type: application/timestamp-query",
            "--data-binary",
            "@-",
            &format!("{url}/api/v1/timestamp"),
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(&probe)?;
            c.wait_with_output()
        })
        .expect("curl");
    timestamp::check_nonce(&got.stdout, 7).expect("the probe's nonce");
    timestamp::verify(&got.stdout, b"probe", &trusted).expect("the probe verifies");
    let w = bench::wrk_post_hex(
        &format!("{url}/api/v1/timestamp"),
        &prefix,
        "application/timestamp-query",
        2,
        conns,
        secs,
    );
    assert_eq!(
        w.unexpected, 0,
        "some timestamp requests were not answered 200"
    );
    let metrics = std::process::Command::new("curl")
        .args(["-sf", &format!("{url}/metrics")])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
        .unwrap_or_default();
    let granted: u64 = metrics
        .lines()
        .find(|l| l.starts_with("tsa_lite_timestamps_total"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(
        granted >= w.requests,
        "the TSA counted {granted} timestamps but wrk saw {} answers",
        w.requests
    );
    println!("timestamps/s: {:.0} ({} granted)", w.per_second, w.requests);
    println!("latency: p50 {:.2} ms, p99 {:.2} ms", w.p50_ms, w.p99_ms);
    println!(
        "ratio to the whole-answer ceiling: {:.0}% (wrk shares the same cores)",
        100.0 * w.per_second / (cores / answer.as_secs_f64())
    );
}
