//! Keys in PKCS#8 PEM files, read into this process: what the stack did before tokens.

use std::path::Path;
use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, KeyPair};
use sigstore_lite_core::keys::{
    pem_encode, pem_parse_all, spki_from_raw, Ed25519Signer, KeyKind, P256Signer, PublicKey,
    SignError, Signer,
};

use crate::Error;

/// ECDSA P-384 (SHA-384), which the core has no in-process signer for: a Fulcio intermediate may
/// be one.
struct P384Key {
    pair: EcdsaKeyPair,
    public: PublicKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for P384Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("P384Key")
            .field("public", &self.public)
            .finish()
    }
}

impl Signer for P384Key {
    fn public_key(&self) -> &PublicKey {
        &self.public
    }
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, SignError> {
        self.pair
            .sign(&self.rng, msg)
            .map(|s| s.as_ref().to_vec())
            .map_err(|_| SignError::Unavailable("ECDSA P-384 signing failed".into()))
    }
}

/// Reads a `PRIVATE KEY` PEM: ECDSA P-256, P-384 or Ed25519.
pub(crate) fn open(path: &Path) -> Result<Arc<dyn Signer>, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::File {
        path: path.display().to_string(),
        why: e.to_string(),
    })?;
    from_pem(&text).map_err(|why| Error::BadKeyFile {
        path: path.display().to_string(),
        why,
    })
}

/// A `PRIVATE KEY` (PKCS#8) PEM of a supported kind.
pub fn from_pem(text: &str) -> Result<Arc<dyn Signer>, String> {
    let blocks = pem_parse_all(text).map_err(|e| e.to_string())?;
    let [block] = &blocks[..] else {
        return Err(format!("{} PEM blocks, not one", blocks.len()));
    };
    if block.label != "PRIVATE KEY" {
        return Err(format!("a {} block, not PRIVATE KEY (PKCS#8)", block.label));
    }
    if let Ok(k) = P256Signer::from_pkcs8_der(&block.der) {
        return Ok(Arc::new(k));
    }
    if let Ok(k) = Ed25519Signer::from_pkcs8_der(&block.der) {
        return Ok(Arc::new(k));
    }
    if let Ok(pair) = EcdsaKeyPair::from_pkcs8(&sig::ECDSA_P384_SHA384_ASN1_SIGNING, &block.der) {
        let public = spki_from_raw(KeyKind::EcdsaP384, pair.public_key().as_ref())
            .map_err(|e| e.to_string())?;
        return Ok(Arc::new(P384Key {
            pair,
            public,
            rng: SystemRandom::new(),
        }));
    }
    Err("not an ECDSA P-256, P-384 or Ed25519 PKCS#8 key".into())
}

/// A new key of `kind` as PKCS#8 PEM.
pub fn generate_pem(kind: KeyKind) -> Result<String, String> {
    let der = match kind {
        KeyKind::EcdsaP256 => {
            return Ok(P256Signer::generate_p256()
                .map_err(|e| e.to_string())?
                .to_pkcs8_pem())
        }
        KeyKind::Ed25519 => {
            return Ok(Ed25519Signer::generate()
                .map_err(|e| e.to_string())?
                .to_pkcs8_pem())
        }
        KeyKind::EcdsaP384 => EcdsaKeyPair::generate(&sig::ECDSA_P384_SHA384_ASN1_SIGNING)
            .and_then(|p| p.to_pkcs8v1())
            .map_err(|_| "key generation failed".to_string())?,
        _ => return Err("only ECDSA P-256, P-384 and Ed25519 keys are made here".into()),
    };
    Ok(pem_encode("PRIVATE KEY", der.as_ref()))
}

/// Writes a new key to `path` (0600), refusing to replace one.
pub(crate) fn generate(path: &Path, kind: KeyKind) -> Result<Arc<dyn Signer>, Error> {
    let bad = |why: String| Error::File {
        path: path.display().to_string(),
        why,
    };
    let pem = generate_pem(kind).map_err(bad)?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path).map_err(|e| bad(e.to_string()))?;
    std::io::Write::write_all(&mut f, pem.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| bad(e.to_string()))?;
    open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_roundtrips_and_signs_as_its_scheme() {
        let dir = tempfile::tempdir().unwrap();
        for (i, kind) in [KeyKind::EcdsaP256, KeyKind::EcdsaP384, KeyKind::Ed25519]
            .into_iter()
            .enumerate()
        {
            let path = dir.path().join(format!("k{i}.pem"));
            let made = generate(&path, kind).unwrap();
            assert_eq!(made.public_key().kind(), kind);
            let again = open(&path).unwrap();
            assert_eq!(again.public_key(), made.public_key());
            let s = again.try_sign(b"msg").unwrap();
            made.public_key().verify_message(b"msg", &s).unwrap();
            // A second generate never replaces a key.
            assert!(generate(&path, kind).is_err());
        }
        std::fs::write(
            dir.path().join("cert.pem"),
            "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let e = open(&dir.path().join("cert.pem")).unwrap_err().to_string();
        assert!(e.contains("not PRIVATE KEY"), "{e}");
        let e = open(&dir.path().join("none.pem")).unwrap_err().to_string();
        assert!(e.contains("cannot read the key file"), "{e}");
    }
}
