//! rekor-lite's Rekor v2 API over real HTTP on 127.0.0.1: entries answered with a verifiable
//! inclusion proof and C2SP checkpoint, tiles checked by an independent tlog-tiles client
//! (`tlog_tiles::TileHashReader` authenticates every tile against the signed root), duplicates,
//! bad input that changes nothing, and a restart.

use std::collections::HashMap;
use std::path::Path;

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sigstore_lite_core::bundle::TlogEntry;
use sigstore_lite_core::keys::{P256Signer, PublicKey};
use sigstore_lite_core::merkle;
use sigstore_lite_core::note::{Checkpoint, SignedNote};
use sigstore_lite_core::trust::{LogInstance, TrustedRoot, TRUSTED_ROOT_MEDIA_TYPE};
use sigstore_lite_core::verify::TrustMaterial;
use tlog_tiles::{Hash, Tile, TileHashReader, TileReader};

const ORIGIN: &str = "127.0.0.1";

mod common;

/// A v2 log signing as [`ORIGIN`].
struct Server;

impl Server {
    async fn start(dir: &Path, b: &common::Backend) -> common::Server {
        common::Server::start_on(dir, |d| rekor_lite::Config::v2(d.to_path_buf(), ORIGIN), b).await
    }
}

/// A `hashedRekordRequestV002` for `artifact` signed by a fresh P-256 key.
fn request(artifact: &[u8]) -> (P256Signer, Value) {
    let k = P256Signer::generate_p256().unwrap();
    let v = json!({"hashedRekordRequestV002": {
        "digest": B64.encode(Sha256::digest(artifact)),
        "signature": {
            "content": B64.encode(k.sign(artifact)),
            "verifier": {
                "publicKey": {"rawBytes": B64.encode(k.public_key().spki_der())},
                "keyDetails": "PKIX_ECDSA_P256_SHA_256"
            }
        }
    }});
    (k, v)
}

async fn post(url: &str, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{url}/api/v2/log/entries"))
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn get_bytes(url: String) -> (u16, Vec<u8>) {
    let r = reqwest::get(url).await.unwrap();
    (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
}

async fn log_key(url: &str) -> PublicKey {
    let (status, pem) = get_bytes(format!("{url}/api/v2/log/publicKey")).await;
    assert_eq!(status, 200);
    PublicKey::from_pem(std::str::from_utf8(&pem).unwrap()).unwrap()
}

/// The trusted root a client would have for this log.
fn material(url: &str, key: &PublicKey) -> TrustMaterial {
    TrustMaterial::from_trusted_root(&TrustedRoot {
        media_type: TRUSTED_ROOT_MEDIA_TYPE.into(),
        tlogs: vec![LogInstance::new_v2(url, key, "2020-01-01T00:00:00Z")],
        certificate_authorities: Vec::new(),
        ctlogs: Vec::new(),
        timestamp_authorities: Vec::new(),
    })
    .unwrap()
}

/// The signed checkpoint, verified as C2SP with the log's key under its origin.
async fn checkpoint(url: &str, key: &PublicKey) -> Checkpoint {
    let (status, text) = get_bytes(format!("{url}/checkpoint")).await;
    assert_eq!(status, 200);
    let note = SignedNote::parse(std::str::from_utf8(&text).unwrap()).unwrap();
    note.verify_c2sp(ORIGIN, key).expect("checkpoint verifies");
    let cp = Checkpoint::from_text(&note.text).unwrap();
    assert_eq!(cp.origin, ORIGIN, "a Rekor v2 origin is the bare host name");
    // The independent parser agrees.
    let theirs = tlog_tiles::Checkpoint::from_bytes(note.text.as_bytes()).unwrap();
    assert_eq!((theirs.size(), theirs.hash().0), (cp.size, cp.root_hash));
    cp
}

/// Tiles fetched over HTTP, served to tlog_tiles by its Go-style path.
struct HttpTiles(HashMap<String, Vec<u8>>);

fn c2sp_path(t: &Tile) -> String {
    // tlog_tiles writes Go's `tile/<H>/<L>/<N>` and `tile/<H>/data/<N>`; C2SP drops the height
    // and names the entry bundles `entries`.
    let p = t.path();
    let rest = p.splitn(3, '/').nth(2).unwrap();
    match rest.strip_prefix("data/") {
        Some(n) => format!("tile/entries/{n}"),
        None => format!("tile/{rest}"),
    }
}

impl HttpTiles {
    async fn fetch(url: &str, size: u64) -> HttpTiles {
        let mut m = HashMap::new();
        for t in Tile::new_tiles(8, 0, size) {
            for t in [t, {
                let mut d = t;
                d.set_is_data();
                d
            }] {
                if t.is_data() && t.level() != 0 {
                    continue;
                }
                let path = c2sp_path(&t);
                let (status, data) = get_bytes(format!("{url}/{path}")).await;
                assert_eq!(status, 200, "{path}");
                m.insert(path, data);
            }
        }
        HttpTiles(m)
    }
}

impl TileReader for HttpTiles {
    fn height(&self) -> u8 {
        8
    }

    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, tlog_tiles::Error> {
        tiles
            .iter()
            .map(|t| {
                self.0
                    .get(&c2sp_path(t))
                    .cloned()
                    .ok_or(tlog_tiles::Error::IndexesNotInTree)
            })
            .collect()
    }

    fn save_tiles(&self, _: &[Tile], _: &[Vec<u8>]) {}
}

/// Splits an entry bundle into its u16-length-prefixed bodies.
fn bundle_entries(mut b: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let n = u16::from_be_bytes([b[0], b[1]]) as usize;
        out.push(b[2..2 + n].to_vec());
        b = &b[2 + n..];
    }
    out
}

on_both_stores!(entries_tiles_and_checkpoints_verify);

/// Run on both stores (`entries_tiles_and_checkpoints_verify::redb`, `entries_tiles_and_checkpoints_verify::postgres`).
async fn entries_tiles_and_checkpoints_verify(b: &common::Backend) {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path(), b).await;
    let key = log_key(&srv.url).await;
    assert!(matches!(
        key.kind(),
        sigstore_lite_core::keys::KeyKind::Ed25519
    ));
    let tm = material(&srv.url, &key);

    // 260 entries, in parallel: a full level-0 tile, a partial one and a partial level-1 tile.
    let n = 260;
    let mut tasks = Vec::new();
    for i in 0..n {
        let url = srv.url.clone();
        tasks.push(tokio::spawn(async move {
            let (_, req) = request(format!("artifact {i}").as_bytes());
            let r = post(&url, &req).await;
            assert_eq!(r.status(), 201);
            let v: Value = r.json().await.unwrap();
            (req, v)
        }));
    }
    let mut bodies = HashMap::new();
    for t in tasks {
        let (req, v) = t.await.unwrap();
        // protobuf JSON: int64 as strings, kind hashedrekord 0.0.2, no promise.
        assert!(v["logIndex"].is_string(), "{v}");
        assert_eq!(
            v["kindVersion"],
            json!({"kind": "hashedrekord", "version": "0.0.2"})
        );
        assert!(v.get("inclusionPromise").is_none());
        let tle: TlogEntry = serde_json::from_value(v.clone()).unwrap();
        let body = B64.decode(&tle.canonicalized_body).unwrap();
        // The logged body is the request as rekor-tiles canonicalizes it.
        let logged: Value = serde_json::from_slice(&body).unwrap();
        let r = &req["hashedRekordRequestV002"];
        let spec = &logged["spec"]["hashedRekordV002"];
        assert_eq!(spec["data"]["digest"], r["digest"]);
        assert_eq!(spec["data"]["algorithm"], "SHA2_256");
        assert_eq!(spec["signature"]["content"], r["signature"]["content"]);
        assert_eq!(spec["signature"]["verifier"], r["signature"]["verifier"]);
        assert_eq!(body, serde_json_canonicalizer::to_vec(&logged).unwrap());
        tm.verify_tlog_entry_v2(&tle, &body, &[1_700_000_000])
            .expect("the entry's proof and checkpoint verify for its body");
        // Another body does not verify with this proof.
        let mut other = body.clone();
        other.push(b' ');
        assert!(tm
            .verify_tlog_entry_v2(&tle, &other, &[1_700_000_000])
            .is_err());
        bodies.insert(tle.log_index as u64, body);
    }
    assert_eq!(bodies.len(), n);

    let cp = checkpoint(&srv.url, &key).await;
    assert_eq!(cp.size, n as u64);
    let leaves: Vec<_> = (0..n as u64)
        .map(|i| merkle::leaf_hash(&bodies[&i]))
        .collect();
    assert_eq!(cp.root_hash, merkle::root(&leaves));

    // An independent tlog-tiles client authenticates every tile against the signed root.
    let tiles = HttpTiles::fetch(&srv.url, cp.size).await;
    assert!(tiles.0.contains_key("tile/0/000"));
    assert!(tiles.0.contains_key("tile/0/001.p/4"));
    assert!(tiles.0.contains_key("tile/1/000.p/1"));
    let reader = TileHashReader::new(cp.size, Hash(cp.root_hash), &tiles);
    assert_eq!(
        tlog_tiles::tree_hash(cp.size, &reader).unwrap().0,
        cp.root_hash
    );
    for i in [0u64, 255, 256, 259] {
        let proof = tlog_tiles::prove_record(cp.size, i, &reader).unwrap();
        tlog_tiles::check_record(
            &proof,
            cp.size,
            Hash(cp.root_hash),
            i,
            Hash(leaves[i as usize]),
        )
        .unwrap();
    }
    // Entry bundles hold the canonical bodies in log order.
    let mut from_bundles = bundle_entries(&tiles.0["tile/entries/000"]);
    from_bundles.extend(bundle_entries(&tiles.0["tile/entries/001.p/4"]));
    assert_eq!(from_bundles.len(), n);
    for (i, b) in from_bundles.iter().enumerate() {
        assert_eq!(b, &bodies[&(i as u64)]);
    }
    // A narrower partial tile is a prefix; tiles beyond the tree and bad paths are 404.
    let (s, two) = get_bytes(format!("{}/tile/0/001.p/2", srv.url)).await;
    assert_eq!((s, two.as_slice()), (200, &tiles.0["tile/0/001.p/4"][..64]));
    for p in [
        "tile/0/001",
        "tile/0/001.p/5",
        "tile/0/002.p/1",
        "tile/1/000",
        "tile/2/000.p/1",
        "tile/entries/001",
        "tile/0/1",
        "tile/0/000.p/0",
        "tile/0/000.p/256",
        "tile/64/000.p/1",
        "tile/255/000",
        "tile/entries/000.p/0",
        "tile/x/000",
        "tile/0/x000",
    ] {
        let r = reqwest::get(format!("{}/{p}", srv.url)).await.unwrap();
        assert_eq!(r.status(), 404, "{p}");
        let v: Value = r.json().await.unwrap();
        assert!(v["message"].is_string() && v["code"] == 404, "{p}: {v}");
    }
    let r = reqwest::get(format!("{}/tile/0/000", srv.url))
        .await
        .unwrap();
    assert_eq!(
        r.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    srv.stop().await;
}

on_both_stores!(duplicates_bad_input_and_restart);

/// Run on both stores (`duplicates_bad_input_and_restart::redb`, `duplicates_bad_input_and_restart::postgres`).
async fn duplicates_bad_input_and_restart(b: &common::Backend) {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path(), b).await;
    let key = log_key(&srv.url).await;
    let (k, good) = request(b"first");
    let r = post(&srv.url, &good).await;
    assert_eq!(r.status(), 201);
    let first: Value = r.json().await.unwrap();

    // The same entry again: 409 with the index of the first, as rekor-tiles answers.
    let r = post(&srv.url, &good).await;
    assert_eq!(r.status(), 409);
    assert_eq!(
        r.headers()["x-log-index"],
        first["logIndex"].as_str().unwrap()
    );
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (v["code"].as_u64(), v["reason"].as_str()),
        (Some(409), Some("entry_exists"))
    );
    assert!(v["message"].is_string());

    let with = |path: &[&str], val: Value| {
        let mut p = good.clone();
        let mut cur = &mut p["hashedRekordRequestV002"];
        for s in &path[..path.len() - 1] {
            cur = &mut cur[*s];
        }
        cur[path[path.len() - 1]] = val;
        serde_json::to_vec(&p).unwrap()
    };
    let ed = aws_lc_rs::signature::Ed25519KeyPair::generate().unwrap();
    let ed_spki = {
        use aws_lc_rs::encoding::AsDer;
        use aws_lc_rs::signature::KeyPair;
        ed.public_key().as_der().unwrap().as_ref().to_vec()
    };
    let ed_req = json!({"hashedRekordRequestV002": {
        "digest": B64.encode(Sha256::digest(b"ed")),
        "signature": {"content": B64.encode(ed.sign(b"ed").as_ref()),
            "verifier": {"publicKey": {"rawBytes": B64.encode(ed_spki)}, "keyDetails": "PKIX_ED25519"}}
    }});
    let dsse = json!({"dsseRequestV002": {"envelope": {"payload": "e30=", "payloadType": "t",
        "signatures": [{"sig": B64.encode(k.sign(b"x")), "keyid": ""}]}, "verifiers": []}});
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("malformed JSON", b"{not json".to_vec(), "malformed_json"),
        ("no request", b"{}".to_vec(), "missing_field"),
        (
            "dsseRequestV002 (rekor-tiles refuses it)",
            serde_json::to_vec(&dsse).unwrap(),
            "unknown_kind",
        ),
        (
            "pure Ed25519",
            serde_json::to_vec(&ed_req).unwrap(),
            "bad_public_key",
        ),
        (
            "key details of another key",
            with(
                &["signature", "verifier", "keyDetails"],
                json!("PKIX_ECDSA_P384_SHA_384"),
            ),
            "bad_public_key",
        ),
        (
            "unknown key details",
            with(&["signature", "verifier", "keyDetails"], json!("PGP")),
            "unsupported_hash_algorithm",
        ),
        (
            "short digest",
            with(&["digest"], json!(B64.encode([1u8; 20]))),
            "bad_digest",
        ),
        (
            "digest not base64",
            with(&["digest"], json!("%%%")),
            "bad_base64",
        ),
        (
            "signature over something else",
            with(
                &["signature", "content"],
                json!(B64.encode(k.sign(b"second"))),
            ),
            "bad_signature",
        ),
        (
            "not a key",
            with(
                &["signature", "verifier", "publicKey", "rawBytes"],
                json!(B64.encode(b"nope")),
            ),
            "bad_public_key",
        ),
    ];
    let before = checkpoint(&srv.url, &key).await;
    for (what, body, code) in cases {
        let r = reqwest::Client::new()
            .post(format!("{}/api/v2/log/entries", srv.url))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{what}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(
            (v["code"].as_u64(), v["reason"].as_str()),
            (Some(400), Some(code)),
            "{what}: {v}"
        );
        assert!(
            v["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}: {v}"
        );
    }
    // Too large, and the v1 API is not served by a v2 log.
    let r = reqwest::Client::new()
        .post(format!("{}/api/v2/log/entries", srv.url))
        .header("content-type", "application/json")
        .body(vec![b' '; 2 << 20])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let r = reqwest::get(format!("{}/api/v1/log", srv.url))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // The method is judged before the body's type: 405 for a method a path does not take, 404
    // for an unknown path, 415 only for a write to the one write endpoint.
    for (method, path, ct, status) in [
        ("POST", "/checkpoint", None, 405),
        ("POST", "/checkpoint", Some("text/plain"), 405),
        ("PUT", "/checkpoint", Some("application/json"), 405),
        ("POST", "/tile/0/000", Some("text/plain"), 405),
        ("PUT", "/api/v2/log/entries", Some("text/plain"), 405),
        ("GET", "/api/v2/log/entries", None, 405),
        ("POST", "/api/v2/log/publicKey", None, 405),
        ("POST", "/nothing", Some("text/plain"), 404),
        ("POST", "/api/v2/log/entries", Some("text/plain"), 415),
        ("POST", "/api/v2/log/entries", None, 415),
    ] {
        let mut r = reqwest::Client::new()
            .request(method.parse().unwrap(), format!("{}{path}", srv.url))
            .body("x");
        if let Some(ct) = ct {
            r = r.header("content-type", ct);
        }
        let r = r.send().await.unwrap();
        assert_eq!(r.status(), status, "{method} {path} {ct:?}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["code"], status, "{method} {path}: {v}");
    }
    assert_eq!(checkpoint(&srv.url, &key).await, before, "nothing changed");

    // A restart keeps the key, the origin and the entries.
    srv.stop().await;
    let srv = Server::start(dir.path(), b).await;
    assert_eq!(log_key(&srv.url).await, key);
    assert_eq!(checkpoint(&srv.url, &key).await, before);
    assert_eq!(post(&srv.url, &good).await.status(), 409);
    let (_, second) = request(b"second");
    let v: Value = post(&srv.url, &second).await.json().await.unwrap();
    assert_eq!(v["logIndex"], "1");
    srv.stop().await;

    // The same log under another origin is refused, in one sentence.
    let mut other = rekor_lite::Config::v2(dir.path().to_path_buf(), "rekor.example");
    if let common::Backend::Postgres(cluster) = b {
        let same = rekor_lite::Config::v2(dir.path().to_path_buf(), ORIGIN);
        let db = format!(
            "log_{}",
            &hex::encode(sigstore_lite_core::keys::sha256(
                same.data_dir.to_string_lossy().as_bytes()
            ))[..16]
        );
        other.store = Some(cluster.url(&db));
        other.key = Some(rekor_lite::KeyRef::File(dir.path().join("pg-log-key.pem")));
        other.advertise = Some("http://127.0.0.1:1".into());
    }
    let e = common::open_released(&other)
        .err()
        .expect("another origin is refused");
    assert!(e.to_string().contains("rekor.example"), "{e}");
}

/// The real binary as a v2 log, SIGKILLed mid-stream: every acknowledged entry is in the tiles at
/// its index after a restart, and the new tree extends every checkpoint a client was given.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_submitting_loses_no_acknowledged_entry() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    let dir = tempfile::tempdir().unwrap();
    let args = ["--api-version", "2"];
    let mut srv = common::spawn_binary(dir.path(), &args);
    let key = log_key(&srv.url).await;
    let acked = Arc::new(Mutex::new(Vec::<TlogEntry>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for t in 0..8 {
        let (url, acked, stop) = (srv.url.clone(), Arc::clone(&acked), Arc::clone(&stop));
        tasks.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let (_, req) = request(format!("crash {t}/{i}").as_bytes());
                i += 1;
                let Ok(r) = reqwest::Client::new()
                    .post(format!("{url}/api/v2/log/entries"))
                    .json(&req)
                    .send()
                    .await
                else {
                    break;
                };
                if r.status() != 201 {
                    break;
                }
                match r.json::<TlogEntry>().await {
                    Ok(e) => acked.lock().unwrap().push(e),
                    Err(_) => break,
                }
            }
        }));
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while acked.lock().unwrap().len() < 300 {
        assert!(
            std::time::Instant::now() < deadline,
            "server too slow to acknowledge entries"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    srv.child.kill().unwrap(); // SIGKILL
    srv.child.wait().unwrap();
    drop(srv);
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();

    let srv = common::spawn_binary(dir.path(), &args);
    assert_eq!(log_key(&srv.url).await, key, "same key after restart");
    let cp = checkpoint(&srv.url, &key).await;
    assert!(cp.size >= acked.len() as u64);
    let tiles = HttpTiles::fetch(&srv.url, cp.size).await;
    let reader = TileHashReader::new(cp.size, Hash(cp.root_hash), &tiles);
    let mut bodies = Vec::new();
    for n in 0..cp.size.div_ceil(256) {
        let w = (cp.size - n * 256).min(256);
        let path = if w == 256 {
            format!("tile/entries/{n:03}")
        } else {
            format!("tile/entries/{n:03}.p/{w}")
        };
        bodies.extend(bundle_entries(&tiles.0[&path]));
    }
    assert_eq!(bodies.len() as u64, cp.size);
    for e in &acked {
        let i = e.log_index as usize;
        assert_eq!(
            B64.encode(&bodies[i]),
            e.canonicalized_body,
            "acknowledged entry {i} lost or changed"
        );
        // The checkpoint the client was given is a prefix of today's tree.
        let p = e.inclusion_proof.as_ref().unwrap();
        let old = tlog_tiles::tree_hash(p.tree_size as u64, &reader).unwrap();
        assert_eq!(
            B64.encode(old.0),
            p.root_hash,
            "tree of size {}",
            p.tree_size
        );
    }
}
