//! docker-compose.yml against the binaries' own command lines: every service's command parses,
//! the ports are those of `sigstore-lite up`, and the fulcio config it mounts loads.

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
        assert_eq!(ports, vec![format!("{port}:{port}")], "{svc}");
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
