//! The witness as a user runs it (`sigstore-lite witness serve`), killed with SIGKILL right after
//! it answered: what it acknowledged is what it holds when it comes back. The checkpoints come
//! from the independent log of sigstore-lite-witness/tests/independent/log.py.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn start(state: &std::path::Path, vkey: &str) -> (std::process::Child, String) {
    let mut child = Command::new(sigstore_lite_tests::binaries::sigstore_lite())
        .args([
            "witness",
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--name",
            "witness.example",
            "--state-dir",
        ])
        .arg(state)
        .args(["--log", vkey])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_string();
    (child, url)
}

async fn add(url: &str, body: String) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(format!("{url}/add-checkpoint"))
        .body(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_witness_keeps_what_it_cosigned() {
    let repo = sigstore_lite_tests::binaries::repo();
    let out = Command::new(sigstore_lite_tests::binaries::venv_python())
        .arg(repo.join("sigstore-lite-witness/tests/independent/log.py"))
        .args(["make", "example.com/log"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log: Value = serde_json::from_slice(&out.stdout).unwrap();
    let vkey = log["vkey"].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (mut child, url) = start(dir.path(), vkey);
    let (status, body) = add(&url, format!("old 0\n\n{}", log["cp4"].as_str().unwrap())).await;
    assert_eq!(status, 200, "{body}");
    // SIGKILL at once: no clean shutdown.
    child.kill().unwrap();
    child.wait().unwrap();
    let t = Instant::now();
    let (mut child, url) = start(dir.path(), vkey);
    assert!(t.elapsed() < Duration::from_secs(30));
    let (status, body) = add(&url, format!("old 0\n\n{}", log["cp9"].as_str().unwrap())).await;
    assert_eq!(
        (status, body.as_str()),
        (409, "4\n"),
        "the acknowledged size was lost"
    );
    let vkey_out = Command::new(sigstore_lite_tests::binaries::sigstore_lite())
        .args(["witness", "vkey", "--state-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let v = String::from_utf8(vkey_out.stdout).unwrap();
    assert!(v.starts_with("witness.example+"), "{v}");
    child.kill().unwrap();
    child.wait().unwrap();
}
