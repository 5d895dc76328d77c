//! What an SBOM holds: packages with their type, purl, licences and where they were found.

use serde::Serialize;

/// A package type, named as syft names it (the TYPE column of its table and grype's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum PkgType {
    #[serde(rename = "deb")]
    Deb,
    #[serde(rename = "apk")]
    Apk,
    #[serde(rename = "python")]
    Python,
    #[serde(rename = "npm")]
    Npm,
    #[serde(rename = "rust-crate")]
    RustCrate,
    #[serde(rename = "go-module")]
    GoModule,
}

impl PkgType {
    pub fn as_str(self) -> &'static str {
        match self {
            PkgType::Deb => "deb",
            PkgType::Apk => "apk",
            PkgType::Python => "python",
            PkgType::Npm => "npm",
            PkgType::RustCrate => "rust-crate",
            PkgType::GoModule => "go-module",
        }
    }

    pub fn parse(s: &str) -> Option<PkgType> {
        Some(match s {
            "deb" => PkgType::Deb,
            "apk" => PkgType::Apk,
            "python" => PkgType::Python,
            "npm" => PkgType::Npm,
            "rust-crate" => PkgType::RustCrate,
            "go-module" => PkgType::GoModule,
            _ => return None,
        })
    }

    /// The purl type for packages of this kind.
    pub fn purl_type(self) -> &'static str {
        match self {
            PkgType::Deb => "deb",
            PkgType::Apk => "apk",
            PkgType::Python => "pypi",
            PkgType::Npm => "npm",
            PkgType::RustCrate => "cargo",
            PkgType::GoModule => "golang",
        }
    }

    /// The package type a purl type denotes.
    pub fn from_purl_type(t: &str) -> Option<PkgType> {
        Some(match t {
            "deb" => PkgType::Deb,
            "apk" => PkgType::Apk,
            "pypi" => PkgType::Python,
            "npm" => PkgType::Npm,
            "cargo" => PkgType::RustCrate,
            "golang" => PkgType::GoModule,
            _ => return None,
        })
    }

    /// syft's `metadataType` for the cataloger that finds this kind.
    pub fn metadata_type(self) -> &'static str {
        match self {
            PkgType::Deb => "dpkg-db-entry",
            PkgType::Apk => "apk-db-entry",
            PkgType::Python => "python-package",
            PkgType::Npm => "javascript-npm-package",
            PkgType::RustCrate => "rust-cargo-lock-entry",
            PkgType::GoModule => "go-module-buildinfo-entry",
        }
    }

    pub fn language(self) -> Option<&'static str> {
        match self {
            PkgType::Deb | PkgType::Apk => None,
            PkgType::Python => Some("python"),
            PkgType::Npm => Some("javascript"),
            PkgType::RustCrate => Some("rust"),
            PkgType::GoModule => Some("go"),
        }
    }
}

/// Where a package was found: a path in the squashed filesystem and the layer (diff ID) that
/// holds it, for images.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Location {
    pub path: String,
    #[serde(rename = "layerID", skip_serializing_if = "Option::is_none")]
    pub layer: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Package {
    pub name: String,
    pub version: String,
    #[serde(rename = "type")]
    pub kind: PkgType,
    #[serde(rename = "foundBy")]
    pub found_by: &'static str,
    pub purl: String,
    pub licenses: Vec<String>,
    pub locations: Vec<Location>,
    /// The source package (Debian `Source:`, apk origin) when it differs from the name.
    #[serde(skip)]
    pub upstream: Option<String>,
    /// The author or maintainer, when the metadata names one.
    #[serde(skip)]
    pub supplier: Option<String>,
}

impl Package {
    /// A stable 16-hex-digit identity (syft's package ID plays this role), from what makes a
    /// package distinct: type, name, version, purl and where it was found.
    pub fn id(&self) -> String {
        let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        for part in [self.kind.as_str(), &self.name, &self.version, &self.purl] {
            ctx.update(part.as_bytes());
            ctx.update(&[0]);
        }
        for l in &self.locations {
            ctx.update(l.path.as_bytes());
            ctx.update(&[0]);
        }
        hex::encode(&ctx.finish().as_ref()[..8])
    }
}

/// The operating system, from `/etc/os-release`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Distro {
    pub id: String,
    #[serde(rename = "versionID", skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    #[serde(rename = "idLike", skip_serializing_if = "Vec::is_empty")]
    pub id_like: Vec<String>,
    #[serde(rename = "prettyName", skip_serializing_if = "Option::is_none")]
    pub pretty_name: Option<String>,
    #[serde(rename = "versionCodename", skip_serializing_if = "Option::is_none")]
    pub codename: Option<String>,
}

impl Distro {
    /// Debian or a derivative (syft writes deb purls only for these).
    pub fn is_debian_like(&self) -> bool {
        self.id == "debian" || self.id_like.iter().any(|l| l == "debian")
    }
}

/// What the SBOM describes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceInfo {
    Image {
        /// The name the user gave, without tag or digest (`registry/repo`, or the path).
        name: String,
        tag: Option<String>,
        /// The manifest digest, `sha256:<hex>`.
        digest: String,
        arch: Option<String>,
        /// The layers' diff IDs, in order.
        layers: Vec<String>,
    },
    Directory {
        path: String,
    },
}

impl SourceInfo {
    pub fn name(&self) -> &str {
        match self {
            SourceInfo::Image { name, .. } => name,
            SourceInfo::Directory { path } => path,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Sbom {
    pub source: SourceInfo,
    pub distro: Option<Distro>,
    pub packages: Vec<Package>,
    /// Files skipped with a reason (malformed metadata and the like), for the user to see.
    pub warnings: Vec<String>,
}
