//! The witness over HTTP, fed by a log that is not ours (tests/independent/log.py: RFC 6962
//! hashing and proofs, C2SP checkpoints, Ed25519 with Python's `cryptography`), which also checks
//! the cosignatures the witness returns. Every status C2SP tlog-witness fixes, and the state
//! surviving a restart.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use serde_json::Value;
use sigstore_lite_core::note::SignedNote;
use sigstore_lite_core::witness::{verify_cosignature, VerifierKey};
use sigstore_lite_witness::Witness;

fn python() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv-interop/bin/python");
    assert!(
        p.exists(),
        "{} is missing: run `bash scripts/test` (it installs the interop virtualenv with cryptography)",
        p.display()
    );
    p
}

fn independent(args: &[&str]) -> std::process::Output {
    Command::new(python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/independent/log.py"))
        .args(args)
        .output()
        .unwrap()
}

async fn start(dir: &Path, vkey: &str) -> (String, Arc<Witness>, tokio::sync::oneshot::Sender<()>) {
    let w = Arc::new(Witness::open(dir, "witness.example", &[vkey.to_string()]).unwrap());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(sigstore_lite_witness::serve(l, w.clone(), async {
        let _ = rx.await;
    }));
    (url, w, tx)
}

async fn add(url: &str, old: u64, proof: &[Value], note: &str) -> (u16, String, String) {
    let mut body = format!("old {old}\n");
    for h in proof {
        body.push_str(h.as_str().unwrap());
        body.push('\n');
    }
    body.push('\n');
    body.push_str(note);
    let r = reqwest::Client::new()
        .post(format!("{url}/add-checkpoint"))
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ct, r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_witness_cosigns_what_extends_and_refuses_the_rest() {
    let out = independent(&["make", "example.com/log"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log: Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = |k: &str| log[k].as_str().unwrap().to_string();
    let proof = log["proof_4_9"].as_array().unwrap().clone();
    let dir = tempfile::tempdir().unwrap();
    let (url, w, stop) = start(dir.path(), &s("vkey")).await;
    let wv = VerifierKey::parse(&w.vkey()).unwrap();

    // The first checkpoint: from size 0, no proof.
    let (status, _, body) = add(&url, 0, &[], &s("cp4")).await;
    assert_eq!(status, 200, "{body}");
    let cosigned = format!("{}{body}", s("cp4"));
    verify_cosignature(&SignedNote::parse(&cosigned).unwrap(), &wv).unwrap();
    // The independent log checks the cosignature too.
    let note = dir.path().join("cosigned.txt");
    std::fs::write(&note, &cosigned).unwrap();
    let o = independent(&["verify", &w.vkey(), note.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // Refusals, each with its status.
    let (status, ct, body) = add(&url, 0, &[], &s("cp9")).await;
    assert_eq!(
        (status, ct.as_str(), body.as_str()),
        (409, "text/x.tlog.size", "4\n")
    );
    let (status, _, _) = add(
        &url,
        4,
        log["proof_4_9_forked"].as_array().unwrap(),
        &s("cp9"),
    )
    .await;
    assert_eq!(status, 422, "a proof for another tree");
    let (status, _, _) = add(&url, 4, &proof, &s("cp9_forked")).await;
    assert_eq!(status, 422, "a fork of the stored tree");
    let (status, _, _) = add(&url, 10, &[], &s("cp9")).await;
    assert_eq!(status, 400);
    let (status, _, _) = add(&url, 4, &proof, &s("cp9_other_key")).await;
    assert_eq!(status, 403);
    let other = s("cp4").replace("example.com/log", "example.com/other");
    let (status, _, body) = add(&url, 0, &[], &other).await;
    assert_eq!(status, 404, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["code"], 404);
    let (status, _, _) = add(&url, 4, &[], "not a checkpoint").await;
    assert_eq!(status, 400);

    // The extension 4 -> 9 with its proof.
    let (status, _, body) = add(&url, 4, &proof, &s("cp9")).await;
    assert_eq!(status, 200, "{body}");
    verify_cosignature(
        &SignedNote::parse(&format!("{}{body}", s("cp9"))).unwrap(),
        &wv,
    )
    .unwrap();
    let _ = stop.send(());

    // A new process on the same state: it holds 9, so old 4 is a conflict.
    drop(w);
    let (url, w2, _stop) = start(dir.path(), &s("vkey")).await;
    assert_eq!(w2.vkey(), wv_string(&wv), "the same key after a restart");
    let (status, ct, body) = add(&url, 4, &proof, &s("cp9")).await;
    assert_eq!(
        (status, ct.as_str(), body.as_str()),
        (409, "text/x.tlog.size", "9\n")
    );
    assert_eq!(Witness::vkey_in(dir.path()).unwrap(), w2.vkey());
    // Another name on the same state is refused.
    assert!(Witness::open(dir.path(), "impostor.example", &[s("vkey")]).is_err());
}

fn wv_string(v: &VerifierKey) -> String {
    VerifierKey::encode(&v.name, v.kind, &v.key)
}
