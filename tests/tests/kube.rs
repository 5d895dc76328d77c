//! Keys in a Kubernetes Secret (`k8s://NS/NAME`), as cosign keeps them. No API server can be
//! obtained here, so `interop/python/kube_standin.py` stands in for the few REST calls, over
//! real HTTPS with a CA, a bearer token or a client certificate; real kubectl reads the Secret
//! back through it to prove the object's shape, against kubectl's own `create secret generic`
//! object. The keys then sign, attest and verify an image in a real registry.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use serde_json::Value;
use sigstore_lite_tests::registry::{push_image, start_registry};

struct StandIn {
    child: Child,
    url: String,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate for alice, as PEM files.
fn pki(dir: &Path) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "stand-in CA");
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    for (name, sans, cn) in [
        ("server", vec!["127.0.0.1".to_string()], "127.0.0.1"),
        ("client", Vec::new(), "alice"),
    ] {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(sans).unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        let cert = p.signed_by(&key, &ca).unwrap();
        std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).unwrap();
        std::fs::write(dir.join(format!("{name}-key.pem")), key.serialize_pem()).unwrap();
    }
}

fn start_standin(dir: &Path, token: &str) -> StandIn {
    use std::io::BufRead;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../interop/python/kube_standin.py");
    let mut child = Command::new("python3")
        .arg(script)
        .args(["server.pem", "server-key.pem", "ca.pem", token])
        .current_dir(dir)
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 for the API server stand-in");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("the stand-in did not start: {line:?}"))
        .to_string();
    StandIn {
        child,
        url: format!("https://127.0.0.1:{port}"),
    }
}

/// A kubeconfig for the stand-in; the CA by a relative path (resolved against the kubeconfig's
/// directory, as kubectl does), the user by token or by an inline client certificate.
fn kubeconfig(dir: &Path, name: &str, server: &str, user: &str) -> String {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: standin\n\
             clusters:\n- name: standin\n  cluster:\n    server: {server}\n    certificate-authority: ca.pem\n\
             contexts:\n- name: standin\n  context:\n    cluster: standin\n    user: u\n\
             users:\n- name: u\n  user:\n{user}"
        ),
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

fn cert_user(dir: &Path) -> String {
    let b = |f: &str| B64.encode(std::fs::read(dir.join(f)).unwrap());
    format!(
        "    client-certificate-data: {}\n    client-key-data: {}\n",
        b("client.pem"),
        b("client-key.pem")
    )
}

async fn cosign(args: &[&str], dir: &Path, kubeconfig: &str) -> Output {
    let (args, dir, kc): (Vec<String>, _, _) = (
        args.iter().map(|s| s.to_string()).collect(),
        dir.to_path_buf(),
        kubeconfig.to_string(),
    );
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_cosign-keyless-e2e"))
            .args(args)
            .current_dir(dir)
            .env("KUBECONFIG", kc)
            .env("COSIGN_PASSWORD", "kube-s3cret")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn kubectl(args: &[&str], kubeconfig: &str, dir: &Path) -> Output {
    let o = Command::new("kubectl")
        .current_dir(dir)
        .args(["--kubeconfig", kubeconfig, "--cache-dir"])
        .arg(dir.join("kube-cache"))
        .args(args)
        .output()
        .expect("kubectl (preinstalled; apt-get install kubectl)");
    o
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_in_a_secret_sign_attest_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    pki(d);
    let standin = start_standin(d, "t0ken");
    let kc = kubeconfig(d, "token.kubeconfig", &standin.url, "    token: t0ken\n");

    // generate-key-pair k8s://ns1/cosign-key: the Secret cosign creates, and ./cosign.pub.
    let o = cosign(&["generate-key-pair", "k8s://ns1/cosign-key"], d, &kc).await;
    assert!(o.status.success(), "{}", err(&o));
    assert!(
        err(&o).contains("Successfully created secret cosign-key in namespace ns1"),
        "{}",
        err(&o)
    );
    let public = std::fs::read_to_string(d.join("cosign.pub")).unwrap();
    assert!(public.starts_with("-----BEGIN PUBLIC KEY-----"));
    assert!(
        !d.join("cosign.key").exists(),
        "the private key stays in the Secret"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(d.join("cosign.pub"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // kubectl reads it back through the stand-in; its shape is kubectl's own Secret's.
    let o = kubectl(
        &["get", "secret", "cosign-key", "-n", "ns1", "-o", "json"],
        &kc,
        d,
    );
    assert!(o.status.success(), "kubectl: {}", err(&o));
    let s: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (
            s["apiVersion"].as_str(),
            s["kind"].as_str(),
            s["type"].as_str()
        ),
        (Some("v1"), Some("Secret"), Some("Opaque"))
    );
    assert_eq!(s["immutable"], true, "immutable on a 1.32 server");
    assert_eq!(s["metadata"]["name"], "cosign-key");
    assert_eq!(s["metadata"]["namespace"], "ns1");
    let data = s["data"].as_object().unwrap();
    let mut keys: Vec<&str> = data.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["cosign.key", "cosign.password", "cosign.pub"]);
    let field =
        |k: &str| String::from_utf8(B64.decode(data[k].as_str().unwrap()).unwrap()).unwrap();
    assert_eq!(field("cosign.pub"), public);
    assert_eq!(field("cosign.password"), "kube-s3cret");
    assert!(field("cosign.key").starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----"));
    std::fs::write(d.join("cosign.key.ref"), field("cosign.key")).unwrap();
    let reference = kubectl(
        &[
            "create",
            "secret",
            "generic",
            "cosign-key",
            "-n",
            "ns1",
            "--from-file=cosign.key=cosign.key.ref",
            "--from-literal=cosign.password=x",
            "--from-literal=cosign.pub=x",
            "--dry-run=client",
            "-o",
            "json",
        ],
        &kc,
        d,
    );
    assert!(reference.status.success(), "kubectl: {}", err(&reference));
    let r: Value = serde_json::from_slice(&reference.stdout).unwrap();
    assert_eq!(
        (
            &r["apiVersion"],
            &r["kind"],
            &r["metadata"]["name"],
            &r["metadata"]["namespace"]
        ),
        (
            &s["apiVersion"],
            &s["kind"],
            &s["metadata"]["name"],
            &s["metadata"]["namespace"]
        )
    );
    let mut ref_keys: Vec<&str> = r["data"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    ref_keys.sort();
    assert_eq!(ref_keys, keys);
    assert_eq!(r["data"]["cosign.key"], s["data"]["cosign.key"]);

    // The Secret signs and attests an image; the Secret (and the written cosign.pub) verify.
    let reg = start_registry().await;
    let stack = sigstore_lite::Stack::start(&sigstore_lite::Options::loopback(&d.join("stack")))
        .await
        .unwrap();
    let tc = stack.trust_config_path().to_str().unwrap().to_string();
    let image = format!("{}/demo/kube:v1", reg.addr);
    push_image(d, &image, "signed from a secret");
    std::fs::write(d.join("pred.json"), r#"{"builder": "kube test"}"#).unwrap();
    for args in [
        vec![
            "sign",
            &image,
            "--key",
            "k8s://ns1/cosign-key",
            "--trust-config",
            &tc,
        ],
        vec![
            "attest",
            &image,
            "--key",
            "k8s://ns1/cosign-key",
            "--type",
            "https://example.com/pred/v1",
            "--predicate",
            "pred.json",
            "--trust-config",
            &tc,
        ],
    ] {
        let o = cosign(&args, d, &kc).await;
        assert!(o.status.success(), "{args:?}: {}", err(&o));
    }
    let cert_kc = kubeconfig(d, "cert.kubeconfig", &standin.url, &cert_user(d));
    for (key, kc) in [
        ("k8s://ns1/cosign-key", &kc),
        ("k8s://ns1/cosign-key", &cert_kc),
        ("cosign.pub", &kc),
    ] {
        let o = cosign(
            &["verify", &image, "--key", key, "--trust-config", &tc],
            d,
            kc,
        )
        .await;
        assert!(o.status.success(), "verify --key {key}: {}", err(&o));
        let o = cosign(
            &[
                "verify-attestation",
                &image,
                "--key",
                key,
                "--type",
                "https://example.com/pred/v1",
                "--trust-config",
                &tc,
            ],
            d,
            kc,
        )
        .await;
        assert!(
            o.status.success(),
            "verify-attestation --key {key}: {}",
            err(&o)
        );
    }
    let log: Vec<String> = serde_json::from_slice(
        &reqwest_get_insecure(&format!("{}/_standin/requests", standin.url)).await,
    )
    .unwrap();
    assert!(
        log.iter().any(|l| l.ends_with(" cert")),
        "the client-certificate kubeconfig authenticated with its certificate: {log:?}"
    );

    // Bad references and refusals: one sentence, nothing changed.
    for (args, says) in [
        (
            vec![
                "verify",
                &image,
                "--key",
                "k8s://ns1",
                "--trust-config",
                &tc,
            ],
            "k8s://<namespace>/<secret>",
        ),
        (
            vec![
                "verify",
                &image,
                "--key",
                "k8s://ns1/missing",
                "--trust-config",
                &tc,
            ],
            "does not exist",
        ),
        (
            vec![
                "generate-key-pair",
                "k8s://ns1/cosign-key",
                "--output-key-prefix",
                "again",
            ],
            "immutable",
        ),
    ] {
        let o = cosign(&args, d, &kc).await;
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", err(&o));
        assert!(err(&o).contains(says), "{args:?}: {}", err(&o));
        assert_eq!(err(&o).trim().lines().count(), 1, "{}", err(&o));
    }
    let bad_kc = kubeconfig(d, "bad.kubeconfig", &standin.url, "    token: wrong\n");
    let o = cosign(
        &[
            "verify",
            &image,
            "--key",
            "k8s://ns1/cosign-key",
            "--trust-config",
            &tc,
        ],
        d,
        &bad_kc,
    )
    .await;
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("401"), "{}", err(&o));
    let o = kubectl(
        &["get", "secret", "cosign-key", "-n", "ns1", "-o", "json"],
        &kc,
        d,
    );
    let after: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        after["data"], s["data"],
        "the refused update changed nothing"
    );
    stack.stop().await;
}

/// GET over HTTPS without checking the stand-in's certificate (for its request log only).
async fn reqwest_get_insecure(url: &str) -> Vec<u8> {
    reqwest::Client::builder()
        .tls_danger_accept_invalid_certs(true)
        .build()
        .unwrap()
        .get(url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec()
}
