//! sbom-lite benchmark (`cargo bench -p sigstore-lite-tests --bench sbom`), side by side with
//! real syft 1.18.1 on the same input in the same run. The image is built with umoci from this
//! machine's real content (sigstore_lite_tests::sbom_fixture, with `big`: its dpkg database,
//! pip and Debian Python packages, npm packages, Go programs, a cargo-auditable binary listing
//! 400 crates, and /usr/bin plus /usr/lib/python3 for bulk): >= 300 MB and >= 1,000 packages.
//! Prints wall time p50/max over the runs and peak RSS for each tool, the ratio, and the cost
//! of the primitives every layer byte goes through (gunzip and SHA-256, measured here), which
//! bound how fast any cataloguer can read the image. Then `scan` of the SBOM against a feed
//! of >= 10,000 generated OSV records (no grype is installable here to compare with).
//! Knobs: BENCH_RUNS (default 3), BENCH_ADVISORIES (default 12000).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use sigstore_lite_tests::bench::{env_or, pct_ms, print_machine};
use sigstore_lite_tests::sbom_fixture::{build_root, oci_image, repo};

/// Runs `cmd` under Python's `resource` to read the child's peak RSS (KiB); returns wall time
/// and RSS.
fn measure(program: &Path, args: &[String], env: &[(&str, &str)]) -> (Duration, u64) {
    let script = "import resource, subprocess, sys\nr = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL)\nprint(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\nsys.exit(r.returncode)";
    let t = Instant::now();
    let mut cmd = Command::new("python3");
    cmd.args(["-c", script]).arg(program).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let o = cmd.output().unwrap();
    let elapsed = t.elapsed();
    assert!(
        o.status.success(),
        "{program:?} {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let rss: u64 = String::from_utf8_lossy(&o.stdout).trim().parse().unwrap();
    (elapsed, rss)
}

fn runs(n: usize, f: impl Fn() -> (Duration, u64)) -> (Vec<Duration>, u64) {
    let mut times = Vec::new();
    let mut rss = 0;
    for _ in 0..n {
        let (t, r) = f();
        times.push(t);
        rss = rss.max(r);
    }
    times.sort();
    (times, rss)
}

fn dir_size(p: &Path) -> u64 {
    walk(p)
        .iter()
        .map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0))
        .sum()
}

fn walk(p: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![p.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() {
                out.push(e.path());
            }
        }
    }
    out
}

/// Synthetic OSV records for the packages of `spdx` and unrelated names: ranges of every kind.
fn write_feed(dir: &Path, spdx: &Path, n: usize) {
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(spdx).unwrap()).unwrap();
    let mut names = Vec::new();
    for p in doc["packages"].as_array().unwrap() {
        let Some(purl) = p["externalRefs"]
            .as_array()
            .and_then(|r| r.iter().find(|r| r["referenceType"] == "purl"))
        else {
            continue;
        };
        let purl =
            sbom_lite::purl::Purl::parse(purl["referenceLocator"].as_str().unwrap()).unwrap();
        let eco = match purl.ty.as_str() {
            "deb" => "Debian:12",
            "pypi" => "PyPI",
            "npm" => "npm",
            "cargo" => "crates.io",
            "golang" => "Go",
            _ => continue,
        };
        let name = match (&purl.ty[..], &purl.namespace) {
            ("npm" | "golang", Some(ns)) => format!("{ns}/{}", purl.name),
            ("deb", _) => purl
                .qualifiers
                .get("upstream")
                .map(|u| u.split('@').next().unwrap().to_string())
                .unwrap_or(purl.name.clone()),
            _ => purl.name.clone(),
        };
        names.push((eco, name, purl.version.unwrap_or_default()));
    }
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..n {
        let (eco, name, version) = &names[i % names.len()];
        // Half the records bracket the installed version, half lie beyond it.
        let (intro, fixed) = if i % 2 == 0 {
            ("0".to_string(), format!("{version}.{}", i % 7 + 1))
        } else {
            (
                format!("{version}.{}", i % 5 + 1),
                format!("{version}.{}", i % 5 + 9),
            )
        };
        let name = if i >= names.len() * 4 {
            format!("{name}-unrelated-{i}")
        } else {
            name.clone()
        };
        let rec = serde_json::json!({
            "schema_version": "1.7.5", "id": format!("BENCH-{i:05}"), "modified": "2024-01-01T00:00:00Z",
            "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H"}],
            "affected": [{"package": {"ecosystem": eco, "name": name},
                "ranges": [{"type": if *eco == "npm" { "SEMVER" } else { "ECOSYSTEM" }, "events": [{"introduced": intro}, {"fixed": fixed}]}]}],
        });
        std::fs::write(dir.join(format!("BENCH-{i:05}.json")), rec.to_string()).unwrap();
    }
}

fn main() {
    let n_runs: usize = env_or("BENCH_RUNS", "3").parse().unwrap();
    let advisories: usize = env_or("BENCH_ADVISORIES", "12000").parse().unwrap();
    print_machine();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let root = w.join("root");
    let t = Instant::now();
    build_root(&root, w, true);
    let layout = oci_image(w, &root, &[]);
    let unpacked = dir_size(&root);
    let blobs = dir_size(&layout.join("blobs"));
    println!(
        "image: {:.0} MB unpacked, {:.0} MB of gzip blobs (built in {:.0} s)",
        unpacked as f64 / 1e6,
        blobs as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );

    // The primitives: every layer byte is gunzipped and SHA-256-hashed (twice: blob digest and
    // diff ID); reading the blobs through both is the floor for any cataloguer.
    let blob_files = walk(&layout.join("blobs"));
    let biggest = blob_files
        .iter()
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let gz = std::fs::read(biggest).unwrap();
    let t = Instant::now();
    let raw_len = std::io::copy(
        &mut flate2::read::MultiGzDecoder::new(&gz[..]),
        &mut std::io::sink(),
    )
    .unwrap();
    let gunzip = t.elapsed();
    let buf = vec![7u8; 64 << 20];
    let t = Instant::now();
    let _ = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &buf);
    let sha_rate = buf.len() as f64 / t.elapsed().as_secs_f64();
    // Every blob byte is hashed (digest check) and every tar byte hashed (diff ID).
    let floor = blob_files
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum::<u64>() as f64
        / sha_rate
        + raw_len as f64 / sha_rate
        + gunzip.as_secs_f64();
    println!(
        "primitives: gunzip {:.0} MB/s, SHA-256 {:.0} MB/s (aws-lc-rs); floor to read the layers (gunzip + both hashes): {:.2} s",
        raw_len as f64 / 1e6 / gunzip.as_secs_f64(),
        sha_rate / 1e6,
        floor
    );

    let ours_bin = Path::new(env!("CARGO_BIN_EXE_sbom-lite-e2e"));
    let syft_bin = repo().join(".venv-interop/bin/syft");
    assert!(
        syft_bin.exists(),
        "real syft is missing: run `bash scripts/test`"
    );
    let source = format!("oci-dir:{}", layout.display());
    let spdx = w.join("sbom.spdx.json");
    let ours_json = w.join("ours.json");
    let ours_args = vec![
        "generate".into(),
        source.clone(),
        "-q".into(),
        "-o".into(),
        format!("spdx-json={}", spdx.display()),
        "-o".into(),
        format!("json={}", ours_json.display()),
    ];
    let syft_out = w.join("syft.json");
    let syft_args = vec![
        source.clone(),
        "-q".into(),
        "-o".into(),
        format!("json={}", syft_out.display()),
    ];
    let (ours, ours_rss) = runs(n_runs, || measure(ours_bin, &ours_args, &[]));
    let (syft, syft_rss) = runs(n_runs, || {
        measure(
            &syft_bin,
            &syft_args,
            &[("SYFT_CHECK_FOR_APP_UPDATE", "false")],
        )
    });
    let count = |p: &Path, key: &str| {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
        v[key].as_array().unwrap().len()
    };
    let pkgs = count(&spdx, "packages") - 1;
    let syft_pkgs = count(&syft_out, "artifacts");
    let mb = blobs as f64 / 1e6;
    let set = |p: &Path| -> std::collections::BTreeSet<(String, String, String, String)> {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
        v["artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                let f = |k: &str| a[k].as_str().unwrap_or("").to_string();
                (
                    f("name"),
                    f("version"),
                    f("type"),
                    sbom_lite::purl::decode(&f("purl")),
                )
            })
            .collect()
    };
    let (mine, theirs) = (set(&ours_json), set(&syft_out));
    let by_type = |d: Vec<&(String, String, String, String)>| {
        let mut m = std::collections::BTreeMap::new();
        for p in d {
            *m.entry(p.2.clone()).or_insert(0) += 1;
        }
        m
    };
    println!(
        "agreement with syft (name, version, type, purl): {:.2}%; only syft {:?}, only sbom-lite {:?}",
        100.0 * mine.intersection(&theirs).count() as f64 / mine.union(&theirs).count() as f64,
        by_type(theirs.difference(&mine).collect()),
        by_type(mine.difference(&theirs).collect())
    );
    for p in theirs
        .symmetric_difference(&mine)
        .filter(|p| p.2 != "binary")
    {
        println!(
            "  differs: {p:?} (only {})",
            if theirs.contains(p) {
                "syft"
            } else {
                "sbom-lite"
            }
        );
    }
    println!("generate ({n_runs} runs each, wall time p50 / max, peak RSS):");
    println!(
        "  sbom-lite: {pkgs} packages, p50 {:.2} s / max {:.2} s, {:.0} MB/s of image, {:.0} packages/s, peak RSS {:.1} MiB, {:.1}x the read floor",
        pct_ms(&ours, 0.5) / 1e3,
        pct_ms(&ours, 1.0) / 1e3,
        mb / (pct_ms(&ours, 0.5) / 1e3),
        pkgs as f64 / (pct_ms(&ours, 0.5) / 1e3),
        ours_rss as f64 / 1024.0,
        pct_ms(&ours, 0.5) / 1e3 / floor
    );
    println!(
        "  syft 1.18.1: {syft_pkgs} packages, p50 {:.2} s / max {:.2} s, peak RSS {:.1} MiB",
        pct_ms(&syft, 0.5) / 1e3,
        pct_ms(&syft, 1.0) / 1e3,
        syft_rss as f64 / 1024.0
    );
    println!(
        "  ratio: sbom-lite is {:.1}x syft's speed with {:.1}x less memory",
        pct_ms(&syft, 0.5) / pct_ms(&ours, 0.5),
        syft_rss as f64 / ours_rss as f64
    );

    let feed = w.join("feed");
    write_feed(&feed, &spdx, advisories);
    let scan_args = vec![
        "scan".into(),
        format!("sbom:{}", spdx.display()),
        "--db".into(),
        feed.display().to_string(),
        "-o".into(),
        "json".into(),
        "-q".into(),
    ];
    let (scan, scan_rss) = runs(n_runs, || measure(ours_bin, &scan_args, &[]));
    let o = Command::new(ours_bin).args(&scan_args).output().unwrap();
    let matches = serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()["matches"]
        .as_array()
        .unwrap()
        .len();
    println!(
        "scan: {pkgs} packages against {advisories} OSV records ({matches} matches): p50 {:.2} s / max {:.2} s, {:.0} records loaded/s, peak RSS {:.1} MiB",
        pct_ms(&scan, 0.5) / 1e3,
        pct_ms(&scan, 1.0) / 1e3,
        advisories as f64 / (pct_ms(&scan, 0.5) / 1e3),
        scan_rss as f64 / 1024.0
    );
}
