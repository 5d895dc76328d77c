//! The keyless signing steps shared by blobs and images: an identity token, an ephemeral key and
//! its Fulcio certificate (checked against the trust root before use), RFC 3161 timestamps and a
//! Rekor v1 or v2 entry (its SET or signed time, inclusion proof and checkpoint checked before
//! anything is published).

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use serde_json::{Map, Value};
use sigstore_lite_core::bundle::TlogEntry;
use sigstore_lite_core::fulcio::FulcioCert;
use sigstore_lite_core::keys::{pem_encode, P256Signer};
use sigstore_lite_core::rekor::v2::ProposedV2;
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
            eprintln!("  {}", sigstore_lite_core::text::printable(msg.as_ref()));
        }
    }
}

/// The token: `--identity-token`, else `SIGSTORE_ID_TOKEN`, else GitHub Actions' ambient token.
pub async fn resolve_token(flag: Option<&str>) -> Result<String, Error> {
    if let Some(t) = flag.filter(|t| !t.is_empty()) {
        // As cosign: the token, or the path of a file holding it.
        let path = std::path::Path::new(t.trim());
        if path.is_file() {
            let raw = std::fs::read_to_string(path).map_err(|e| Error::Read {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
            return Ok(raw.trim().to_string());
        }
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
    pub key: P256Signer,
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
    let key = P256Signer::generate_p256().map_err(|e| Error::Trust(e.to_string()))?;
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

/// Uploads to Rekor v1 and checks the SET, the inclusion proof and the checkpoint against the
/// trust root, and that the logged body is what was sent.
pub async fn log_v1(
    trust: &Trust,
    proposed: &Proposed,
    n: Narrator,
) -> Result<(LogEntry, TlogEntry), Error> {
    let rekor = trust.rekor_v1()?;
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

/// Asks the timestamp authority for a timestamp over `signature`, and checks its nonce, imprint,
/// signature and chain against the trust root. Returns it (base64 DER, as bundles hold it) and
/// its time.
pub async fn timestamp(
    url: &str,
    trust: &Trust,
    signature: &[u8],
    n: Narrator,
) -> Result<(String, i64), Error> {
    let mut nonce = [0u8; 8];
    sigstore_lite_core::keys::random_bytes(&mut nonce);
    let nonce = u64::from_be_bytes(nonce) >> 1;
    let req = sigstore_lite_core::timestamp::request(signature, Some(nonce), true);
    let resp = services::timestamp(url, req).await?;
    let bad = |e: String| Error::BadResponse {
        service: "the timestamp authority",
        reason: e,
    };
    sigstore_lite_core::timestamp::check_nonce(&resp, nonce).map_err(|e| bad(e.to_string()))?;
    let time = trust
        .material
        .verify_timestamp(&resp, signature)
        .map_err(|e| bad(e.to_string()))?;
    n.say(format!(
        "the timestamp authority signed the time {} for the signature; its token verifies",
        sigstore_lite_core::trust::rfc3339(time)
    ));
    Ok((B64.encode(resp), time))
}

/// Uploads to Rekor v2 and checks the inclusion proof of the body we expect (rebuilt here, not
/// read from the answer) against a checkpoint signed by a log of the trust root, the log key
/// valid at `times`.
pub async fn log_v2(
    url: &str,
    trust: &Trust,
    proposed: &ProposedV2,
    times: &[i64],
    n: Narrator,
) -> Result<TlogEntry, Error> {
    let (_, want) = proposed
        .admit()
        .map_err(|e| Error::Usage(format!("the entry to log is invalid: {e}")))?;
    let tle = services::rekor_v2_upload(url, &proposed.to_json()).await?;
    let bad = |e: String| Error::BadResponse {
        service: "Rekor v2",
        reason: e,
    };
    if B64.decode(&tle.canonicalized_body).ok().as_ref() != Some(&want.body) {
        return Err(bad("the logged body is not the one sent".into()));
    }
    trust
        .material
        .verify_tlog_entry_v2(&tle, &want.body, times)
        .map_err(|e| bad(e.to_string()))?;
    n.say(format!(
        "Rekor v2 logged the signature at index {}; its inclusion proof (tree size {}) and C2SP checkpoint verify",
        tle.log_index,
        tle.inclusion_proof.as_ref().map(|p| p.tree_size).unwrap_or(0)
    ));
    Ok(tle)
}

/// How a signature was witnessed, for a bundle.
pub struct Witnessed {
    pub tlog_entries: Vec<TlogEntry>,
    /// Base64 DER `TimeStampResp`s.
    pub timestamps: Vec<String>,
}

/// Witnesses `signature` as the signing config says (cosign v3's and sigstore-python's
/// choice): with a Rekor v2, a timestamp (required for a certificate, whose validity needs a
/// signed time that Rekor v2 no longer gives) and a v2 entry; else a v1 entry, plus a timestamp
/// when a timestamp authority is configured.
pub async fn witness(
    trust: &Trust,
    proposed: &Proposed,
    signature: &[u8],
    keyless: bool,
    n: Narrator,
) -> Result<Witnessed, Error> {
    let stamp = match &trust.tsa_url {
        Some(url) => Some(timestamp(url, trust, signature, n).await?),
        None => None,
    };
    let times: Vec<i64> = stamp.iter().map(|(_, t)| *t).collect();
    let tlog = match &trust.rekor_v2_url {
        Some(url) => {
            if keyless && stamp.is_none() {
                return Err(Error::Usage(
                    "the signing config names a Rekor v2 but no timestamp authority: a keyless signature needs a signed time, which Rekor v2 does not give".into(),
                ));
            }
            let v2 = ProposedV2::from_v1(proposed)
                .map_err(|e| Error::Usage(format!("the entry to log is invalid: {e}")))?;
            log_v2(url, trust, &v2, &times, n).await?
        }
        None => log_v1(trust, proposed, n).await?.1,
    };
    Ok(Witnessed {
        tlog_entries: vec![tlog],
        timestamps: stamp.into_iter().map(|(b, _)| b).collect(),
    })
}
