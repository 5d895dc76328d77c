//! Why a timestamp request is refused, and how the refusal is written on the wire: the
//! `PKIFailureInfo` named bit of RFC 3161 section 2.4.2 in a rejection `TimeStampResp`, and a
//! stable reason name for the JSON API.

use der::asn1::{BitString, Utf8StringRef};
use der::{Encode, Sequence};

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    #[error("the request is not a DER TimeStampReq")]
    BadDataFormat,
    #[error("the imprint's hash algorithm is not SHA-256, SHA-384 or SHA-512")]
    BadAlg,
    #[error("the imprint's length does not match its hash algorithm")]
    BadRequest,
    #[error("the nonce is not an integer (it must be echoed in the timestamp)")]
    BadNonce,
    #[error("the requested policy is not 1.3.6.1.4.1.57264.2")]
    UnacceptedPolicy,
    #[error("request extensions are not supported")]
    UnacceptedExtension,
}

impl Refusal {
    /// The `PKIFailureInfo` bit (RFC 3161 2.4.2): badAlg 0, badRequest 2, badDataFormat 5,
    /// timeNotAvailable 14, unacceptedPolicy 15, unacceptedExtension 16, addInfoNotAvailable 17,
    /// systemFailure 25.
    pub fn failure_bit(self) -> u8 {
        match self {
            Refusal::BadAlg => 0,
            Refusal::BadRequest | Refusal::BadNonce => 2,
            Refusal::BadDataFormat => 5,
            Refusal::UnacceptedPolicy => 15,
            Refusal::UnacceptedExtension => 16,
        }
    }

    /// The JSON API's `reason`.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::BadDataFormat => "bad_data_format",
            Refusal::BadAlg => "bad_alg",
            Refusal::BadRequest => "bad_request",
            Refusal::BadNonce => "bad_nonce",
            Refusal::UnacceptedPolicy => "unaccepted_policy",
            Refusal::UnacceptedExtension => "unaccepted_extension",
        }
    }

    /// The DER `TimeStampResp` with status rejection (2), the refusal as a one-line
    /// `statusString`, and `failInfo` with exactly the named bit set (DER: no trailing zero bits).
    pub fn response(self) -> Vec<u8> {
        let text = self.to_string();
        Resp {
            status: StatusInfo {
                status: 2,
                status_string: vec![Utf8StringRef::new(&text).expect("ASCII text")],
                fail_info: named_bit(self.failure_bit()),
            },
        }
        .to_der()
        .expect("a rejection encodes")
    }
}

/// A BIT STRING with only bit `n` set, in DER's minimal form.
fn named_bit(n: u8) -> BitString {
    let len = n as usize / 8 + 1;
    let mut bytes = vec![0u8; len];
    bytes[len - 1] = 0x80 >> (n % 8);
    BitString::new(7 - n % 8, bytes).expect("a valid bit string")
}

/// `TimeStampResp` without a token.
#[derive(Sequence)]
struct Resp<'a> {
    status: StatusInfo<'a>,
}

/// `PKIStatusInfo ::= SEQUENCE { status, statusString PKIFreeText OPTIONAL, failInfo }`.
#[derive(Sequence)]
struct StatusInfo<'a> {
    status: u8,
    status_string: Vec<Utf8StringRef<'a>>,
    fail_info: BitString,
}

#[cfg(test)]
mod tests {
    use super::*;
    use der::Decode;

    #[test]
    fn failure_bits_are_the_named_bits_of_rfc_3161() {
        for (r, bit) in [
            (Refusal::BadAlg, 0),
            (Refusal::BadRequest, 2),
            (Refusal::BadNonce, 2),
            (Refusal::BadDataFormat, 5),
            (Refusal::UnacceptedPolicy, 15),
            (Refusal::UnacceptedExtension, 16),
        ] {
            let der = r.response();
            let resp = Resp::from_der(&der).unwrap();
            assert_eq!(resp.status.status, 2);
            assert_eq!(resp.status.status_string[0].as_str(), r.to_string());
            // Read the bit string back by hand: bit n is byte n/8, mask 0x80 >> n%8.
            let fi = resp.status.fail_info;
            let raw = fi.raw_bytes();
            let set: Vec<usize> = (0..raw.len() * 8)
                .filter(|i| raw[i / 8] & (0x80 >> (i % 8)) != 0)
                .collect();
            assert_eq!(set, vec![bit as usize], "{r:?}");
            assert_eq!(
                fi.bit_len(),
                bit as usize + 1,
                "{r:?}: DER trims trailing zeros"
            );
        }
    }
}
