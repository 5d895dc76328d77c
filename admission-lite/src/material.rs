//! What the webhook's serving and its manifests both read: the trusted root, and the
//! self-signed serving certificate.

use std::path::Path;

use sigstore_lite_core::trust::TrustedRoot;
use sigstore_lite_core::verify::TrustMaterial;

use crate::Error;

/// Reads a trusted_root.json.
pub fn load_trust(path: &Path) -> Result<TrustMaterial, Error> {
    let bytes = std::fs::read(path)
        .map_err(|e| Error::TrustedRoot(format!("{} cannot be read: {e}", path.display())))?;
    let tr: TrustedRoot = serde_json::from_slice(&bytes).map_err(|e| {
        Error::TrustedRoot(format!("{} is not a trusted root: {e}", path.display()))
    })?;
    TrustMaterial::from_trusted_root(&tr)
        .map_err(|e| Error::TrustedRoot(format!("{}: {e}", path.display())))
}

pub use sigstore_lite_server::tls::{CA_CERT, TLS_CERT, TLS_KEY};

/// The files of a self-signed serving setup.
pub type SelfSigned = sigstore_lite_server::tls::LocalCa;

/// Makes (once) a CA and a serving certificate for `sans` in `dir`; reuses them afterwards.
pub fn self_signed(dir: &Path, sans: &[String]) -> Result<SelfSigned, Error> {
    sigstore_lite_server::tls::local_ca(dir, sans).map_err(Error::Tls)
}
