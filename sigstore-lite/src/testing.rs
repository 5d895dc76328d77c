//! The stack as a fixture for a Rust test suite: every service in process on free 127.0.0.1
//! ports, a fresh data directory removed when the fixture is dropped, the trust files, and a
//! token minter. Add `sigstore-lite` as a dev-dependency and:
//!
//! ```
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() {
//! let stack = sigstore_lite::testing::Stack::start().await.unwrap();
//! // Point a client at it: the URLs, or the trust files sigstore clients read.
//! assert!(stack.fulcio_url().starts_with("http://127.0.0.1:"));
//! let trust_config = std::fs::read_to_string(stack.trust_config()).unwrap();
//! assert!(trust_config.contains(stack.rekor_v2_url()));
//! // An identity token for a keyless signature, from the stack's own issuer.
//! let token = stack.token("you@example.com").unwrap();
//! assert_eq!(token.split('.').count(), 3);
//! let r = reqwest::get(format!("{}/healthz", stack.rekor_url())).await.unwrap();
//! assert!(r.status().is_success());
//! stack.stop().await; // or drop it: it stops and its directory is removed
//! # }
//! ```
//!
//! Several run side by side, each on its own ports and directory. Tokens are minted in process
//! (no HTTP round trip): `token` for an e-mail identity, `token_with` for any claims (a CI's,
//! from `mock_oidc::profile_claims`).

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::{Error, Options};

/// A running stack that stops, and removes its data directory, when dropped. Needs a tokio
/// runtime with the time and IO drivers (`#[tokio::test]`).
pub struct Stack {
    inner: Option<crate::Stack>,
    dir: PathBuf,
}

impl Stack {
    /// Starts mock-oidc, fulcio-lite, rekor-lite (v1 and v2), tsa-lite and the explorer on free
    /// ports, in a new temporary directory.
    pub async fn start() -> Result<Stack, Error> {
        Self::start_with(|_| {}).await
    }

    /// [`Stack::start`], with the options changed first (extra issuers, a Fulcio config...).
    /// The data directory and the ports stay the fixture's.
    pub async fn start_with(change: impl FnOnce(&mut Options)) -> Result<Stack, Error> {
        let mut b = [0u8; 8];
        sigstore_lite_core::keys::random_bytes(&mut b);
        let dir = std::env::temp_dir().join(format!(
            "sigstore-lite-test-{}-{}",
            std::process::id(),
            hex::encode(b)
        ));
        let mut opts = Options::loopback(&dir);
        change(&mut opts);
        opts.data_dir = dir.clone();
        match crate::Stack::start(&opts).await {
            Ok(s) => Ok(Stack {
                inner: Some(s),
                dir,
            }),
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                Err(e)
            }
        }
    }

    fn s(&self) -> &crate::Stack {
        self.inner.as_ref().expect("a running stack")
    }

    pub fn oidc_url(&self) -> &str {
        &self.s().oidc_url
    }
    pub fn fulcio_url(&self) -> &str {
        &self.s().fulcio_url
    }
    pub fn rekor_url(&self) -> &str {
        &self.s().rekor_url
    }
    pub fn rekor_v2_url(&self) -> &str {
        &self.s().rekor_v2_url
    }
    /// The TSA's base URL (timestamps at `<tsa_url>/api/v1/timestamp`).
    pub fn tsa_url(&self) -> &str {
        &self.s().tsa_url
    }
    pub fn trusted_root(&self) -> PathBuf {
        self.s().trusted_root_path()
    }
    pub fn signing_config(&self) -> PathBuf {
        self.s().signing_config_path()
    }
    pub fn trust_config(&self) -> PathBuf {
        self.s().trust_config_path()
    }
    /// The TUF repository's URL (`--instance`, `tufMirrorURL`, `cosign initialize --mirror`).
    pub fn tuf_url(&self) -> &str {
        &self.s().tuf_url
    }
    /// The TUF root a client starts from.
    pub fn tuf_root(&self) -> PathBuf {
        self.s().tuf_root_path()
    }
    pub fn data_dir(&self) -> &Path {
        &self.dir
    }
    /// The in-process stack, for what this fixture does not wrap.
    pub fn inner(&self) -> &crate::Stack {
        self.s()
    }

    /// A token for the e-mail identity `email` (verified), valid 5 minutes.
    pub fn token(&self, email: &str) -> Result<String, mock_oidc::Error> {
        self.token_with(mock_oidc::email_claims(email))
    }

    /// A token with `claims` (`iss`, `aud`, `iat` and `exp` filled unless given).
    pub fn token_with(&self, claims: Map<String, Value>) -> Result<String, mock_oidc::Error> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        self.s().issuer.mint(claims, mock_oidc::Alg::ES256, now)
    }

    /// Stops every service, waits for the stores to close, and removes the directory.
    pub async fn stop(mut self) {
        if let Some(s) = self.inner.take() {
            s.stop().await;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if let Some(s) = self.inner.take() {
            // No await in drop: the services are told to stop and end on their runtime.
            s.signal_stop();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
