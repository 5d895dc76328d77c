//! The verifier's errors: one variant per check, each carrying what failed as a typed value.

use crate::fulcio::CertError;
use crate::merkle::ProofError;
use crate::note::NoteError;
use crate::rekor::EntryError;
use crate::sct::SctError;

/// Why verification failed; each names the check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    #[error("the bundle is not supported: {0}")]
    UnsupportedBundle(Unsupported),
    #[error("the bundle is malformed: {0}")]
    Malformed(&'static str),
    #[error("the trusted root is unusable: {0}")]
    BadTrustedRoot(String),
    #[error("the bundle has no transparency log entry")]
    NoTlogEntry,
    #[error("the log entry is from log {0}, which the trusted root does not list")]
    UnknownLog(String),
    #[error("the log key is not valid at the entry's time {0}")]
    LogKeyNotValid(i64),
    #[error(
        "the log entry has no signed entry timestamp (SET), which this bundle version requires"
    )]
    MissingPromise,
    #[error("the log entry has no inclusion proof, which this bundle version requires")]
    MissingProof,
    #[error("the signed entry timestamp (SET) does not verify with the log's key")]
    BadSet,
    #[error("the inclusion proof does not verify: {0}")]
    BadInclusionProof(#[source] ProofError),
    #[error("the checkpoint does not verify: {0}")]
    BadCheckpoint(#[source] CheckpointError),
    #[error("the log entry body cannot be read: {0}")]
    BadEntry(#[source] EntryError),
    #[error("the certificate does not chain to a trusted CA at {at}: {source}")]
    Chain {
        at: i64,
        #[source]
        source: ChainError,
    },
    #[error("the certificate's SCT does not verify: {0}")]
    Sct(#[source] SctFailure),
    #[error("the certificate identity does not match: expected {expected}, found {found}")]
    IdentityMismatch { expected: String, found: String },
    #[error("the certificate's OIDC issuer does not match: expected {expected}, found {found}")]
    IssuerMismatch { expected: String, found: String },
    #[error(
        "the certificate's {name} extension does not match: expected {expected}, found {found}"
    )]
    ExtensionMismatch {
        name: String,
        expected: String,
        found: String,
    },
    #[error("the signature does not verify with the certificate's key")]
    BadSignature,
    #[error("the artifact does not match: {0}")]
    ArtifactMismatch(ArtifactMismatch),
    #[error("the log entry does not match the bundle: {0}")]
    BodyMismatch(BodyMismatch),
    #[error("the RFC 3161 timestamp does not verify: {0}")]
    Timestamp(#[source] crate::timestamp::TimestampError),
    #[error("the bundle has no verified time: a Rekor v2 entry needs an RFC 3161 timestamp from a trusted timestamp authority")]
    NoVerifiedTime,
}

/// What about a bundle is not supported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Unsupported {
    #[error("unknown media type {0:?}")]
    MediaType(String),
    #[error("v0.3 bundles carry a single certificate, not a chain")]
    ChainInV03,
    #[error("only certificate (keyless) bundles can be verified by identity")]
    NotKeyless,
    #[error("a bundle has exactly one of messageSignature or dsseEnvelope")]
    Content,
    #[error("more than one transparency log entry")]
    ManyTlogEntries,
    #[error("log entry kind {kind} {version} is not supported")]
    EntryKind { kind: String, version: String },
}

/// Why a checkpoint was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    #[error("{0}")]
    Note(#[source] NoteError),
    #[error("it has no signature by the log's key")]
    NotSignedByLog,
    #[error("the log's signature does not verify")]
    BadSignature,
    #[error("it does not commit to the proof's root hash and tree size")]
    NotCommitting,
    #[error("its origin {found:?} is not the log's ({expected:?})")]
    WrongOrigin { expected: String, found: String },
    #[error("it has {found} valid witness cosignatures, {required} required")]
    TooFewWitnesses { found: usize, required: usize },
}

/// Why a certificate chain was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    #[error("{0}")]
    Certificate(#[source] CertError),
    #[error("{0}")]
    Webpki(webpki::Error),
    #[error("no certificate authority in the trusted root is valid at that time")]
    NoValidCa,
    #[error("the certificate is for another key")]
    WrongKey,
}

/// Why an SCT check failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SctFailure {
    #[error("{0}")]
    Malformed(#[source] SctError),
    #[error("the issuing certificate is not known")]
    UnknownIssuer,
    #[error("none of the {0} embedded SCTs is from a trusted CT log and verifies")]
    NoneVerifies(usize),
}

/// How the artifact does not match what was signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArtifactMismatch {
    #[error("its SHA-256 is not the bundle's message digest")]
    MessageDigest,
    #[error("it is not a subject of the in-toto statement")]
    NotASubject,
    #[error("the signature is for {signed}, not {expected}")]
    ImageDigest { signed: String, expected: String },
    #[error("the payload is not a cosign container image signature")]
    NotImageSignature,
    #[error("the attestation's predicate type is {found}, not {expected}")]
    PredicateType { expected: String, found: String },
}

/// How a logged body differs from the bundle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BodyMismatch {
    #[error("a {content} needs a {expected} entry, not {found}")]
    WrongKind {
        content: &'static str,
        expected: &'static str,
        found: String,
    },
    #[error("the logged digest is not the artifact's")]
    Digest,
    #[error("the logged signature is not the bundle's")]
    Signature,
    #[error("the logged certificate or key is not the bundle's")]
    Verifier,
    #[error("the logged payload hash is not the envelope's")]
    PayloadHash,
    #[error("the logged envelope hash is not the envelope's")]
    EnvelopeHash,
    #[error("the entry rebuilt from the bundle is not the logged one")]
    LeafHash,
}
