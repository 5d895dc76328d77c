//! A trusted root decoded once: transparency logs, CT logs and certificate authorities.

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use rustls_pki_types::{CertificateDer, TrustAnchor};

use crate::keys::PublicKey;
use crate::trust::{parse_rfc3339, LogInstance, TimeRange, TrustedRoot};

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

pub(crate) fn range(r: Option<&TimeRange>) -> (Option<i64>, Option<i64>) {
    match r {
        Some(r) => (
            r.start.as_deref().and_then(parse_rfc3339),
            r.end.as_deref().and_then(parse_rfc3339),
        ),
        None => (None, None),
    }
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
                let (from, to) = range(l.public_key.valid_for.as_ref());
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
            let (from, to) = range(Some(&ca.valid_for));
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
            let (from, to) = range(Some(&t.valid_for));
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
