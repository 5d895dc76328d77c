//! sigstore-lite's end-to-end and interop tests live in `tests/` beside this file: the stack with
//! real sigstore-python and sigstore-js, images in a real registry, an independent OIDC provider,
//! and docker-compose checks. The benchmarks of every service live in `benches/`.
//!
//! This library holds what those tests and benchmarks share: [`bench`] (timing, wrk, servers on
//! their own runtime) [`binaries`] (the workspace's binaries, run as separate processes) [`oidc_provider`] (an independent OIDC provider to log into) [`registry`] (a real
//! registry and images in it) and [`sbom_fixture`] (images with real packages for sbom-lite).

pub mod bench;
pub mod binaries;
pub mod oidc_provider;
pub mod registry;
pub mod sbom_fixture;
