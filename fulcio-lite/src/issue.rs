//! Issuing, protocol-independent: authenticate the token, derive the identity, check the proof
//! of possession of the key (a signature over the challenge claim, or a CSR's self-signature),
//! and have the CA issue. The HTTP handlers parse requests into a [`KeyProof`] and call
//! [`issue`].

use std::time::{SystemTime, UNIX_EPOCH};

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use sigstore_lite_core::keys::{pem_encode, pem_parse_all, KeyKind, PublicKey};

use crate::ca::Ca;
use crate::error::Error;
use crate::identity;
use crate::oidc::TokenVerifier;

/// The key to certify and how its possession was proven.
pub enum KeyProof {
    Pop { key: PublicKey, signature: Vec<u8> },
    Csr(Vec<u8>),
}

/// Parses a public key given as PEM text or as base64 DER.
pub fn parse_public_key(content: &[u8]) -> Result<PublicKey, Error> {
    let key = match std::str::from_utf8(content)
        .ok()
        .filter(|s| s.contains("-----BEGIN"))
    {
        Some(pem) => PublicKey::from_pem(pem),
        None => match std::str::from_utf8(content)
            .ok()
            .and_then(|s| B64.decode(s.trim()).ok())
        {
            Some(der) => PublicKey::from_spki_der(&der),
            None => PublicKey::from_spki_der(content),
        },
    }
    .map_err(|e| Error::BadPublicKey(e.to_string()))?;
    match key.kind() {
        KeyKind::Rsa { bits } if bits > 4096 || bits % 8 != 0 => Err(Error::BadPublicKey(format!(
            "RSA keys must be 2048 to 4096 bits (a multiple of 8), not {bits}"
        ))),
        _ => Ok(key),
    }
}

pub fn verify_csr(b64: &str) -> Result<PublicKey, Error> {
    let raw = B64
        .decode(b64.trim())
        .map_err(|_| Error::BadCsr("certificateSigningRequest is not base64".into()))?;
    let der = match std::str::from_utf8(&raw)
        .ok()
        .filter(|s| s.contains("-----BEGIN"))
    {
        Some(pem) => {
            pem_parse_all(pem)
                .map_err(|e| Error::BadCsr(e.to_string()))?
                .into_iter()
                .find(|p| p.label.ends_with("CERTIFICATE REQUEST"))
                .ok_or_else(|| Error::BadCsr("no CERTIFICATE REQUEST PEM block".into()))?
                .der
        }
        None => raw,
    };
    use x509_parser::prelude::FromDer;
    let (_, csr) = x509_parser::certification_request::X509CertificationRequest::from_der(&der)
        .map_err(|e| Error::BadCsr(format!("cannot parse it: {e}")))?;
    csr.verify_signature()
        .map_err(|_| Error::BadCsr("its self-signature does not verify".into()))?;
    parse_public_key(
        &pem_encode("PUBLIC KEY", csr.certification_request_info.subject_pki.raw).into_bytes(),
    )
}

fn unix(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Authenticates, checks the identity and the proof of possession, and issues. Returns the
/// chain `[leaf, intermediate, root]` as PEM.
pub async fn issue(
    ca: &Ca,
    verifier: &TokenVerifier,
    token: Option<String>,
    proof: KeyProof,
    at: SystemTime,
) -> Result<Vec<String>, Error> {
    let token = token.ok_or(Error::MissingToken)?;
    let verified = verifier.verify(&token, unix(at)).await?;
    let who = identity::principal(&verified.issuer, &verified.claims)?;
    let key = match proof {
        KeyProof::Pop { key, signature } => {
            key.verify_message_sha256(who.challenge.as_bytes(), &signature)
                .map_err(|_| Error::BadProofOfPossession {
                    claim: verified.issuer.kind.challenge_claim().to_string(),
                })?;
            key
        }
        KeyProof::Csr(b64) => verify_csr(std::str::from_utf8(&b64).unwrap_or(""))?,
    };
    let leaf = ca.issue(&key, &who, at)?;
    let mut chain = vec![pem_encode("CERTIFICATE", &leaf)];
    chain.extend(ca.chain_pem());
    Ok(chain)
}
