//! The README's walk-through, run as written, twice in a row in a fresh directory: the stack on
//! its documented ports, a real registry, signing, attestation, verification, the admission
//! webhook and a file. Only the build line is dropped and `PATH` points at this test build's
//! binaries instead of the release ones; any other drift between the README and the tools fails
//! here. The walk-through's fixed ports (8080, 5555, 3000-3004, 5000, 8443) must be free.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The first `sh` block under the walk-through heading.
fn walkthrough() -> String {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let at = readme
        .find("## Walk-through")
        .expect("the README has a walk-through");
    let start = at + readme[at..].find("```sh\n").unwrap() + "```sh\n".len();
    let end = start + readme[start..].find("\n```").unwrap();
    readme[start..end].to_string()
}

fn binary(name: &str) -> PathBuf {
    let p = repo().join("target/debug").join(name);
    if !p.exists() {
        let ok = Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", name])
            .current_dir(repo())
            .status()
            .unwrap();
        assert!(ok.success(), "cannot build {name}");
    }
    p
}

#[test]
fn the_readme_walkthrough_runs_twice() {
    let script = walkthrough();
    let build = "cargo build --release";
    let path = "export PATH=\"$PWD/target/release:$PATH\"";
    assert!(
        script.lines().any(|l| l.starts_with(build)),
        "the walk-through builds first"
    );
    assert!(
        script.lines().any(|l| l.trim() == path),
        "the walk-through puts the binaries on PATH"
    );
    for b in [
        "sigstore-lite",
        "mock-oidc",
        "cosign-keyless",
        "admission-lite",
        "sbom-lite",
    ] {
        binary(b);
    }
    let bin_dir = repo().join("target/debug").canonicalize().unwrap();
    let script: String = script
        .lines()
        .filter(|l| !l.starts_with(build))
        .map(|l| {
            if l.trim() == path {
                format!("export PATH=\"{}:$PATH\"", bin_dir.display())
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    // If a command fails, the background servers the script started stop with it.
    let script = format!("trap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n{script}");
    let dir = tempfile::tempdir().unwrap();
    for run in 1..=2 {
        wait_for_free_ports();
        let child = Command::new("bash")
            .args(["-e", "-c", &script])
            .current_dir(dir.path())
            .env("RUST_LOG", "warn")
            .process_group(0)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let text = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "run {run} of the walk-through failed:\n{text}"
        );
        assert!(text.contains("sigstore-lite is up"), "run {run}: {text}");
        assert!(
            text.contains("\"patchType\":\"JSONPatch\""),
            "run {run}: the webhook pinned the tag: {text}"
        );
        assert!(
            text.contains("\"allowed\":true"),
            "run {run}: the webhook admitted the image: {text}"
        );
        assert!(
            text.contains("Verified OK"),
            "run {run}: the file verified: {text}"
        );
        assert!(
            text.contains("No vulnerabilities found") || text.contains("VULNERABILITY"),
            "run {run}: the SBOM was scanned: {text}"
        );
        let sbom = std::fs::read_to_string(dir.path().join("sbom.spdx.json")).unwrap();
        assert!(
            sbom.contains("\"name\": \"dpkg\""),
            "run {run}: the SBOM lists dpkg"
        );
        let att = std::fs::read_to_string(dir.path().join("attestation.json")).unwrap();
        assert!(
            att.contains("\"payloadType\":\"application/vnd.in-toto+json\""),
            "run {run}: {att}"
        );
    }
    wait_for_free_ports();
}

/// The walk-through's servers shut down gracefully after its kill line; the next run (or the
/// next test) waits until their ports are free.
fn wait_for_free_ports() {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    for port in [8080, 5555, 3000, 3001, 3002, 3003, 3004, 5000, 8443] {
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            assert!(
                std::time::Instant::now() < deadline,
                "port {port} is still in use"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}
