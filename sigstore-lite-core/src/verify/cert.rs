//! The certificate checks: the leaf's chain to a trusted CA at a given time (rustls-webpki, EKU
//! codeSigning) and its embedded SCT from a trusted CT log.

use rustls_pki_types::{CertificateDer, UnixTime};

use crate::fulcio::{self, FulcioCert};
use crate::keys::{cert_algs, sha256};
use crate::sct;

use super::material::{within, TrustMaterial};
use super::{ChainError, SctFailure, VerifyError};

const CODE_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];

impl TrustMaterial {
    /// Verifies the leaf's chain to a trusted CA valid at `at` (with extra intermediates, e.g. a
    /// v0.1 bundle's chain), for codeSigning, and its embedded SCT. Returns the decoded leaf.
    pub fn verify_certificate(
        &self,
        leaf: &[u8],
        extra: &[Vec<u8>],
        at: i64,
    ) -> Result<FulcioCert, VerifyError> {
        let chain_err = |source| VerifyError::Chain { at, source };
        let cert = fulcio::read(leaf).map_err(|e| chain_err(ChainError::Certificate(e)))?;
        let leaf_der = CertificateDer::from(leaf);
        let ee = webpki::EndEntityCert::try_from(&leaf_der)
            .map_err(|e| chain_err(ChainError::Webpki(e)))?;
        let time = UnixTime::since_unix_epoch(std::time::Duration::from_secs(
            u64::try_from(at).unwrap_or(0),
        ));
        let extra_der: Vec<CertificateDer<'_>> = extra
            .iter()
            .map(|c| CertificateDer::from(c.as_slice()))
            .collect();
        let mut last = ChainError::NoValidCa;
        for ca in self.cas.iter().filter(|c| within(c.from, c.to, at)) {
            let verify = |anchor: &rustls_pki_types::TrustAnchor<'_>,
                          inter: &[CertificateDer<'_>]| {
                ee.verify_for_usage(
                    cert_algs(),
                    std::slice::from_ref(anchor),
                    inter,
                    time,
                    webpki::KeyUsage::required(CODE_SIGNING),
                    None,
                    None,
                )
                .map(|_| ())
            };
            // Fast path: the issuing CA, its chain to the root verified when the root was loaded.
            let fast = ca
                .issuing
                .as_ref()
                .filter(|p| extra.is_empty() && p.not_before <= at && at <= p.not_after);
            let result = match (fast, &ca.anchor) {
                (Some(p), _) => verify(&p.anchor, &[]),
                (None, Some(anchor)) => {
                    let mut inter = ca.intermediates.clone();
                    inter.extend(extra_der.iter().cloned());
                    verify(anchor, &inter)
                }
                (None, None) => continue,
            };
            match result {
                Ok(()) => {
                    self.verify_sct(leaf, &cert.issuer_dn, &ca.names, extra)?;
                    return Ok(cert);
                }
                Err(e) => last = ChainError::Webpki(e),
            }
        }
        Err(chain_err(last))
    }

    fn verify_sct(
        &self,
        leaf: &[u8],
        issuer_name: &[u8],
        names: &[(Vec<u8>, Vec<u8>)],
        extra: &[Vec<u8>],
    ) -> Result<(), VerifyError> {
        let extra_names: Vec<(Vec<u8>, Vec<u8>)> = extra
            .iter()
            .filter_map(|c| {
                let (_, x) = x509_parser::parse_x509_certificate(c).ok()?;
                Some((
                    x.subject().as_raw().to_vec(),
                    x.tbs_certificate.subject_pki.raw.to_vec(),
                ))
            })
            .collect();
        let issuer_spki = names
            .iter()
            .chain(&extra_names)
            .find(|(subject, _)| subject.as_slice() == issuer_name)
            .map(|(_, spki)| spki)
            .ok_or(VerifyError::Sct(SctFailure::UnknownIssuer))?;
        let ikh = sha256(issuer_spki);
        let (tbs, scts) =
            sct::tbs_without_sct(leaf).map_err(|e| VerifyError::Sct(SctFailure::Malformed(e)))?;
        for s in &scts {
            let Some(log) = self.ctlogs.iter().find(|l| l.id == s.log_id) else {
                continue;
            };
            let signed = sct::precert_signed_data(s.timestamp_ms, &ikh, &tbs, &s.extensions);
            if log.key.verify_message(&signed, &s.signature).is_ok()
                && within(log.from, log.to, (s.timestamp_ms / 1000) as i64)
            {
                return Ok(());
            }
        }
        Err(VerifyError::Sct(SctFailure::NoneVerifies(scts.len())))
    }
}
