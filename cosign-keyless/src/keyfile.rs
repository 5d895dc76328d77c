//! cosign's key files: `cosign.pub` (PUBLIC KEY PEM) and `cosign.key`, an `ENCRYPTED SIGSTORE
//! PRIVATE KEY` PEM (its format lives in `sigstore_lite_signer::encrypted`), and the password
//! cosign asks for.

use sigstore_lite_core::keys::P256Signer;
use sigstore_lite_signer::encrypted::{self, EncryptedKeyError};

use crate::error::Error;

/// Encrypts a P-256 key with `password` (scrypt N=2^15, r=8, p=1, or 2^10 for an empty one).
pub fn encrypt(key: &P256Signer, password: &[u8]) -> Result<String, Error> {
    Ok(encrypted::encrypt(key.pkcs8_der(), password))
}

/// Decrypts a `cosign.key`.
pub fn decrypt(pem: &str, password: &[u8]) -> Result<P256Signer, Error> {
    let der = encrypted::decrypt(pem, password).map_err(|e| match e {
        EncryptedKeyError::NotACosignKey(_) | EncryptedKeyError::WrongPassword => {
            Error::Usage(e.to_string())
        }
    })?;
    P256Signer::from_pkcs8_der(&der)
        .map_err(|e| Error::Usage(format!("the decrypted key is unusable: {e}")))
}

/// The password: `COSIGN_PASSWORD`, else a line typed on the terminal.
pub fn password(confirm: bool) -> Result<Vec<u8>, Error> {
    if let Ok(p) = std::env::var("COSIGN_PASSWORD") {
        return Ok(p.into_bytes());
    }
    use std::io::{BufRead, Write};
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|_| {
            Error::Usage("no password: set COSIGN_PASSWORD (there is no terminal to ask on)".into())
        })?;
    let mut w = tty.try_clone().map_err(|e| Error::Usage(e.to_string()))?;
    let mut r = std::io::BufReader::new(tty);
    let mut ask = |prompt: &str| -> Result<String, Error> {
        write!(w, "{prompt}")
            .and_then(|()| w.flush())
            .map_err(|e| Error::Usage(e.to_string()))?;
        let mut line = String::new();
        r.read_line(&mut line)
            .map_err(|e| Error::Usage(e.to_string()))?;
        Ok(line.trim_end_matches(['\r', '\n']).to_string())
    };
    let first = ask("Enter password for private key: ")?;
    if confirm && ask("Enter password for private key again: ")? != first {
        return Err(Error::Usage("the passwords do not match".into()));
    }
    Ok(first.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_wrong_password() {
        let k = P256Signer::generate_p256().unwrap();
        let pem = encrypt(&k, b"hunter2").unwrap();
        assert!(pem.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"));
        assert_eq!(
            decrypt(&pem, b"hunter2").unwrap().public_key(),
            k.public_key()
        );
        let e = decrypt(&pem, b"wrong").err().unwrap().to_string();
        assert!(e.contains("password is wrong"), "{e}");
    }
}
