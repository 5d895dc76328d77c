//! cosign-keyless verify-blob through the real binary against real public-good Sigstore bundles.
//! (Flows against the stack and real clients are in the workspace's tests/ crate.)

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

fn vectors(f: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/vectors/sigstore")
        .join(f)
}

fn cosign(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cosign-keyless"))
        .args(args)
        .output()
        .expect("run cosign-keyless")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn verify_staging(artifact: &Path, bundle: &Path, identity: &str, issuer: &str) -> Output {
    cosign(&[
        "verify-blob",
        artifact.to_str().unwrap(),
        "--bundle",
        bundle.to_str().unwrap(),
        "--trusted-root",
        vectors("staging_trusted_root.json").to_str().unwrap(),
        "--certificate-identity",
        identity,
        "--certificate-oidc-issuer",
        issuer,
    ])
}

#[test]
fn verifies_a_public_good_bundle_and_rejects_everything_else() {
    let (art, b) = (vectors("bundle_v3.txt"), vectors("bundle_v3.txt.sigstore"));
    let (id, iss) = ("william@yossarian.net", "https://github.com/login/oauth");
    let ok = verify_staging(&art, &b, id, iss);
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert!(stderr(&ok).contains("Verified OK"));
    // By digest.
    let digest = "sha256:5e6ae9de58c1177bea615b4fcbfb2fd688e8c4b51c2e56b6a38e817833ec24a2";
    let o = cosign(&[
        "verify-blob",
        digest,
        "--bundle",
        b.to_str().unwrap(),
        "--trusted-root",
        vectors("staging_trusted_root.json").to_str().unwrap(),
        "--certificate-identity",
        id,
        "--certificate-oidc-issuer",
        iss,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));

    let fail = |o: Output, needle: &str| {
        assert_eq!(o.status.code(), Some(12), "{}", stderr(&o));
        let e = stderr(&o);
        assert!(e.contains(needle), "expected {needle:?} in {e:?}");
        assert_eq!(e.trim().lines().count(), 1, "one sentence: {e}");
    };
    fail(
        verify_staging(&art, &b, "someone@yossarian.net", iss),
        "identity does not match",
    );
    fail(
        verify_staging(&art, &b, id, "https://accounts.google.com"),
        "issuer does not match",
    );
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other.txt");
    std::fs::write(&other, b"not the artifact").unwrap();
    fail(
        verify_staging(&other, &b, id, iss),
        "artifact does not match",
    );
    let mut bundle: Value = serde_json::from_slice(&std::fs::read(&b).unwrap()).unwrap();
    bundle["verificationMaterial"]["tlogEntries"][0]["integratedTime"] = json!("1712085550");
    let modified = dir.path().join("modified.sigstore");
    std::fs::write(&modified, bundle.to_string()).unwrap();
    fail(
        verify_staging(&art, &modified, id, iss),
        "signed entry timestamp",
    );
    // The public-good Rekor v2 bundle (RFC 3161 timestamp, C2SP checkpoint) verifies, for its
    // identity only; tampered copies are refused with one sentence each.
    let v2 = vectors("staging-rekor-v2.txt.sigstore.json");
    let v2_art = vectors("staging-rekor-v2.txt");
    let o = verify_staging(&v2_art, &v2, "jku@goto.fi", iss);
    assert!(o.status.success(), "{}", stderr(&o));
    fail(
        verify_staging(&v2_art, &v2, id, iss),
        "identity does not match",
    );
    let original: Value = serde_json::from_slice(&std::fs::read(&v2).unwrap()).unwrap();
    let flip = |v: &Value| {
        let mut raw = base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            v.as_str().unwrap(),
        )
        .unwrap();
        let n = raw.len();
        raw[n - 7] ^= 1;
        json!(base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            raw
        ))
    };
    type Tamper = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Tamper, &str)> = vec![
        (
            "timestamp",
            Box::new(move |b: &mut Value| {
                let t = &mut b["verificationMaterial"]["timestampVerificationData"]
                    ["rfc3161Timestamps"][0]["signedTimestamp"];
                *t = flip(t);
            }),
            "timestamp does not verify",
        ),
        (
            "checkpoint",
            Box::new(|b: &mut Value| {
                let c = &mut b["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]
                    ["checkpoint"]["envelope"];
                *c = json!(c.as_str().unwrap().replacen("\n646\n", "\n645\n", 1));
            }),
            "checkpoint does not verify",
        ),
        (
            "proof",
            Box::new(move |b: &mut Value| {
                let h =
                    &mut b["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["hashes"][1];
                *h = flip(h);
            }),
            "log entry does not match",
        ),
        (
            "no timestamp",
            Box::new(|b: &mut Value| {
                b["verificationMaterial"]
                    .as_object_mut()
                    .unwrap()
                    .remove("timestampVerificationData");
            }),
            "no verified time",
        ),
    ];
    for (what, tamper, why) in cases {
        let mut b = original.clone();
        tamper(&mut b);
        let p = dir
            .path()
            .join(format!("v2-{}.json", what.replace(' ', "-")));
        std::fs::write(&p, b.to_string()).unwrap();
        let o = verify_staging(&v2_art, &p, "jku@goto.fi", iss);
        assert!(!o.status.success(), "{what}");
        let e = stderr(&o);
        assert!(e.contains(why), "{what}: {e}");
        assert_eq!(e.trim().lines().count(), 1, "{what}: one sentence: {e}");
    }
}

/// cosign habits: `-` reads the artifact from standard input, and `--offline` is accepted.
#[test]
fn the_artifact_from_standard_input_and_offline() {
    use std::io::Write;
    let b = vectors("bundle_v3.txt.sigstore");
    let run = |content: &[u8]| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cosign-keyless"))
            .args([
                "verify-blob",
                "-",
                "--offline",
                "--bundle",
                b.to_str().unwrap(),
                "--trusted-root",
                vectors("staging_trusted_root.json").to_str().unwrap(),
                "--certificate-identity",
                "william@yossarian.net",
                "--certificate-oidc-issuer",
                "https://github.com/login/oauth",
            ])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(content).unwrap();
        child.wait_with_output().unwrap()
    };
    let ok = run(&std::fs::read(vectors("bundle_v3.txt")).unwrap());
    assert!(ok.status.success(), "{}", stderr(&ok));
    let bad = run(b"another artifact");
    assert!(!bad.status.success());
}

/// A bad identity regexp is one sentence and a non-zero exit, not regex's multi-line report.
#[test]
fn a_bad_regexp_is_one_sentence() {
    let o = cosign(&[
        "verify-blob",
        vectors("bundle_v3.txt").to_str().unwrap(),
        "--bundle",
        vectors("bundle_v3.txt.sigstore").to_str().unwrap(),
        "--trusted-root",
        vectors("staging_trusted_root.json").to_str().unwrap(),
        "--certificate-identity-regexp",
        "(unclosed",
        "--certificate-oidc-issuer",
        "https://github.com/login/oauth",
    ]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert_eq!(e.trim().lines().count(), 1, "{e}");
    assert!(
        e.contains("regexp \"(unclosed\" is invalid: unclosed group"),
        "{e}"
    );
}
