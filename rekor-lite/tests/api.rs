//! rekor-lite over real HTTP on 127.0.0.1: the Rekor v1 API, bad input, restart, and a SIGKILL
//! crash test against the real binary.

use std::path::Path;
use std::sync::Arc;

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sigstore_lite_core::keys::{P256Signer, PublicKey};
use sigstore_lite_core::merkle;
use sigstore_lite_core::note::{Checkpoint, SignedNote};
use sigstore_lite_core::rekor::{self, LogEntry};

mod common;

/// A v1 log signing as 127.0.0.1.
struct Server;

impl Server {
    async fn start(dir: &Path, b: &common::Backend) -> common::Server {
        common::Server::start_on(
            dir,
            |d| rekor_lite::Config::v1(d.to_path_buf(), "127.0.0.1"),
            b,
        )
        .await
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

/// GET `url` and parse the JSON answer.
async fn get_json(url: impl reqwest::IntoUrl) -> Value {
    http().get(url).send().await.unwrap().json().await.unwrap()
}

/// A JSON array of hex strings as bytes.
fn hex_list(v: &Value) -> Vec<Vec<u8>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|h| hex::decode(h.as_str().unwrap()).unwrap())
        .collect()
}

/// A hashedrekord proposal for `artifact`, signed by `key`, carrying `pem` as its verifier.
fn hashedrekord(key: &P256Signer, artifact: &[u8], pem: &str) -> Value {
    json!({
        "kind": "hashedrekord", "apiVersion": "0.0.1",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": hex::encode(Sha256::digest(artifact))}},
            "signature": {"content": B64.encode(key.sign(artifact)), "publicKey": {"content": B64.encode(pem)}}
        }
    })
}

fn key_entry(artifact: &[u8]) -> (P256Signer, Value) {
    let k = P256Signer::generate_p256().unwrap();
    let v = hashedrekord(&k, artifact, &k.public_key().to_pem());
    (k, v)
}

/// A self-signed certificate with an e-mail SAN for `key`; the PEM is deliberately unwrapped
/// (one long line, no trailing newline) as some clients send it.
fn email_cert(key: &P256Signer, email: &str) -> String {
    let kp = rcgen::KeyPair::try_from(key.pkcs8_der()).unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.subject_alt_names = vec![rcgen::SanType::Rfc822Name(email.try_into().unwrap())];
    let cert = params.self_signed(&kp).unwrap();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----",
        B64.encode(cert.der())
    )
}

async fn log_key(url: &str) -> PublicKey {
    let pem = http()
        .get(format!("{url}/api/v1/log/publicKey"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    PublicKey::from_pem(&pem).unwrap()
}

async fn tree_size(url: &str) -> u64 {
    let v: Value = get_json(format!("{url}/api/v1/log")).await;
    v["treeSize"].as_u64().unwrap()
}

/// Checks everything a client would: single-key map, SET, inclusion proof, signed checkpoint.
fn check_entry(map: &Value, key: &PublicKey) -> (String, LogEntry) {
    let obj = map.as_object().expect("entry map");
    assert_eq!(obj.len(), 1);
    let (id, v) = obj.iter().next().unwrap();
    let e: LogEntry = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(e.log_id, hex::encode(key.key_id()));
    rekor::verify_set(key, &e).expect("SET verifies");
    let body = B64.decode(&e.body).unwrap();
    let leaf = merkle::leaf_hash(&body);
    assert_eq!(&id[16..], hex::encode(leaf));
    let p = e
        .verification
        .inclusion_proof
        .as_ref()
        .expect("inclusion proof");
    let hashes: Vec<Vec<u8>> = p.hashes.iter().map(|h| hex::decode(h).unwrap()).collect();
    let root = hex::decode(&p.root_hash).unwrap();
    merkle::verify_inclusion(p.log_index, p.tree_size, &leaf, &hashes, &root)
        .expect("inclusion proof verifies");
    let note = SignedNote::parse(&p.checkpoint).unwrap();
    note.verify("127.0.0.1", key)
        .expect("checkpoint signature verifies");
    let cp = Checkpoint::from_text(&note.text).unwrap();
    assert_eq!((cp.size, cp.root_hash.to_vec()), (p.tree_size, root));
    assert!(cp.origin.starts_with("127.0.0.1 - "));
    (id.clone(), e)
}

on_both_stores!(create_read_search_and_prove);

/// Run on both stores (`create_read_search_and_prove::redb`, `create_read_search_and_prove::postgres`).
async fn create_read_search_and_prove(b: &common::Backend) {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path(), b).await;
    let key = log_key(&srv.url).await;
    let c = http();

    // hashedrekord with a public key.
    let (signer, proposed) = key_entry(b"artifact one");
    let r = c
        .post(format!("{}/api/v1/log/entries", srv.url))
        .json(&proposed)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let map: Value = r.json().await.unwrap();
    let (id, e) = check_entry(&map, &key);
    assert_eq!(etag, id);
    assert_eq!(location, format!("/api/v1/log/entries/{id}"));
    assert_eq!(id.len(), 80);
    assert_eq!(e.log_index, 0);
    // logIndex and hashes are present even when 0 / empty.
    let raw = &map[&id]["verification"]["inclusionProof"];
    assert_eq!(raw["logIndex"], json!(0));
    assert_eq!(raw["hashes"], json!([]));
    let body: Value = serde_json::from_slice(&B64.decode(&e.body).unwrap()).unwrap();
    assert_eq!(
        body["spec"]["signature"]["publicKey"]["content"],
        json!(B64.encode(signer.public_key().to_pem()))
    );

    // Duplicate: 409 with the existing entry's Location; tree unchanged.
    let r = c
        .post(format!("{}/api/v1/log/entries", srv.url))
        .json(&proposed)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    assert_eq!(r.headers()["location"].to_str().unwrap(), location);
    let err: Value = r.json().await.unwrap();
    assert_eq!(err["code"], json!(409));
    assert_eq!(err["reason"], json!("entry_exists"));
    assert_eq!(tree_size(&srv.url).await, 1);

    // hashedrekord with a certificate: the PEM is re-encoded canonically (64 columns, final \n).
    let s2 = P256Signer::generate_p256().unwrap();
    let cert = email_cert(&s2, "Alice@Example.com");
    let p2 = hashedrekord(&s2, b"artifact two", &cert);
    let r = c
        .post(format!("{}/api/v1/log/entries", srv.url))
        .json(&p2)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let (id2, e2) = check_entry(&r.json().await.unwrap(), &key);
    assert_eq!(e2.log_index, 1);
    let body2: Value = serde_json::from_slice(&B64.decode(&e2.body).unwrap()).unwrap();
    let pem = String::from_utf8(
        B64.decode(
            body2["spec"]["signature"]["publicKey"]["content"]
                .as_str()
                .unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert!(pem.ends_with("-----END CERTIFICATE-----\n"));
    assert!(pem.lines().all(|l| l.len() <= 64));

    // Reads: by 80-hex ID, by 64-hex UUID, by index; each with a fresh proof against the latest
    // checkpoint.
    for path in [
        format!("entries/{id}"),
        format!("entries/{}", &id[16..]),
        "entries?logIndex=0".to_string(),
    ] {
        let r = c
            .get(format!("{}/api/v1/log/{path}", srv.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let (rid, re) = check_entry(&r.json().await.unwrap(), &key);
        assert_eq!(rid, id);
        assert_eq!(re.verification.inclusion_proof.unwrap().tree_size, 2);
    }
    let r = c
        .get(format!(
            "{}/api/v1/log/entries/{}",
            srv.url,
            "ab".repeat(32)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = c
        .get(format!("{}/api/v1/log/entries?logIndex=9", srv.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = c
        .get(format!("{}/api/v1/log/entries/xyz", srv.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // Retrieve by UUIDs, indexes and proposed entries.
    for req in [
        json!({"entryUUIDs": [id2.clone(), id.clone()]}),
        json!({"logIndexes": [1, 0]}),
        json!({"entries": [p2.clone(), proposed.clone()]}),
    ] {
        let r = c
            .post(format!("{}/api/v1/log/entries/retrieve", srv.url))
            .json(&req)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let arr: Vec<Value> = r.json().await.unwrap();
        let ids: Vec<String> = arr.iter().map(|m| check_entry(m, &key).0).collect();
        assert_eq!(ids, vec![id2.clone(), id.clone()], "{req}");
    }

    // Search by artifact hash, e-mail SAN and public key.
    let search = |q: Value| {
        let c = c.clone();
        let url = srv.url.clone();
        async move {
            let r = c
                .post(format!("{url}/api/v1/index/retrieve"))
                .json(&q)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{q}");
            r.json::<Vec<String>>().await.unwrap()
        }
    };
    let h1 = format!("sha256:{}", hex::encode(Sha256::digest(b"artifact one")));
    assert_eq!(search(json!({"hash": h1})).await, vec![id.clone()]);
    assert_eq!(
        search(json!({"email": "alice@example.com"})).await,
        vec![id2.clone()]
    );
    let pk = json!({"format": "x509", "content": B64.encode(signer.public_key().to_pem())});
    assert_eq!(search(json!({"publicKey": pk})).await, vec![id.clone()]);
    assert_eq!(
        search(json!({"publicKey": pk, "email": "alice@example.com", "operator": "and"})).await,
        Vec::<String>::new()
    );
    assert_eq!(
        search(json!({"publicKey": pk, "email": "alice@example.com"}))
            .await
            .len(),
        2
    );

    // Log info and consistency.
    let info: Value = c
        .get(format!("{}/api/v1/log", srv.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["treeSize"], json!(2));
    let sth = SignedNote::parse(info["signedTreeHead"].as_str().unwrap()).unwrap();
    sth.verify("127.0.0.1", &key).unwrap();
    let cp = Checkpoint::from_text(&sth.text).unwrap();
    assert_eq!(
        hex::encode(cp.root_hash),
        info["rootHash"].as_str().unwrap()
    );
    assert_eq!(
        cp.origin,
        format!("127.0.0.1 - {}", info["treeID"].as_str().unwrap())
    );
    assert!(cp.extensions[0].starts_with("Timestamp: "));
    let r = c
        .get(format!(
            "{}/api/v1/log/proof?firstSize=1&lastSize=2",
            srv.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let proof: Value = r.json().await.unwrap();
    let hashes = hex_list(&proof["hashes"]);
    let leaf0 = merkle::leaf_hash(&B64.decode(&e.body).unwrap());
    merkle::verify_consistency(1, 2, &leaf0, &cp.root_hash, &hashes).unwrap();
    for bad in [
        "firstSize=2&lastSize=1",
        "firstSize=1&lastSize=3",
        "firstSize=0&lastSize=1",
        "lastSize=x",
        "firstSize=1",
    ] {
        let r = c
            .get(format!("{}/api/v1/log/proof?{bad}", srv.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{bad}");
        let v: Value = r.json().await.unwrap();
        assert!(v["message"].as_str().unwrap().len() > 5);
    }

    let m = c
        .get(format!("{}/metrics", srv.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(m.contains("rekor_lite_entries_total 2"), "{m}");
    assert!(m.contains("rekor_lite_append_seconds_bucket"));
    assert!(m.contains("rekor_lite_duplicates_total 1"));
    assert_eq!(
        c.get(format!("{}/healthz", srv.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    srv.stop().await;
}

fn dsse_proposal(
    signers: &[&P256Signer],
    verifiers: &[&P256Signer],
    payload: &[u8],
) -> (Value, String) {
    let pt = "application/vnd.in-toto+json";
    let pae = sigstore_lite_core::dsse::pae(pt, payload);
    let sigs: Vec<Value> = signers
        .iter()
        .map(|s| json!({"keyid": "", "sig": B64.encode(s.sign(&pae))}))
        .collect();
    let env = serde_json::to_string(
        &json!({"payload": B64.encode(payload), "payloadType": pt, "signatures": sigs}),
    )
    .unwrap();
    let vs: Vec<String> = verifiers
        .iter()
        .map(|s| B64.encode(s.public_key().to_pem()))
        .collect();
    (
        json!({"kind": "dsse", "apiVersion": "0.0.1", "spec": {"proposedContent": {"envelope": env, "verifiers": vs}}}),
        env,
    )
}

on_both_stores!(dsse_is_stored_in_canonical_form);

/// Run on both stores (`dsse_is_stored_in_canonical_form::redb`, `dsse_is_stored_in_canonical_form::postgres`).
async fn dsse_is_stored_in_canonical_form(b: &common::Backend) {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path(), b).await;
    let key = log_key(&srv.url).await;
    let (a, b) = (
        P256Signer::generate_p256().unwrap(),
        P256Signer::generate_p256().unwrap(),
    );
    let payload = br#"{"_type":"https://in-toto.io/Statement/v1","subject":[]}"#;
    let (p, env) = dsse_proposal(&[&a, &b], &[&a, &b], payload);
    let r = http()
        .post(format!("{}/api/v1/log/entries", srv.url))
        .json(&p)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let (_, e) = check_entry(&r.json().await.unwrap(), &key);
    let body: Value = serde_json::from_slice(&B64.decode(&e.body).unwrap()).unwrap();
    assert_eq!(body["kind"], "dsse");
    assert!(body["spec"].get("proposedContent").is_none());
    assert_eq!(
        body["spec"]["payloadHash"]["value"],
        json!(hex::encode(Sha256::digest(payload)))
    );
    assert_eq!(
        body["spec"]["envelopeHash"]["value"],
        json!(hex::encode(Sha256::digest(env.as_bytes())))
    );
    let sigs = body["spec"]["signatures"].as_array().unwrap();
    assert_eq!(sigs.len(), 2);
    assert!(
        sigs[0]["signature"].as_str().unwrap() < sigs[1]["signature"].as_str().unwrap(),
        "sorted"
    );
    let env_v: Value = serde_json::from_str(&env).unwrap();
    for s in sigs {
        let signer = if env_v["signatures"][0]["sig"] == s["signature"] {
            &a
        } else {
            &b
        };
        assert_eq!(
            s["verifier"],
            json!(B64.encode(signer.public_key().to_pem()))
        );
    }
    // A signature by a key that is not among the verifiers is refused.
    let (p, _) = dsse_proposal(&[&a], &[&b], payload);
    let r = http()
        .post(format!("{}/api/v1/log/entries", srv.url))
        .json(&p)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(tree_size(&srv.url).await, 1);
    srv.stop().await;
}

on_both_stores!(bad_input_is_refused_and_changes_nothing);

/// Run on both stores (`bad_input_is_refused_and_changes_nothing::redb`, `bad_input_is_refused_and_changes_nothing::postgres`).
async fn bad_input_is_refused_and_changes_nothing(b: &common::Backend) {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path(), b).await;
    let c = http();
    let (k, good) = key_entry(b"x");
    let other = P256Signer::generate_p256().unwrap();
    let with = |path: &[&str], v: Value| {
        let mut p = good.clone();
        let mut cur = &mut p;
        for s in &path[..path.len() - 1] {
            cur = &mut cur[*s];
        }
        cur[path[path.len() - 1]] = v;
        p
    };
    let (mut dsse_nosig, _) = dsse_proposal(&[&k], &[&k], b"{}");
    let env_nosig = json!({"payload": "e30=", "payloadType": "t", "signatures": []}).to_string();
    dsse_nosig["spec"]["proposedContent"]["envelope"] = json!(env_nosig);
    let (mut dsse_badsig, _) = dsse_proposal(&[&k], &[&k], b"{}");
    let env_bad = json!({"payload": "e30=", "payloadType": "t", "signatures": [{"sig": B64.encode(k.sign(b"other"))}]}).to_string();
    dsse_badsig["spec"]["proposedContent"]["envelope"] = json!(env_bad);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("malformed JSON", b"{not json".to_vec(), "malformed_json"),
        (
            "unknown kind",
            serde_json::to_vec(&with(&["kind"], json!("rpm"))).unwrap(),
            "unknown_kind",
        ),
        (
            "unknown version",
            serde_json::to_vec(&with(&["apiVersion"], json!("0.0.2"))).unwrap(),
            "unknown_api_version",
        ),
        (
            "sha1",
            serde_json::to_vec(&with(&["spec", "data", "hash", "algorithm"], json!("sha1")))
                .unwrap(),
            "unsupported_hash_algorithm",
        ),
        (
            "short digest",
            serde_json::to_vec(&with(&["spec", "data", "hash", "value"], json!("abcd"))).unwrap(),
            "bad_digest",
        ),
        (
            "bad base64 sig",
            serde_json::to_vec(&with(&["spec", "signature", "content"], json!("%%%"))).unwrap(),
            "bad_base64",
        ),
        (
            "bad base64 key",
            serde_json::to_vec(&with(
                &["spec", "signature", "publicKey", "content"],
                json!("%%%"),
            ))
            .unwrap(),
            "bad_base64",
        ),
        (
            "unparsable key",
            serde_json::to_vec(&with(
                &["spec", "signature", "publicKey", "content"],
                json!(B64.encode("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")),
            ))
            .unwrap(),
            "bad_public_key",
        ),
        (
            "other key",
            serde_json::to_vec(&with(
                &["spec", "signature", "publicKey", "content"],
                json!(B64.encode(other.public_key().to_pem())),
            ))
            .unwrap(),
            "bad_signature",
        ),
        (
            "missing spec",
            serde_json::to_vec(&json!({"kind": "hashedrekord", "apiVersion": "0.0.1"})).unwrap(),
            "missing_field",
        ),
        (
            "dsse without signatures",
            serde_json::to_vec(&dsse_nosig).unwrap(),
            "bad_dsse_envelope",
        ),
        (
            "dsse with a bad signature",
            serde_json::to_vec(&dsse_badsig).unwrap(),
            "bad_signature",
        ),
    ];
    for (what, body, reason) in cases {
        let r = c
            .post(format!("{}/api/v1/log/entries", srv.url))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{what}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["reason"], json!(reason), "{what}: {v}");
        assert_eq!(v["code"], json!(400));
        assert!(!v["message"].as_str().unwrap().is_empty());
    }
    let big = vec![b' '; rekor_lite::api::MAX_BODY + 1];
    let r = c
        .post(format!("{}/api/v1/log/entries", srv.url))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["reason"], json!("body_too_large"));
    assert_eq!(tree_size(&srv.url).await, 0);
    // ... and the good entry still goes in.
    let r = c
        .post(format!("{}/api/v1/log/entries", srv.url))
        .json(&good)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    srv.stop().await;
}

on_both_stores!(concurrent_submissions_and_restart_keep_everything);

/// Run on both stores (`concurrent_submissions_and_restart_keep_everything::redb`, `concurrent_submissions_and_restart_keep_everything::postgres`).
async fn concurrent_submissions_and_restart_keep_everything(b: &common::Backend) {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path(), b).await;
    let key = log_key(&srv.url).await;
    let url = Arc::new(srv.url.clone());
    let mut tasks = Vec::new();
    for t in 0..16 {
        let url = Arc::clone(&url);
        tasks.push(tokio::spawn(async move {
            let c = http();
            let mut out = Vec::new();
            for i in 0..25 {
                let (_, p) = key_entry(format!("artifact {t}/{i}").as_bytes());
                let r = c
                    .post(format!("{url}/api/v1/log/entries"))
                    .json(&p)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 201);
                out.push(r.json::<Value>().await.unwrap());
            }
            out
        }));
    }
    let mut indexes = Vec::new();
    let mut ids = Vec::new();
    for t in tasks {
        for m in t.await.unwrap() {
            let (id, e) = check_entry(&m, &key);
            indexes.push(e.log_index);
            ids.push(id);
        }
    }
    indexes.sort();
    assert_eq!(indexes, (0..400).collect::<Vec<_>>());
    let before: Value = get_json(format!("{}/api/v1/log", srv.url)).await;
    srv.stop().await;

    // Same directory: same key, tree ID and entries; the new checkpoint is consistent with the old.
    let srv = Server::start(dir.path(), b).await;
    assert_eq!(log_key(&srv.url).await, key);
    let after: Value = get_json(format!("{}/api/v1/log", srv.url)).await;
    assert_eq!(after["treeID"], before["treeID"]);
    assert_eq!(after["rootHash"], before["rootHash"]);
    let (_, more) = key_entry(b"after restart");
    let r = http()
        .post(format!("{}/api/v1/log/entries", srv.url))
        .json(&more)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let (_, e) = check_entry(&r.json().await.unwrap(), &key);
    assert_eq!(e.log_index, 400);
    let p = e.verification.inclusion_proof.unwrap();
    let proof: Value = get_json(format!(
        "{}/api/v1/log/proof?firstSize=400&lastSize=401",
        srv.url
    ))
    .await;
    let hashes = hex_list(&proof["hashes"]);
    merkle::verify_consistency(
        400,
        401,
        &hex::decode(before["rootHash"].as_str().unwrap()).unwrap(),
        &hex::decode(&p.root_hash).unwrap(),
        &hashes,
    )
    .unwrap();
    for id in ids.iter().step_by(37) {
        let r = http()
            .get(format!("{}/api/v1/log/entries/{id}", srv.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        check_entry(&r.json().await.unwrap(), &key);
    }
    srv.stop().await;
}

/// The kill -9 soak: the real binary (started on 127.0.0.1:0) under 8 concurrent submitters is
/// SIGKILLed mid-stream, restarted on the same directory, and loaded again, `SOAK_ROUNDS`
/// times (default 10). No acknowledged entry may be lost, and the final tree must extend the last
/// checkpoint each round acknowledged (a consistency proof from every pre-crash checkpoint).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_submitting_loses_no_acknowledged_entry() {
    let rounds: usize = std::env::var("SOAK_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let dir = tempfile::tempdir().unwrap();
    let mut key = None;
    let acked = Arc::new(std::sync::Mutex::new(Vec::<Value>::new()));
    let mut pre_crash: Vec<(u64, Vec<u8>)> = Vec::new();
    for round in 0..rounds {
        let mut srv = common::spawn_binary(dir.path(), &[]);
        let k = log_key(&srv.url).await;
        assert_eq!(
            *key.get_or_insert_with(|| k.clone()),
            k,
            "same key after restart"
        );
        let before = acked.lock().unwrap().len();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut tasks = Vec::new();
        for t in 0..8 {
            let (url, acked, stop) = (srv.url.clone(), Arc::clone(&acked), Arc::clone(&stop));
            tasks.push(tokio::spawn(async move {
                let c = http();
                let mut i = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let (_, p) = key_entry(format!("crash {round}/{t}/{i}").as_bytes());
                    i += 1;
                    match c
                        .post(format!("{url}/api/v1/log/entries"))
                        .json(&p)
                        .send()
                        .await
                    {
                        Ok(r) if r.status() == 201 => match r.json::<Value>().await {
                            Ok(v) => acked.lock().unwrap().push(v),
                            Err(_) => break,
                        },
                        _ => break,
                    }
                }
            }));
        }
        // Kill mid-stream, once this round has a hundred acknowledged entries.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while acked.lock().unwrap().len() < before + 100 {
            assert!(
                std::time::Instant::now() < deadline,
                "server too slow to acknowledge entries"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        srv.child.kill().unwrap(); // SIGKILL
        srv.child.wait().unwrap();
        drop(srv);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in tasks {
            t.await.unwrap();
        }
        // The largest checkpoint this round acknowledged.
        let guard = acked.lock().unwrap();
        let last = guard[before..]
            .iter()
            .map(|m| check_entry(m, &k).1.verification.inclusion_proof.unwrap())
            .max_by_key(|p| p.tree_size)
            .unwrap();
        pre_crash.push((last.tree_size, hex::decode(&last.root_hash).unwrap()));
    }
    let key = key.unwrap();
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 100 * rounds);

    let srv = common::spawn_binary(dir.path(), &[]);
    assert_eq!(log_key(&srv.url).await, key, "same key after restart");
    let size = tree_size(&srv.url).await;
    assert!(size >= acked.len() as u64);
    for m in &acked {
        let (id, e) = check_entry(m, &key);
        let r = http()
            .get(format!("{}/api/v1/log/entries/{id}", srv.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "acknowledged entry {id} lost");
        let (_, again) = check_entry(&r.json().await.unwrap(), &key);
        assert_eq!((again.body, again.log_index), (e.body, e.log_index));
    }
    let info: Value = get_json(format!("{}/api/v1/log", srv.url)).await;
    let root = hex::decode(info["rootHash"].as_str().unwrap()).unwrap();
    for (old_size, old_root) in pre_crash {
        let proof: Value = get_json(format!(
            "{}/api/v1/log/proof?firstSize={old_size}&lastSize={size}",
            srv.url
        ))
        .await;
        let hashes = hex_list(&proof["hashes"]);
        if old_size == size {
            assert_eq!(old_root, root);
            continue;
        }
        merkle::verify_consistency(old_size, size, &old_root, &root, &hashes)
            .expect("the final tree extends every pre-crash checkpoint");
    }
}

/// A log never serves a tree smaller than one it committed (and signed): a deleted, emptied or
/// rolled-back store is refused at start with one sentence naming the file, instead of a new
/// empty log signing checkpoints under the old identity.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_or_rolled_back_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("rekor.redb");
    let c = http();
    let append = |url: String, what: &'static [u8]| {
        let c = c.clone();
        async move {
            let (_, proposed) = key_entry(what);
            let r = c
                .post(format!("{url}/api/v1/log/entries"))
                .json(&proposed)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
        }
    };
    let srv = Server::start(dir.path(), &common::Backend::Redb).await;
    append(srv.url.clone(), b"one").await;
    srv.stop().await;
    let old = dir.path().join("old.redb");
    std::fs::copy(&store, &old).unwrap();
    let srv = Server::start(dir.path(), &common::Backend::Redb).await;
    append(srv.url.clone(), b"two").await;
    append(srv.url.clone(), b"three").await;
    let health: Value = c
        .get(format!("{}/healthz", srv.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "SERVING");
    srv.stop().await;
    assert_eq!(
        std::fs::read_to_string(dir.path().join(rekor_lite::WATERMARK))
            .unwrap()
            .trim(),
        "3"
    );
    let good = std::fs::read(&store).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&store).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let open = || match common::open_released(&rekor_lite::Config::v1(
        dir.path().to_path_buf(),
        "127.0.0.1",
    )) {
        Ok(_) => panic!("the log opened"),
        Err(e) => e.to_string(),
    };
    // Rolled back to a copy holding one entry.
    std::fs::copy(&old, &store).unwrap();
    let e = open();
    assert!(
        e.contains("a tree of 1 entries") && e.contains("a tree of 3") && e.contains("signed-size"),
        "{e}"
    );
    // Emptied, then deleted.
    std::fs::write(&store, b"").unwrap();
    let e = open();
    assert!(e.contains("rekor.redb is missing or empty"), "{e}");
    std::fs::remove_file(&store).unwrap();
    assert!(open().contains("refusing to start a new, empty log"));
    assert!(!store.exists(), "nothing was created");
    // Restored: it serves again, with every entry.
    std::fs::write(&store, &good).unwrap();
    let srv = Server::start(dir.path(), &common::Backend::Redb).await;
    let info: Value = c
        .get(format!("{}/api/v1/log", srv.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["treeSize"], 3);
    srv.stop().await;
}

// Only JSON writes (a browser's text/plain or form post needs no preflight, so a page could
// otherwise write entries), and JSON errors for every status.
on_both_stores!(non_json_posts_and_wrong_methods_get_json_errors);

/// Run on both stores (`non_json_posts_and_wrong_methods_get_json_errors::redb`, `non_json_posts_and_wrong_methods_get_json_errors::postgres`).
async fn non_json_posts_and_wrong_methods_get_json_errors(b: &common::Backend) {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path(), b).await;
    let c = http();
    let (_, proposed) = key_entry(b"via a form");
    let body = serde_json::to_vec(&proposed).unwrap();
    for ct in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let mut r = c
            .post(format!("{}/api/v1/log/entries", srv.url))
            .body(body.clone());
        if let Some(ct) = ct {
            r = r.header("content-type", ct);
        }
        let r = r.send().await.unwrap();
        assert_eq!(r.status(), 415, "{ct:?}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(
            (v["code"].as_i64(), v["reason"].as_str()),
            (Some(415), Some("unsupported_media_type"))
        );
    }
    let info: Value = c
        .get(format!("{}/api/v1/log", srv.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["treeSize"], 0, "nothing was written");
    let r = c
        .post(format!("{}/api/v1/log/entries", srv.url))
        .header("content-type", "application/json; charset=utf-8")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // Bad UTF-8 in a path: the JSON error too.
    let r = c
        .get(format!("{}/api/v1/log/entries/%FF%FE", srv.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["reason"], "bad_path");
    // An 80-byte ID with a multi-byte character where the tree ID ends: refused, no panic.
    let odd = format!("{}%C3%A9{}", "0".repeat(15), "0".repeat(63));
    let r = c
        .get(format!("{}/api/v1/log/entries/{odd}", srv.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = c
        .post(format!("{}/api/v1/log/entries/retrieve", srv.url))
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"entryUUIDs": ["{}\u00e9{}"]}}"#,
            "0".repeat(15),
            "0".repeat(63)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // The method is judged before the body's type: a method a path does not take is 405 and
    // an unknown path 404, whatever Content-Type came with it (as Rekor's router answers).
    for (method, path, ct, status) in [
        ("DELETE", "/api/v1/log", None, 405),
        ("PUT", "/api/v1/log/entries", None, 405),
        ("PUT", "/api/v1/log/entries", Some("text/plain"), 405),
        ("PUT", "/api/v1/log/entries", Some("application/json"), 405),
        ("PATCH", "/api/v1/log/entries", Some("text/plain"), 405),
        ("POST", "/api/v1/log", Some("text/plain"), 405),
        ("POST", "/api/v1/log/publicKey", None, 405),
        ("PUT", "/api/v1/index/retrieve", Some("text/plain"), 405),
        ("POST", "/api/v1/nothing-here", Some("text/plain"), 404),
        ("PUT", "/nope", None, 404),
        ("POST", "/api/v1/index/retrieve", Some("text/plain"), 415),
        ("POST", "/api/v1/log/entries/retrieve", None, 415),
    ] {
        let mut r = c
            .request(method.parse().unwrap(), format!("{}{path}", srv.url))
            .body("x");
        if let Some(ct) = ct {
            r = r.header("content-type", ct);
        }
        let r = r.send().await.unwrap();
        assert_eq!(r.status(), status, "{method} {path} {ct:?}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["code"], status, "{method} {path}: {v}");
        let reason = match status {
            405 => "method_not_allowed",
            404 => "not_found",
            _ => "unsupported_media_type",
        };
        assert_eq!(v["reason"], reason, "{method} {path}");
    }
    srv.stop().await;
}

/// A full disk: appends fail (500, nothing acknowledged that was not committed), the binary
/// exits so that a supervisor restarts it, and once there is room again the restarted log
/// serves every acknowledged entry and keeps growing. The store lives on a small tmpfs; where
/// mounting is impossible (not root, no CAP_SYS_ADMIN) the test says so loudly and stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_appends_then_recovers() {
    let base = tempfile::tempdir().unwrap();
    let mnt = base.path().join("small");
    std::fs::create_dir(&mnt).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=6m", "tmpfs"])
        .arg(&mnt)
        .output();
    match mounted {
        Ok(o) if o.status.success() => {}
        other => {
            eprintln!(
                "SKIPPED a_full_disk_fails_appends_then_recovers: cannot mount a tmpfs here ({}); run as root to include it",
                match other {
                    Ok(o) => String::from_utf8_lossy(&o.stderr).trim().to_string(),
                    Err(e) => e.to_string(),
                }
            );
            return;
        }
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(mnt.clone());
    let dir = mnt.join("log");
    let mut srv = common::spawn_binary(&dir, &[]);
    let key = log_key(&srv.url).await;
    let c = http();
    let mut acked = Vec::new();
    let mut refused = 0;
    let pad = "x".repeat(1500);
    for i in 0..20_000 {
        let (_, p) = key_entry(format!("fill {i} {pad}").as_bytes());
        match c
            .post(format!("{}/api/v1/log/entries", srv.url))
            .json(&p)
            .send()
            .await
        {
            Ok(r) if r.status() == 201 => acked.push(r.json::<Value>().await.unwrap()),
            Ok(r) => {
                assert_eq!(r.status(), 500, "a full disk is an internal error");
                let v: Value = r.json().await.unwrap();
                assert_eq!(v["code"], 500);
                refused += 1;
                break;
            }
            Err(_) => break, // the process already exited
        }
    }
    assert!(refused > 0 || !acked.is_empty());
    assert!(acked.len() < 20_000, "the disk never filled");
    // The binary exits on its own after the failed commit.
    let exited = tokio::task::spawn_blocking(move || {
        for _ in 0..100 {
            if let Ok(Some(status)) = srv.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        None
    })
    .await
    .unwrap();
    assert_eq!(
        exited.and_then(|s| s.code()),
        Some(70),
        "rekor-lite exits after a failed commit"
    );

    // Room again: the restarted log has every acknowledged entry and appends again.
    let o = std::process::Command::new("mount")
        .args(["-o", "remount,size=64m"])
        .arg(&mnt)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let srv = common::spawn_binary(&dir, &[]);
    assert_eq!(log_key(&srv.url).await, key);
    assert!(tree_size(&srv.url).await >= acked.len() as u64);
    for m in acked.iter().rev().take(50) {
        let (id, _) = check_entry(m, &key);
        let r = c
            .get(format!("{}/api/v1/log/entries/{id}", srv.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "acknowledged entry {id} lost");
    }
    let (_, p) = key_entry(b"after the disk was freed");
    let r = c
        .post(format!("{}/api/v1/log/entries", srv.url))
        .json(&p)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let health: Value = c
        .get(format!("{}/healthz", srv.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "SERVING");
    drop(srv);
}

/// `--tls-cert` / `--tls-key`: the binary serves HTTPS (the same flags on every server).
#[tokio::test]
async fn the_binary_serves_https_with_its_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let tls = sigstore_lite_server::tls::local_ca(&dir.path().join("tls"), &["127.0.0.1".into()])
        .unwrap();
    let srv = common::spawn_binary(
        &dir.path().join("log"),
        &[
            "--tls-cert",
            tls.cert.to_str().unwrap(),
            "--tls-key",
            tls.key.to_str().unwrap(),
        ],
    );
    assert!(srv.url.starts_with("https://127.0.0.1:"), "{}", srv.url);
    let c = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(&tls.ca).unwrap()).unwrap(),
        )
        .build()
        .unwrap();
    let v: Value = c
        .get(format!("{}/api/v1/log", srv.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["treeSize"], 0);
    assert!(
        http()
            .get(format!("{}/api/v1/log", srv.url))
            .send()
            .await
            .is_err(),
        "an untrusted certificate"
    );
}

/// `--log-format json`: one JSON object per line on stderr, and every refusal logged with its
/// reason (and the client's input escaped).
#[tokio::test]
async fn json_logs_carry_each_refusal_with_its_reason() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rekor-lite"))
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--data-dir",
        ])
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
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
    let r = http()
        .post(format!("{url}/api/v1/log/entries"))
        .header("content-type", "application/json")
        .body(r#"{"kind": "hashedrekord\n\u001b[31m", "apiVersion": "0.0.1", "spec": {}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let _ = child.kill();
    let _ = child.wait();
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    let lines: Vec<Value> = err
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect();
    assert!(!lines.is_empty());
    let refused = lines
        .iter()
        .find(|l| l["message"] == "refused")
        .unwrap_or_else(|| panic!("no refusal logged: {err}"));
    assert_eq!(refused["reason"], "unknown_kind", "{refused}");
    assert_eq!(refused["code"], 400);
    assert!(
        !err.contains('\u{1b}'),
        "an escape reached the log: {err:?}"
    );
}

/// Keys the user names are never made up: a missing key file is an error (only the data
/// directory's default key is made on first start), a log reopened with another key is refused
/// (its checkpoint must verify with the key given), and a malformed key reference is refused
/// without its PIN reaching the terminal, even through clap.
#[tokio::test]
async fn named_keys_are_never_invented_and_a_log_keeps_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("log");
    let mut cfg = rekor_lite::Config::v1(data.clone(), "127.0.0.1");
    cfg.key = Some(rekor_lite::KeyRef::File(dir.path().join("typo-key.pem")));
    let e = rekor_lite::open(&cfg)
        .err()
        .expect("a missing key file")
        .to_string();
    assert!(e.contains("cannot read the key file"), "{e}");
    assert!(
        !dir.path().join("typo-key.pem").exists(),
        "a key was made for a typo"
    );

    let first = dir.path().join("first.pem");
    std::fs::write(&first, P256Signer::generate_p256().unwrap().to_pkcs8_pem()).unwrap();
    cfg.key = Some(rekor_lite::KeyRef::File(first));
    drop(common::open_released(&cfg).unwrap());
    let other = dir.path().join("other.pem");
    std::fs::write(&other, P256Signer::generate_p256().unwrap().to_pkcs8_pem()).unwrap();
    cfg.key = Some(rekor_lite::KeyRef::File(other));
    let e = common::open_released(&cfg)
        .err()
        .expect("another key")
        .to_string();
    assert!(e.contains("not signed by the key given"), "{e}");

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rekor-lite"))
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("x"))
        .args(["--key", "pkcs11:object=k?pin-value=s3cr3t%zz"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a key reference"), "{err}");
    assert!(
        !err.contains("s3cr3t"),
        "the PIN reached the terminal: {err}"
    );
}
