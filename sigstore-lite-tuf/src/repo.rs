//! The repository on disk and every change to it. Files, all served as they are:
//!
//! - `root.json`: the first root, the one a client is given out of band to start from;
//! - `<N>.root.json` for every root version (a client holding version 1 walks the chain);
//! - `<N>.targets.json`, `<N>.snapshot.json` (consistent snapshots) and `timestamp.json`;
//! - `targets/<sha256>.<name>` for `trusted_root.json` and `signing_config.v0.2.json`.
//!
//! A change writes each file whole (a temporary file, fsync, rename) in the order a client reads
//! them backwards (root, targets, snapshot, then timestamp last), so a client reading while a
//! command runs sees the old repository or the new one. Commands that change the repository
//! hold `.lock`, so the CLI and a running `up` take turns. Everything a change needs (its input
//! parsed, its keys decrypted) is checked before the first file is written: bad input changes
//! nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use sigstore_lite_core::keys::Signer;
use sigstore_lite_core::trust::{self, SigningConfig, TrustedRoot};

pub use crate::files::write_file;
use crate::keys::{Config, Expiries, KeysDir};
use crate::metadata::{
    Envelope, Key, Meta, MetaFile, Role, RoleKeys, Root, TargetFile, Targets, SPEC_VERSION,
};
use crate::Error;

/// The target clients read the trust root from.
pub const TRUSTED_ROOT_TARGET: &str = "trusted_root.json";
/// The target clients read their services from (cosign v3, sigstore-python 4).
pub const SIGNING_CONFIG_TARGET: &str = "signing_config.v0.2.json";

/// The current metadata of each role.
#[derive(Debug, Clone)]
pub struct State {
    pub root: Envelope<Root>,
    pub targets: Envelope<Targets>,
    pub snapshot: Envelope<Meta>,
    pub timestamp: Envelope<Meta>,
}

/// How `init` lays out the keys.
#[derive(Debug, Clone)]
pub struct InitOptions {
    pub expires: Expiries,
    pub root_keys: u32,
    pub root_threshold: u32,
    pub targets_keys: u32,
    pub targets_threshold: u32,
    /// An existing online key (a path, `pkcs11:` URI or plugin key); default a new file.
    pub online_key: Option<String>,
    /// Root keys in a token or KMS (made there if missing) instead of encrypted files; when
    /// given, `root_keys` is their number.
    pub root_key_refs: Vec<String>,
    /// The same for the targets keys.
    pub targets_key_refs: Vec<String>,
}

impl Default for InitOptions {
    fn default() -> Self {
        InitOptions {
            expires: Expiries::default(),
            root_keys: 1,
            root_threshold: 1,
            targets_keys: 1,
            targets_threshold: 1,
            online_key: None,
            root_key_refs: Vec::new(),
            targets_key_refs: Vec::new(),
        }
    }
}

/// What `publish` did.
#[derive(Debug, Clone)]
pub struct Published {
    /// The new targets version, or `None` when the targets were already these.
    pub version: Option<u64>,
    /// Logs, CAs and TSAs of the previous trusted root kept with an end of validity.
    pub carried_over: usize,
}

/// One role in `status`.
#[derive(Debug, Clone, Serialize)]
pub struct RoleStatus {
    pub version: u64,
    pub expires: String,
    pub expires_in_seconds: i64,
    pub keyids: Vec<String>,
    pub threshold: u32,
}

/// `sigstore-lite tuf status`.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub repository: PathBuf,
    pub keys: PathBuf,
    pub online_key: String,
    pub roles: BTreeMap<String, RoleStatus>,
    pub targets: BTreeMap<String, TargetFile>,
}

/// A TUF repository in `dir`, its keys in `keys`.
#[derive(Debug, Clone)]
pub struct Repository {
    pub dir: PathBuf,
    pub keys: KeysDir,
}

fn expires_at(now: i64, secs: u64) -> String {
    // Periods are at most ten years (`parse_duration`), so this stays a four-digit year.
    trust::rfc3339(now.saturating_add(secs.min(crate::keys::MAX_PERIOD) as i64))
}

fn seconds_left(expires: &str, now: i64) -> i64 {
    trust::parse_rfc3339(expires).map_or(i64::MIN, |t| t - now)
}

/// Checks a `trusted_root.json` parses as one.
pub fn parse_trusted_root(path: &Path, bytes: &[u8]) -> Result<TrustedRoot, Error> {
    let bad = |why: String| Error::BadInput {
        path: path.to_path_buf(),
        what: "trusted root",
        why,
    };
    let tr: TrustedRoot = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
    if !tr
        .media_type
        .starts_with("application/vnd.dev.sigstore.trustedroot")
    {
        return Err(bad(format!("its mediaType is {:?}", tr.media_type)));
    }
    Ok(tr)
}

/// Checks a signing config parses as a v0.2 one.
pub fn parse_signing_config(path: &Path, bytes: &[u8]) -> Result<SigningConfig, Error> {
    let bad = |why: String| Error::BadInput {
        path: path.to_path_buf(),
        what: "signing config v0.2",
        why,
    };
    let sc: SigningConfig = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
    if sc.media_type != trust::SIGNING_CONFIG_MEDIA_TYPE {
        return Err(bad(format!("its mediaType is {:?}", sc.media_type)));
    }
    Ok(sc)
}

/// Snapshot or timestamp metadata naming one file `(name, version, bytes)`, signed online.
fn online_role(
    kind: &str,
    version: u64,
    expires: String,
    (name, file_version, bytes): (&str, u64, Vec<u8>),
    online: &Arc<dyn Signer>,
) -> Result<Envelope<Meta>, Error> {
    let meta = Meta {
        kind: kind.into(),
        spec_version: SPEC_VERSION.into(),
        version,
        expires,
        meta: BTreeMap::from([(name.to_string(), MetaFile::of(file_version, &bytes))]),
    };
    Ok(Envelope::sign(meta, kind, std::slice::from_ref(online))?)
}

fn valid_target_name(n: &str) -> bool {
    !n.is_empty()
        && !n.starts_with('.')
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl Repository {
    /// The repository in `dir`, its keys in `keys` or `<dir>-keys` beside it.
    pub fn new(dir: PathBuf, keys: Option<PathBuf>) -> Repository {
        let keys = keys.unwrap_or_else(|| {
            let mut name = dir.file_name().unwrap_or_default().to_os_string();
            name.push("-keys");
            dir.with_file_name(name)
        });
        Repository {
            dir,
            keys: KeysDir::new(keys),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn read(&self, name: &str) -> Result<Vec<u8>, Error> {
        let p = self.path(name);
        std::fs::read(&p).map_err(|e| Error::Io {
            op: "read",
            path: p,
            why: e.to_string(),
        })
    }

    /// Whether `dir` holds a repository.
    pub fn exists(&self) -> bool {
        self.path("1.root.json").exists()
    }

    /// Takes the repository's write lock (waiting up to 30 s for another command).
    fn lock(&self) -> Result<std::fs::File, Error> {
        let p = self.path(".lock");
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(|e| Error::Io {
                op: "open",
                path: p,
                why: e.to_string(),
            })?;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            match f.try_lock() {
                Ok(()) => return Ok(f),
                Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(50))
                }
                Err(_) => return Err(Error::Locked(self.dir.clone())),
            }
        }
    }

    /// The newest root version on disk.
    fn root_version(&self) -> Result<u64, Error> {
        let rd = std::fs::read_dir(&self.dir).map_err(|_| Error::NoRepository(self.dir.clone()))?;
        rd.filter_map(|e| e.ok())
            .filter_map(|e| {
                e.file_name()
                    .to_str()?
                    .strip_suffix(".root.json")?
                    .parse::<u64>()
                    .ok()
            })
            .max()
            .ok_or_else(|| Error::NoRepository(self.dir.clone()))
    }

    /// Reads the current metadata of every role.
    pub fn load(&self) -> Result<State, Error> {
        let rv = self.root_version()?;
        let name = format!("{rv}.root.json");
        let root = Envelope::<Root>::parse(&name, &self.read(&name)?, "root")?;
        let timestamp =
            Envelope::<Meta>::parse("timestamp.json", &self.read("timestamp.json")?, "timestamp")?;
        let version_of = |m: &Meta, file: &str| {
            m.meta
                .get(file)
                .map(|f| f.version)
                .ok_or_else(|| Error::BadInput {
                    path: self.dir.clone(),
                    what: "TUF repository",
                    why: format!("the {} metadata names no {file}", m.kind),
                })
        };
        let sv = version_of(&timestamp.signed, "snapshot.json")?;
        let name = format!("{sv}.snapshot.json");
        let snapshot = Envelope::<Meta>::parse(&name, &self.read(&name)?, "snapshot")?;
        let tv = version_of(&snapshot.signed, "targets.json")?;
        let name = format!("{tv}.targets.json");
        let targets = Envelope::<Targets>::parse(&name, &self.read(&name)?, "targets")?;
        Ok(State {
            root,
            targets,
            snapshot,
            timestamp,
        })
    }

    /// The bytes of the current target `name`.
    pub fn target(&self, state: &State, name: &str) -> Result<Vec<u8>, Error> {
        let t = state
            .targets
            .signed
            .targets
            .get(name)
            .ok_or_else(|| Error::BadInput {
                path: self.dir.clone(),
                what: "TUF repository",
                why: format!("the targets name no {name}"),
            })?;
        self.read(&format!("targets/{}.{name}", t.sha256()))
    }

    /// The online key, checked to be the one the current root names for timestamp and
    /// snapshot (a keys directory out of step with the metadata is an error, not a repository
    /// signed with a key no client trusts).
    fn online_signer(&self, state: &State) -> Result<(Config, Arc<dyn Signer>), Error> {
        let c = self.keys.config()?;
        let s = KeysDir::open_online(&c.online_key)?;
        let id = Key::from_public(s.public_key())?.id();
        for role in ["timestamp", "snapshot"] {
            if !state.root.signed.roles[role].keyids.contains(&id) {
                return Err(Error::BadInput {
                    path: self.keys.path.join("config.json"),
                    what: "keys configuration for this repository",
                    why: format!(
                        "its online key {} is not the {role} key of root version {}",
                        &id[..16],
                        state.root.signed.version
                    ),
                });
            }
        }
        Ok((c, s))
    }

    /// A snapshot naming `targets` and the timestamp naming that snapshot.
    fn snapshot_and_timestamp(
        &self,
        state: Option<&State>,
        targets: &Envelope<Targets>,
        expires: &Expiries,
        online: &Arc<dyn Signer>,
        now: i64,
    ) -> Result<(Envelope<Meta>, Envelope<Meta>), Error> {
        let version = state.map_or(1, |s| s.snapshot.signed.version + 1);
        let names = ("targets.json", targets.signed.version, targets.to_bytes());
        let snapshot = online_role(
            "snapshot",
            version,
            expires_at(now, expires.snapshot),
            names,
            online,
        )?;
        let timestamp = self.timestamp_for(state, &snapshot, expires, online, now)?;
        Ok((snapshot, timestamp))
    }

    fn timestamp_for(
        &self,
        state: Option<&State>,
        snapshot: &Envelope<Meta>,
        expires: &Expiries,
        online: &Arc<dyn Signer>,
        now: i64,
    ) -> Result<Envelope<Meta>, Error> {
        let version = state.map_or(1, |s| s.timestamp.signed.version + 1);
        let names = (
            "snapshot.json",
            snapshot.signed.version,
            snapshot.to_bytes(),
        );
        online_role(
            "timestamp",
            version,
            expires_at(now, expires.timestamp),
            names,
            online,
        )
    }

    /// Writes a change: a new root, target files, targets, snapshot, then the timestamp.
    fn commit(
        &self,
        root: Option<&Envelope<Root>>,
        files: &[(String, Vec<u8>)],
        targets: Option<&Envelope<Targets>>,
        snapshot: Option<&Envelope<Meta>>,
        timestamp: Option<&Envelope<Meta>>,
    ) -> Result<(), Error> {
        if let Some(r) = root {
            write_file(
                &self.path(&format!("{}.root.json", r.signed.version)),
                &r.to_bytes(),
                false,
            )?;
        }
        if !files.is_empty() {
            let t = self.path("targets");
            std::fs::create_dir_all(&t).map_err(|e| Error::Io {
                op: "create",
                path: t.clone(),
                why: e.to_string(),
            })?;
            for (name, bytes) in files {
                let f = TargetFile::of(bytes);
                write_file(&t.join(format!("{}.{name}", f.sha256())), bytes, false)?;
            }
        }
        if let Some(t) = targets {
            let p = self.path(&format!("{}.targets.json", t.signed.version));
            write_file(&p, &t.to_bytes(), false)?;
        }
        if let Some(s) = snapshot {
            let p = self.path(&format!("{}.snapshot.json", s.signed.version));
            write_file(&p, &s.to_bytes(), false)?;
        }
        if let Some(t) = timestamp {
            write_file(&self.path("timestamp.json"), &t.to_bytes(), false)?;
        }
        Ok(())
    }

    /// Creates the repository: offline root and targets keys (encrypted under `password`), an
    /// online key, and version 1 of every role with both targets.
    pub fn init(
        &self,
        trusted_root: (&Path, &[u8]),
        signing_config: (&Path, &[u8]),
        opts: &InitOptions,
        password: &[u8],
        now: i64,
    ) -> Result<State, Error> {
        parse_trusted_root(trusted_root.0, trusted_root.1)?;
        parse_signing_config(signing_config.0, signing_config.1)?;
        let count = |refs: &Vec<String>, n: u32| {
            if refs.is_empty() {
                n
            } else {
                refs.len() as u32
            }
        };
        let root_keys = count(&opts.root_key_refs, opts.root_keys);
        let targets_keys = count(&opts.targets_key_refs, opts.targets_keys);
        for (what, n, t) in [
            ("root", root_keys, opts.root_threshold),
            ("targets", targets_keys, opts.targets_threshold),
        ] {
            if t == 0 || t > n || n > 16 {
                return Err(Error::Usage(format!(
                    "the {what} role needs 1 <= threshold <= keys <= 16 ({t} of {n} given)"
                )));
            }
        }
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::Io {
            op: "create",
            path: self.dir.clone(),
            why: e.to_string(),
        })?;
        let _lock = self.lock()?;
        if self.exists() {
            return Err(Error::Exists(self.dir.clone()));
        }
        if self.keys.path.join("config.json").exists() {
            return Err(Error::Exists(self.keys.path.clone()));
        }
        if let Some(r) = &opts.online_key {
            // Made in its token or KMS if missing, like the offline keys; a file must exist
            // (a typo in a path never makes a key).
            let file = matches!(
                r.parse::<sigstore_lite_signer::KeyRef>(),
                Ok(sigstore_lite_signer::KeyRef::File(_))
            );
            KeysDir::offline_ref(r, !file)?;
        }
        self.keys.create()?;
        let mut keys = BTreeMap::new();
        let mut roles = BTreeMap::new();
        let mut signers: BTreeMap<&str, Vec<Arc<dyn Signer>>> = BTreeMap::new();
        // Keys named in a token or KMS are opened (or made there) before anything is written.
        let mut by_ref: BTreeMap<&str, Vec<Arc<dyn Signer>>> = BTreeMap::new();
        for (role, refs) in [
            ("root", &opts.root_key_refs),
            ("targets", &opts.targets_key_refs),
        ] {
            for r in refs {
                by_ref
                    .entry(role)
                    .or_default()
                    .push(KeysDir::offline_ref(r, true)?);
            }
        }
        let mut offline_keys = BTreeMap::new();
        for (role, refs) in [
            ("root", &opts.root_key_refs),
            ("targets", &opts.targets_key_refs),
        ] {
            if !refs.is_empty() {
                offline_keys.insert(role.to_string(), refs.clone());
            }
        }
        for (role, n, t) in [
            ("root", root_keys, opts.root_threshold),
            ("targets", targets_keys, opts.targets_threshold),
        ] {
            let mut ids = Vec::new();
            let mut made = by_ref.remove(role).unwrap_or_default().into_iter();
            for _ in 0..n {
                let s = match made.next() {
                    Some(s) => s,
                    None => self.keys.create_offline(role, password)?,
                };
                let k = Key::from_public(s.public_key())?;
                ids.push(k.id());
                keys.insert(k.id(), k);
                signers.entry(role).or_default().push(s);
            }
            roles.insert(
                role.to_string(),
                RoleKeys {
                    keyids: ids,
                    threshold: t,
                },
            );
        }
        let online_ref = match &opts.online_key {
            Some(r) => r.clone(),
            None => self.keys.create_online_file()?,
        };
        let online = KeysDir::open_online(&online_ref)?;
        let ok = Key::from_public(online.public_key())?;
        for role in ["snapshot", "timestamp"] {
            roles.insert(
                role.to_string(),
                RoleKeys {
                    keyids: vec![ok.id()],
                    threshold: 1,
                },
            );
        }
        keys.insert(ok.id(), ok);
        let config = Config {
            expires: opts.expires,
            online_key: online_ref,
            offline_keys,
        };
        self.keys.write_config(&config)?;
        let root = Envelope::sign(
            Root {
                kind: "root".into(),
                spec_version: SPEC_VERSION.into(),
                version: 1,
                expires: expires_at(now, opts.expires.root),
                consistent_snapshot: true,
                keys,
                roles,
            },
            "root",
            &signers["root"],
        )?;
        let files = vec![
            (TRUSTED_ROOT_TARGET.to_string(), trusted_root.1.to_vec()),
            (SIGNING_CONFIG_TARGET.to_string(), signing_config.1.to_vec()),
        ];
        let targets = Envelope::sign(
            Targets {
                kind: "targets".into(),
                spec_version: SPEC_VERSION.into(),
                version: 1,
                expires: expires_at(now, opts.expires.targets),
                targets: files
                    .iter()
                    .map(|(n, b)| (n.clone(), TargetFile::of(b)))
                    .collect(),
            },
            "targets",
            &signers["targets"],
        )?;
        let (snapshot, timestamp) =
            self.snapshot_and_timestamp(None, &targets, &opts.expires, &online, now)?;
        // The root last: until 1.root.json is there, this is no repository (an init that
        // stopped half way can be run again once its keys directory is removed).
        self.commit(
            None,
            &files,
            Some(&targets),
            Some(&snapshot),
            Some(&timestamp),
        )?;
        write_file(&self.path("root.json"), &root.to_bytes(), false)?;
        write_file(&self.path("1.root.json"), &root.to_bytes(), false)?;
        self.load()
    }

    /// Publishes new targets: a trusted root (keeping, with an end of validity, what the current
    /// one trusts and the new one lacks) and/or a signing config. Signed by the offline targets
    /// keys; nothing is written when the targets are unchanged.
    pub fn publish(
        &self,
        trusted_root: Option<(&Path, &[u8])>,
        signing_config: Option<(&Path, &[u8])>,
        password: &[u8],
        now: i64,
    ) -> Result<Published, Error> {
        self.publish_with(trusted_root, signing_config, true, password, now)
    }

    /// [`Repository::publish`]; with `carry_over` false, the trusted root exactly as given (to
    /// drop a compromised key: nothing it signed stays trusted).
    pub fn publish_with(
        &self,
        trusted_root: Option<(&Path, &[u8])>,
        signing_config: Option<(&Path, &[u8])>,
        carry_over: bool,
        password: &[u8],
        now: i64,
    ) -> Result<Published, Error> {
        let _lock = self.lock()?;
        let state = self.load()?;
        let mut files = Vec::new();
        let mut carried_over = 0;
        if let Some((path, bytes)) = trusted_root {
            let new = parse_trusted_root(path, bytes)?;
            let current_bytes = self.target(&state, TRUSTED_ROOT_TARGET)?;
            let current = parse_trusted_root(&self.dir, &current_bytes)?;
            let (merged, n) = if carry_over {
                new.carry_over(&current, &trust::rfc3339(now))
            } else {
                (new, 0)
            };
            carried_over = n;
            let out = if n == 0 {
                bytes.to_vec()
            } else {
                let mut b = serde_json::to_vec_pretty(&merged).expect("json");
                b.push(b'\n');
                b
            };
            files.push((TRUSTED_ROOT_TARGET.to_string(), out));
        }
        if let Some((path, bytes)) = signing_config {
            parse_signing_config(path, bytes)?;
            files.push((SIGNING_CONFIG_TARGET.to_string(), bytes.to_vec()));
        }
        let mut targets = state.targets.signed.clone();
        for (n, b) in &files {
            targets.targets.insert(n.clone(), TargetFile::of(b));
        }
        if targets.targets == state.targets.signed.targets {
            return Ok(Published {
                version: None,
                carried_over,
            });
        }
        let role = &state.root.signed.roles["targets"];
        let signers = self
            .keys
            .offline("targets", &role.keyids, role.threshold, password)?;
        let (config, online) = self.online_signer(&state)?;
        targets.version += 1;
        targets.expires = expires_at(now, config.expires.targets);
        let targets = Envelope::sign(targets, "targets", &signers)?;
        let (snapshot, timestamp) =
            self.snapshot_and_timestamp(Some(&state), &targets, &config.expires, &online, now)?;
        self.commit(
            None,
            &files,
            Some(&targets),
            Some(&snapshot),
            Some(&timestamp),
        )?;
        Ok(Published {
            version: Some(targets.signed.version),
            carried_over,
        })
    }

    /// Root version N+1 from `change`, signed by the root keys of N and of N+1.
    fn new_root(
        &self,
        state: &State,
        old_signers: &[Arc<dyn Signer>],
        new_signers: &[Arc<dyn Signer>],
        config: &Config,
        now: i64,
        change: impl FnOnce(&mut Root),
    ) -> Result<Envelope<Root>, Error> {
        let old = &state.root.signed;
        let mut root = old.clone();
        change(&mut root);
        root.version += 1;
        root.expires = expires_at(now, config.expires.root);
        // Keys no role names any more leave the root.
        let used: std::collections::BTreeSet<String> = root
            .roles
            .values()
            .flat_map(|r| r.keyids.iter().cloned())
            .collect();
        root.keys.retain(|id, _| used.contains(id));
        let mut all: Vec<Arc<dyn Signer>> = old_signers.to_vec();
        for s in new_signers {
            let id = Key::from_public(s.public_key())?.id();
            if !all
                .iter()
                .any(|a| Key::from_public(a.public_key()).map(|k| k.id()).ok() == Some(id.clone()))
            {
                all.push(s.clone());
            }
        }
        let env = Envelope::sign(root, "root", &all)?;
        // A client accepts N+1 only when both thresholds are met: check before writing it.
        for (r, keys) in [
            (&old.roles["root"], &old.keys),
            (&env.signed.roles["root"], &env.signed.keys),
        ] {
            if (env.valid_signatures(r, keys) as u32) < r.threshold {
                return Err(Error::MissingKeys {
                    role: "root".into(),
                    threshold: r.threshold,
                    found: env.valid_signatures(r, keys),
                    keys: self.keys.path.clone(),
                });
            }
        }
        Ok(env)
    }

    /// A new online key for timestamp and snapshot (`new_key`, or a new file in the keys
    /// directory): root N+1 names it, and both roles are re-signed with it.
    pub fn rotate_online_key(
        &self,
        new_key: Option<String>,
        password: &[u8],
        now: i64,
    ) -> Result<State, Error> {
        let _lock = self.lock()?;
        let state = self.load()?;
        let mut config = self.keys.config()?;
        let role = &state.root.signed.roles["root"];
        let root_signers = self
            .keys
            .offline("root", &role.keyids, role.threshold, password)?;
        let reference = match new_key {
            Some(r) => {
                KeysDir::open_online(&r)?;
                r
            }
            None => self.keys.create_online_file()?,
        };
        let online = KeysDir::open_online(&reference)?;
        let k = Key::from_public(online.public_key())?;
        if state.root.signed.roles["timestamp"]
            .keyids
            .contains(&k.id())
        {
            return Err(Error::Usage(format!(
                "{reference} is already the online key: give another key (or none, for a new one)"
            )));
        }
        let root = self.new_root(&state, &root_signers, &[], &config, now, |r| {
            r.keys.insert(k.id(), k.clone());
            for role in ["snapshot", "timestamp"] {
                r.roles.insert(
                    role.to_string(),
                    RoleKeys {
                        keyids: vec![k.id()],
                        threshold: 1,
                    },
                );
            }
        })?;
        let (snapshot, timestamp) = self.snapshot_and_timestamp(
            Some(&state),
            &state.targets,
            &config.expires,
            &online,
            now,
        )?;
        self.commit(Some(&root), &[], None, Some(&snapshot), Some(&timestamp))?;
        let old = std::mem::replace(&mut config.online_key, reference);
        self.keys.write_config(&config)?;
        self.keys.retire_online(&old)?;
        self.load()
    }

    /// New root keys (`keys` of them, `threshold` to sign): root N+1 is signed by the
    /// threshold of N's root keys and of its own; the old key files move to `retired/`.
    pub fn rotate_root(
        &self,
        keys: u32,
        threshold: u32,
        refs: &[String],
        password: &[u8],
        now: i64,
    ) -> Result<State, Error> {
        let keys = if refs.is_empty() {
            keys
        } else {
            refs.len() as u32
        };
        if threshold == 0 || threshold > keys || keys > 16 {
            return Err(Error::Usage(format!(
                "the root role needs 1 <= threshold <= keys <= 16 ({threshold} of {keys} given)"
            )));
        }
        let _lock = self.lock()?;
        let state = self.load()?;
        let mut config = self.keys.config()?;
        let role = state.root.signed.roles["root"].clone();
        let old_signers = self
            .keys
            .offline("root", &role.keyids, role.threshold, password)?;
        let mut made = refs
            .iter()
            .map(|r| KeysDir::offline_ref(r, true))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter();
        let mut new_signers = Vec::new();
        let mut ids = Vec::new();
        let mut new_keys = Vec::new();
        for _ in 0..keys {
            let s = match made.next() {
                Some(s) => s,
                None => self.keys.create_offline("root", password)?,
            };
            let k = Key::from_public(s.public_key())?;
            ids.push(k.id());
            new_keys.push(k);
            new_signers.push(s);
        }
        let root = self.new_root(&state, &old_signers, &new_signers, &config, now, |r| {
            for k in new_keys {
                r.keys.insert(k.id(), k);
            }
            r.roles.insert(
                "root".into(),
                RoleKeys {
                    keyids: ids,
                    threshold,
                },
            );
        })?;
        self.commit(Some(&root), &[], None, None, None)?;
        if refs.is_empty() {
            config.offline_keys.remove("root");
        } else {
            config.offline_keys.insert("root".into(), refs.to_vec());
        }
        self.keys.write_config(&config)?;
        for id in &role.keyids {
            if !root.signed.roles["root"].keyids.contains(id) {
                self.keys.retire("root", id)?;
            }
        }
        self.load()
    }

    /// Re-signs snapshot and timestamp with the online key (new versions, new expiries).
    pub fn resign(&self, now: i64) -> Result<State, Error> {
        let _lock = self.lock()?;
        let state = self.load()?;
        let (config, online) = self.online_signer(&state)?;
        let (snapshot, timestamp) = self.snapshot_and_timestamp(
            Some(&state),
            &state.targets,
            &config.expires,
            &online,
            now,
        )?;
        self.commit(None, &[], None, Some(&snapshot), Some(&timestamp))?;
        self.load()
    }

    /// Re-signs what would expire within half its period (and a check interval): the timestamp
    /// alone, or the snapshot and the timestamp. Returns whether anything was written.
    pub fn refresh(&self, now: i64) -> Result<bool, Error> {
        let due = |s: &State, c: &Config| {
            let before = |role: &str| c.expires.renew_before(role) as i64;
            (
                seconds_left(&s.snapshot.signed.expires, now) <= before("snapshot"),
                seconds_left(&s.timestamp.signed.expires, now) <= before("timestamp"),
            )
        };
        let config = self.keys.config()?;
        if due(&self.load()?, &config) == (false, false) {
            return Ok(false);
        }
        let _lock = self.lock()?;
        let state = self.load()?;
        let (config, online) = self.online_signer(&state)?;
        match due(&state, &config) {
            (true, _) => {
                let (s, t) = self.snapshot_and_timestamp(
                    Some(&state),
                    &state.targets,
                    &config.expires,
                    &online,
                    now,
                )?;
                self.commit(None, &[], None, Some(&s), Some(&t))?;
            }
            (false, true) => {
                let t = self.timestamp_for(
                    Some(&state),
                    &state.snapshot,
                    &config.expires,
                    &online,
                    now,
                )?;
                self.commit(None, &[], None, None, Some(&t))?;
            }
            (false, false) => return Ok(false),
        }
        Ok(true)
    }

    /// Re-signs root and targets, with the offline keys, when less than half their period is
    /// left (or always, with `force`): root N+1 with the same keys, targets N+1 with the same
    /// targets, and a snapshot and timestamp naming it. Returns what was renewed.
    pub fn renew(
        &self,
        force: bool,
        password: &[u8],
        now: i64,
    ) -> Result<Vec<&'static str>, Error> {
        let _lock = self.lock()?;
        let state = self.load()?;
        let config = self.keys.config()?;
        let due = |role: &str, expires: &str| {
            force || seconds_left(expires, now) <= (config.expires.of(role) / 2) as i64
        };
        let (root_due, targets_due) = (
            due("root", &state.root.signed.expires),
            due("targets", &state.targets.signed.expires),
        );
        if !root_due && !targets_due {
            return Ok(Vec::new());
        }
        // Every key is opened and every signature made before the first file is written.
        let root = if root_due {
            let role = &state.root.signed.roles["root"];
            let signers = self
                .keys
                .offline("root", &role.keyids, role.threshold, password)?;
            Some(self.new_root(&state, &signers, &[], &config, now, |_| {})?)
        } else {
            None
        };
        let (mut targets, mut snapshot, mut timestamp) = (None, None, None);
        if targets_due {
            let role = &state.root.signed.roles["targets"];
            let signers = self
                .keys
                .offline("targets", &role.keyids, role.threshold, password)?;
            let (_, online) = self.online_signer(&state)?;
            let mut t = state.targets.signed.clone();
            t.version += 1;
            t.expires = expires_at(now, config.expires.targets);
            let t = Envelope::sign(t, "targets", &signers)?;
            let (s, ts) =
                self.snapshot_and_timestamp(Some(&state), &t, &config.expires, &online, now)?;
            (targets, snapshot, timestamp) = (Some(t), Some(s), Some(ts));
        }
        self.commit(
            root.as_ref(),
            &[],
            targets.as_ref(),
            snapshot.as_ref(),
            timestamp.as_ref(),
        )?;
        let mut out = Vec::new();
        if root_due {
            out.push("root");
        }
        if targets_due {
            out.push("targets");
        }
        Ok(out)
    }

    /// Versions, expiries and key IDs of every role, and the targets.
    pub fn status(&self, now: i64) -> Result<Status, Error> {
        let s = self.load()?;
        let config = self.keys.config()?;
        let mut roles = BTreeMap::new();
        let mut add = |name: &str, version: u64, expires: &str| {
            let r = &s.root.signed.roles[name];
            roles.insert(
                name.to_string(),
                RoleStatus {
                    version,
                    expires: expires.to_string(),
                    expires_in_seconds: seconds_left(expires, now),
                    keyids: r.keyids.clone(),
                    threshold: r.threshold,
                },
            );
        };
        add("root", s.root.signed.version, &s.root.signed.expires);
        add(
            "targets",
            s.targets.signed.version,
            s.targets.signed.expires(),
        );
        add(
            "snapshot",
            s.snapshot.signed.version,
            s.snapshot.signed.expires(),
        );
        add(
            "timestamp",
            s.timestamp.signed.version,
            s.timestamp.signed.expires(),
        );
        Ok(Status {
            repository: self.dir.clone(),
            keys: self.keys.path.clone(),
            online_key: config.online_key,
            roles,
            targets: s.targets.signed.targets.clone(),
        })
    }

    /// The files a mirror needs now: every root version, the current timestamp, snapshot and
    /// targets, and the current targets' files (as `(name, bytes)`, `name` relative to `dir`).
    pub fn mirror_files(&self) -> Result<Vec<(String, Vec<u8>)>, Error> {
        let _lock = self.lock()?;
        let s = self.load()?;
        let mut out = Vec::new();
        for v in 1..=s.root.signed.version {
            let n = format!("{v}.root.json");
            out.push((n.clone(), self.read(&n)?));
        }
        for n in [
            format!("{}.targets.json", s.targets.signed.version),
            format!("{}.snapshot.json", s.snapshot.signed.version),
            "timestamp.json".to_string(),
        ] {
            out.push((n.clone(), self.read(&n)?));
        }
        for (name, t) in &s.targets.signed.targets {
            if !valid_target_name(name) {
                continue;
            }
            let n = format!("targets/{}.{name}", t.sha256());
            out.push((n.clone(), self.read(&n)?));
        }
        Ok(out)
    }
}
