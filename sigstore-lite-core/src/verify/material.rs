//! A trusted root decoded once: transparency logs, CT logs and certificate authorities.

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use rustls_pki_types::{CertificateDer, TrustAnchor};

use crate::keys::PublicKey;
use crate::trust::{host_of, parse_rfc3339, LogInstance, TimeRange, TrustedRoot};

use super::VerifyError;

/// A log key (Rekor or CT) and when it may be used.
#[derive(Debug, Clone)]
pub(crate) struct LogKey {
    pub(crate) id: [u8; 32],
    pub(crate) key: PublicKey,
    /// The name a Rekor v2 checkpoint is signed under: the base URL's host, without the port.
    pub(crate) origin: String,
    pub(crate) from: Option<i64>,
    pub(crate) to: Option<i64>,
}

/// One CA chain of the trusted root.
#[derive(Debug, Clone)]
pub(crate) struct CaCerts {
    pub(crate) from: Option<i64>,
    pub(crate) to: Option<i64>,
    /// The root, as a trust anchor.
    pub(crate) anchor: Option<TrustAnchor<'static>>,
    pub(crate) intermediates: Vec<CertificateDer<'static>>,
    /// The issuing (leaf-most) CA as a trust anchor, when its chain up to the root was verified
    /// when the root was loaded: a leaf then costs one signature check, not one per CA. Its
    /// window is the intersection of the chain's validity periods, checked at verification time.
    pub(crate) issuing: Option<PreVerified>,
    /// Every certificate's (subject DER, SPKI DER), for finding an SCT's issuer.
    pub(crate) names: Vec<(Vec<u8>, Vec<u8>)>,
}

#[derive(Debug, Clone)]
pub(crate) struct PreVerified {
    pub(crate) anchor: TrustAnchor<'static>,
    pub(crate) not_before: i64,
    pub(crate) not_after: i64,
}

pub(crate) fn within(from: Option<i64>, to: Option<i64>, t: i64) -> bool {
    from.is_none_or(|f| f <= t) && to.is_none_or(|e| t <= e)
}

/// Whose validity window is read: the transparency and CT logs' key windows are required to
/// have a start, the CAs' and TSAs' windows are optional in whole and in part (protobuf-specs'
/// `TimeRange`, as sigstore-go's `ParseTransparencyLogs`, `ParseCertificateAuthority` and
/// `ParseTimestampingAuthority` read them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Window {
    Log,
    Authority,
}

/// A validity window, `(start, end)` in Unix seconds. A time that is present must be RFC 3339
/// (a window whose bound cannot be read is refused, never widened to "always"); a log key
/// without a window, or with a window without a start, is refused.
pub(crate) fn range(
    r: Option<&TimeRange>,
    kind: Window,
    whose: &str,
) -> Result<(Option<i64>, Option<i64>), VerifyError> {
    let bad = |m: String| VerifyError::BadTrustedRoot(format!("{whose}: {m}"));
    let time = |t: Option<&str>, which: &str| match t {
        None => Ok(None),
        Some(t) => parse_rfc3339(t).map(Some).ok_or_else(|| {
            bad(format!(
                "the validity {which} {t:?} is not an RFC 3339 time"
            ))
        }),
    };
    let (start, end) = match r {
        Some(r) => (
            time(r.start.as_deref(), "start")?,
            time(r.end.as_deref(), "end")?,
        ),
        None if kind == Window::Log => {
            return Err(bad(
                "the log's public key has no validity period (validFor)".into(),
            ))
        }
        None => (None, None),
    };
    if kind == Window::Log && start.is_none() {
        return Err(bad(
            "the log's public key validity period has no start".into()
        ));
    }
    Ok((start, end))
}

fn subject_and_spki(der: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let (_, x) = x509_parser::parse_x509_certificate(der).ok()?;
    Some((
        x.subject().as_raw().to_vec(),
        x.tbs_certificate.subject_pki.raw.to_vec(),
    ))
}

/// Verifies, once, that each CA certificate of `chain` (leaf-most first, root last) is a CA
/// signed by the next, and returns the leaf-most CA as an anchor with the chain's common
/// validity window.
fn pre_verify(chain: &[Vec<u8>]) -> Option<PreVerified> {
    let parsed: Vec<_> = chain
        .iter()
        .map(|c| x509_parser::parse_x509_certificate(c).ok().map(|(_, x)| x))
        .collect::<Option<Vec<_>>>()?;
    for (i, c) in parsed.iter().enumerate() {
        let bc = c.basic_constraints().ok().flatten()?;
        if !bc.value.ca {
            return None;
        }
        let issuer = parsed.get(i + 1).unwrap_or(c);
        if c.issuer() != issuer.subject() {
            return None;
        }
        c.verify_signature(Some(issuer.public_key())).ok()?;
    }
    let not_before = parsed
        .iter()
        .map(|c| c.validity().not_before.timestamp())
        .max()?;
    let not_after = parsed
        .iter()
        .map(|c| c.validity().not_after.timestamp())
        .min()?;
    let der = CertificateDer::from(chain[0].clone());
    let anchor = webpki::anchor_from_trusted_cert(&der).ok()?.to_owned();
    Some(PreVerified {
        anchor,
        not_before,
        not_after,
    })
}

/// A trusted root, decoded once.
#[derive(Debug, Clone)]
pub struct TrustMaterial {
    pub(crate) tlogs: Vec<LogKey>,
    pub(crate) ctlogs: Vec<LogKey>,
    pub(crate) cas: Vec<CaCerts>,
    pub(crate) tsas: Vec<crate::timestamp::Authority>,
}

impl TrustMaterial {
    pub fn from_trusted_root(tr: &TrustedRoot) -> Result<TrustMaterial, VerifyError> {
        let bad = |w: String| VerifyError::BadTrustedRoot(w);
        let logs = |v: &[LogInstance]| -> Result<Vec<LogKey>, VerifyError> {
            let mut out = Vec::new();
            for l in v {
                let der = B64
                    .decode(&l.public_key.raw_bytes)
                    .map_err(|_| bad(format!("{}: key is not base64", l.base_url)))?;
                let Ok(key) = PublicKey::from_spki_der(&der) else {
                    continue; // key types this verifier does not use
                };
                let id: [u8; 32] = B64
                    .decode(&l.log_id.key_id)
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| bad(format!("{}: log ID is not 32 bytes", l.base_url)))?;
                let (from, to) = range(l.public_key.valid_for.as_ref(), Window::Log, &l.base_url)?;
                out.push(LogKey {
                    id,
                    key,
                    origin: host_of(&l.base_url),
                    from,
                    to,
                });
            }
            Ok(out)
        };
        let mut cas = Vec::new();
        for ca in &tr.certificate_authorities {
            let certs = ca
                .cert_chain
                .certificates
                .iter()
                .map(|c| {
                    B64.decode(&c.raw_bytes)
                        .map_err(|_| bad(format!("{}: certificate is not base64", ca.uri)))
                })
                .collect::<Result<Vec<_>, _>>()?;
            if certs.is_empty() {
                continue;
            }
            let (from, to) = range(ca.valid_for.as_ref(), Window::Authority, &ca.uri)?;
            let root = CertificateDer::from(certs.last().expect("non-empty").clone());
            let anchor = webpki::anchor_from_trusted_cert(&root)
                .ok()
                .map(|a| a.to_owned());
            let intermediates = certs[..certs.len() - 1]
                .iter()
                .map(|c| CertificateDer::from(c.clone()))
                .collect();
            let names = certs.iter().filter_map(|c| subject_and_spki(c)).collect();
            cas.push(CaCerts {
                from,
                to,
                anchor,
                intermediates,
                issuing: pre_verify(&certs),
                names,
            });
        }
        let mut tsas = Vec::new();
        for t in &tr.timestamp_authorities {
            let chain = t
                .cert_chain
                .certificates
                .iter()
                .map(|c| {
                    B64.decode(&c.raw_bytes)
                        .map_err(|_| bad(format!("{}: TSA certificate is not base64", t.uri)))
                })
                .collect::<Result<Vec<_>, _>>()?;
            if chain.is_empty() {
                continue;
            }
            let (from, to) = range(t.valid_for.as_ref(), Window::Authority, &t.uri)?;
            tsas.push(crate::timestamp::Authority { chain, from, to });
        }
        Ok(TrustMaterial {
            tlogs: logs(&tr.tlogs)?,
            ctlogs: logs(&tr.ctlogs)?,
            cas,
            tsas,
        })
    }

    pub(crate) fn tlog(&self, id: &[u8]) -> Option<&LogKey> {
        self.tlogs.iter().find(|l| l.id == id)
    }

    /// Verifies an RFC 3161 timestamp (DER `TimeStampResp`) over `timestamped` against the
    /// trusted root's timestamp authorities; returns its genTime.
    pub fn verify_timestamp(&self, resp: &[u8], timestamped: &[u8]) -> Result<i64, VerifyError> {
        crate::timestamp::verify(resp, timestamped, &self.tsas)
            .map(|v| v.time)
            .map_err(VerifyError::Timestamp)
    }
}

#[cfg(test)]
mod window_tests {
    use super::*;

    type Bounds = (Option<i64>, Option<i64>);

    /// The public-good staging root, with one kind's first window replaced by `w` (`None`: the
    /// `validFor` field removed).
    fn with_window(kind: &str, w: Option<serde_json::Value>) -> Result<TrustMaterial, VerifyError> {
        let mut v: serde_json::Value =
            serde_json::from_slice(&crate::testdata::sigstore("staging_trusted_root.json"))
                .unwrap();
        // The first entry with a key this verifier reads (the CT logs start with an RSA key
        // in PKCS#1 form, which it skips).
        let i = v[kind]
            .as_array()
            .unwrap()
            .iter()
            .position(|x| {
                x["publicKey"]["keyDetails"]
                    .as_str()
                    .is_none_or(|d| d.starts_with("PKIX_ECDSA") || d.starts_with("PKIX_ED25519"))
            })
            .unwrap();
        let item = &mut v[kind][i];
        let holder = if kind == "tlogs" || kind == "ctlogs" {
            &mut item["publicKey"]
        } else {
            item
        };
        let obj = holder.as_object_mut().unwrap();
        match w {
            Some(w) => {
                obj.insert("validFor".into(), w);
            }
            None => {
                obj.remove("validFor");
            }
        }
        let tr: TrustedRoot = serde_json::from_value(v).unwrap();
        TrustMaterial::from_trusted_root(&tr)
    }

    fn first_window(m: &TrustMaterial, kind: &str) -> (Option<i64>, Option<i64>) {
        match kind {
            "tlogs" => (m.tlogs[0].from, m.tlogs[0].to),
            "ctlogs" => (m.ctlogs[0].from, m.ctlogs[0].to),
            "certificateAuthorities" => (m.cas[0].from, m.cas[0].to),
            _ => (m.tsas[0].from, m.tsas[0].to),
        }
    }

    /// Every kind of window for every kind of trusted entity, as protobuf-specs and sigstore-go
    /// define them: log keys need a window with a start; CA and TSA windows are optional in
    /// whole and in part; a bound that is present must parse.
    #[test]
    fn validity_windows_are_read_as_sigstore_go_reads_them() {
        use serde_json::json;
        let (s, e) = ("2021-01-01T00:00:00Z", "2030-01-01T00:00:00Z");
        let (ts, te) = (parse_rfc3339(s), parse_rfc3339(e));
        for kind in [
            "tlogs",
            "ctlogs",
            "certificateAuthorities",
            "timestampAuthorities",
        ] {
            let log = kind.ends_with("logs");
            let cases: Vec<(&str, Option<serde_json::Value>, Option<Bounds>)> = vec![
                ("no window", None, (!log).then_some((None, None))),
                ("start only", Some(json!({"start": s})), Some((ts, None))),
                (
                    "start and end",
                    Some(json!({"start": s, "end": e})),
                    Some((ts, te)),
                ),
                (
                    "end only (no start)",
                    Some(json!({"end": e})),
                    (!log).then_some((None, te)),
                ),
                (
                    "an empty window",
                    Some(json!({})),
                    (!log).then_some((None, None)),
                ),
                (
                    "a start that is not a time",
                    Some(json!({"start": "yesterday"})),
                    None,
                ),
                (
                    "an end that is not a time",
                    Some(json!({"start": s, "end": "2030-13-01T00:00:00Z"})),
                    None,
                ),
            ];
            for (what, w, want) in cases {
                let got = with_window(kind, w);
                match want {
                    Some(window) => {
                        let m = got.unwrap_or_else(|e| panic!("{kind}, {what}: {e}"));
                        assert_eq!(first_window(&m, kind), window, "{kind}, {what}");
                    }
                    None => {
                        let e = got
                            .err()
                            .unwrap_or_else(|| panic!("{kind}, {what}: accepted"));
                        assert!(
                            matches!(e, VerifyError::BadTrustedRoot(_)),
                            "{kind}, {what}: {e}"
                        );
                    }
                }
            }
        }
        // The window is used: inside it a log key is usable, outside it is not.
        let m = with_window("tlogs", Some(json!({"start": s, "end": e}))).unwrap();
        let k = &m.tlogs[0];
        assert!(within(k.from, k.to, ts.unwrap()));
        assert!(!within(k.from, k.to, ts.unwrap() - 1));
        assert!(!within(k.from, k.to, te.unwrap() + 1));
    }
}
