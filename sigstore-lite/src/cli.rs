//! The launcher's command line (in the library so tests can check deployment files against it).

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "sigstore-lite",
    version,
    about = "Keyless signing infrastructure in miniature: the whole stack in one command"
)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once at start
pub enum Cmd {
    /// Start mock-oidc, fulcio-lite, rekor-lite (v1 and v2) and tsa-lite, write the trust files,
    /// and serve until Ctrl-C.
    Up(UpArgs),
    /// Write trusted_root.json, signing_config.json and trust_config.json for services that run
    /// separately (docker-compose), fetching their keys over HTTP.
    TrustFiles {
        #[arg(long, default_value = "http://localhost:8080")]
        oidc_url: String,
        #[arg(long, default_value = "http://localhost:5555")]
        fulcio_url: String,
        #[arg(long, default_value = "http://localhost:3000")]
        rekor_url: String,
        #[arg(long, default_value = "http://localhost:3001")]
        rekor_v2_url: String,
        #[arg(long, default_value = "http://localhost:3002")]
        tsa_url: String,
        /// The Rekor API clients sign through: 2 (Rekor v2 with RFC 3161 timestamps) or 1.
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=2))]
        rekor_api: u8,
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
    /// Serve the log explorer for any Rekor v1 and/or v2 URL.
    Explore {
        #[arg(long, default_value = "127.0.0.1:3003")]
        addr: std::net::SocketAddr,
        /// A Rekor v1 base URL (search, entries, proofs).
        #[arg(long, value_name = "URL")]
        rekor: Option<String>,
        /// A Rekor v2 (tlog-tiles) base URL (checkpoint, entries by index).
        #[arg(long, value_name = "URL")]
        rekor_v2: Option<String>,
    },
    /// Walk through the whole loop against the running stack, step by step.
    Tour(crate::tour::TourArgs),
    /// A C2SP witness: cosign the checkpoints of the logs it witnesses.
    #[command(subcommand)]
    Witness(WitnessCmd),
    /// A TUF repository handing out trusted_root.json and signing_config.v0.2.json.
    #[command(subcommand)]
    Tuf(sigstore_lite_tuf::cli::TufCmd),
    /// Write shell completions for every tool (sigstore-lite, fulcio-lite, rekor-lite, tsa-lite,
    /// mock-oidc, cosign-keyless, sbom-lite, admission-lite).
    Completions {
        shell: clap_complete::Shell,
        #[arg(long, default_value = "completions")]
        out: PathBuf,
    },
    /// Write a man page for every tool and subcommand.
    Man {
        #[arg(long, default_value = "man")]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum WitnessCmd {
    /// Serve POST /add-checkpoint (C2SP tlog-witness) for the logs given.
    Serve {
        #[arg(long, default_value = "127.0.0.1:3005")]
        addr: std::net::SocketAddr,
        /// Its key (made on first start) and the size of each log it cosigned.
        #[arg(long)]
        state_dir: PathBuf,
        /// Its name in cosignatures (e.g. witness.example.com).
        #[arg(long)]
        name: String,
        /// A log to witness, as its C2SP verifier key (origin+hash+base64 key); repeatable.
        #[arg(long = "log", value_name = "VKEY", required = true)]
        logs: Vec<String>,
    },
    /// Print the witness's verifier key (for a log's witness policy, or a verifier's).
    Vkey {
        #[arg(long)]
        state_dir: PathBuf,
    },
}

/// The options of `up`.
#[derive(Args)]
pub struct UpArgs {
    #[arg(long, default_value = "./sigstore-lite-data")]
    pub data_dir: PathBuf,
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    #[arg(long, default_value_t = 5555)]
    pub fulcio_port: u16,
    #[arg(long, default_value_t = 3000)]
    pub rekor_port: u16,
    #[arg(long, default_value_t = 3001)]
    pub rekor_v2_port: u16,
    #[arg(long, default_value_t = 3002)]
    pub tsa_port: u16,
    /// The log explorer (a web page over Rekor v1 and v2).
    #[arg(long, default_value_t = 3003)]
    pub explorer_port: u16,
    #[arg(long, default_value_t = 8080)]
    pub oidc_port: u16,
    /// The TUF repository (DATA_DIR/tuf, made on first start) that hands out the trust root.
    #[arg(long, default_value_t = 3004)]
    pub tuf_port: u16,
    /// How long TUF metadata made on first start is valid, ROLE=DURATION (30s, 12h, 7d, 26w);
    /// repeatable (root, targets, snapshot, timestamp).
    #[arg(long = "tuf-expires", value_name = "ROLE=DURATION")]
    pub tuf_expires: Vec<String>,
    /// The Rekor API clients sign through: 2 (Rekor v2 with RFC 3161 timestamps) or 1.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=2))]
    pub rekor_api: u8,
    /// Also trust a real OIDC issuer: URL, or URL=TYPE (email, github-workflow, ci-provider).
    #[arg(long = "issuer", value_name = "URL[=TYPE]")]
    pub issuers: Vec<String>,
    /// Host name clients use in URLs (default: --host).
    #[arg(long)]
    pub public_host: Option<String>,
    /// Serve every service over HTTPS with a local CA made in DATA_DIR/tls (clients trust it
    /// with SSL_CERT_FILE, sigstore-python with REQUESTS_CA_BUNDLE).
    #[arg(long)]
    pub tls: bool,
    /// Keep both logs in PostgreSQL (postgres://USER@HOST:PORT/DB): Rekor v1 in schema
    /// rekor_v1, Rekor v2 in rekor_v2, created if missing; their keys stay in --data-dir.
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// A whole Fulcio identity config (real Fulcio's YAML or JSON, unchanged: oidc-issuers,
    /// meta-issuers, ci-issuer-metadata); the mock issuer and each --issuer are added to it.
    #[arg(long, value_name = "FILE")]
    pub fulcio_config: Option<PathBuf>,
    /// A throwaway stack for a test: a fresh temporary data directory (removed at exit) and
    /// every port chosen free on the host; keys are made anew.
    #[arg(long)]
    pub ephemeral: bool,
    /// Once every service answers, write (atomically) a JSON file with every URL, the trust
    /// files, a token file and the PID, under setup-sigstore-env's names.
    #[arg(long, value_name = "FILE")]
    pub ready_file: Option<PathBuf>,
    /// Print the same values as shell `export` lines once ready.
    #[arg(long)]
    pub print_env: bool,
    /// Append the same values as `name=value` lines (a GitHub Actions step's $GITHUB_OUTPUT).
    #[arg(long, value_name = "FILE")]
    pub github_output: Option<PathBuf>,
    /// Stop (and clean up) when the process that started this one exits.
    #[arg(long)]
    pub exit_with_parent: bool,
    /// Do not start fulcio-lite (and leave the CA and CT log out of the trust files).
    #[arg(long)]
    pub no_fulcio: bool,
    /// Do not start Rekor v1.
    #[arg(long)]
    pub no_rekor: bool,
    /// Do not start Rekor v2 (clients then sign through Rekor v1).
    #[arg(long)]
    pub no_rekor_v2: bool,
    /// Do not start tsa-lite (clients then sign through Rekor v1, which needs none).
    #[arg(long)]
    pub no_tsa: bool,
    #[command(flatten)]
    pub keys: KeyArgs,
    #[command(flatten)]
    pub log: sigstore_lite_server::LogArgs,
}

/// Where each service's signing key lives. Each takes a PKCS#8 file, a PKCS#11 URI
/// (pkcs11:token=T;object=O?module-path=M&pin-value=P) or a KMS plugin's <scheme>://KEY; a key
/// named in a token or KMS is made there (non-extractable) on first start if missing. Default:
/// PEM files in --data-dir.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct KeyArgs {
    /// The Fulcio CA key that signs leaf certificates (its certificate and root are made on
    /// first start; the root key is made in memory and forgotten unless --fulcio-root-key).
    #[arg(long, value_parser = sigstore_lite_signer::KeyRefParser, value_name = "REF")]
    pub fulcio_key: Option<sigstore_lite_signer::KeyRef>,
    /// The key of the Fulcio root certificate made on first start.
    #[arg(long, value_parser = sigstore_lite_signer::KeyRefParser, value_name = "REF", requires = "fulcio_key")]
    pub fulcio_root_key: Option<sigstore_lite_signer::KeyRef>,
    /// The built-in CT log's key (ECDSA P-256).
    #[arg(long, value_parser = sigstore_lite_signer::KeyRefParser, value_name = "REF")]
    pub ct_key: Option<sigstore_lite_signer::KeyRef>,
    /// The Rekor v1 log key (ECDSA P-256).
    #[arg(long, value_parser = sigstore_lite_signer::KeyRefParser, value_name = "REF")]
    pub rekor_key: Option<sigstore_lite_signer::KeyRef>,
    /// The Rekor v2 log key (Ed25519).
    #[arg(long, value_parser = sigstore_lite_signer::KeyRefParser, value_name = "REF")]
    pub rekor_v2_key: Option<sigstore_lite_signer::KeyRef>,
    /// The TSA's timestamping key (ECDSA P-256).
    #[arg(long, value_parser = sigstore_lite_signer::KeyRefParser, value_name = "REF")]
    pub tsa_key: Option<sigstore_lite_signer::KeyRef>,
    /// The TUF repository's root key, made there on first start (default: an encrypted file
    /// in DATA_DIR/tuf-keys). Kept as given in tuf-keys/config.json: prefer pin-source= to
    /// pin-value= in it.
    #[arg(long, value_parser = key_ref_text, value_name = "REF")]
    pub tuf_root_key: Option<String>,
    /// The TUF repository's targets key, made there on first start.
    #[arg(long, value_parser = key_ref_text, value_name = "REF")]
    pub tuf_targets_key: Option<String>,
    /// The TUF repository's online key (timestamp and snapshot), made there on first start.
    #[arg(long, value_parser = key_ref_text, value_name = "REF")]
    pub tuf_online_key: Option<String>,
}

/// A key reference kept as text (the TUF keys directory records it), checked as
/// `KeyRefParser` checks it.
fn key_ref_text(s: &str) -> Result<String, String> {
    sigstore_lite_signer::KeyRef::parse(s)
        .map(|_| s.to_string())
        .map_err(|e| e.to_string())
}

impl From<UpArgs> for crate::Options {
    fn from(a: UpArgs) -> crate::Options {
        crate::Options {
            data_dir: a.data_dir,
            host: a.host,
            fulcio_port: a.fulcio_port,
            rekor_port: a.rekor_port,
            rekor_v2_port: a.rekor_v2_port,
            tsa_port: a.tsa_port,
            explorer_port: a.explorer_port,
            oidc_port: a.oidc_port,
            tuf_port: a.tuf_port,
            tuf_expires: a.tuf_expires,
            rekor_api: a.rekor_api,
            issuers: a.issuers,
            public_host: a.public_host,
            tls: a.tls,
            store: a.store,
            fulcio_config: a.fulcio_config,
            keys: a.keys,
            without: crate::Without {
                fulcio: a.no_fulcio,
                rekor: a.no_rekor,
                rekor_v2: a.no_rekor_v2,
                tsa: a.no_tsa,
            },
        }
    }
}
