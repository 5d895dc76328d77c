//! cosign-keyless: a cosign-compatible Sigstore client.
//!
//! It signs blobs (and OCI images) keylessly: an OIDC token, an ephemeral key certified by Fulcio,
//! the signature logged in Rekor, and everything checked against the trust root before it is
//! written. It verifies Sigstore bundles (v0.1 to v0.3, Rekor v1 entries) by certificate identity
//! and issuer, from this stack or public-good Sigstore. Verification is the pure policy in
//! `sigstore_lite_core::verify` and `sigstore_lite_core::image`; this crate is the I/O around it,
//! and [`cli`] its command line.
//!
//! Not supported yet: Rekor v2 entries and RFC 3161 timestamps (refused, never accepted).

pub mod blob;
pub mod cli;
pub mod error;
pub mod image;
pub mod keyless;
pub mod oci;
pub mod services;
pub mod trust;

pub use error::Error;
pub mod keyfile;
