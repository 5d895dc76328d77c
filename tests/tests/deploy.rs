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
