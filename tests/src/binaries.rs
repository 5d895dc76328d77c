//! The workspace's own binaries, for tests that run them as a user would (a separate process
//! with its own environment): built by `cargo test --workspace` beside the test binaries, and
//! built here if a test runs alone.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `target/debug/<name>` of package `package`, built if missing.
pub fn binary(package: &str, name: &str) -> PathBuf {
    let path = repo().join("target/debug").join(name);
    if !path.exists() {
        let ok = Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", package, "--bin", name])
            .current_dir(repo())
            .status()
            .expect("cargo runs");
        assert!(ok.success(), "cannot build {name}");
    }
    path
}

/// `target/release/<name>` of package `package`, built if missing (for benchmarks).
pub fn release_binary(package: &str, name: &str) -> PathBuf {
    let path = repo().join("target/release").join(name);
    if !path.exists() {
        let ok = Command::new(env!("CARGO"))
            .args(["build", "-q", "--release", "-p", package, "--bin", name])
            .current_dir(repo())
            .status()
            .expect("cargo runs");
        assert!(ok.success(), "cannot build {name}");
    }
    path
}

/// The `sigstore-lite` binary.
pub fn sigstore_lite() -> PathBuf {
    binary("sigstore-lite", "sigstore-lite")
}

/// The Python interpreter of the interop virtualenv (scripts/test installs it).
pub fn venv_python() -> PathBuf {
    let p = repo().join(".venv-interop/bin/python");
    assert!(
        p.exists(),
        "{} is missing: run `bash scripts/test` (it installs the interop virtualenv)",
        p.display()
    );
    p
}

/// The sigstore-python command line of the interop virtualenv.
pub fn sigstore_python() -> PathBuf {
    let p = repo().join(".venv-interop/bin/sigstore");
    assert!(
        p.exists(),
        "sigstore-python is not installed at {}: run `bash scripts/test` (it installs sigstore==4.5.1 there)",
        p.display()
    );
    p
}

/// Installs the test KMS plugin (tests/kms-plugin/sigstore-kms-testkms, run by the interop
/// virtualenv's Python) as `sigstore-kms-testkms` in `dir/bin`; returns a `PATH` with that
/// directory first, so that `testkms://...` keys reach it.
pub fn kms_test_plugin(dir: &Path) -> String {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).expect("a bin directory");
    let shim = bin.join("sigstore-kms-testkms");
    std::fs::write(
        &shim,
        format!(
            "#!/bin/sh\nexec '{}' '{}' \"$@\"\n",
            venv_python().display(),
            repo()
                .join("tests/kms-plugin/sigstore-kms-testkms")
                .display()
        ),
    )
    .expect("the plugin shim");
    std::fs::set_permissions(&shim, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("an executable shim");
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}
