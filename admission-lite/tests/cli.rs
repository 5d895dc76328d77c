//! The admission-lite command line: `manifests` output checked by kubernetes-validate (the
//! Kubernetes OpenAPI schemas, an independent oracle), startup errors that name the file and
//! field, and `serve --self-signed` answering over HTTPS with its own CA.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::{engine::general_purpose::STANDARD as B64, Engine};

/// A server process that is killed when the test ends, passed or failed (a leaked server would
/// hold the test runner's output open).
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_admission-lite"))
}

/// Public-good Sigstore's trusted root (tests/vectors/sigstore, see its SOURCE).
fn trusted_root() -> PathBuf {
    root().join("tests/vectors/sigstore/prod_trusted_root.json")
}

const POLICY: &str = r#"apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: keyless}
spec:
  images: [{glob: "registry.example.com/**"}]
  authorities:
  - keyless:
      identities: [{issuer: "https://accounts.google.com", subject: "you@example.com"}]
"#;

#[test]
fn manifests_pass_kubernetes_validate() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, POLICY).unwrap();
    let tls = dir.path().join("tls");
    let o = bin()
        .args([
            "manifests",
            "--namespace",
            "sigstore",
            "--service",
            "admission-lite",
            "--self-signed",
        ])
        .arg(&tls)
        .arg("--policy")
        .arg(&policy)
        .arg("--trusted-root")
        .arg(trusted_root())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let yaml = String::from_utf8(o.stdout).unwrap();
    let file = dir.path().join("manifests.yaml");
    std::fs::write(&file, &yaml).unwrap();

    let kv = root().join(".venv-interop/bin/kubernetes-validate");
    assert!(
        kv.exists(),
        "kubernetes-validate is not installed: run `bash scripts/test`"
    );
    let o = Command::new(kv)
        .args([
            "--strict",
            "-k",
            &format!("{}.0", admission_lite::manifests::KUBERNETES_VERSION),
        ])
        .arg(&file)
        .output()
        .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "kubernetes-validate: {report}");
    assert_eq!(
        report.matches("INFO").count(),
        6,
        "six valid documents: {report}"
    );

    let docs: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&yaml)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "Secret",
            "ConfigMap",
            "Deployment",
            "Service",
            "MutatingWebhookConfiguration",
            "ValidatingWebhookConfiguration"
        ]
    );
    let ca = std::fs::read_to_string(tls.join("ca.crt")).unwrap();
    for hook in [&docs[4]["webhooks"][0], &docs[5]["webhooks"][0]] {
        assert_eq!(hook["failurePolicy"].as_str(), Some("Fail"));
        assert_eq!(hook["sideEffects"].as_str(), Some("None"));
        assert_eq!(hook["timeoutSeconds"].as_u64(), Some(10));
        assert_eq!(hook["admissionReviewVersions"][0].as_str(), Some("v1"));
        let excluded = &hook["namespaceSelector"]["matchExpressions"][0];
        assert_eq!(excluded["operator"].as_str(), Some("NotIn"));
        assert!(excluded["values"]
            .as_sequence()
            .unwrap()
            .iter()
            .any(|v| v.as_str() == Some("kube-system")));
        let bundle = B64
            .decode(hook["clientConfig"]["caBundle"].as_str().unwrap())
            .unwrap();
        assert_eq!(
            String::from_utf8(bundle).unwrap(),
            ca,
            "caBundle is the CA that signed the serving cert"
        );
    }
    assert_eq!(
        docs[4]["webhooks"][0]["clientConfig"]["service"]["path"].as_str(),
        Some("/mutate")
    );
    assert_eq!(
        docs[5]["webhooks"][0]["clientConfig"]["service"]["path"].as_str(),
        Some("/validate")
    );
    assert_eq!(docs[1]["data"]["policy-0.yaml"].as_str(), Some(POLICY));
    // The serving certificate is for the Service's DNS name.
    let cert = String::from_utf8(
        B64.decode(docs[0]["data"]["tls.crt"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    let o = Command::new("openssl")
        .args(["x509", "-noout", "-ext", "subjectAltName"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    o.stdin
        .as_ref()
        .unwrap()
        .write_all(cert.as_bytes())
        .unwrap();
    let san = String::from_utf8(o.wait_with_output().unwrap().stdout).unwrap();
    assert!(san.contains("DNS:admission-lite.sigstore.svc"), "{san}");

    // Without certificates there is nothing to put in the Secret: one sentence, exit 1.
    let o = bin()
        .args(["manifests", "--namespace", "n", "--service", "s"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--self-signed DIR"));
}

#[test]
fn bad_policies_stop_the_webhook_naming_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text, want) in [
        ("typo.yaml", POLICY.replace("identities", "identitys"), "unknown field `identitys`"),
        ("cue.yaml", format!("{POLICY}    attestations:\n    - name: a\n      predicateType: spdxjson\n      policy: {{type: cue, data: 'x'}}\n"), "type \"cue\" is not supported"),
        ("notary.yaml", "apiVersion: kyverno.io/v1\nkind: ClusterPolicy\nmetadata: {name: n}\nspec:\n  rules:\n  - name: r\n    match: {any: [{resources: {kinds: [Pod]}}]}\n    verifyImages:\n    - type: Notary\n      imageReferences: [\"*\"]\n".to_string(), "type Notary is not supported"),
    ] {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        let o = bin()
            .args(["serve", "--addr", "127.0.0.1:0", "--self-signed"])
            .arg(dir.path().join("tls"))
            .arg("--policy")
            .arg(&p)
            .arg("--trusted-root")
            .arg(trusted_root())
            .output()
            .unwrap();
        let e = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{e}");
        assert!(e.contains(name) && e.contains(want), "wanted {name} and {want:?}: {e}");
        assert_eq!(e.trim().lines().count(), 1, "one sentence: {e}");
    }
}

/// Issue 24: a webhook that would enforce nothing does not start (fail-closed on a
/// misconfiguration), unless the user says so with --allow-no-policies.
#[test]
fn a_webhook_without_policies_refuses_to_start_unless_told() {
    let dir = tempfile::tempdir().unwrap();
    let serve = |policy: &Path, extra: &[&str]| {
        let mut c = bin();
        c.args(["serve", "--addr", "127.0.0.1:0", "--self-signed"])
            .arg(dir.path().join("tls"))
            .arg("--policy")
            .arg(policy)
            .arg("--trusted-root")
            .arg(trusted_root())
            .args(extra);
        c
    };
    for (name, text) in [
        ("empty.yaml", ""),
        ("comments.yaml", "# nothing here\n---\n# nor here\n"),
        ("separators.yaml", "---\n---\n"),
    ] {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        let o = serve(&p, &[]).output().unwrap();
        let e = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{name}: {e}");
        assert!(
            e.contains(name) && e.contains("holds no image policy"),
            "{name}: {e}"
        );
        assert!(e.contains("--allow-no-policies"), "{e}");
        assert_eq!(e.trim().lines().count(), 1, "one sentence: {e}");
    }
    // Told explicitly, it starts, and says loudly that it admits everything.
    let p = dir.path().join("empty.yaml");
    let mut child = Running(
        serve(&p, &["--allow-no-policies"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut out = BufReader::new(child.0.stdout.take().unwrap());
    let (mut l1, mut l2) = (String::new(), String::new());
    out.read_line(&mut l1).unwrap();
    out.read_line(&mut l2).unwrap();
    drop(child);
    assert!(l1.contains("with 0 image policies"), "{l1}");
    assert!(l2.contains("every image is admitted"), "{l2}");
}

#[tokio::test]
async fn serve_self_signed_answers_over_https() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("policy.yaml");
    std::fs::write(&p, POLICY).unwrap();
    let tls = dir.path().join("tls");
    let mut child = Running(
        bin()
            .args(["serve", "--addr", "127.0.0.1:0", "--self-signed"])
            .arg(&tls)
            .arg("--policy")
            .arg(&p)
            .arg("--trusted-root")
            .arg(trusted_root())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("https://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_string();
    let ca = reqwest::Certificate::from_pem(&std::fs::read(tls.join("ca.crt")).unwrap()).unwrap();
    let http = reqwest::Client::builder()
        .add_root_certificate(ca)
        .build()
        .unwrap();
    let health = http.get(format!("{url}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    // A Pod matching no policy: admitted, uid echoed.
    let review = serde_json::json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "abc", "kind": {"group": "", "version": "v1", "kind": "Pod"}, "operation": "CREATE",
            "object": {"spec": {"containers": [{"name": "a", "image": "nginx:1.27"}]}}}});
    let r: serde_json::Value = http
        .post(format!("{url}/validate"))
        .json(&review)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["response"]["uid"], "abc");
    assert_eq!(r["response"]["allowed"], true);
    // Issue 24: a reference that does not parse is denied (never "matches no policy").
    for bad in [
        "../x",
        "ｎｇｉｎｘ:1.27",
        "http://127.0.0.1:5000/app:v1",
        "Nginx:1.27",
        "nginx:1.27\n",
    ] {
        let review = serde_json::json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": "u", "kind": {"group": "", "version": "v1", "kind": "Pod"}, "operation": "CREATE",
                "object": {"spec": {"containers": [{"name": "a", "image": bad}]}}}});
        let r: serde_json::Value = http
            .post(format!("{url}/validate"))
            .json(&review)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r["response"]["allowed"], false, "{bad:?} admitted: {r}");
        let m = r["response"]["status"]["message"].as_str().unwrap_or("");
        assert!(m.contains("not an image reference"), "{bad:?}: {r}");
    }
    // Plain HTTP is refused (it is not a TLS handshake).
    let plain = reqwest::Client::new()
        .get(url.replace("https://", "http://") + "/healthz")
        .send()
        .await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
    // A second start reuses the certificate.
    let before = std::fs::read(tls.join("tls.crt")).unwrap();
    drop(child);
    admission_lite::cli::self_signed(&tls, &["x".into()]).unwrap();
    assert_eq!(std::fs::read(tls.join("tls.crt")).unwrap(), before);
}
