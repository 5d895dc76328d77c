//! fulcio-lite certificates over HTTP, measured from outside with wrk (`cargo bench -p
//! sigstore-lite-tests --bench fulcio`). Prints, from one run: the cost of each primitive of one
//! issuance (token verify, proof-of-possession verify, certificate + SCT signing) and the
//! ceiling they imply; certificates/s and p50/p99 latency with wrk over 64 connections (wrk and
//! the server share the same cores).
//!
//! Knobs: BENCH_SECONDS (default 10), BENCH_CONNS (default 64).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use serde_json::json;
use sigstore_lite_core::keys::P256Signer;
use sigstore_lite_tests::bench::{self, env_or, per_op, us};

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn main() {
    bench::print_machine();
    let secs: u64 = env_or("BENCH_SECONDS", "10").parse().unwrap();
    let conns: usize = env_or("BENCH_CONNS", "64").parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca_dir = dir.path().join("ca");
    let cfg = dir.path().join("config.json");
    // mock-oidc and fulcio-lite on their own runtime (2 workers), as the servers would run.
    let (url, issuer, fulcio) = bench::background(2, move || async move {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let oidc_url = format!("http://{}", l.local_addr().unwrap());
        let issuer = mock_oidc::Issuer::new(&oidc_url, None).unwrap();
        tokio::spawn(mock_oidc::serve(l, issuer.clone(), std::future::pending()));
        std::fs::write(&cfg, json!({"OIDCIssuers": {oidc_url.clone(): {"IssuerURL": oidc_url, "ClientID": "sigstore", "Type": "email"}}}).to_string()).unwrap();
        let fulcio = fulcio_lite::open(&fulcio_lite::Settings {
            data_dir: ca_dir,
            config: Some(cfg),
            extra_issuers: Vec::new(),
            jwks_ttl: fulcio_lite::oidc::DEFAULT_JWKS_TTL,
            oidc_roots: Vec::new(),
            keys: Default::default(),
        })
        .unwrap();
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/api/v2/signingCert", l.local_addr().unwrap());
        tokio::spawn(fulcio_lite::serve(
            l,
            Arc::clone(&fulcio),
            std::future::pending(),
        ));
        (url, issuer, fulcio)
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    println!("== primitives of one issuance (one core) ==");
    let email = "bench@example.com";
    let token = issuer
        .mint(mock_oidc::email_claims(email), mock_oidc::Alg::RS256, now())
        .unwrap();
    rt.block_on(fulcio.verifier.verify(&token, now())).unwrap(); // warms the JWKS cache
    let t_verify = per_op(3000, || {
        rt.block_on(fulcio.verifier.verify(&token, now())).unwrap();
    });
    let key = P256Signer::generate_p256().unwrap();
    let pop = key.sign(email.as_bytes());
    let t_pop = per_op(3000, || {
        key.public_key()
            .verify_message_sha256(email.as_bytes(), &pop)
            .unwrap();
    });
    let v = rt.block_on(fulcio.verifier.verify(&token, now())).unwrap();
    let who = fulcio_lite::identity::principal(&v.issuer, &v.claims).unwrap();
    let t_issue = per_op(3000, || {
        fulcio
            .ca
            .issue(key.public_key(), &who, SystemTime::now())
            .unwrap();
    });
    let t_sign = per_op(3000, || {
        key.sign(&[0x5a; 700]);
    });
    let total = t_verify + t_pop + t_issue;
    let cores = bench::cores();
    println!(
        "token verify (RS256 signature, claims)          : {:>7.1} us",
        us(t_verify)
    );
    println!(
        "proof-of-possession verify (ECDSA P-256)        : {:>7.1} us",
        us(t_pop)
    );
    println!(
        "certificate issue (TBS + SCT sign + cert sign)  : {:>7.1} us",
        us(t_issue)
    );
    println!(
        "  of which one ECDSA P-256 signature            : {:>7.1} us (x2: SCT and certificate)",
        us(t_sign)
    );
    println!(
        "ceiling: {:.1} us/certificate -> {:.0} certificates/s on {cores} cores",
        us(total),
        cores / total.as_secs_f64()
    );

    let body = serde_json::to_vec(&json!({
        "credentials": {"oidcIdentityToken": token},
        "publicKeyRequest": {"publicKey": {"algorithm": "ECDSA", "content": key.public_key().to_pem()},
                             "proofOfPossession": B64.encode(&pop)}
    }))
    .unwrap();
    let prefix = dir.path().join("bodies");
    bench::write_bodies(&prefix, &[body.clone(), body], 2);
    println!("\n== certificates over HTTP: wrk -t2 -c{conns} -d{secs}s ==");
    let w = bench::wrk_post(&url, &prefix, "application/json", 2, conns, secs);
    assert_eq!(w.unexpected, 0, "some requests were not answered 200");
    println!(
        "certificates/s: {:.0} ({:.0}% of the ceiling; wrk shares the cores)",
        w.per_second,
        100.0 * w.per_second * total.as_secs_f64() / cores
    );
    println!("latency: p50 {:.2} ms, p99 {:.2} ms", w.p50_ms, w.p99_ms);
}
