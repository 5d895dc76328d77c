//! cosign-keyless: a cosign-compatible Sigstore client.
//!
//! It signs blobs and OCI images keylessly: an OIDC token, an ephemeral key certified by Fulcio,
//! the signature timestamped and logged (Rekor v2 with a TSA, or Rekor v1, as the signing config
//! says), and everything checked against the trust root before it is written. It verifies
//! Sigstore bundles (v0.1 to v0.3, Rekor v1 and v2 entries, RFC 3161 timestamps) by certificate
//! identity and issuer, from this stack or public-good Sigstore. Verification is the pure policy
//! in `sigstore_lite_core::verify` and `sigstore_lite_core::image`; registries are
//! `registry_client`; this crate is the I/O around them, and [`cli`] its command line.

pub mod blob;
pub mod cli;
pub mod error;
pub mod image;
pub mod keyless;
pub mod kube;
pub mod services;
pub mod trust;

pub use error::Error;
pub mod keyfile;
