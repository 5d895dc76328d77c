//! Every CI's identity (issue 21), with tokens from an OIDC provider that is not ours
//! (oidc-provider-mock, installed by scripts/test): GitLab CI, Buildkite and Kubernetes shaped
//! tokens are exchanged for certificates by a fulcio-lite reading a config in real Fulcio's YAML
//! form (`define:` anchors, `ci-provider:` aliases, a meta-issuer), and the SAN and every
//! extension are checked against values this test derives from Fulcio's templates
//! (config/identity/config.yaml). sigstore-python then signs with a GitLab-shaped token against
//! the stack, and cosign-keyless verifies the bundle by that identity.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};
use sigstore_lite_core::keys::{pem_parse_all, P256Signer};
use sigstore_lite_tests::oidc_provider::PyProvider;

fn oid(n: u32) -> String {
    format!("1.3.6.1.4.1.57264.1.{n}")
}

/// What the certificate must say: its one URI SAN and its Sigstore extensions by arc.
fn table(
    san: &str,
    issuer: &str,
    sub: &str,
    exts: &[(u32, String)],
) -> (String, BTreeMap<String, String>) {
    let mut m: BTreeMap<String, String> = exts.iter().map(|(n, v)| (oid(*n), v.clone())).collect();
    m.insert(oid(1), issuer.to_string());
    m.insert(oid(8), issuer.to_string());
    m.insert(oid(24), sub.to_string());
    (san.to_string(), m)
}

async fn certify(fulcio: &str, token: &str, sub: &str) -> reqwest::Response {
    let key = P256Signer::generate_p256().unwrap();
    reqwest::Client::new()
        .post(fulcio)
        .json(&json!({"credentials": {"oidcIdentityToken": token},
            "publicKeyRequest": {"publicKey": {"algorithm": "ECDSA", "content": key.public_key().to_pem()},
                                 "proofOfPossession": B64.encode(key.sign(sub.as_bytes()))}}))
        .send()
        .await
        .unwrap()
}

async fn leaf(r: reqwest::Response) -> sigstore_lite_core::fulcio::FulcioCert {
    let status = r.status();
    let v: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{v}");
    let der = pem_parse_all(
        v["signedCertificateEmbeddedSct"]["chain"]["certificates"][0]
            .as_str()
            .unwrap(),
    )
    .unwrap()
    .remove(0)
    .der;
    sigstore_lite_core::fulcio::read(&der).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ci_tokens_get_the_certificates_fulcios_templates_give() {
    let (gitlab, buildkite, k8s) = (
        PyProvider::start().await,
        PyProvider::start().await,
        PyProvider::start().await,
    );
    let (gl, bk, ks) = (
        gitlab.issuer().await,
        buildkite.issuer().await,
        k8s.issuer().await,
    );
    let dir = tempfile::tempdir().unwrap();
    // Real Fulcio's config shape, anchors and descriptions included; the Kubernetes provider
    // is reached through a meta-issuer (its port is the `*`).
    let cfg = dir.path().join("config.yaml");
    std::fs::write(
        &cfg,
        format!(
            r#"define:
  - &gitlab-type "gitlab-pipeline"
  - &buildkite-type "buildkite-job"
oidc-issuers:
  {gl}:
    issuer-url: {gl}
    client-id: sigstore
    type: ci-provider
    ci-provider: *gitlab-type
    contact: ci@example.com
    description: "GitLab OIDC tokens for job identity"
  {bk}:
    issuer-url: {bk}
    client-id: sigstore
    type: ci-provider
    ci-provider: *buildkite-type
meta-issuers:
  http://127.0.0.1:*:
    client-id: sigstore
    type: kubernetes
"#
        ),
    )
    .unwrap();
    let f = fulcio_lite::open(&fulcio_lite::Settings {
        data_dir: dir.path().join("ca"),
        config: Some(cfg),
        extra_issuers: Vec::new(),
        jwks_ttl: fulcio_lite::oidc::DEFAULT_JWKS_TTL,
        oidc_roots: Vec::new(),
        keys: Default::default(),
    })
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let fulcio = format!("{base}/api/v2/signingCert");
    tokio::spawn(fulcio_lite::serve(listener, f, std::future::pending()));

    // A GitLab CI id_token (GitLab's documented claims).
    let gl_sub = "project_path:acme-app:ref_type:branch:ref:main";
    let gl_claims = json!({
        "namespace_id": "72", "namespace_path": "acme", "project_id": "4711",
        "project_path": "acme/app", "user_id": "1", "user_login": "dana", "user_email": "dana@acme.example",
        "pipeline_id": "900", "pipeline_source": "push", "job_id": "12345", "ref": "main",
        "ref_type": "branch", "ref_path": "refs/heads/main", "ref_protected": "true",
        "runner_id": 3, "runner_environment": "self-hosted",
        "sha": "3a1f0c2e9d8b7a6f5e4d3c2b1a0f9e8d7c6b5a49",
        "project_visibility": "internal",
        "ci_config_ref_uri": "gitlab.acme.example/acme/app//.gitlab-ci.yml@refs/heads/main",
        "ci_config_sha": "3a1f0c2e9d8b7a6f5e4d3c2b1a0f9e8d7c6b5a49"
    });
    let token = gitlab.login_with(gl_sub, gl_claims.clone(), "openid").await;
    let c = |k: &str| gl_claims[k].as_str().unwrap().to_string();
    let url = "https://gitlab.com"; // Fulcio's default `url` for every GitLab issuer
    let (want_san, want) = table(
        &format!("https://{}", c("ci_config_ref_uri")),
        &gl,
        gl_sub,
        &[
            (9, format!("https://{}", c("ci_config_ref_uri"))),
            (10, c("ci_config_sha")),
            (11, c("runner_environment")),
            (12, format!("{url}/{}", c("project_path"))),
            (13, c("sha")),
            (14, format!("refs/heads/{}", c("ref"))),
            (15, c("project_id")),
            (16, format!("{url}/{}", c("namespace_path"))),
            (17, c("namespace_id")),
            (18, format!("https://{}", c("ci_config_ref_uri"))),
            (19, c("ci_config_sha")),
            (20, c("pipeline_source")),
            (
                21,
                format!("{url}/{}/-/jobs/{}", c("project_path"), c("job_id")),
            ),
            (22, c("project_visibility")),
        ],
    );
    let cert = leaf(certify(&fulcio, &token, gl_sub).await).await;
    assert_eq!(cert.sans.len(), 1);
    assert_eq!(cert.sans[0].value(), want_san);
    assert_eq!(cert.sigstore_extensions, want, "GitLab");

    // A tag pipeline with a deployment environment: refs/tags/, and .23.
    let mut tag = gl_claims.clone();
    tag["ref_type"] = json!("tag");
    tag["ref"] = json!("v1.2.0");
    tag["environment"] = json!("production");
    let t = gitlab
        .login_with(
            "project_path:acme-app:ref_type:tag:ref:v1.2.0",
            tag,
            "openid",
        )
        .await;
    let cert =
        leaf(certify(&fulcio, &t, "project_path:acme-app:ref_type:tag:ref:v1.2.0").await).await;
    assert_eq!(cert.sigstore_extensions[&oid(14)], "refs/tags/v1.2.0");
    assert_eq!(cert.sigstore_extensions[&oid(23)], "production");

    // A GitLab token without a claim a template needs: 400, naming the claim.
    let mut short = gl_claims.clone();
    short.as_object_mut().unwrap().remove("project_id");
    let t = gitlab
        .login_with("project_path:acme-short", short, "openid")
        .await;
    let r = certify(&fulcio, &t, "project_path:acme-short").await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("no project_id claim"),
        "{body}"
    );

    // A Buildkite job token.
    let bk_sub = "organization:acme:pipeline:app:ref:refs-heads-main:commit:9f8e:step:build";
    let bk_claims = json!({
        "organization_slug": "acme", "pipeline_slug": "app", "build_number": 1042,
        "build_branch": "main", "build_tag": null, "build_commit": "9f8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d7c6",
        "step_key": "build", "job_id": "0190a3c1-8d2e-4f5a-b6c7-d8e9f0a1b2c3",
        "agent_id": "0190a3c1-0000-4000-8000-000000000001", "build_source": "webhook",
        "runner_environment": "buildkite-hosted", "organization_id": "o-1", "pipeline_id": "p-1"
    });
    let token = buildkite
        .login_with(bk_sub, bk_claims.clone(), "openid")
        .await;
    let b = |k: &str| bk_claims[k].as_str().unwrap().to_string();
    let (want_san, want) = table(
        "https://buildkite.com/acme/app",
        &bk,
        bk_sub,
        &[
            (11, b("runner_environment")),
            (13, b("build_commit")),
            (20, b("build_source")),
            (
                21,
                format!("https://buildkite.com/acme/app/builds/1042#{}", b("job_id")),
            ),
        ],
    );
    let cert = leaf(certify(&fulcio, &token, bk_sub).await).await;
    assert_eq!(cert.sans[0].value(), want_san);
    assert_eq!(cert.sigstore_extensions, want, "Buildkite");

    // A Kubernetes projected service-account token, through the meta-issuer.
    let ks_sub = "system:serviceaccount:ci:builder";
    let token = k8s
        .login_with(
            ks_sub,
            json!({"kubernetes.io": {"namespace": "ci", "serviceaccount": {"name": "builder", "uid": "u-1"},
                   "pod": {"name": "builder-7d9", "uid": "p-1"}}}),
            "openid",
        )
        .await;
    let (want_san, want) = table(
        "https://kubernetes.io/namespaces/ci/serviceaccounts/builder",
        &ks,
        ks_sub,
        &[],
    );
    let cert = leaf(certify(&fulcio, &token, ks_sub).await).await;
    assert_eq!(cert.sans[0].value(), want_san);
    assert_eq!(cert.sigstore_extensions, want, "Kubernetes");
    // One without its service account: refused.
    let t = k8s
        .login_with(
            "system:serviceaccount:ci:none",
            json!({"kubernetes.io": {"namespace": "ci"}}),
            "openid",
        )
        .await;
    let r = certify(&fulcio, &t, "system:serviceaccount:ci:none").await;
    assert_eq!(r.status(), 400);

    // /api/v2/configuration lists each issuer with its type; the meta-issuer as a wildcard.
    let conf: Value = reqwest::get(format!("{base}/api/v2/configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let of = |field: &str, url: &str| {
        conf["issuers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i[field] == url)
            .unwrap_or_else(|| panic!("{url} in {conf}"))["issuerType"]
            .clone()
    };
    assert_eq!(of("issuerUrl", &gl), "ci-provider");
    assert_eq!(of("issuerUrl", &bk), "ci-provider");
    assert_eq!(of("wildcardIssuerUrl", "http://127.0.0.1:*"), "kubernetes");
}

/// sigstore-python signs with a GitLab-shaped token against the stack (`up --issuer
/// URL=gitlab-pipeline`), and cosign-keyless verifies the bundle by that identity, its issuer,
/// and the extensions cosign names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigstore_python_signs_as_a_gitlab_job_and_cosign_keyless_verifies_it() {
    let gitlab = PyProvider::start().await;
    let iss = gitlab.issuer().await;
    let dir = tempfile::tempdir().unwrap();
    let mut opts = sigstore_lite::Options::loopback(&dir.path().join("stack"));
    opts.issuers = vec![format!("{iss}=gitlab-pipeline")];
    let stack = sigstore_lite::Stack::start(&opts).await.unwrap();
    let claims = json!({
        "namespace_id": "72", "namespace_path": "acme", "project_id": "4711", "project_path": "acme/app",
        "pipeline_source": "push", "job_id": "777", "ref": "main", "ref_type": "branch",
        "runner_environment": "gitlab-hosted", "sha": "0123456789abcdef0123456789abcdef01234567",
        "project_visibility": "public",
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
    let art = dir.path().join("release.tar");
    std::fs::write(&art, "a release built in GitLab CI\n").unwrap();
    let bundle = dir.path().join("release.sigstore.json");
    let tc = stack.trust_config_path();
    let o = std::process::Command::new(sigstore_lite_tests::binaries::sigstore_python())
        .arg("--trust-config")
        .arg(&tc)
        .args(["sign", "--identity-token", &token, "--bundle"])
        .arg(&bundle)
        .arg(&art)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "sigstore-python: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let identity = "https://gitlab.com/acme/app//.gitlab-ci.yml@refs/heads/main";
    let verify = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_cosign-keyless-e2e"))
            .arg("verify-blob")
            .arg(&art)
            .arg("--bundle")
            .arg(&bundle)
            .arg("--trust-config")
            .arg(&tc)
            .args(["--certificate-oidc-issuer", &iss])
            .args(extra)
            .output()
            .unwrap()
    };
    let o = verify(&["--certificate-identity", identity]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = verify(&[
        "--certificate-identity",
        "https://gitlab.com/acme/other//.gitlab-ci.yml@refs/heads/main",
    ]);
    assert!(!o.status.success(), "another project's identity verified");
    let o = verify(&[
        "--certificate-identity-regexp",
        "^https://gitlab\\.com/acme/app//.*",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // By the extensions GitLab's template fills: the project, the trigger, the runner.
    let o = verify(&[
        "--certificate-identity",
        identity,
        "--certificate-extension",
        "source-repository-uri=https://gitlab.com/acme/app",
        "--certificate-extension",
        "build-trigger=push",
        "--certificate-extension",
        "1.3.6.1.4.1.57264.1.11=gitlab-hosted",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = verify(&[
        "--certificate-identity",
        identity,
        "--certificate-extension",
        "source-repository-uri=https://gitlab.com/acme/other",
    ]);
    assert_eq!(
        o.status.code(),
        Some(12),
        "another project's extension verified"
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("source-repository-uri extension does not match"),
        "{err}"
    );
    // A GitHub workflow flag on a GitLab certificate: it carries no such extension.
    let o = verify(&[
        "--certificate-identity",
        identity,
        "--certificate-github-workflow-repository",
        "acme/app",
    ]);
    assert!(!o.status.success());
    let o = verify(&[
        "--certificate-identity",
        identity,
        "--certificate-extension",
        "no-such=x",
    ]);
    assert_eq!(o.status.code(), Some(1));
    stack.stop().await;
}

/// `up --fulcio-config FILE` takes real Fulcio's whole config unchanged (the copy in
/// fulcio-lite/tests/data) and adds the mock issuer to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_takes_fulcios_whole_config() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = sigstore_lite::Options::loopback(&dir.path().join("stack"));
    opts.fulcio_config = Some(
        sigstore_lite_tests::binaries::repo().join("fulcio-lite/tests/data/fulcio-config.yaml"),
    );
    let stack = sigstore_lite::Stack::start(&opts).await.unwrap();
    let conf: Value = reqwest::get(format!("{}/api/v2/configuration", stack.fulcio_url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kind = |url: &str| {
        conf["issuers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["issuerUrl"] == url || i["wildcardIssuerUrl"] == url)
            .unwrap_or_else(|| panic!("{url} in {conf}"))["issuerType"]
            .clone()
    };
    assert_eq!(kind("https://gitlab.com"), "ci-provider");
    assert_eq!(kind("https://agent.buildkite.com"), "ci-provider");
    assert_eq!(kind("https://issuer.enforce.dev"), "chainguard-identity");
    assert_eq!(kind("https://oidc.eks.*.amazonaws.com/id/*"), "kubernetes");
    assert_eq!(kind(&stack.oidc_url), "email");
    stack.stop().await;
}
