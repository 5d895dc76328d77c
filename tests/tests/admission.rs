//! admission-lite as the Kubernetes API server calls it: AdmissionReview v1 requests wrapping
//! real objects (kubectl's `--dry-run=client -o json` output), posted over HTTPS to the running
//! webhook, for images in a real registry signed and attested by cosign-keyless against the
//! whole stack. No kube-apiserver can be obtained here (see the README); python-jsonpatch
//! applies the mutating webhook's patch as an independent RFC 6902 implementation.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use admission_lite::policy::PolicySet;
use admission_lite::webhook::Webhook;
use registry_client::{Reference, Registry};
use serde_json::{json, Value};
use sigstore_lite_tests::registry::{push_image, start_registry, RegistryProcess};

const SPDX_DOC: &str = r#"{"spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT",
  "name": "demo", "documentNamespace": "https://example.com/demo",
  "creationInfo": {"created": "2026-01-01T00:00:00Z", "creators": ["Tool: test"]},
  "packages": [{"name": "openssl", "SPDXID": "SPDXRef-Package-openssl", "versionInfo": "3.0.11",
    "downloadLocation": "NOASSERTION"}]}"#;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn kubectl(args: &[&str]) -> Value {
    let o = Command::new("kubectl")
        .args(args)
        .args(["--dry-run=client", "-o", "json"])
        .env("KUBECONFIG", "/dev/null")
        .output()
        .expect("kubectl is installed by scripts/test");
    assert!(
        o.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

/// A Pod for `image`: the pod template kubectl writes for a Deployment, as the ReplicaSet
/// controller stamps it into Pods (`kubectl run` needs an API server for discovery; `kubectl
/// create` does not).
fn pod(name: &str, image: &str) -> Value {
    let dep = kubectl(&["create", "deployment", name, &format!("--image={image}")]);
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": dep["spec"]["template"]["metadata"]["labels"]},
        "spec": dep["spec"]["template"]["spec"]})
}

fn review(uid: &str, kind: &str, object: &Value) -> Value {
    let (group, resource) = match kind {
        "Pod" => ("", "pods"),
        "Deployment" => ("apps", "deployments"),
        _ => ("", "other"),
    };
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": uid,
            "kind": {"group": group, "version": "v1", "kind": kind},
            "resource": {"group": group, "version": "v1", "resource": resource},
            "name": object["metadata"]["name"], "namespace": "default", "operation": "CREATE",
            "userInfo": {"username": "kubernetes-admin", "groups": ["system:masters", "system:authenticated"]},
            "object": object, "oldObject": null, "dryRun": false,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"}}})
}

struct Fixture {
    reg: Option<RegistryProcess>,
    reg_addr: String,
    stack: sigstore_lite::Stack,
    dir: tempfile::TempDir,
    tc: String,
    alice: String,
    mallory: String,
}

impl Fixture {
    async fn new() -> Fixture {
        Self::with_issuers(Vec::new()).await
    }

    /// A fixture whose stack also trusts `issuers` (`URL=TYPE`, as `up --issuer`).
    async fn with_issuers(issuers: Vec<String>) -> Fixture {
        let reg = start_registry().await;
        let dir = tempfile::tempdir().unwrap();
        let mut opts = sigstore_lite::Options::loopback(&dir.path().join("stack"));
        opts.issuers = issuers;
        let stack = sigstore_lite::Stack::start(&opts).await.unwrap();
        let token = |who: &'static str| {
            let url = stack.oidc_url.clone();
            async move {
                mock_oidc::fetch_token(&url, &mock_oidc::email_claims(who))
                    .await
                    .unwrap()
            }
        };
        let (alice, mallory) = (
            token("alice@example.com").await,
            token("mallory@example.com").await,
        );
        std::fs::write(dir.path().join("sbom.spdx.json"), SPDX_DOC).unwrap();
        std::fs::write(
            dir.path().join("other.spdx.json"),
            SPDX_DOC.replace("openssl", "zlib"),
        )
        .unwrap();
        Fixture {
            tc: stack.trust_config_path().to_str().unwrap().to_string(),
            reg_addr: reg.addr.clone(),
            reg: Some(reg),
            stack,
            dir,
            alice,
            mallory,
        }
    }

    /// Pushes an image; returns its tag reference and digest.
    async fn image(&self, name: &str) -> (String, String) {
        let image = format!("{}/demo/{name}:v1", self.reg_addr);
        push_image(self.dir.path(), &image, name);
        let digest = Registry::new(false)
            .resolve(&Reference::parse(&image).unwrap())
            .await
            .unwrap();
        (image, digest)
    }

    async fn cosign(&self, args: &[&str]) {
        let mut a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        a.extend(["--trust-config".to_string(), self.tc.clone()]);
        let dir = self.dir.path().to_path_buf();
        let o: Output = tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_cosign-keyless-e2e"))
                .args(a)
                .current_dir(dir)
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        assert!(
            o.status.success(),
            "cosign {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }

    /// cosign-keyless's output, whatever its status.
    async fn cosign_out(&self, args: &[&str]) -> Output {
        let mut a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        a.extend(["--trust-config".to_string(), self.tc.clone()]);
        let dir = self.dir.path().to_path_buf();
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_cosign-keyless-e2e"))
                .args(a)
                .current_dir(dir)
                .output()
                .unwrap()
        })
        .await
        .unwrap()
    }

    async fn sign(&self, image: &str, token: &str, extra: &[&str]) {
        let mut a = vec!["sign", image, "--identity-token", token, "-y"];
        a.extend(extra);
        self.cosign(&a).await;
    }

    async fn attest(&self, image: &str, token: &str, sbom: &str, extra: &[&str]) {
        let p = self.dir.path().join(sbom);
        let mut a = vec![
            "attest",
            image,
            "--type",
            "spdxjson",
            "--predicate",
            p.to_str().unwrap(),
            "--identity-token",
            token,
            "-y",
        ];
        a.extend(extra);
        self.cosign(&a).await;
    }
}

/// A running webhook over HTTPS on 127.0.0.1 and a client that trusts its CA.
struct Hook {
    url: String,
    http: reqwest::Client,
    webhook: Arc<Webhook>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Hook {
    async fn start(f: &Fixture, policies: &str) -> Hook {
        let pfile = f.dir.path().join("policies.yaml");
        std::fs::write(&pfile, policies).unwrap();
        let set = PolicySet::load(&[pfile], false).unwrap();
        let material = admission_lite::cli::load_trust(&f.stack.trusted_root_path()).unwrap();
        let webhook = Arc::new(Webhook::new(
            set,
            material,
            Registry::with_timeout(false, Duration::from_secs(5)),
            Duration::from_secs(300),
        ));
        let tls = admission_lite::cli::self_signed(
            &f.dir.path().join("tls"),
            &["127.0.0.1".to_string(), "localhost".to_string()],
        )
        .unwrap();
        let cfg = sigstore_lite_server::tls::server_config(
            &std::fs::read(&tls.cert).unwrap(),
            &std::fs::read(&tls.key).unwrap(),
        )
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(sigstore_lite_server::tls::serve_tls(
            listener,
            cfg,
            admission_lite::api::router(webhook.clone()),
            async {
                let _ = rx.await;
            },
        ));
        let ca = reqwest::Certificate::from_pem(&std::fs::read(&tls.ca).unwrap()).unwrap();
        let http = reqwest::Client::builder()
            .add_root_certificate(ca)
            .build()
            .unwrap();
        Hook {
            url,
            http,
            webhook,
            _stop: tx,
        }
    }

    async fn post_raw(&self, path: &str, body: Vec<u8>) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let code = r.status().as_u16();
        (code, r.json().await.unwrap())
    }

    /// Posts a review; checks the envelope and the uid; returns the response.
    async fn decide(&self, path: &str, uid: &str, kind: &str, object: &Value) -> Value {
        let (code, v) = self
            .post_raw(
                path,
                serde_json::to_vec(&review(uid, kind, object)).unwrap(),
            )
            .await;
        assert_eq!(code, 200, "{v}");
        assert_eq!(v["apiVersion"], "admission.k8s.io/v1");
        assert_eq!(v["kind"], "AdmissionReview");
        assert_eq!(v["response"]["uid"], uid, "the uid is echoed");
        v["response"].clone()
    }

    async fn validate_pod(&self, image: &str) -> Value {
        let pod = pod("web", image);
        self.decide("/validate", &format!("uid-{image}"), "Pod", &pod)
            .await
    }
}

fn denied_with(r: &Value, parts: &[&str]) {
    assert_eq!(r["allowed"], false, "{r}");
    assert_eq!(r["status"]["code"], 403, "{r}");
    let m = r["status"]["message"].as_str().unwrap();
    for p in parts {
        assert!(m.contains(p), "wanted {p:?} in the denial: {m}");
    }
}

fn policies(f: &Fixture) -> String {
    let (reg, issuer) = (&f.reg_addr, &f.stack.oidc_url);
    format!(
        r#"apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {{name: signed-by-alice}}
spec:
  images: [{{glob: "{reg}/demo/cip/**"}}]
  authorities:
  - name: alice
    keyless:
      url: {fulcio}
      identities: [{{issuer: "{issuer}", subject: "alice@example.com"}}]
    ctlog: {{url: {rekor}}}
---
apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {{name: sbom-with-openssl}}
spec:
  images: [{{glob: "{reg}/demo/cip/**"}}]
  authorities:
  - name: alice-sbom
    keyless:
      identities: [{{issuerRegExp: "^http://127\\.0\\.0\\.1", subjectRegExp: "^alice@"}}]
    attestations:
    - name: spdx-has-openssl
      predicateType: spdxjson
      policy:
        type: rego
        data: |
          package sigstore
          default isCompliant = false
          isCompliant {{
            input.predicateType == "https://spdx.dev/Document"
            some i
            input.predicate.packages[i].name == "openssl"
          }}
---
apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {{name: google-only}}
spec:
  images: [{{glob: "{reg}/demo/issuer/**"}}]
  authorities:
  - keyless:
      identities: [{{issuer: "https://accounts.google.com", subject: "alice@example.com"}}]
---
apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {{name: warn-only}}
spec:
  mode: warn
  images: [{{glob: "{reg}/demo/warn/**"}}]
  authorities:
  - keyless:
      identities: [{{issuer: "{issuer}", subject: "alice@example.com"}}]
---
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {{name: require-signed-sbom}}
spec:
  webhookConfiguration: {{failurePolicy: Fail, timeoutSeconds: 30}}
  rules:
  - name: verify
    match: {{any: [{{resources: {{kinds: [Pod]}}}}]}}
    verifyImages:
    - imageReferences: ["{reg}/demo/kyv/*"]
      failureAction: Enforce
      mutateDigest: true
      attestors:
      - entries:
        - keyless: {{subject: "alice@example.com", issuer: "{issuer}", rekor: {{url: "{rekor}"}}}}
      attestations:
      - type: https://spdx.dev/Document
        conditions: [{{all: [{{key: "{{{{ spdxVersion }}}}", operator: Equals, value: "SPDX-2.3"}},
                            {{key: "{{{{ packages[].name }}}}", operator: AnyIn, value: [openssl]}}]}}]
"#,
        fulcio = f.stack.fulcio_url,
        rekor = f.stack.rekor_url,
    )
}

fn pinned(image: &str, digest: &str) -> String {
    format!("{}@{digest}", image.rsplit_once(':').unwrap().0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_admits_only_what_policies_allow() {
    let mut f = Fixture::new().await;
    // Images, and what was done to them.
    let (good, good_d) = f.image("cip/good").await;
    // As cosign: --identity-token takes the token or the path of a file holding it.
    let token_file = f.dir.path().join("alice.token");
    std::fs::write(&token_file, format!("{}\n", f.alice)).unwrap();
    f.sign(&good, token_file.to_str().unwrap(), &[]).await;
    f.attest(&good, &f.alice, "sbom.spdx.json", &[]).await;
    let (noatt, noatt_d) = f.image("cip/noatt").await;
    f.sign(&noatt, &f.alice, &[]).await;
    let (badsbom, badsbom_d) = f.image("cip/badsbom").await;
    f.sign(&badsbom, &f.alice, &[]).await;
    f.attest(&badsbom, &f.alice, "other.spdx.json", &[]).await;
    let (mallory, mallory_d) = f.image("cip/mallory").await;
    f.sign(&mallory, &f.mallory, &[]).await;
    f.attest(&mallory, &f.mallory, "sbom.spdx.json", &[]).await;
    let (unsigned, unsigned_d) = f.image("cip/unsigned").await;
    let (issuer, issuer_d) = f.image("issuer/x").await;
    f.sign(&issuer, &f.alice, &[]).await;
    let (warn, warn_d) = f.image("warn/x").await;
    // The legacy layout (.sig and .att tags) under the Kyverno policy.
    let (kyv, kyv_d) = f.image("kyv/legacy").await;
    f.sign(&kyv, &f.alice, &["--new-bundle-format=false"]).await;
    f.attest(
        &kyv,
        &f.alice,
        "sbom.spdx.json",
        &["--new-bundle-format=false"],
    )
    .await;
    let (kyv_bad, kyv_bad_d) = f.image("kyv/other").await;
    f.sign(&kyv_bad, &f.alice, &["--new-bundle-format=false"])
        .await;
    f.attest(
        &kyv_bad,
        &f.alice,
        "other.spdx.json",
        &["--new-bundle-format=false"],
    )
    .await;
    let (late, late_d) = f.image("cip/late").await;

    // cosign habits: several images in one verify (each must verify).
    let id = [
        "--certificate-identity",
        "alice@example.com",
        "--certificate-oidc-issuer",
    ];
    let o = f
        .cosign_out(
            &[
                &["verify", good.as_str(), noatt.as_str()][..],
                &id[..],
                &[f.stack.oidc_url.as_str()][..],
            ]
            .concat(),
        )
        .await;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(&good_d) && out.contains(&noatt_d),
        "both images reported: {out}"
    );
    let o = f
        .cosign_out(
            &[
                &["verify", good.as_str(), unsigned.as_str()][..],
                &id[..],
                &[f.stack.oidc_url.as_str()][..],
            ]
            .concat(),
        )
        .await;
    assert!(
        !o.status.success(),
        "an unsigned image among them fails the command"
    );

    // --output-file: the same JSON, in the file instead of standard output.
    let out_file = f.dir.path().join("verified.json");
    let o = f
        .cosign_out(
            &[
                &[
                    "verify",
                    good.as_str(),
                    "--output-file",
                    out_file.to_str().unwrap(),
                ][..],
                &id[..],
                &[f.stack.oidc_url.as_str()][..],
            ]
            .concat(),
        )
        .await;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!String::from_utf8_lossy(&o.stdout).contains(&good_d));
    let written = std::fs::read_to_string(&out_file).unwrap();
    let v: serde_json::Value = serde_json::from_str(written.trim()).unwrap();
    assert_eq!(
        v[0]["critical"]["image"]["docker-manifest-digest"],
        good_d.as_str()
    );

    let hook = Hook::start(&f, &policies(&f)).await;

    // Signed by the right identity, with an SBOM that passes Rego: admitted by both policies.
    let r = hook.validate_pod(&pinned(&good, &good_d)).await;
    assert_eq!(r["allowed"], true, "{r}");
    let m = r["status"]["message"].as_str().unwrap();
    assert!(
        m.contains("admitted by policy ClusterImagePolicy/signed-by-alice")
            && m.contains("ClusterImagePolicy/sbom-with-openssl"),
        "{m}"
    );

    // What is refused, and why.
    denied_with(
        &hook.validate_pod(&pinned(&unsigned, &unsigned_d)).await,
        &[
            "cip/unsigned",
            "ClusterImagePolicy/signed-by-alice",
            "no signatures found",
        ],
    );
    denied_with(
        &hook.validate_pod(&pinned(&mallory, &mallory_d)).await,
        &[
            "cip/mallory",
            "ClusterImagePolicy/signed-by-alice",
            "signature validation failed",
            "mallory@example.com",
        ],
    );
    denied_with(
        &hook.validate_pod(&pinned(&noatt, &noatt_d)).await,
        &[
            "ClusterImagePolicy/sbom-with-openssl",
            "no matching attestations with type https://spdx.dev/Document",
        ],
    );
    let r = hook.validate_pod(&pinned(&badsbom, &badsbom_d)).await;
    denied_with(
        &r,
        &[
            "ClusterImagePolicy/sbom-with-openssl",
            "failed policy",
            "data.sigstore.isCompliant",
        ],
    );
    assert!(
        !r["status"]["message"]
            .as_str()
            .unwrap()
            .contains("signed-by-alice"),
        "the signature policy passed: {r}"
    );
    denied_with(
        &hook.validate_pod(&pinned(&issuer, &issuer_d)).await,
        &[
            "ClusterImagePolicy/google-only",
            "https://accounts.google.com",
        ],
    );
    // Kyverno: the legacy layout verifies; its conditions refuse an SBOM without openssl.
    let r = hook.validate_pod(&pinned(&kyv, &kyv_d)).await;
    assert_eq!(r["allowed"], true, "{r}");
    denied_with(
        &hook.validate_pod(&pinned(&kyv_bad, &kyv_bad_d)).await,
        &[
            "ClusterPolicy/require-signed-sbom/verify[0]",
            "packages[].name",
        ],
    );

    // Warn mode: admitted, with a warning that says why.
    let r = hook.validate_pod(&pinned(&warn, &warn_d)).await;
    assert_eq!(r["allowed"], true, "{r}");
    let w = r["warnings"][0].as_str().unwrap();
    assert!(
        w.contains("warn/x")
            && w.contains("ClusterImagePolicy/warn-only")
            && w.contains("no signatures found"),
        "{w}"
    );

    // No policy matches: admitted, and the response says so.
    let elsewhere = format!("{}/other/app@{good_d}", f.reg_addr);
    let r = hook.validate_pod(&elsewhere).await;
    assert_eq!(r["allowed"], true, "{r}");
    assert!(
        r["status"]["message"]
            .as_str()
            .unwrap()
            .contains("matches no policy"),
        "{r}"
    );

    // A Deployment from kubectl with two images: one bad image denies the whole object, and
    // the pointer-addressed images are the ones kubectl wrote.
    let dep = kubectl(&[
        "create",
        "deployment",
        "web",
        &format!("--image={}", pinned(&good, &good_d)),
        &format!("--image={}", pinned(&unsigned, &unsigned_d)),
    ]);
    let r = hook.decide("/validate", "dep-1", "Deployment", &dep).await;
    denied_with(&r, &["cip/unsigned"]);
    assert!(
        !r["status"]["message"]
            .as_str()
            .unwrap()
            .contains("cip/good"),
        "{r}"
    );

    // A tag: the validating path wants a digest; the mutating path pins it, and the patch,
    // applied by python-jsonpatch, gives an object the validating path admits.
    denied_with(
        &hook.validate_pod(&good).await,
        &["must be an image digest"],
    );
    let dep = kubectl(&[
        "create",
        "deployment",
        "web",
        &format!("--image={good}"),
        &format!("--image={kyv}"),
    ]);
    let r = hook.decide("/mutate", "mut-1", "Deployment", &dep).await;
    assert_eq!(r["allowed"], true, "{r}");
    assert_eq!(r["patchType"], "JSONPatch");
    let obj_file = f.dir.path().join("deployment.json");
    std::fs::write(&obj_file, serde_json::to_vec(&dep).unwrap()).unwrap();
    let o = Command::new(root().join(".venv-interop/bin/python"))
        .arg(root().join("interop/python/apply_patch.py"))
        .arg(&obj_file)
        .arg(r["patch"].as_str().unwrap())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "python-jsonpatch: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let patched: Value = serde_json::from_slice(&o.stdout).unwrap();
    let cs = &patched["spec"]["template"]["spec"]["containers"];
    assert_eq!(
        cs[0]["image"],
        format!("{good}@{good_d}"),
        "Kyverno's form: tag kept, digest added"
    );
    assert_eq!(cs[1]["image"], format!("{kyv}@{kyv_d}"));
    assert_eq!(
        patched["spec"]["replicas"], dep["spec"]["replicas"],
        "nothing else changed"
    );
    let r = hook
        .decide("/validate", "val-1", "Deployment", &patched)
        .await;
    assert_eq!(r["allowed"], true, "{r}");
    // An image whose tag moved between mutate and validate is refused.
    let moved = format!("{good}@{noatt_d}");
    denied_with(
        &hook.validate_pod(&moved).await,
        &[&format!("now points to {good_d}, not the pinned {noatt_d}")],
    );

    // The cache answered the repeated images; every decision above was one verification per
    // (digest, policy) at most.
    let c = &hook.webhook.counters;
    assert!(c.cache_hits.load(std::sync::atomic::Ordering::Relaxed) >= 3);

    // Bad input: a 4xx or a denial, never a 5xx, never an allow.
    let (code, v) = hook.post_raw("/validate", b"{not json".to_vec()).await;
    assert_eq!(code, 400);
    assert_eq!(v["reason"], "bad_admission_review");
    assert!(v["message"].as_str().unwrap().contains("not JSON"));
    let mut no_uid = review("x", "Pod", &pod("a", "nginx"));
    no_uid["request"].as_object_mut().unwrap().remove("uid");
    let (code, v) = hook
        .post_raw("/validate", serde_json::to_vec(&no_uid).unwrap())
        .await;
    assert_eq!(
        (code, v["message"].as_str().unwrap()),
        (400, "request.uid is missing")
    );
    let mut v1beta1 = review("x", "Pod", &pod("a", "nginx"));
    v1beta1["apiVersion"] = json!("admission.k8s.io/v1beta1");
    assert_eq!(
        hook.post_raw("/validate", serde_json::to_vec(&v1beta1).unwrap())
            .await
            .0,
        400
    );
    let big = vec![b' '; 10 << 20];
    let (code, v) = hook.post_raw("/validate", big).await;
    assert_eq!(code, 413, "{v}");
    assert_eq!(v["code"], 413);
    let cm = kubectl(&["create", "configmap", "c", "--from-literal=a=b"]);
    let r = hook.decide("/validate", "cm", "ConfigMap", &cm).await;
    assert_eq!(r["allowed"], false);
    assert!(
        r["status"]["message"]
            .as_str()
            .unwrap()
            .contains("not ConfigMap"),
        "{r}"
    );
    let mut empty = pod("a", "nginx");
    empty["spec"]["containers"] = json!([]);
    let r = hook.decide("/validate", "e", "Pod", &empty).await;
    assert_eq!(r["allowed"], false);
    assert!(
        r["status"]["message"]
            .as_str()
            .unwrap()
            .contains("no container images"),
        "{r}"
    );
    let r = hook
        .validate_pod(&format!("{}/demo/cip/x@sha256:nothex", f.reg_addr))
        .await;
    denied_with(&r, &["is not an image reference"]);
    assert_eq!(hook.post_raw("/nowhere", b"{}".to_vec()).await.0, 404);

    // The registry goes down: an image not verified before is denied (fail closed), and a tag
    // cannot be pinned.
    drop(f.reg.take());
    denied_with(
        &hook.validate_pod(&pinned(&late, &late_d)).await,
        &["cip/late", "cannot read its signatures from the registry"],
    );
    let r = hook
        .decide("/mutate", "down", "Pod", &pod("web", &late))
        .await;
    denied_with(&r, &["cannot resolve the tag to a digest"]);

    // /metrics counts what happened.
    let m = hook
        .http
        .get(format!("{}/metrics", hook.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(m.contains("admission_lite_denied_total"), "{m}");
    assert!(
        m.lines()
            .any(|l| l.starts_with("admission_lite_registry_errors_total ") && !l.ends_with(" 0")),
        "{m}"
    );
}

/// A GitLab-signed image (a GitLab CI token from an independent OIDC provider, issued for
/// through Fulcio's gitlab-pipeline templates) is admitted only by a policy that names its
/// project: in policy-controller's form by the SAN (`subjectRegExp`), in Kyverno's by the SAN or
/// by `additionalExtensions`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gitlab_signed_image_is_admitted_only_by_a_policy_naming_its_project() {
    let gitlab = sigstore_lite_tests::oidc_provider::PyProvider::start().await;
    let iss = gitlab.issuer().await;
    let f = Fixture::with_issuers(vec![format!("{iss}=gitlab-pipeline")]).await;
    let claims = json!({
        "namespace_id": "72", "namespace_path": "acme", "project_id": "4711", "project_path": "acme/app",
        "pipeline_source": "push", "job_id": "777", "ref": "main", "ref_type": "branch",
        "runner_environment": "self-hosted", "sha": "0123456789abcdef0123456789abcdef01234567",
        "project_visibility": "internal",
        "ci_config_ref_uri": "gitlab.com/acme/app//.gitlab-ci.yml@refs/heads/main",
        "ci_config_sha": "0123456789abcdef0123456789abcdef01234567"
    });
    let token = gitlab
        .login_with(
            "project_path:acme-app:ref_type:branch:ref:main",
            claims,
            "openid",
        )
        .await;
    let (image, digest) = f.image("gitlab-app").await;
    f.sign(&image, &token, &[]).await;
    let reg = &f.reg_addr;
    let cip = |subject_re: &str| {
        format!(
            r#"apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {{name: gitlab-project}}
spec:
  images: [{{glob: "{reg}/demo/**"}}]
  authorities:
  - keyless:
      identities: [{{issuer: "{iss}", subjectRegExp: "{subject_re}"}}]
"#
        )
    };
    let kyverno = |keyless: &str| {
        format!(
            r#"apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {{name: gitlab-project}}
spec:
  rules:
  - name: verify
    match: {{any: [{{resources: {{kinds: [Pod]}}}}]}}
    verifyImages:
    - imageReferences: ["{reg}/demo/*"]
      failureAction: Enforce
      attestors:
      - entries:
        - keyless: {{issuer: "{iss}", {keyless}}}
"#
        )
    };
    let cases = [
        (cip("^https://gitlab\\\\.com/acme/app//"), true),
        (cip("^https://gitlab\\\\.com/acme/other//"), false),
        (
            kyverno(r#"subject: "https://gitlab.com/acme/app//.gitlab-ci.yml@refs/heads/main""#),
            true,
        ),
        (
            kyverno(
                r#"subjectRegExp: ".*", additionalExtensions: {source-repository-uri: "https://gitlab.com/acme/app", build-trigger: push}"#,
            ),
            true,
        ),
        (
            kyverno(
                r#"subjectRegExp: ".*", additionalExtensions: {source-repository-uri: "https://gitlab.com/acme/other"}"#,
            ),
            false,
        ),
    ];
    for (policy, admitted) in cases {
        let hook = Hook::start(&f, &policy).await;
        let r = hook.validate_pod(&pinned(&image, &digest)).await;
        assert_eq!(r["allowed"], admitted, "{policy}\n{r}");
    }
}
