//! The catalogers: pure functions from file contents to packages, each reading what syft's
//! cataloger of the same name reads and writing the purl syft writes.

use crate::model::{Distro, Package, PkgType};
use crate::purl;

/// `KEY=value` lines, values optionally quoted.
pub fn os_release(b: &[u8]) -> Option<Distro> {
    let text = String::from_utf8_lossy(b);
    let mut d = Distro::default();
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim().trim_matches('"').trim_matches('\'').to_string();
        match k.trim() {
            "ID" => d.id = v,
            "VERSION_ID" => d.version_id = Some(v),
            "ID_LIKE" => d.id_like = v.split_whitespace().map(str::to_string).collect(),
            "PRETTY_NAME" => d.pretty_name = Some(v),
            "VERSION_CODENAME" => d.codename = Some(v),
            _ => {}
        }
    }
    (!d.id.is_empty()).then_some(d)
}

/// RFC 822-style stanzas (dpkg status, METADATA headers): fields with continuation lines,
/// stanzas separated by blank lines. Keys keep their case; a repeated key keeps the first.
pub fn stanzas(text: &str) -> Vec<Vec<(String, String)>> {
    let mut all = Vec::new();
    let mut cur: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !cur.is_empty() {
                all.push(std::mem::take(&mut cur));
            }
        } else if line.starts_with(' ') || line.starts_with('\t') {
            if let Some((_, v)) = cur.last_mut() {
                v.push('\n');
                v.push_str(line.trim());
            }
        } else if let Some((k, v)) = line.split_once(':') {
            cur.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    if !cur.is_empty() {
        all.push(cur);
    }
    all
}

fn field<'a>(s: &'a [(String, String)], key: &str) -> Option<&'a str> {
    s.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

fn distro_qualifier(d: Option<&Distro>) -> String {
    match d {
        Some(d) => match &d.version_id {
            Some(v) => format!("{}-{v}", d.id),
            None => d.id.clone(),
        },
        None => String::new(),
    }
}

/// The dpkg database (`status` or one `status.d/` file). `licenses(pkg)` gives the licences
/// from the package's copyright file.
pub fn dpkg(
    b: &[u8],
    distro: Option<&Distro>,
    licenses: impl Fn(&str) -> Vec<String>,
) -> Vec<Package> {
    let text = String::from_utf8_lossy(b);
    let mut out = Vec::new();
    for s in stanzas(&text) {
        let (Some(name), Some(version)) = (field(&s, "Package"), field(&s, "Version")) else {
            continue;
        };
        let arch = field(&s, "Architecture").unwrap_or("").to_string();
        let upstream = field(&s, "Source").map(|src| match src.split_once('(') {
            Some((n, v)) => (
                n.trim().to_string(),
                Some(v.trim_end_matches(')').trim().to_string()),
            ),
            None => (src.trim().to_string(), None),
        });
        let upstream_q = match &upstream {
            Some((n, Some(v))) => format!("{n}@{v}"),
            Some((n, None)) => n.clone(),
            None => String::new(),
        };
        let purl = match distro {
            Some(d) if d.is_debian_like() => purl::build(
                "deb",
                Some(&d.id),
                name,
                version,
                &[
                    ("arch", arch.clone()),
                    ("distro", distro_qualifier(Some(d))),
                    ("upstream", upstream_q),
                ],
                None,
            ),
            _ => String::new(),
        };
        out.push(Package {
            name: name.to_string(),
            version: version.to_string(),
            kind: PkgType::Deb,
            found_by: "dpkg-db-cataloger",
            purl,
            licenses: licenses(name),
            locations: Vec::new(),
            upstream: upstream.map(|(n, _)| n),
            supplier: field(&s, "Maintainer").map(str::to_string),
        });
    }
    out
}

/// Licences named in a Debian copyright file as syft reads them: `License:` fields (DEP-5) and
/// references to `/usr/share/common-licenses/<name>`, unique and sorted.
pub fn copyright_licenses(b: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(b);
    let mut out = std::collections::BTreeSet::new();
    for line in text.lines() {
        // syft's pattern is `^License: (\S*)`: exactly one space, then a token; a tab or a
        // second space yields nothing, and so does an expression (`GPL-2 or MIT` gives `GPL-2`).
        if let Some(rest) = line.strip_prefix("License: ") {
            let l: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
            let l = l.trim_end_matches('.');
            if !l.is_empty() && l != "none" {
                out.insert(l.to_string());
            }
        }
        // The first reference on a line only, as syft matches each line once.
        if let Some(i) = line.find("/usr/share/common-licenses/") {
            let rest = &line[i + "/usr/share/common-licenses/".len()..];
            let l: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
                .collect();
            let l = l.trim_end_matches('.').to_string();
            if !l.is_empty() {
                out.insert(l);
            }
        }
    }
    out.into_iter().collect()
}

/// Alpine's `lib/apk/db/installed`.
pub fn apk(b: &[u8], distro: Option<&Distro>) -> Vec<Package> {
    let text = String::from_utf8_lossy(b);
    let mut out = Vec::new();
    for record in text.split("\n\n") {
        let mut get = std::collections::HashMap::new();
        for line in record.lines() {
            if let Some((k, v)) = line.split_once(':') {
                if k.len() == 1 {
                    get.entry(k.to_string()).or_insert_with(|| v.to_string());
                }
            }
        }
        let (Some(name), Some(version)) = (get.get("P"), get.get("V")) else {
            continue;
        };
        let origin = get.get("o").filter(|o| *o != name).cloned();
        let ns = distro
            .map(|d| d.id.clone())
            .unwrap_or_else(|| "alpine".into());
        let purl = purl::build(
            "apk",
            Some(&ns),
            name,
            version,
            &[
                ("arch", get.get("A").cloned().unwrap_or_default()),
                ("distro", distro_qualifier(distro)),
                ("upstream", origin.clone().unwrap_or_default()),
            ],
            None,
        );
        out.push(Package {
            name: name.clone(),
            version: version.clone(),
            kind: PkgType::Apk,
            found_by: "apk-db-cataloger",
            purl,
            licenses: get
                .get("L")
                .map(|l| l.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default(),
            locations: Vec::new(),
            upstream: origin,
            supplier: get.get("m").cloned(),
        });
    }
    out
}

/// A Python distribution's METADATA / PKG-INFO headers.
pub fn python(b: &[u8]) -> Result<Option<Package>, String> {
    let text = std::str::from_utf8(b).map_err(|_| "the metadata is not UTF-8".to_string())?;
    // Headers end at the first blank line; the description body follows.
    let head = stanzas(text).into_iter().next().unwrap_or_default();
    let (Some(name), Some(version)) = (field(&head, "Name"), field(&head, "Version")) else {
        return Err("the metadata has no Name or Version header".into());
    };
    let license = field(&head, "License-Expression").or_else(|| {
        // A whole licence text pasted into the header is not a licence name (syft keeps it).
        field(&head, "License").filter(|l| !l.contains('\n') && l.len() < 200)
    });
    // syft reports the PEP 503 name (Jinja2 → jinja2, typing_extensions → typing-extensions).
    let name = crate::osv::pypi_normalize(name);
    Ok(Some(Package {
        purl: purl::build("pypi", None, &name, version, &[], None),
        name,
        version: version.to_string(),
        kind: PkgType::Python,
        found_by: "python-installed-package-cataloger",
        licenses: license.map(|l| vec![l.to_string()]).unwrap_or_default(),
        locations: Vec::new(),
        upstream: None,
        supplier: field(&head, "Author-email")
            .or(field(&head, "Author"))
            .map(str::to_string),
    }))
}

fn npm_purl(name: &str, version: &str) -> String {
    match name.split_once('/') {
        Some((scope, n)) if scope.starts_with('@') => {
            purl::build("npm", Some(scope), n, version, &[], None)
        }
        _ => purl::build("npm", None, name, version, &[], None),
    }
}

fn npm_license(v: &serde_json::Value) -> Vec<String> {
    let one = |l: &serde_json::Value| match l {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Object(o) => o.get("type").and_then(|t| t.as_str()).map(str::to_string),
        _ => None,
    };
    if let Some(l) = v.get("license").and_then(one) {
        return vec![l];
    }
    v.get("licenses")
        .and_then(|l| l.as_array())
        .map(|a| a.iter().filter_map(one).collect())
        .unwrap_or_default()
}

fn npm(name: &str, version: &str, licenses: Vec<String>, found_by: &'static str) -> Package {
    Package {
        name: name.to_string(),
        version: version.to_string(),
        kind: PkgType::Npm,
        found_by,
        purl: npm_purl(name, version),
        licenses,
        locations: Vec::new(),
        upstream: None,
        supplier: None,
    }
}

/// An installed package's `package.json` (one without a name or version is not a package).
pub fn npm_package(b: &[u8]) -> Result<Option<Package>, String> {
    let v: serde_json::Value =
        serde_json::from_slice(b).map_err(|e| format!("package.json does not parse ({e})"))?;
    let (Some(name), Some(version)) = (
        v.get("name")
            .and_then(|n| n.as_str())
            .filter(|s| !s.is_empty()),
        v.get("version")
            .and_then(|n| n.as_str())
            .filter(|s| !s.is_empty()),
    ) else {
        return Ok(None);
    };
    Ok(Some(npm(
        name,
        version,
        npm_license(&v),
        "javascript-package-cataloger",
    )))
}

/// `package-lock.json` (lockfile v1 `dependencies`, v2/v3 `packages`), for directories.
pub fn npm_lock(b: &[u8]) -> Result<Vec<Package>, String> {
    let v: serde_json::Value =
        serde_json::from_slice(b).map_err(|e| format!("package-lock.json does not parse ({e})"))?;
    let mut out = Vec::new();
    if let Some(pkgs) = v.get("packages").and_then(|p| p.as_object()) {
        for (key, p) in pkgs {
            // The root project ("") is listed too, as syft does, when it has a name.
            if p.get("link").and_then(|l| l.as_bool()) == Some(true)
                || (key.is_empty() && p.get("name").is_none())
            {
                continue;
            }
            let name = p
                .get("name")
                .and_then(|n| n.as_str())
                .map(str::to_string)
                .unwrap_or_else(|| {
                    key.rsplit("node_modules/")
                        .next()
                        .unwrap_or(key)
                        .to_string()
                });
            if let Some(version) = p.get("version").and_then(|v| v.as_str()) {
                out.push(npm(
                    &name,
                    version,
                    npm_license(p),
                    "javascript-lock-cataloger",
                ));
            }
        }
    } else if let Some(deps) = v.get("dependencies").and_then(|d| d.as_object()) {
        fn walk(deps: &serde_json::Map<String, serde_json::Value>, out: &mut Vec<Package>) {
            for (name, d) in deps {
                if let Some(version) = d.get("version").and_then(|v| v.as_str()) {
                    out.push(npm(name, version, Vec::new(), "javascript-lock-cataloger"));
                }
                if let Some(sub) = d.get("dependencies").and_then(|s| s.as_object()) {
                    walk(sub, out);
                }
            }
        }
        walk(deps, &mut out);
    }
    Ok(out)
}

fn crate_pkg(name: &str, version: &str, found_by: &'static str) -> Package {
    Package {
        name: name.to_string(),
        version: version.to_string(),
        kind: PkgType::RustCrate,
        found_by,
        purl: purl::build("cargo", None, name, version, &[], None),
        licenses: Vec::new(),
        locations: Vec::new(),
        upstream: None,
        supplier: None,
    }
}

/// `Cargo.lock`: every `[[package]]` with a name and version, for directories.
pub fn cargo_lock(b: &[u8]) -> Result<Vec<Package>, String> {
    let text = std::str::from_utf8(b).map_err(|_| "Cargo.lock is not UTF-8".to_string())?;
    let mut out = Vec::new();
    let mut cur: Option<(Option<String>, Option<String>)> = None;
    let flush = |cur: &mut Option<(Option<String>, Option<String>)>, out: &mut Vec<Package>| {
        if let Some((Some(n), Some(v))) = cur.take() {
            out.push(crate_pkg(&n, &v, "rust-cargo-lock-cataloger"));
        }
    };
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            flush(&mut cur, &mut out);
            if line == "[[package]]" {
                cur = Some((None, None));
            }
        } else if let (Some(c), Some((k, v))) = (cur.as_mut(), line.split_once('=')) {
            let v = v.trim().trim_matches('"').to_string();
            match k.trim() {
                "name" => c.0 = Some(v),
                "version" => c.1 = Some(v),
                _ => {}
            }
        }
    }
    flush(&mut cur, &mut out);
    if out.is_empty() && !text.contains("[[package]]") {
        return Err("Cargo.lock has no [[package]] entries".into());
    }
    Ok(out)
}

/// What the binary catalogers find in an ELF executable: Go build info and cargo-auditable's
/// dependency list.
pub fn binary(elf: &[u8]) -> Vec<Package> {
    let (go, dep, note) = sections(elf);
    let contents = || contents_version(elf);
    let mut out = go
        .or_else(|| scan_go_magic(elf))
        .map(|b| go_blob(b, Some(&contents)))
        .unwrap_or_default();
    out.extend(dep.map(auditable_section).unwrap_or_default());
    out.extend(note.map(package_note).unwrap_or_default());
    out
}

/// The systemd/FDO package metadata note (`.note.package`, owner `FDO`, type 0xcafe1a7e):
/// JSON naming the distribution package a binary was built for, as syft's
/// elf-binary-package-cataloger reads it (deb and rpm notes; sbom-lite reports deb).
pub fn package_note(section: &[u8]) -> Vec<Package> {
    let mut out = Vec::new();
    let mut rest = section;
    let u32le = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
    let pad = |n: usize| n.div_ceil(4) * 4;
    while rest.len() >= 12 {
        let (namesz, descsz, ty) = (u32le(rest), u32le(&rest[4..]), u32le(&rest[8..]));
        let name_end = 12 + pad(namesz);
        let Some(desc_end) = name_end.checked_add(pad(descsz)) else {
            break;
        };
        if desc_end > rest.len() || name_end + descsz > rest.len() {
            break;
        }
        if ty == 0xcafe_1a7e && &rest[12..12 + namesz.min(3)] == b"FDO" {
            let desc = &rest[name_end..name_end + descsz];
            let desc = desc.split(|b| *b == 0).next().unwrap_or(desc);
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(desc) {
                let get = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("");
                if get("type") == "deb" && !get("name").is_empty() && !get("version").is_empty() {
                    out.push(Package {
                        name: get("name").to_string(),
                        version: get("version").to_string(),
                        kind: PkgType::Deb,
                        found_by: "elf-binary-package-cataloger",
                        purl: purl::build("deb", None, get("name"), get("version"), &[], None),
                        licenses: Vec::new(),
                        locations: Vec::new(),
                        upstream: None,
                        supplier: None,
                    });
                }
            }
        }
        rest = &rest[desc_end..];
    }
    out
}

/// The same for an executable too large to hold in memory, spooled to `file`: only the ELF
/// headers and the two sections are read (or, for a Go binary without section headers, the
/// file is scanned in chunks for the build info's magic).
pub fn binary_file(file: &std::fs::File) -> Vec<Package> {
    use std::io::{Read, Seek, SeekFrom};
    let cache = object::ReadCache::new(file);
    let (go, dep, note) = sections(&cache);
    // The contents scan reads the file in overlapping chunks.
    let contents = || {
        let mut f = file;
        let mut at = 0u64;
        let mut chunk = vec![0u8; 1 << 20];
        loop {
            f.seek(SeekFrom::Start(at)).ok()?;
            let n = f.read(&mut chunk).ok()?;
            if n == 0 {
                return None;
            }
            if let Some(v) = contents_version(&chunk[..n]) {
                return Some(v);
            }
            if n < chunk.len() {
                return None;
            }
            at += n as u64 - 256;
        }
    };
    let mut out = match go {
        Some(b) => go_blob(b, Some(&contents)),
        None => {
            let mut f = file;
            let mut found = Vec::new();
            let mut at = 0u64;
            let mut chunk = vec![0u8; 1 << 20];
            while f.seek(SeekFrom::Start(at)).is_ok() {
                let n = match f.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                if let Some(i) = scan_go_magic_at(&chunk[..n]) {
                    let mut blob = vec![0u8; 64 << 10];
                    let _ = f.seek(SeekFrom::Start(at + i as u64));
                    let got = f.read(&mut blob).unwrap_or(0);
                    blob.truncate(got);
                    found = go_blob(&blob, Some(&contents));
                    break;
                }
                // Chunks advance by a multiple of 16, overlapping by the magic's length.
                at += (n as u64).saturating_sub(16).max(16) & !15;
            }
            found
        }
    };
    out.extend(dep.map(auditable_section).unwrap_or_default());
    out.extend(note.map(package_note).unwrap_or_default());
    out
}

/// The sections the binary catalogers read: `.go.buildinfo`, `.dep-v0`, `.note.package`.
type Sections<'a> = (Option<&'a [u8]>, Option<&'a [u8]>, Option<&'a [u8]>);

fn sections<'a, R: object::ReadRef<'a>>(data: R) -> Sections<'a> {
    use object::{Object, ObjectSection};
    let Ok(file) = object::File::parse(data) else {
        return (None, None, None);
    };
    let get = |name: &str| file.section_by_name(name).and_then(|s| s.data().ok());
    (get(".go.buildinfo"), get(".dep-v0"), get(".note.package"))
}

/// cargo-auditable's `.dep-v0` section: zlib-compressed JSON; runtime dependencies only.
pub fn cargo_auditable(elf: &[u8]) -> Vec<Package> {
    sections(elf).1.map(auditable_section).unwrap_or_default()
}

fn auditable_section(data: &[u8]) -> Vec<Package> {
    use std::io::Read;
    let mut json = Vec::new();
    if flate2::read::ZlibDecoder::new(data)
        .take(8 << 20)
        .read_to_end(&mut json)
        .is_err()
    {
        return Vec::new();
    }
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&json) else {
        return Vec::new();
    };
    v.get("packages")
        .and_then(|p| p.as_array())
        .map(|pkgs| {
            pkgs.iter()
                .filter(|p| {
                    p.get("kind").and_then(|k| k.as_str()).unwrap_or("runtime") == "runtime"
                })
                .filter_map(|p| {
                    Some(crate_pkg(
                        p.get("name")?.as_str()?,
                        p.get("version")?.as_str()?,
                        "cargo-auditable-binary-cataloger",
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

const GO_MAGIC: &[u8] = b"\xff Go buildinf:";

/// An ELF-looking blob holding a Go 1.18+ build info block (module `github.com/a/b` v1.2.3,
/// `golang.org/x/sys` replaced by v0.2.0, go1.21.5): a seed for tests and fuzzing.
pub fn go_buildinfo_sample() -> Vec<u8> {
    let mut b = b"\x7fELF".to_vec();
    b.resize(64, 0);
    b.extend_from_slice(GO_MAGIC);
    b.extend_from_slice(&[8, 2]);
    b.resize(96, 0);
    let modinfo = "0123456789abcdefpath\tgithub.com/a/b/cmd/c\nmod\tgithub.com/a/b\tv1.2.3\th1:x\ndep\tgolang.org/x/sys\tv0.1.0\th1:y\n=>\tgolang.org/x/sys\tv0.2.0\th1:z\nbuild\tGOOS=linux\n0123456789abcdef";
    for s in ["go1.21.5", modinfo] {
        let mut n = s.len();
        while n >= 0x80 {
            b.push((n as u8 & 0x7f) | 0x80);
            n >>= 7;
        }
        b.push(n as u8);
        b.extend_from_slice(s.as_bytes());
    }
    b
}

fn scan_go_magic_at(b: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i + GO_MAGIC.len() <= b.len() {
        if &b[i..i + GO_MAGIC.len()] == GO_MAGIC {
            return Some(i);
        }
        i += 16;
    }
    None
}

fn scan_go_magic(b: &[u8]) -> Option<&[u8]> {
    scan_go_magic_at(b).map(|i| &b[i..])
}

fn uvarint(b: &[u8]) -> Option<(u64, usize)> {
    let mut x = 0u64;
    for (i, &c) in b.iter().enumerate().take(10) {
        x |= u64::from(c & 0x7f) << (7 * i);
        if c < 0x80 {
            return Some((x, i + 1));
        }
    }
    None
}

/// The Go build info of a binary built by Go 1.18 or later (inline strings after the 32-byte
/// header): the main module, its dependencies (after `=>` replacements) and the toolchain as
/// `stdlib`, as syft reports them.
pub fn go_buildinfo(elf: &[u8]) -> Vec<Package> {
    sections(elf)
        .0
        .or_else(|| scan_go_magic(elf))
        .map(|b| go_blob(b, None))
        .unwrap_or_default()
}

/// `-X <path>.version=V` (any case) in Go linker flags, as a module version (`v` prefixed).
fn ldflags_version(flags: &str) -> Option<String> {
    let mut words = flags.split_whitespace();
    while let Some(w) = words.next() {
        let kv = if w == "-X" {
            words.next()?
        } else {
            w.strip_prefix("-X=").unwrap_or("")
        };
        if let Some((k, v)) = kv.split_once('=') {
            if k.to_ascii_lowercase().ends_with("version") && semver_like(v) {
                return Some(with_v(v));
            }
        }
    }
    None
}

fn with_v(v: &str) -> String {
    if v.starts_with('v') {
        v.to_string()
    } else {
        format!("v{v}")
    }
}

fn semver_like(v: &str) -> bool {
    semver::Version::parse(v.trim_start_matches('v')).is_ok()
}

fn version_pattern() -> &'static regex::bytes::Regex {
    static RE: std::sync::OnceLock<regex::bytes::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        regex::bytes::Regex::new(
            r"\x00(v?(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?)\x00",
        )
        .expect("a valid pattern")
    })
}

/// The first NUL-delimited SemVer string in `b`, `v`-prefixed.
fn contents_version(b: &[u8]) -> Option<String> {
    let m = version_pattern().captures(b)?;
    Some(with_v(&String::from_utf8_lossy(&m[1])))
}

fn go_blob(blob: &[u8], contents: Option<&dyn Fn() -> Option<String>>) -> Vec<Package> {
    if blob.len() < 32 || !blob.starts_with(GO_MAGIC) {
        return Vec::new();
    }
    if blob[15] & 2 == 0 {
        return Vec::new(); // pre-1.18 pointer format: not read (README)
    }
    let mut rest = &blob[32..];
    let mut strings: Vec<&[u8]> = Vec::new();
    for _ in 0..2 {
        let Some((n, used)) = uvarint(rest) else {
            return Vec::new();
        };
        // A length from the file: checked, never trusted to fit.
        let Some(end) = usize::try_from(n).ok().and_then(|n| used.checked_add(n)) else {
            return Vec::new();
        };
        let Some(s) = rest.get(used..end) else {
            return Vec::new();
        };
        strings.push(s);
        rest = &rest[end..];
    }
    let go_version = String::from_utf8_lossy(strings[0]).into_owned();
    let mut modinfo = strings[1];
    // Go brackets the module info with 16-byte sentinels.
    if modinfo.len() >= 33 && modinfo[modinfo.len() - 17] == b'\n' {
        modinfo = &modinfo[16..modinfo.len() - 16];
    }
    let modinfo = String::from_utf8_lossy(modinfo);
    let mut path = None;
    let mut main: Option<(String, String)> = None;
    let mut deps: Vec<(String, String)> = Vec::new();
    let mut last_was_main = false;
    let mut ldflags = None;
    for line in modinfo.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        match f.as_slice() {
            ["path", p, ..] => path = Some(p.to_string()),
            ["mod", p, v, ..] => {
                main = Some((p.to_string(), v.to_string()));
                last_was_main = true;
            }
            ["dep", p, v, ..] => {
                deps.push((p.to_string(), v.to_string()));
                last_was_main = false;
            }
            ["build", kv, ..] if kv.starts_with("-ldflags=") => {
                ldflags = Some(
                    kv.trim_start_matches("-ldflags=")
                        .trim_matches('"')
                        .to_string(),
                );
            }
            ["=>", p, v, ..] => {
                if last_was_main {
                    main = Some((p.to_string(), v.to_string()));
                } else if let Some(d) = deps.last_mut() {
                    *d = (p.to_string(), v.to_string());
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    let main_module = main
        .clone()
        .or_else(|| path.clone().map(|p| (p, "(devel)".to_string())));
    if let Some((m, v)) = main_module {
        let name = if main.is_some() {
            m.clone()
        } else {
            path.clone().unwrap_or(m.clone())
        };
        // A main module built outside module mode says `(devel)`; syft then takes the version
        // from `-ldflags -X ...version=V`, else from the first NUL-delimited SemVer string in
        // the binary (`contents`), and so does sbom-lite.
        let v = if v == "(devel)" {
            ldflags
                .as_deref()
                .and_then(ldflags_version)
                .or_else(|| contents.and_then(|c| c()))
                .unwrap_or(v)
        } else {
            v
        };
        out.push(go_module(&name, &v));
    }
    for (p, v) in deps {
        out.push(go_module(&p, &v));
    }
    if let Some(v) = go_version.strip_prefix("go") {
        let mut std = go_module("stdlib", &go_version);
        std.purl = purl::build(
            "golang",
            None,
            "stdlib",
            v.split(' ').next().unwrap_or(v),
            &[],
            None,
        );
        std.licenses = vec!["BSD-3-Clause".into()];
        out.push(std);
    }
    out
}

/// syft's Go purl: the first three path elements are namespace and name, the rest a subpath.
pub fn go_purl(module: &str, version: &str) -> String {
    let parts: Vec<&str> = module.split('/').collect();
    match parts.len() {
        0 | 1 => purl::build("golang", None, module, version, &[], None),
        2 => purl::build("golang", Some(parts[0]), parts[1], version, &[], None),
        _ => purl::build(
            "golang",
            Some(&parts[..2].join("/")),
            parts[2],
            version,
            &[],
            Some(&parts[3..].join("/")),
        ),
    }
}

fn go_module(name: &str, version: &str) -> Package {
    Package {
        name: name.to_string(),
        version: version.to_string(),
        kind: PkgType::GoModule,
        found_by: "go-module-binary-cataloger",
        purl: go_purl(name, version),
        licenses: Vec::new(),
        locations: Vec::new(),
        upstream: None,
        supplier: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Go build-info blob whose string length is near u64::MAX: no overflow, no panic.
    #[test]
    fn hostile_go_build_info_lengths_are_refused() {
        let mut b = GO_MAGIC.to_vec();
        b.resize(16, 0);
        b[14] = 8;
        b[15] = 2;
        b.resize(32, 0);
        b.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        b.resize(64, 0);
        assert!(go_blob(&b, None).is_empty());
        // A length that fits usize but not the blob.
        let mut c = b[..32].to_vec();
        c.extend_from_slice(&[0x80, 0x80, 0x04]);
        assert!(go_blob(&c, None).is_empty());
    }

    #[test]
    fn dpkg_stanzas_and_purls() {
        let d = os_release(
            b"PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n",
        )
        .unwrap();
        let status = b"Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nSource: glibc\nVersion: 2.36-9+deb12u4\nDescription: x\n more\n\nPackage: umoci\nArchitecture: amd64\nSource: umoci (0.4.7+ds-3)\nVersion: 0.4.7+ds-3+b7\n\nPackage: broken\n";
        let p = dpkg(status, Some(&d), |_| vec![]);
        assert_eq!(p.len(), 2);
        assert_eq!(
            p[0].purl,
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12&upstream=glibc"
        );
        assert_eq!(p[1].purl, "pkg:deb/debian/umoci@0.4.7%2Bds-3%2Bb7?arch=amd64&distro=debian-12&upstream=umoci%400.4.7%2Bds-3");
        assert_eq!(p[0].upstream.as_deref(), Some("glibc"));
        let no_distro = dpkg(status, None, |_| vec![]);
        assert_eq!(no_distro[0].purl, "");
    }

    #[test]
    fn apk_python_npm_cargo() {
        let d = os_release(b"ID=alpine\nVERSION_ID=3.20.3\n").unwrap();
        let p = apk(b"C:Q1x\nP:busybox-binsh\nV:1.36.1-r29\nA:x86_64\no:busybox\nL:GPL-2.0-only\n\nP:musl\nV:1.2.5-r0\nA:x86_64\no:musl\n", Some(&d));
        assert_eq!(p[0].purl, "pkg:apk/alpine/busybox-binsh@1.36.1-r29?arch=x86_64&distro=alpine-3.20.3&upstream=busybox");
        assert_eq!(
            p[1].purl,
            "pkg:apk/alpine/musl@1.2.5-r0?arch=x86_64&distro=alpine-3.20.3"
        );
        let py = python(b"Metadata-Version: 2.1\nName: Jinja2\nVersion: 3.1.4\nLicense: BSD-3-Clause\n\nBody: not a header\n").unwrap().unwrap();
        assert_eq!(
            (py.name.as_str(), py.purl.as_str(), py.licenses[0].as_str()),
            ("jinja2", "pkg:pypi/jinja2@3.1.4", "BSD-3-Clause")
        );
        assert!(python(b"Metadata-Version: 2.1\n").is_err());
        let n =
            npm_package(br#"{"name":"@sigstore/core","version":"2.0.0","license":"Apache-2.0"}"#)
                .unwrap()
                .unwrap();
        assert_eq!(n.purl, "pkg:npm/%40sigstore/core@2.0.0");
        assert!(npm_package(b"{not json").is_err());
        assert!(npm_package(br#"{"private":true}"#).unwrap().is_none());
        let c = cargo_lock(b"version = 3\n\n[[package]]\nname = \"serde\"\nversion = \"1.0.0\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\n").unwrap();
        assert_eq!(
            c.iter().map(|p| p.purl.as_str()).collect::<Vec<_>>(),
            ["pkg:cargo/serde@1.0.0", "pkg:cargo/app@0.1.0"]
        );
        assert_eq!(
            go_purl("github.com/opencontainers/umoci/cmd/umoci", "(devel)"),
            "pkg:golang/github.com/opencontainers/umoci@(devel)#cmd/umoci"
        );
        assert_eq!(
            go_purl("golang.org/x/sys", "v0.1.0"),
            "pkg:golang/golang.org/x/sys@v0.1.0"
        );
    }

    #[test]
    fn go_build_info_with_replacements() {
        let b = go_buildinfo_sample();
        // The same blob in a large file without section headers, straddling a chunk boundary
        // of the spooled scan, is found too.
        let mut f = tempfile::tempfile().unwrap();
        let mut big = vec![0u8; (1 << 20) - 16];
        big.extend_from_slice(&b[64..]);
        big.resize(3 << 20, 0);
        std::io::Write::write_all(&mut f, &big).unwrap();
        let from_file = binary_file(&f);
        let p = go_buildinfo(&b);
        assert_eq!(from_file, p);
        let got: Vec<(&str, &str, &str)> = p
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str(), p.purl.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "github.com/a/b",
                    "v1.2.3",
                    "pkg:golang/github.com/a/b@v1.2.3"
                ),
                (
                    "golang.org/x/sys",
                    "v0.2.0",
                    "pkg:golang/golang.org/x/sys@v0.2.0"
                ),
                ("stdlib", "go1.21.5", "pkg:golang/stdlib@1.21.5"),
            ]
        );
        // Truncated anywhere: no panic, at most fewer packages.
        for cut in 0..b.len() {
            let _ = go_buildinfo(&b[..cut]);
        }
    }

    #[test]
    fn go_main_module_versions_outside_module_mode() {
        assert_eq!(
            ldflags_version("-s -w -X main.revision=abc -X github.com/docker/distribution/version.Version=v2.8.2+ds1"),
            Some("v2.8.2+ds1".into())
        );
        assert_eq!(
            ldflags_version("-X main.version=1.2.3"),
            Some("v1.2.3".into())
        );
        assert_eq!(ldflags_version("-X main.version=dev"), None);
        assert_eq!(
            contents_version(b"x\x00go1.19.8\x00\x00\x002.8.2+ds1\x00y"),
            Some("v2.8.2+ds1".into())
        );
        assert_eq!(contents_version(b"\x001.2\x00 1.2.3\x00"), None);
    }

    #[test]
    fn fdo_package_notes() {
        let json = br#"{"type":"deb","os":"Debian","name":"systemd","version":"252.38-1~deb12u1","architecture":"amd64"}"#;
        let mut note = Vec::new();
        note.extend_from_slice(&4u32.to_le_bytes());
        note.extend_from_slice(&(json.len() as u32 + 1).to_le_bytes());
        note.extend_from_slice(&0xcafe_1a7eu32.to_le_bytes());
        note.extend_from_slice(b"FDO\0");
        note.extend_from_slice(json);
        note.push(0);
        while note.len() % 4 != 0 {
            note.push(0);
        }
        let p = package_note(&note);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].purl, "pkg:deb/systemd@252.38-1~deb12u1");
        for cut in 0..note.len() {
            let _ = package_note(&note[..cut]);
        }
    }

    #[test]
    fn copyright_files() {
        let l = copyright_licenses(b"Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nLicense: GPL-2+\nLicense: LGPL-2.1+, with exception\nLicense:\tpublic-domain\nLicense:   MIT\nLicense: none\n On Debian systems see /usr/share/common-licenses/GPL-2. and /usr/share/common-licenses/GFDL-1.2\n");
        assert_eq!(l, ["GPL-2", "GPL-2+", "LGPL-2.1+,"]);
    }
}
