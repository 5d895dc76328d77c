//! Loading trust material and service endpoints: `--trusted-root`, `--signing-config`,
//! `--trust-config` (ClientTrustConfig), and `--fulcio-url` / `--rekor-url` overrides. Like cosign
//! v3 and sigstore-python, signing goes to the highest Rekor API version the signing config lists
//! (v2, with a timestamp authority, else v1); `--rekor-url` names a Rekor v1.

use std::path::Path;

use sigstore_lite_core::trust::{parse_rfc3339, ClientTrustConfig, SigningConfig, TrustedRoot};
use sigstore_lite_core::verify::TrustMaterial;

use crate::error::Error;

/// Where to sign and what to trust.
#[derive(Debug, Clone)]
pub struct Trust {
    pub root: TrustedRoot,
    pub material: TrustMaterial,
    pub fulcio_url: Option<String>,
    /// Rekor v1 (`--rekor-url` or the signing config).
    pub rekor_url: Option<String>,
    /// Rekor v2 from the signing config (unless `--rekor-url` chose a v1).
    pub rekor_v2_url: Option<String>,
    /// An RFC 3161 timestamp authority from the signing config (its full timestamp URL).
    pub tsa_url: Option<String>,
}

fn read_json<T: serde::de::DeserializeOwned>(p: &Path) -> Result<T, Error> {
    let raw = std::fs::read(p).map_err(|e| Error::Read {
        path: p.display().to_string(),
        reason: e.to_string(),
    })?;
    serde_json::from_slice(&raw).map_err(|e| Error::Trust(format!("{}: {e}", p.display())))
}

/// Picks the newest valid service URL of the highest supported API version.
fn pick(services: &[sigstore_lite_core::trust::Service], version: u32, now: i64) -> Option<String> {
    services
        .iter()
        .filter(|s| s.major_api_version == version)
        .filter(|s| {
            // A bound that is present but unreadable makes the service unusable, never
            // unbounded (a retired service must not stay selectable).
            let bound = |t: Option<&str>| match t {
                None => Some(None),
                Some(t) => parse_rfc3339(t).map(Some),
            };
            match (
                bound(s.valid_for.start.as_deref()),
                bound(s.valid_for.end.as_deref()),
            ) {
                (Some(from), Some(to)) => {
                    from.is_none_or(|f| f <= now) && to.is_none_or(|t| now <= t)
                }
                _ => false,
            }
        })
        .max_by_key(|s| {
            s.valid_for
                .start
                .as_deref()
                .and_then(parse_rfc3339)
                .unwrap_or(0)
        })
        .map(|s| s.url.trim_end_matches('/').to_string())
}

impl Trust {
    /// Loads from the given files; `now` selects signing-config services.
    pub fn load(
        trusted_root: Option<&Path>,
        signing_config: Option<&Path>,
        trust_config: Option<&Path>,
        fulcio_url: Option<&str>,
        rekor_url: Option<&str>,
        now: i64,
    ) -> Result<Trust, Error> {
        let (root, sc): (TrustedRoot, Option<SigningConfig>) = match (trust_config, trusted_root) {
            (Some(tc), None) => {
                let c: ClientTrustConfig = read_json(tc)?;
                (c.trusted_root, Some(c.signing_config))
            }
            (None, Some(tr)) => (read_json(tr)?, signing_config.map(read_json).transpose()?),
            (Some(_), Some(_)) => {
                return Err(Error::Usage(
                    "give --trust-config or --trusted-root, not both".into(),
                ))
            }
            (None, None) => return Err(Error::Usage(
                "give --trusted-root FILE or --trust-config FILE (sigstore-lite up writes both)"
                    .into(),
            )),
        };
        let material = TrustMaterial::from_trusted_root(&root)?;
        let fulcio_url = fulcio_url
            .map(str::to_string)
            .or_else(|| sc.as_ref().and_then(|s| pick(&s.ca_urls, 1, now)));
        let rekor_v2_url = match rekor_url {
            Some(_) => None,
            None => sc.as_ref().and_then(|s| pick(&s.rekor_tlog_urls, 2, now)),
        };
        let rekor_url = rekor_url
            .map(|u| u.trim_end_matches('/').to_string())
            .or_else(|| sc.as_ref().and_then(|s| pick(&s.rekor_tlog_urls, 1, now)));
        let tsa_url = sc.as_ref().and_then(|s| pick(&s.tsa_urls, 1, now));
        Ok(Trust {
            root,
            material,
            fulcio_url,
            rekor_url,
            rekor_v2_url,
            tsa_url,
        })
    }

    /// No trust at all: for key-pair verification without the transparency log.
    pub fn empty() -> Trust {
        let root = TrustedRoot {
            media_type: sigstore_lite_core::trust::TRUSTED_ROOT_MEDIA_TYPE.into(),
            tlogs: Vec::new(),
            certificate_authorities: Vec::new(),
            ctlogs: Vec::new(),
            timestamp_authorities: Vec::new(),
        };
        let material = TrustMaterial::from_trusted_root(&root).expect("an empty root is valid");
        Trust {
            root,
            material,
            fulcio_url: None,
            rekor_url: None,
            rekor_v2_url: None,
            tsa_url: None,
        }
    }

    pub fn fulcio(&self) -> Result<&str, Error> {
        self.fulcio_url.as_deref().ok_or_else(|| {
            Error::Usage("no Fulcio URL: give --fulcio-url or a signing config".into())
        })
    }

    /// The Rekor v1 (needed where a SET is: cosign's legacy image signatures, online lookups).
    pub fn rekor_v1(&self) -> Result<&str, Error> {
        self.rekor_url.as_deref().ok_or_else(|| {
            Error::Usage(
                "no Rekor v1 URL: give --rekor-url or a signing config that lists one".into(),
            )
        })
    }
}
