//! admission-lite benchmark (`cargo bench -p sigstore-lite-tests --bench admission`). A Pod with
//! 3 images, each signed keylessly (cosign v3 bundle layout: Rekor v2 + TSA) and pinned by
//! digest, in a real registry (Debian docker-registry) on loopback; the webhook serves HTTPS on
//! 127.0.0.1 under a ClusterImagePolicy requiring alice's signature. Prints, from one run: the
//! crypto cost of one image verification (P-256 verify, the pure bundle check), uncached
//! decisions (every image fetched from the registry and verified: sequential p50/p99, and
//! with 8 connections), and cached decisions/s (wrk over HTTPS).
//! Knobs: BENCH_DECISIONS (default 200), BENCH_SECS (default 10).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use admission_lite::policy::PolicySet;
use admission_lite::webhook::Webhook;
use serde_json::json;
use sigstore_lite_tests::bench::{
    background, env_or, pct_ms, per_op, print_machine, us, write_bodies, wrk_post,
};

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn main() {
    let decisions: usize = env_or("BENCH_DECISIONS", "200").parse().unwrap();
    let secs: u64 = env_or("BENCH_SECS", "10").parse().unwrap();
    print_machine();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let stack = rt
        .block_on(sigstore_lite::Stack::start(
            &sigstore_lite::Options::loopback(&dir.path().join("stack")),
        ))
        .unwrap();
    let trust = cosign_keyless::trust::Trust::load(
        None,
        None,
        Some(&stack.trust_config_path()),
        None,
        None,
        now(),
    )
    .unwrap();
    let token = rt
        .block_on(mock_oidc::fetch_token(
            &stack.oidc_url,
            &mock_oidc::email_claims("alice@example.com"),
        ))
        .unwrap();
    let reg_proc = rt.block_on(sigstore_lite_tests::registry::start_registry());
    let reg = registry_client::Registry::new(false);
    let mut images = Vec::new();
    for i in 0..3 {
        let tagged = format!("{}/bench/app{i}:v1", reg_proc.addr);
        sigstore_lite_tests::registry::push_image(
            dir.path(),
            &tagged,
            &format!("admission benchmark image {i}"),
        );
        let (digest, _) = rt
            .block_on(cosign_keyless::image::sign(
                Some(&trust),
                &reg,
                &tagged,
                cosign_keyless::image::SignWith::Token(&token),
                cosign_keyless::image::Layout::Bundle,
                now(),
                cosign_keyless::keyless::Narrator::default(),
            ))
            .unwrap();
        images.push((format!("{}/bench/app{i}@{digest}", reg_proc.addr), digest));
    }
    let policy = format!(
        r#"apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {{name: signed-by-alice}}
spec:
  images: [{{glob: "{}/bench/**"}}]
  authorities:
  - keyless:
      identities: [{{issuer: "{}", subject: "alice@example.com"}}]
"#,
        reg_proc.addr, stack.oidc_url
    );
    let set = admission_lite::policy::parse("bench.yaml", &policy).unwrap();
    let material = admission_lite::cli::load_trust(&stack.trusted_root_path()).unwrap();

    println!("\n== crypto cost of one image verification (one core) ==");
    let k = sigstore_lite_core::keys::P256Signer::generate_p256().unwrap();
    let msg = b"a DSSE PAE of some length";
    let sig = k.sign(msg);
    let p256 = per_op(3000, || k.public_key().verify_message(msg, &sig).unwrap());
    let r0 = registry_client::Reference::parse(&images[0].0).unwrap();
    let attached = rt
        .block_on(admission_lite::verify::fetch(&reg, &r0, &images[0].1))
        .unwrap();
    let pure = per_op(300, || {
        admission_lite::verify::evaluate(&set[0], &attached, &images[0].1, &material, now())
            .unwrap();
    });
    println!(
        "P-256 ECDSA verify (aws-lc-rs):                  {:>7.1} us",
        us(p256)
    );
    println!(
        "one image against the policy, pure (bundle: chain, SCT, Rekor v2 proof, checkpoint, TSA, DSSE): {:.0} us = {:.1} P-256 verifies -> ceiling {:.0} images/s per core",
        us(pure),
        pure.as_secs_f64() / p256.as_secs_f64(),
        1.0 / pure.as_secs_f64()
    );

    // The Pod: kubectl's pod template shape, 3 pinned images.
    let containers: Vec<_> = images
        .iter()
        .enumerate()
        .map(|(i, (img, _))| json!({"name": format!("c{i}"), "image": img, "resources": {}}))
        .collect();
    let review = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "bench", "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"}, "namespace": "default",
            "operation": "CREATE", "userInfo": {"username": "bench"},
            "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"}, "spec": {"containers": containers}}}});
    let body = serde_json::to_vec(&review).unwrap();

    let tls = admission_lite::cli::self_signed(&dir.path().join("tls"), &["127.0.0.1".to_string()])
        .unwrap();
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&tls.ca).unwrap()).unwrap();
    let http = reqwest::Client::builder()
        .add_root_certificate(ca)
        .build()
        .unwrap();
    let serve = |ttl: Duration| {
        let webhook = Arc::new(Webhook::new(
            PolicySet {
                policies: set.clone(),
            },
            material.clone(),
            registry_client::Registry::with_timeout(false, Duration::from_secs(8)),
            ttl,
        ));
        let (cert, key) = (
            std::fs::read(&tls.cert).unwrap(),
            std::fs::read(&tls.key).unwrap(),
        );
        let w = webhook.clone();
        let url = background(2, move || async move {
            let cfg = sigstore_lite_server::tls::server_config(&cert, &key).unwrap();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("https://{}", listener.local_addr().unwrap());
            tokio::spawn(sigstore_lite_server::tls::serve_tls(
                listener,
                cfg,
                admission_lite::api::router(w),
                std::future::pending(),
            ));
            url
        });
        (url, webhook)
    };
    let decide_once = |url: &str| decide(http.clone(), url.to_string(), body.clone());

    println!("\n== uncached: each decision fetches 3 images' signatures from the registry and verifies them ==");
    let (url, w) = serve(Duration::ZERO);
    rt.block_on(decide_once(&url));
    let mut lat = Vec::new();
    let t = Instant::now();
    for _ in 0..decisions {
        let s = Instant::now();
        rt.block_on(decide_once(&url));
        lat.push(s.elapsed());
    }
    let wall = t.elapsed();
    lat.sort();
    println!(
        "sequential: {:.0} decisions/s, p50 {:.1} ms, p99 {:.1} ms ({} verifications; goal p99 < 50 ms)",
        decisions as f64 / wall.as_secs_f64(),
        pct_ms(&lat, 0.5),
        pct_ms(&lat, 0.99),
        w.counters.verifications.load(std::sync::atomic::Ordering::Relaxed)
    );
    let t = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (http, url, body) = (http.clone(), url.clone(), body.clone());
        tasks.push(rt.spawn(async move {
            let mut v = Vec::new();
            for _ in 0..decisions / 8 {
                let s = Instant::now();
                decide(http.clone(), url.clone(), body.clone()).await;
                v.push(s.elapsed());
            }
            v
        }));
    }
    let mut all: Vec<Duration> = tasks
        .into_iter()
        .flat_map(|t| rt.block_on(t).unwrap())
        .collect();
    all.sort();
    println!(
        "8 concurrent: {:.0} decisions/s, p50 {:.1} ms, p99 {:.1} ms",
        (decisions / 8 * 8) as f64 / t.elapsed().as_secs_f64(),
        pct_ms(&all, 0.5),
        pct_ms(&all, 0.99)
    );

    println!("\n== cached: verdicts reused per (digest, policy); wrk over HTTPS, 2 threads, 32 connections, {secs} s ==");
    let (url, w) = serve(Duration::from_secs(3600));
    rt.block_on(decide_once(&url));
    let prefix = dir.path().join("bodies");
    // One body per wrk thread.
    write_bodies(&prefix, &[body.clone(), body.clone()], 2);
    let r = wrk_post(
        &format!("{url}/validate"),
        &prefix,
        "application/json",
        2,
        32,
        secs,
    );
    assert_eq!(r.unexpected, 0, "wrk saw non-2xx answers");
    println!(
        "{:.0} decisions/s (goal > 5,000), p50 {:.2} ms, p99 {:.2} ms; {} verifications for {} decisions",
        r.per_second,
        r.p50_ms,
        r.p99_ms,
        w.counters.verifications.load(std::sync::atomic::Ordering::Relaxed),
        r.requests
    );
    drop(reg_proc);
}

/// Posts the review; the Pod must be admitted.
async fn decide(http: reqwest::Client, url: String, body: Vec<u8>) {
    let r: serde_json::Value = http
        .post(format!("{url}/validate"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["response"]["allowed"], true, "{r}");
}
