//! cosign's encrypted private key files (`cosign.key`): an `ENCRYPTED SIGSTORE PRIVATE KEY` PEM
//! holding JSON `{kdf: scrypt, cipher: nacl/secretbox, ciphertext}` around a PKCS#8 key, the
//! format real cosign reads and writes. cosign-keyless keeps its keys in it, and the TUF
//! repository its offline root and targets keys. scrypt and secretbox come from RustCrypto
//! (aws-lc-rs has neither); they are used for nothing else.

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::XSalsa20Poly1305;
use serde_json::{json, Value};
use sigstore_lite_core::keys::{pem_encode, pem_parse_all, random_bytes};

/// The PEM label cosign writes.
pub const LABEL: &str = "ENCRYPTED SIGSTORE PRIVATE KEY";

/// Why an encrypted key file could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum EncryptedKeyError {
    #[error("the private key file is not a cosign key: {0}")]
    NotACosignKey(String),
    #[error("the password is wrong for this private key")]
    WrongPassword,
}

fn derive(
    password: &[u8],
    salt: &[u8],
    log_n: u8,
    r: u32,
    p: u32,
) -> Result<[u8; 32], EncryptedKeyError> {
    let bad = |e: String| EncryptedKeyError::NotACosignKey(format!("bad scrypt parameters: {e}"));
    let params = scrypt::Params::new(log_n, r, p, 32).map_err(|e| bad(e.to_string()))?;
    let mut key = [0u8; 32];
    scrypt::scrypt(password, salt, &params, &mut key).map_err(|e| bad(e.to_string()))?;
    Ok(key)
}

/// Encrypts a PKCS#8 key with `password` (scrypt N=2^15, r=8, p=1, as cosign; XSalsa20-Poly1305).
/// An empty password protects nothing however long it is stretched, so it is stretched with
/// N=2^10 (the file records N, and cosign reads any): a launcher's keys cost milliseconds.
pub fn encrypt(pkcs8_der: &[u8], password: &[u8]) -> String {
    let mut salt = [0u8; 32];
    let mut nonce = [0u8; 24];
    random_bytes(&mut salt);
    random_bytes(&mut nonce);
    let log_n = if password.is_empty() { 10 } else { 15 };
    let k = derive(password, &salt, log_n, 8, 1).expect("fixed scrypt parameters are valid");
    let ct = XSalsa20Poly1305::new((&k).into())
        .encrypt((&nonce).into(), pkcs8_der)
        .expect("secretbox encryption of a buffer cannot fail");
    let doc = json!({
        "kdf": {"name": "scrypt", "params": {"N": 1u32 << log_n, "r": 8, "p": 1}, "salt": B64.encode(salt)},
        "cipher": {"name": "nacl/secretbox", "nonce": B64.encode(nonce)},
        "ciphertext": B64.encode(ct),
    });
    pem_encode(LABEL, &serde_json::to_vec(&doc).expect("json"))
}

/// Decrypts an encrypted key file to its PKCS#8 DER.
pub fn decrypt(pem: &str, password: &[u8]) -> Result<Vec<u8>, EncryptedKeyError> {
    let bad = |why: &str| EncryptedKeyError::NotACosignKey(why.to_string());
    let block = pem_parse_all(pem)
        .ok()
        .and_then(|mut b| (!b.is_empty()).then(|| b.remove(0)))
        .ok_or_else(|| bad("no PEM block"))?;
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
    XSalsa20Poly1305::new((&k).into())
        .decrypt((&nonce).into(), ct.as_slice())
        .map_err(|_| EncryptedKeyError::WrongPassword)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_wrong_password() {
        let k = sigstore_lite_core::keys::P256Signer::generate_p256().unwrap();
        let pem = encrypt(k.pkcs8_der(), b"hunter2");
        assert!(pem.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"));
        assert_eq!(decrypt(&pem, b"hunter2").unwrap(), k.pkcs8_der());
        let e = decrypt(&pem, b"wrong").err().unwrap().to_string();
        assert!(e.contains("password is wrong"), "{e}");
        let e = decrypt(
            "-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n",
            b"",
        )
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("PEM label"), "{e}");
        // An empty password is stretched less (and still decrypts only with itself).
        let pem = encrypt(k.pkcs8_der(), b"");
        assert_eq!(decrypt(&pem, b"").unwrap(), k.pkcs8_der());
        assert!(decrypt(&pem, b"x").is_err());
    }
}
