//! Real image fixtures for the tests: the CNCF distribution registry (Debian `docker-registry`,
//! 2.8, which has no referrers API) on a free loopback port, and one-file images built with umoci
//! and pushed with skopeo. They fail, never skip, when those tools are missing (scripts/test and
//! .ci/run install them).

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn tool(name: &str) -> PathBuf {
    for dir in ["/usr/bin", "/usr/local/bin", "/usr/sbin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    panic!("{name} is not installed: run `bash scripts/test` (apt-get install docker-registry skopeo umoci)");
}

pub struct RegistryProcess {
    child: std::process::Child,
    /// `127.0.0.1:<port>`.
    pub addr: String,
    _dir: tempfile::TempDir,
}

impl Drop for RegistryProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn start_registry() -> RegistryProcess {
    start_registry_with(None).await
}

/// A registry; with `htpasswd` (user, password), it requires HTTP basic authentication.
pub async fn start_registry_with(htpasswd: Option<(&str, &str)>) -> RegistryProcess {
    let dir = tempfile::tempdir().unwrap();
    let mut auth = String::new();
    if let Some((user, password)) = htpasswd {
        let hash = Command::new("python3")
            .args(["-c", "import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH)))", password])
            .output()
            .expect("python3 for a bcrypt hash");
        let line = format!("{user}:{}", String::from_utf8(hash.stdout).unwrap().trim());
        std::fs::write(dir.path().join("htpasswd"), line).unwrap();
        auth = format!(
            "auth: {{ htpasswd: {{ realm: test, path: {} }} }}\n",
            dir.path().join("htpasswd").display()
        );
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let cfg = dir.path().join("registry.yml");
    std::fs::write(&cfg, format!(
        "version: 0.1\nlog: {{ level: error }}\nstorage: {{ filesystem: {{ rootdirectory: {} }}, delete: {{ enabled: true }} }}\nhttp: {{ addr: {addr} }}\n{auth}",
        dir.path().join("store").display()
    )).unwrap();
    let child = Command::new(tool("docker-registry"))
        .arg("serve")
        .arg(&cfg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start docker-registry");
    let reg = RegistryProcess {
        child,
        addr,
        _dir: dir,
    };
    for _ in 0..100 {
        if let Ok(r) = reqwest::get(format!("http://{}/v2/", reg.addr)).await {
            if r.status().is_success() || r.status() == 401 {
                return reg;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("docker-registry did not come up on {}", reg.addr);
}

/// Builds a one-file image with umoci and pushes it with skopeo to `dest`.
pub fn push_image(work: &Path, dest: &str, content: &str) {
    let layout = work.join(format!("layout-{}", content.len()));
    let run = |cmd: &mut Command| {
        let o = cmd.current_dir(work).output().unwrap();
        assert!(
            o.status.success(),
            "{:?}: {}",
            cmd,
            String::from_utf8_lossy(&o.stderr)
        );
    };
    let _ = std::fs::remove_dir_all(&layout);
    let l = layout.to_str().unwrap();
    run(Command::new(tool("umoci")).args(["init", "--layout", l]));
    run(Command::new(tool("umoci")).args(["new", "--image", &format!("{l}:latest")]));
    let bundle = work.join(format!("bundle-{}", content.len()));
    let _ = std::fs::remove_dir_all(&bundle);
    run(Command::new(tool("umoci")).args([
        "unpack",
        "--rootless",
        "--image",
        &format!("{l}:latest"),
        bundle.to_str().unwrap(),
    ]));
    std::fs::write(bundle.join("rootfs/hello.txt"), content).unwrap();
    run(Command::new(tool("umoci")).args([
        "repack",
        "--image",
        &format!("{l}:latest"),
        bundle.to_str().unwrap(),
    ]));
    run(Command::new(tool("skopeo")).args([
        "copy",
        "-q",
        "--dest-tls-verify=false",
        &format!("oci:{l}:latest"),
        &format!("docker://{dest}"),
    ]));
}
