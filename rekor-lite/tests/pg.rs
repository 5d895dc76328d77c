//! rekor-lite on a real PostgreSQL server (Debian's package, a cluster started by the test): the
//! Rekor v1 and v2 APIs on the database; two frontends of one log with the integrator killed
//! (-9) under load; the fence that stops a stale integrator; a database restored to an older
//! state; a log opened with another key.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::io::BufRead;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use common::pg::Cluster;
use serde_json::Value;
use sigstore_lite_core::keys::{sha256, Ed25519Signer, P256Signer};
use sigstore_lite_core::merkle;
use sigstore_lite_core::rekor::{Proposed, Verifier};

/// What the writers of a test record together.
type Shared<T> = Arc<Mutex<Vec<T>>>;

/// `rekor-lite serve --store URL`, killed when dropped.
struct Frontend {
    child: std::process::Child,
    url: String,
}

impl Drop for Frontend {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(store: &str, key: &Path, extra: &[&str]) -> Frontend {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rekor-lite"))
        .args(["serve", "--addr", "127.0.0.1:0", "--store", store, "--key"])
        .arg(key)
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start rekor-lite");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| {
            let mut err = String::new();
            let _ = std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err);
            panic!("rekor-lite did not start: {line:?} {err}")
        })
        .to_string();
    Frontend { child, url }
}

fn v1_key(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("rekor-key.pem");
    std::fs::write(&p, P256Signer::generate_p256().unwrap().to_pkcs8_pem()).unwrap();
    p
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// A hashedrekord proposal for `artifact`, signed by a fresh key.
fn proposal(artifact: &[u8]) -> Value {
    let k = P256Signer::generate_p256().unwrap();
    Proposed::hashedrekord(
        sha256(artifact),
        k.sign(artifact),
        Verifier::PublicKey(k.public_key().spki_der().to_vec()),
    )
    .to_json()
}

/// Waits until the frontend says which role it has; returns it.
async fn role(url: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(r) = http().get(format!("{url}/healthz")).send().await {
            if let Ok(v) = r.json::<Value>().await {
                if let Some(role) = v["role"].as_str() {
                    if role != "no_integrator" {
                        return role.to_string();
                    }
                }
            }
        }
        assert!(Instant::now() < deadline, "{url} never found an integrator");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Posts `p` to the frontends in turn (from the `n`th) until it is in the log, retrying a 5xx or
/// a dropped connection as a client would, for at most 60 s. Returns the entry when this post
/// logged it; `None` for a 409 (an earlier attempt committed before its answer was lost).
async fn post_until_logged(
    c: &reqwest::Client,
    urls: &[String],
    p: &Value,
    mut n: usize,
    what: &str,
) -> Option<(String, Value)> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let url = &urls[n % urls.len()];
        n += 1;
        match c
            .post(format!("{url}/api/v1/log/entries"))
            .json(p)
            .send()
            .await
        {
            Ok(r) if r.status() == 201 => return Some(only(&r.json().await.unwrap())),
            Ok(r) if r.status() == 409 => return None,
            Ok(r) if r.status().is_server_error() => {}
            Ok(r) => panic!("{}: {}", r.status(), r.text().await.unwrap_or_default()),
            Err(_) => {}
        }
        assert!(Instant::now() < deadline, "{what}: an entry never got in");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the frontend has role `want`.
async fn wait_role(url: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while role(url).await != want {
        assert!(Instant::now() < deadline, "{url} never became the {want}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One v1 `LogEntry` (the only value of the entry map).
fn only(v: &Value) -> (String, Value) {
    let (k, e) = v.as_object().unwrap().iter().next().unwrap();
    (k.clone(), e.clone())
}

/// Checks an entry's inclusion proof against the root it names; returns (index, size, root).
fn check_inclusion(e: &Value) -> (u64, u64, Vec<u8>) {
    let body = B64.decode(e["body"].as_str().unwrap()).unwrap();
    let p = &e["verification"]["inclusionProof"];
    let hashes: Vec<Vec<u8>> = p["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| hex::decode(h.as_str().unwrap()).unwrap())
        .collect();
    let root = hex::decode(p["rootHash"].as_str().unwrap()).unwrap();
    let (index, size) = (
        p["logIndex"].as_u64().unwrap(),
        p["treeSize"].as_u64().unwrap(),
    );
    merkle::verify_inclusion(index, size, &merkle::leaf_hash(&body), &hashes, &root)
        .unwrap_or_else(|err| panic!("entry {index} does not verify: {err:?}"));
    (index, size, root)
}

async fn log_info(url: &str) -> (u64, Vec<u8>) {
    let v: Value = http()
        .get(format!("{url}/api/v1/log"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (
        v["treeSize"].as_u64().unwrap(),
        hex::decode(v["rootHash"].as_str().unwrap()).unwrap(),
    )
}

async fn consistent(url: &str, (s1, r1): (u64, &[u8]), (s2, r2): (u64, &[u8])) {
    if s1 == 0 || s1 == s2 {
        assert!(s1 == 0 || r1 == r2, "two roots for size {s1}");
        return;
    }
    let v: Value = http()
        .get(format!(
            "{url}/api/v1/log/proof?firstSize={s1}&lastSize={s2}"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let hashes: Vec<Vec<u8>> = v["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| hex::decode(h.as_str().unwrap()).unwrap())
        .collect();
    merkle::verify_consistency(s1, s2, r1, r2, &hashes)
        .unwrap_or_else(|e| panic!("{s1} -> {s2} is not consistent: {e:?}"));
}

/// The Rekor v1 API on PostgreSQL: appends with proofs, duplicates, reads by index, UUID and
/// search, consistency proofs, and a restart that keeps everything (nothing on local disk). The
/// Rekor v2 API too: C2SP checkpoints and tiles from the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_rekor_apis_run_on_postgres() {
    let pg = Cluster::start();
    let dir = tempfile::tempdir().unwrap();
    let key = v1_key(dir.path());
    let url = pg.create_db("v1");
    let f = spawn(&url, &key, &[]);
    assert_eq!(role(&f.url).await, "integrator");
    let c = http();
    let mut seen = Vec::new();
    let mut ids = Vec::new();
    for i in 0..12 {
        let r = c
            .post(format!("{}/api/v1/log/entries", f.url))
            .json(&proposal(format!("artifact {i}").as_bytes()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let (id, e) = only(&r.json().await.unwrap());
        assert_eq!(e["logIndex"].as_u64(), Some(i));
        let (_, size, root) = check_inclusion(&e);
        seen.push((size, root));
        ids.push(id);
    }
    let dup = proposal(b"twice");
    let r = c
        .post(format!("{}/api/v1/log/entries", f.url))
        .json(&dup)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let (dup_id, _) = only(&r.json().await.unwrap());
    let r = c
        .post(format!("{}/api/v1/log/entries", f.url))
        .json(&dup)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    assert_eq!(
        r.headers()["location"].to_str().unwrap(),
        format!("/api/v1/log/entries/{dup_id}")
    );
    // Reads by index, UUID, search; consistency from every size seen.
    let by_index: Value = c
        .get(format!("{}/api/v1/log/entries?logIndex=3", f.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(only(&by_index).0, ids[3]);
    let by_id: Value = c
        .get(format!("{}/api/v1/log/entries/{}", f.url, ids[5]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    check_inclusion(&only(&by_id).1);
    let found: Vec<String> = c
        .post(format!("{}/api/v1/index/retrieve", f.url))
        .json(
            &serde_json::json!({"hash": format!("sha256:{}", hex::encode(sha256(b"artifact 7")))}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert!(ids[7].ends_with(&found[0][found[0].len() - 64..]));
    let last = log_info(&f.url).await;
    assert_eq!(last.0, 13);
    for (s, r) in &seen {
        consistent(&f.url, (*s, r), (last.0, &last.1)).await;
    }
    // A restart keeps the log: nothing of it was on this machine's disk. (The killed process's
    // lease runs out first: the new one follows it until then.)
    drop(f);
    let f = spawn(&url, &key, &[]);
    wait_role(&f.url, "integrator").await;
    assert_eq!(log_info(&f.url).await, last);
    let r = c
        .post(format!("{}/api/v1/log/entries", f.url))
        .json(&dup)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409, "duplicates survive a restart");
    // A read replica: --read-only with a database user that may only SELECT.
    pg.execute(
        "v1",
        "CREATE ROLE reader LOGIN; GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader",
    );
    let reader_url = url.replace("postgres://postgres@", "postgres://reader@");
    let ro = spawn(&reader_url, &key, &["--read-only"]);
    assert_eq!(role(&ro.url).await, "read_only");
    assert_eq!(log_info(&ro.url).await, last);
    let e: Value = c
        .get(format!("{}/api/v1/log/entries/{}", ro.url, ids[2]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    check_inclusion(&only(&e).1);
    let r = c
        .post(format!("{}/api/v1/log/entries", ro.url))
        .json(&proposal(b"to a replica"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.json::<Value>().await.unwrap()["reason"], "read_only");
    drop(ro);
    // Another key on the same database is refused in one sentence.
    let other = dir.path().join("other.pem");
    std::fs::write(&other, P256Signer::generate_p256().unwrap().to_pkcs8_pem()).unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_rekor-lite"))
        .args(["serve", "--addr", "127.0.0.1:0", "--store", &url, "--key"])
        .arg(&other)
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("another key"), "{e}");
    assert_eq!(e.trim().lines().count(), 1, "one sentence: {e}");
    drop(f);

    // Rekor v2 on its own database: entries, checkpoint and tiles.
    let v2key = dir.path().join("v2.pem");
    std::fs::write(&v2key, Ed25519Signer::generate().unwrap().to_pkcs8_pem()).unwrap();
    let url2 = pg.create_db("v2");
    let f2 = spawn(
        &url2,
        &v2key,
        &["--api-version", "2", "--origin", "rekor-v2.test"],
    );
    assert_eq!(role(&f2.url).await, "integrator");
    for i in 0..5u64 {
        let k = P256Signer::generate_p256().unwrap();
        let art = format!("v2 artifact {i}");
        let body = serde_json::json!({"hashedRekordRequestV002": {
            "digest": B64.encode(sha256(art.as_bytes())),
            "signature": {"content": B64.encode(k.sign(art.as_bytes())),
                "verifier": {"publicKey": {"rawBytes": B64.encode(k.public_key().spki_der())},
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256"}}}});
        let r = c
            .post(format!("{}/api/v2/log/entries", f2.url))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{:?}", r.text().await);
        let t: Value = r.json().await.unwrap();
        assert_eq!(t["logIndex"].as_str(), Some(i.to_string().as_str()));
        let again = c
            .post(format!("{}/api/v2/log/entries", f2.url))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 409);
    }
    let cp = c
        .get(format!("{}/checkpoint", f2.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut lines = cp.lines();
    assert_eq!(lines.next(), Some("rekor-v2.test"));
    assert_eq!(lines.next(), Some("5"));
    let tile = c
        .get(format!("{}/tile/0/000.p/5", f2.url))
        .send()
        .await
        .unwrap();
    assert_eq!(tile.status(), 200);
    assert_eq!(tile.bytes().await.unwrap().len(), 5 * 32);
    let bundle = c
        .get(format!("{}/tile/entries/000.p/5", f2.url))
        .send()
        .await
        .unwrap();
    assert_eq!(bundle.status(), 200);
}

/// Two frontends of one log, 16 writers spread over both, a duplicate race across them, and the
/// integrator killed with SIGKILL mid-load: the other takes over within 10 s, every acknowledged
/// entry is in the final tree at the index it was given (no index given twice), and every
/// checkpoint a client saw is consistent with the final one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_frontends_survive_the_integrator_killed_mid_load() {
    let pg = Cluster::start();
    let dir = tempfile::tempdir().unwrap();
    let key = v1_key(dir.path());
    let url = pg.create_db("ha");
    let a = spawn(&url, &key, &[]);
    // The first to start takes the lease; the second follows.
    assert_eq!(role(&a.url).await, "integrator");
    let b = spawn(&url, &key, &[]);
    assert_eq!(role(&b.url).await, "follower");

    // The same entry posted to both frontends at once: one 201, one 409, the same entry.
    for round in 0..5 {
        let p = proposal(format!("raced {round}").as_bytes());
        let (ra, rb) = tokio::join!(
            http()
                .post(format!("{}/api/v1/log/entries", a.url))
                .json(&p)
                .send(),
            http()
                .post(format!("{}/api/v1/log/entries", b.url))
                .json(&p)
                .send(),
        );
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        let mut codes = [ra.status().as_u16(), rb.status().as_u16()];
        codes.sort();
        assert_eq!(codes, [201, 409], "round {round}");
        let loc = |r: &reqwest::Response| {
            r.headers()
                .get("location")
                .map(|v| v.to_str().unwrap().to_string())
        };
        assert_eq!(loc(&ra), loc(&rb), "the same entry ID from both");
    }

    let acked: Shared<(u64, String, Vec<u8>)> = Arc::default();
    let checkpoints: Shared<(u64, Vec<u8>)> = Arc::default();
    let first_after_kill: Arc<Mutex<Option<Instant>>> = Arc::default();
    let killed_at: Arc<Mutex<Option<Instant>>> = Arc::default();
    let urls = [a.url.clone(), b.url.clone()];
    let mut writers = Vec::new();
    for w in 0..16 {
        let (acked, checkpoints, urls) = (acked.clone(), checkpoints.clone(), urls.clone());
        let (first_after_kill, killed_at) = (first_after_kill.clone(), killed_at.clone());
        writers.push(tokio::spawn(async move {
            let c = http();
            for i in 0..25 {
                let art = format!("writer {w} entry {i}");
                let p = proposal(art.as_bytes());
                // Retry a 5xx or a dropped connection on the other frontend, as a client would.
                if let Some((id, e)) = post_until_logged(&c, &urls, &p, w + i, "a writer").await {
                    let (index, size, root) = check_inclusion(&e);
                    if killed_at.lock().unwrap().is_some() {
                        first_after_kill
                            .lock()
                            .unwrap()
                            .get_or_insert(Instant::now());
                    }
                    acked.lock().unwrap().push((index, id, art.into_bytes()));
                    checkpoints.lock().unwrap().push((size, root));
                }
            }
        }));
    }
    // Kill the integrator (-9) once entries are flowing.
    while acked.lock().unwrap().len() < 80 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut a = a;
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    *killed_at.lock().unwrap() = Some(Instant::now());
    for w in writers {
        w.await.unwrap();
    }
    let killed = killed_at.lock().unwrap().unwrap();
    let first = first_after_kill
        .lock()
        .unwrap()
        .expect("entries were acknowledged after the kill");
    let takeover = first.duration_since(killed);
    eprintln!("takeover: first 201 on the survivor {takeover:?} after kill -9 of the integrator");
    assert!(
        takeover < Duration::from_secs(10),
        "takeover took {takeover:?}"
    );
    assert_eq!(role(&b.url).await, "integrator");

    // Every acknowledged entry is at its index in the final tree, and no index was given twice.
    let last = log_info(&b.url).await;
    let acked = acked.lock().unwrap().clone();
    let mut indexes = HashSet::new();
    for (index, id, art) in &acked {
        assert!(indexes.insert(*index), "index {index} given twice");
        let e: Value = http()
            .get(format!("{}/api/v1/log/entries/{id}", b.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let (_, e) = only(&e);
        assert_eq!(e["logIndex"].as_u64(), Some(*index));
        let (_, size, root) = check_inclusion(&e);
        assert_eq!((size, root.as_slice()), (last.0, last.1.as_slice()));
        let body: Value =
            serde_json::from_slice(&B64.decode(e["body"].as_str().unwrap()).unwrap()).unwrap();
        assert_eq!(
            body["spec"]["data"]["hash"]["value"].as_str(),
            Some(hex::encode(sha256(art)).as_str())
        );
    }
    assert!(
        acked.len() >= 16 * 25 - 16,
        "{} of 400 acknowledged",
        acked.len()
    );
    assert!(last.0 as usize >= acked.len() + 5);
    // One root per size, and every checkpoint seen is consistent with the last.
    let mut roots: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    for (s, r) in checkpoints.lock().unwrap().iter() {
        if let Some(prev) = roots.insert(*s, r.clone()) {
            assert_eq!(&prev, r, "two roots for size {s}: a fork");
        }
    }
    for (s, r) in &roots {
        consistent(&b.url, (*s, r), (last.0, &last.1)).await;
    }
    // The killed process comes back as a follower and serves the same tree.
    let a2 = spawn(&url, &key, &[]);
    assert_eq!(role(&a2.url).await, "follower");
    assert_eq!(log_info(&a2.url).await, last);
    let r = http()
        .post(format!("{}/api/v1/log/entries", a2.url))
        .json(&proposal(b"through the follower"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "a follower forwards to the integrator");
    // A graceful stop (SIGTERM) gives the lease up: the other process integrates at once,
    // without waiting for the lease to run out.
    let stopped = Instant::now();
    let ok = std::process::Command::new("kill")
        .args(["-TERM", &b.child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    wait_role(&a2.url, "integrator").await;
    let handover = stopped.elapsed();
    eprintln!("handover after SIGTERM: {handover:?}");
    assert!(handover < Duration::from_secs(4), "{handover:?}");
    let r = http()
        .post(format!("{}/api/v1/log/entries", a2.url))
        .json(&proposal(b"after the handover"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
}

/// The fence: an integrator whose lease was taken over cannot commit (its transaction sees
/// another epoch), and a database restored to an older state is refused by the process that
/// saw the newer tree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_integrator_cannot_commit_and_a_rolled_back_database_is_refused() {
    use rekor_lite::pgstore::{Identity, PgStore};
    use rekor_lite::store::{Batch, NewEntry, Store, StoredEntry};
    let pg = Cluster::start();
    let url = pg.create_db("fence");
    let id = Identity {
        api_version: 1,
        origin: "fence.test".into(),
        key_id: "00".repeat(32),
    };
    let a = PgStore::open(&url, &id).unwrap();
    let b = PgStore::open(&url, &id).unwrap();
    let (mut ra, mut rb) = (None, None);
    assert!(a.lease_round("http://a", &mut ra), "a takes the free lease");
    assert!(
        !b.lease_round("http://b", &mut rb),
        "b follows while a's lease holds"
    );
    let batch = |n: u64| Batch {
        entries: vec![NewEntry {
            index: n,
            leaf_hash: sha256(&n.to_be_bytes()),
            entry: StoredEntry {
                body: n.to_be_bytes().to_vec(),
                integrated_time: 1,
            },
            index_keys: vec![format!("k{n}")],
        }],
        hashes: vec![(n * 2, tlog_tiles::Hash(sha256(&n.to_be_bytes())))],
        new_size: n + 1,
        checkpoint: format!("checkpoint {n}"),
    };
    a.append(&batch(0)).unwrap();
    assert!(b.append(&batch(1)).is_err(), "a follower cannot commit");
    // a's lease runs out without a renewal (a paused process); b takes over.
    pg.execute("fence", "UPDATE rekor_lease SET expires_ms = 0");
    assert!(
        b.lease_round("http://b", &mut rb),
        "b takes the expired lease"
    );
    let e = a.append(&batch(1)).unwrap_err();
    assert!(e.0.contains("fenced"), "{e}");
    assert_eq!(
        b.tree_size().unwrap(),
        1,
        "the stale integrator committed nothing"
    );
    b.append(&batch(1)).unwrap();
    assert_eq!(a.tree_size().unwrap(), 2);
    // Readers racing commits are no rollback: a size read by a query sent before a commit is
    // smaller than what another thread has seen since, and that is fine.
    let b = Arc::new(b);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..6)
        .map(|_| {
            let (b, stop) = (b.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    b.checkpoint().expect("a concurrent read is not a rollback");
                    b.tree_size().expect("a concurrent read is not a rollback");
                }
            })
        })
        .collect();
    for n in 2..40 {
        b.append(&batch(n)).unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for r in readers {
        r.join().unwrap();
    }
    assert!(b.healthy());

    // Restore an older state (a dump taken at size 40) under a process that saw size 41.
    let dump = tempfile::NamedTempFile::new().unwrap();
    let dump_path = dump.path().to_str().unwrap().to_string();
    if common::pg::running_as_root() {
        std::process::Command::new("chown")
            .args(["postgres", &dump_path])
            .status()
            .unwrap();
    }
    let o = pg.tool(
        "pg_dump",
        &[
            "-h",
            "127.0.0.1",
            "-p",
            &pg.port.to_string(),
            "-U",
            "postgres",
            "-d",
            "fence",
            "-c",
            "-f",
            &dump_path,
        ],
    );
    assert!(
        o.status.success(),
        "pg_dump: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    b.append(&batch(40)).unwrap();
    assert_eq!(a.tree_size().unwrap(), 41);
    let o = pg.tool(
        "psql",
        &[
            "-q",
            "-h",
            "127.0.0.1",
            "-p",
            &pg.port.to_string(),
            "-U",
            "postgres",
            "-d",
            "fence",
            "-f",
            &dump_path,
        ],
    );
    assert!(
        o.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let e = a.tree_size().unwrap_err();
    assert!(e.0.contains("restored to an older state"), "{e}");
    assert!(
        a.checkpoint().is_err() && a.entry(0).is_err(),
        "every operation refused"
    );
    assert!(!a.healthy());
}

/// Database failover: a primary with a synchronous standby, two frontends on a multi-host URL
/// (`target_session_attrs=read-write`), writers running; kill -9 of the primary, promotion of
/// the standby. The frontends reconnect by themselves, /healthz says NOT_SERVING while no
/// database answers, and every acknowledged entry is in the promoted database's tree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_fails_over_to_a_synchronous_standby_and_nothing_acknowledged_is_lost() {
    let mut primary = Cluster::start();
    primary.execute("postgres", "CREATE DATABASE ha");
    let standby = primary.start_standby();
    primary.make_standbys_synchronous();
    primary.wait_synchronous();
    let dir = tempfile::tempdir().unwrap();
    let key = v1_key(dir.path());
    let url = format!(
        "postgres://postgres@127.0.0.1:{},127.0.0.1:{}/ha?target_session_attrs=read-write&connect_timeout=2",
        primary.port, standby.port
    );
    let a = spawn(&url, &key, &[]);
    wait_role(&a.url, "integrator").await;
    let b = spawn(&url, &key, &[]);
    wait_role(&b.url, "follower").await;

    let acked: Shared<(u64, String)> = Arc::default();
    let failed_over = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let urls = [a.url.clone(), b.url.clone()];
    let mut writers = Vec::new();
    for w in 0..8 {
        let (acked, urls, failed_over) = (acked.clone(), urls.clone(), failed_over.clone());
        writers.push(tokio::spawn(async move {
            let c = http();
            let mut after = 0;
            let mut i = 0;
            // Keep writing until 10 entries went in after the failover.
            while after < 10 {
                let p = proposal(format!("failover writer {w} entry {i}").as_bytes());
                i += 1;
                if let Some((id, e)) =
                    post_until_logged(&c, &urls, &p, w + i, "after the failover").await
                {
                    check_inclusion(&e);
                    acked
                        .lock()
                        .unwrap()
                        .push((e["logIndex"].as_u64().unwrap(), id));
                    if failed_over.load(std::sync::atomic::Ordering::SeqCst) {
                        after += 1;
                    }
                }
            }
        }));
    }
    while acked.lock().unwrap().len() < 40 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before = acked.lock().unwrap().len();
    primary.kill9();
    let killed = Instant::now();
    // No database answers: the frontends say so.
    let mut saw_not_serving = false;
    for _ in 0..30 {
        if let Ok(r) = http().get(format!("{}/healthz", b.url)).send().await {
            if r.status() == 503 {
                saw_not_serving = r.json::<Value>().await.unwrap()["status"] == "NOT_SERVING";
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        saw_not_serving,
        "/healthz said NOT_SERVING while no database answered"
    );
    standby.promote();
    failed_over.store(true, std::sync::atomic::Ordering::SeqCst);
    for w in writers {
        w.await.unwrap();
    }
    eprintln!(
        "database failover: {} entries acknowledged before the kill, {} in all; every writer had 10 more in {:?} after the kill",
        before,
        acked.lock().unwrap().len(),
        killed.elapsed()
    );
    // Every acknowledged entry is in the promoted database, at its index.
    let (size, root) = log_info(&a.url).await;
    let mut indexes = HashSet::new();
    let acked = acked.lock().unwrap().clone();
    for (index, id) in acked.iter() {
        assert!(indexes.insert(*index), "index {index} given twice");
        let e: Value = http()
            .get(format!("{}/api/v1/log/entries/{id}", b.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(
            e.get("code").is_none(),
            "{id} (index {index}) lost in the failover: {e}"
        );
        let (_, e) = only(&e);
        assert_eq!(
            e["logIndex"].as_u64(),
            Some(*index),
            "{id} lost in the failover"
        );
        let (_, s, r) = check_inclusion(&e);
        assert!(s <= size);
        if s == size {
            assert_eq!(r, root);
        }
    }
    assert!(indexes.len() >= before + 80);
}

/// TLS to the database (rustls on aws-lc-rs): with `sslmode=require` and the database's CA the
/// frontend's connections are encrypted (the server's own pg_stat_ssl says so); a certificate
/// that does not chain to a trusted CA is refused at start, in one sentence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_connection_is_tls_when_asked() {
    let (pg, ca) = tokio::task::spawn_blocking(Cluster::start_with_tls)
        .await
        .unwrap();
    let url = format!("{}?sslmode=require", pg.create_db("tls"));
    let dir = tempfile::tempdir().unwrap();
    let key = v1_key(dir.path());
    let f = spawn(&url, &key, &["--store-ca", ca.to_str().unwrap()]);
    wait_role(&f.url, "integrator").await;
    let r = http()
        .post(format!("{}/api/v1/log/entries", f.url))
        .json(&proposal(b"over TLS"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let encrypted = pg.query_text(
        "postgres",
        "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE s.ssl AND a.application_name = 'rekor-lite'",
    );
    assert!(
        encrypted.parse::<u32>().unwrap() > 0,
        "no TLS connection from rekor-lite"
    );
    let plain = pg.query_text(
        "postgres",
        "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE NOT s.ssl AND a.application_name = 'rekor-lite'",
    );
    assert_eq!(plain, "0", "every rekor-lite connection is encrypted");
    drop(f);
    // Without the CA, the server's certificate is not trusted: refused at start.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_rekor-lite"))
        .args(["serve", "--addr", "127.0.0.1:0", "--store", &url, "--key"])
        .arg(&key)
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert_eq!(e.trim().lines().count(), 1, "one sentence: {e}");
    assert!(e.to_lowercase().contains("certificate"), "{e}");
}
