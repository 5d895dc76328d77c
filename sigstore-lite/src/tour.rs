//! `sigstore-lite tour`: the whole loop against the running stack, one step at a time, saying
//! what happened, why it matters and what the real tools' command is. It stops with one
//! sentence at the first step whose service is not running.

use std::path::PathBuf;
use std::time::Duration;

use cosign_keyless::keyless::{self, Narrator};
use cosign_keyless::trust::Trust;
use serde_json::{json, Value};
use sigstore_lite_core::bundle;
use sigstore_lite_core::keys::sha256;
use sigstore_lite_core::rekor::{Proposed, Verifier};
use sigstore_lite_core::verify::{self, Artifact, Policy};

/// The options of `tour`.
#[derive(clap::Args, Debug, Clone)]
pub struct TourArgs {
    /// The running stack's data directory (its trust files say where each service is).
    #[arg(long, default_value = "./sigstore-lite-data")]
    pub data_dir: PathBuf,
    /// An image you may push to: the tour signs it, attests an SBOM about it, verifies both
    /// and asks the admission webhook (skipped without it).
    #[arg(long, value_name = "REF")]
    pub image: Option<String>,
    /// The identity the mock issuer vouches for.
    #[arg(long, default_value = "you@example.com")]
    pub email: String,
    /// The explorer's URL, for links (default: the stack's, port 3003).
    #[arg(long)]
    pub explorer: Option<String>,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn step(n: u32, title: &str) {
    println!("\n== {n}. {title} ==");
}

fn why(text: &str) {
    println!("   why: {text}");
}

fn same_as(cmd: &str) {
    println!("   with the real tools: {cmd}");
}

/// Stops the tour unless `url` answers `/healthz`.
async fn running(http: &reqwest::Client, service: &str, url: &str) -> Result<(), String> {
    match http.get(format!("{url}/healthz")).send().await {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(format!("{service} at {url} is not healthy (it answered {})", r.status())),
        Err(_) => Err(format!(
            "{service} is not running at {url}: start the stack with `cargo run --release -p sigstore-lite -- up`"
        )),
    }
}

fn origin(url: &str) -> String {
    let rest = url.split("://").nth(1).unwrap_or(url);
    let host_end = rest.find('/').unwrap_or(rest.len());
    format!("{}{}", &url[..url.len() - rest.len()], &rest[..host_end])
}

/// Runs the tour; `Err` is the one sentence to print.
pub async fn run(a: &TourArgs) -> Result<(), String> {
    let http = sigstore_lite_server::http_client(Duration::from_secs(10));
    let n = Narrator::default();
    let tc = a.data_dir.join(crate::TRUST_CONFIG);
    if !tc.exists() {
        return Err(format!(
            "{} does not exist: start the stack with `cargo run --release -p sigstore-lite -- up` (or give --data-dir)",
            tc.display()
        ));
    }
    let trust = Trust::load(None, None, Some(&tc), None, None, now()).map_err(|e| e.to_string())?;
    let sc: Value = serde_json::from_slice(
        &std::fs::read(a.data_dir.join(crate::SIGNING_CONFIG)).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let oidc = sc["oidcUrls"][0]["url"]
        .as_str()
        .unwrap_or("")
        .trim_end_matches('/')
        .to_string();
    let fulcio = trust.fulcio().map_err(|e| e.to_string())?.to_string();
    let rekor = trust
        .rekor_v2_url
        .clone()
        .or_else(|| trust.rekor_url.clone())
        .ok_or("the signing config names no Rekor")?;
    let explorer = a.explorer.clone().unwrap_or_else(|| {
        let o = origin(&oidc);
        match o.rsplit_once(':') {
            Some((h, _)) => format!("{h}:3003"),
            None => o,
        }
    });

    println!("A tour of keyless signing with sigstore-lite: identity -> certificate -> log entry -> proof");
    println!("-> signature in the registry -> SBOM attestation -> admission decision.");

    step(1, "an identity token from the OIDC provider");
    running(&http, "the mock OIDC issuer", &oidc).await?;
    let token = mock_oidc::fetch_token(&oidc, &mock_oidc::email_claims(&a.email))
        .await
        .map_err(|e| format!("the OIDC issuer refused a token: {e}"))?;
    let claims = keyless::token_claims(&token).map_err(|e| e.to_string())?;
    for k in ["iss", "sub", "email", "aud", "exp"] {
        if let Some(v) = claims.get(k) {
            println!("   {k:<6} {v}");
        }
    }
    why("no long-lived key: the signer proves who they are with a short-lived token from a provider everyone trusts (in CI, the CI system's own token).");
    same_as("GitHub Actions: `permissions: id-token: write`; cosign gets the token itself (or --identity-token)");

    step(
        2,
        "a certificate from Fulcio binding a fresh key to that identity",
    );
    running(&http, "fulcio-lite", &origin(&fulcio)).await?;
    let id = keyless::certificate(&trust, &token, now(), n)
        .await
        .map_err(|e| format!("Fulcio refused: {e}"))?;
    for s in &id.cert.sans {
        println!("   identity (SAN)  {}", s.value());
    }
    println!(
        "   issuer          {}",
        id.cert.issuer.clone().unwrap_or_default()
    );
    println!(
        "   valid           {} .. {} ({} minutes)",
        sigstore_lite_core::trust::rfc3339(id.cert.not_before),
        sigstore_lite_core::trust::rfc3339(id.cert.not_after),
        (id.cert.not_after - id.cert.not_before) / 60
    );
    println!("   embedded SCT    yes: the certificate is in the CA's certificate transparency log");
    why("the key lives minutes and is never stored; the certificate says which identity held it, and the CT log makes every issued certificate public.");
    same_as("cosign sign-blob does this step itself; `openssl x509 -text` shows the certificate");

    step(3, "the signature recorded in the transparency log");
    running(&http, "rekor-lite", &origin(&rekor)).await?;
    let artifact = format!("sigstore-lite tour {} by {}\n", now(), a.email);
    let digest = sha256(artifact.as_bytes());
    let sig = id.key.sign(artifact.as_bytes());
    let proposal = Proposed::hashedrekord(
        digest,
        sig.clone(),
        Verifier::Certificate(id.chain[0].clone()),
    );
    let w = keyless::witness(&trust, &proposal, &sig, true, n)
        .await
        .map_err(|e| format!("the log or the timestamp authority refused: {e}"))?;
    let b = bundle::message_bundle(
        bundle::Signer::Certificate(&id.chain[0]),
        w.tlog_entries.clone(),
        w.timestamps.clone(),
        &digest,
        &sig,
    );
    let tle = w.tlog_entries.first().ok_or("the log returned no entry")?;
    let v2 = tle.kind_version.is_rekor_v2();
    println!(
        "   log index       {} ({})",
        tle.log_index,
        if v2 { "Rekor v2" } else { "Rekor v1" }
    );
    if let Some(p) = &tle.inclusion_proof {
        println!(
            "   inclusion proof {} hashes to the root of a tree of {}",
            p.hashes.len(),
            p.tree_size
        );
        let first_line = p.checkpoint.envelope.lines().next().unwrap_or("");
        println!("   checkpoint      signed by {first_line}");
    }
    println!("   timestamps      {} from the TSA", w.timestamps.len());
    let policy = Policy::exact(&a.email, &oidc);
    let verified = verify::verify_bundle(
        &b,
        Artifact::Bytes(artifact.as_bytes()),
        &trust.material,
        &policy,
    )
    .map_err(|e| format!("the fresh bundle does not verify: {e}"))?;
    println!(
        "   verified        by {} (issuer {}), the whole bundle checked offline",
        verified.identity, verified.issuer
    );
    println!(
        "   see it          {explorer}/entry?{}index={}",
        if v2 { "log=v2&" } else { "" },
        tle.log_index
    );
    why("the log is append-only and public: a signature that is not in it is not trusted, and anyone can watch for signatures made with their identity.");
    same_as("cosign sign-blob --bundle artifact.sigstore.json FILE; rekor-cli get --log-index N");

    let Some(image) = &a.image else {
        println!("\nGive --image REGISTRY/REPO:TAG (an image you may push to) for the image steps: sign, attest an SBOM, verify, admit.");
        return Ok(());
    };
    let reg = registry_client::Registry::new(true);
    let image_ref = registry_client::Reference::parse(image).map_err(|e| e.to_string())?;
    step(4, "sign the image");
    let (digest, _) = cosign_keyless::image::sign(
        Some(&trust),
        &reg,
        image,
        cosign_keyless::image::SignWith::Token(&token),
        cosign_keyless::image::Layout::Bundle,
        now(),
        n,
    )
    .await
    .map_err(|e| format!("signing {image} failed: {e}"))?;
    println!("   {image} is {digest}");
    println!("   the signature is a Sigstore bundle attached to the image as an OCI 1.1 referrer");
    why("the signature names the image by digest, so the tag can move and the signature still says exactly which bytes were signed.");
    same_as(&format!("cosign sign {image}"));

    step(5, "attest an SBOM about the image");
    // The image's own SBOM, as syft would write it.
    let found = sbom_lite::source::generate(
        &sbom_lite::source::Source::Registry(format!("{}@{digest}", image_ref.name())),
        &reg,
        sbom_lite::squash::Limits::default(),
        false,
    )
    .await
    .map_err(|e| format!("cataloguing {image} failed: {e}"))?;
    let sbom = sbom_lite::output::spdx(&found, &sbom_lite::output::Stamp::now());
    println!(
        "   sbom-lite found {} packages in {image} ({})",
        found.packages.len(),
        found
            .distro
            .as_ref()
            .map(|d| d.id.as_str())
            .unwrap_or("no os-release")
    );
    cosign_keyless::image::attest(
        Some(&trust),
        &reg,
        image,
        "spdxjson",
        sbom.to_string().as_bytes(),
        cosign_keyless::image::SignWith::Token(&token),
        cosign_keyless::image::Layout::Bundle,
        false,
        now(),
        n,
    )
    .await
    .map_err(|e| format!("attesting {image} failed: {e}"))?;
    println!("   an SPDX 2.3 document, signed as an in-toto statement about {digest}");
    why("an SBOM says what the image is made of; signed and attached, it cannot be swapped, and policies can read it.");
    same_as(&format!("syft {image} -o spdx-json=sbom.spdx.json; cosign attest --type spdxjson --predicate sbom.spdx.json {image}"));
    println!("   (here: sbom-lite generate {image} -o spdx-json=sbom.spdx.json; then sbom-lite scan sbom:sbom.spdx.json --db OSV_DIR, as grype)");

    step(6, "verify both, as a deployer would");
    let opts = cosign_keyless::image::VerifyOptions {
        offline: true,
        ignore_tlog: false,
        now: now(),
        narrator: n,
    };
    let sigs = cosign_keyless::image::verify(
        &trust,
        &reg,
        image,
        cosign_keyless::image::VerifyWith::Identity(&policy),
        &opts,
    )
    .await
    .map_err(|e| format!("verify failed: {e}"))?;
    let atts = cosign_keyless::image::verify_attestation(
        &trust,
        &reg,
        image,
        cosign_keyless::image::VerifyWith::Identity(&policy),
        sigstore_lite_core::attestation::SPDX,
        &[],
        &opts,
    )
    .await
    .map_err(|e| format!("verify-attestation failed: {e}"))?;
    println!(
        "   {} signature(s) and {} SPDX attestation(s) by {} verified",
        sigs.len(),
        atts.len(),
        a.email
    );
    why("verification needs no secret and no network call to Sigstore: the certificate chain, the SCT, the log's proof and the timestamp are all in the bundle.");
    same_as(&format!(
        "cosign verify --certificate-identity {} --certificate-oidc-issuer {oidc} {image}",
        a.email
    ));

    step(
        7,
        "ask the admission webhook, as the Kubernetes API server would",
    );
    let policy_yaml = format!(
        "apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {{name: tour}}\nspec:\n  images: [{{glob: \"{}/**\"}}]\n  authorities:\n  - keyless:\n      identities: [{{issuer: \"{oidc}\", subject: \"{}\"}}]\n    attestations:\n    - name: has-sbom\n      predicateType: spdxjson\n",
        image_ref.registry, a.email
    );
    let policies = admission_lite::policy::parse("tour-policy.yaml", &policy_yaml)
        .map_err(|e| e.to_string())?;
    let webhook = admission_lite::webhook::Webhook::new(
        admission_lite::policy::PolicySet { policies },
        trust.material.clone(),
        registry_client::Registry::new(true),
        Duration::from_secs(60),
    );
    let review = |img: &str| admission_lite::review::Review {
        uid: "tour".into(),
        kind: "Pod".into(),
        namespace: "default".into(),
        operation: "CREATE".into(),
        object: json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "tour"},
            "spec": {"containers": [{"name": "app", "image": img}]}}),
    };
    let pinned = format!("{image}@{digest}");
    let mutated = webhook.decide(&review(image), true, now()).await;
    println!(
        "   mutate:   {} -> {}",
        image,
        mutated
            .patch
            .first()
            .map(|p| p["value"].to_string())
            .unwrap_or_default()
    );
    let admitted = webhook.decide(&review(&pinned), false, now()).await;
    println!(
        "   validate: allowed={} ({})",
        admitted.allowed, admitted.message
    );
    if !admitted.allowed {
        return Err(format!(
            "the webhook refused the signed image: {}",
            admitted.message
        ));
    }
    why("signatures protect a cluster only if it refuses what is unsigned: the webhook pins the tag to a digest, then admits the Pod only if the policy's identity signed it and an SBOM is attested.");
    same_as(
        "kubectl apply -f pod.yaml (with admission-lite, Kyverno or policy-controller installed)",
    );
    println!(
        "\nDone: every step above ran against the stack; the explorer shows the log at {explorer}."
    );
    Ok(())
}
