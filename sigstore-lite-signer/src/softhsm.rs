//! A real PKCS#11 token for tests: SoftHSM2 (Debian `softhsm2`) with its tokens in a private
//! directory, and OpenSC's `pkcs11-tool` as the independent tool that inspects them.
//!
//! SoftHSM reads `SOFTHSM2_CONF` when a process first loads it, so a test process has one
//! configuration (made on first use and set in the environment) and each [`TestToken`] is a new
//! token with its own label in it. Child processes get the same `SOFTHSM2_CONF` from the
//! environment they inherit, or from [`TestToken::env`].

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Where Debian's softhsm2 puts its module.
pub const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
/// The user PIN of every test token.
pub const PIN: &str = "4321";
const SO_PIN: &str = "87654321";

struct Shared {
    _dir: tempfile::TempDir,
    conf: PathBuf,
    tokens: PathBuf,
}

fn shared() -> &'static Shared {
    static S: OnceLock<Shared> = OnceLock::new();
    S.get_or_init(|| {
        for tool in ["softhsm2-util", "pkcs11-tool"] {
            let found = Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .is_ok_and(|o| o.status.success());
            assert!(
                found,
                "{tool} is not installed: install Debian's softhsm2 and opensc (scripts/test does)"
            );
        }
        assert!(Path::new(MODULE).exists(), "{MODULE} is missing: install softhsm2");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let tokens = dir.path().join("tokens");
        std::fs::create_dir(&tokens).expect("a token directory");
        let conf = dir.path().join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = true\n",
                tokens.display()
            ),
        )
        .expect("a SoftHSM configuration");
        // Before any thread loads the module; tests that use a token call this first.
        std::env::set_var("SOFTHSM2_CONF", &conf);
        Shared {
            _dir: dir,
            conf,
            tokens,
        }
    })
}

/// One initialised SoftHSM token.
pub struct TestToken {
    pub label: String,
}

impl TestToken {
    /// The token this process shares among its tests (made before the module is first loaded
    /// here: SoftHSM lists the tokens there are when a process loads it, so a token made later
    /// by another process is not seen by this one). Tests keep apart by object labels.
    pub fn shared() -> &'static TestToken {
        static T: OnceLock<TestToken> = OnceLock::new();
        T.get_or_init(|| TestToken::new("shared"))
    }

    /// A fresh token named after `name` (a counter keeps labels apart), for a process started
    /// after it, or for a process that has not loaded the module yet.
    pub fn new(name: &str) -> TestToken {
        static N: AtomicUsize = AtomicUsize::new(0);
        shared();
        let label = format!(
            "{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let label: String = label.chars().take(32).collect();
        run(Command::new("softhsm2-util").args([
            "--init-token",
            "--free",
            "--label",
            &label,
            "--pin",
            PIN,
            "--so-pin",
            SO_PIN,
        ]));
        TestToken { label }
    }

    /// The SoftHSM configuration every process using the token needs (`SOFTHSM2_CONF`).
    pub fn conf() -> PathBuf {
        shared().conf.clone()
    }

    /// `("SOFTHSM2_CONF", path)`, for a child process.
    pub fn env() -> (&'static str, PathBuf) {
        ("SOFTHSM2_CONF", Self::conf())
    }

    /// A cosign-style URI for `object` in this token, PIN and module in the query.
    pub fn uri(&self, object: &str) -> String {
        format!(
            "pkcs11:token={};object={object}?module-path={MODULE}&pin-value={PIN}",
            self.label
        )
    }

    /// Runs `pkcs11-tool` on this token (logged in) and returns its stdout.
    pub fn pkcs11_tool(&self, args: &[&str]) -> String {
        let mut c = Command::new("pkcs11-tool");
        c.args([
            "--module",
            MODULE,
            "--token-label",
            &self.label,
            "--login",
            "--pin",
            PIN,
        ])
        .args(args)
        .env("SOFTHSM2_CONF", Self::conf());
        run(&mut c)
    }

    /// Makes a key pair with `pkcs11-tool --keypairgen` (`key_type` as it spells them:
    /// `EC:prime256v1`, `EC:secp384r1`, `EC:edwards25519`).
    pub fn keygen(&self, key_type: &str, label: &str, id_hex: &str) {
        self.pkcs11_tool(&[
            "--keypairgen",
            "--key-type",
            key_type,
            "--label",
            label,
            "--id",
            id_hex,
        ]);
    }

    /// The public key object `label` as pkcs11-tool lists it: the raw key (`04 || X || Y`, or
    /// the 32 bytes of an Ed25519 key), unwrapped from the DER OCTET STRING it prints.
    pub fn listed_point(&self, label: &str) -> Vec<u8> {
        let listing = self.pkcs11_tool(&["--list-objects", "--type", "pubkey"]);
        let block = listing
            .split("Public Key Object")
            .find(|b| b.contains(&format!("label:      {label}\n")))
            .unwrap_or_else(|| panic!("no public key {label} in {listing}"));
        let hex = block
            .lines()
            .find_map(|l| l.trim().strip_prefix("EC_POINT:"))
            .unwrap_or_else(|| panic!("no EC_POINT in {block}"))
            .trim();
        let der: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
            .collect();
        assert!(der[0] == 0x04 && der[1] as usize == der.len() - 2, "{hex}");
        der[2..].to_vec()
    }

    /// Each private key's label and `Access:` line (e.g. "sensitive, always sensitive, never
    /// extractable, local"), as pkcs11-tool lists them.
    pub fn listed_private_keys(&self) -> Vec<(String, String)> {
        let listing = self.pkcs11_tool(&["--list-objects", "--type", "privkey"]);
        listing
            .split("Private Key Object")
            .skip(1)
            .map(|b| {
                let field = |name: &str| {
                    b.lines()
                        .find_map(|l| l.trim().strip_prefix(name))
                        .map(|v| v.trim().to_string())
                        .unwrap_or_default()
                };
                (field("label:"), field("Access:"))
            })
            .collect()
    }

    /// Deletes the token as `softhsm2-util --delete-token` does: for a process using it, the
    /// token is gone.
    pub fn remove(&self) {
        run(Command::new("softhsm2-util").args(["--delete-token", "--token", &self.label]));
    }

    /// The directory holding every test token.
    pub fn token_dir() -> PathBuf {
        shared().tokens.clone()
    }
}

fn run(c: &mut Command) -> String {
    let out = c.output().expect("the tool runs");
    assert!(
        out.status.success(),
        "{c:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
