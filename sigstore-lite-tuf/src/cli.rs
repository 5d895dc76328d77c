//! `sigstore-lite tuf ...`: the repository's commands. Each takes `--repo DIR` and `--keys DIR`
//! (default `DIR-keys` beside it); the offline keys' passphrase comes from
//! `SIGSTORE_LITE_TUF_PASSWORD`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use crate::keys::{password_from_env, Expiries};
use crate::repo::{InitOptions, Repository};
use crate::serve::now;
use crate::Error;

#[derive(Args, Debug, Clone)]
pub struct RepoArgs {
    /// The repository directory (what a mirror serves).
    #[arg(long, value_name = "DIR")]
    pub repo: PathBuf,
    /// The keys directory (default: DIR-keys beside the repository).
    #[arg(long, value_name = "DIR")]
    pub keys: Option<PathBuf>,
}

impl RepoArgs {
    fn open(&self) -> Repository {
        Repository::new(self.repo.clone(), self.keys.clone())
    }
}

#[derive(Subcommand, Debug, Clone)]
pub enum TufCmd {
    /// Create a repository: offline root and targets keys, an online key, version 1 of every role.
    Init {
        #[command(flatten)]
        at: RepoArgs,
        #[arg(long, value_name = "FILE")]
        trusted_root: PathBuf,
        #[arg(long, value_name = "FILE")]
        signing_config: PathBuf,
        #[arg(long, default_value_t = 1)]
        root_keys: u32,
        #[arg(long, default_value_t = 1)]
        root_threshold: u32,
        #[arg(long, default_value_t = 1)]
        targets_keys: u32,
        #[arg(long, default_value_t = 1)]
        targets_threshold: u32,
        /// How long a role's metadata is valid, ROLE=DURATION (30s, 12h, 7d, 26w); repeatable.
        /// Defaults: root=26w targets=26w snapshot=7d timestamp=1d.
        #[arg(long, value_name = "ROLE=DURATION")]
        expires: Vec<String>,
        /// The online key for timestamp and snapshot (a path, pkcs11: URI or KMS plugin key);
        /// default: a new key file in the keys directory.
        #[arg(long, value_name = "REF")]
        online_key: Option<String>,
        /// A root key in a PKCS#11 token or KMS (made there, non-extractable, if missing)
        /// instead of an encrypted file; repeatable (their number replaces --root-keys).
        #[arg(long = "root-key", value_name = "REF")]
        root_key_refs: Vec<String>,
        /// The same for the targets keys.
        #[arg(long = "targets-key", value_name = "REF")]
        targets_key_refs: Vec<String>,
    },
    /// Publish new targets (signed by the offline targets keys); logs, CAs and TSAs the current
    /// trusted root has and the new one lacks are kept, with an end of validity.
    Publish {
        #[command(flatten)]
        at: RepoArgs,
        #[arg(long, value_name = "FILE")]
        trusted_root: Option<PathBuf>,
        #[arg(long, value_name = "FILE")]
        signing_config: Option<PathBuf>,
        /// Publish the trusted root exactly as given: what it lacks is no longer trusted at all
        /// (a compromised key), not kept for old bundles.
        #[arg(long)]
        no_carry_over: bool,
    },
    /// Re-sign root and targets with the offline keys when half their period has passed.
    Renew {
        #[command(flatten)]
        at: RepoArgs,
        /// Re-sign both now.
        #[arg(long)]
        force: bool,
    },
    /// Replace the online key (a new root version names it).
    RotateOnlineKey {
        #[command(flatten)]
        at: RepoArgs,
        /// The new key (default: a new key file in the keys directory).
        #[arg(long, value_name = "REF")]
        online_key: Option<String>,
    },
    /// Replace the root keys: root N+1 signed by the thresholds of N and N+1.
    RotateRoot {
        #[command(flatten)]
        at: RepoArgs,
        #[arg(long, default_value_t = 1)]
        root_keys: u32,
        #[arg(long, default_value_t = 1)]
        root_threshold: u32,
        /// A new root key in a PKCS#11 token or KMS (made there if missing); repeatable.
        #[arg(long = "root-key", value_name = "REF")]
        root_key_refs: Vec<String>,
    },
    /// Re-sign timestamp and snapshot with the online key.
    Resign {
        #[command(flatten)]
        at: RepoArgs,
    },
    /// Versions, expiries and key IDs of every role, and the targets.
    Status {
        #[command(flatten)]
        at: RepoArgs,
        #[arg(long)]
        json: bool,
    },
    /// Write the air-gap archive (gzip tarball, policy-controller's mirrorFS layout).
    Export {
        #[command(flatten)]
        at: RepoArgs,
        #[arg(long, value_name = "FILE.tar.gz")]
        out: PathBuf,
    },
    /// Serve the repository over HTTP (and keep timestamp and snapshot fresh).
    Serve {
        #[command(flatten)]
        at: RepoArgs,
        #[arg(long, default_value = "127.0.0.1:3004")]
        addr: SocketAddr,
        /// Serve without re-signing (a mirror of a repository signed elsewhere).
        #[arg(long)]
        no_resign: bool,
    },
}

fn read(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| Error::Io {
        op: "read",
        path: path.to_path_buf(),
        why: e.to_string(),
    })
}

/// Runs one command, printing what it did.
pub async fn run(cmd: TufCmd) -> Result<(), Error> {
    match cmd {
        TufCmd::Serve {
            at,
            addr,
            no_resign,
        } => {
            let repo = at.open();
            repo.load()?;
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| Error::Usage(format!("cannot listen on {addr}: {e}")))?;
            let local = listener
                .local_addr()
                .map_err(|e| Error::Usage(e.to_string()))?;
            println!(
                "sigstore-lite tuf: serving {} on http://{local}",
                repo.dir.display()
            );
            // With the offline keys' passphrase at hand, root and targets are renewed too.
            let offline = password_from_env().ok().filter(|_| !no_resign);
            crate::serve::serve(
                listener,
                repo,
                !no_resign,
                offline,
                sigstore_lite_server::shutdown_signal(),
            )
            .await
            .map_err(|e| Error::Usage(format!("serving failed: {e}")))
        }
        other => tokio::task::spawn_blocking(move || run_blocking(other))
            .await
            .map_err(|e| Error::Usage(e.to_string()))?,
    }
}

fn run_blocking(cmd: TufCmd) -> Result<(), Error> {
    match cmd {
        TufCmd::Init {
            at,
            trusted_root,
            signing_config,
            root_keys,
            root_threshold,
            targets_keys,
            targets_threshold,
            expires,
            online_key,
            root_key_refs,
            targets_key_refs,
        } => {
            let mut e = Expiries::default();
            for spec in &expires {
                e.set(spec)?;
            }
            let opts = InitOptions {
                expires: e,
                root_keys,
                root_threshold,
                targets_keys,
                targets_threshold,
                online_key,
                root_key_refs,
                targets_key_refs,
            };
            let (tr, sc) = (read(&trusted_root)?, read(&signing_config)?);
            let repo = at.open();
            repo.init(
                (&trusted_root, &tr),
                (&signing_config, &sc),
                &opts,
                &password_from_env()?,
                now(),
            )?;
            println!(
                "created the TUF repository {} (keys in {}); clients start from {}",
                repo.dir.display(),
                repo.keys.path.display(),
                repo.dir.join("root.json").display()
            );
        }
        TufCmd::Publish {
            at,
            trusted_root,
            signing_config,
            no_carry_over,
        } => {
            if trusted_root.is_none() && signing_config.is_none() {
                return Err(Error::Usage(
                    "publish needs --trusted-root FILE and/or --signing-config FILE".into(),
                ));
            }
            let tr = trusted_root.as_ref().map(|p| read(p)).transpose()?;
            let sc = signing_config.as_ref().map(|p| read(p)).transpose()?;
            let repo = at.open();
            let p = repo.publish_with(
                trusted_root.as_deref().zip(tr.as_deref()),
                signing_config.as_deref().zip(sc.as_deref()),
                !no_carry_over,
                &password_from_env()?,
                now(),
            )?;
            match p.version {
                Some(v) => println!(
                    "published targets version {v}{}",
                    if p.carried_over > 0 {
                        format!(
                            " ({} log, CA or TSA entries of the previous trusted root kept, valid until now)",
                            p.carried_over
                        )
                    } else {
                        String::new()
                    }
                ),
                None => println!("the targets are already these: nothing published"),
            }
        }
        TufCmd::Renew { at, force } => {
            let renewed = at.open().renew(force, &password_from_env()?, now())?;
            if renewed.is_empty() {
                println!("root and targets are not due: nothing re-signed (--force re-signs them)");
            } else {
                println!("re-signed {}", renewed.join(" and "));
            }
        }
        TufCmd::RotateOnlineKey { at, online_key } => {
            let s = at
                .open()
                .rotate_online_key(online_key, &password_from_env()?, now())?;
            println!(
                "root version {} names the new online key {}",
                s.root.signed.version, s.root.signed.roles["timestamp"].keyids[0]
            );
        }
        TufCmd::RotateRoot {
            at,
            root_keys,
            root_threshold,
            root_key_refs,
        } => {
            let s = at.open().rotate_root(
                root_keys,
                root_threshold,
                &root_key_refs,
                &password_from_env()?,
                now(),
            )?;
            println!(
                "root version {} ({} of {} new root keys), signed by the old and the new root keys",
                s.root.signed.version,
                root_threshold,
                s.root.signed.roles["root"].keyids.len()
            );
        }
        TufCmd::Resign { at } => {
            let s = at.open().resign(now())?;
            println!(
                "timestamp version {} and snapshot version {} signed, valid until {}",
                s.timestamp.signed.version, s.snapshot.signed.version, s.timestamp.signed.expires
            );
        }
        TufCmd::Status { at, json } => {
            let s = at.open().status(now())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&s).expect("json"));
            } else {
                println!(
                    "repository {}  keys {}",
                    s.repository.display(),
                    s.keys.display()
                );
                for (name, r) in &s.roles {
                    let ids: Vec<&str> = r.keyids.iter().map(|k| &k[..16.min(k.len())]).collect();
                    println!(
                        "{name:<9} version {:<4} expires {} ({} of keys {})",
                        r.version,
                        r.expires,
                        r.threshold,
                        ids.join(", ")
                    );
                }
                for (name, t) in &s.targets {
                    println!(
                        "target    {name} ({} bytes, sha256 {})",
                        t.length,
                        t.sha256()
                    );
                }
            }
        }
        TufCmd::Export { at, out } => {
            let n = crate::archive::export(&at.open(), &out)?;
            println!(
                "wrote {} ({n} files under {}/; a TrustRoot takes it base64 as repository.mirrorFS, with targets: targets)",
                out.display(),
                crate::archive::PREFIX
            );
        }
        TufCmd::Serve { .. } => unreachable!("served in run"),
    }
    Ok(())
}
