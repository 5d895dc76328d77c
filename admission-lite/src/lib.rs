//! admission-lite: a Kubernetes admission webhook that admits only signed, attested,
//! digest-pinned images, under the policies users already write (sigstore policy-controller
//! `ClusterImagePolicy`, Kyverno `ClusterPolicy` `verifyImages`).
//!
//! The inside is pure: [`policy`] reads policies, [`review`] reads AdmissionReviews and writes
//! responses, [`verify::evaluate`] checks attached signatures with sigstore-lite-core. The
//! shell is [`api`] (HTTPS), [`webhook`] (registry fetches, cache) and [`cli`].

pub mod api;
pub mod cli;
pub mod manifests;
pub mod material;
pub mod policy;
pub mod review;
pub mod verify;
pub mod webhook;

/// What can stop the webhook, in one sentence each.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A policy file is unreadable, malformed, or asks for what this webhook cannot do.
    #[error("{0}")]
    Policy(String),
    #[error("the trusted root {0}")]
    TrustedRoot(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("{0}")]
    Io(String),
}
