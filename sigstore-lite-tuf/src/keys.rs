//! The repository's keys directory (`--keys DIR`, default `<repo>-keys` beside it): the offline
//! root and targets keys as cosign-format encrypted files (`root-<keyid>.key`,
//! `targets-<keyid>.key`, under the passphrase in `SIGSTORE_LITE_TUF_PASSWORD`), the online key
//! that signs timestamp and snapshot (a reference: by default an unencrypted PKCS#8 file here,
//! since it signs unattended; a `pkcs11:` URI or a KMS plugin key works too), the expiry
//! periods, and `retired/` for keys rotated out.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sigstore_lite_core::keys::{KeyKind, P256Signer, Signer};
use sigstore_lite_signer::encrypted::{self, EncryptedKeyError};
use sigstore_lite_signer::KeyRef;

use crate::metadata::Key;
use crate::Error;

/// The environment variable holding the offline keys' passphrase (empty is allowed).
pub const PASSWORD_ENV: &str = "SIGSTORE_LITE_TUF_PASSWORD";

/// The passphrase of the offline keys, from [`PASSWORD_ENV`].
pub fn password_from_env() -> Result<Vec<u8>, Error> {
    std::env::var_os(PASSWORD_ENV)
        .map(|p| p.into_encoded_bytes())
        .ok_or(Error::NoPassphrase)
}

/// How long each role's metadata is valid once signed, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expiries {
    pub root: u64,
    pub targets: u64,
    pub snapshot: u64,
    pub timestamp: u64,
}

const DAY: u64 = 86_400;

impl Default for Expiries {
    /// Root and targets half a year (re-signed offline), snapshot a week and timestamp a day
    /// (re-signed online, by `up` or `resign`), in the spirit of Sigstore's scaffolding.
    fn default() -> Self {
        Expiries {
            root: 182 * DAY,
            targets: 182 * DAY,
            snapshot: 7 * DAY,
            timestamp: DAY,
        }
    }
}

impl Expiries {
    pub fn of(&self, role: &str) -> u64 {
        match role {
            "root" => self.root,
            "targets" => self.targets,
            "snapshot" => self.snapshot,
            _ => self.timestamp,
        }
    }

    /// How often a server checks whether to re-sign: a quarter of the timestamp's period,
    /// between 1 and 5 s.
    pub fn refresh_tick(&self) -> u64 {
        (self.timestamp / 4).clamp(1, 5)
    }

    /// How long before its expiry an online role is re-signed: half its period, plus a check
    /// interval, so that a check never comes after the expiry.
    pub fn renew_before(&self, role: &str) -> u64 {
        self.of(role) / 2 + self.refresh_tick()
    }

    /// Sets one role from `ROLE=DURATION` (`30s`, `12h`, `7d`, `26w`).
    pub fn set(&mut self, spec: &str) -> Result<(), Error> {
        let bad = |why: &str| Error::Usage(format!("--expires {spec:?}: {why}"));
        let (role, d) = spec
            .split_once('=')
            .ok_or_else(|| bad("give ROLE=DURATION, e.g. timestamp=1d"))?;
        let secs =
            parse_duration(d).ok_or_else(|| bad("a duration is a number and s, m, h, d or w"))?;
        match role {
            "root" => self.root = secs,
            "targets" => self.targets = secs,
            "snapshot" => self.snapshot = secs,
            "timestamp" => self.timestamp = secs,
            _ => return Err(bad("the role is root, targets, snapshot or timestamp")),
        }
        Ok(())
    }
}

/// The longest period a role may be valid: ten years.
pub const MAX_PERIOD: u64 = 3653 * DAY;

/// `30s`, `15m`, `12h`, `7d`, `26w` as seconds (at least one, at most [`MAX_PERIOD`]).
pub fn parse_duration(s: &str) -> Option<u64> {
    let unit = match s.chars().last()? {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => DAY,
        'w' => 7 * DAY,
        _ => return None,
    };
    let n: u64 = s[..s.len() - 1].parse().ok()?;
    n.checked_mul(unit).filter(|v| *v > 0 && *v <= MAX_PERIOD)
}

/// `config.json` in the keys directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    pub expires: Expiries,
    /// The online key's reference (a path, `pkcs11:...` or `<scheme>://...`).
    pub online_key: String,
    /// Offline keys kept elsewhere than this directory (a PKCS#11 token, a KMS), by role.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub offline_keys: BTreeMap<String, Vec<String>>,
}

/// The keys directory.
#[derive(Debug, Clone)]
pub struct KeysDir {
    pub path: PathBuf,
}

fn io(op: &'static str, path: &Path, e: std::io::Error) -> Error {
    Error::Io {
        op,
        path: path.to_path_buf(),
        why: e.to_string(),
    }
}

impl KeysDir {
    pub fn new(path: PathBuf) -> KeysDir {
        KeysDir { path }
    }

    fn config_path(&self) -> PathBuf {
        self.path.join("config.json")
    }

    pub fn config(&self) -> Result<Config, Error> {
        let p = self.config_path();
        let b = std::fs::read(&p).map_err(|e| io("read", &p, e))?;
        serde_json::from_slice(&b).map_err(|e| Error::BadInput {
            path: p,
            what: "keys configuration",
            why: e.to_string(),
        })
    }

    pub fn write_config(&self, c: &Config) -> Result<(), Error> {
        let mut b = serde_json::to_vec_pretty(c).expect("json");
        b.push(b'\n');
        crate::files::write_file(&self.config_path(), &b, true)
    }

    pub fn create(&self) -> Result<(), Error> {
        sigstore_lite_server::create_private_dir(&self.path)
            .map_err(|e| io("create", &self.path, e))
    }

    fn file(&self, role: &str, keyid: &str) -> PathBuf {
        self.path
            .join(format!("{role}-{}.key", &keyid[..16.min(keyid.len())]))
    }

    /// Makes a new offline key for `role`, encrypted under `password`.
    pub fn create_offline(&self, role: &str, password: &[u8]) -> Result<Arc<dyn Signer>, Error> {
        let k = P256Signer::generate_p256().map_err(|e| Error::Usage(e.to_string()))?;
        let id = Key::from_public(k.public_key())?.id();
        let pem = encrypted::encrypt(k.pkcs8_der(), password);
        crate::files::write_file(&self.file(role, &id), pem.as_bytes(), true)?;
        Ok(Arc::new(k))
    }

    /// The offline keys of `role` among `keyids` that are here, decrypted; at least `threshold`.
    pub fn offline(
        &self,
        role: &str,
        keyids: &[String],
        threshold: u32,
        password: &[u8],
    ) -> Result<Vec<Arc<dyn Signer>>, Error> {
        let mut out: Vec<Arc<dyn Signer>> = Vec::new();
        for id in keyids {
            let p = self.file(role, id);
            let Ok(pem) = std::fs::read_to_string(&p) else {
                continue;
            };
            let der = encrypted::decrypt(&pem, password).map_err(|e| match e {
                EncryptedKeyError::WrongPassword => Error::WrongPassphrase {
                    role: role.to_string(),
                    file: p.clone(),
                },
                EncryptedKeyError::NotACosignKey(why) => Error::BadInput {
                    path: p.clone(),
                    what: "encrypted key",
                    why,
                },
            })?;
            let k = P256Signer::from_pkcs8_der(&der).map_err(|e| Error::BadInput {
                path: p.clone(),
                what: "encrypted key",
                why: e.to_string(),
            })?;
            if Key::from_public(k.public_key())?.id() != *id {
                return Err(Error::BadInput {
                    path: p,
                    what: "key for its name",
                    why: "it holds another key".into(),
                });
            }
            out.push(Arc::new(k));
        }
        // Keys in a token or behind a KMS plugin, as the configuration names them.
        let refs = self
            .config()
            .map(|c| c.offline_keys.get(role).cloned().unwrap_or_default())
            .unwrap_or_default();
        for r in refs {
            let k = open_ref(&r, false)?;
            let id = Key::from_public(k.public_key())?.id();
            let have = out
                .iter()
                .any(|o| Key::from_public(o.public_key()).is_ok_and(|x| x.id() == id));
            if keyids.contains(&id) && !have {
                out.push(k);
            }
        }
        if (out.len() as u32) < threshold {
            return Err(Error::MissingKeys {
                role: role.to_string(),
                threshold,
                found: out.len(),
                keys: self.path.clone(),
            });
        }
        Ok(out)
    }

    /// Moves the file of an offline key rotated out into `retired/`.
    pub fn retire(&self, role: &str, keyid: &str) -> Result<(), Error> {
        let from = self.file(role, keyid);
        if !from.exists() {
            return Ok(());
        }
        let dir = self.path.join("retired");
        sigstore_lite_server::create_private_dir(&dir).map_err(|e| io("create", &dir, e))?;
        let to = dir.join(from.file_name().expect("a file name"));
        std::fs::rename(&from, &to).map_err(|e| io("move", &from, e))
    }

    /// Makes a new online key file (unencrypted PKCS#8, 0600); returns its reference.
    pub fn create_online_file(&self) -> Result<String, Error> {
        let pem = sigstore_lite_signer::generate_pem(KeyKind::EcdsaP256).map_err(Error::Usage)?;
        let k = sigstore_lite_signer::from_pem(&pem).map_err(Error::Usage)?;
        let id = Key::from_public(k.public_key())?.id();
        // Recorded absolute: the repository is used from other working directories too.
        let dir = std::fs::canonicalize(&self.path).map_err(|e| io("resolve", &self.path, e))?;
        let p = dir.join(format!("online-{}.pem", &id[..16]));
        crate::files::write_file(&p, pem.as_bytes(), true)?;
        Ok(p.display().to_string())
    }

    /// Opens (or, with `create`, makes: non-extractable in a token) an offline key kept
    /// elsewhere, as an ECDSA P-256 key.
    pub fn offline_ref(reference: &str, create: bool) -> Result<Arc<dyn Signer>, Error> {
        open_ref(reference, create)
    }

    /// Opens the online key `reference` names.
    pub fn open_online(reference: &str) -> Result<Arc<dyn Signer>, Error> {
        let r: KeyRef = reference
            .parse()
            .map_err(|e: sigstore_lite_signer::Error| Error::Usage(e.to_string()))?;
        Ok(sigstore_lite_signer::open(&r)?)
    }

    /// Moves an online key file that was rotated out into `retired/` (keys elsewhere stay).
    pub fn retire_online(&self, reference: &str) -> Result<(), Error> {
        let p = PathBuf::from(reference);
        let here = std::fs::canonicalize(&self.path).ok();
        let parent = p.parent().and_then(|d| std::fs::canonicalize(d).ok());
        if parent.is_none() || parent != here || !p.exists() {
            return Ok(());
        }
        let dir = self.path.join("retired");
        sigstore_lite_server::create_private_dir(&dir).map_err(|e| io("create", &dir, e))?;
        std::fs::rename(&p, dir.join(p.file_name().expect("a file name")))
            .map_err(|e| io("move", &p, e))
    }
}

fn open_ref(reference: &str, create: bool) -> Result<Arc<dyn Signer>, Error> {
    let r: KeyRef = reference
        .parse()
        .map_err(|e: sigstore_lite_signer::Error| Error::Usage(e.to_string()))?;
    Ok(sigstore_lite_signer::open_or_generate(
        &r,
        KeyKind::EcdsaP256,
        create,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_expiry_specs() {
        assert_eq!(parse_duration("30s"), Some(30));
        assert_eq!(parse_duration("2w"), Some(14 * DAY));
        assert_eq!(parse_duration("0d"), None);
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("999999w"), None, "more than ten years");
        let mut e = Expiries::default();
        e.set("timestamp=4s").unwrap();
        assert_eq!(e.timestamp, 4);
        assert!(e.set("mirror=1d").is_err());
        assert!(e.set("timestamp").is_err());
    }
}
