//! Where the stack's signing keys live. Every key that signs (Fulcio's CA and CT log, the TSA,
//! both Rekor logs, cosign-keyless) is opened here from a reference users already write for
//! cosign and comes back as the core's [`Signer`]:
//!
//! - a path: a PKCS#8 PEM file (ECDSA P-256 or P-384, or Ed25519);
//! - `pkcs11:token=...;object=...[;id=...]?module-path=...&pin-value=...` (RFC 7512; or
//!   `pin-source=FILE`, and cosign's `COSIGN_PKCS11_MODULE_PATH` / `COSIGN_PKCS11_PIN`): a key in
//!   a PKCS#11 token, which never leaves it;
//! - `<scheme>://<key>`: a key behind cosign's KMS plugin protocol, served by the executable
//!   `sigstore-kms-<scheme>` on `PATH` (`awskms://`, `gcpkms://`... wherever a plugin is installed).
//!
//! The public key (and so a log ID, a C2SP key hash or an SCT log ID) always comes from the
//! backend itself, never from a file beside it.

use std::sync::Arc;

pub use sigstore_lite_core::keys::{KeyKind, PublicKey, SignError, Signer};

mod certs;
pub mod encrypted;
mod file;
mod pkcs11;
mod plugin;
#[cfg(feature = "test-token")]
pub mod softhsm;
mod uri;

pub use certs::CertSigner;
pub use file::{from_pem, generate_pem};
pub use uri::{KeyRef, KeyRefParser, Pkcs11Uri};

/// Why a key could not be opened or made. Each message is one sentence naming the key (never
/// its PIN).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("{reference:?} is not a key reference: {why}")]
    BadReference { reference: String, why: String },
    #[error("cannot read the key file {path}: {why}")]
    File { path: String, why: String },
    #[error("{path} is not a usable private key: {why}")]
    BadKeyFile { path: String, why: String },
    #[error("the PKCS#11 module {path} does not load: {why}")]
    ModuleLoad { path: String, why: String },
    #[error(
        "{0}: no PKCS#11 module is named; add ?module-path=... or set COSIGN_PKCS11_MODULE_PATH"
    )]
    NoModule(String),
    #[error("{0}: no token in the PKCS#11 module matches")]
    NoToken(String),
    #[error("{0}: no PIN is given; add pin-value= or pin-source=, or set COSIGN_PKCS11_PIN")]
    NoPin(String),
    #[error("{0}: the token refused the PIN")]
    WrongPin(String),
    #[error("{key}: the PIN cannot be read from {path}: {why}")]
    PinSource {
        key: String,
        path: String,
        why: String,
    },
    #[error("{0}: no such private key in the token")]
    NoObject(String),
    #[error("{0}: more than one key in the token matches; add id= or a distinct object=")]
    Ambiguous(String),
    #[error("{0}: a key with this label or id is already in the token")]
    Exists(String),
    #[error("{key}: {why}")]
    Unsupported { key: String, why: String },
    #[error("{key}: the token failed ({op}: {why})")]
    Token {
        key: String,
        op: &'static str,
        why: String,
    },
    #[error("{key}: the KMS plugin {exe} {why}")]
    Plugin {
        key: String,
        exe: String,
        why: String,
    },
}

/// Key kinds a backend can make: what the stack's services sign with.
pub fn kind_name(kind: KeyKind) -> &'static str {
    kind.name()
}

/// Opens the key `reference` names. A file must exist; a token object must exist and be a
/// private key of a supported kind; a plugin must answer its public key.
pub fn open(reference: &KeyRef) -> Result<Arc<dyn Signer>, Error> {
    match reference {
        KeyRef::File(path) => file::open(path),
        KeyRef::Pkcs11(uri) => Ok(Arc::new(pkcs11::TokenKey::open(uri)?)),
        KeyRef::Plugin { scheme, resource } => {
            Ok(Arc::new(plugin::PluginKey::open(scheme, resource)?))
        }
    }
}

/// The public key `reference` names, for verifying: a file holding a `PUBLIC KEY` (or a
/// `PRIVATE KEY`) PEM, the token's public key object, or the plugin's `publicKey` answer.
pub fn public_key(reference: &KeyRef) -> Result<PublicKey, Error> {
    match reference {
        KeyRef::File(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| Error::File {
                path: path.display().to_string(),
                why: e.to_string(),
            })?;
            match PublicKey::from_pem(&text) {
                Ok(k) => Ok(k),
                Err(pub_err) => file::from_pem(&text)
                    .map(|s| s.public_key().clone())
                    .map_err(|_| Error::BadKeyFile {
                        path: path.display().to_string(),
                        why: format!("not a public key ({pub_err})"),
                    }),
            }
        }
        KeyRef::Pkcs11(uri) => pkcs11::TokenKey::public_only(uri),
        KeyRef::Plugin { scheme, resource } => {
            plugin::PluginKey::open(scheme, resource).map(|k| k.public_key().clone())
        }
    }
}

/// Makes a new key of `kind` where `reference` points: a PKCS#8 file (0600, refused if one is
/// there), a non-extractable, sensitive key pair in the token (refused if the label or id is
/// taken), or the plugin's `createKey` (its default algorithm for ECDSA P-256, as cosign asks;
/// `ed25519` or `ecdsa-p384-sha384` otherwise). Returns it opened.
pub fn generate(reference: &KeyRef, kind: KeyKind) -> Result<Arc<dyn Signer>, Error> {
    match reference {
        KeyRef::File(path) => file::generate(path, kind),
        KeyRef::Pkcs11(uri) => Ok(Arc::new(pkcs11::TokenKey::generate(uri, kind)?)),
        KeyRef::Plugin { scheme, resource } => {
            Ok(Arc::new(plugin::PluginKey::create(scheme, resource, kind)?))
        }
    }
}

/// Opens the key, making it first (as [`generate`]) when `create` is set and it is missing.
/// A file or token object that is missing without `create` is an error, so that a typo in a
/// label never silently makes a new key that clients do not trust.
pub fn open_or_generate(
    reference: &KeyRef,
    kind: KeyKind,
    create: bool,
) -> Result<Arc<dyn Signer>, Error> {
    match open(reference) {
        Err(Error::NoObject(_)) if create => generate(reference, kind),
        // The plugin protocol cannot ask whether a key exists: a key that cannot be opened is
        // made; if that fails too (it exists but the KMS is down), the first error stands.
        Err(e @ Error::Plugin { .. }) if create && matches!(reference, KeyRef::Plugin { .. }) => {
            generate(reference, kind).map_err(|_| e)
        }
        Err(Error::File { .. }) if create && !file_exists(reference) => generate(reference, kind),
        other => other,
    }
}

fn file_exists(r: &KeyRef) -> bool {
    matches!(r, KeyRef::File(p) if p.exists())
}

/// Signs `msg` and checks the answer against the key's public half: for backends out of
/// process, a wrong answer is caught before anyone relies on it.
pub(crate) fn checked(public: &PublicKey, msg: &[u8], sig: Vec<u8>) -> Result<Vec<u8>, SignError> {
    public.verify_message(msg, &sig).map_err(|_| {
        SignError::BadSignature("it does not verify with the key's public half".into())
    })?;
    Ok(sig)
}
