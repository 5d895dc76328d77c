//! Image signatures and attestations in cosign v3's bundle layout (Sigstore bundles pushed as
//! OCI 1.1 referrers; Debian's docker-registry 2.8 has no referrers API, so the tag schema is
//! used) and attestations in the legacy `.att` layout, against real parts on 127.0.0.1: the
//! registry, images built with umoci and pushed with skopeo, the whole stack. Independent checks:
//! real sigstore-python verifies a referrer bundle fetched over plain HTTP, Python `cryptography`
//! verifies a legacy envelope against its certificate, and the `.att` bytes are the envelope
//! Rekor logged.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use registry_client::{Reference, Registry};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sigstore_lite_tests::registry::{push_image, start_registry, RegistryProcess};

const SPDX_DOC: &str = r#"{"spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT",
  "name": "demo", "documentNamespace": "https://example.com/demo",
  "creationInfo": {"created": "2026-01-01T00:00:00Z", "creators": ["Tool: test"]},
  "packages": [{"name": "openssl", "SPDXID": "SPDXRef-Package-openssl", "versionInfo": "3.0.11",
    "downloadLocation": "NOASSERTION"}]}"#;
const CYCLONEDX_DOC: &str = r#"{"bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
  "components": [{"type": "library", "name": "zlib", "version": "1.2.13"}]}"#;

async fn run(args: Vec<String>, dir: &Path, env: &[(&str, &str)]) -> Output {
    let (dir, env): (PathBuf, Vec<(String, String)>) = (
        dir.to_path_buf(),
        env.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    );
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_cosign-keyless-e2e"))
            .args(args)
            .current_dir(dir)
            .envs(env)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn v(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// Real sigstore-python's interpreter (with `cryptography`), installed by scripts/test.
fn python(script: &str, args: &[&str]) -> Output {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let py = root.join(".venv-interop/bin/python");
    assert!(
        py.exists(),
        "sigstore-python is not installed: run `bash scripts/test`"
    );
    Command::new(py)
        .arg(root.join("interop/python").join(script))
        .args(args)
        .output()
        .unwrap()
}

/// A registry, the stack, a work directory and a token for alice.
struct Fixture {
    reg: RegistryProcess,
    stack: sigstore_lite::Stack,
    dir: tempfile::TempDir,
    tc: String,
    token: String,
}

impl Fixture {
    async fn new() -> Fixture {
        let reg = start_registry().await;
        let dir = tempfile::tempdir().unwrap();
        let stack = sigstore_lite::Stack::start(&sigstore_lite::Options::loopback(
            &dir.path().join("stack"),
        ))
        .await
        .unwrap();
        let token = mock_oidc::fetch_token(
            &stack.oidc_url,
            &mock_oidc::email_claims("alice@example.com"),
        )
        .await
        .unwrap();
        std::fs::write(dir.path().join("sbom.spdx.json"), SPDX_DOC).unwrap();
        std::fs::write(dir.path().join("sbom.cdx.json"), CYCLONEDX_DOC).unwrap();
        Fixture {
            tc: stack.trust_config_path().to_str().unwrap().to_string(),
            reg,
            stack,
            dir,
            token,
        }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_string()
    }

    /// Pushes a fresh one-file image; returns its reference and digest.
    async fn image(&self, name: &str) -> (String, String) {
        let image = format!("{}/demo/{name}:v1", self.reg.addr);
        push_image(self.dir.path(), &image, name);
        let digest = Registry::new(false)
            .resolve(&Reference::parse(&image).unwrap())
            .await
            .unwrap();
        (image, digest)
    }

    async fn cosign(&self, args: &[&str]) -> Output {
        let mut a = v(args);
        a.extend(v(&["--trust-config", &self.tc]));
        run(a, self.dir.path(), &[("COSIGN_PASSWORD", "s3cret")]).await
    }

    async fn attest(&self, image: &str, kind: &str, file: &str, extra: &[&str]) -> Output {
        let mut a = vec![
            "attest",
            image,
            "--type",
            kind,
            "--predicate",
            file,
            "--identity-token",
            &self.token,
        ];
        a.extend(extra);
        self.cosign(&a).await
    }

    async fn verify_attestation(&self, image: &str, kind: &str, extra: &[&str]) -> Output {
        let mut a = vec![
            "verify-attestation",
            image,
            "--type",
            kind,
            "--certificate-oidc-issuer",
            &self.stack.oidc_url,
        ];
        if !extra
            .iter()
            .any(|e| e.starts_with("--certificate-identity"))
        {
            a.extend(["--certificate-identity", "alice@example.com"]);
        }
        a.extend(extra);
        self.cosign(&a).await
    }

    /// The referrers tag schema's index for `digest` (docker-registry 2.8 has no referrers API).
    async fn referrers(&self, image: &str, digest: &str) -> Vec<Value> {
        let r = Reference::parse(image).unwrap();
        match Registry::new(false)
            .manifest(&r, &digest.replace(':', "-"))
            .await
            .unwrap()
        {
            Some((body, _, _)) => serde_json::from_slice::<Value>(&body).unwrap()["manifests"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
            None => Vec::new(),
        }
    }

    async fn http_json(&self, path: &str) -> Value {
        reqwest::Client::new()
            .get(format!("http://{}/v2/demo/{path}", self.reg.addr))
            .header(
                "accept",
                "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json",
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn http_bytes(&self, path: &str) -> Vec<u8> {
        reqwest::get(format!("http://{}/v2/demo/{path}", self.reg.addr))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .to_vec()
    }
}

/// The statement inside an envelope printed by verify-attestation.
fn statement_of(envelope_line: &str) -> Value {
    let env: Value = serde_json::from_str(envelope_line).unwrap();
    serde_json::from_slice(&B64.decode(env["payload"].as_str().unwrap()).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bundle_layout_signs_attests_and_verifies_with_policies() {
    let f = Fixture::new().await;
    let (image, digest) = f.image("bundled").await;
    let hex_digest = &digest[7..];

    // cosign v3's default: a DSSE statement in a bundle, pushed as a referrer.
    let o = f
        .cosign(&["sign", &image, "--identity-token", &f.token, "-y"])
        .await;
    assert!(o.status.success(), "{}", err(&o));
    assert!(
        Registry::new(false)
            .manifest(
                &Reference::parse(&image).unwrap(),
                &cosign_keyless::image::signature_tag(&digest)
            )
            .await
            .unwrap()
            .is_none(),
        "no legacy .sig tag in the bundle layout"
    );
    let refs = f.referrers(&image, &digest).await;
    assert_eq!(refs.len(), 1);
    assert_eq!(
        refs[0]["artifactType"],
        "application/vnd.dev.sigstore.bundle.v0.3+json"
    );
    assert_eq!(
        refs[0]["annotations"]["dev.sigstore.bundle.predicateType"],
        "https://sigstore.dev/cosign/sign/v1"
    );
    let o = f
        .cosign(&[
            "verify",
            &image,
            "--certificate-identity",
            "alice@example.com",
            "--certificate-oidc-issuer",
            &f.stack.oidc_url,
        ])
        .await;
    assert!(o.status.success(), "{}", err(&o));
    let printed: Vec<Value> = serde_json::from_str(out(&o).trim()).unwrap();
    assert_eq!(
        printed[0]["critical"],
        json!({"identity": {"docker-reference": format!("{}/demo/bundled", f.reg.addr)},
               "image": {"docker-manifest-digest": digest}, "type": "https://sigstore.dev/cosign/sign/v1"})
    );
    let o = f
        .cosign(&[
            "verify",
            &image,
            "--certificate-identity",
            "mallory@example.com",
            "--certificate-oidc-issuer",
            &f.stack.oidc_url,
        ])
        .await;
    assert_eq!(o.status.code(), Some(12), "{}", err(&o));

    // An SPDX SBOM as a signed attestation, verified by type, identity and Rego policies.
    let bundle_out = f.path("spdx.bundle.json");
    let o = f
        .attest(
            &image,
            "spdxjson",
            &f.path("sbom.spdx.json"),
            &["--bundle", &bundle_out],
        )
        .await;
    assert!(o.status.success(), "{}", err(&o));
    let o = f.verify_attestation(&image, "spdxjson", &[]).await;
    assert!(o.status.success(), "{}", err(&o));
    let lines: Vec<String> = out(&o).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 1, "one envelope per line: {}", out(&o));
    let st = statement_of(&lines[0]);
    assert_eq!(st["_type"], "https://in-toto.io/Statement/v0.1");
    assert_eq!(st["predicateType"], "https://spdx.dev/Document");
    assert_eq!(st["subject"][0]["digest"]["sha256"], hex_digest);
    assert_eq!(
        st["subject"][0]["name"],
        format!("{}/demo/bundled", f.reg.addr)
    );
    assert_eq!(st["predicate"]["packages"][0]["name"], "openssl");
    assert!(err(&o).contains("Certificate subject: alice@example.com"));
    let o = f.verify_attestation(&image, "cyclonedx", &[]).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err(&o).contains(
            "none of the attestations matched the predicate type: https://cyclonedx.org/bom"
        ),
        "{}",
        err(&o)
    );
    let o = f
        .verify_attestation(
            &image,
            "spdxjson",
            &["--certificate-identity", "mallory@example.com"],
        )
        .await;
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("no matching attestations"), "{}", err(&o));

    for (name, text) in [
        ("allow.rego", "package signature\ndefault allow = false\nallow {\n  some i\n  input.predicate.packages[i].name == \"openssl\"\n}\n"),
        ("deny.rego", "package signature\nimport rego.v1\ndefault allow := false\nallow if { every p in input.predicate.packages { p.name != \"openssl\" } }\n"),
        ("broken.rego", "package signature\nallow {{ input.\n"),
        ("policy.cue", "predicateType: \"https://spdx.dev/Document\"\n"),
    ] {
        std::fs::write(f.dir.path().join(name), text).unwrap();
    }
    let o = f
        .verify_attestation(&image, "spdxjson", &["--policy", &f.path("allow.rego")])
        .await;
    assert!(o.status.success(), "{}", err(&o));
    for (policy, says) in [
        ("deny.rego", "1 validation errors occurred"),
        ("broken.rego", "does not compile"),
        ("policy.cue", "CUE policies are not supported"),
    ] {
        let o = f
            .verify_attestation(&image, "spdxjson", &["--policy", &f.path(policy)])
            .await;
        assert_eq!(o.status.code(), Some(1), "{policy}: {}", err(&o));
        assert!(err(&o).contains(says), "{policy}: {}", err(&o));
        assert_eq!(err(&o).trim().lines().count(), 1, "{policy}: {}", err(&o));
    }

    // What is attached, as cosign shows it.
    let o = run(v(&["tree", &image]), f.dir.path(), &[]).await;
    assert!(o.status.success(), "{}", err(&o));
    assert!(out(&o).contains("https://spdx.dev/Document artifacts via OCI referrer"));
    assert!(out(&o).contains("https://sigstore.dev/cosign/sign/v1 artifacts via OCI referrer"));
    let o = run(
        v(&[
            "download",
            "attestation",
            &image,
            "--predicate-type",
            "spdxjson",
        ]),
        f.dir.path(),
        &[],
    )
    .await;
    assert!(o.status.success(), "{}", err(&o));
    let downloaded: Value = serde_json::from_str(out(&o).trim()).unwrap();
    let written: Value = serde_json::from_slice(&std::fs::read(&bundle_out).unwrap()).unwrap();
    assert_eq!(downloaded, written, "the pushed bundle is the one written");

    // Real sigstore-python verifies the referrer bundle, fetched over plain HTTP.
    let index = f
        .http_json(&format!("bundled/manifests/{}", digest.replace(':', "-")))
        .await;
    let spdx_ref = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| {
            m["annotations"]["dev.sigstore.bundle.predicateType"] == "https://spdx.dev/Document"
        })
        .unwrap()
        .clone();
    let m = f
        .http_json(&format!(
            "bundled/manifests/{}",
            spdx_ref["digest"].as_str().unwrap()
        ))
        .await;
    assert_eq!(m["subject"]["digest"], digest);
    let blob = f
        .http_bytes(&format!(
            "bundled/blobs/{}",
            m["layers"][0]["digest"].as_str().unwrap()
        ))
        .await;
    std::fs::write(f.dir.path().join("fetched.bundle.json"), &blob).unwrap();
    let o = python(
        "verify_dsse.py",
        &[
            f.stack.trusted_root_path().to_str().unwrap(),
            &f.path("fetched.bundle.json"),
            "alice@example.com",
            &f.stack.oidc_url,
        ],
    );
    assert!(o.status.success(), "{}", err(&o));
    assert!(out(&o).starts_with("application/vnd.in-toto+json\n"));
    assert!(out(&o).contains("SPDX-2.3"));
    let o = python(
        "verify_dsse.py",
        &[
            f.stack.trusted_root_path().to_str().unwrap(),
            &f.path("fetched.bundle.json"),
            "mallory@example.com",
            &f.stack.oidc_url,
        ],
    );
    assert!(!o.status.success());
    f.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_attestations_are_the_logged_envelopes_and_verify_independently() {
    let f = Fixture::new().await;
    let (image, digest) = f.image("legacy").await;
    let o = f
        .attest(
            &image,
            "cyclonedx",
            &f.path("sbom.cdx.json"),
            &["--new-bundle-format=false"],
        )
        .await;
    assert!(o.status.success(), "{}", err(&o));
    assert!(f.referrers(&image, &digest).await.is_empty());
    let o = f.verify_attestation(&image, "cyclonedx", &[]).await;
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(
        statement_of(out(&o).trim())["predicate"]["components"][0]["name"],
        "zlib"
    );

    // The layer: the envelope bytes Rekor logged (envelopeHash), cosign's annotations.
    let att = f
        .http_json(&format!(
            "legacy/manifests/{}",
            digest.replace(':', "-") + ".att"
        ))
        .await;
    let layer = &att["layers"][0];
    assert_eq!(layer["mediaType"], "application/vnd.dsse.envelope.v1+json");
    let a = &layer["annotations"];
    assert_eq!(a["predicateType"], "https://cyclonedx.org/bom");
    assert_eq!(a["dev.cosignproject.cosign/signature"], "");
    assert!(a["dev.sigstore.cosign/chain"].is_string());
    let blob = f
        .http_bytes(&format!(
            "legacy/blobs/{}",
            layer["digest"].as_str().unwrap()
        ))
        .await;
    let rb: Value =
        serde_json::from_str(a["dev.sigstore.cosign/bundle"].as_str().unwrap()).unwrap();
    let index = rb["Payload"]["logIndex"].as_u64().unwrap();
    let logged: Value = reqwest::get(format!(
        "{}/api/v1/log/entries?logIndex={index}",
        f.stack.rekor_url
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let entry = logged.as_object().unwrap().values().next().unwrap();
    assert_eq!(entry["body"], rb["Payload"]["body"]);
    let body: Value =
        serde_json::from_slice(&B64.decode(entry["body"].as_str().unwrap()).unwrap()).unwrap();
    assert_eq!(body["kind"], "dsse");
    assert_eq!(
        body["spec"]["envelopeHash"]["value"],
        hex::encode(Sha256::digest(&blob)),
        "the .att layer is byte for byte the envelope logged"
    );
    // Python `cryptography` checks the envelope against the certificate annotation.
    std::fs::write(f.dir.path().join("att.json"), &blob).unwrap();
    std::fs::write(
        f.dir.path().join("att.pem"),
        a["dev.sigstore.cosign/certificate"].as_str().unwrap(),
    )
    .unwrap();
    let o = python(
        "verify_envelope.py",
        &[&f.path("att.json"), &f.path("att.pem")],
    );
    assert!(o.status.success(), "{}", err(&o));

    // A tampered envelope, and another image's attestation, are refused.
    let mut env: Value = serde_json::from_slice(&blob).unwrap();
    let mut st = statement_of(&env.to_string());
    st["predicate"]["components"][0]["name"] = json!("not-zlib");
    env["payload"] = json!(B64.encode(st.to_string()));
    std::fs::write(f.dir.path().join("tampered.json"), env.to_string()).unwrap();
    let o = python(
        "verify_envelope.py",
        &[&f.path("tampered.json"), &f.path("att.pem")],
    );
    assert!(!o.status.success(), "cryptography must refuse it too");
    let r = Reference::parse(&image).unwrap();
    let reg = Registry::new(false);
    let tag = format!("{}.att", digest.replace(':', "-"));
    let (orig, _, _) = reg.manifest(&r, &tag).await.unwrap().unwrap();
    let tampered_digest = reg.put_blob(&r, env.to_string().as_bytes()).await.unwrap();
    let mut m: Value = serde_json::from_slice(&orig).unwrap();
    m["layers"][0]["digest"] = json!(tampered_digest);
    m["layers"][0]["size"] = json!(env.to_string().len());
    reg.put_manifest(
        &r,
        &tag,
        &serde_json::to_vec(&m).unwrap(),
        registry_client::OCI_MANIFEST,
    )
    .await
    .unwrap();
    let o = f.verify_attestation(&image, "cyclonedx", &[]).await;
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    assert!(err(&o).contains("no matching attestations"), "{}", err(&o));

    let (other, other_digest) = f.image("other").await;
    let o = f
        .attest(
            &other,
            "cyclonedx",
            &f.path("sbom.cdx.json"),
            &["--new-bundle-format=false"],
        )
        .await;
    assert!(o.status.success(), "{}", err(&o));
    let ro = Reference::parse(&other).unwrap();
    let (theirs, _, _) = reg
        .manifest(&ro, &format!("{}.att", other_digest.replace(':', "-")))
        .await
        .unwrap()
        .unwrap();
    // Copy the other image's attestation (its blobs first) under this image's tag.
    let tm: Value = serde_json::from_slice(&theirs).unwrap();
    for d in [&tm["config"]["digest"], &tm["layers"][0]["digest"]] {
        let b = reg.blob(&ro, d.as_str().unwrap()).await.unwrap();
        reg.put_blob(&r, &b).await.unwrap();
    }
    reg.put_manifest(&r, &tag, &theirs, registry_client::OCI_MANIFEST)
        .await
        .unwrap();
    let o = f.verify_attestation(&image, "cyclonedx", &[]).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err(&o).contains("no matching attestations") && err(&o).contains("subject"),
        "{}",
        err(&o)
    );
    f.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_pair_attestations_in_both_layouts() {
    let f = Fixture::new().await;
    let o = run(
        v(&["generate-key-pair"]),
        f.dir.path(),
        &[("COSIGN_PASSWORD", "s3cret")],
    )
    .await;
    assert!(o.status.success(), "{}", err(&o));
    for (name, layout) in [("keyed-bundle", "true"), ("keyed-legacy", "false")] {
        let (image, _) = f.image(name).await;
        let o = f
            .cosign(&[
                "attest",
                &image,
                "--type",
                "spdxjson",
                "--predicate",
                &f.path("sbom.spdx.json"),
                "--key",
                "cosign.key",
                &format!("--new-bundle-format={layout}"),
            ])
            .await;
        assert!(o.status.success(), "{name}: {}", err(&o));
        let o = f
            .cosign(&[
                "verify-attestation",
                &image,
                "--type",
                "spdxjson",
                "--key",
                "cosign.pub",
            ])
            .await;
        assert!(o.status.success(), "{name}: {}", err(&o));
        assert_eq!(
            statement_of(out(&o).trim())["predicate"]["spdxVersion"],
            "SPDX-2.3"
        );
        // Another key does not verify it.
        let other = sigstore_lite_core::keys::P256Signer::generate_p256().unwrap();
        std::fs::write(f.dir.path().join("other.pub"), other.public_key().to_pem()).unwrap();
        let o = f
            .cosign(&[
                "verify-attestation",
                &image,
                "--type",
                "spdxjson",
                "--key",
                "other.pub",
            ])
            .await;
        assert_eq!(o.status.code(), Some(1), "{name}: {}", err(&o));
    }
    f.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_attest_input_is_one_sentence_and_changes_nothing() {
    let f = Fixture::new().await;
    let (image, digest) = f.image("refused").await;
    std::fs::write(f.dir.path().join("not.json"), "packages: [openssl]\n").unwrap();
    let size = |url: String| async move { reqwest::get(url).await.unwrap().text().await.unwrap() };
    let v1_before = size(format!("{}/api/v1/log", f.stack.rekor_url)).await;
    let v2_before = size(format!("{}/checkpoint", f.stack.rekor_v2_url)).await;
    for (kind, file, says) in [
        ("spdxjson", "not.json", "must be JSON"),
        ("cyclonedx", "sbom.spdx.json", "is not a CycloneDX"),
        ("spdxjson", "sbom.cdx.json", "is not an SPDX"),
        ("sbom", "sbom.spdx.json", "unknown predicate type \"sbom\""),
    ] {
        for layout in ["true", "false"] {
            let o = f
                .attest(
                    &image,
                    kind,
                    &f.path(file),
                    &[&format!("--new-bundle-format={layout}")],
                )
                .await;
            assert_eq!(o.status.code(), Some(1), "{kind} {file}: {}", err(&o));
            assert!(err(&o).contains(says), "{kind} {file}: {}", err(&o));
            assert_eq!(err(&o).trim().lines().count(), 1, "{}", err(&o));
        }
    }
    let o = f
        .attest(&image, "spdxjson", &f.path("missing.json"), &[])
        .await;
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("cannot read"), "{}", err(&o));
    // Nothing reached the registry or either log.
    assert!(f.referrers(&image, &digest).await.is_empty());
    assert!(Registry::new(false)
        .manifest(
            &Reference::parse(&image).unwrap(),
            &format!("{}.att", digest.replace(':', "-"))
        )
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        size(format!("{}/api/v1/log", f.stack.rekor_url)).await,
        v1_before
    );
    assert_eq!(
        size(format!("{}/checkpoint", f.stack.rekor_v2_url)).await,
        v2_before
    );
    // No attestations at all: cosign's message and exit code 1.
    let o = f.verify_attestation(&image, "spdxjson", &[]).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("no matching attestations"), "{}", err(&o));
    f.stack.stop().await;
}
