//! Images with real content for sbom-lite's tests and benchmark, built with umoci: this
//! machine's Debian root (its os-release, its real dpkg database and the packages' copyright
//! files), Python distributions installed by pip (the test venv's `*.dist-info`) and Debian's
//! own (`*.egg-info`), npm packages installed by `npm ci` (interop/js/node_modules), Go programs
//! built by Debian (umoci, skopeo: real build info), and a Rust program carrying a
//! cargo-auditable `.dep-v0` section (added with objcopy, as cargo-auditable's linker step
//! does) listing crates from this repository's Cargo.lock. A second layer deletes some of it,
//! so that whiteouts are exercised.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::registry::tool;

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(from, to)
        .unwrap_or_else(|e| panic!("copy {} to {}: {e}", from.display(), to.display()));
}

fn run(cmd: &mut Command) {
    let o = cmd.output().unwrap();
    assert!(
        o.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Copies every file under `from` whose name is `name` into the same relative place under `to`.
fn copy_named(from: &Path, to: &Path, name: &str) -> usize {
    let mut n = 0;
    let mut stack = vec![from.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() && e.file_name() == name {
                copy(&e.path(), &to.join(e.path().strip_prefix(from).unwrap()));
                n += 1;
            }
        }
    }
    n
}

/// A cargo-auditable dependency list (zlib-compressed JSON) of the first `n` crates.io packages
/// of this repository's Cargo.lock, plus a build-time dependency that must not be reported.
pub fn auditable_deps(n: usize) -> Vec<u8> {
    use std::io::Write;
    let lock = std::fs::read_to_string(repo().join("Cargo.lock")).unwrap();
    let mut pkgs = vec![
        serde_json::json!({"name": "demo-app", "version": "0.1.0", "source": "local", "root": true}),
    ];
    for block in lock.split("[[package]]").skip(1) {
        let get = |k: &str| {
            block.lines().find_map(|l| {
                l.strip_prefix(&format!("{k} = \""))
                    .map(|v| v.trim_end_matches('"').to_string())
            })
        };
        if let (Some(name), Some(version), Some(_)) = (get("name"), get("version"), get("source")) {
            pkgs.push(serde_json::json!({"name": name, "version": version, "source": "crates.io"}));
        }
        if pkgs.len() > n {
            break;
        }
    }
    pkgs.push(serde_json::json!({"name": "cc", "version": "1.0.0", "source": "crates.io", "kind": "build"}));
    let json = serde_json::to_vec(&serde_json::json!({"packages": pkgs})).unwrap();
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(&json).unwrap();
    z.finish().unwrap()
}

/// Fills `root` with the content described above. `big` also copies this machine's shared
/// libraries and programs (hundreds of MB) for the benchmark.
pub fn build_root(root: &Path, work: &Path, big: bool) {
    let os = std::fs::read("/etc/os-release").expect("/etc/os-release");
    std::fs::create_dir_all(root.join("usr/lib")).unwrap();
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("usr/lib/os-release"), os).unwrap();
    std::os::unix::fs::symlink("../usr/lib/os-release", root.join("etc/os-release")).unwrap();
    copy(
        Path::new("/var/lib/dpkg/status"),
        &root.join("var/lib/dpkg/status"),
    );
    for e in std::fs::read_dir("/usr/share/doc").unwrap().flatten() {
        let c = e.path().join("copyright");
        if c.is_file() {
            copy(
                &c,
                &root
                    .join("usr/share/doc")
                    .join(e.file_name())
                    .join("copyright"),
            );
        }
    }
    // Python: pip's installs in the test venv, Debian's in dist-packages.
    let venv = repo().join(".venv-interop/lib/python3.11/site-packages");
    assert!(
        venv.is_dir(),
        "{} is missing: run `bash scripts/test`",
        venv.display()
    );
    let n = copy_named(
        &venv,
        &root.join("usr/local/lib/python3.11/site-packages"),
        "METADATA",
    );
    assert!(n > 20, "pip-installed packages in the venv");
    for e in std::fs::read_dir("/usr/lib/python3/dist-packages")
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = e.file_name().to_string_lossy().to_string();
        let dest = root.join("usr/lib/python3/dist-packages").join(&name);
        if name.ends_with(".egg-info") && e.path().is_dir() && e.path().join("PKG-INFO").is_file() {
            copy(&e.path().join("PKG-INFO"), &dest.join("PKG-INFO"));
        } else if name.ends_with(".egg-info") && e.path().is_file() {
            copy(&e.path(), &dest);
        } else if name.ends_with(".dist-info") && e.path().join("METADATA").is_file() {
            copy(&e.path().join("METADATA"), &dest.join("METADATA"));
        }
    }
    // npm: what `npm ci` installed for the interop tests (manifests only; the node binary is
    // left out, see the test).
    let nm = repo().join("interop/js/node_modules");
    assert!(
        nm.is_dir(),
        "{} is missing: run `bash scripts/test`",
        nm.display()
    );
    copy_named(&nm, &root.join("app/node_modules"), "package.json");
    // Go programs built by Debian (docker-registry, 20 MB, is catalogued from a spooled copy).
    for p in ["umoci", "skopeo", "docker-registry"] {
        let dest = root.join("usr/bin").join(p);
        copy(&tool(p), &dest);
    }
    // A program carrying an FDO package note (`.note.package`), where this machine has one.
    if Path::new("/usr/bin/systemctl").exists() {
        copy(
            Path::new("/usr/bin/systemctl"),
            &root.join("usr/bin/systemctl"),
        );
    }
    // A Rust program with cargo-auditable data.
    let deps = work.join("deps.zlib");
    std::fs::write(&deps, auditable_deps(if big { 400 } else { 60 })).unwrap();
    let app = root.join("usr/local/bin/demo-app");
    copy(Path::new("/bin/true"), &app);
    run(Command::new("objcopy")
        .arg("--add-section")
        .arg(format!(".dep-v0={}", deps.display()))
        .args(["--set-section-flags", ".dep-v0=noload,readonly"])
        .arg(&app));
    if big {
        run(Command::new("cp")
            .args(["-a", "/usr/lib/x86_64-linux-gnu"])
            .arg(root.join("usr/lib/")));
        run(Command::new("cp")
            .args(["-an", "/usr/bin/."])
            .arg(root.join("usr/bin/")));
    }
}

/// An OCI layout at `work/layout` (tag `latest`) with `root` as its first layer and a second
/// layer deleting `delete` (paths relative to the root): umoci writes the whiteouts.
pub fn oci_image(work: &Path, root: &Path, delete: &[&str]) -> PathBuf {
    let layout = work.join("layout");
    let l = layout.to_str().unwrap();
    let bundle = work.join("bundle");
    run(Command::new(tool("umoci")).args(["init", "--layout", l]));
    run(Command::new(tool("umoci")).args(["new", "--image", &format!("{l}:latest")]));
    run(Command::new(tool("umoci"))
        .args(["unpack", "--rootless", "--image", &format!("{l}:latest")])
        .arg(&bundle));
    run(Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", root.display()))
        .arg(bundle.join("rootfs")));
    run(Command::new(tool("umoci"))
        .args(["repack", "--image", &format!("{l}:latest")])
        .arg(&bundle));
    if !delete.is_empty() {
        // A fresh unpack, so that the next repack diffs against the first layer.
        let second = work.join("bundle2");
        run(Command::new(tool("umoci"))
            .args(["unpack", "--rootless", "--image", &format!("{l}:latest")])
            .arg(&second));
        for d in delete {
            run(Command::new("rm")
                .arg("-rf")
                .arg(second.join("rootfs").join(d)));
        }
        run(Command::new(tool("umoci"))
            .args(["repack", "--image", &format!("{l}:latest")])
            .arg(&second));
    }
    layout
}
