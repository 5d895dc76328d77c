//! TUF 1.0 metadata (specification 1.0.x), typed: the four top-level roles, their signed
//! envelope, keys and key IDs, and signing and verifying over canonical JSON. Signatures are
//! hex, DER for ECDSA (`ecdsa` / `ecdsa-sha2-nistp256`, as sigstore/root-signing uses), raw
//! for Ed25519.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use sigstore_lite_core::keys::{sha256, KeyKind, PublicKey, Signer};

use crate::canonical;

/// The specification version written into every role.
pub const SPEC_VERSION: &str = "1.0.31";

/// The four top-level roles.
pub const ROLES: [&str; 4] = ["root", "targets", "snapshot", "timestamp"];

/// A problem with metadata: its keys, its encoding, or a signer.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("a {0} key cannot sign TUF metadata (ECDSA P-256 or P-384, or Ed25519)")]
    KeyKind(&'static str),
    #[error("{0}")]
    Canonical(#[from] canonical::CanonicalError),
    #[error("the {role} key {keyid} could not sign: {why}")]
    Sign {
        role: String,
        keyid: String,
        why: String,
    },
    #[error("{file} is not TUF metadata: {why}")]
    Parse { file: String, why: String },
}

/// A public key as TUF writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Key {
    pub keytype: String,
    pub scheme: String,
    pub keyval: KeyVal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyVal {
    pub public: String,
}

impl Key {
    /// The TUF form of a public key: PEM SPKI for ECDSA, hex for Ed25519.
    pub fn from_public(k: &PublicKey) -> Result<Key, MetadataError> {
        let (keytype, scheme, public) = match k.kind() {
            KeyKind::EcdsaP256 => ("ecdsa", "ecdsa-sha2-nistp256", k.to_pem()),
            KeyKind::EcdsaP384 => ("ecdsa", "ecdsa-sha2-nistp384", k.to_pem()),
            KeyKind::Ed25519 => ("ed25519", "ed25519", hex::encode(k.raw())),
            _ => return Err(MetadataError::KeyKind(k.kind().name())),
        };
        Ok(Key {
            keytype: keytype.into(),
            scheme: scheme.into(),
            keyval: KeyVal { public },
        })
    }

    /// The key ID: hex SHA-256 of the key's canonical JSON.
    pub fn id(&self) -> String {
        let v = serde_json::to_value(self).expect("a key is JSON");
        hex::encode(sha256(&canonical::encode(&v).expect("a key has no floats")))
    }

    fn public_key(&self) -> Option<PublicKey> {
        match self.keytype.as_str() {
            "ed25519" => {
                let raw = hex::decode(&self.keyval.public).ok()?;
                sigstore_lite_core::keys::spki_from_raw(KeyKind::Ed25519, &raw).ok()
            }
            _ => PublicKey::from_pem(&self.keyval.public).ok(),
        }
    }

    /// Whether `sig_hex` is this key's signature over `msg`.
    pub fn verifies(&self, msg: &[u8], sig_hex: &str) -> bool {
        let (Some(k), Ok(sig)) = (self.public_key(), hex::decode(sig_hex)) else {
            return false;
        };
        k.verify_message(msg, &sig).is_ok()
    }
}

/// The keys of a role and how many must sign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleKeys {
    pub keyids: Vec<String>,
    pub threshold: u32,
}

/// `root.json`'s signed part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Root {
    #[serde(rename = "_type")]
    pub kind: String,
    pub spec_version: String,
    pub version: u64,
    pub expires: String,
    pub consistent_snapshot: bool,
    pub keys: BTreeMap<String, Key>,
    pub roles: BTreeMap<String, RoleKeys>,
}

/// One target: its length and hashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetFile {
    pub length: u64,
    pub hashes: BTreeMap<String, String>,
}

impl TargetFile {
    pub fn of(bytes: &[u8]) -> TargetFile {
        TargetFile {
            length: bytes.len() as u64,
            hashes: BTreeMap::from([("sha256".to_string(), hex::encode(sha256(bytes)))]),
        }
    }

    /// The hex SHA-256 (the prefix of its consistent-snapshot file name).
    pub fn sha256(&self) -> &str {
        self.hashes.get("sha256").map(String::as_str).unwrap_or("")
    }
}

/// `targets.json`'s signed part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Targets {
    #[serde(rename = "_type")]
    pub kind: String,
    pub spec_version: String,
    pub version: u64,
    pub expires: String,
    pub targets: BTreeMap<String, TargetFile>,
}

/// A metadata file named in the snapshot or the timestamp.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaFile {
    pub version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hashes: Option<BTreeMap<String, String>>,
}

impl MetaFile {
    pub fn of(version: u64, bytes: &[u8]) -> MetaFile {
        let t = TargetFile::of(bytes);
        MetaFile {
            version,
            length: Some(t.length),
            hashes: Some(t.hashes),
        }
    }
}

/// `snapshot.json`'s and `timestamp.json`'s signed part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    #[serde(rename = "_type")]
    pub kind: String,
    pub spec_version: String,
    pub version: u64,
    pub expires: String,
    pub meta: BTreeMap<String, MetaFile>,
}

/// What every role's signed part has.
pub trait Role: Serialize + DeserializeOwned + Clone {
    fn kind(&self) -> &str;
    fn version(&self) -> u64;
    fn expires(&self) -> &str;
}

macro_rules! role {
    ($t:ty) => {
        impl Role for $t {
            fn kind(&self) -> &str {
                &self.kind
            }
            fn version(&self) -> u64 {
                self.version
            }
            fn expires(&self) -> &str {
                &self.expires
            }
        }
    };
}
role!(Root);
role!(Targets);
role!(Meta);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    pub keyid: String,
    pub sig: String,
}

/// A signed metadata file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub signatures: Vec<Signature>,
    pub signed: T,
}

/// The bytes a role's signatures cover.
pub fn signed_bytes<T: Serialize>(signed: &T) -> Result<Vec<u8>, MetadataError> {
    let v = serde_json::to_value(signed).expect("metadata is JSON");
    Ok(canonical::encode(&v)?)
}

impl<T: Role> Envelope<T> {
    /// `signed`, signed by each of `signers` (for the role named `role`, in errors).
    pub fn sign(
        signed: T,
        role: &str,
        signers: &[Arc<dyn Signer>],
    ) -> Result<Envelope<T>, MetadataError> {
        let msg = signed_bytes(&signed)?;
        let mut signatures = Vec::new();
        for s in signers {
            let keyid = Key::from_public(s.public_key())?.id();
            let sig = s.try_sign(&msg).map_err(|e| MetadataError::Sign {
                role: role.into(),
                keyid: keyid.clone(),
                why: e.to_string(),
            })?;
            signatures.push(Signature {
                keyid,
                sig: hex::encode(sig),
            });
        }
        Ok(Envelope { signatures, signed })
    }

    /// How many distinct keys of `role` signed this validly.
    pub fn valid_signatures(&self, role: &RoleKeys, keys: &BTreeMap<String, Key>) -> usize {
        let Ok(msg) = signed_bytes(&self.signed) else {
            return 0;
        };
        let mut seen = std::collections::BTreeSet::new();
        for s in &self.signatures {
            if !role.keyids.contains(&s.keyid) || seen.contains(&s.keyid) {
                continue;
            }
            if keys.get(&s.keyid).is_some_and(|k| k.verifies(&msg, &s.sig)) {
                seen.insert(s.keyid.clone());
            }
        }
        seen.len()
    }

    /// The file as written: indented JSON and a newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = serde_json::to_vec_pretty(self).expect("metadata is JSON");
        b.push(b'\n');
        b
    }

    /// Parses a file, checking its `_type` is `kind`.
    pub fn parse(file: &str, bytes: &[u8], kind: &str) -> Result<Envelope<T>, MetadataError> {
        let e: Envelope<T> = serde_json::from_slice(bytes).map_err(|e| MetadataError::Parse {
            file: file.into(),
            why: e.to_string(),
        })?;
        if e.signed.kind() != kind {
            return Err(MetadataError::Parse {
                file: file.into(),
                why: format!("its _type is {:?}, not {kind:?}", e.signed.kind()),
            });
        }
        Ok(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigstore_lite_core::keys::P256Signer;

    #[test]
    fn signs_and_counts_distinct_valid_signatures() {
        let a: Arc<dyn Signer> = Arc::new(P256Signer::generate_p256().unwrap());
        let b: Arc<dyn Signer> = Arc::new(P256Signer::generate_p256().unwrap());
        let ka = Key::from_public(a.public_key()).unwrap();
        let kb = Key::from_public(b.public_key()).unwrap();
        assert_eq!(ka.id().len(), 64);
        assert_ne!(ka.id(), kb.id());
        let keys = BTreeMap::from([(ka.id(), ka.clone()), (kb.id(), kb.clone())]);
        let role = RoleKeys {
            keyids: vec![ka.id(), kb.id()],
            threshold: 2,
        };
        let t = Targets {
            kind: "targets".into(),
            spec_version: SPEC_VERSION.into(),
            version: 1,
            expires: "2030-01-01T00:00:00Z".into(),
            targets: BTreeMap::from([("x".to_string(), TargetFile::of(b"x"))]),
        };
        let mut e = Envelope::sign(t, "targets", &[a.clone(), b]).unwrap();
        assert_eq!(e.valid_signatures(&role, &keys), 2);
        // A repeated signature counts once; a changed body voids them all.
        e.signatures[1] = e.signatures[0].clone();
        assert_eq!(e.valid_signatures(&role, &keys), 1);
        e.signed.version = 2;
        assert_eq!(e.valid_signatures(&role, &keys), 0);
        let back: Envelope<Targets> = Envelope::parse("t", &e.to_bytes(), "targets").unwrap();
        assert_eq!(back, e);
        assert!(Envelope::<Targets>::parse("t", &e.to_bytes(), "root").is_err());
    }
}
