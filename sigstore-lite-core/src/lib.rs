//! sigstore-lite-core: the pure Sigstore rules that sigstore-lite's servers and clients share,
//! each in one place.
//!
//! - [`merkle`]: RFC 6962 hashing and RFC 9162 inclusion/consistency proof verification.
//! - [`note`]: C2SP signed notes and checkpoints (with Rekor v1's key hint).
//! - [`keys`]: public keys, PEM, signature verification and the ECDSA P-256 signer (aws-lc-rs).
//! - [`rekor`]: typed Rekor entry bodies (v1 hashedrekord and dsse, v2 hashedrekord), the log's
//!   admission policy, log entries and SETs.
//! - [`dsse`]: DSSE envelopes and in-toto statements.
//! - [`sct`], [`fulcio`]: embedded SCTs and the Fulcio certificate profile.
//! - [`timestamp`]: RFC 3161 timestamps (requests, ESS attributes, verification).
//! - [`trust`], [`bundle`]: trusted_root / signing_config and Sigstore bundles (and their builders).
//! - [`text`]: outside text made safe to print (control characters escaped).
//! - [`verify`]: the bundle verification policy; [`image`]: cosign's image-signature policy on top.
//!
//! This crate does no I/O: no sockets, no files, no clock. Time and bytes are arguments.
//! It has not been audited.

pub mod attestation;
pub mod bundle;
pub mod dsse;
pub mod fulcio;
pub mod image;
pub mod keys;
pub mod merkle;
pub mod note;
pub mod rekor;
pub mod sct;
pub mod text;
pub mod timestamp;
pub mod trust;
pub mod verify;
pub mod witness;

/// Known-answer vectors kept in the repository (`tests/vectors`, each folder with its SOURCE).
#[cfg(test)]
pub(crate) mod testdata {
    /// A file of `tests/vectors/sigstore/`.
    pub fn sigstore(name: &str) -> Vec<u8> {
        let p = format!(
            "{}/../tests/vectors/sigstore/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&p).unwrap_or_else(|e| panic!("test vector {p}: {e}"))
    }
}
