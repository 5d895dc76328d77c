//! `sign`, `attest`, `verify`, `verify-attestation`, `tree` and `download` for images, in both of
//! cosign's layouts: cosign v3's default (a DSSE-signed in-toto statement in a Sigstore bundle,
//! pushed as an OCI 1.1 referrer; `cosign sign` signs the statement
//! `https://sigstore.dev/cosign/sign/v1`) and the legacy tags (`sha256-<hex>.sig` with
//! simple-signing payloads, `.att` with DSSE envelopes, annotated with the certificate, chain
//! and Rekor bundle). The legacy layout carries a SET, so it is signed through Rekor v1 whatever
//! the signing config prefers; bundles go through Rekor v2 and the TSA when it says so. This
//! module fetches and pushes; what is signed and whether it is accepted is
//! `sigstore_lite_core::image` and `sigstore_lite_core::attestation`.

use registry_client::{Reference, Registry};
use serde_json::{json, Value};
use sigstore_lite_core::attestation;
use sigstore_lite_core::bundle::{self, Bundle, TlogEntry};
use sigstore_lite_core::dsse::{Envelope, IN_TOTO_PAYLOAD_TYPE};
use sigstore_lite_core::image::{
    self as policy, ImageError, VerifiedStatement, ANN_BUNDLE, ANN_PREDICATE_TYPE, DSSE_LAYER,
    SIMPLESIGNING,
};
use std::sync::Arc;

use sigstore_lite_core::keys::{sha256, PublicKey, Signer};
use sigstore_lite_core::rekor::{Proposed, Verifier};
use sigstore_lite_core::verify::Policy;

use crate::error::Error;
use crate::keyless::{self, Narrator};
use crate::services;
use crate::trust::Trust;
use registry_client::cosign as layout;

pub use policy::{attestation_tag, signature_tag, ANN_SIGNATURE};

/// How to sign.
pub enum SignWith<'a> {
    /// An OIDC token: ephemeral key and Fulcio certificate.
    Token(&'a str),
    /// A key pair (cosign.key); logged in Rekor unless `tlog_upload` is false.
    Key {
        key: &'a Arc<dyn Signer>,
        tlog_upload: bool,
    },
}

/// The layout to write (cosign v3's `--new-bundle-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// A Sigstore bundle pushed as an OCI 1.1 referrer (cosign v3's default).
    Bundle,
    /// The `sha256-<hex>.sig` / `.att` tags.
    Legacy,
}

/// A key and, keyless, its certificate chain (DER, leaf first).
struct SigningKey {
    key: Arc<dyn Signer>,
    chain: Option<Vec<Vec<u8>>>,
}

impl SigningKey {
    async fn get(
        trust: Option<&Trust>,
        with: &SignWith<'_>,
        now: i64,
        n: Narrator,
    ) -> Result<SigningKey, Error> {
        match with {
            SignWith::Token(token) => {
                let id = keyless::certificate(need(trust)?, token, now, n).await?;
                Ok(SigningKey {
                    key: Arc::new(id.key),
                    chain: Some(id.chain),
                })
            }
            SignWith::Key { key, .. } => Ok(SigningKey {
                key: Arc::clone(key),
                chain: None,
            }),
        }
    }

    fn verifier(&self) -> Verifier {
        match &self.chain {
            Some(c) => Verifier::Certificate(c[0].clone()),
            None => Verifier::PublicKey(self.key.public_key().spki_der().to_vec()),
        }
    }

    fn who(&self) -> bundle::Signer<'_> {
        match &self.chain {
            Some(c) => bundle::Signer::Certificate(&c[0]),
            None => bundle::Signer::Key,
        }
    }
}

fn need(trust: Option<&Trust>) -> Result<&Trust, Error> {
    trust.ok_or_else(|| {
        Error::Usage(
            "give --trust-config or --trusted-root (needed to sign with Fulcio and Rekor)".into(),
        )
    })
}

/// Whether this signature goes to the log: always keyless, with a key unless
/// `--tlog-upload=false`.
fn logs(with: &SignWith<'_>) -> bool {
    !matches!(
        with,
        SignWith::Key {
            tlog_upload: false,
            ..
        }
    )
}

/// Resolves `image` to its digest, saying so when a tag was given.
async fn resolve(reg: &Registry, image: &str) -> Result<(Reference, String), Error> {
    let r = Reference::parse(image)?;
    let digest = reg.resolve(&r).await?;
    if r.digest.is_none() {
        eprintln!(
            "Signing the digest {digest} that the tag {} points to (signatures attach to digests, not tags)",
            r.tag.as_deref().unwrap_or("latest")
        );
    }
    Ok((r, digest))
}

/// Signs `statement` as a DSSE envelope and has it witnessed as the signing config says (Rekor
/// v2 with a TSA, or v1); returns the v0.3 bundle.
async fn sign_statement_bundle(
    trust: Option<&Trust>,
    sk: &SigningKey,
    statement: &[u8],
    log: bool,
    n: Narrator,
) -> Result<Bundle, Error> {
    let sig = sk.key.try_sign(&sigstore_lite_core::dsse::pae(
        IN_TOTO_PAYLOAD_TYPE,
        statement,
    ))?;
    let envelope = Envelope::new(IN_TOTO_PAYLOAD_TYPE, statement, &sig);
    let w = if log {
        let proposal = Proposed::DsseV001 {
            envelope: String::from_utf8(envelope.to_json()).expect("JSON is UTF-8"),
            verifiers: vec![sk.verifier()],
        };
        keyless::witness(need(trust)?, &proposal, &sig, sk.chain.is_some(), n).await?
    } else {
        keyless::Witnessed {
            tlog_entries: Vec::new(),
            timestamps: Vec::new(),
        }
    };
    Ok(bundle::dsse_bundle(
        sk.who(),
        w.tlog_entries,
        w.timestamps,
        envelope,
    ))
}

/// Signs `image` and attaches the signature. Returns (image digest, v0.3 bundle).
pub async fn sign(
    trust: Option<&Trust>,
    reg: &Registry,
    image: &str,
    with: SignWith<'_>,
    layout: Layout,
    now: i64,
    n: Narrator,
) -> Result<(String, Bundle), Error> {
    let (r, digest) = resolve(reg, image).await?;
    let sk = SigningKey::get(trust, &with, now, n).await?;
    if layout == Layout::Bundle {
        let statement = attestation::sign_statement(&digest);
        let b = sign_statement_bundle(trust, &sk, &statement, logs(&with), n).await?;
        let m = layout::push_bundle(reg, &r, &digest, &b, attestation::SIGN_V1, now).await?;
        n.say(format!(
            "pushed the signature bundle as a referrer of {digest}: {}@{m}",
            r.name()
        ));
        return Ok((digest, b));
    }
    let p = policy::simple_signing_payload(&r.name(), &digest);
    let pd = sha256(&p);
    let sig = sk.key.try_sign(&p)?;
    let logged = if logs(&with) {
        let proposal = Proposed::hashedrekord(pd, sig.clone(), sk.verifier());
        Some(keyless::log_v1(need(trust)?, &proposal, n).await?)
    } else {
        None
    };
    let annotations =
        policy::signature_annotations(&sig, sk.chain.as_deref(), logged.as_ref().map(|(e, _)| e));
    let tag = signature_tag(&digest);
    layout::append_layer(reg, &r, &tag, &p, SIMPLESIGNING, &annotations, |l| {
        l["annotations"][ANN_SIGNATURE] == annotations[ANN_SIGNATURE]
    })
    .await?;
    n.say(format!("pushed the signature to {}:{tag}", r.name()));
    let tles: Vec<TlogEntry> = logged.into_iter().map(|(_, t)| t).collect();
    Ok((
        digest,
        bundle::message_bundle(sk.who(), tles, Vec::new(), &pd, &sig),
    ))
}

/// Attests `predicate` (a file's bytes, read as `--type kind`) about `image`; returns (image
/// digest, bundle). Nothing is signed, logged or pushed if the predicate is refused.
#[allow(clippy::too_many_arguments)]
pub async fn attest(
    trust: Option<&Trust>,
    reg: &Registry,
    image: &str,
    kind: &str,
    predicate_file: &[u8],
    with: SignWith<'_>,
    layout: Layout,
    replace: bool,
    now: i64,
    n: Narrator,
) -> Result<(String, Bundle), Error> {
    let predicate_type = attestation::predicate_type(kind)
        .map_err(|e| Error::Usage(e.to_string()))?
        .to_string();
    let predicate = attestation::predicate(kind, predicate_file, now)
        .map_err(|e| Error::Usage(e.to_string()))?;
    if layout == Layout::Legacy && matches!(with, SignWith::Token(_)) {
        need(trust)?.rekor_v1()?;
    }
    let (r, digest) = resolve(reg, image).await?;
    let statement = attestation::attest_statement(&r.name(), &digest, &predicate_type, predicate);
    let sk = SigningKey::get(trust, &with, now, n).await?;
    if layout == Layout::Bundle {
        let b = sign_statement_bundle(trust, &sk, &statement, logs(&with), n).await?;
        let m = layout::push_bundle(reg, &r, &digest, &b, &predicate_type, now).await?;
        n.say(format!(
            "pushed the attestation bundle ({predicate_type}) as a referrer of {digest}: {}@{m}",
            r.name()
        ));
        return Ok((digest, b));
    }
    // Legacy: the layer is byte for byte the envelope logged in Rekor v1 (cosign compares its
    // hash with the entry's envelopeHash).
    let sig = sk.key.try_sign(&sigstore_lite_core::dsse::pae(
        IN_TOTO_PAYLOAD_TYPE,
        &statement,
    ))?;
    let envelope = Envelope::new(IN_TOTO_PAYLOAD_TYPE, &statement, &sig);
    let envelope_json = envelope.to_json();
    let logged = if logs(&with) {
        let proposal = Proposed::DsseV001 {
            envelope: String::from_utf8(envelope_json.clone()).expect("JSON is UTF-8"),
            verifiers: vec![sk.verifier()],
        };
        Some(keyless::log_v1(need(trust)?, &proposal, n).await?)
    } else {
        None
    };
    let annotations = policy::attestation_annotations(
        sk.chain.as_deref(),
        logged.as_ref().map(|(e, _)| e),
        &predicate_type,
    );
    let tag = attestation_tag(&digest);
    layout::append_layer(
        reg,
        &r,
        &tag,
        &envelope_json,
        DSSE_LAYER,
        &annotations,
        |l| replace && l["annotations"][ANN_PREDICATE_TYPE] == predicate_type.as_str(),
    )
    .await?;
    n.say(format!("pushed the attestation to {}:{tag}", r.name()));
    let tles: Vec<TlogEntry> = logged.into_iter().map(|(_, t)| t).collect();
    Ok((
        digest,
        bundle::dsse_bundle(sk.who(), tles, Vec::new(), envelope),
    ))
}

/// Options of `verify` and `verify-attestation`.
pub struct VerifyOptions {
    /// Use only what is attached (bundles, annotations); never ask Rekor.
    pub offline: bool,
    /// Skip the transparency log (cosign's --insecure-ignore-tlog): certificates are then
    /// checked at `now`, so an expired one fails.
    pub ignore_tlog: bool,
    pub now: i64,
    pub narrator: Narrator,
}

impl VerifyOptions {
    fn core(&self) -> policy::Options {
        policy::Options {
            ignore_tlog: self.ignore_tlog,
            now: self.now,
        }
    }
}

/// Who must have signed: an identity (keyless) or a key.
#[derive(Clone, Copy)]
pub enum VerifyWith<'a> {
    Identity(&'a Policy),
    Key(&'a PublicKey),
}

impl<'a> VerifyWith<'a> {
    fn signer(self) -> policy::Signer<'a> {
        match self {
            VerifyWith::Identity(p) => policy::Signer::Identity(p),
            VerifyWith::Key(k) => policy::Signer::Key(k),
        }
    }
}

fn say_verified(n: Narrator, what: &str, v: &VerifiedStatement) {
    let when = v
        .time
        .map(|t| {
            format!(
                ", logged or timestamped {}",
                sigstore_lite_core::trust::rfc3339(t)
            )
        })
        .unwrap_or_default();
    match &v.identity {
        Some((id, iss)) => n.say(format!(
            "{what} ({}) by {id} (issuer {iss}) verifies{when}",
            v.statement.predicate_type
        )),
        None => n.say(format!(
            "{what} ({}) by the given key verifies{when}",
            v.statement.predicate_type
        )),
    }
}

/// The bundles attached to `digest` that verify, and why the first that did not failed.
async fn verified_bundles(
    trust: &Trust,
    reg: &Registry,
    r: &Reference,
    digest: &str,
    with: VerifyWith<'_>,
    opts: &VerifyOptions,
) -> Result<(usize, Vec<VerifiedStatement>, Option<String>), Error> {
    let attached = layout::bundles(reg, r, digest).await?;
    let mut ok = Vec::new();
    let mut first_error = None;
    for a in &attached {
        let res = match &a.bundle {
            Ok(b) => {
                policy::verify_image_bundle(b, digest, &trust.material, with.signer(), opts.core())
                    .map_err(|e| e.to_string())
            }
            Err(e) => Err(format!("the bundle does not parse: {e}")),
        };
        match res {
            Ok(v) => {
                say_verified(opts.narrator, "a bundle", &v);
                ok.push(v);
            }
            Err(e) => {
                opts.narrator.say(format!(
                    "the bundle in {} does not verify: {e}",
                    a.manifest.digest
                ));
                first_error.get_or_insert(e);
            }
        }
    }
    Ok((attached.len(), ok, first_error))
}

/// Verifies that some signature attached to `image` satisfies the policy; returns the verified
/// payloads (cosign's stdout JSON array). Bundles attached as referrers are tried first (every
/// verified one is reported, as cosign v3 does, shaped as a simple-signing payload whose type is
/// the predicate type); with none attached, the legacy `.sig` layers.
pub async fn verify(
    trust: &Trust,
    reg: &Registry,
    image: &str,
    with: VerifyWith<'_>,
    opts: &VerifyOptions,
) -> Result<Vec<Value>, Error> {
    let n = opts.narrator;
    let r = Reference::parse(image)?;
    let digest = reg.resolve(&r).await?;
    n.say(format!("{image} is {digest}"));
    let (found, ok, first_error) = verified_bundles(trust, reg, &r, &digest, with, opts).await?;
    if found > 0 {
        if ok.is_empty() {
            return Err(Error::NoMatchingSignature(
                first_error.unwrap_or_else(|| "no bundle verified".into()),
            ));
        }
        return Ok(ok
            .iter()
            .map(|v| {
                json!({
                    "critical": {
                        "identity": {"docker-reference": r.name()},
                        "image": {"docker-manifest-digest": digest},
                        "type": v.statement.predicate_type,
                    },
                    "optional": v.statement.subject.first()
                        .and_then(|s| s.annotations.clone())
                        .unwrap_or_else(|| json!({})),
                })
            })
            .collect());
    }
    let mut layers =
        match layout::legacy_layers(reg, &r, &signature_tag(&digest), SIMPLESIGNING).await? {
            Some(l) if !l.is_empty() => l,
            _ => return Err(Error::NoSignatures(r.to_string())),
        };
    // A signature without a bundle annotation is looked up in Rekor, unless offline.
    if !opts.offline && !opts.ignore_tlog {
        for l in layers
            .iter_mut()
            .filter(|l| !l.annotations.contains_key(ANN_BUNDLE))
        {
            let Ok(proposal) = policy::layer_log_proposal(l, with.signer()) else {
                continue;
            };
            if let Some(e) = services::rekor_find(trust.rekor_v1()?, &proposal.to_json()).await? {
                n.say(format!("found log entry {} in Rekor", e.log_index));
                l.online_entry = TlogEntry::from_rekor(&e);
            }
        }
    }
    let verified = policy::verify_signatures(
        &layers,
        &digest,
        &trust.material,
        with.signer(),
        opts.core(),
    )
    .map_err(|e| match e {
        ImageError::NoSignatures => Error::NoSignatures(r.to_string()),
        ImageError::NoCertificate => Error::NoCertificate,
        ImageError::NoMatching(v) => Error::NoMatchingSignature(v.to_string()),
        other => Error::NoMatchingSignature(other.to_string()),
    })?;
    for v in &verified {
        match (&v.identity, v.integrated_time) {
            (Some((id, iss)), Some(t)) => n.say(format!(
                "a signature by {id} (issuer {iss}) verifies: logged at {}, certificate chain and SCT valid then",
                sigstore_lite_core::trust::rfc3339(t)
            )),
            (Some((id, iss)), None) => n.say(format!(
                "a signature by {id} (issuer {iss}) verifies; the transparency log was not checked"
            )),
            (None, _) => n.say("a signature by the given key verifies"),
        }
    }
    Ok(verified.into_iter().map(|v| v.payload).collect())
}

/// Verifies the attestations attached to `image` (bundle referrers first; with none, the legacy
/// `.att` layers) and keeps those of `predicate_type`; each kept statement must also satisfy
/// every Rego policy. Returns the verified statements.
pub async fn verify_attestation(
    trust: &Trust,
    reg: &Registry,
    image: &str,
    with: VerifyWith<'_>,
    predicate_type: &str,
    policies: &[(String, String)],
    opts: &VerifyOptions,
) -> Result<Vec<VerifiedStatement>, Error> {
    let n = opts.narrator;
    let r = Reference::parse(image)?;
    let digest = reg.resolve(&r).await?;
    n.say(format!("{image} is {digest}"));
    let (found, mut ok, mut first_error) =
        verified_bundles(trust, reg, &r, &digest, with, opts).await?;
    if found == 0 {
        let layers = layout::legacy_layers(reg, &r, &attestation_tag(&digest), DSSE_LAYER)
            .await?
            .unwrap_or_default();
        for l in &layers {
            match policy::verify_attestation_layer(
                l,
                &digest,
                &trust.material,
                with.signer(),
                opts.core(),
            ) {
                Ok(v) => {
                    say_verified(n, "an attestation", &v);
                    ok.push(v);
                }
                Err(e) => {
                    n.say(format!("an attestation layer does not verify: {e}"));
                    first_error.get_or_insert(e.to_string());
                }
            }
        }
    }
    if ok.is_empty() {
        return Err(Error::NoMatchingAttestations(first_error));
    }
    let found_types: Vec<String> = ok
        .iter()
        .map(|v| v.statement.predicate_type.clone())
        .collect();
    ok.retain(|v| attestation::check(&v.statement, &digest, predicate_type).is_ok());
    if ok.is_empty() {
        return Err(Error::NoPredicateType {
            wanted: predicate_type.to_string(),
            found: found_types,
        });
    }
    let mut failures = Vec::new();
    for (name, text) in policies {
        for v in &ok {
            let input = serde_json::to_value(&v.statement).expect("serializes");
            if let Err(e) = sigstore_lite_core::attestation::evaluate_rego(text, &input) {
                failures.push(format!("{name}: {e}"));
            }
        }
    }
    if !failures.is_empty() {
        return Err(Error::Policy(failures));
    }
    Ok(ok)
}

/// `triangulate`: where the legacy signatures of `image` are stored.
pub async fn triangulate(reg: &Registry, image: &str) -> Result<String, Error> {
    let r = Reference::parse(image)?;
    let digest = reg.resolve(&r).await?;
    Ok(format!("{}:{}", r.name(), signature_tag(&digest)))
}

/// `tree`: what is attached to `image`, in both layouts, as cosign prints it.
pub async fn tree(reg: &Registry, image: &str) -> Result<Vec<String>, Error> {
    let r = Reference::parse(image)?;
    let digest = reg.resolve(&r).await?;
    let mut out = vec![format!(
        "📦 Supply Chain Security Related artifacts for an image: {image}"
    )];
    let mut any = false;
    let digest_lines = |digests: Vec<String>, out: &mut Vec<String>| {
        let n = digests.len();
        for (i, d) in digests.into_iter().enumerate() {
            let branch = if i + 1 == n { "└──" } else { "├──" };
            out.push(format!("   {branch} 🍒 {d}"));
        }
    };
    for (title, tag) in [
        ("🔐 Signatures", signature_tag(&digest)),
        ("💾 Attestations", attestation_tag(&digest)),
        ("📦 SBOMs", format!("{}.sbom", digest.replace(':', "-"))),
    ] {
        let Some((body, _, _)) = reg.manifest(&r, &tag).await? else {
            continue;
        };
        let m: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let layers: Vec<String> = m["layers"]
            .as_array()
            .map(|l| {
                l.iter()
                    .filter_map(|l| l["digest"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if layers.is_empty() {
            continue;
        }
        any = true;
        out.push(format!("└── {title} for an image tag: {}:{tag}", r.name()));
        digest_lines(layers, &mut out);
    }
    for a in layout::bundles(reg, &r, &digest).await? {
        any = true;
        let kind = a
            .manifest
            .annotations
            .get(policy::ANN_BUNDLE_PREDICATE)
            .cloned()
            .or(a.manifest.artifact_type.clone())
            .unwrap_or_default();
        out.push(format!(
            "└── 🔗 {kind} artifacts via OCI referrer: {}@{}",
            r.name(),
            a.manifest.digest
        ));
        digest_lines(vec![a.layer], &mut out);
    }
    if !any {
        return Ok(vec![format!(
            "No Supply Chain Security Related Artifacts found for image {image},\n start creating one with simply running$ cosign sign <img>"
        )]);
    }
    // Digests, predicate types and artifact types come from the registry: escaped for the
    // terminal.
    Ok(out
        .into_iter()
        .map(|l| sigstore_lite_core::text::printable(&l).into_owned())
        .collect())
}

/// What `download signature` and `download attestation` print, one JSON document per line.
pub enum Download {
    Signature,
    /// Attestations, of this predicate type if given.
    Attestation(Option<String>),
}

/// `download`: the Sigstore bundles attached as referrers (as JSON), and the legacy layers
/// (`.sig`: cosign's SignedPayload objects; `.att`: the envelopes).
pub async fn download(reg: &Registry, image: &str, what: Download) -> Result<Vec<String>, Error> {
    let r = Reference::parse(image)?;
    let digest = reg.resolve(&r).await?;
    let mut out = Vec::new();
    let statement_type = |b: &Bundle| -> Option<String> {
        let env = b.dsse_envelope.as_ref()?;
        let st: sigstore_lite_core::dsse::Statement =
            serde_json::from_slice(&env.payload_bytes()?).ok()?;
        Some(st.predicate_type)
    };
    for a in layout::bundles(reg, &r, &digest).await? {
        let Ok(b) = a.bundle else { continue };
        if let Download::Attestation(Some(t)) = &what {
            if statement_type(&b).as_deref() != Some(t.as_str()) {
                continue;
            }
        }
        out.push(serde_json::to_string(&b).expect("bundle serializes"));
    }
    match &what {
        Download::Signature => {
            if !out.is_empty() {
                return Ok(out);
            }
            let layers = layout::legacy_layers(reg, &r, &signature_tag(&digest), SIMPLESIGNING)
                .await?
                .unwrap_or_default();
            for l in layers {
                let a = |k: &str| l.annotations.get(k).cloned();
                let bundle: Option<Value> =
                    a(ANN_BUNDLE).and_then(|b| serde_json::from_str(&b).ok());
                out.push(
                    json!({
                        "Base64Signature": a(ANN_SIGNATURE).unwrap_or_default(),
                        "Payload": base64_of(&l.payload),
                        "Cert": a(policy::ANN_CERTIFICATE),
                        "Chain": a(policy::ANN_CHAIN),
                        "Bundle": bundle,
                        "RFC3161Timestamp": a(policy::ANN_RFC3161).and_then(|t| serde_json::from_str::<Value>(&t).ok()),
                    })
                    .to_string(),
                );
            }
            if out.is_empty() {
                return Err(Error::NoSignatures(r.to_string()));
            }
        }
        Download::Attestation(t) => {
            let layers = layout::legacy_layers(reg, &r, &attestation_tag(&digest), DSSE_LAYER)
                .await?
                .unwrap_or_default();
            for l in layers {
                if let Some(t) = t {
                    if l.annotations.get(ANN_PREDICATE_TYPE) != Some(t) {
                        continue;
                    }
                }
                let Ok(env) = serde_json::from_slice::<Envelope>(&l.payload) else {
                    continue;
                };
                out.push(
                    json!({
                        "payloadType": env.payload_type,
                        "payload": env.payload,
                        "signatures": env.signatures.iter()
                            .map(|s| json!({"keyid": s.keyid, "sig": s.sig}))
                            .collect::<Vec<_>>(),
                    })
                    .to_string(),
                );
            }
            if out.is_empty() {
                if let Some(t) = t {
                    return Err(Error::Usage(format!(
                        "no attestations with predicate type '{t}' found"
                    )));
                }
            }
        }
    }
    Ok(out)
}

fn base64_of(b: &[u8]) -> String {
    use base64::{engine::general_purpose::STANDARD as B64, Engine};
    B64.encode(b)
}
