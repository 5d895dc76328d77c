//! sigstore-lite-core: the pure pieces both the sigstore-lite servers and its client need.
//!
//! - [`merkle`]: RFC 6962 hashing and RFC 9162 inclusion/consistency proof verification.
//! - [`note`]: C2SP signed notes and checkpoints (with Rekor v1's key hint).
//! - [`keys`]: public-key parsing, PEM, signature verification and the ECDSA P-256 signer.
//! - [`rekor`]: Rekor v1 entry canonicalization (hashedrekord, dsse), log entries and SETs.
//!
//! This crate does no I/O: no sockets, no files, no clock. Time and bytes are arguments.
//! It has not been audited.

pub mod bundle;
pub mod fulcio;
pub mod keys;
pub mod merkle;
pub mod metrics;
pub mod note;
pub mod rekor;
pub mod sct;
pub mod trust;
pub mod verify;
