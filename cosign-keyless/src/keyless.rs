//! The keyless signing steps shared by blobs and images: an identity token, an ephemeral key and
//! its Fulcio certificate (checked against the trust root before use), and a Rekor entry (its SET,
//! inclusion proof and checkpoint checked before anything is published).

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use serde_json::{Map, Value};
use sigstore_lite_core::bundle::TlogEntry;
use sigstore_lite_core::fulcio::FulcioCert;
use sigstore_lite_core::keys::{pem_encode, Signer};
use sigstore_lite_core::rekor::{Entry, LogEntry, Proposed};

use crate::error::Error;
use crate::services;
use crate::trust::Trust;

/// Prints what happens, in plain words, with `-v`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Narrator {
    pub verbose: bool,
}

impl Narrator {
    pub fn say(&self, msg: impl AsRef<str>) {
        if self.verbose {
            eprintln!("  {}", msg.as_ref());
        }
    }
}

/// The token: `--identity-token`, else `SIGSTORE_ID_TOKEN`, else GitHub Actions' ambient token.
pub async fn resolve_token(flag: Option<&str>) -> Result<String, Error> {
    if let Some(t) = flag.filter(|t| !t.is_empty()) {
        return Ok(t.trim().to_string());
    }
    if let Ok(t) = std::env::var("SIGSTORE_ID_TOKEN") {
        if !t.trim().is_empty() {
            return Ok(t.trim().to_string());
        }
    }
    if let (Ok(url), Ok(bearer)) = (
        std::env::var("ACTIONS_ID_TOKEN_REQUEST_URL"),
        std::env::var("ACTIONS_ID_TOKEN_REQUEST_TOKEN"),
    ) {
        let sep = if url.contains('?') { '&' } else { '?' };
        let r = reqwest::Client::new()
            .get(format!("{url}{sep}audience=sigstore"))
            .bearer_auth(bearer)
            .send()
            .await
            .map_err(|e| Error::Unreachable {
                service: "GitHub Actions token service",
                url: url.clone(),
                reason: e.to_string(),
            })?;
        let v: Value = r.json().await.map_err(|e| Error::BadToken(e.to_string()))?;
        return v["value"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| Error::BadToken("GitHub Actions returned no token".into()));
    }
    Err(Error::NoToken)
}

/// The unverified claims of a JWT (Fulcio verifies it; the client only reads it).
pub fn token_claims(token: &str) -> Result<Map<String, Value>, Error> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let payload = token
        .split('.')
        .nth(1)
        .ok_or_else(|| Error::BadToken("a JWT has three dot-separated parts".into()))?;
    let raw = URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| Error::BadToken("the payload is not base64url".into()))?;
    match serde_json::from_slice(&raw) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(Error::BadToken("the payload is not a JSON object".into())),
    }
}

/// An ephemeral key with its certificate.
pub struct Identity {
    pub key: Signer,
    /// DER, leaf first.
    pub chain: Vec<Vec<u8>>,
    pub cert: FulcioCert,
}

impl Identity {
    pub fn leaf_pem(&self) -> String {
        pem_encode("CERTIFICATE", &self.chain[0])
    }

    /// Intermediates and root as concatenated PEM (cosign's chain annotation).
    pub fn chain_pem(&self) -> String {
        self.chain[1..]
            .iter()
            .map(|c| pem_encode("CERTIFICATE", c))
            .collect()
    }
}

/// Gets a certificate for a fresh P-256 key, and checks its chain and SCT against the trust root.
pub async fn certificate(
    trust: &Trust,
    token: &str,
    now: i64,
    n: Narrator,
) -> Result<Identity, Error> {
    let claims = token_claims(token)?;
    let s = |k: &str| {
        claims
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string()
    };
    n.say(format!(
        "identity token: issuer {}, subject {}",
        s("iss"),
        s("sub")
    ));
    // Fulcio signs the e-mail for e-mail issuers, else the subject; clients pick e-mail when present.
    let challenge = claims
        .get("email")
        .and_then(Value::as_str)
        .unwrap_or_else(|| claims.get("sub").and_then(Value::as_str).unwrap_or(""));
    let key = Signer::generate_p256().map_err(|e| Error::Trust(e.to_string()))?;
    n.say("generated an ephemeral ECDSA P-256 key pair");
    let fulcio = trust.fulcio()?;
    let chain = services::fulcio_certificate(fulcio, token, &key, challenge).await?;
    // Check the fresh certificate as of now, tolerating a CA clock up to a minute ahead of ours.
    let not_before = sigstore_lite_core::fulcio::read(&chain[0])
        .map_err(|e| Error::BadResponse {
            service: "Fulcio",
            reason: e.to_string(),
        })?
        .not_before;
    let at = if now < not_before && not_before - now <= 60 {
        not_before
    } else {
        now
    };
    let cert = trust
        .material
        .verify_certificate(&chain[0], &chain[1..], at)
        .map_err(|e| Error::BadResponse {
            service: "Fulcio",
            reason: e.to_string(),
        })?;
    if cert.key != *key.public_key() {
        return Err(Error::BadResponse {
            service: "Fulcio",
            reason: "the certificate is for another key".into(),
        });
    }
    let sans: Vec<&str> = cert.sans.iter().map(|s| s.value()).collect();
    n.say(format!(
        "Fulcio issued a certificate for {} (issuer {}), valid {} to {}; its chain and embedded SCT verify",
        sans.join(", "),
        cert.issuer.as_deref().unwrap_or("?"),
        sigstore_lite_core::trust::rfc3339(cert.not_before),
        sigstore_lite_core::trust::rfc3339(cert.not_after)
    ));
    Ok(Identity { key, chain, cert })
}

/// Uploads to Rekor and checks the SET, the inclusion proof and the checkpoint against the trust
/// root, and that the logged body is what was sent.
pub async fn log(
    trust: &Trust,
    proposed: &Proposed,
    n: Narrator,
) -> Result<(LogEntry, TlogEntry), Error> {
    let rekor = trust.rekor()?;
    let (want, _) = proposed
        .admit()
        .map_err(|e| Error::Usage(format!("the entry to log is invalid: {e}")))?;
    let entry = services::rekor_upload(rekor, &proposed.to_json()).await?;
    let tle = TlogEntry::from_rekor(&entry).ok_or_else(|| Error::BadResponse {
        service: "Rekor",
        reason: "the entry cannot be read".into(),
    })?;
    trust
        .material
        .verify_tlog_entry(&tle, true, true)
        .map_err(|e| Error::BadResponse {
            service: "Rekor",
            reason: e.to_string(),
        })?;
    let logged = B64
        .decode(&entry.body)
        .ok()
        .and_then(|b| Entry::parse_body(&b).ok());
    if logged.as_ref() != Some(&want) {
        return Err(Error::BadResponse {
            service: "Rekor",
            reason: "the logged body is not the one sent".into(),
        });
    }
    n.say(format!(
        "Rekor logged the signature at index {} (integrated {}); its SET, inclusion proof (tree size {}) and signed checkpoint verify",
        entry.log_index,
        sigstore_lite_core::trust::rfc3339(entry.integrated_time),
        entry.verification.inclusion_proof.as_ref().map(|p| p.tree_size).unwrap_or(0)
    ));
    Ok((entry, tle))
}
