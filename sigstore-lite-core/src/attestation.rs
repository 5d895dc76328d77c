//! cosign's attestations, pure: the predicate type each `--type` names, the predicate a file
//! becomes, the in-toto statements cosign builds (v0.1 for `attest`, v1 for `sign` in the bundle
//! format), and the checks `verify-attestation` makes on a verified statement.

use serde_json::{json, Map, Value};

use crate::dsse::{Statement, Subject, STATEMENT_V01, STATEMENT_V1};

/// `--type custom` (cosign's default).
pub const CUSTOM: &str = "https://cosign.sigstore.dev/attestation/v1";
/// The predicate type of `cosign sign` in the bundle format (cosign v3's default).
pub const SIGN_V1: &str = "https://sigstore.dev/cosign/sign/v1";
pub const SLSA_V02: &str = "https://slsa.dev/provenance/v0.2";
pub const SLSA_V1: &str = "https://slsa.dev/provenance/v1";
pub const SPDX: &str = "https://spdx.dev/Document";
pub const CYCLONEDX: &str = "https://cyclonedx.org/bom";
pub const LINK: &str = "https://in-toto.io/Link/v1";
pub const VULN: &str = "https://cosign.sigstore.dev/attestation/vuln/v1";
pub const OPENVEX: &str = "https://openvex.dev/ns";

/// Why an attestation cannot be made or is not the one asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AttestError {
    #[error("unknown predicate type {0:?}: give custom, slsaprovenance, slsaprovenance02, slsaprovenance1, link, spdx, spdxjson, cyclonedx, vuln, openvex, or a URI")]
    UnknownType(String),
    #[error("the predicate for --type {kind} must be JSON: {reason}")]
    NotJson { kind: String, reason: String },
    #[error("the predicate for --type {kind} is not {expected}")]
    NotFormat {
        kind: String,
        expected: &'static str,
    },
    #[error("no matching subject digest found: the statement does not name {0}")]
    NoMatchingSubject(String),
    #[error("the predicate type is {found}, not {wanted}")]
    WrongPredicateType { found: String, wanted: String },
}

/// Whether `s` is an absolute URI (`scheme:rest`, as Go's `url.ParseRequestURI` accepts them for
/// custom predicate types).
fn is_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    !rest.is_empty()
        && !s.contains(char::is_whitespace)
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
}

/// The predicate type URI for a `--type` (a short name, or a URI taken as it is).
pub fn predicate_type(kind: &str) -> Result<&str, AttestError> {
    Ok(match kind {
        "custom" => CUSTOM,
        "slsaprovenance" | "slsaprovenance02" => SLSA_V02,
        "slsaprovenance1" => SLSA_V1,
        "link" => LINK,
        "spdx" | "spdxjson" => SPDX,
        "cyclonedx" => CYCLONEDX,
        "vuln" => VULN,
        "openvex" => OPENVEX,
        uri if is_uri(uri) => uri,
        other => return Err(AttestError::UnknownType(other.to_string())),
    })
}

fn json_object(kind: &str, file: &[u8]) -> Result<Map<String, Value>, AttestError> {
    match serde_json::from_slice::<Value>(file) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(AttestError::NotJson {
            kind: kind.to_string(),
            reason: "it is not a JSON object".into(),
        }),
        Err(e) => Err(AttestError::NotJson {
            kind: kind.to_string(),
            reason: e.to_string(),
        }),
    }
}

fn is_spdx(m: &Map<String, Value>) -> bool {
    m.get("spdxVersion")
        .and_then(Value::as_str)
        .is_some_and(|v| v.starts_with("SPDX-"))
}

/// The predicate cosign makes of `file` for `--type kind` at `now`: `custom` wraps the text as
/// `{Data, Timestamp}`, `spdx` embeds the document as a string, every other type takes the file
/// as a JSON object. SBOM types must hold that SBOM format (SPDX `spdxVersion`, CycloneDX
/// `bomFormat`), SLSA v1 its two parts.
pub fn predicate(kind: &str, file: &[u8], now: i64) -> Result<Value, AttestError> {
    let not = |expected| AttestError::NotFormat {
        kind: kind.to_string(),
        expected,
    };
    Ok(match kind {
        "custom" => json!({
            "Data": String::from_utf8_lossy(file),
            "Timestamp": crate::trust::rfc3339(now),
        }),
        "spdx" => {
            if !is_spdx(&json_object(kind, file)?) {
                return Err(not("an SPDX JSON document (no spdxVersion)"));
            }
            Value::String(String::from_utf8_lossy(file).into_owned())
        }
        "spdxjson" => {
            let m = json_object(kind, file)?;
            if !is_spdx(&m) {
                return Err(not("an SPDX JSON document (no spdxVersion)"));
            }
            Value::Object(m)
        }
        "cyclonedx" => {
            let m = json_object(kind, file)?;
            if m.get("bomFormat").and_then(Value::as_str) != Some("CycloneDX") {
                return Err(not("a CycloneDX JSON BOM (no bomFormat CycloneDX)"));
            }
            Value::Object(m)
        }
        "slsaprovenance1" => {
            let mut m = json_object(kind, file)?;
            if !m.contains_key("buildDefinition") || !m.contains_key("runDetails") {
                return Err(not("SLSA v1 provenance (buildDefinition and runDetails)"));
            }
            // cosign reads it through protobuf, which spells the field invocationId.
            if let Some(md) = m
                .get_mut("runDetails")
                .and_then(|r| r.get_mut("metadata"))
                .and_then(Value::as_object_mut)
            {
                if let Some(v) = md.remove("invocationID") {
                    md.insert("invocationId".into(), v);
                }
            }
            Value::Object(m)
        }
        other => {
            predicate_type(other)?;
            Value::Object(json_object(other, file)?)
        }
    })
}

/// The in-toto Statement v0.1 `cosign attest` signs: the image (`repository`, no tag or digest,
/// and its manifest digest `sha256:<hex>`) as the subject.
pub fn attest_statement(
    repository: &str,
    image_digest: &str,
    predicate_type: &str,
    predicate: Value,
) -> Vec<u8> {
    statement(
        STATEMENT_V01,
        repository,
        image_digest,
        predicate_type,
        predicate,
    )
}

/// The in-toto Statement v1 `cosign sign` signs in the bundle format: the image digest as the
/// subject (no name), predicate type [`SIGN_V1`], an empty predicate.
pub fn sign_statement(image_digest: &str) -> Vec<u8> {
    statement(STATEMENT_V1, "", image_digest, SIGN_V1, json!({}))
}

fn statement(
    type_: &str,
    name: &str,
    image_digest: &str,
    predicate_type: &str,
    predicate: Value,
) -> Vec<u8> {
    let hex = image_digest.trim_start_matches("sha256:");
    serde_json::to_vec(&Statement {
        type_: type_.to_string(),
        subject: vec![Subject {
            name: name.to_string(),
            digest: [("sha256".to_string(), hex.to_string())].into(),
            annotations: None,
        }],
        predicate_type: predicate_type.to_string(),
        predicate: Some(predicate),
    })
    .expect("serializes")
}

/// What `verify-attestation` requires of a verified statement: it names the image
/// (`sha256:<hex>`) as a subject, and has the predicate type asked for.
pub fn check(
    statement: &Statement,
    image_digest: &str,
    wanted_type: &str,
) -> Result<(), AttestError> {
    if !statement.has_subject_sha256(image_digest.trim_start_matches("sha256:")) {
        return Err(AttestError::NoMatchingSubject(image_digest.to_string()));
    }
    if statement.predicate_type != wanted_type {
        return Err(AttestError::WrongPredicateType {
            found: statement.predicate_type.clone(),
            wanted: wanted_type.to_string(),
        });
    }
    Ok(())
}

/// Why a Rego policy refused a statement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    #[error("the policy does not compile: {0}")]
    Compile(String),
    #[error("the policy denies it ({0} is not true)")]
    Denied(&'static str),
    #[error("the policy has no rule {0}")]
    NoAllowRule(&'static str),
    #[error("the policy cannot be evaluated: {0}")]
    Eval(String),
}

/// The rule a cosign `--policy` Rego file must make true.
pub const COSIGN_RULE: &str = "data.signature.allow";
/// The rule a policy-controller ClusterImagePolicy Rego policy must make true.
pub const POLICY_CONTROLLER_RULE: &str = "data.sigstore.isCompliant";

/// Evaluates a cosign Rego policy over `input` (the statement): it passes when
/// `data.signature.allow` is true. Policies in Rego v1 syntax and in the older v0 syntax
/// (`allow { ... }`, which cosign's documentation uses) are both accepted.
pub fn evaluate_rego(policy: &str, input: &Value) -> Result<(), PolicyError> {
    evaluate_rego_rule(policy, input, COSIGN_RULE)
}

/// Evaluates a Rego policy over `input`: it passes when `rule` (such as [`COSIGN_RULE`] or
/// [`POLICY_CONTROLLER_RULE`]) is true.
pub fn evaluate_rego_rule(
    policy: &str,
    input: &Value,
    rule: &'static str,
) -> Result<(), PolicyError> {
    let input = regorus::Value::from_json_str(&input.to_string())
        .map_err(|e| PolicyError::Eval(e.to_string()))?;
    let mut compile_error = None;
    for v0 in [false, true] {
        let mut engine = regorus::Engine::new();
        engine.set_rego_v0(v0);
        if let Err(e) = engine.add_policy("policy.rego".into(), policy.into()) {
            compile_error.get_or_insert_with(|| first_line(&e.to_string()));
            continue;
        }
        engine.set_input(input.clone());
        return match engine.eval_rule(rule.into()) {
            Ok(v) if v == regorus::Value::from(true) => Ok(()),
            Ok(_) => Err(PolicyError::Denied(rule)),
            Err(e) if e.to_string().contains("not a valid rule path") => {
                Err(PolicyError::NoAllowRule(rule))
            }
            Err(e) => Err(PolicyError::Eval(first_line(&e.to_string()))),
        };
    }
    Err(PolicyError::Compile(compile_error.unwrap_or_default()))
}

fn first_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(300)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:abababababababababababababababababababababababababababababababab";

    #[test]
    fn types_and_predicates() {
        assert_eq!(predicate_type("spdxjson").unwrap(), SPDX);
        assert_eq!(
            predicate_type("https://example.com/p/v1").unwrap(),
            "https://example.com/p/v1"
        );
        assert!(matches!(
            predicate_type("sbom"),
            Err(AttestError::UnknownType(_))
        ));
        assert!(predicate_type("not a uri:").is_err());
        let spdx = br#"{"spdxVersion": "SPDX-2.3", "packages": []}"#;
        assert_eq!(
            predicate("spdxjson", spdx, 0).unwrap()["spdxVersion"],
            "SPDX-2.3"
        );
        assert!(predicate("spdx", spdx, 0).unwrap().is_string());
        assert!(matches!(
            predicate("spdxjson", b"{\"bomFormat\": \"CycloneDX\"}", 0),
            Err(AttestError::NotFormat { .. })
        ));
        assert!(matches!(
            predicate("cyclonedx", b"not json", 0),
            Err(AttestError::NotJson { .. })
        ));
        let c = predicate("custom", b"free text", 1_700_000_000).unwrap();
        assert_eq!(c["Data"], "free text");
        assert_eq!(c["Timestamp"], "2023-11-14T22:13:20Z");
        let slsa = br#"{"buildDefinition": {}, "runDetails": {"metadata": {"invocationID": "x"}}}"#;
        assert_eq!(
            predicate("slsaprovenance1", slsa, 0).unwrap()["runDetails"]["metadata"]
                ["invocationId"],
            "x"
        );
    }

    #[test]
    fn rego_policies_allow_deny_and_fail_to_compile() {
        let st = json!({"predicateType": SPDX, "predicate": {"packages": [{"name": "openssl"}]}});
        let v1 = "package signature\nimport rego.v1\ndefault allow := false\nallow if input.predicateType == \"https://spdx.dev/Document\"";
        assert_eq!(evaluate_rego(v1, &st), Ok(()));
        let v0 = "package signature\ndefault allow = false\nallow { count(input.predicate.packages) > 5 }";
        assert_eq!(
            evaluate_rego(v0, &st),
            Err(PolicyError::Denied(COSIGN_RULE))
        );
        let other_package = "package other\nallow := true";
        assert_eq!(
            evaluate_rego(other_package, &st),
            Err(PolicyError::NoAllowRule(COSIGN_RULE))
        );
        let pc = "package sigstore\ndefault isCompliant = false\nisCompliant { input.predicateType == \"https://spdx.dev/Document\" }";
        assert_eq!(evaluate_rego_rule(pc, &st, POLICY_CONTROLLER_RULE), Ok(()));
        assert_eq!(
            evaluate_rego(pc, &st),
            Err(PolicyError::NoAllowRule(COSIGN_RULE))
        );
        assert!(matches!(
            evaluate_rego("package signature\nallow {{{", &st),
            Err(PolicyError::Compile(_))
        ));
    }

    #[test]
    fn statements_and_checks() {
        let raw = attest_statement("reg/repo", D, SPDX, json!({"spdxVersion": "SPDX-2.3"}));
        let text = String::from_utf8(raw.clone()).unwrap();
        assert!(text.starts_with(r#"{"_type":"https://in-toto.io/Statement/v0.1","subject":[{"name":"reg/repo","digest":{"sha256":"abab"#));
        let st: Statement = serde_json::from_slice(&raw).unwrap();
        assert_eq!(check(&st, D, SPDX), Ok(()));
        assert!(matches!(
            check(&st, D, CYCLONEDX),
            Err(AttestError::WrongPredicateType { .. })
        ));
        let other = D.replace("ab", "cd");
        assert!(matches!(
            check(&st, &other, SPDX),
            Err(AttestError::NoMatchingSubject(_))
        ));
        let s: Value = serde_json::from_slice(&sign_statement(D)).unwrap();
        assert_eq!(
            s,
            json!({"_type": STATEMENT_V1, "subject": [{"digest": {"sha256": &D[7..]}}], "predicateType": SIGN_V1, "predicate": {}})
        );
    }
}
