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
    // A Rekor v2 entry is refused as not supported.
    let o = verify_staging(
        &vectors("staging-rekor-v2.txt"),
        &vectors("staging-rekor-v2.txt.sigstore.json"),
        "jku@goto.fi",
        iss,
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("not supported"), "{}", stderr(&o));
}
