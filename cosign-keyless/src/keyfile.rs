//! cosign's key files: `cosign.pub` (PUBLIC KEY PEM) and `cosign.key`, an `ENCRYPTED SIGSTORE
//! PRIVATE KEY` PEM holding JSON `{kdf: scrypt, cipher: nacl/secretbox, ciphertext}` around the
//! PKCS#8 key, the format real cosign reads and writes. scrypt and secretbox come from RustCrypto
//! (aws-lc-rs has neither); they are used for nothing else.

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::XSalsa20Poly1305;
use serde_json::{json, Value};
use sigstore_lite_core::keys::{pem_encode, pem_parse_all, P256Signer};

use crate::error::Error;

pub const LABEL: &str = "ENCRYPTED SIGSTORE PRIVATE KEY";

fn derive(password: &[u8], salt: &[u8], log_n: u8, r: u32, p: u32) -> Result<[u8; 32], Error> {
    let params = scrypt::Params::new(log_n, r, p, 32)
        .map_err(|e| Error::Usage(format!("bad scrypt parameters: {e}")))?;
    let mut key = [0u8; 32];
    scrypt::scrypt(password, salt, &params, &mut key)
        .map_err(|e| Error::Usage(format!("scrypt: {e}")))?;
    Ok(key)
}

/// Encrypts a P-256 key with `password` (scrypt N=2^15, r=8, p=1; XSalsa20-Poly1305).
pub fn encrypt(key: &P256Signer, password: &[u8]) -> Result<String, Error> {
    let mut salt = [0u8; 32];
    let mut nonce = [0u8; 24];
    sigstore_lite_core::keys::random_bytes(&mut salt);
    sigstore_lite_core::keys::random_bytes(&mut nonce);
    let k = derive(password, &salt, 15, 8, 1)?;
    let ct = XSalsa20Poly1305::new((&k).into())
        .encrypt((&nonce).into(), key.pkcs8_der())
        .map_err(|_| Error::Usage("encryption failed".into()))?;
    let doc = json!({
        "kdf": {"name": "scrypt", "params": {"N": 1 << 15, "r": 8, "p": 1}, "salt": B64.encode(salt)},
        "cipher": {"name": "nacl/secretbox", "nonce": B64.encode(nonce)},
        "ciphertext": B64.encode(ct),
    });
    Ok(pem_encode(LABEL, &serde_json::to_vec(&doc).expect("json")))
}

/// Decrypts a `cosign.key`.
pub fn decrypt(pem: &str, password: &[u8]) -> Result<P256Signer, Error> {
    let bad = |why: &str| Error::Usage(format!("the private key file is not a cosign key: {why}"));
    let block = pem_parse_all(pem)
        .map_err(|_| bad("no PEM block"))?
        .remove(0);
    if block.label != LABEL {
        return Err(bad(&format!("the PEM label is {:?}", block.label)));
    }
    let v: Value = serde_json::from_slice(&block.der).map_err(|_| bad("not JSON"))?;
    if v["kdf"]["name"] != "scrypt" || v["cipher"]["name"] != "nacl/secretbox" {
        return Err(bad("unsupported KDF or cipher"));
    }
    let n = v["kdf"]["params"]["N"]
        .as_u64()
        .filter(|n| n.is_power_of_two() && *n > 1)
        .ok_or_else(|| bad("bad scrypt N"))?;
    let r = v["kdf"]["params"]["r"].as_u64().unwrap_or(8) as u32;
    let p = v["kdf"]["params"]["p"].as_u64().unwrap_or(1) as u32;
    let b = |x: &Value| x.as_str().and_then(|s| B64.decode(s).ok());
    let salt = b(&v["kdf"]["salt"]).ok_or_else(|| bad("bad salt"))?;
    let nonce: [u8; 24] = b(&v["cipher"]["nonce"])
        .and_then(|n| n.try_into().ok())
        .ok_or_else(|| bad("bad nonce"))?;
    let ct = b(&v["ciphertext"]).ok_or_else(|| bad("bad ciphertext"))?;
    let k = derive(password, &salt, n.trailing_zeros() as u8, r, p)?;
    let der = XSalsa20Poly1305::new((&k).into())
        .decrypt((&nonce).into(), ct.as_slice())
        .map_err(|_| Error::Usage("the password is wrong for this private key".into()))?;
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
