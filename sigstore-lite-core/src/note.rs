//! C2SP signed notes and transparency-log checkpoints, with Rekor v1's ECDSA key hint.
//!
//! A signed note is `text` (ending in `\n`), one blank line, then signature lines
//! `— <name> <base64(key_hint[4] || signature)>`. A checkpoint's text is origin, size and base64
//! root hash, one per line, optionally followed by extension lines (Rekor v1 adds `Timestamp: N`).

use base64::{engine::general_purpose::STANDARD as B64, Engine};

use crate::keys::{PublicKey, SignError, Signer};
use crate::merkle::Hash;

const EM_DASH: &str = "\u{2014}";

/// Why a note or checkpoint was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("signed note has no blank line between text and signatures")]
    NoSeparator,
    #[error("signed note text has a control character or does not end in a newline")]
    BadText,
    #[error("malformed signature line {0:?}")]
    BadSignatureLine(String),
    #[error("checkpoint text is malformed: {0}")]
    BadCheckpoint(&'static str),
    #[error("no signature by {name:?} with key hint {hint}")]
    NoMatchingSignature { name: String, hint: String },
    #[error("the checkpoint signature does not verify")]
    BadSignature,
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    pub name: String,
    pub key_hint: [u8; 4],
    pub signature: Vec<u8>,
}

/// A note text with its signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedNote {
    /// The signed text, ending in `\n`.
    pub text: String,
    pub signatures: Vec<NoteSignature>,
}

impl SignedNote {
    /// Parses the wire form, splitting text and signatures at the last blank line.
    pub fn parse(s: &str) -> Result<Self, NoteError> {
        let idx = s.rfind("\n\n").ok_or(NoteError::NoSeparator)?;
        let text = &s[..idx + 1];
        if text.chars().any(|c| c.is_control() && c != '\n') {
            return Err(NoteError::BadText);
        }
        let sigs = &s[idx + 2..];
        if !sigs.ends_with('\n') {
            return Err(NoteError::BadSignatureLine(sigs.to_string()));
        }
        let mut signatures = Vec::new();
        for line in sigs[..sigs.len() - 1].split('\n') {
            let bad = || NoteError::BadSignatureLine(line.to_string());
            let rest = line
                .strip_prefix(EM_DASH)
                .and_then(|r| r.strip_prefix(' '))
                .ok_or_else(bad)?;
            let (name, b64) = rest.split_once(' ').ok_or_else(bad)?;
            if name.is_empty() || name.contains('+') {
                return Err(bad());
            }
            let raw = B64.decode(b64).map_err(|_| bad())?;
            if raw.len() < 5 {
                return Err(bad());
            }
            signatures.push(NoteSignature {
                name: name.to_string(),
                key_hint: raw[..4].try_into().expect("4 bytes"),
                signature: raw[4..].to_vec(),
            });
        }
        if signatures.is_empty() {
            return Err(NoteError::NoSeparator);
        }
        Ok(SignedNote {
            text: text.to_string(),
            signatures,
        })
    }

    /// The wire form.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(self.text.len() + 128);
        out.push_str(&self.text);
        out.push('\n');
        for s in &self.signatures {
            let mut raw = s.key_hint.to_vec();
            raw.extend_from_slice(&s.signature);
            out.push_str(EM_DASH);
            out.push(' ');
            out.push_str(&s.name);
            out.push(' ');
            out.push_str(&B64.encode(raw));
            out.push('\n');
        }
        out
    }

    /// Signs `text` as `name` with a Rekor v1 style key hint (first 4 bytes of SHA-256(SPKI)).
    pub fn sign(text: String, name: &str, signer: &dyn Signer) -> Result<Self, SignError> {
        let signature = signer.try_sign(text.as_bytes())?;
        let key_hint = signer.public_key().key_id()[..4]
            .try_into()
            .expect("4 bytes");
        Ok(SignedNote {
            text,
            signatures: vec![NoteSignature {
                name: name.to_string(),
                key_hint,
                signature,
            }],
        })
    }

    /// A note signed by `name` with the C2SP key hint of `key` and the given signature.
    pub fn with_signature(text: String, name: &str, key: &PublicKey, signature: Vec<u8>) -> Self {
        let key_hint = c2sp_key_hash(name, key)[..4].try_into().expect("4 bytes");
        SignedNote {
            text,
            signatures: vec![NoteSignature {
                name: name.to_string(),
                key_hint,
                signature,
            }],
        }
    }

    /// Verifies the signature made by `name` with `key` under C2SP's key IDs (Ed25519: pure
    /// Ed25519 over the text; ECDSA: over its SHA-256). Other signatures are ignored.
    pub fn verify_c2sp(&self, name: &str, key: &PublicKey) -> Result<(), NoteError> {
        let hint: [u8; 4] = c2sp_key_hash(name, key)[..4].try_into().expect("4 bytes");
        let sig = self
            .signatures
            .iter()
            .find(|s| s.name == name && s.key_hint == hint)
            .ok_or_else(|| NoteError::NoMatchingSignature {
                name: name.to_string(),
                hint: hex::encode(hint),
            })?;
        key.verify_message_sha256(self.text.as_bytes(), &sig.signature)
            .map_err(|_| NoteError::BadSignature)
    }

    /// Verifies the signature made by `name` with the ECDSA/RSA `key`, whose key hint is the first 4
    /// bytes of SHA-256(SPKI DER) (Rekor v1 and C2SP ECDSA). Other signatures are ignored.
    pub fn verify(&self, name: &str, key: &PublicKey) -> Result<(), NoteError> {
        let hint: [u8; 4] = key.key_id()[..4].try_into().expect("4 bytes");
        let sig = self
            .signatures
            .iter()
            .find(|s| s.name == name && s.key_hint == hint)
            .ok_or_else(|| NoteError::NoMatchingSignature {
                name: name.to_string(),
                hint: hex::encode(hint),
            })?;
        key.verify_message(self.text.as_bytes(), &sig.signature)
            .map_err(|_| NoteError::BadSignature)
    }
}

/// A transparency-log checkpoint (C2SP tlog-checkpoint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root_hash: Hash,
    /// Extension lines after the root hash, without their newline (e.g. `Timestamp: 1712085549`).
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// The note text.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root_hash)
        );
        for e in &self.extensions {
            s.push_str(e);
            s.push('\n');
        }
        s
    }

    /// Parses a note text.
    pub fn from_text(text: &str) -> Result<Self, NoteError> {
        let body = text
            .strip_suffix('\n')
            .ok_or(NoteError::BadCheckpoint("no final newline"))?;
        let mut lines = body.split('\n');
        let origin = lines
            .next()
            .filter(|o| !o.is_empty())
            .ok_or(NoteError::BadCheckpoint("no origin"))?;
        let size_s = lines.next().ok_or(NoteError::BadCheckpoint("no size"))?;
        if size_s.is_empty()
            || !size_s.bytes().all(|b| b.is_ascii_digit())
            || (size_s.len() > 1 && size_s.starts_with('0'))
        {
            return Err(NoteError::BadCheckpoint("size is not a decimal number"));
        }
        let size = size_s
            .parse()
            .map_err(|_| NoteError::BadCheckpoint("size is too large"))?;
        let root = B64
            .decode(
                lines
                    .next()
                    .ok_or(NoteError::BadCheckpoint("no root hash"))?,
            )
            .map_err(|_| NoteError::BadCheckpoint("root hash is not base64"))?;
        let root_hash = root
            .try_into()
            .map_err(|_| NoteError::BadCheckpoint("root hash is not 32 bytes"))?;
        let extensions: Vec<String> = lines.map(str::to_string).collect();
        if extensions.iter().any(|e| e.is_empty()) {
            return Err(NoteError::BadCheckpoint("empty extension line"));
        }
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root_hash,
            extensions,
        })
    }
}

/// C2SP's full key hash, whose first 4 bytes are a note's key hint and whose 32 bytes are a Rekor
/// v2 log ID: Ed25519 `SHA-256(name || "\n" || 0x01 || key)`; ECDSA `SHA-256(SPKI DER)`; RSA
/// (Sigstore) `SHA-256(name || "\n" || 0xff || "PKIX-RSA-PKCS#1v1.5" || SPKI DER)`.
pub fn c2sp_key_hash(name: &str, key: &PublicKey) -> [u8; 32] {
    use crate::keys::KeyKind;
    let mut m = Vec::with_capacity(name.len() + 64 + key.spki_der().len());
    match key.kind() {
        KeyKind::Ed25519 => {
            m.extend_from_slice(name.as_bytes());
            m.push(b'\n');
            m.push(0x01);
            m.extend_from_slice(key.raw());
        }
        KeyKind::Rsa { .. } => {
            m.extend_from_slice(name.as_bytes());
            m.push(b'\n');
            m.push(0xff);
            m.extend_from_slice(b"PKIX-RSA-PKCS#1v1.5");
            m.extend_from_slice(key.spki_der());
        }
        _ => m.extend_from_slice(key.spki_der()),
    }
    crate::keys::sha256(&m)
}

/// Rekor v1 checkpoint origin: `"<hostname> - <decimal tree id>"`.
pub fn rekor_origin(host: &str, tree_id: i64) -> String {
    format!("{host} - {tree_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAGING_NOTE: &str = "rekor.sigstage.dev - 8050909264565447525\n25901138\niGAoHccJIyFemFxmEftti2YC8hvPqixBi5y1EyvfF4c=\n\n\u{2014} rekor.sigstage.dev 0y8wozBFAiAMJJLbnNOnmizMbVBz9/A/qnMK15BudWoZkuE+obD6CAIhAJf6A3h2iOpuhz/duEhG3fbAQG9PXln4wXPHFBT5wT1a\n";

    #[test]
    fn parses_and_reencodes_real_staging_checkpoint() {
        let n = SignedNote::parse(STAGING_NOTE).unwrap();
        assert_eq!(n.encode(), STAGING_NOTE);
        assert_eq!(hex::encode(n.signatures[0].key_hint), "d32f30a3");
        let c = Checkpoint::from_text(&n.text).unwrap();
        assert_eq!(c.size, 25901138);
        assert_eq!(c.origin, "rekor.sigstage.dev - 8050909264565447525");
        assert_eq!(c.to_text(), n.text);
    }

    #[test]
    fn sign_then_verify_and_tamper() {
        let signer = crate::keys::P256Signer::generate_p256().unwrap();
        let cp = Checkpoint {
            origin: rekor_origin("127.0.0.1", 42),
            size: 7,
            root_hash: [9; 32],
            extensions: vec!["Timestamp: 1".into()],
        };
        let note = SignedNote::sign(cp.to_text(), "127.0.0.1", &signer).unwrap();
        let wire = note.encode();
        let back = SignedNote::parse(&wire).unwrap();
        back.verify("127.0.0.1", signer.public_key()).unwrap();
        assert_eq!(Checkpoint::from_text(&back.text).unwrap(), cp);
        let tampered = SignedNote::parse(&wire.replacen("\n7\n", "\n8\n", 1)).unwrap();
        assert_eq!(
            tampered.verify("127.0.0.1", signer.public_key()),
            Err(NoteError::BadSignature)
        );
        assert!(matches!(
            back.verify("other", signer.public_key()),
            Err(NoteError::NoMatchingSignature { .. })
        ));
    }

    #[test]
    fn c2sp_vector_and_ed25519_roundtrip() {
        // C2SP signed-note.md: example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k
        let vkey = B64
            .decode("AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k")
            .unwrap();
        let mut spki = vec![
            0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
        ];
        spki.extend_from_slice(&vkey[1..]);
        let key = PublicKey::from_spki_der(&spki).unwrap();
        assert_eq!(
            hex::encode(&c2sp_key_hash("example.com/foo", &key)[..4]),
            "530d903a"
        );
        let note = "This is an example message.\n\n\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";
        let n = SignedNote::parse(note).unwrap();
        n.verify_c2sp("example.com/foo", &key).unwrap();
        assert!(n.verify_c2sp("example.com/bar", &key).is_err());
        let s = crate::keys::Ed25519Signer::generate().unwrap();
        let text = "127.0.0.1\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n".to_string();
        let sig = s.sign(text.as_bytes());
        let n = SignedNote::with_signature(text, "127.0.0.1", s.public_key(), sig);
        SignedNote::parse(&n.encode())
            .unwrap()
            .verify_c2sp("127.0.0.1", s.public_key())
            .unwrap();
    }

    #[test]
    fn rejects_malformed() {
        assert!(SignedNote::parse("a\n1\nAA==\n").is_err());
        assert!(Checkpoint::from_text("o\n01\nAA==\n").is_err());
        assert!(Checkpoint::from_text("o\n1\nAA==\n").is_err());
    }
}
