//! The command line: parsing, and each command as a call into the library. `main.rs` only calls
//! [`main`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{ArgAction, Args, Parser, Subcommand};
use sigstore_lite_core::keys::{PublicKey, Signer};
use sigstore_lite_core::text::printable;
use sigstore_lite_core::verify::{Matcher, Policy};

use crate::image::{SignWith, VerifyWith};
use crate::keyless::Narrator;
use crate::trust::Trust;
use crate::{blob, image, keyfile, kube, Error};
use registry_client::Registry;

#[derive(Parser)]
#[command(
    name = "cosign-keyless",
    version,
    about = "Keyless signing and verification of blobs and OCI images, cosign-compatible"
)]
pub struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Args, Clone)]
struct TrustArgs {
    /// Sigstore trusted_root.json.
    #[arg(long, global = true)]
    trusted_root: Option<PathBuf>,
    /// signing_config.json (v0.2): where Fulcio and Rekor are.
    #[arg(long, global = true)]
    signing_config: Option<PathBuf>,
    /// ClientTrustConfig (trusted root and signing config in one file, as sigstore-python takes it).
    #[arg(long, global = true)]
    trust_config: Option<PathBuf>,
    #[arg(long, global = true)]
    fulcio_url: Option<String>,
    #[arg(long, global = true)]
    rekor_url: Option<String>,
    /// Narrate each step.
    #[arg(short, long, global = true)]
    verbose: bool,
}

#[derive(Args, Clone)]
struct IdentityArgs {
    /// The exact identity (SAN) the certificate must name.
    #[arg(long, required_unless_present_any = ["certificate_identity_regexp", "key"])]
    certificate_identity: Option<String>,
    /// A regexp the identity must match entirely.
    #[arg(long, conflicts_with = "certificate_identity")]
    certificate_identity_regexp: Option<String>,
    /// The exact OIDC issuer the certificate must name.
    #[arg(long, required_unless_present_any = ["certificate_oidc_issuer_regexp", "key"])]
    certificate_oidc_issuer: Option<String>,
    /// A regexp the issuer must match entirely.
    #[arg(long, conflicts_with = "certificate_oidc_issuer")]
    certificate_oidc_issuer_regexp: Option<String>,
    /// Verify with this public key instead of an identity: a file (cosign.pub), k8s://NS/NAME,
    /// a PKCS#11 URI (pkcs11:token=T;object=O?module-path=M) or a KMS plugin's <scheme>://KEY.
    #[arg(long, value_name = "REF", conflicts_with_all = ["certificate_identity", "certificate_identity_regexp"])]
    key: Option<String>,
    /// The certificate's GitHub workflow trigger extension (1.3.6.1.4.1.57264.1.2), as cosign.
    #[arg(long, value_name = "EVENT")]
    certificate_github_workflow_trigger: Option<String>,
    /// The GitHub workflow SHA extension (.1.3).
    #[arg(long, value_name = "SHA")]
    certificate_github_workflow_sha: Option<String>,
    /// The GitHub workflow name extension (.1.4).
    #[arg(long, value_name = "NAME")]
    certificate_github_workflow_name: Option<String>,
    /// The GitHub workflow repository extension (.1.5).
    #[arg(long, value_name = "OWNER/REPO")]
    certificate_github_workflow_repository: Option<String>,
    /// The GitHub workflow ref extension (.1.6).
    #[arg(long, value_name = "REF")]
    certificate_github_workflow_ref: Option<String>,
    /// Any Fulcio extension the certificate must carry with this exact value, by Fulcio's name
    /// (source-repository-uri, build-trigger, runner-environment...) or OID; repeatable. Not in
    /// cosign: it reaches every CI's extensions (GitLab's project, Buildkite's pipeline...).
    #[arg(long, value_name = "NAME=VALUE")]
    certificate_extension: Vec<String>,
    /// Skip the transparency log (certificates are then checked at the current time).
    #[arg(long)]
    insecure_ignore_tlog: bool,
}

/// The verification policy, or the key.
enum Who {
    Policy(Policy),
    Key(PublicKey),
}

impl IdentityArgs {
    fn options(&self, offline: bool, narrator: Narrator) -> image::VerifyOptions {
        image::VerifyOptions {
            offline,
            ignore_tlog: self.insecure_ignore_tlog,
            now: now(),
            narrator,
        }
    }

    async fn who(&self) -> Result<Who, Error> {
        if let Some(k) = &self.key {
            let pem = match kube::SecretRef::parse(k) {
                Some(r) => kube::secret_text(&r?, kube::PUB).await?.0,
                None => match sigstore_lite_signer::KeyRef::parse(k)? {
                    sigstore_lite_signer::KeyRef::File(path) => read_text(&path)?,
                    r => {
                        let key = tokio::task::spawn_blocking(move || {
                            sigstore_lite_signer::public_key(&r)
                        })
                        .await
                        .map_err(|e| Error::Key(e.to_string()))??;
                        return Ok(Who::Key(key));
                    }
                },
            };
            return PublicKey::from_pem(&pem)
                .map(Who::Key)
                .map_err(|e| Error::Usage(format!("{k} is not a public key: {e}")));
        }
        let m = |exact: &Option<String>, re: &Option<String>, what: &str| match (exact, re) {
            (Some(e), _) => Ok(Matcher::exact(e)),
            (None, Some(r)) => Matcher::regex(r).map_err(|e| {
                Error::Usage(format!(
                    "the {what} regexp {r:?} is invalid: {}",
                    Matcher::describe_error(&e)
                ))
            }),
            (None, None) => Err(Error::Usage(format!("a certificate {what} is required"))),
        };
        Ok(Who::Policy(Policy {
            identity: m(
                &self.certificate_identity,
                &self.certificate_identity_regexp,
                "identity",
            )?,
            issuer: m(
                &self.certificate_oidc_issuer,
                &self.certificate_oidc_issuer_regexp,
                "OIDC issuer",
            )?,
            extensions: self.extensions()?,
        }))
    }

    /// The extensions the certificate must carry: cosign's GitHub workflow flags, then each
    /// --certificate-extension.
    fn extensions(&self) -> Result<Vec<(String, Matcher)>, Error> {
        let mut out = Vec::new();
        for (name, v) in [
            (
                "github-workflow-trigger",
                &self.certificate_github_workflow_trigger,
            ),
            ("github-workflow-sha", &self.certificate_github_workflow_sha),
            (
                "github-workflow-name",
                &self.certificate_github_workflow_name,
            ),
            (
                "github-workflow-repository",
                &self.certificate_github_workflow_repository,
            ),
            ("github-workflow-ref", &self.certificate_github_workflow_ref),
        ] {
            if let Some(v) = v {
                let oid = sigstore_lite_core::fulcio::extension_oid(name).expect("a known name");
                out.push((oid, Matcher::exact(v)));
            }
        }
        for spec in &self.certificate_extension {
            let (name, value) = spec.split_once('=').ok_or_else(|| {
                Error::Usage(format!("--certificate-extension {spec:?}: give NAME=VALUE"))
            })?;
            let oid = sigstore_lite_core::fulcio::extension_oid(name).ok_or_else(|| {
                Error::Usage(format!(
                    "--certificate-extension {name:?} is not a Fulcio extension (a name such as source-repository-uri, or an OID)"
                ))
            })?;
            out.push((oid, Matcher::exact(value)));
        }
        Ok(out)
    }
}

#[derive(Args, Clone)]
struct SignArgs {
    /// OIDC identity token, or the path of a file holding it (default: $SIGSTORE_ID_TOKEN, then
    /// GitHub Actions' ambient token).
    #[arg(long)]
    identity_token: Option<String>,
    /// Sign with this private key instead of keylessly: cosign.key (password from
    /// COSIGN_PASSWORD), k8s://NS/NAME, a PKCS#11 URI
    /// (pkcs11:token=T;object=O?module-path=M&pin-value=P, or COSIGN_PKCS11_MODULE_PATH and
    /// COSIGN_PKCS11_PIN) or a KMS plugin's <scheme>://KEY (sigstore-kms-<scheme> on PATH).
    #[arg(long, value_name = "REF")]
    key: Option<String>,
    /// Upload key-pair signatures to Rekor (always for keyless).
    #[arg(long, default_value_t = true, action = ArgAction::Set, value_name = "BOOL")]
    tlog_upload: bool,
    /// Accepted for cosign compatibility (no prompt is ever shown).
    #[arg(short, long)]
    yes: bool,
    /// Store a Sigstore bundle as an OCI 1.1 referrer (cosign v3's default), or (false) the
    /// legacy sha256-<hex>.sig / .att tags.
    #[arg(long, default_value_t = true, action = ArgAction::Set, value_name = "BOOL")]
    new_bundle_format: bool,
}

impl SignArgs {
    fn layout(&self) -> image::Layout {
        if self.new_bundle_format {
            image::Layout::Bundle
        } else {
            image::Layout::Legacy
        }
    }
}

/// cosign's registry flags.
#[derive(Args, Clone)]
struct RegistryArgs {
    /// Skip TLS certificate verification for this registry (cosign's meaning; for tests only).
    #[arg(long)]
    allow_insecure_registry: bool,
    /// Use plain HTTP for this registry (loopback registries always use it).
    #[arg(long)]
    allow_http_registry: bool,
}

impl RegistryArgs {
    fn client(&self) -> Registry {
        Registry::configured(
            self.allow_http_registry,
            self.allow_insecure_registry,
            std::time::Duration::from_secs(60),
        )
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Sign an image and attach the signature (a bundle referrer, or the sha256-<digest>.sig tag).
    Sign {
        image: String,
        /// Also write the Sigstore bundle (v0.3) of the signature here.
        #[arg(long)]
        bundle: Option<PathBuf>,
        #[command(flatten)]
        sign: SignArgs,
        #[command(flatten)]
        registry: RegistryArgs,
        #[command(flatten)]
        trust: TrustArgs,
    },
    /// Verify that each image has a signature by the given identity and issuer (or key).
    Verify {
        #[arg(required = true, value_name = "IMAGE")]
        images: Vec<String>,
        /// Write the verified payloads (JSON) to this file instead of standard output.
        #[arg(long)]
        output_file: Option<PathBuf>,
        #[command(flatten)]
        identity: IdentityArgs,
        /// Use only the signature's bundle annotation; never ask Rekor.
        #[arg(long)]
        offline: bool,
        #[command(flatten)]
        registry: RegistryArgs,
        #[command(flatten)]
        trust: TrustArgs,
    },
    /// Attest a predicate (an SBOM, provenance, ...) about an image: an in-toto statement, DSSE
    /// signed, logged, and attached (a bundle referrer, or the sha256-<digest>.att tag).
    Attest {
        image: String,
        /// The predicate file.
        #[arg(long)]
        predicate: PathBuf,
        /// custom, slsaprovenance, slsaprovenance02, slsaprovenance1, link, spdx, spdxjson,
        /// cyclonedx, vuln, openvex, or a predicate type URI.
        #[arg(long = "type", default_value = "custom")]
        kind: String,
        /// Also write the Sigstore bundle (v0.3) of the attestation here.
        #[arg(long)]
        bundle: Option<PathBuf>,
        /// Legacy layout: drop earlier attestations of the same predicate type.
        #[arg(long)]
        replace: bool,
        #[command(flatten)]
        sign: SignArgs,
        #[command(flatten)]
        registry: RegistryArgs,
        #[command(flatten)]
        trust: TrustArgs,
    },
    /// Verify the attestations of an image of a predicate type, by identity and issuer (or key),
    /// and optionally against Rego policies; prints each verified DSSE envelope.
    VerifyAttestation {
        image: String,
        /// Write the verified envelopes (JSON lines) to this file instead of standard output.
        #[arg(long)]
        output_file: Option<PathBuf>,
        /// The predicate type (a short name as for attest, or a URI).
        #[arg(long = "type", default_value = "custom")]
        kind: String,
        /// A Rego policy (`data.signature.allow` over the statement); repeatable. CUE is not
        /// supported.
        #[arg(long)]
        policy: Vec<PathBuf>,
        #[command(flatten)]
        identity: IdentityArgs,
        /// Use only what is attached; never ask Rekor.
        #[arg(long)]
        offline: bool,
        #[command(flatten)]
        registry: RegistryArgs,
        #[command(flatten)]
        trust: TrustArgs,
    },
    /// Print what is attached to an image: `download signature IMAGE`, `download attestation
    /// IMAGE [--predicate-type T]`.
    Download {
        #[arg(value_parser = ["signature", "attestation"])]
        what: String,
        image: String,
        /// Only attestations of this predicate type (a short name or a URI).
        #[arg(long)]
        predicate_type: Option<String>,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Sign a file and write a Sigstore bundle.
    SignBlob {
        file: PathBuf,
        /// Where to write the bundle (v0.3).
        #[arg(long)]
        bundle: PathBuf,
        #[command(flatten)]
        sign: SignArgs,
        #[command(flatten)]
        trust: TrustArgs,
    },
    /// Verify a file (or sha256:<hex>) against a Sigstore bundle, by identity and issuer (or key).
    VerifyBlob {
        /// FILE, `-` for standard input, or sha256:<hex>.
        artifact: String,
        #[arg(long)]
        bundle: PathBuf,
        /// Accepted for cosign compatibility: a bundle is always verified offline (never asks
        /// Rekor).
        #[arg(long)]
        offline: bool,
        #[command(flatten)]
        identity: IdentityArgs,
        #[command(flatten)]
        trust: TrustArgs,
    },
    /// Generate cosign.key (encrypted with COSIGN_PASSWORD or a typed password) and cosign.pub.
    GenerateKeyPair {
        /// `k8s://NAMESPACE/NAME`: store the pair in a Kubernetes Secret (the kubeconfig's
        /// current context) and write only cosign.pub.
        key_ref: Option<String>,
        /// Make the key in a PKCS#11 token (pkcs11:token=T;object=O?module-path=M&pin-value=P;
        /// non-extractable) or through a KMS plugin (<scheme>://KEY), and write only cosign.pub.
        #[arg(long, value_name = "REF", conflicts_with = "key_ref")]
        kms: Option<String>,
        #[arg(long, default_value = "cosign")]
        output_key_prefix: String,
    },
    /// Print where the signatures of an image are stored.
    Triangulate {
        image: String,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// List what is attached to an image.
    Tree {
        image: String,
        #[command(flatten)]
        registry: RegistryArgs,
    },
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

fn read_text(p: &Path) -> Result<String, Error> {
    std::fs::read_to_string(p).map_err(|e| Error::Read {
        path: p.display().to_string(),
        reason: e.to_string(),
    })
}

fn write(p: &Path, data: &[u8], private: bool) -> Result<(), Error> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    if private {
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    }
    let _ = private;
    let mut f = o.open(p).map_err(|e| Error::Write {
        path: p.display().to_string(),
        reason: e.to_string(),
    })?;
    f.write_all(data).map_err(|e| Error::Write {
        path: p.display().to_string(),
        reason: e.to_string(),
    })
}

fn load(t: &TrustArgs) -> Result<Trust, Error> {
    Trust::load(
        t.trusted_root.as_deref(),
        t.signing_config.as_deref(),
        t.trust_config.as_deref(),
        t.fulcio_url.as_deref(),
        t.rekor_url.as_deref(),
        now(),
    )
}

fn has_trust(t: &TrustArgs) -> bool {
    t.trusted_root.is_some() || t.trust_config.is_some()
}

/// Trust for signing: needed unless signing with a key and no log upload.
fn sign_trust(s: &SignArgs, t: &TrustArgs) -> Result<Option<Trust>, Error> {
    if s.key.is_some() && !s.tlog_upload {
        return Ok(None);
    }
    load(t).map(Some)
}

/// Trust for verifying: a key-pair check that ignores the log needs none.
fn verify_trust(id: &IdentityArgs, t: &TrustArgs) -> Result<Trust, Error> {
    if id.key.is_some() && id.insecure_ignore_tlog && !has_trust(t) {
        return Ok(Trust::empty());
    }
    load(t)
}

/// The private key of `--key`: a cosign.key file (password from COSIGN_PASSWORD or typed),
/// `k8s://NS/NAME` (the Secret's cosign.key and cosign.password), a key in a PKCS#11 token, or
/// one behind a KMS plugin.
async fn private_key(s: &SignArgs) -> Result<Option<Arc<dyn Signer>>, Error> {
    let Some(p) = &s.key else {
        return Ok(None);
    };
    let key: Arc<dyn Signer> = if let Some(r) = kube::SecretRef::parse(p) {
        let r = r?;
        let (pem, data) = kube::secret_text(&r, kube::KEY).await?;
        let password = match data.get(kube::PASSWORD) {
            Some(pw) => pw.clone(),
            None => keyfile::password(false)?,
        };
        Arc::new(keyfile::decrypt(&pem, &password)?)
    } else {
        match sigstore_lite_signer::KeyRef::parse(p)? {
            sigstore_lite_signer::KeyRef::File(path) => Arc::new(keyfile::decrypt(
                &read_text(&path)?,
                &keyfile::password(false)?,
            )?),
            r => tokio::task::spawn_blocking(move || sigstore_lite_signer::open(&r))
                .await
                .map_err(|e| Error::Key(e.to_string()))??,
        }
    };
    if key.public_key().kind() != sigstore_lite_core::keys::KeyKind::EcdsaP256 {
        let shown = sigstore_lite_signer::KeyRef::parse(p)
            .map_or_else(|_| "--key".to_string(), |r| r.to_string());
        return Err(Error::Key(format!(
            "{shown}: a {} key; signatures are made with ECDSA P-256 keys here",
            key.public_key().kind().name()
        )));
    }
    Ok(Some(key))
}

/// What to sign with: a key pair, or an identity token.
enum Signing {
    Key(Arc<dyn Signer>),
    Token(String),
}

impl Signing {
    async fn resolve(s: &SignArgs) -> Result<Signing, Error> {
        match private_key(s).await? {
            Some(k) => Ok(Signing::Key(k)),
            None => Ok(Signing::Token(
                crate::keyless::resolve_token(s.identity_token.as_deref()).await?,
            )),
        }
    }

    fn with(&self, s: &SignArgs) -> SignWith<'_> {
        match self {
            Signing::Key(key) => SignWith::Key {
                key,
                tlog_upload: s.tlog_upload,
            },
            Signing::Token(t) => SignWith::Token(t),
        }
    }
}

/// cosign's verification header, on stderr.
/// Standard output, or `--output-file` (cosign's flag), with the same content.
fn emit(out: &str, file: Option<&std::path::Path>) -> Result<(), Error> {
    match file {
        None => {
            print!("{out}");
            Ok(())
        }
        Some(p) => std::fs::write(p, out.trim_start())
            .map_err(|e| Error::Usage(format!("cannot write {}: {e}", p.display()))),
    }
}

fn print_verification_header(image: &str, ignore_tlog: bool, who: &Who) {
    let tlog = if ignore_tlog {
        "  - The transparency log was NOT checked (--insecure-ignore-tlog)"
    } else {
        "  - Existence of the claims in the transparency log was verified offline"
    };
    let sigs = match who {
        Who::Policy(_) => "  - The code-signing certificate was verified using trusted certificate authority certificates",
        Who::Key(_) => "  - The signatures were verified against the specified public key",
    };
    eprintln!("\nVerification for {image} --\nThe following checks were performed on each of these signatures:\n  - The cosign claims were validated\n{tlog}\n{sigs}");
}

impl Who {
    fn with(&self) -> VerifyWith<'_> {
        match self {
            Who::Policy(p) => VerifyWith::Identity(p),
            Who::Key(k) => VerifyWith::Key(k),
        }
    }
}

async fn run(cmd: Cmd) -> Result<(), Error> {
    match cmd {
        c @ Cmd::Sign { .. } => sign(c).await,
        c @ Cmd::Verify { .. } => verify(c).await,
        c @ Cmd::Attest { .. } => attest(c).await,
        c @ Cmd::VerifyAttestation { .. } => verify_attestation(c).await,
        c @ Cmd::Download { .. } => download(c).await,
        c @ Cmd::SignBlob { .. } => sign_blob(c).await,
        c @ Cmd::VerifyBlob { .. } => verify_blob(c).await,
        c @ Cmd::GenerateKeyPair { .. } => generate_key_pair(c).await,
        c @ Cmd::Triangulate { .. } => triangulate(c).await,
        c @ Cmd::Tree { .. } => tree(c).await,
    }
}

/// `cosign sign`.
async fn sign(cmd: Cmd) -> Result<(), Error> {
    let Cmd::Sign {
        image,
        bundle,
        sign,
        registry,
        trust,
    } = cmd
    else {
        unreachable!("run() dispatches Sign here")
    };
    let n = Narrator {
        verbose: trust.verbose,
    };
    let t = sign_trust(&sign, &trust)?;
    let reg = registry.client();
    let signing = Signing::resolve(&sign).await?;
    let with = signing.with(&sign);
    let layout = sign.layout();
    let (digest, b) = image::sign(t.as_ref(), &reg, &image, with, layout, now(), n).await?;
    if let Some(path) = bundle {
        write(
            &path,
            &serde_json::to_vec_pretty(&b).expect("bundle serializes"),
            false,
        )?;
    }
    match layout {
        image::Layout::Bundle => {
            eprintln!("Pushed the signature bundle as a referrer of {digest}")
        }
        image::Layout::Legacy => {
            eprintln!("Pushing signature to: {}", image::signature_tag(&digest))
        }
    }
    Ok(())
}

/// `cosign verify`.
async fn verify(cmd: Cmd) -> Result<(), Error> {
    let Cmd::Verify {
        images,
        output_file,
        identity,
        offline,
        registry,
        trust,
    } = cmd
    else {
        unreachable!("run() dispatches Verify here")
    };
    let n = Narrator {
        verbose: trust.verbose,
    };
    let t = verify_trust(&identity, &trust)?;
    let reg = registry.client();
    let opts = identity.options(offline, n);
    let who = identity.who().await?;
    let with = who.with();
    // As cosign: each image in turn, stopping at the first that does not verify.
    let mut out = String::new();
    for image in &images {
        let payloads = image::verify(&t, &reg, image, with, &opts).await?;
        print_verification_header(image, identity.insecure_ignore_tlog, &who);
        out.push_str(&format!(
            "\n{}\n",
            serde_json::to_string(&payloads).expect("json")
        ));
    }
    emit(&out, output_file.as_deref())
}

/// `cosign attest`.
async fn attest(cmd: Cmd) -> Result<(), Error> {
    let Cmd::Attest {
        image,
        predicate,
        kind,
        bundle,
        replace,
        sign,
        registry,
        trust,
    } = cmd
    else {
        unreachable!("run() dispatches Attest here")
    };
    let n = Narrator {
        verbose: trust.verbose,
    };
    let predicate_file = std::fs::read(&predicate).map_err(|e| Error::Read {
        path: predicate.display().to_string(),
        reason: e.to_string(),
    })?;
    // Refuse a bad predicate before anything else happens.
    sigstore_lite_core::attestation::predicate(&kind, &predicate_file, now())
        .map_err(|e| Error::Usage(e.to_string()))?;
    let t = sign_trust(&sign, &trust)?;
    let reg = registry.client();
    let signing = Signing::resolve(&sign).await?;
    let with = signing.with(&sign);
    let (digest, b) = image::attest(
        t.as_ref(),
        &reg,
        &image,
        &kind,
        &predicate_file,
        with,
        sign.layout(),
        replace,
        now(),
        n,
    )
    .await?;
    if let Some(path) = bundle {
        write(
            &path,
            &serde_json::to_vec_pretty(&b).expect("bundle serializes"),
            false,
        )?;
    }
    match sign.layout() {
        image::Layout::Bundle => {
            eprintln!("Pushed the attestation bundle as a referrer of {digest}")
        }
        image::Layout::Legacy => {
            eprintln!(
                "Pushing attestation to: {}",
                image::attestation_tag(&digest)
            )
        }
    }
    Ok(())
}

/// `cosign verify-attestation`.
async fn verify_attestation(cmd: Cmd) -> Result<(), Error> {
    let Cmd::VerifyAttestation {
        image,
        output_file,
        kind,
        policy,
        identity,
        offline,
        registry,
        trust,
    } = cmd
    else {
        unreachable!("run() dispatches VerifyAttestation here")
    };
    let n = Narrator {
        verbose: trust.verbose,
    };
    let mut policies = Vec::new();
    for p in &policy {
        match p.extension().and_then(|e| e.to_str()) {
            Some("rego") => policies.push((p.display().to_string(), read_text(p)?)),
            Some("cue") => {
                return Err(Error::Usage(format!(
                    "{}: CUE policies are not supported; write the policy in Rego (data.signature.allow)",
                    p.display()
                )))
            }
            _ => {
                return Err(Error::Usage(format!(
                    "{}: a policy file must end in .rego",
                    p.display()
                )))
            }
        }
    }
    let t = verify_trust(&identity, &trust)?;
    let reg = registry.client();
    let opts = identity.options(offline, n);
    let who = identity.who().await?;
    let with = who.with();
    let wanted = sigstore_lite_core::attestation::predicate_type(&kind)
        .map(str::to_string)
        .unwrap_or(kind);
    let verified =
        image::verify_attestation(&t, &reg, &image, with, &wanted, &policies, &opts).await?;
    print_verification_header(&image, identity.insecure_ignore_tlog, &who);
    let mut out = String::new();
    for v in verified {
        if let Some((id, iss)) = &v.identity {
            eprintln!(
                "Certificate subject: {}\nCertificate issuer URL: {}",
                printable(&id.to_string()),
                printable(&iss.to_string())
            );
        }
        out.push_str(&format!(
            "{}\n",
            String::from_utf8(v.envelope.to_json()).expect("JSON is UTF-8")
        ));
    }
    emit(&out, output_file.as_deref())
}

/// `cosign download`.
async fn download(cmd: Cmd) -> Result<(), Error> {
    let Cmd::Download {
        what,
        image,
        predicate_type,
        registry,
    } = cmd
    else {
        unreachable!("run() dispatches Download here")
    };
    let reg = registry.client();
    let what = match what.as_str() {
        "signature" => image::Download::Signature,
        _ => image::Download::Attestation(
            predicate_type
                .map(|t| {
                    sigstore_lite_core::attestation::predicate_type(&t)
                        .map(str::to_string)
                        .map_err(|_| Error::Usage(format!("invalid predicate type: {t}")))
                })
                .transpose()?,
        ),
    };
    for line in image::download(&reg, &image, what).await? {
        println!("{line}");
    }
    Ok(())
}

/// `cosign sign-blob`.
async fn sign_blob(cmd: Cmd) -> Result<(), Error> {
    let Cmd::SignBlob {
        file,
        bundle,
        sign,
        trust,
    } = cmd
    else {
        unreachable!("run() dispatches SignBlob here")
    };
    let n = Narrator {
        verbose: trust.verbose,
    };
    let t = sign_trust(&sign, &trust)?;
    let b = match private_key(&sign).await? {
        Some(k) => blob::sign_blob_with_key(t.as_ref(), &file, &*k, n).await?,
        None => {
            let t =
                t.ok_or_else(|| Error::Usage("give --trust-config or --trusted-root".into()))?;
            let token = crate::keyless::resolve_token(sign.identity_token.as_deref()).await?;
            blob::sign_blob(&t, &file, &token, now(), n).await?
        }
    };
    let json = serde_json::to_vec_pretty(&b).expect("bundle serializes");
    std::fs::write(&bundle, json).map_err(|e| Error::Write {
        path: bundle.display().to_string(),
        reason: e.to_string(),
    })?;
    eprintln!("Wrote bundle to file {}", bundle.display());
    Ok(())
}

/// `cosign verify-blob`.
async fn verify_blob(cmd: Cmd) -> Result<(), Error> {
    let Cmd::VerifyBlob {
        artifact,
        bundle,
        offline: _,
        identity,
        trust,
    } = cmd
    else {
        unreachable!("run() dispatches VerifyBlob here")
    };
    let n = Narrator {
        verbose: trust.verbose,
    };
    let t = verify_trust(&identity, &trust)?;
    match identity.who().await? {
        Who::Policy(p) => {
            let v = blob::verify_blob(&t.material, &artifact, &bundle, &p)?;
            let times: Vec<String> = v
                .integrated_time
                .iter()
                .map(|t| format!("integrated {}", sigstore_lite_core::trust::rfc3339(*t)))
                .chain(
                    v.timestamps
                        .iter()
                        .map(|t| format!("timestamped {}", sigstore_lite_core::trust::rfc3339(*t))),
                )
                .collect();
            n.say(format!(
                "log entry {} ({}): log entry and timestamps verified; certificate chain and SCT verified at those times; identity {} and issuer {} match; signature verified",
                v.log_index,
                times.join(", "),
                v.identity,
                v.issuer
            ));
        }
        Who::Key(k) => {
            let at = blob::verify_blob_with_key(
                &t.material,
                &artifact,
                &bundle,
                &k,
                identity.insecure_ignore_tlog,
            )?;
            n.say(match at {
                Some(t) => format!(
                    "signature verified with the key; logged at {}",
                    sigstore_lite_core::trust::rfc3339(t)
                ),
                None => {
                    "signature verified with the key; the transparency log was not checked".into()
                }
            });
        }
    }
    eprintln!("Verified OK");
    Ok(())
}

/// `cosign generate-key-pair`.
async fn generate_key_pair(cmd: Cmd) -> Result<(), Error> {
    let Cmd::GenerateKeyPair {
        key_ref,
        kms,
        output_key_prefix,
    } = cmd
    else {
        unreachable!("run() dispatches GenerateKeyPair here")
    };
    if let Some(spec) = kms {
        let pub_path = PathBuf::from(format!("{output_key_prefix}.pub"));
        if pub_path.exists() {
            return Err(Error::Usage(format!(
                "{} already exists; not overwriting it",
                pub_path.display()
            )));
        }
        let r = sigstore_lite_signer::KeyRef::parse(&spec)?;
        if r.is_file() {
            return Err(Error::Usage(format!(
                "--kms {spec:?}: give a pkcs11: URI or a <scheme>:// KMS key"
            )));
        }
        let key = tokio::task::spawn_blocking(move || {
            sigstore_lite_signer::generate(&r, sigstore_lite_core::keys::KeyKind::EcdsaP256)
        })
        .await
        .map_err(|e| Error::Key(e.to_string()))??;
        write(&pub_path, key.public_key().to_pem().as_bytes(), false)?;
        eprintln!("Public key written to {}", pub_path.display());
        return Ok(());
    }
    if let Some(spec) = key_ref {
        let r = kube::SecretRef::parse(&spec).unwrap_or_else(|| {
            Err(Error::Usage(format!(
                "{spec:?}: give k8s://<namespace>/<secret>, or no argument for files"
            )))
        })?;
        let pub_path = PathBuf::from(format!("{output_key_prefix}.pub"));
        if pub_path.exists() {
            return Err(Error::Usage(format!(
                "{} already exists; not overwriting it",
                pub_path.display()
            )));
        }
        let client = kube::Client::from_env()?;
        let immutable = client.minor_version().await? >= 21;
        let key = sigstore_lite_core::keys::P256Signer::generate_p256()
            .map_err(|e| Error::Usage(e.to_string()))?;
        let password = keyfile::password(true)?;
        let enc = keyfile::encrypt(&key, &password)?;
        let public = key.public_key().to_pem();
        let data = [
            (kube::KEY.to_string(), enc.into_bytes()),
            (kube::PUB.to_string(), public.clone().into_bytes()),
            (kube::PASSWORD.to_string(), password),
        ]
        .into();
        client.put_secret(&r, &data, immutable).await?;
        eprintln!(
            "Successfully created secret {} in namespace {}",
            r.name, r.namespace
        );
        write(&pub_path, public.as_bytes(), true)?;
        eprintln!("Public key written to {}", pub_path.display());
        return Ok(());
    }
    let (priv_path, pub_path) = (
        PathBuf::from(format!("{output_key_prefix}.key")),
        PathBuf::from(format!("{output_key_prefix}.pub")),
    );
    for p in [&priv_path, &pub_path] {
        if p.exists() {
            return Err(Error::Usage(format!(
                "{} already exists; not overwriting it",
                p.display()
            )));
        }
    }
    let key = sigstore_lite_core::keys::P256Signer::generate_p256()
        .map_err(|e| Error::Usage(e.to_string()))?;
    let enc = keyfile::encrypt(&key, &keyfile::password(true)?)?;
    write(&priv_path, enc.as_bytes(), true)?;
    write(&pub_path, key.public_key().to_pem().as_bytes(), false)?;
    eprintln!(
        "Private key written to {}\nPublic key written to {}",
        priv_path.display(),
        pub_path.display()
    );
    Ok(())
}

/// `cosign triangulate`.
async fn triangulate(cmd: Cmd) -> Result<(), Error> {
    let Cmd::Triangulate { image, registry } = cmd else {
        unreachable!("run() dispatches Triangulate here")
    };
    println!("{}", image::triangulate(&registry.client(), &image).await?);
    Ok(())
}

/// `cosign tree`.
async fn tree(cmd: Cmd) -> Result<(), Error> {
    let Cmd::Tree { image, registry } = cmd else {
        unreachable!("run() dispatches Tree here")
    };
    for line in image::tree(&registry.client(), &image).await? {
        println!("{line}");
    }
    Ok(())
}

/// Parses the command line, runs the command, and exits with cosign's exit code on failure.
pub fn main() {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    if let Err(e) = rt.block_on(run(cli.cmd)) {
        eprintln!("Error: {}", printable(&e.to_string()));
        std::process::exit(e.exit_code());
    }
}
