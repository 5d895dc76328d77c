//! Writers: SPDX 2.3 JSON and CycloneDX 1.5/1.6 JSON shaped as syft writes them, syft's table,
//! and a syft-style JSON. Pure: the time and the random document identity are arguments.

use serde_json::{json, Value};

use crate::model::{Package, Sbom, SourceInfo};

/// An output format, as `-o` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    SpdxJson,
    CycloneDxJson { v1_5: bool },
    Table,
    Json,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        Some(match s {
            "spdx-json" | "spdx-json@2.3" => Format::SpdxJson,
            "cyclonedx-json" | "cyclonedx-json@1.6" => Format::CycloneDxJson { v1_5: false },
            "cyclonedx-json@1.5" => Format::CycloneDxJson { v1_5: true },
            "table" => Format::Table,
            "json" | "syft-json" => Format::Json,
            _ => return None,
        })
    }
}

/// What makes a document unique: when it was made and a random UUID (v4).
#[derive(Clone, Debug)]
pub struct Stamp {
    pub created: chrono::DateTime<chrono::Utc>,
    pub uuid: [u8; 16],
}

impl Stamp {
    pub fn now() -> Stamp {
        let mut uuid = [0u8; 16];
        aws_lc_rs::rand::fill(&mut uuid).expect("system randomness");
        Stamp {
            created: chrono::Utc::now(),
            uuid,
        }
    }

    fn uuid(&self) -> String {
        let mut b = self.uuid;
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let h = hex::encode(b);
        format!(
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        )
    }

    fn created(&self) -> String {
        self.created.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    }
}

pub fn render(sbom: &Sbom, format: Format, stamp: &Stamp) -> String {
    match format {
        Format::SpdxJson => pretty(&spdx(sbom, stamp)),
        Format::CycloneDxJson { v1_5 } => pretty(&cyclonedx(sbom, stamp, v1_5)),
        Format::Table => table(sbom),
        Format::Json => pretty(&syft_json(sbom)),
    }
}

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).expect("JSON");
    s.push('\n');
    s
}

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Characters allowed in SPDX identifiers; the rest become `-` (as syft does).
fn spdx_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// Common SPDX licence identifiers: a licence string that is one of these (or an expression of
/// them) is written as an SPDX expression; any other string becomes a `LicenseRef-`.
const SPDX_IDS: &[&str] = &[
    "0BSD",
    "AFL-2.1",
    "AGPL-3.0-only",
    "AGPL-3.0-or-later",
    "Apache-1.1",
    "Apache-2.0",
    "Artistic-1.0",
    "Artistic-2.0",
    "BSD-1-Clause",
    "BSD-2-Clause",
    "BSD-3-Clause",
    "BSD-4-Clause",
    "BSL-1.0",
    "BlueOak-1.0.0",
    "CC-BY-3.0",
    "CC-BY-4.0",
    "CC-BY-SA-3.0",
    "CC-BY-SA-4.0",
    "CC0-1.0",
    "CDDL-1.0",
    "EPL-1.0",
    "EPL-2.0",
    "GFDL-1.2-only",
    "GFDL-1.3-only",
    "GFDL-1.3-or-later",
    "GPL-1.0-only",
    "GPL-1.0-or-later",
    "GPL-2.0-only",
    "GPL-2.0-or-later",
    "GPL-3.0-only",
    "GPL-3.0-or-later",
    "HPND",
    "ISC",
    "LGPL-2.0-only",
    "LGPL-2.0-or-later",
    "LGPL-2.1-only",
    "LGPL-2.1-or-later",
    "LGPL-3.0-only",
    "LGPL-3.0-or-later",
    "MIT",
    "MIT-0",
    "MPL-1.1",
    "MPL-2.0",
    "OpenSSL",
    "PSF-2.0",
    "Python-2.0",
    "Ruby",
    "Unicode-3.0",
    "Unicode-DFS-2016",
    "Unlicense",
    "W3C",
    "WTFPL",
    "X11",
    "Zlib",
    "curl",
    "libpng-2.0",
    "zlib-acknowledgement",
];

fn is_spdx_expression(l: &str) -> bool {
    let tokens: Vec<&str> = l
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .filter(|t| !t.is_empty())
        .collect();
    !tokens.is_empty()
        && tokens.iter().enumerate().all(|(i, t)| {
            if i % 2 == 1 {
                matches!(*t, "AND" | "OR" | "WITH")
            } else {
                SPDX_IDS.contains(t) || SPDX_IDS.contains(&t.trim_end_matches('+'))
            }
        })
}

fn license_ref(l: &str) -> String {
    format!("LicenseRef-{}", spdx_safe(l))
}

/// A package's declared licence as an SPDX expression, noting the `LicenseRef-`s it needs.
fn declared(p: &Package, refs: &mut std::collections::BTreeMap<String, String>) -> String {
    if p.licenses.is_empty() {
        return "NOASSERTION".into();
    }
    let parts: Vec<String> = p
        .licenses
        .iter()
        .map(|l| {
            if is_spdx_expression(l) {
                if l.contains(' ') && p.licenses.len() > 1 {
                    format!("({l})")
                } else {
                    l.clone()
                }
            } else {
                let r = license_ref(l);
                refs.insert(r.clone(), l.clone());
                r
            }
        })
        .collect();
    parts.join(" AND ")
}

fn spdx_package_id(p: &Package) -> String {
    format!(
        "SPDXRef-Package-{}-{}-{}",
        p.kind.as_str(),
        spdx_safe(&p.name),
        p.id()
    )
}

fn source_info(p: &Package) -> String {
    let what = match p.kind.as_str() {
        "deb" => "DPKG DB",
        "apk" => "APK DB",
        "python" => "installed python package manifest file",
        "npm" => "installed node module manifest file",
        "rust-crate" => "rust cargo manifest",
        _ => "go module information",
    };
    let paths: Vec<&str> = p.locations.iter().map(|l| l.path.as_str()).collect();
    format!("acquired package info from {what}: {}", paths.join(", "))
}

fn oci_purl(sbom: &Sbom) -> Option<String> {
    match &sbom.source {
        SourceInfo::Image {
            name,
            tag,
            digest,
            arch,
            ..
        } => {
            let short = name.rsplit('/').next().unwrap_or(name);
            Some(crate::purl::build(
                "oci",
                None,
                short,
                digest,
                &[
                    ("arch", arch.clone().unwrap_or_default()),
                    ("tag", tag.clone().unwrap_or_default()),
                    (
                        "repository_url",
                        if name.contains('/') {
                            name.clone()
                        } else {
                            String::new()
                        },
                    ),
                ],
                None,
            ))
        }
        SourceInfo::Directory { .. } => None,
    }
}

/// SPDX 2.3 JSON: one package per finding, a root package for the image (purpose CONTAINER,
/// its manifest digest as version and checksum) or directory, `root CONTAINS pkg` and
/// `DOCUMENT DESCRIBES root`.
pub fn spdx(sbom: &Sbom, stamp: &Stamp) -> Value {
    let mut refs = std::collections::BTreeMap::new();
    let (root_id, kind) = match &sbom.source {
        SourceInfo::Image { name, .. } => (
            format!("SPDXRef-DocumentRoot-Image-{}", spdx_safe(name)),
            "image",
        ),
        SourceInfo::Directory { path } => (
            format!("SPDXRef-DocumentRoot-Directory-{}", spdx_safe(path)),
            "dir",
        ),
    };
    let mut packages: Vec<Value> = sbom
        .packages
        .iter()
        .map(|p| {
            let mut v = json!({
                "name": p.name,
                "SPDXID": spdx_package_id(p),
                "versionInfo": p.version,
                "supplier": "NOASSERTION",
                "downloadLocation": "NOASSERTION",
                "filesAnalyzed": false,
                "sourceInfo": source_info(p),
                "licenseConcluded": "NOASSERTION",
                "licenseDeclared": declared(p, &mut refs),
                "copyrightText": "NOASSERTION",
            });
            if !p.purl.is_empty() {
                v["externalRefs"] = json!([{
                    "referenceCategory": "PACKAGE-MANAGER",
                    "referenceType": "purl",
                    "referenceLocator": p.purl,
                }]);
            }
            v
        })
        .collect();
    let mut root = json!({
        "name": sbom.source.name(),
        "SPDXID": root_id,
        "supplier": "NOASSERTION",
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
        "primaryPackagePurpose": if kind == "image" { "CONTAINER" } else { "FILE" },
    });
    if let SourceInfo::Image { digest, .. } = &sbom.source {
        root["versionInfo"] = json!(digest);
        if let Some(hex) = digest.strip_prefix("sha256:") {
            root["checksums"] = json!([{"algorithm": "SHA256", "checksumValue": hex}]);
        }
        root["externalRefs"] = json!([{
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": oci_purl(sbom),
        }]);
    }
    packages.push(root);
    let mut relationships: Vec<Value> = sbom
        .packages
        .iter()
        .map(|p| {
            json!({
                "spdxElementId": root_id,
                "relatedSpdxElement": spdx_package_id(p),
                "relationshipType": "CONTAINS",
            })
        })
        .collect();
    relationships.push(json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relatedSpdxElement": root_id,
        "relationshipType": "DESCRIBES",
    }));
    let mut doc = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": sbom.source.name(),
        "documentNamespace": format!(
            "https://sigstore-lite.invalid/sbom-lite/{kind}/{}-{}",
            spdx_safe(sbom.source.name().trim_start_matches('/')),
            stamp.uuid()
        ),
        "creationInfo": {
            "licenseListVersion": "3.25",
            "creators": ["Organization: sigstore-lite", format!("Tool: sbom-lite-{VERSION}")],
            "created": stamp.created(),
        },
        "packages": packages,
        "relationships": relationships,
    });
    if !refs.is_empty() {
        doc["hasExtractedLicensingInfos"] = refs
            .iter()
            .map(|(id, text)| json!({"licenseId": id, "extractedText": text}))
            .collect();
    }
    doc
}

/// `purl` with syft's `package-id` qualifier added in sorted position: CycloneDX's bom-ref.
fn bom_ref(p: &Package) -> String {
    let id = p.id();
    if p.purl.is_empty() {
        return id;
    }
    let (base, sub) = match p.purl.split_once('#') {
        Some((b, s)) => (b, Some(s)),
        None => (p.purl.as_str(), None),
    };
    let (head, quals) = match base.split_once('?') {
        Some((h, q)) => (h, q.split('&').map(str::to_string).collect::<Vec<_>>()),
        None => (base, Vec::new()),
    };
    let mut quals = quals;
    quals.push(format!("package-id={id}"));
    quals.sort();
    let mut s = format!("{head}?{}", quals.join("&"));
    if let Some(sub) = sub {
        s.push('#');
        s.push_str(sub);
    }
    s
}

/// CycloneDX 1.6 (or 1.5) JSON as syft writes it; passes the strict schema (no unknown keys).
pub fn cyclonedx(sbom: &Sbom, stamp: &Stamp, v1_5: bool) -> Value {
    let spec = if v1_5 { "1.5" } else { "1.6" };
    let mut components: Vec<Value> = sbom
        .packages
        .iter()
        .map(|p| {
            let mut c = json!({
                "bom-ref": bom_ref(p),
                "type": "library",
                "name": p.name,
                "version": p.version,
            });
            if !p.licenses.is_empty() {
                c["licenses"] = p
                    .licenses
                    .iter()
                    .map(|l| {
                        if is_spdx_expression(l) && !l.contains(' ') {
                            json!({"license": {"id": l}})
                        } else if is_spdx_expression(l) {
                            json!({"expression": l})
                        } else {
                            json!({"license": {"name": l}})
                        }
                    })
                    .collect::<Vec<_>>()
                    .into();
                // CycloneDX allows one expression, or any number of named licences: not both.
                let arr = c["licenses"].as_array().cloned().unwrap_or_default();
                if arr.iter().any(|l| l.get("expression").is_some()) && arr.len() > 1 {
                    c["licenses"] = json!([{"expression": p.licenses.iter().map(|l| format!("({l})")).collect::<Vec<_>>().join(" AND ")}]);
                    if !p.licenses.iter().all(|l| is_spdx_expression(l)) {
                        c["licenses"] = p.licenses.iter().map(|l| json!({"license": {"name": l}})).collect::<Vec<_>>().into();
                    }
                }
            }
            if !p.purl.is_empty() {
                c["purl"] = json!(p.purl);
            }
            let mut props = vec![
                json!({"name": "syft:package:foundBy", "value": p.found_by}),
            ];
            if let Some(l) = p.kind.language() {
                props.push(json!({"name": "syft:package:language", "value": l}));
            }
            props.push(json!({"name": "syft:package:type", "value": p.kind.as_str()}));
            props.push(json!({"name": "syft:package:metadataType", "value": p.kind.metadata_type()}));
            for (i, l) in p.locations.iter().enumerate() {
                if let Some(layer) = &l.layer {
                    props.push(json!({"name": format!("syft:location:{i}:layerID"), "value": layer}));
                }
                props.push(json!({"name": format!("syft:location:{i}:path"), "value": l.path}));
            }
            c["properties"] = Value::Array(props);
            c
        })
        .collect();
    if let Some(d) = &sbom.distro {
        let version = d.version_id.clone().unwrap_or_default();
        let mut os = json!({
            "bom-ref": format!("os:{}@{}", d.id, version),
            "type": "operating-system",
            "name": d.id,
            "version": version,
        });
        if let Some(p) = &d.pretty_name {
            os["description"] = json!(p);
        }
        components.push(os);
    }
    let root_ref = {
        let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        ctx.update(sbom.source.name().as_bytes());
        hex::encode(&ctx.finish().as_ref()[..8])
    };
    let component = match &sbom.source {
        SourceInfo::Image { name, digest, .. } => {
            json!({"bom-ref": root_ref, "type": "container", "name": name, "version": digest})
        }
        SourceInfo::Directory { path } => {
            json!({"bom-ref": root_ref, "type": "file", "name": path})
        }
    };
    json!({
        "$schema": format!("http://cyclonedx.org/schema/bom-{spec}.schema.json"),
        "bomFormat": "CycloneDX",
        "specVersion": spec,
        "serialNumber": format!("urn:uuid:{}", stamp.uuid()),
        "version": 1,
        "metadata": {
            "timestamp": stamp.created(),
            "tools": {"components": [{"type": "application", "author": "sigstore-lite", "name": "sbom-lite", "version": VERSION}]},
            "component": component,
        },
        "components": components,
    })
}

/// Left-aligned columns separated by two spaces, as syft and grype print tables.
/// Every cell is outside text (package names and versions from an image, advisory IDs from a
/// feed): control characters are escaped, so a crafted package cannot write to the terminal.
pub fn columns(header: &[&str], rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|c| sigstore_lite_core::text::printable(c).into_owned())
                .collect()
        })
        .collect();
    let rows = &rows;
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(c);
                s.push_str(&" ".repeat(widths[i] - c.chars().count() + 2));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(header.to_vec());
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

/// syft's table: NAME, VERSION, TYPE, sorted.
pub fn table(sbom: &Sbom) -> String {
    if sbom.packages.is_empty() {
        return "No packages discovered\n".into();
    }
    let mut rows: Vec<Vec<String>> = sbom
        .packages
        .iter()
        .map(|p| {
            vec![
                p.name.clone(),
                p.version.clone(),
                p.kind.as_str().to_string(),
            ]
        })
        .collect();
    rows.sort();
    rows.dedup();
    columns(&["NAME", "VERSION", "TYPE"], &rows)
}

/// A syft-style JSON document: `artifacts` (id, name, version, type, foundBy, locations,
/// licenses, language, purl), `source`, `distro`, `descriptor`.
pub fn syft_json(sbom: &Sbom) -> Value {
    let artifacts: Vec<Value> = sbom
        .packages
        .iter()
        .map(|p| {
            json!({
                "id": p.id(),
                "name": p.name,
                "version": p.version,
                "type": p.kind.as_str(),
                "foundBy": p.found_by,
                "locations": p.locations,
                "licenses": p.licenses.iter().map(|l| json!({"value": l, "type": "declared"})).collect::<Vec<_>>(),
                "language": p.kind.language().unwrap_or(""),
                "purl": p.purl,
            })
        })
        .collect();
    let source = match &sbom.source {
        SourceInfo::Image {
            name,
            tag,
            digest,
            arch,
            layers,
        } => json!({
            "type": "image", "name": name, "version": digest,
            "metadata": {"userInput": name, "manifestDigest": digest, "tags": tag.iter().collect::<Vec<_>>(),
                         "architecture": arch, "layers": layers.iter().map(|l| json!({"digest": l})).collect::<Vec<_>>()},
        }),
        SourceInfo::Directory { path } => {
            json!({"type": "directory", "name": path, "metadata": {"path": path}})
        }
    };
    json!({
        "artifacts": artifacts,
        "source": source,
        "distro": sbom.distro,
        "descriptor": {"name": "sbom-lite", "version": VERSION},
    })
}
