//! HTTP clients for Fulcio (v2 signingCert), Rekor (v1 entries, v2 entries) and RFC 3161
//! timestamp authorities.

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use serde_json::{json, Value};
use sigstore_lite_core::bundle::TlogEntry;
use sigstore_lite_core::keys::{pem_parse_all, P256Signer};
use sigstore_lite_core::rekor::LogEntry;

use crate::error::Error;

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("HTTP client")
}

async fn error_message(r: reqwest::Response) -> String {
    let status = r.status();
    let text = r.text().await.unwrap_or_default();
    match serde_json::from_str::<Value>(&text) {
        Ok(v) if v["message"].is_string() => {
            format!("{} ({status})", v["message"].as_str().unwrap_or_default())
        }
        _ => format!(
            "HTTP {status}: {}",
            text.chars().take(200).collect::<String>()
        ),
    }
}

/// Asks Fulcio for a certificate for `key`, proving possession by signing `challenge`.
/// Returns the chain as DER, leaf first.
pub async fn fulcio_certificate(
    url: &str,
    token: &str,
    key: &P256Signer,
    challenge: &str,
) -> Result<Vec<Vec<u8>>, Error> {
    let endpoint = format!("{url}/api/v2/signingCert");
    let body = json!({
        "credentials": {"oidcIdentityToken": token},
        "publicKeyRequest": {
            "publicKey": {"algorithm": "ECDSA", "content": key.public_key().to_pem()},
            "proofOfPossession": B64.encode(key.sign(challenge.as_bytes())),
        }
    });
    let r = http()
        .post(&endpoint)
        .json(&body)
        .send()
        .await
        .map_err(|e| Error::Unreachable {
            service: "Fulcio",
            url: url.into(),
            reason: e.to_string(),
        })?;
    if !r.status().is_success() {
        return Err(Error::Service {
            service: "Fulcio",
            url: url.into(),
            message: error_message(r).await,
        });
    }
    let v: Value = r.json().await.map_err(|e| Error::BadResponse {
        service: "Fulcio",
        reason: e.to_string(),
    })?;
    let chain = v["signedCertificateEmbeddedSct"]["chain"]["certificates"]
        .as_array()
        .or_else(|| v["signedCertificateDetachedSct"]["chain"]["certificates"].as_array())
        .ok_or_else(|| Error::BadResponse {
            service: "Fulcio",
            reason: "no certificate chain in the answer".into(),
        })?;
    if chain.is_empty() {
        return Err(Error::BadResponse {
            service: "Fulcio",
            reason: "the certificate chain in the answer is empty".into(),
        });
    }
    chain
        .iter()
        .map(|c| {
            c.as_str()
                .and_then(|p| pem_parse_all(p).ok())
                .and_then(|mut v| (!v.is_empty()).then(|| v.remove(0).der))
                .ok_or_else(|| Error::BadResponse {
                    service: "Fulcio",
                    reason: "a certificate is not PEM".into(),
                })
        })
        .collect()
}

/// Uploads a proposed entry; returns the entry (also when it already existed: 409 is followed).
pub async fn rekor_upload(url: &str, proposed: &Value) -> Result<LogEntry, Error> {
    let c = http();
    let endpoint = format!("{url}/api/v1/log/entries");
    let unreachable = |e: reqwest::Error| Error::Unreachable {
        service: "Rekor",
        url: url.into(),
        reason: e.to_string(),
    };
    let r = c
        .post(&endpoint)
        .json(proposed)
        .send()
        .await
        .map_err(unreachable)?;
    let r = if r.status() == reqwest::StatusCode::CONFLICT {
        let loc = r
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let Some(loc) = loc else {
            return Err(Error::Service {
                service: "Rekor",
                url: url.into(),
                message: error_message(r).await,
            });
        };
        let id = loc.rsplit('/').next().unwrap_or_default();
        c.get(format!("{endpoint}/{id}"))
            .send()
            .await
            .map_err(unreachable)?
    } else {
        r
    };
    if !r.status().is_success() {
        return Err(Error::Service {
            service: "Rekor",
            url: url.into(),
            message: error_message(r).await,
        });
    }
    let m: serde_json::Map<String, Value> = r.json().await.map_err(|e| Error::BadResponse {
        service: "Rekor",
        reason: e.to_string(),
    })?;
    let (_, v) = m.into_iter().next().ok_or_else(|| Error::BadResponse {
        service: "Rekor",
        reason: "an empty entry map".into(),
    })?;
    serde_json::from_value(v).map_err(|e| Error::BadResponse {
        service: "Rekor",
        reason: e.to_string(),
    })
}

/// Finds the log entry for a proposed entry (`POST /api/v1/log/entries/retrieve`).
pub async fn rekor_find(url: &str, proposed: &Value) -> Result<Option<LogEntry>, Error> {
    let r = http()
        .post(format!("{url}/api/v1/log/entries/retrieve"))
        .json(&json!({"entries": [proposed]}))
        .send()
        .await
        .map_err(|e| Error::Unreachable {
            service: "Rekor",
            url: url.into(),
            reason: e.to_string(),
        })?;
    if !r.status().is_success() {
        return Err(Error::Service {
            service: "Rekor",
            url: url.into(),
            message: error_message(r).await,
        });
    }
    let arr: Vec<serde_json::Map<String, Value>> =
        r.json().await.map_err(|e| Error::BadResponse {
            service: "Rekor",
            reason: e.to_string(),
        })?;
    Ok(arr
        .into_iter()
        .next()
        .and_then(|m| m.into_iter().next())
        .and_then(|(_, v)| serde_json::from_value(v).ok()))
}

/// Uploads a Rekor v2 request (`POST /api/v2/log/entries`); returns the `TransparencyLogEntry`.
/// Rekor v2 answers only once a checkpoint covers the entry, so the wait may be long.
pub async fn rekor_v2_upload(url: &str, request: &Value) -> Result<TlogEntry, Error> {
    let r = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .expect("HTTP client")
        .post(format!("{url}/api/v2/log/entries"))
        .json(request)
        .send()
        .await
        .map_err(|e| Error::Unreachable {
            service: "Rekor v2",
            url: url.into(),
            reason: e.to_string(),
        })?;
    if !r.status().is_success() {
        return Err(Error::Service {
            service: "Rekor v2",
            url: url.into(),
            message: error_message(r).await,
        });
    }
    r.json().await.map_err(|e| Error::BadResponse {
        service: "Rekor v2",
        reason: e.to_string(),
    })
}

/// Asks an RFC 3161 timestamp authority to timestamp a `TimeStampReq`; returns the DER
/// `TimeStampResp`.
pub async fn timestamp(url: &str, request: Vec<u8>) -> Result<Vec<u8>, Error> {
    let r = http()
        .post(url)
        .header("content-type", "application/timestamp-query")
        .body(request)
        .send()
        .await
        .map_err(|e| Error::Unreachable {
            service: "the timestamp authority",
            url: url.into(),
            reason: e.to_string(),
        })?;
    if !r.status().is_success() {
        return Err(Error::Service {
            service: "the timestamp authority",
            url: url.into(),
            message: error_message(r).await,
        });
    }
    Ok(r.bytes()
        .await
        .map_err(|e| Error::BadResponse {
            service: "the timestamp authority",
            reason: e.to_string(),
        })?
        .to_vec())
}
