//! Reading an SBOM back for `scan`: SPDX JSON, CycloneDX JSON (ours or syft's) or a syft-style
//! JSON; packages are identified by their purls (percent-decoded), the distro by the OS
//! component or the purls' `distro=` qualifier, as grype does.

use serde_json::Value;

use crate::model::{Distro, PkgType};
use crate::purl::Purl;
use crate::Error;

/// A package to match: what its purl says.
#[derive(Clone, Debug)]
pub struct Target {
    pub name: String,
    pub version: String,
    pub kind: PkgType,
    pub purl: Purl,
    pub purl_text: String,
}

#[derive(Clone, Debug, Default)]
pub struct Inventory {
    pub targets: Vec<Target>,
    pub distro: Option<Distro>,
    pub warnings: Vec<String>,
}

fn target(name: Option<&str>, version: Option<&str>, purl: &str) -> Option<Target> {
    let p = Purl::parse(purl)?;
    let kind = PkgType::from_purl_type(&p.ty)?;
    let version = version
        .map(str::to_string)
        .or_else(|| p.version.clone())
        .unwrap_or_default();
    let name = name.map(str::to_string).unwrap_or_else(|| p.name.clone());
    Some(Target {
        name,
        version,
        kind,
        purl_text: purl.to_string(),
        purl: p,
    })
}

fn distro_from_qualifier(q: &str) -> Option<Distro> {
    let (id, version) = match q.split_once('-') {
        Some((id, v)) => (id, Some(v.to_string())),
        None => (q, None),
    };
    Some(Distro {
        id: id.to_string(),
        version_id: version,
        ..Distro::default()
    })
}

/// Reads an SBOM document; one that is neither SPDX, CycloneDX nor syft JSON is refused.
pub fn read(bytes: &[u8], what: &str) -> Result<Inventory, Error> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| {
        Error::Input(format!(
            "{what} is not JSON ({e}), so not an SPDX or CycloneDX JSON SBOM"
        ))
    })?;
    let mut inv = Inventory::default();
    let mut unknown = 0usize;
    let mut push =
        |inv: &mut Inventory, name: Option<&str>, version: Option<&str>, purl: Option<&str>| {
            match purl.and_then(|p| target(name, version, p)) {
                Some(t) => inv.targets.push(t),
                None => unknown += 1,
            }
        };
    if v.get("spdxVersion").is_some() {
        for p in v
            .get("packages")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            // The document root (the image or directory itself) is not a package to match.
            if p.get("SPDXID")
                .and_then(Value::as_str)
                .is_some_and(|id| id.starts_with("SPDXRef-DocumentRoot"))
            {
                continue;
            }
            let purl = p
                .get("externalRefs")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|r| r.get("referenceType").and_then(Value::as_str) == Some("purl"))
                .and_then(|r| r.get("referenceLocator").and_then(Value::as_str));
            push(
                &mut inv,
                p.get("name").and_then(Value::as_str),
                p.get("versionInfo").and_then(Value::as_str),
                purl,
            );
        }
    } else if v.get("bomFormat").and_then(Value::as_str) == Some("CycloneDX") {
        fn walk(list: &Value, out: &mut Vec<Value>) {
            for c in list.as_array().into_iter().flatten() {
                out.push(c.clone());
                if let Some(sub) = c.get("components") {
                    walk(sub, out);
                }
            }
        }
        let mut all = Vec::new();
        walk(v.get("components").unwrap_or(&Value::Null), &mut all);
        for c in all {
            if c.get("type").and_then(Value::as_str) == Some("operating-system") {
                inv.distro = Some(Distro {
                    id: c
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    version_id: c.get("version").and_then(Value::as_str).map(str::to_string),
                    ..Distro::default()
                });
                continue;
            }
            push(
                &mut inv,
                c.get("name").and_then(Value::as_str),
                c.get("version").and_then(Value::as_str),
                c.get("purl").and_then(Value::as_str),
            );
        }
    } else if let Some(arts) = v.get("artifacts").and_then(Value::as_array) {
        for a in arts {
            push(
                &mut inv,
                a.get("name").and_then(Value::as_str),
                a.get("version").and_then(Value::as_str),
                a.get("purl").and_then(Value::as_str),
            );
        }
        if let Some(d) = v.get("distro").filter(|d| d.get("id").is_some()) {
            inv.distro = Some(Distro {
                id: d
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                version_id: d
                    .get("versionID")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                ..Distro::default()
            });
        }
    } else {
        return Err(Error::Input(format!(
            "{what} is neither an SPDX nor a CycloneDX JSON document (no spdxVersion or bomFormat)"
        )));
    }
    if inv.distro.is_none() {
        inv.distro = inv
            .targets
            .iter()
            .find_map(|t| t.purl.qualifiers.get("distro"))
            .and_then(|q| distro_from_qualifier(q));
    }
    if unknown > 0 {
        inv.warnings.push(format!(
            "{unknown} entries of {what} have no purl of a type sbom-lite matches (deb, apk, pypi, npm, cargo, golang) and were not scanned"
        ));
    }
    Ok(inv)
}

/// The same inventory, straight from a generated SBOM.
pub fn from_sbom(sbom: &crate::Sbom) -> Inventory {
    let mut inv = Inventory {
        distro: sbom.distro.clone(),
        ..Inventory::default()
    };
    for p in &sbom.packages {
        if let Some(t) = target(Some(&p.name), Some(&p.version), &p.purl) {
            inv.targets.push(t);
        }
    }
    inv
}
