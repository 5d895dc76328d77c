//! Real Fulcio's identity config read unchanged (tests/data/fulcio-config.yaml, copied from
//! sigstore/fulcio), and what each CI provider's templates, Kubernetes and Chainguard make of a
//! token's claims. End-to-end issuance with an independent OIDC provider is in
//! tests/tests/ci_identities.rs.

use fulcio_lite::config::{Config, IssuerType};
use fulcio_lite::identity::{principal, SanValue};
use serde_json::{json, Map, Value};

fn config() -> Config {
    Config::parse(include_str!("data/fulcio-config.yaml")).unwrap()
}

fn claims(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

#[test]
fn fulcios_own_config_parses_with_every_issuer_type() {
    let c = config();
    let kind = |iss: &str| c.lookup(iss).unwrap_or_else(|| panic!("{iss}")).kind;
    let ci = |iss: &str| match kind(iss) {
        IssuerType::CiProvider(m) => m.name.clone(),
        other => panic!("{iss}: {other:?}"),
    };
    assert_eq!(ci("https://gitlab.com"), "gitlab-pipeline");
    assert_eq!(ci("https://agent.buildkite.com"), "buildkite-job");
    assert_eq!(
        ci("https://token.actions.githubusercontent.com"),
        "github-workflow"
    );
    assert_eq!(
        ci("https://oidc.circleci.com/org/0b3f6d7e-1234"),
        "circleci-job"
    );
    assert_eq!(kind("https://accounts.google.com"), IssuerType::Email);
    assert_eq!(
        kind("https://issuer.enforce.dev"),
        IssuerType::ChainguardIdentity
    );
    // Meta-issuers: one path segment or host label per `*`, never across '.' or '/'.
    for k8s in [
        "https://oidc.eks.us-west-2.amazonaws.com/id/B02C93B6A2D30341AD01E1B6D48164CB",
        "https://container.googleapis.com/v1/projects/acme/locations/us-west1-b/clusters/ci",
        "https://oidc.prod-aks.azure.com/6f2b3c1a-0000-4000-8000-000000000001",
    ] {
        assert_eq!(kind(k8s), IssuerType::Kubernetes, "{k8s}");
    }
    for not in [
        "https://oidc.eks.us.west.amazonaws.com/id/B02C",
        "https://oidc.eks.us-west-2.amazonaws.com/id/a/b",
        "https://oidc.eks.evil.example/x.amazonaws.com/id/a",
        "https://container.googleapis.com/v1/projects/a/b/locations/l/clusters/c",
        "https://oidc.eks..amazonaws.com/id/a",
    ] {
        assert!(c.lookup(not).is_none(), "{not} matched a meta-issuer");
    }
}

#[test]
fn each_providers_templates_give_what_fulcio_gives() {
    let c = config();
    let p = |iss: &str, v: Value| principal(&c.lookup(iss).unwrap(), &claims(v));
    // Codefresh: the SAN from account and pipeline; optional claims default to empty and are
    // left out.
    let cf = p(
        "https://oidc.codefresh.io",
        json!({"iss": "https://oidc.codefresh.io", "sub": "account:a1:pipeline:p1",
               "account_id": "a1", "account_name": "acme", "pipeline_id": "p1",
               "pipeline_name": "app/build", "workflow_id": "w9"}),
    )
    .unwrap();
    assert_eq!(
        cf.san,
        SanValue::Uri("https://g.codefresh.io/acme/app/build:a1/p1".into())
    );
    let ext = |p: &fulcio_lite::identity::Principal, n: u32| {
        p.extensions
            .iter()
            .find(|(o, _)| *o == n)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        ext(&cf, 9).as_deref(),
        Some("https://g.codefresh.io/build/w9")
    );
    assert_eq!(
        ext(&cf, 18).as_deref(),
        Some("https://g.codefresh.io/api/pipelines/p1")
    );
    assert_eq!(ext(&cf, 12), None, "an empty scm_repo_url leaves .12 out");
    assert_eq!(ext(&cf, 24).as_deref(), Some("account:a1:pipeline:p1"));
    // CircleCI: claims with '/' and '.' in their names, read with index.
    let circle = p(
        "https://oidc.circleci.com/org/o1",
        json!({"iss": "https://oidc.circleci.com/org/o1", "sub": "org/o1/project/p1/user/u1",
               "oidc.circleci.com/project-id": "p1", "oidc.circleci.com/pipeline-definition-id": "d1",
               "oidc.circleci.com/pipeline-id": "pl1", "oidc.circleci.com/workflow-id": "wf1",
               "oidc.circleci.com/job-id": "j1", "oidc.circleci.com/ssh-rerun": false,
               "oidc.circleci.com/vcs-ref": "refs/heads/main",
               "oidc.circleci.com/vcs-origin": "github.com/acme/app"}),
    )
    .unwrap();
    assert_eq!(
        circle.san,
        SanValue::Uri("https://circleci.com/api/v2/projects/p1/pipeline-definitions/d1".into())
    );
    assert_eq!(
        ext(&circle, 18).as_deref(),
        Some("https://circleci.com/api/v2/pipeline/pl1/config")
    );
    assert_eq!(
        ext(&circle, 21).as_deref(),
        Some("https://app.circleci.com//workflow/wf1/job/j1")
    );
    assert_eq!(ext(&circle, 14).as_deref(), Some("refs/heads/main"));
    // GitHub through ci-provider: the deprecated .2-.6 too.
    let gh = p(
        "https://token.actions.githubusercontent.com",
        json!({"iss": "https://token.actions.githubusercontent.com", "sub": "repo:acme/app:ref:refs/heads/main",
               "event_name": "push", "sha": "s", "workflow": "CI", "repository": "acme/app",
               "ref": "refs/heads/main", "job_workflow_ref": "acme/app/.github/workflows/ci.yml@refs/heads/main",
               "job_workflow_sha": "s", "runner_environment": "github-hosted", "repository_id": "1",
               "repository_owner": "acme", "repository_owner_id": "2", "workflow_ref": "acme/app/.github/workflows/ci.yml@refs/heads/main",
               "workflow_sha": "s", "run_id": 10, "run_attempt": "1", "repository_visibility": "public"}),
    )
    .unwrap();
    for (n, v) in [
        (2, "push"),
        (3, "s"),
        (4, "CI"),
        (5, "acme/app"),
        (6, "refs/heads/main"),
    ] {
        assert_eq!(ext(&gh, n).as_deref(), Some(v), ".{n}");
    }
    assert_eq!(
        ext(&gh, 21).as_deref(),
        Some("https://github.com/acme/app/actions/runs/10/attempts/1")
    );
    // A claim a plain value names is missing: one sentence.
    let e = p(
        "https://agent.buildkite.com",
        json!({"iss": "https://agent.buildkite.com", "sub": "s", "organization_slug": "o",
               "pipeline_slug": "p", "build_number": 1, "job_id": "j", "build_commit": "c"}),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("no runner_environment claim") || e.contains("no build_source claim"),
        "{e}"
    );
    // Chainguard: the subject as a path under the issuer.
    let cg = p(
        "https://issuer.enforce.dev",
        json!({"iss": "https://issuer.enforce.dev", "sub": "abc/def"}),
    )
    .unwrap();
    assert_eq!(
        cg.san,
        SanValue::Uri("https://issuer.enforce.dev/abc/def".into())
    );
    assert_eq!(cg.challenge, "abc/def");
}

/// mock-oidc's CI profiles carry what each provider's templates need: every profile becomes a
/// certificate identity, with the SAN its CI's template gives.
#[test]
fn mock_oidc_profiles_satisfy_each_template() {
    let c = config();
    for (profile, iss, san) in [
        ("github", "https://token.actions.githubusercontent.com", "https://github.com/example/repo/.github/workflows/release.yml@refs/heads/main"),
        ("gitlab", "https://gitlab.com", "https://gitlab.com/example/repo//.gitlab-ci.yml@refs/heads/main"),
        ("buildkite", "https://agent.buildkite.com", "https://buildkite.com/example/repo"),
        ("codefresh", "https://oidc.codefresh.io", "https://g.codefresh.io/example/repo/build:64f447c02199f903000gh20/64f447c02199f903000gh21"),
        ("circleci", "https://oidc.circleci.com/org/0b3f6d7e-0000-4000-8000-000000000001", "https://circleci.com/api/v2/projects/0b3f6d7e-0000-4000-8000-000000000002/pipeline-definitions/0b3f6d7e-0000-4000-8000-000000000004"),
        ("kubernetes", "https://oidc.eks.us-east-1.amazonaws.com/id/ABCDEF0123456789", "https://kubernetes.io/namespaces/ci/serviceaccounts/builder"),
    ] {
        let mut claims = mock_oidc::profile_claims(profile).unwrap();
        claims.insert("iss".into(), json!(iss));
        let p = principal(&c.lookup(iss).unwrap(), &claims).unwrap_or_else(|e| panic!("{profile}: {e}"));
        assert_eq!(p.san, SanValue::Uri(san.into()), "{profile}");
        assert_eq!(p.challenge, claims["sub"].as_str().unwrap(), "{profile}");
    }
    assert!(mock_oidc::profile_claims("jenkins").is_none());
}
