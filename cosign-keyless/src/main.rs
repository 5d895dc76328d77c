use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Args, Parser, Subcommand};
use cosign_keyless::keyless::Narrator;
use cosign_keyless::oci::Registry;
use cosign_keyless::trust::Trust;
use cosign_keyless::{blob, image, Error};
use sigstore_lite_core::verify::{Matcher, Policy};

#[derive(Parser)]
#[command(
    name = "cosign-keyless",
    version,
    about = "Keyless signing and verification of blobs and OCI images, cosign-compatible"
)]
struct Cli {
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
    #[arg(long, required_unless_present = "certificate_identity_regexp")]
    certificate_identity: Option<String>,
    /// A regexp the identity must match entirely.
    #[arg(long, conflicts_with = "certificate_identity")]
    certificate_identity_regexp: Option<String>,
    /// The exact OIDC issuer the certificate must name.
    #[arg(long, required_unless_present = "certificate_oidc_issuer_regexp")]
    certificate_oidc_issuer: Option<String>,
    /// A regexp the issuer must match entirely.
    #[arg(long, conflicts_with = "certificate_oidc_issuer")]
    certificate_oidc_issuer_regexp: Option<String>,
}

impl IdentityArgs {
    fn policy(&self) -> Result<Policy, Error> {
        let m = |exact: &Option<String>, re: &Option<String>, what: &str| match (exact, re) {
            (Some(e), _) => Ok(Matcher::exact(e)),
            (None, Some(r)) => Matcher::regex(r)
                .map_err(|e| Error::Usage(format!("the {what} regexp is invalid: {e}"))),
            (None, None) => Err(Error::Usage(format!("a certificate {what} is required"))),
        };
        Ok(Policy {
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
        })
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Sign an image keylessly and attach the signature (sha256-<digest>.sig).
    Sign {
        image: String,
        /// Also write the Sigstore bundle (v0.3) of the signature here.
        #[arg(long)]
        bundle: Option<PathBuf>,
        #[arg(long)]
        identity_token: Option<String>,
        /// Use plain HTTP for this registry (loopback registries always use it).
        #[arg(long)]
        allow_insecure_registry: bool,
        /// Accepted for cosign compatibility (no prompt is ever shown).
        #[arg(short, long)]
        yes: bool,
        #[command(flatten)]
        trust: TrustArgs,
    },
    /// Verify that an image has a signature by the given identity and issuer.
    Verify {
        image: String,
        #[command(flatten)]
        identity: IdentityArgs,
        /// Use only the signature's bundle annotation; never ask Rekor.
        #[arg(long)]
        offline: bool,
        #[arg(long)]
        allow_insecure_registry: bool,
        #[command(flatten)]
        trust: TrustArgs,
    },
    /// Print where the signatures of an image are stored.
    Triangulate {
        image: String,
        #[arg(long)]
        allow_insecure_registry: bool,
    },
    /// List what is attached to an image.
    Tree {
        image: String,
        #[arg(long)]
        allow_insecure_registry: bool,
    },
    /// Sign a file keylessly and write a Sigstore bundle.
    SignBlob {
        file: PathBuf,
        /// Where to write the bundle (v0.3).
        #[arg(long)]
        bundle: PathBuf,
        /// OIDC identity token (default: $SIGSTORE_ID_TOKEN, then GitHub Actions' ambient token).
        #[arg(long)]
        identity_token: Option<String>,
        /// Accepted for cosign compatibility (no prompt is ever shown).
        #[arg(short, long)]
        yes: bool,
        #[command(flatten)]
        trust: TrustArgs,
    },
    /// Verify a file (or sha256:<hex>) against a Sigstore bundle, by identity and issuer.
    VerifyBlob {
        /// FILE or sha256:<hex>.
        artifact: String,
        #[arg(long)]
        bundle: PathBuf,
        #[command(flatten)]
        identity: IdentityArgs,
        #[command(flatten)]
        trust: TrustArgs,
    },
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
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

async fn run(cmd: Cmd) -> Result<(), Error> {
    match cmd {
        Cmd::Sign {
            image,
            bundle,
            identity_token,
            allow_insecure_registry,
            yes: _,
            trust,
        } => {
            let n = Narrator {
                verbose: trust.verbose,
            };
            let t = load(&trust)?;
            let token = cosign_keyless::keyless::resolve_token(identity_token.as_deref()).await?;
            let reg = Registry::new(allow_insecure_registry);
            let (digest, b) = image::sign(&t, &reg, &image, &token, now(), n).await?;
            if let Some(path) = bundle {
                let json = serde_json::to_vec_pretty(&b).expect("bundle serializes");
                std::fs::write(&path, json).map_err(|e| Error::Write {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?;
            }
            eprintln!("Pushing signature to: {}", image::signature_tag(&digest));
            Ok(())
        }
        Cmd::Verify {
            image,
            identity,
            offline,
            allow_insecure_registry,
            trust,
        } => {
            let n = Narrator {
                verbose: trust.verbose,
            };
            let t = load(&trust)?;
            let reg = Registry::new(allow_insecure_registry);
            let opts = image::VerifyOptions {
                offline,
                now: now(),
                narrator: n,
            };
            let payloads = image::verify(&t, &reg, &image, &identity.policy()?, &opts).await?;
            eprintln!("\nVerification for {image} --\nThe following checks were performed on each of these signatures:\n  - The cosign claims were validated\n  - Existence of the claims in the transparency log was verified offline\n  - The code-signing certificate was verified using trusted certificate authority certificates");
            println!("\n{}", serde_json::to_string(&payloads).expect("json"));
            Ok(())
        }
        Cmd::Triangulate {
            image,
            allow_insecure_registry,
        } => {
            println!(
                "{}",
                image::triangulate(&Registry::new(allow_insecure_registry), &image).await?
            );
            Ok(())
        }
        Cmd::Tree {
            image,
            allow_insecure_registry,
        } => {
            for line in image::tree(&Registry::new(allow_insecure_registry), &image).await? {
                println!("{line}");
            }
            Ok(())
        }
        Cmd::SignBlob {
            file,
            bundle,
            identity_token,
            yes: _,
            trust,
        } => {
            let n = Narrator {
                verbose: trust.verbose,
            };
            let t = load(&trust)?;
            let token = cosign_keyless::keyless::resolve_token(identity_token.as_deref()).await?;
            let b = blob::sign_blob(&t, &file, &token, now(), n).await?;
            let json = serde_json::to_vec_pretty(&b).expect("bundle serializes");
            std::fs::write(&bundle, json).map_err(|e| Error::Write {
                path: bundle.display().to_string(),
                reason: e.to_string(),
            })?;
            eprintln!("Wrote bundle to file {}", bundle.display());
            Ok(())
        }
        Cmd::VerifyBlob {
            artifact,
            bundle,
            identity,
            trust,
        } => {
            let n = Narrator {
                verbose: trust.verbose,
            };
            let t = load(&trust)?;
            let v = blob::verify_blob(&t.material, &artifact, &bundle, &identity.policy()?)?;
            n.say(format!(
                "log entry {} integrated {}: SET/inclusion proof verified; certificate chain and SCT verified at that time; identity {} and issuer {} match; signature verified",
                v.log_index,
                sigstore_lite_core::trust::rfc3339(v.integrated_time),
                v.identity,
                v.issuer
            ));
            eprintln!("Verified OK");
            Ok(())
        }
    }
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli.cmd).await {
        eprintln!("Error: {e}");
        std::process::exit(e.exit_code());
    }
}
