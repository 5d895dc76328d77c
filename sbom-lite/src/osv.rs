//! An offline OSV feed (one JSON advisory per file, as osv.dev exports them) and matching as
//! grype does: each package is looked up by its own name and, for deb and apk, by its source
//! package; versions are ordered the ecosystem's way; the OSV evaluation rules decide.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::input::{Inventory, Target};
use crate::model::PkgType;
use crate::version::Ecosystem;
use crate::Error;

#[derive(Clone, Debug, Deserialize)]
pub struct Record {
    pub id: String,
    pub modified: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub withdrawn: Option<String>,
    #[serde(default)]
    pub severity: Vec<SeverityScore>,
    #[serde(default)]
    pub affected: Vec<Affected>,
    #[serde(default)]
    pub database_specific: Option<Value>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct SeverityScore {
    #[serde(rename = "type")]
    pub ty: String,
    pub score: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Affected {
    #[serde(default)]
    pub package: Option<PackageRef>,
    #[serde(default)]
    pub ranges: Vec<Range>,
    #[serde(default)]
    pub versions: Vec<String>,
    #[serde(default)]
    pub severity: Vec<SeverityScore>,
    #[serde(default)]
    pub ecosystem_specific: Option<Value>,
    #[serde(default)]
    pub database_specific: Option<Value>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct PackageRef {
    pub ecosystem: String,
    pub name: String,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Range {
    #[serde(rename = "type")]
    pub ty: String,
    pub events: Vec<BTreeMap<String, String>>,
}

/// grype's severities, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Unknown,
    Negligible,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn parse(s: &str) -> Option<Severity> {
        Some(match s.to_ascii_lowercase().as_str() {
            "unknown" => Severity::Unknown,
            "negligible" | "none" | "unimportant" => Severity::Negligible,
            "low" => Severity::Low,
            "medium" | "moderate" => Severity::Medium,
            "high" => Severity::High,
            "critical" => Severity::Critical,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Unknown => "Unknown",
            Severity::Negligible => "Negligible",
            Severity::Low => "Low",
            Severity::Medium => "Medium",
            Severity::High => "High",
            Severity::Critical => "Critical",
        }
    }

    /// The qualitative rating of a CVSS base score (CVSS v3.1 §5).
    pub fn of_score(score: f64) -> Severity {
        if score >= 9.0 {
            Severity::Critical
        } else if score >= 7.0 {
            Severity::High
        } else if score >= 4.0 {
            Severity::Medium
        } else if score > 0.0 {
            Severity::Low
        } else {
            Severity::Negligible
        }
    }
}

/// The base score of a CVSS vector (v3.x or v4.0), computed from the vector itself.
pub fn cvss_score(vector: &str) -> Option<f64> {
    if vector.starts_with("CVSS:3") {
        let base = cvss::v3::Base::from_str(vector).ok()?;
        Some(base.score().value())
    } else if vector.starts_with("CVSS:4") {
        let v = cvss::v4::Vector::from_str(vector).ok()?;
        Some(v.score().value())
    } else {
        None
    }
}

fn severity_of(record: &Record, affected: &Affected) -> Severity {
    let from_scores = |scores: &[SeverityScore]| {
        ["CVSS_V3", "CVSS_V4"].iter().find_map(|t| {
            scores
                .iter()
                .find(|s| s.ty == *t)
                .and_then(|s| cvss_score(&s.score))
                .map(Severity::of_score)
        })
    };
    let from_text = |v: &Option<Value>, key: &str| {
        v.as_ref()
            .and_then(|v| v.get(key))
            .and_then(Value::as_str)
            .and_then(Severity::parse)
    };
    from_scores(&affected.severity)
        .or_else(|| from_scores(&record.severity))
        .or_else(|| from_text(&affected.ecosystem_specific, "severity"))
        .or_else(|| from_text(&affected.database_specific, "severity"))
        .or_else(|| from_text(&record.database_specific, "severity"))
        .or_else(|| from_text(&affected.ecosystem_specific, "urgency"))
        .unwrap_or(Severity::Unknown)
}

/// PEP 503 normalisation (lowercase; runs of `-`, `_`, `.` become `-`).
pub fn pypi_normalize(name: &str) -> String {
    let mut out = String::new();
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

fn key_name(eco: Ecosystem, name: &str) -> String {
    match eco {
        Ecosystem::PyPI => pypi_normalize(name),
        _ => name.to_string(),
    }
}

/// The loaded feed, indexed by ecosystem and package name.
#[derive(Default)]
pub struct Db {
    pub records: Vec<(String, Record)>,
    index: HashMap<(Ecosystem, String), Vec<(usize, usize)>>,
    pub warnings: Vec<String>,
}

impl Db {
    /// Loads every `*.json` under `dir`. A file that does not parse, or an affected package in
    /// an ecosystem sbom-lite cannot order, is skipped with a warning naming it; a feed with
    /// no usable record is an error.
    pub fn load(dir: &Path) -> Result<Db, Error> {
        if !dir.is_dir() {
            return Err(Error::Input(format!(
                "{} is not a directory of OSV records",
                dir.display()
            )));
        }
        let mut db = Db {
            records: Vec::new(),
            index: HashMap::new(),
            warnings: Vec::new(),
        };
        let mut files = 0;
        // Hidden entries are an import in progress or being replaced (`db import`): skipped.
        for e in walkdir::WalkDir::new(dir)
            .follow_links(false)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'))
        {
            let Ok(e) = e else { continue };
            if !e.file_type().is_file()
                || e.path().extension().and_then(|x| x.to_str()) != Some("json")
            {
                continue;
            }
            files += 1;
            let shown = e.path().display().to_string();
            let rec: Record = match std::fs::read(e.path())
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
            {
                Ok(r) => r,
                Err(err) => {
                    db.warnings
                        .push(format!("skipped {shown}: not an OSV record ({err})"));
                    continue;
                }
            };
            db.add(rec, shown);
        }
        if db.records.is_empty() {
            return Err(Error::Input(if files == 0 {
                format!("{} holds no OSV records (*.json)", dir.display())
            } else {
                format!(
                    "none of the {files} files in {} is a usable OSV record",
                    dir.display()
                )
            }));
        }
        Ok(db)
    }

    /// Adds one record (from `origin`, a file name for messages).
    pub fn add(&mut self, rec: Record, origin: String) {
        if rec.withdrawn.is_some() {
            return;
        }
        let n = self.records.len();
        for (ai, a) in rec.affected.iter().enumerate() {
            let Some(p) = &a.package else { continue };
            match Ecosystem::parse(&p.ecosystem) {
                Some(eco) => self
                    .index
                    .entry((eco, key_name(eco, &p.name)))
                    .or_default()
                    .push((n, ai)),
                None => self.warnings.push(format!(
                    "{origin}: skipped {} in ecosystem {:?}, which sbom-lite does not match",
                    p.name, p.ecosystem
                )),
            }
        }
        self.records.push((origin, rec));
    }
}

/// One package matched by one advisory.
#[derive(Clone, Debug)]
pub struct Match {
    pub target: Target,
    pub id: String,
    pub aliases: Vec<String>,
    pub summary: Option<String>,
    pub severity: Severity,
    pub fixed_in: Vec<String>,
    pub ecosystem: String,
    /// The name the advisory was found under (the package's own or its source package's).
    pub searched_name: String,
    /// The version compared: the source package's for an indirect match.
    pub searched_version: String,
    pub indirect: bool,
    pub ranges: Vec<Range>,
    pub versions: Vec<String>,
    pub data_source: String,
}

/// The distro release an OSV ecosystem suffix must equal: Debian's major version, Alpine's
/// `v<major>.<minor>`.
fn release_matches(eco: Ecosystem, osv_ecosystem: &str, distro: Option<&crate::Distro>) -> bool {
    let Some((_, suffix)) = osv_ecosystem.split_once(':') else {
        return true;
    };
    let Some(v) = distro.and_then(|d| d.version_id.as_deref()) else {
        return true;
    };
    match eco {
        Ecosystem::Debian => suffix == v.split('.').next().unwrap_or(v),
        Ecosystem::Alpine => {
            let mm: Vec<&str> = v.split('.').take(2).collect();
            suffix.trim_start_matches('v') == mm.join(".")
        }
        _ => true,
    }
}

/// One lookup of a package in the feed: the name searched, whether it is the source
/// package's (an indirect match, as grype calls it), and the version compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    pub name: String,
    pub indirect: bool,
    pub version: String,
}

/// How a package is looked up: its ecosystem and the lookups to make. A Debian or Alpine
/// package is looked up by its own name and version, and by its source package (the purl's
/// `upstream=name[@version]`, as syft writes it from dpkg's `Source: name (version)` or apk's
/// origin) with the source's version where one is recorded: advisories are written for the
/// source package's versions, so a binary whose version differs (an epoch on the binary only, a
/// binNMU `+b1`, a source with its own version line) must be compared by the source version, or
/// an affected package reads as clean. This is grype's rule (`UpstreamPackages`).
pub fn lookups(t: &Target) -> Option<(Ecosystem, Vec<Lookup>)> {
    let direct = |name: String, version: String| Lookup {
        name,
        indirect: false,
        version,
    };
    let eco = match t.kind {
        PkgType::Deb => Ecosystem::Debian,
        PkgType::Apk => Ecosystem::Alpine,
        PkgType::Python => Ecosystem::PyPI,
        PkgType::RustCrate => Ecosystem::CratesIo,
        PkgType::Npm => {
            let name = match &t.purl.namespace {
                Some(ns) => format!("{ns}/{}", t.purl.name),
                None => t.purl.name.clone(),
            };
            return Some((Ecosystem::Npm, vec![direct(name, t.version.clone())]));
        }
        PkgType::GoModule => {
            let module = match &t.purl.namespace {
                Some(ns) => format!("{ns}/{}", t.purl.name),
                None => t.purl.name.clone(),
            };
            let v = t.purl.version.clone().unwrap_or(t.version.clone());
            return Some((Ecosystem::Go, vec![direct(module, v)]));
        }
    };
    let mut out = vec![direct(t.name.clone(), t.version.clone())];
    if matches!(eco, Ecosystem::Debian | Ecosystem::Alpine) {
        if let Some(u) = t.purl.qualifiers.get("upstream") {
            let (name, version) = match u.split_once('@') {
                Some((n, v)) if !v.is_empty() => (n.to_string(), v.to_string()),
                Some((n, _)) => (n.to_string(), t.version.clone()),
                None => (u.clone(), t.version.clone()),
            };
            let upstream = Lookup {
                name,
                indirect: true,
                version,
            };
            if !upstream.name.is_empty()
                && (upstream.name != t.name || upstream.version != t.version)
            {
                out.push(upstream);
            }
        }
    }
    Some((eco, out))
}

/// OSV's evaluation: events sorted by version; `introduced` sets, `fixed` (v >= fixed) and
/// `last_affected` (v > it) clear, `limit` bounds. `None` if a version does not parse.
pub fn in_range(eco: Ecosystem, range: &Range, v: &str) -> Option<bool> {
    let cmp = |a: &str, b: &str| -> Option<Ordering> {
        if a == "0" && b == "0" {
            Some(Ordering::Equal)
        } else if a == "0" {
            Some(Ordering::Less)
        } else if b == "0" {
            Some(Ordering::Greater)
        } else {
            eco.compare(a, b)
        }
    };
    let mut events: Vec<(&str, &str)> = range
        .events
        .iter()
        .flat_map(|e| e.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .collect();
    // Sorting needs every event version to parse.
    for (_, ev) in &events {
        if *ev != "*" {
            cmp(ev, ev)?;
        }
    }
    cmp(v, v)?;
    events.sort_by(|a, b| {
        if a.1 == "*" || b.1 == "*" {
            return (a.1 == "*").cmp(&(b.1 == "*"));
        }
        cmp(a.1, b.1).unwrap_or(Ordering::Equal)
    });
    let mut affected = false;
    for (kind, ev) in events {
        match kind {
            "introduced" if ev == "0" || cmp(v, ev)? != Ordering::Less => affected = true,
            "fixed" if cmp(v, ev)? != Ordering::Less => affected = false,
            "last_affected" if cmp(v, ev)? == Ordering::Greater => affected = false,
            "limit" if ev != "*" && cmp(v, ev)? != Ordering::Less => return Some(false),
            _ => {}
        }
    }
    Some(affected)
}

/// Matches every package of `inv` against the feed.
pub fn scan(db: &Db, inv: &Inventory) -> (Vec<Match>, Vec<String>) {
    let mut out: Vec<Match> = Vec::new();
    let mut warnings = Vec::new();
    for t in &inv.targets {
        let Some((eco, lookups)) = lookups(t) else {
            continue;
        };
        let mut seen: HashMap<String, usize> = HashMap::new();
        for Lookup {
            name,
            indirect,
            version,
        } in lookups
        {
            let Some(hits) = db.index.get(&(eco, key_name(eco, &name))) else {
                continue;
            };
            for &(ri, ai) in hits {
                let (origin, rec) = &db.records[ri];
                let a = &rec.affected[ai];
                let p = a.package.as_ref().expect("indexed entries have a package");
                if !release_matches(eco, &p.ecosystem, inv.distro.as_ref()) {
                    continue;
                }
                let listed = a
                    .versions
                    .iter()
                    .any(|x| x == &version || eco.compare(x, &version) == Some(Ordering::Equal));
                let mut hit_ranges = Vec::new();
                let mut unparsed = false;
                for r in a
                    .ranges
                    .iter()
                    .filter(|r| r.ty == "ECOSYSTEM" || r.ty == "SEMVER")
                {
                    match in_range(eco, r, &version) {
                        Some(true) => hit_ranges.push(r.clone()),
                        Some(false) => {}
                        None => unparsed = true,
                    }
                }
                if unparsed && !listed && hit_ranges.is_empty() {
                    warnings.push(format!(
                        "{} {version}: a version in {} or the package's does not parse as {}; not matched",
                        t.name,
                        rec.id,
                        eco.as_str()
                    ));
                }
                if !listed && hit_ranges.is_empty() {
                    continue;
                }
                let mut fixed: Vec<String> = hit_ranges
                    .iter()
                    .flat_map(|r| r.events.iter().filter_map(|e| e.get("fixed").cloned()))
                    .collect();
                // A total order (sort_by may panic on one that is not): versions that parse in
                // the ecosystem's order, then the rest by their text.
                fixed.sort_by(|a, b| match eco.compare(a, b) {
                    Some(o) => o,
                    None => {
                        let (pa, pb) = (eco.compare(a, a).is_some(), eco.compare(b, b).is_some());
                        pb.cmp(&pa).then_with(|| a.cmp(b))
                    }
                });
                fixed.dedup();
                let m = Match {
                    target: t.clone(),
                    id: rec.id.clone(),
                    aliases: rec.aliases.clone(),
                    summary: rec.summary.clone(),
                    severity: severity_of(rec, a),
                    fixed_in: fixed,
                    ecosystem: p.ecosystem.clone(),
                    searched_name: name.clone(),
                    searched_version: version.clone(),
                    indirect,
                    ranges: hit_ranges,
                    versions: if listed {
                        vec![version.clone()]
                    } else {
                        Vec::new()
                    },
                    data_source: origin.clone(),
                };
                match seen.get(&rec.id) {
                    Some(&i) => {
                        let prev: &mut Match = &mut out[i];
                        for f in m.fixed_in {
                            if !prev.fixed_in.contains(&f) {
                                prev.fixed_in.push(f);
                            }
                        }
                        prev.ranges.extend(m.ranges);
                        prev.severity = prev.severity.max(m.severity);
                    }
                    None => {
                        seen.insert(rec.id.clone(), out.len());
                        out.push(m);
                    }
                }
            }
        }
    }
    out.sort_by(|a, b| {
        (&a.target.name, &a.target.version, a.target.kind, &a.id).cmp(&(
            &b.target.name,
            &b.target.version,
            b.target.kind,
            &b.id,
        ))
    });
    (out, warnings)
}

/// grype's table (the six columns of grype 0.70): NAME, INSTALLED, FIXED-IN, TYPE,
/// VULNERABILITY, SEVERITY.
pub fn table(matches: &[Match]) -> String {
    if matches.is_empty() {
        return "No vulnerabilities found\n".into();
    }
    let rows: Vec<Vec<String>> = matches
        .iter()
        .map(|m| {
            vec![
                m.target.name.clone(),
                m.target.version.clone(),
                m.fixed_in.join(", "),
                m.target.kind.as_str().to_string(),
                m.id.clone(),
                m.severity.as_str().to_string(),
            ]
        })
        .collect();
    crate::output::columns(
        &[
            "NAME",
            "INSTALLED",
            "FIXED-IN",
            "TYPE",
            "VULNERABILITY",
            "SEVERITY",
        ],
        &rows,
    )
}

/// grype-style JSON: `matches[]` with the vulnerability, how it matched (the ranges that
/// contain the installed version) and the artifact.
pub fn json(matches: &[Match], distro: Option<&crate::Distro>) -> Value {
    let ms: Vec<Value> = matches
        .iter()
        .map(|m| {
            serde_json::json!({
                "vulnerability": {
                    "id": m.id,
                    "dataSource": m.data_source,
                    "namespace": m.ecosystem,
                    "severity": m.severity.as_str(),
                    "description": m.summary,
                    "aliases": m.aliases,
                    "fix": {
                        "versions": m.fixed_in,
                        "state": if m.fixed_in.is_empty() { "not-fixed" } else { "fixed" },
                    },
                },
                "matchDetails": [{
                    "type": if m.indirect { "exact-indirect-match" } else { "exact-direct-match" },
                    "matcher": format!("{}-matcher", m.target.kind.as_str()),
                    "searchedBy": {
                        "namespace": m.ecosystem,
                        "package": {"name": m.searched_name, "version": m.searched_version},
                    },
                    "found": {
                        "vulnerabilityID": m.id,
                        "ranges": m.ranges,
                        "versions": m.versions,
                    },
                }],
                "artifact": {
                    "name": m.target.name,
                    "version": m.target.version,
                    "type": m.target.kind.as_str(),
                    "purl": m.target.purl_text,
                },
            })
        })
        .collect();
    serde_json::json!({
        "matches": ms,
        "distro": distro.map(|d| serde_json::json!({"name": d.id, "version": d.version_id})),
        "descriptor": {"name": "sbom-lite", "version": env!("CARGO_PKG_VERSION")},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(events: &[(&str, &str)]) -> Range {
        Range {
            ty: "ECOSYSTEM".into(),
            events: events
                .iter()
                .map(|(k, v)| [(k.to_string(), v.to_string())].into_iter().collect())
                .collect(),
        }
    }

    #[test]
    fn osv_evaluation() {
        let r = range(&[("introduced", "0"), ("fixed", "1.2.1-2.2+wheezy3")]);
        assert_eq!(
            in_range(Ecosystem::Debian, &r, "1.2.1-2.2+wheezy2"),
            Some(true)
        );
        assert_eq!(
            in_range(Ecosystem::Debian, &r, "1.2.1-2.2+wheezy3"),
            Some(false)
        );
        let r = range(&[
            ("introduced", "1.0"),
            ("last_affected", "1.4"),
            ("introduced", "2.0"),
            ("fixed", "2.1"),
        ]);
        for (v, want) in [
            ("0.9", false),
            ("1.0", true),
            ("1.4", true),
            ("1.5", false),
            ("2.0.5", true),
            ("2.1", false),
        ] {
            assert_eq!(in_range(Ecosystem::PyPI, &r, v), Some(want), "{v}");
        }
        assert_eq!(in_range(Ecosystem::Npm, &r, "not-semver"), None);
        assert_eq!(
            Severity::of_score(cvss_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H").unwrap()),
            Severity::Critical
        );
        assert_eq!(
            cvss_score("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:L/I:N/A:N"),
            Some(3.7)
        );
        assert_eq!(pypi_normalize("Jinja2"), "jinja2");
        assert_eq!(pypi_normalize("zope.interface__x"), "zope-interface-x");
    }

    /// A binary is looked up by its own name and version, and by its source package with the
    /// source's version where the purl records one (grype's upstream packages).
    #[test]
    fn source_packages_are_looked_up_with_the_source_version() {
        let t = |kind, name: &str, version: &str, purl: &str| Target {
            name: name.into(),
            version: version.into(),
            kind,
            purl: crate::purl::Purl::parse(purl).unwrap(),
            purl_text: purl.into(),
        };
        let l = |name: &str, indirect, version: &str| Lookup {
            name: name.into(),
            indirect,
            version: version.into(),
        };
        for (target, want) in [
            (
                t(
                    PkgType::Deb,
                    "dmsetup",
                    "2:1.02.185-2",
                    "pkg:deb/debian/dmsetup@2%3A1.02.185-2?upstream=lvm2%402.03.16-2",
                ),
                vec![
                    l("dmsetup", false, "2:1.02.185-2"),
                    l("lvm2", true, "2.03.16-2"),
                ],
            ),
            (
                // A binNMU: same name, the source's version without +b2.
                t(
                    PkgType::Deb,
                    "bash",
                    "5.2.15-2+b2",
                    "pkg:deb/debian/bash@5.2.15-2%2Bb2?upstream=bash%405.2.15-2",
                ),
                vec![l("bash", false, "5.2.15-2+b2"), l("bash", true, "5.2.15-2")],
            ),
            (
                t(
                    PkgType::Deb,
                    "libssl3",
                    "3.0.11-1",
                    "pkg:deb/debian/libssl3@3.0.11-1?upstream=openssl",
                ),
                vec![
                    l("libssl3", false, "3.0.11-1"),
                    l("openssl", true, "3.0.11-1"),
                ],
            ),
            (
                t(
                    PkgType::Deb,
                    "curl",
                    "7.88.1-10",
                    "pkg:deb/debian/curl@7.88.1-10",
                ),
                vec![l("curl", false, "7.88.1-10")],
            ),
            (
                // apk's origin: Alpine builds every subpackage at the origin's version.
                t(
                    PkgType::Apk,
                    "busybox-binsh",
                    "1.36.1-r29",
                    "pkg:apk/alpine/busybox-binsh@1.36.1-r29?upstream=busybox",
                ),
                vec![
                    l("busybox-binsh", false, "1.36.1-r29"),
                    l("busybox", true, "1.36.1-r29"),
                ],
            ),
            (
                t(
                    PkgType::Apk,
                    "libcrypto3",
                    "3.1.4-r5",
                    "pkg:apk/alpine/libcrypto3@3.1.4-r5?upstream=openssl%403.1.4-r5",
                ),
                vec![
                    l("libcrypto3", false, "3.1.4-r5"),
                    l("openssl", true, "3.1.4-r5"),
                ],
            ),
        ] {
            assert_eq!(lookups(&target).unwrap().1, want, "{}", target.purl_text);
        }
    }
}
