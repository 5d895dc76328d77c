use super::*;
use serde_json::json;

const KEY: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEiBZTUoojKYMVHDEwF/ve7huZbrxP
cDHsSd2sZo1BJuwVU9pM40L00KbC8Rt6+QkyMM8aWb3JVN0uLy/kL9F/vQ==
-----END PUBLIC KEY-----
";

const CIP: &str = r#"
apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: keyless-sbom}
spec:
  images: [{glob: "127.0.0.1:5000/**"}]
  authorities:
  - name: keyless
    keyless:
      url: http://127.0.0.1:5555
      trustRootRef: sigstore-lite
      identities: [{issuer: "http://127.0.0.1:8080", subjectRegExp: "@example\\.com$"}]
    ctlog: {url: http://127.0.0.1:3000, trustRootRef: sigstore-lite}
    attestations:
    - name: must-have-spdxjson
      predicateType: spdxjson
      policy:
        type: rego
        data: |
          package sigstore
          default isCompliant = false
          isCompliant { input.predicateType == "https://spdx.dev/Document" }
---
apiVersion: policy.sigstore.dev/v1alpha1
kind: ClusterImagePolicy
metadata: {name: by-key}
spec:
  mode: warn
  images: [{glob: "docker.io/library/*"}]
  authorities:
  - key: {data: "KEYPEM"}
  - static: {action: fail, message: nobody else}
"#;

const KYVERNO: &str = r#"
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {name: require-signed-sbom}
spec:
  webhookConfiguration: {failurePolicy: Fail, timeoutSeconds: 30}
  rules:
  - name: verify
    match: {any: [{resources: {kinds: [Pod]}}]}
    verifyImages:
    - imageReferences: ["127.0.0.1:5000/*"]
      skipImageReferences: ["127.0.0.1:5000/skip/*"]
      failureAction: Enforce
      mutateDigest: true
      attestors:
      - entries:
        - keyless: {subject: "you@example.com", issuer: "http://127.0.0.1:8080", rekor: {url: "http://127.0.0.1:3000"}}
      attestations:
      - type: https://spdx.dev/Document
        conditions: [{all: [{key: "{{ spdxVersion }}", operator: Equals, value: "SPDX-2.3"}]}]
"#;

fn cip() -> String {
    CIP.replace("KEYPEM", &KEY.replace('\n', "\\n"))
}

fn one_err(text: &str) -> String {
    match parse("p.yaml", text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn reads_cluster_image_policies() {
    let ps = parse("p.yaml", &cip()).unwrap();
    assert_eq!(ps.len(), 2);
    let p = &ps[0];
    assert_eq!(p.name, "ClusterImagePolicy/keyless-sbom");
    assert_eq!(p.mode, Mode::Enforce);
    assert!(p.mutate_digest && p.verify_digest);
    let Alternative::Verify {
        signatures,
        attestations,
    } = &p.alternatives[0].1
    else {
        panic!()
    };
    assert!(
        signatures.is_empty(),
        "an authority with attestations checks those instead"
    );
    assert_eq!(attestations[0].predicate_type, "https://spdx.dev/Document");
    assert!(matches!(attestations[0].check, Some(Check::Rego { .. })));
    let Signer::Keyless(ids) = &attestations[0].attestors[0].entries[0].signer else {
        panic!()
    };
    // Go's regexp.MatchString: unanchored.
    assert!(ids[0].identity.matches("you@example.com"));
    assert!(!ids[0].identity.matches("you@example.org"));
    let q = &ps[1];
    assert_eq!(q.mode, Mode::Warn);
    assert_eq!(q.alternatives.len(), 2);
    assert!(matches!(q.alternatives[0].1, Alternative::Verify { .. }));
    assert!(
        matches!(&q.alternatives[1].1, Alternative::Static { pass: false, message } if message == "nobody else")
    );
}

#[test]
fn globs_follow_each_format() {
    let ps = parse("p.yaml", &cip()).unwrap();
    // policy-controller: `**` crosses `/`, `*` does not.
    assert!(ps[0].applies("127.0.0.1:5000/a/b:1", "127.0.0.1:5000/a/b:1", "Pod", "ns"));
    assert!(ps[1].applies("nginx", "docker.io/library/nginx:latest", "Pod", "ns"));
    assert!(!ps[1].applies("x/y", "docker.io/x/y:latest", "Pod", "ns"));
    let k = parse("k.yaml", KYVERNO).unwrap();
    // Kyverno: `*` crosses `/`; skipImageReferences wins; a Pod rule covers controllers.
    assert!(k[0].applies(
        "127.0.0.1:5000/demo/hello:v1",
        "127.0.0.1:5000/demo/hello:v1",
        "Deployment",
        "ns"
    ));
    assert!(!k[0].applies(
        "127.0.0.1:5000/skip/x:1",
        "127.0.0.1:5000/skip/x:1",
        "Pod",
        "ns"
    ));
    assert!(!k[0].applies("example.com/x:1", "example.com/x:1", "Pod", "ns"));
}

#[test]
fn reads_kyverno_verify_images() {
    let k = parse("k.yaml", KYVERNO).unwrap();
    assert_eq!(k[0].name, "ClusterPolicy/require-signed-sbom/verify[0]");
    assert_eq!(k[0].mode, Mode::Enforce);
    let Alternative::Verify {
        signatures,
        attestations,
    } = &k[0].alternatives[0].1
    else {
        panic!()
    };
    assert_eq!(signatures[0].needed, 1);
    assert_eq!(
        attestations[0].attestors.len(),
        1,
        "the rule's attestors sign the attestation"
    );
    let Some(Check::Conditions(blocks)) = &attestations[0].check else {
        panic!()
    };
    let c = &blocks[0].0[0];
    assert!(c.holds(&json!({"spdxVersion": "SPDX-2.3"})).unwrap());
    assert!(!c.holds(&json!({"spdxVersion": "SPDX-2.2"})).unwrap());
    // Audit (Kyverno's default) becomes warn.
    let audit = parse(
        "k.yaml",
        &KYVERNO.replace("failureAction: Enforce", "failureAction: Audit"),
    )
    .unwrap();
    assert_eq!(audit[0].mode, Mode::Warn);
}

#[test]
fn conditions_operators() {
    let cond = |op: &str, key: &str, value: serde_json::Value| {
        condition(
            KCondition {
                key: json!(key),
                operator: op.into(),
                value,
                message: None,
            },
            "c",
        )
        .unwrap()
    };
    let p = json!({"packages": [{"name": "openssl"}, {"name": "zlib"}], "n": 3});
    assert!(
        cond("AnyIn", "{{ packages[].name }}", json!(["zlib", "curl"]))
            .holds(&p)
            .unwrap()
    );
    assert!(
        !cond("AllIn", "{{ packages[].name }}", json!(["zlib", "curl"]))
            .holds(&p)
            .unwrap()
    );
    assert!(cond("AllNotIn", "{{ packages[].name }}", json!(["log4j"]))
        .holds(&p)
        .unwrap());
    assert!(cond("GreaterThan", "{{ n }}", json!(2)).holds(&p).unwrap());
    assert!(cond("Equals", "{{ n }}", json!("3")).holds(&p).unwrap());
    assert!(!cond("LessThan", "{{ n }}", json!(3)).holds(&p).unwrap());
    // A key the predicate lacks is an error (the attestation check fails), not a pass for the
    // negative operators.
    for op in ["NotEquals", "NotIn", "AllNotIn", "AnyNotIn", "Equals"] {
        let e = cond(op, "{{ scan.result }}", json!("FAIL")).holds(&p);
        assert!(e.is_err(), "{op} on a missing key: {e:?}");
    }
}

/// A document may begin on its `---` line; it is read, not dropped.
#[test]
fn documents_starting_on_the_separator_line_are_read() {
    let two = format!(
        "{}\n--- {{apiVersion: policy.sigstore.dev/v1beta1, kind: ClusterImagePolicy, metadata: {{name: inline}}, spec: {{images: [{{glob: \"x/**\"}}], authorities: [{{static: {{action: fail}}}}]}}}}\n",
        cip().split("---").next().unwrap().trim_end()
    );
    let p = parse("p.yaml", &two).unwrap();
    assert_eq!(p.len(), 2, "{p:?}");
    assert_eq!(p[1].name, "ClusterImagePolicy/inline");
}

#[test]
fn unknown_and_unsupported_fields_are_errors_naming_the_field() {
    for (text, want) in [
        (
            cip().replace("images:", "imagez:"),
            "unknown field `imagez`",
        ),
        (
            cip().replace(
                "trustRootRef: sigstore-lite\n      identities",
                "trustRootRef: sigstore-lite\n      identity: x\n      identities",
            ),
            "unknown field `identity`",
        ),
        (
            cip().replace("type: rego", "type: cue"),
            "type \"cue\" is not supported",
        ),
        (cip().replace("mode: warn", "mode: audit"), "spec.mode"),
        (
            CIP.replace("key: {data: \"KEYPEM\"}", "key: {kms: \"awskms:///x\"}"),
            "key.kms is not supported",
        ),
        (
            CIP.replace("key: {data: \"KEYPEM\"}", "key: {data: \"not a key\"}"),
            "key.data: not a PEM public key",
        ),
        (
            cip().replace(
                "subjectRegExp: \"@example\\\\.com$\"",
                "subjectRegExp: \"(\"",
            ),
            "not a regular expression",
        ),
        (
            cip().replace("isCompliant", "allow"),
            "no rule data.sigstore.isCompliant",
        ),
        (
            cip().replace("predicateType: spdxjson", "predicateType: sbom"),
            "predicateType",
        ),
        (
            KYVERNO.replace(
                "mutateDigest: true",
                "mutateDigest: true\n      repository: other/sigs",
            ),
            "repository is not supported",
        ),
        (
            KYVERNO.replace("verifyImages:", "validate: {}\n    verifyImages:"),
            "validate is not supported",
        ),
        (
            KYVERNO.replace("kinds: [Pod]", "kinds: [ConfigMap]"),
            "kind ConfigMap is not supported",
        ),
        (
            KYVERNO.replace("operator: Equals", "operator: Matches"),
            "operator Matches is not supported",
        ),
        (
            KYVERNO.replace("\"{{ spdxVersion }}\"", "spdxVersion"),
            "one {{ jmespath }} expression",
        ),
        (
            KYVERNO.replace(
                "rekor: {url: \"http://127.0.0.1:3000\"}",
                "ctlog: {ignoreSCT: true}",
            ),
            ".ctlog is not supported",
        ),
        (
            KYVERNO.replace("- entries:", "- count: 2\n        entries:"),
            "count: 2 is not between",
        ),
        (
            KYVERNO.replace("kyverno.io/v1", "kyverno.io/v2"),
            "is not a policy this webhook reads",
        ),
        // Issue 24: every field that would make a policy match nothing is refused at start.
        (
            cip().replace("glob: \"127.0.0.1:5000/**\"", "glob: \"\""),
            "spec.images[0].glob: an empty glob matches no image",
        ),
        (
            cip().replace("glob: \"127.0.0.1:5000/**\"", "glob: \"  \""),
            "an empty glob matches no image",
        ),
        (
            cip().replace("images: [{glob: \"127.0.0.1:5000/**\"}]", "images: []"),
            "spec.images: at least one glob is required",
        ),
        (
            KYVERNO.replace("imageReferences: [\"127.0.0.1:5000/*\"]", "imageReferences: [\"\"]"),
            "imageReferences[0]: an empty glob matches no image",
        ),
        (
            KYVERNO.replace("imageReferences: [\"127.0.0.1:5000/*\"]", "imageReferences: []"),
            "imageReferences: at least one is required",
        ),
        (
            KYVERNO.replace("skipImageReferences: [\"127.0.0.1:5000/skip/*\"]", "skipImageReferences: [\"*\"]"),
            "skips every image",
        ),
        (
            KYVERNO.replace("kinds: [Pod]", "kinds: [Pod], namespaces: []"),
            "an empty namespace list or name matches no object",
        ),
        (
            KYVERNO.replace("kinds: [Pod]", "kinds: []"),
            "resources.kinds is required",
        ),
        (
            KYVERNO.replace("    verifyImages:\n    - imageReferences", "    verifyImages: []\n    unused:\n    - imageReferences"),
            "unknown field",
        ),
        (
            "apiVersion: kyverno.io/v1\nkind: ClusterPolicy\nmetadata: {name: n}\nspec:\n  rules: []\n".to_string(),
            "spec.rules: at least one rule",
        ),
        // The audit's fail-open cases: an empty regexp trusts every signer; filters with their
        // own namespaces cannot be merged; namespace wildcards are not matched.
        (
            cip().replace("subjectRegExp: \"@example\\\\.com$\"", "subjectRegExp: \"\""),
            "an empty regular expression matches every subject",
        ),
        (
            cip().replace("issuer: \"http://127.0.0.1:8080\", subjectRegExp", "issuerRegExp: \" \", subjectRegExp"),
            "an empty regular expression matches every issuer",
        ),
        (
            KYVERNO.replace("match: {any: [{resources: {kinds: [Pod]}}]}", "match: {any: [{resources: {kinds: [Pod], namespaces: [prod]}}, {resources: {kinds: [Deployment]}}]}"),
            "resource filters with different namespaces",
        ),
        (
            KYVERNO.replace("kinds: [Pod]", "kinds: [Pod], namespaces: [\"prod-*\"]"),
            "the namespace pattern \"prod-*\"",
        ),
        (
            "apiVersion: kyverno.io/v1\nkind: ClusterPolicy\nmetadata: {name: n}\nspec:\n  rules:\n  - name: r\n    match: {any: [{resources: {kinds: [Pod]}}]}\n    verifyImages: []\n".to_string(),
            "a verifyImages list is required",
        ),
    ] {
        let e = one_err(&text);
        assert!(e.contains(want), "wanted {want:?} in: {e}");
        assert!(e.starts_with("p.yaml (document "), "names the file: {e}");
    }
}

#[test]
fn kyverno_additional_extensions_become_required_certificate_extensions() {
    let with = |ext: &str| {
        KYVERNO.replace(
            r#"rekor: {url: "http://127.0.0.1:3000"}}"#,
            &format!(r#"rekor: {{url: "http://127.0.0.1:3000"}}, additionalExtensions: {ext}}}"#),
        )
    };
    let k = parse(
        "k.yaml",
        &with(r#"{githubWorkflowRepository: acme/app, source-repository-uri: "https://gitlab.com/acme/app"}"#),
    )
    .unwrap();
    let Alternative::Verify { signatures, .. } = &k[0].alternatives[0].1 else {
        panic!()
    };
    let Signer::Keyless(ids) = &signatures[0].entries[0].signer else {
        panic!()
    };
    let oids: Vec<&str> = ids[0].extensions.iter().map(|(o, _)| o.as_str()).collect();
    assert_eq!(oids, ["1.3.6.1.4.1.57264.1.5", "1.3.6.1.4.1.57264.1.12"]);
    let e = one_err(&with("{notAnExtension: x}"));
    assert!(
        e.contains("additionalExtensions.notAnExtension: not a Fulcio extension"),
        "{e}"
    );
    let e = one_err(&with(r#"{githubWorkflowRef: ""}"#));
    assert!(e.contains("an empty value"), "{e}");
}
