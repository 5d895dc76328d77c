//! docker-compose.yml against the binaries' own command lines: every service's command parses,
//! the ports are those of `sigstore-lite up` (published on loopback), the fulcio config it mounts
//! loads, the image's data directory belongs to the user the services run as, and each service's
//! own command starts as that user (uid 65534) in a fresh data directory owned as a fresh named
//! volume would be. No Docker engine runs on the build machine, so the binaries run directly.

use std::path::Path;

use clap::Parser;
use serde_json::Value;

fn compose() -> Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docker-compose.yml");
    serde_yaml::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn command(services: &Value, name: &str) -> Vec<String> {
    services[name]["command"]
        .as_array()
        .unwrap_or_else(|| panic!("service {name} has no command"))
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_service_command_parses_with_its_binary() {
    let c = compose();
    let s = &c["services"];
    let oidc = command(s, "mock-oidc");
    assert_eq!(oidc[0], "mock-oidc");
    assert!(
        matches!(mock_oidc::cli::Cli::try_parse_from(&oidc).unwrap().cmd, mock_oidc::cli::Cmd::Serve { addr, .. } if addr.port() == 8080)
    );
    let fulcio = command(s, "fulcio");
    assert_eq!(fulcio[0], "fulcio-lite");
    assert!(
        matches!(fulcio_lite::cli::Cli::try_parse_from(&fulcio).unwrap().cmd, fulcio_lite::cli::Cmd::Serve { addr, .. } if addr.port() == 5555)
    );
    let rekor = command(s, "rekor");
    assert_eq!(rekor[0], "rekor-lite");
    assert!(
        matches!(rekor_lite::cli::Cli::try_parse_from(&rekor).unwrap().cmd, rekor_lite::cli::Cmd::Serve { addr, .. } if addr.port() == 3000)
    );
    let rekor_v2 = command(s, "rekor-v2");
    assert!(
        matches!(rekor_lite::cli::Cli::try_parse_from(&rekor_v2).unwrap().cmd, rekor_lite::cli::Cmd::Serve { addr, api_version: 2, origin: Some(o), .. } if addr.port() == 3001 && o == "rekor-v2")
    );
    let tsa = command(s, "tsa");
    assert_eq!(tsa[0], "tsa-lite");
    assert!(
        matches!(tsa_lite::cli::Cli::try_parse_from(&tsa).unwrap().cmd, tsa_lite::cli::Cmd::Serve { addr, .. } if addr.port() == 3002)
    );
    // A misspelt flag would not parse: the check has teeth.
    let mut bad = rekor.clone();
    bad[2] = "--adress".into();
    assert!(rekor_lite::cli::Cli::try_parse_from(&bad).is_err());
    // Same ports as `sigstore-lite up`.
    let up = sigstore_lite::cli::Cli::try_parse_from(["sigstore-lite", "up"]).unwrap();
    let sigstore_lite::cli::Cmd::Up(sigstore_lite::cli::UpArgs {
        fulcio_port,
        rekor_port,
        rekor_v2_port,
        tsa_port,
        oidc_port,
        ..
    }) = up.cmd
    else {
        panic!()
    };
    for (svc, port) in [
        ("fulcio", fulcio_port),
        ("rekor", rekor_port),
        ("rekor-v2", rekor_v2_port),
        ("tsa", tsa_port),
        ("mock-oidc", oidc_port),
        ("registry", 5000),
    ] {
        let ports: Vec<String> = s[svc]["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().to_string())
            .collect();
        // Loopback only: mock-oidc mints any identity for whoever reaches it.
        assert_eq!(ports, vec![format!("127.0.0.1:{port}:{port}")], "{svc}");
        assert!(
            s[svc]["healthcheck"]["test"].is_array(),
            "{svc} has a health check"
        );
    }
    for vol in [
        "oidc-data",
        "fulcio-data",
        "rekor-data",
        "rekor-v2-data",
        "tsa-data",
        "registry-data",
    ] {
        assert!(c["volumes"].get(vol).is_some(), "named volume {vol}");
    }
    assert_eq!(s["registry"]["image"], "registry:2");
}

#[test]
fn the_mounted_fulcio_config_loads_and_trusts_the_mock_issuer() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/fulcio-config.yaml");
    let cfg = fulcio_lite::config::Config::parse(&std::fs::read_to_string(p).unwrap()).unwrap();
    let oidc = command(&compose()["services"], "mock-oidc");
    let issuer = oidc
        .iter()
        .skip_while(|a| *a != "--issuer-url")
        .nth(1)
        .unwrap();
    assert_eq!(
        cfg.lookup(issuer).unwrap().kind,
        fulcio_lite::config::IssuerType::Email
    );
}

fn repo(p: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(p)
}

#[test]
fn the_image_is_lean_and_its_volumes_writable_by_the_service_user() {
    let df = std::fs::read_to_string(repo("Dockerfile")).unwrap();
    assert!(df.contains("USER 65534:65534"));
    let chown = df
        .find("chown 65534:65534 /data")
        .expect("the data mount point is the service user's");
    assert!(chown < df.find("USER 65534:65534").unwrap());
    assert!(
        df.contains("CARGO_PROFILE_RELEASE_STRIP=symbols")
            && df.contains("CARGO_PROFILE_RELEASE_DEBUG=0")
    );
    let ignore = std::fs::read_to_string(repo(".dockerignore")).unwrap();
    for p in [
        "target",
        ".venv*",
        "**/node_modules",
        "sigstore-lite-data",
        ".git",
    ] {
        assert!(
            ignore.lines().any(|l| l.trim() == p),
            ".dockerignore lacks {p}"
        );
    }
}

/// The binary `name` the workspace test build made.
fn bin(name: &str) -> std::path::PathBuf {
    let p = repo("target/debug").join(name);
    if !p.exists() {
        let o = std::process::Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", name])
            .current_dir(repo("."))
            .status()
            .unwrap();
        assert!(o.success(), "cannot build {name}");
    }
    p
}

#[test]
fn each_service_starts_as_the_container_user_in_a_fresh_volume() {
    use std::io::{BufRead, BufReader};
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let root = unsafe_free_uid() == 0;
    let c = compose();
    let s = &c["services"];
    let base = tempfile::tempdir().unwrap();
    std::fs::set_permissions(base.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    // The fulcio config, readable by the service user.
    let cfg = base.path().join("fulcio-config.yaml");
    std::fs::copy(repo("deploy/fulcio-config.yaml"), &cfg).unwrap();
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o644)).unwrap();
    for svc in ["mock-oidc", "fulcio", "rekor", "rekor-v2", "tsa"] {
        let mut args = command(s, svc);
        let built = bin(&args.remove(0));
        // As in the image (/usr/local/bin): a copy the service user can reach and run, whatever
        // the permissions of the checkout's directories.
        let program = base.path().join("bin").join(built.file_name().unwrap());
        if !program.exists() {
            std::fs::create_dir_all(base.path().join("bin")).unwrap();
            std::fs::set_permissions(
                base.path().join("bin"),
                std::fs::Permissions::from_mode(0o755),
            )
            .unwrap();
            std::fs::copy(&built, &program).unwrap();
            std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        // The service's own arguments, on a free loopback port and a fresh directory.
        let data = base.path().join(svc);
        std::fs::create_dir(&data).unwrap();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
        for (i, a) in args.clone().iter().enumerate() {
            match a.as_str() {
                "--addr" => args[i + 1] = "127.0.0.1:0".into(),
                "--data-dir" => args[i + 1] = data.display().to_string(),
                "--config" => args[i + 1] = cfg.display().to_string(),
                _ => {}
            }
        }
        let mut cmd = if root {
            // As Docker does with the Dockerfile's /data: the fresh volume belongs to 65534.
            std::os::unix::fs::chown(&data, Some(65534), Some(65534)).unwrap();
            // Under umask 000, as a careless init system might start it.
            let mut c = std::process::Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
                .args(["sh", "-c", "umask 000; exec \"$0\" \"$@\""])
                .arg(&program);
            c
        } else {
            // Not root (a developer's machine): the directory is the runner's, as the volume
            // is the service user's in the container.
            let mut c = std::process::Command::new("sh");
            c.args(["-c", "umask 000; exec \"$0\" \"$@\""])
                .arg(&program);
            c
        };
        let mut child = cmd
            .args(&args)
            .env("HOME", "/nonexistent")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        assert!(
            line.contains("http://127.0.0.1:"),
            "{svc} did not start as the container user: {line}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Keys and stores are the owner's alone, whatever the umask.
        let mut dirs = vec![data.clone()];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let e = e.unwrap();
                let m = e.metadata().unwrap();
                if root {
                    assert_eq!(
                        m.uid(),
                        65534,
                        "{svc} wrote {:?} as the service user",
                        e.path()
                    );
                }
                assert_eq!(
                    m.mode() & 0o077,
                    0,
                    "{svc}: {:?} is open to others ({:o})",
                    e.path(),
                    m.mode()
                );
                if m.is_dir() {
                    dirs.push(e.path());
                }
            }
        }
    }
}

/// The effective uid, read from /proc (no unsafe libc call).
fn unsafe_free_uid() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// deploy/ha: the HA topology's files, checked by the tools that will read them: docker-compose
/// (`config -q`, on a copy with keys made by its own make-keys.sh), HAProxy (`haproxy -c`),
/// kubernetes-validate --strict (the Kubernetes manifests), and every service command, in both,
/// by the binaries' own command-line parsers.
#[test]
fn the_ha_deployment_files_are_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let ha = root.join("deploy/ha");
    // docker-compose, with the secrets the compose file names made as a user would.
    let tmp = tempfile::tempdir().unwrap();
    let copy = std::process::Command::new("cp")
        .arg("-r")
        .arg(root.join("deploy"))
        .arg(tmp.path())
        .status()
        .unwrap();
    assert!(copy.success());
    let keys = std::process::Command::new("bash")
        .arg(tmp.path().join("deploy/ha/make-keys.sh"))
        .output()
        .unwrap();
    assert!(
        keys.status.success(),
        "{}",
        String::from_utf8_lossy(&keys.stderr)
    );
    let pem =
        std::fs::read_to_string(tmp.path().join("deploy/ha/secrets/rekor-v1-key.pem")).unwrap();
    sigstore_lite_core::keys::P256Signer::from_pkcs8_pem(&pem)
        .expect("make-keys.sh writes a key rekor-lite reads");
    let pem =
        std::fs::read_to_string(tmp.path().join("deploy/ha/secrets/rekor-v2-key.pem")).unwrap();
    sigstore_lite_core::keys::Ed25519Signer::from_pkcs8_pem(&pem)
        .expect("an Ed25519 key rekor-lite reads");
    let o = std::process::Command::new("docker-compose")
        .arg("-f")
        .arg(tmp.path().join("deploy/ha/docker-compose.yml"))
        .args(["config", "-q"])
        .output()
        .expect("docker-compose is installed (scripts/test)");
    assert!(
        o.status.success(),
        "docker-compose config: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    // HAProxy reads its config (unresolvable replicas are warnings: they resolve at run time).
    let o = std::process::Command::new("haproxy")
        .arg("-c")
        .arg("-f")
        .arg(ha.join("haproxy.cfg"))
        .output()
        .expect("haproxy is installed (scripts/test)");
    assert!(
        o.status.success(),
        "haproxy -c: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Kubernetes.
    let kv = root.join(".venv-interop/bin/kubernetes-validate");
    assert!(
        kv.exists(),
        "kubernetes-validate is not installed: run `bash scripts/test`"
    );
    let k8s = ha.join("k8s/sigstore-lite-ha.yaml");
    let o = std::process::Command::new(kv)
        .args(["--strict", "-k", "1.32.0"])
        .arg(&k8s)
        .output()
        .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success() && !report.contains("ERROR"), "{report}");

    // Every command parses with its binary's parser; the logs are on PostgreSQL, two frontends
    // each, on multi-host URLs; fulcio and tsa are two replicas each.
    // The file as docker-compose resolves it (anchors and merge keys applied).
    let o = std::process::Command::new("docker-compose")
        .arg("-f")
        .arg(tmp.path().join("deploy/ha/docker-compose.yml"))
        .arg("config")
        .output()
        .unwrap();
    assert!(o.status.success());
    let c: Value = serde_yaml::from_slice(&o.stdout).unwrap();
    let s = &c["services"];
    for (name, v2) in [
        ("rekor-v1-a", false),
        ("rekor-v1-b", false),
        ("rekor-v2-a", true),
        ("rekor-v2-b", true),
    ] {
        let cmd = command(s, name);
        match rekor_lite::cli::Cli::try_parse_from(&cmd)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .cmd
        {
            rekor_lite::cli::Cmd::Serve {
                store: Some(url),
                api_version,
                advertise: Some(adv),
                key: Some(_),
                ..
            } => {
                assert!(
                    url.contains("target_session_attrs=read-write") && url.contains(','),
                    "{name}: {url}"
                );
                assert_eq!(api_version == 2, v2, "{name}");
                assert!(adv.contains(name), "{name} advertises itself: {adv}");
            }
            _ => panic!("{name} is not a rekor-lite serve on PostgreSQL"),
        }
    }
    for name in ["fulcio-a", "fulcio-b"] {
        assert!(
            fulcio_lite::cli::Cli::try_parse_from(command(s, name)).is_ok(),
            "{name}"
        );
    }
    for name in ["tsa-a", "tsa-b"] {
        assert!(
            tsa_lite::cli::Cli::try_parse_from(command(s, name)).is_ok(),
            "{name}"
        );
    }
    let docs: Vec<Value> = std::fs::read_to_string(&k8s)
        .unwrap()
        .split("\n---\n")
        .map(|d| serde_yaml::from_str::<Value>(d).unwrap())
        .filter(|d| !d.is_null())
        .collect();
    let mut deployments = 0;
    for d in docs.iter().filter(|d| d["kind"] == "Deployment") {
        deployments += 1;
        let name = d["metadata"]["name"].as_str().unwrap();
        assert!(d["spec"]["replicas"].as_u64().unwrap() >= 2, "{name}");
        assert!(
            docs.iter()
                .any(|p| p["kind"] == "PodDisruptionBudget" && p["metadata"]["name"] == name),
            "{name} has a PodDisruptionBudget"
        );
        let ctr = &d["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(
            ctr["readinessProbe"]["httpGet"]["path"], "/healthz",
            "{name}"
        );
        let args: Vec<String> = ctr["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                a.as_str()
                    .unwrap()
                    .replace("$(REKOR_STORE)", "postgres://rekor@db/rekor")
                    .replace("$(POD_IP)", "10.0.0.1")
            })
            .collect();
        let ok = match args[0].as_str() {
            "rekor-lite" => rekor_lite::cli::Cli::try_parse_from(&args).is_ok(),
            "fulcio-lite" => fulcio_lite::cli::Cli::try_parse_from(&args).is_ok(),
            "tsa-lite" => tsa_lite::cli::Cli::try_parse_from(&args).is_ok(),
            other => panic!("{other}"),
        };
        assert!(ok, "{name}: {args:?}");
    }
    assert_eq!(deployments, 4);
}

/// Shell completions and man pages for every tool, from their clap definitions: bash loads
/// each completion script and registers the tool, and each page is a man page (`.TH`) naming
/// the tool's subcommands.
#[test]
fn completions_and_man_pages_cover_every_tool() {
    let bin = sigstore_lite_tests::binaries::sigstore_lite();
    let dir = tempfile::tempdir().unwrap();
    let tools = [
        "sigstore-lite",
        "fulcio-lite",
        "rekor-lite",
        "tsa-lite",
        "mock-oidc",
        "cosign-keyless",
        "sbom-lite",
        "admission-lite",
    ];
    let c = dir.path().join("completions");
    let o = std::process::Command::new(&bin)
        .args(["completions", "bash", "--out"])
        .arg(&c)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for t in tools {
        let script = c.join(format!("{t}.bash"));
        let o = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!("source '{}' && complete -p {t}", script.display()))
            .output()
            .unwrap();
        assert!(
            o.status.success() && String::from_utf8_lossy(&o.stdout).contains(t),
            "{t}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let bash = std::fs::read_to_string(c.join("cosign-keyless.bash")).unwrap();
    assert!(bash.contains("sign-blob") && bash.contains("--certificate-identity"));
    let m = dir.path().join("man");
    let o = std::process::Command::new(&bin)
        .args(["man", "--out"])
        .arg(&m)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for t in tools {
        let page = std::fs::read_to_string(m.join(format!("{t}.1"))).unwrap();
        assert!(
            page.starts_with(".ie") || page.contains(".TH"),
            "{t}: {page}"
        );
    }
    for sub in [
        "cosign-keyless-sign-blob",
        "sigstore-lite-tuf-publish",
        "sbom-lite-scan",
    ] {
        let page = std::fs::read_to_string(m.join(format!("{sub}.1"))).unwrap();
        assert!(page.contains(".TH"), "{sub}");
    }
}
