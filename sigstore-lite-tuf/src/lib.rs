//! sigstore-lite-tuf: a TUF 1.0 repository (specification 1.0.x, consistent snapshots) whose
//! targets are `trusted_root.json` and `signing_config.v0.2.json`, the way cosign
//! (`initialize --mirror --root`), sigstore-python (`--instance`), sigstore-js
//! (`tufMirrorURL`), sigstore-go and policy-controller fetch a Sigstore instance's trust root.
//!
//! Metadata is written to the specification here ([`metadata`], [`canonical`]) and checked by
//! python-tuf, the reference client, in the tests; root and targets keys are offline (encrypted
//! files, [`keys`]), timestamp and snapshot use an online key. [`repo`] holds every change,
//! [`archive`] the air-gap export, [`serve`] the HTTP shell and [`cli`] `sigstore-lite tuf`.

pub mod archive;
pub mod canonical;
pub mod cli;
mod files;
pub mod keys;
pub mod metadata;
pub mod repo;
pub mod serve;

use std::path::PathBuf;

pub use repo::{Repository, State, SIGNING_CONFIG_TARGET, TRUSTED_ROOT_TARGET};

/// Why a repository command did not happen. One sentence each; nothing was changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("{0}")]
    Metadata(#[from] metadata::MetadataError),
    #[error("{0}")]
    Key(#[from] sigstore_lite_signer::Error),
    #[error("cannot {op} {path}: {why}")]
    Io {
        op: &'static str,
        path: PathBuf,
        why: String,
    },
    #[error(
        "{0} holds no TUF repository (no 1.root.json); create one with `sigstore-lite tuf init`"
    )]
    NoRepository(PathBuf),
    #[error("{0} already holds a TUF repository or its keys; refusing to replace them")]
    Exists(PathBuf),
    #[error("{path} is not a {what}: {why}")]
    BadInput {
        path: PathBuf,
        what: &'static str,
        why: String,
    },
    #[error("the passphrase is wrong for the {role} key {file} (SIGSTORE_LITE_TUF_PASSWORD)")]
    WrongPassphrase { role: String, file: PathBuf },
    #[error("the {role} role needs {threshold} of its keys to sign and {found} are in {keys}")]
    MissingKeys {
        role: String,
        threshold: u32,
        found: usize,
        keys: PathBuf,
    },
    #[error(
        "no passphrase for the offline keys: set SIGSTORE_LITE_TUF_PASSWORD (empty is allowed)"
    )]
    NoPassphrase,
    #[error("another command holds the repository {0} for more than 30 s")]
    Locked(PathBuf),
    #[error("{0}")]
    Usage(String),
}
