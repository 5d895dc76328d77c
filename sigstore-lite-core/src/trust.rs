//! Sigstore trust material as JSON: `trusted_root.json` (TrustedRoot v0.1), `signing_config.json`
//! (SigningConfig v0.2) and ClientTrustConfig (both together, as sigstore-python takes them).
//! Field names and encodings follow protobuf-JSON (camelCase, base64 bytes, RFC 3339 times).

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use serde::{Deserialize, Serialize};

use crate::keys::{KeyKind, PublicKey};

pub const TRUSTED_ROOT_MEDIA_TYPE: &str =
    "application/vnd.dev.sigstore.trustedroot+json;version=0.1";
pub const SIGNING_CONFIG_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.signingconfig.v0.2+json";
pub const CLIENT_TRUST_CONFIG_MEDIA_TYPE: &str =
    "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json";

/// `{start, end?}` in RFC 3339.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TimeRange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicKeyDetails {
    /// Base64 DER SPKI.
    pub raw_bytes: String,
    pub key_details: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_for: Option<TimeRange>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogId {
    /// Base64.
    pub key_id: String,
}

/// A transparency log or CT log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogInstance {
    pub base_url: String,
    pub hash_algorithm: String,
    pub public_key: PublicKeyDetails,
    pub log_id: LogId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_key_id: Option<LogId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Subject {
    #[serde(default)]
    pub organization: String,
    #[serde(default)]
    pub common_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawBytes {
    pub raw_bytes: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertChain {
    pub certificates: Vec<RawBytes>,
}

/// A certificate authority (or TSA): chain leaf-most first, trust anchor last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateAuthority {
    #[serde(default)]
    pub subject: Subject,
    #[serde(default)]
    pub uri: String,
    pub cert_chain: CertChain,
    /// Optional for CAs and TSAs (protobuf-specs); absent means no bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_for: Option<TimeRange>,
}

/// `trusted_root.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrustedRoot {
    pub media_type: String,
    #[serde(default)]
    pub tlogs: Vec<LogInstance>,
    #[serde(default)]
    pub certificate_authorities: Vec<CertificateAuthority>,
    #[serde(default)]
    pub ctlogs: Vec<LogInstance>,
    #[serde(default)]
    pub timestamp_authorities: Vec<CertificateAuthority>,
}

impl TrustedRoot {
    /// This trusted root, keeping what `previous` trusted: a log, CT log, CA or TSA of
    /// `previous` that this one lacks (by log ID, or by certificate chain) is carried over
    /// with its validity ended at `now` (RFC 3339) unless it ended earlier, so that bundles made
    /// under a rotated-out key still verify and nothing new is accepted under it. Returns
    /// how many entries were carried over.
    pub fn carry_over(mut self, previous: &TrustedRoot, now: &str) -> (TrustedRoot, usize) {
        let mut carried = 0;
        // Ended now, or earlier if it already ended earlier: never later than now.
        let end = |r: &mut Option<TimeRange>| {
            let r = r.get_or_insert_with(TimeRange::default);
            let later = match (&r.end, parse_rfc3339(now)) {
                (None, _) => true,
                (Some(e), Some(n)) => parse_rfc3339(e).is_none_or(|e| e > n),
                (Some(_), None) => false,
            };
            if later {
                r.end = Some(now.to_string());
            }
        };
        for (mine, theirs) in [
            (&mut self.tlogs, &previous.tlogs),
            (&mut self.ctlogs, &previous.ctlogs),
        ] {
            for old in theirs {
                if !mine.iter().any(|l| l.log_id == old.log_id) {
                    let mut old = old.clone();
                    end(&mut old.public_key.valid_for);
                    mine.push(old);
                    carried += 1;
                }
            }
        }
        for (mine, theirs) in [
            (
                &mut self.certificate_authorities,
                &previous.certificate_authorities,
            ),
            (
                &mut self.timestamp_authorities,
                &previous.timestamp_authorities,
            ),
        ] {
            for old in theirs {
                if !mine.iter().any(|c| c.cert_chain == old.cert_chain) {
                    let mut old = old.clone();
                    end(&mut old.valid_for);
                    mine.push(old);
                    carried += 1;
                }
            }
        }
        (self, carried)
    }
}

/// The protobuf `PublicKeyDetails` name of a key.
pub fn key_details(k: &PublicKey) -> &'static str {
    match k.kind() {
        KeyKind::EcdsaP256 => "PKIX_ECDSA_P256_SHA_256",
        KeyKind::EcdsaP384 => "PKIX_ECDSA_P384_SHA_384",
        KeyKind::Ed25519 => "PKIX_ED25519",
        KeyKind::Rsa { .. } => "PKIX_RSA_PKCS1V15_2048_SHA256",
    }
}

impl LogInstance {
    /// A Rekor v1 or CT log whose log ID is SHA-256 of the key's SPKI.
    pub fn new(base_url: &str, key: &PublicKey, valid_from: &str) -> LogInstance {
        LogInstance {
            base_url: base_url.to_string(),
            hash_algorithm: "SHA2_256".into(),
            public_key: PublicKeyDetails {
                raw_bytes: B64.encode(key.spki_der()),
                key_details: key_details(key).into(),
                valid_for: Some(TimeRange {
                    start: Some(valid_from.to_string()),
                    end: None,
                }),
            },
            log_id: LogId {
                key_id: B64.encode(key.key_id()),
            },
            checkpoint_key_id: None,
        }
    }
}

impl LogInstance {
    /// A Rekor v2 log: its log ID (and checkpoint key ID) is the C2SP key hash under the base
    /// URL's host name, the name its checkpoints are signed as.
    pub fn new_v2(base_url: &str, key: &PublicKey, valid_from: &str) -> LogInstance {
        let id = crate::note::c2sp_key_hash(&host_of(base_url), key);
        LogInstance {
            log_id: LogId {
                key_id: B64.encode(id),
            },
            checkpoint_key_id: Some(LogId {
                key_id: B64.encode(id),
            }),
            ..LogInstance::new(base_url, key, valid_from)
        }
    }
}

impl CertificateAuthority {
    /// A CA from DER certificates, leaf-most first and the root last.
    pub fn new(
        uri: &str,
        chain_der: &[Vec<u8>],
        subject: Subject,
        valid_from: &str,
    ) -> CertificateAuthority {
        CertificateAuthority {
            subject,
            uri: uri.to_string(),
            cert_chain: CertChain {
                certificates: chain_der
                    .iter()
                    .map(|c| RawBytes {
                        raw_bytes: B64.encode(c),
                    })
                    .collect(),
            },
            valid_for: Some(TimeRange {
                start: Some(valid_from.to_string()),
                end: None,
            }),
        }
    }
}

/// One service endpoint of a signing config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    pub url: String,
    pub major_api_version: u32,
    pub valid_for: TimeRange,
    #[serde(default)]
    pub operator: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selector {
    pub selector: String,
}

/// `signing_config.json` v0.2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SigningConfig {
    pub media_type: String,
    #[serde(default)]
    pub ca_urls: Vec<Service>,
    #[serde(default)]
    pub oidc_urls: Vec<Service>,
    #[serde(default)]
    pub rekor_tlog_urls: Vec<Service>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rekor_tlog_config: Option<Selector>,
    #[serde(default)]
    pub tsa_urls: Vec<Service>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tsa_config: Option<Selector>,
}

impl SigningConfig {
    /// One Fulcio, one OIDC issuer, Rekor logs as `(url, major API version)` and timestamp
    /// authorities, all run by `operator`.
    pub fn new(
        fulcio: &str,
        oidc: &str,
        rekors: &[(&str, u32)],
        tsas: &[&str],
        valid_from: &str,
        operator: &str,
    ) -> SigningConfig {
        let svc = |url: &str, major_api_version: u32| Service {
            url: url.to_string(),
            major_api_version,
            valid_for: TimeRange {
                start: Some(valid_from.to_string()),
                end: None,
            },
            operator: operator.to_string(),
        };
        SigningConfig {
            media_type: SIGNING_CONFIG_MEDIA_TYPE.into(),
            ca_urls: vec![svc(fulcio, 1)],
            oidc_urls: vec![svc(oidc, 1)],
            rekor_tlog_urls: rekors.iter().map(|(u, v)| svc(u, *v)).collect(),
            rekor_tlog_config: Some(Selector {
                selector: "ANY".into(),
            }),
            tsa_urls: tsas.iter().map(|u| svc(u, 1)).collect(),
            // sigstore-js fails on a TSA selector without TSAs.
            tsa_config: (!tsas.is_empty()).then(|| Selector {
                selector: "ANY".into(),
            }),
        }
    }
}

/// ClientTrustConfig: trusted root and signing config together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientTrustConfig {
    pub media_type: String,
    pub trusted_root: TrustedRoot,
    #[serde(alias = "signing_config")]
    pub signing_config: SigningConfig,
}

impl ClientTrustConfig {
    pub fn new(trusted_root: TrustedRoot, signing_config: SigningConfig) -> ClientTrustConfig {
        ClientTrustConfig {
            media_type: CLIENT_TRUST_CONFIG_MEDIA_TYPE.into(),
            trusted_root,
            signing_config,
        }
    }
}

/// Formats unix seconds as RFC 3339 UTC (`YYYY-MM-DDTHH:MM:SSZ`).
pub fn rfc3339(unix: i64) -> String {
    let days = unix.div_euclid(86400);
    let secs = unix.rem_euclid(86400);
    // civil-from-days (Howard Hinnant)
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z.rem_euclid(146097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// The host of a URL, without scheme, port or path (`https://rekor.example:3001/x` ->
/// `rekor.example`): the origin a Rekor v2 log signs its checkpoints as.
pub fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(v6) = host.strip_prefix('[') {
        return v6.split(']').next().unwrap_or("").to_string();
    }
    host.split(':').next().unwrap_or("").to_string()
}

/// Parses RFC 3339 (`YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`, as protobuf-JSON writes a
/// Timestamp) to Unix seconds; `None` for anything that is not a real date and time (month 13,
/// February 30, hour 24, a malformed offset). The `time` crate's parser, not a hand-written one:
/// these strings come from trust roots and bundles, outside input.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    // RFC 3339 allows a space for the `T`; protobuf-JSON and Go's time.RFC3339 do not.
    if !matches!(s.as_bytes().get(10), Some(b'T' | b't')) {
        return None;
    }
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carry_over_keeps_rotated_out_keys_with_an_end() {
        let k1 = crate::keys::P256Signer::generate_p256().unwrap();
        let k2 = crate::keys::P256Signer::generate_p256().unwrap();
        let root = |k: &crate::keys::P256Signer, end: Option<&str>| {
            let mut l = LogInstance::new("http://rekor", k.public_key(), "2026-01-01T00:00:00Z");
            l.public_key.valid_for.as_mut().unwrap().end = end.map(str::to_string);
            TrustedRoot {
                media_type: TRUSTED_ROOT_MEDIA_TYPE.into(),
                tlogs: vec![l],
                certificate_authorities: vec![CertificateAuthority::new(
                    "http://fulcio",
                    &[vec![1, 2, 3]],
                    Subject::default(),
                    "2026-01-01T00:00:00Z",
                )],
                ctlogs: Vec::new(),
                timestamp_authorities: Vec::new(),
            }
        };
        let (same, n) = root(&k1, None).carry_over(&root(&k1, None), "2026-06-01T00:00:00Z");
        assert_eq!((same, n), (root(&k1, None), 0));
        let (merged, n) = root(&k2, None).carry_over(&root(&k1, None), "2026-06-01T00:00:00Z");
        assert_eq!(n, 1, "the CA is the same, the log is new");
        assert_eq!(merged.tlogs[0], root(&k2, None).tlogs[0]);
        assert_eq!(
            merged.tlogs[1],
            root(&k1, Some("2026-06-01T00:00:00Z")).tlogs[0]
        );
        // An end already set stays.
        let (merged, _) = root(&k2, None).carry_over(
            &root(&k1, Some("2026-02-01T00:00:00Z")),
            "2026-06-01T00:00:00Z",
        );
        assert_eq!(
            merged.tlogs[1],
            root(&k1, Some("2026-02-01T00:00:00Z")).tlogs[0]
        );
    }

    #[test]
    fn rfc3339_roundtrip() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1712085549), "2024-04-02T19:19:09Z");
        for t in [0i64, 951782400, 1712085549, 4102444799] {
            assert_eq!(parse_rfc3339(&rfc3339(t)), Some(t));
        }
        assert_eq!(parse_rfc3339("2021-01-12T11:53:27.000Z"), Some(1610452407));
        assert_eq!(parse_rfc3339("2021-01-12T12:53:27+01:00"), Some(1610452407));
        assert_eq!(parse_rfc3339("yesterday"), None);
        // Outside input: impossible dates, bad offsets and non-ASCII bytes where digits belong
        // are refused (the hand-written parser this replaced took month 13 and could panic on
        // a multi-byte character in the offset).
        for bad in [
            "2030-13-01T00:00:00Z",
            "2030-02-30T00:00:00Z",
            "2030-01-01T24:00:00Z",
            "2030-01-01T00:60:00Z",
            "2030-01-01T00:00:00+0\u{e9}00",
            "2030-01-01T00:00:00+25:00",
            "+030-01-01T00:00:00Z",
            "2030-01-01T00:00:00",
            "2030-01-01 00:00:00Z",
            "",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn reads_real_trusted_roots() {
        for f in ["prod_trusted_root.json", "staging_trusted_root.json"] {
            let tr: TrustedRoot = serde_json::from_slice(&crate::testdata::sigstore(f)).unwrap();
            assert!(
                !tr.tlogs.is_empty()
                    && !tr.ctlogs.is_empty()
                    && !tr.certificate_authorities.is_empty()
            );
            for t in tr.tlogs.iter().chain(&tr.ctlogs) {
                assert!(t
                    .public_key
                    .valid_for
                    .as_ref()
                    .and_then(|v| v.start.as_deref())
                    .and_then(parse_rfc3339)
                    .is_some());
            }
        }
    }
}
