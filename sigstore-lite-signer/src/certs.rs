//! A [`Signer`] as rcgen signs certificates with: Fulcio's and the TSA's CA keys may live in a
//! token, and the certificates they sign are made the same way as with a key in a file.

use std::sync::{Arc, Mutex};

use rcgen::{PublicKeyData, SignatureAlgorithm, SigningKey};
use sigstore_lite_core::keys::{KeyKind, SignError, Signer};

/// `signer` for rcgen. The last signing failure is kept so that a server can answer with it.
pub struct CertSigner {
    signer: Arc<dyn Signer>,
    alg: &'static SignatureAlgorithm,
    last_error: Mutex<Option<SignError>>,
}

impl CertSigner {
    /// Refuses key kinds certificates are not signed with here.
    pub fn new(signer: Arc<dyn Signer>) -> Result<CertSigner, String> {
        let alg: &'static SignatureAlgorithm = match signer.public_key().kind() {
            KeyKind::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            KeyKind::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            KeyKind::Ed25519 => &rcgen::PKCS_ED25519,
            other => {
                return Err(format!(
                    "a {} key does not sign certificates here",
                    other.name()
                ))
            }
        };
        Ok(CertSigner {
            signer,
            alg,
            last_error: Mutex::new(None),
        })
    }

    pub fn signer(&self) -> &Arc<dyn Signer> {
        &self.signer
    }

    /// Why the last signature failed (taken: asked once per failure).
    pub fn take_error(&self) -> Option<SignError> {
        self.last_error.lock().expect("lock").take()
    }
}

impl PublicKeyData for CertSigner {
    fn der_bytes(&self) -> &[u8] {
        self.signer.public_key().raw()
    }
    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.alg
    }
}

impl SigningKey for CertSigner {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        self.signer.try_sign(msg).map_err(|e| {
            *self.last_error.lock().expect("lock") = Some(e);
            rcgen::Error::RemoteKeyError
        })
    }
}
