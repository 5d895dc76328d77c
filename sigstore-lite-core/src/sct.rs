//! RFC 6962 signed certificate timestamps (SCT v1) embedded in X.509 certificates.
//!
//! [`precert_signed_data`] builds what a CT log signs for a precertificate entry; [`tbs_without_sct`]
//! rebuilds, from a final certificate, the TBSCertificate with the SCT-list extension removed (which
//! equals the precertificate's TBS without the poison extension).

use der::{Decode, Encode};

/// OID of the embedded SCT list extension.
pub const OID_SCT_LIST: &str = "1.3.6.1.4.1.11129.2.4.2";
/// OID of the precertificate poison extension.
pub const OID_PRECERT_POISON: &str = "1.3.6.1.4.1.11129.2.4.3";

/// Why an SCT or SCT list was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SctError {
    #[error("malformed SCT: {0}")]
    Malformed(&'static str),
    #[error("the certificate cannot be parsed: {0}")]
    BadCertificate(String),
    #[error("the certificate has no embedded SCT")]
    NoSct,
}

/// One SCT v1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sct {
    pub log_id: [u8; 32],
    pub timestamp_ms: u64,
    pub extensions: Vec<u8>,
    /// TLS HashAlgorithm (4 = sha256).
    pub hash_alg: u8,
    /// TLS SignatureAlgorithm (3 = ecdsa).
    pub sig_alg: u8,
    pub signature: Vec<u8>,
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], SctError> {
        if self.0.len() < n {
            return Err(SctError::Malformed("truncated"));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, SctError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<usize, SctError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]) as usize)
    }
}

impl Sct {
    /// TLS encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(47 + self.extensions.len() + self.signature.len());
        v.push(0);
        v.extend_from_slice(&self.log_id);
        v.extend_from_slice(&self.timestamp_ms.to_be_bytes());
        v.extend_from_slice(&(self.extensions.len() as u16).to_be_bytes());
        v.extend_from_slice(&self.extensions);
        v.push(self.hash_alg);
        v.push(self.sig_alg);
        v.extend_from_slice(&(self.signature.len() as u16).to_be_bytes());
        v.extend_from_slice(&self.signature);
        v
    }

    /// Parses one TLS-encoded SCT v1.
    pub fn decode(b: &[u8]) -> Result<Sct, SctError> {
        let mut r = Reader(b);
        if r.u8()? != 0 {
            return Err(SctError::Malformed("not SCT version 1"));
        }
        let log_id = r.take(32)?.try_into().expect("32 bytes");
        let timestamp_ms = u64::from_be_bytes(r.take(8)?.try_into().expect("8 bytes"));
        let n = r.u16()?;
        let extensions = r.take(n)?.to_vec();
        let hash_alg = r.u8()?;
        let sig_alg = r.u8()?;
        let n = r.u16()?;
        let signature = r.take(n)?.to_vec();
        if !r.0.is_empty() {
            return Err(SctError::Malformed("trailing bytes"));
        }
        Ok(Sct {
            log_id,
            timestamp_ms,
            extensions,
            hash_alg,
            sig_alg,
            signature,
        })
    }
}

/// TLS `SignedCertificateTimestampList`.
pub fn encode_list(scts: &[Vec<u8>]) -> Vec<u8> {
    let total: usize = scts.iter().map(|s| 2 + s.len()).sum();
    let mut v = Vec::with_capacity(2 + total);
    v.extend_from_slice(&(total as u16).to_be_bytes());
    for s in scts {
        v.extend_from_slice(&(s.len() as u16).to_be_bytes());
        v.extend_from_slice(s);
    }
    v
}

/// Parses a TLS `SignedCertificateTimestampList`.
pub fn decode_list(b: &[u8]) -> Result<Vec<Vec<u8>>, SctError> {
    let mut r = Reader(b);
    let total = r.u16()?;
    let mut body = Reader(r.take(total)?);
    if !r.0.is_empty() {
        return Err(SctError::Malformed("trailing bytes after the SCT list"));
    }
    let mut out = Vec::new();
    while !body.0.is_empty() {
        let n = body.u16()?;
        out.push(body.take(n)?.to_vec());
    }
    Ok(out)
}

/// The extnValue contents of the SCT-list extension: a DER OCTET STRING holding the TLS list.
pub fn extension_value(scts: &[Vec<u8>]) -> Vec<u8> {
    der::asn1::OctetString::new(encode_list(scts))
        .expect("an SCT list fits an OCTET STRING")
        .to_der()
        .expect("OCTET STRING encodes")
}

/// What the CT log signs for a precertificate entry (RFC 6962 §3.2).
pub fn precert_signed_data(
    timestamp_ms: u64,
    issuer_key_hash: &[u8; 32],
    tbs: &[u8],
    extensions: &[u8],
) -> Vec<u8> {
    let mut v = Vec::with_capacity(50 + tbs.len() + extensions.len());
    v.push(0); // sct_version v1
    v.push(0); // signature_type certificate_timestamp
    v.extend_from_slice(&timestamp_ms.to_be_bytes());
    v.extend_from_slice(&1u16.to_be_bytes()); // precert_entry
    v.extend_from_slice(issuer_key_hash);
    let len = tbs.len() as u32;
    v.extend_from_slice(&len.to_be_bytes()[1..]);
    v.extend_from_slice(tbs);
    v.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
    v.extend_from_slice(extensions);
    v
}

/// From a final certificate: its TBSCertificate DER without the SCT-list extension, and the SCTs
/// that extension held.
pub fn tbs_without_sct(cert_der: &[u8]) -> Result<(Vec<u8>, Vec<Sct>), SctError> {
    let mut cert = x509_cert::Certificate::from_der(cert_der)
        .map_err(|e| SctError::BadCertificate(e.to_string()))?;
    let oid = der::asn1::ObjectIdentifier::new_unwrap(OID_SCT_LIST);
    let exts = cert.tbs_certificate.extensions.take().unwrap_or_default();
    let (sct_exts, rest): (Vec<_>, Vec<_>) = exts.into_iter().partition(|e| e.extn_id == oid);
    let [ext] = sct_exts.as_slice() else {
        return Err(SctError::NoSct);
    };
    let inner = der::asn1::OctetString::from_der(ext.extn_value.as_bytes())
        .map_err(|_| SctError::Malformed("SCT extension is not an OCTET STRING"))?;
    let scts = decode_list(inner.as_bytes())?
        .iter()
        .map(|s| Sct::decode(s))
        .collect::<Result<Vec<_>, _>>()?;
    cert.tbs_certificate.extensions = if rest.is_empty() { None } else { Some(rest) };
    let tbs = cert
        .tbs_certificate
        .to_der()
        .map_err(|e| SctError::BadCertificate(e.to_string()))?;
    Ok((tbs, scts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::{engine::general_purpose::STANDARD as B64, Engine};

    fn staging() -> (Vec<u8>, serde_json::Value) {
        let b: serde_json::Value =
            serde_json::from_slice(&crate::testdata::sigstore("bundle_v3.txt.sigstore")).unwrap();
        let leaf = B64
            .decode(
                b["verificationMaterial"]["certificate"]["rawBytes"]
                    .as_str()
                    .unwrap(),
            )
            .unwrap();
        let root: serde_json::Value =
            serde_json::from_slice(&crate::testdata::sigstore("staging_trusted_root.json"))
                .unwrap();
        (leaf, root)
    }

    #[test]
    fn real_staging_sct_verifies_over_the_rebuilt_precert() {
        let (leaf, root) = staging();
        let (tbs, scts) = tbs_without_sct(&leaf).unwrap();
        assert_eq!(scts.len(), 1);
        let sct = &scts[0];
        assert_eq!(
            hex::encode(sct.log_id),
            "2b30bcdc6888c9e2e1d826295e741f4839319602f29c33cb5e4340feb2ac867a"
        );
        assert_eq!(Sct::decode(&sct.encode()).unwrap(), *sct);
        // Issuer: the staging intermediate (first certificate of the CA whose chain issued it).
        let ca = root["certificateAuthorities"]
            .as_array()
            .unwrap()
            .iter()
            .rev()
            .find(|ca| {
                let c = B64
                    .decode(
                        ca["certChain"]["certificates"][0]["rawBytes"]
                            .as_str()
                            .unwrap(),
                    )
                    .unwrap();
                let (_, x) = x509_parser::parse_x509_certificate(&c).unwrap();
                let (_, l) = x509_parser::parse_x509_certificate(&leaf).unwrap();
                x.subject() == l.issuer()
            })
            .unwrap();
        let inter = B64
            .decode(
                ca["certChain"]["certificates"][0]["rawBytes"]
                    .as_str()
                    .unwrap(),
            )
            .unwrap();
        let (_, x) = x509_parser::parse_x509_certificate(&inter).unwrap();
        let issuer_key_hash: [u8; 32] = crate::keys::sha256(x.tbs_certificate.subject_pki.raw);
        let signed = precert_signed_data(sct.timestamp_ms, &issuer_key_hash, &tbs, &sct.extensions);
        let ct = root["ctlogs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| B64.decode(c["logId"]["keyId"].as_str().unwrap()).unwrap() == sct.log_id)
            .unwrap();
        let key = crate::keys::PublicKey::from_spki_der(
            &B64.decode(ct["publicKey"]["rawBytes"].as_str().unwrap())
                .unwrap(),
        )
        .unwrap();
        key.verify_message(&signed, &sct.signature).unwrap();
        let mut bad = signed.clone();
        bad[20] ^= 1;
        assert!(key.verify_message(&bad, &sct.signature).is_err());
    }
}
