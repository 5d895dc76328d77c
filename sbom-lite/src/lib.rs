//! sbom-lite: what syft and grype do for this project's users, offline.
//!
//! `generate` reads an image (registry, OCI layout, docker archive) or a directory, applies the
//! layers in order with whiteouts ([`squash`]), runs the catalogers over the files that survive
//! ([`catalog`]) and writes SPDX 2.3, CycloneDX 1.5/1.6, a table or JSON ([`output`]), as syft
//! does. `scan` reads such an SBOM (ours or syft's, [`input`]) and matches its packages against
//! an OSV feed ([`osv`]) with each ecosystem's version ordering ([`version`]), reporting as grype.
//! Everything here is pure except [`source`], which reads files and registries.

pub mod catalog;
pub mod cli;
pub mod db;
pub mod error;
pub mod input;
pub mod model;
pub mod osv;
pub mod output;
pub mod purl;
pub mod source;
pub mod squash;
pub mod version;

pub use error::Error;
pub use model::{Distro, Package, PkgType, Sbom, SourceInfo};
