//! The squashed view of an image (syft's default scope): layers applied in order, a later file
//! replacing an earlier one, whiteouts (`.wh.<name>`) deleting and opaque markers
//! (`.wh..wh..opq`) hiding what lower layers put in a directory. Only what the catalogers read
//! is kept: metadata files (bounded) and, for executables, what was found in them; everything
//! else streams past. Nothing is ever written to disk, so a hostile path (`../../etc/passwd`)
//! can only be skipped, never followed.

use std::collections::BTreeMap;
use std::io::Read;

use crate::catalog;
use crate::model::{Distro, Location, Package};
use crate::Error;

/// Size caps: a metadata file beyond `max_file` or a binary beyond `max_binary` is skipped
/// with a warning naming it.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_file: u64,
    pub max_binary: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_file: 64 << 20,
            max_binary: 256 << 20,
        }
    }
}

/// Executables larger than this are spooled to a temporary file rather than held in memory.
const SPOOL_ABOVE: u64 = 8 << 20;

/// What a cataloger will want from a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    No,
    /// A metadata file read whole (os-release, package databases, manifests, lock files).
    Meta,
    /// An executable, searched for Go build info and cargo-auditable data.
    Binary,
}

/// Which files are kept, by path (relative, no leading `/`). `declared` (directories) reads
/// lock files instead of installed `package.json`s, as syft's catalogers for directories do.
pub fn wanted(path: &str, executable: bool, declared: bool) -> Want {
    let name = path.rsplit('/').next().unwrap_or(path);
    let meta = path == "etc/os-release"
        || path == "usr/lib/os-release"
        || path.ends_with("lib/dpkg/status")
        || path.contains("lib/dpkg/status.d/")
        || path.ends_with("lib/apk/db/installed")
        || path.ends_with(".dist-info/METADATA")
        || path.ends_with(".egg-info/PKG-INFO")
        || name.ends_with(".egg-info")
        || (path.starts_with("usr/share/doc/") && name == "copyright")
        || (!declared && name == "package.json" && path.contains("node_modules/"))
        || (declared && (name == "Cargo.lock" || name == "package-lock.json"));
    if meta {
        Want::Meta
    } else if executable {
        Want::Binary
    } else {
        Want::No
    }
}

/// A kept file: its bytes, or what the binary catalogers found in it.
#[derive(Clone, Debug)]
pub enum Kept {
    Bytes(Vec<u8>),
    Found(Vec<Package>),
}

#[derive(Clone, Debug)]
pub struct Entry {
    /// Index of the layer that wrote it.
    pub layer: usize,
    pub kept: Kept,
}

/// The kind of a tar or directory entry, as far as squashing cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    File { executable: bool },
    Dir,
    Symlink,
    Hardlink,
    Other,
}

#[derive(Debug)]
pub struct Squash {
    pub files: BTreeMap<String, Entry>,
    pub links: BTreeMap<String, (usize, String)>,
    /// Layer labels (diff IDs for images), by index.
    pub layers: Vec<Option<String>>,
    pub warnings: Vec<String>,
    declared: bool,
    limits: Limits,
}

/// Normalises an archive path: no leading `./` or `/`, no `.` components; `None` if it climbs
/// out of the root with `..`.
pub fn normalize(p: &str) -> Option<String> {
    let mut parts = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => return None,
            c => parts.push(c),
        }
    }
    Some(parts.join("/"))
}

fn children_prefix(dir: &str) -> String {
    if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    }
}

impl Squash {
    /// `declared`: also keep lock files (directories, as syft's "declared" catalogers).
    pub fn new(declared: bool, limits: Limits) -> Squash {
        Squash {
            files: BTreeMap::new(),
            links: BTreeMap::new(),
            layers: Vec::new(),
            warnings: Vec::new(),
            declared,
            limits,
        }
    }

    fn remove_tree(&mut self, path: &str, below_layer: Option<usize>, itself: bool) {
        let keep = |layer: usize| below_layer.is_some_and(|l| layer >= l);
        if itself {
            if self.files.get(path).is_some_and(|e| !keep(e.layer)) {
                self.files.remove(path);
            }
            if self.links.get(path).is_some_and(|(l, _)| !keep(*l)) {
                self.links.remove(path);
            }
        }
        let prefix = children_prefix(path);
        let doomed: Vec<String> = self
            .files
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter(|(_, e)| !keep(e.layer))
            .map(|(k, _)| k.clone())
            .collect();
        for k in doomed {
            self.files.remove(&k);
        }
        let doomed: Vec<String> = self
            .links
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter(|(_, (l, _))| !keep(*l))
            .map(|(k, _)| k.clone())
            .collect();
        for k in doomed {
            self.links.remove(&k);
        }
    }

    /// Starts a new layer (or the single pseudo-layer of a directory); returns its index.
    pub fn begin_layer(&mut self, label: Option<String>) -> usize {
        self.layers.push(label);
        self.layers.len() - 1
    }

    /// Records one entry of the current layer. `raw_path` is the path as the archive spells
    /// it; `link` the target of a symlink or hardlink; `size` the content length.
    pub fn put(
        &mut self,
        raw_path: &str,
        kind: Kind,
        link: Option<&str>,
        size: u64,
        content: &mut dyn Read,
    ) -> Result<(), Error> {
        let layer = self.layers.len().saturating_sub(1);
        let Some(path) = normalize(raw_path) else {
            self.warnings.push(format!(
                "skipped {raw_path:?}: its path climbs out of the image root"
            ));
            return Ok(());
        };
        let (dir, name) = match path.rsplit_once('/') {
            Some((d, n)) => (d.to_string(), n.to_string()),
            None => (String::new(), path.clone()),
        };
        if name == ".wh..wh..opq" {
            self.remove_tree(&dir, Some(layer), false);
            return Ok(());
        }
        if let Some(hidden) = name.strip_prefix(".wh.") {
            let target = if dir.is_empty() {
                hidden.to_string()
            } else {
                format!("{dir}/{hidden}")
            };
            self.remove_tree(&target, None, true);
            return Ok(());
        }
        if path.is_empty() {
            return Ok(());
        }
        // Whatever was at this path before is replaced. A directory entry (a later layer
        // touching a directory's metadata) keeps what lower layers put in it; anything else
        // at a directory's path hides its contents.
        if kind == Kind::Dir {
            self.files.remove(&path);
            self.links.remove(&path);
        } else {
            self.remove_tree(&path, None, true);
        }
        match kind {
            Kind::Dir | Kind::Other => {}
            Kind::Symlink => {
                if let Some(t) = link {
                    self.links.insert(path, (layer, t.to_string()));
                }
            }
            Kind::Hardlink => {
                if let Some(src) = link.and_then(normalize) {
                    if let Some(e) = self.files.get(&src).cloned() {
                        self.files.insert(path, Entry { layer, ..e });
                    }
                }
            }
            Kind::File { executable } => match wanted(&path, executable, self.declared) {
                Want::No => {}
                Want::Meta => {
                    if size > self.limits.max_file {
                        self.warnings.push(format!(
                            "skipped /{path}: {size} bytes is over the {} MiB limit for a metadata file",
                            self.limits.max_file >> 20
                        ));
                        return Ok(());
                    }
                    let mut b = Vec::with_capacity(size as usize);
                    content
                        .take(self.limits.max_file + 1)
                        .read_to_end(&mut b)
                        .map_err(|e| Error::io(format!("/{path}"), e))?;
                    self.files.insert(
                        path,
                        Entry {
                            layer,
                            kept: Kept::Bytes(b),
                        },
                    );
                }
                Want::Binary => {
                    if size < 64 {
                        return Ok(());
                    }
                    let mut magic = [0u8; 4];
                    if content.read_exact(&mut magic).is_err() || &magic != b"\x7fELF" {
                        return Ok(());
                    }
                    if size > self.limits.max_binary {
                        self.warnings.push(format!(
                            "skipped /{path}: a {size}-byte executable is over the {} MiB limit",
                            self.limits.max_binary >> 20
                        ));
                        return Ok(());
                    }
                    // Small executables are read into memory; large ones (shared libraries,
                    // big programs) are spooled to a temporary file, of which only the ELF
                    // headers and the wanted sections are read back: memory stays bounded.
                    let found = if size <= SPOOL_ABOVE {
                        let mut b = Vec::with_capacity(size as usize);
                        b.extend_from_slice(&magic);
                        content
                            .take(self.limits.max_binary)
                            .read_to_end(&mut b)
                            .map_err(|e| Error::io(format!("/{path}"), e))?;
                        catalog::binary(&b)
                    } else {
                        let mut spool = || -> std::io::Result<std::fs::File> {
                            let mut f = tempfile::tempfile()?;
                            std::io::Write::write_all(&mut f, &magic)?;
                            std::io::copy(&mut content.take(self.limits.max_binary), &mut f)?;
                            Ok(f)
                        };
                        let f = spool().map_err(|e| Error::io(format!("/{path}"), e))?;
                        catalog::binary_file(&f)
                    };
                    if !found.is_empty() {
                        self.files.insert(
                            path,
                            Entry {
                                layer,
                                kept: Kept::Found(found),
                            },
                        );
                    }
                }
            },
        }
        Ok(())
    }

    /// Applies one uncompressed layer tar, streamed.
    pub fn apply_tar(&mut self, reader: &mut dyn Read, what: &str) -> Result<(), Error> {
        let bad =
            |e: std::io::Error| Error::Source(format!("{what} is not a valid tar archive: {e}"));
        let mut archive = tar::Archive::new(reader);
        for entry in archive.entries().map_err(bad)? {
            let mut entry = entry.map_err(bad)?;
            let h = entry.header();
            let kind = match h.entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => Kind::File {
                    executable: h.mode().unwrap_or(0) & 0o111 != 0,
                },
                tar::EntryType::Directory => Kind::Dir,
                tar::EntryType::Symlink => Kind::Symlink,
                tar::EntryType::Link => Kind::Hardlink,
                _ => Kind::Other,
            };
            let size = entry.size();
            let path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let link = entry
                .link_name_bytes()
                .map(|l| String::from_utf8_lossy(&l).into_owned());
            self.put(&path, kind, link.as_deref(), size, &mut entry)
                .map_err(|e| match e {
                    Error::Source(m) if m.starts_with("cannot read") => {
                        Error::Source(format!("{what} is truncated or corrupt ({m})"))
                    }
                    e => e,
                })?;
        }
        Ok(())
    }

    /// The file at `path` in the squashed view, following symlinks (in any component, at most
    /// 40 of them, as the kernel does); `None` if absent or a loop.
    pub fn resolve(&self, path: &str) -> Option<(String, &Entry)> {
        let mut cur = normalize(path)?;
        for _ in 0..40 {
            // Longer than Linux's PATH_MAX is no path a program could open (and each prefix is
            // looked up: the work is quadratic in the length).
            if cur.len() > 4096 {
                return None;
            }
            if let Some(e) = self.files.get(&cur) {
                return Some((cur, e));
            }
            // Find the first component that is a symlink and substitute its target; prefixes
            // are slices of the path, not rebuilt.
            let mut ends: Vec<usize> = cur.match_indices('/').map(|(i, _)| i).collect();
            ends.push(cur.len());
            let mut replaced = None;
            for (k, &end) in ends.iter().enumerate() {
                if let Some((_, target)) = self.links.get(&cur[..end]) {
                    let base = if target.starts_with('/') {
                        target.clone()
                    } else {
                        let parent = if k == 0 { "" } else { &cur[..ends[k - 1]] };
                        format!("{parent}/{target}")
                    };
                    let rest = cur.get(end + 1..).unwrap_or("");
                    replaced = Some(resolve_dots(&format!("{base}/{rest}")));
                    break;
                }
            }
            cur = replaced?;
        }
        None
    }
}

/// Runs every cataloger ([`catalog`]) over the squashed view: the distro from os-release, then packages,
/// sorted by name, version and type. Malformed files are skipped with a warning naming them.
pub fn catalogue(sq: &Squash) -> (Option<Distro>, Vec<Package>, Vec<String>) {
    let mut warnings = Vec::new();
    let distro = ["etc/os-release", "usr/lib/os-release"]
        .iter()
        .find_map(|p| match sq.resolve(p) {
            Some((_, e)) => match &e.kept {
                Kept::Bytes(b) => catalog::os_release(b),
                Kept::Found(_) => None,
            },
            None => None,
        });
    let mut out = Vec::new();
    for (path, entry) in &sq.files {
        let location = Location {
            path: format!("/{path}"),
            layer: sq.layers.get(entry.layer).cloned().flatten(),
        };
        let found: Vec<Package> = match &entry.kept {
            Kept::Found(pkgs) => pkgs.clone(),
            Kept::Bytes(b) => {
                let name = path.rsplit('/').next().unwrap_or(path);
                let r = if path.ends_with("lib/dpkg/status") || path.contains("lib/dpkg/status.d/")
                {
                    Ok(catalog::dpkg(b, distro.as_ref(), |pkg| {
                        // A package name is one path component (Debian policy 5.6.1).
                        if pkg.contains('/') || pkg.len() > 255 {
                            return Vec::new();
                        }
                        sq.resolve(&format!("usr/share/doc/{pkg}/copyright"))
                            .and_then(|(_, e)| match &e.kept {
                                Kept::Bytes(b) => Some(catalog::copyright_licenses(b)),
                                Kept::Found(_) => None,
                            })
                            .unwrap_or_default()
                    }))
                } else if path.ends_with("lib/apk/db/installed") {
                    Ok(catalog::apk(b, distro.as_ref()))
                } else if path.ends_with(".dist-info/METADATA")
                    || path.ends_with(".egg-info/PKG-INFO")
                    || name.ends_with(".egg-info")
                {
                    catalog::python(b).map(|p| p.into_iter().collect())
                } else if name == "package.json" {
                    catalog::npm_package(b).map(|p| p.into_iter().collect())
                } else if name == "package-lock.json" {
                    catalog::npm_lock(b)
                } else if name == "Cargo.lock" {
                    catalog::cargo_lock(b)
                } else {
                    Ok(Vec::new())
                };
                match r {
                    Ok(p) => p,
                    Err(e) => {
                        warnings.push(format!("skipped /{path}: {e}"));
                        Vec::new()
                    }
                }
            }
        };
        out.extend(found.into_iter().map(|mut p| {
            p.locations = vec![location.clone()];
            p
        }));
    }
    // One package per distribution package named by ELF notes, found in every binary that
    // carries the note (syft merges them likewise).
    // Indexed by (name, version): linear in the notes, whatever a crafted binary holds.
    let mut merged: Vec<Package> = Vec::new();
    let mut seen: std::collections::HashMap<(String, String), usize> =
        std::collections::HashMap::new();
    for p in out.drain(..) {
        if p.found_by == "elf-binary-package-cataloger" {
            let key = (p.name.clone(), p.version.clone());
            if let Some(&i) = seen.get(&key) {
                merged[i].locations.extend(p.locations);
                continue;
            }
            seen.insert(key, merged.len());
        }
        merged.push(p);
    }
    let mut out = merged;
    out.sort_by(|a, b| {
        (&a.name, &a.version, a.kind, &a.locations).cmp(&(
            &b.name,
            &b.version,
            b.kind,
            &b.locations,
        ))
    });
    (distro, out, warnings)
}

/// Resolves `..` lexically, clamping at the root (as a chroot would).
fn resolve_dots(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(s: &mut Squash, path: &str, body: &str) {
        s.put(
            path,
            Kind::File { executable: false },
            None,
            body.len() as u64,
            &mut body.as_bytes(),
        )
        .unwrap();
    }

    #[test]
    fn whiteouts_opaque_dirs_and_symlinks() {
        let mut s = Squash::new(false, Limits::default());
        s.begin_layer(Some("l0".into()));
        put(&mut s, "./usr/lib/os-release", "ID=debian\n");
        s.put(
            "etc/os-release",
            Kind::Symlink,
            Some("../usr/lib/os-release"),
            0,
            &mut std::io::empty(),
        )
        .unwrap();
        put(&mut s, "var/lib/dpkg/status", "Package: a\n");
        put(&mut s, "app/node_modules/x/package.json", "{}");
        put(&mut s, "app/node_modules/y/package.json", "{}");
        put(&mut s, "../../etc/passwd", "root");
        s.begin_layer(Some("l1".into()));
        put(&mut s, "app/node_modules/z/package.json", "{}");
        put(&mut s, "app/node_modules/.wh..wh..opq", "");
        put(&mut s, "var/lib/dpkg/.wh.status", "");
        assert!(s.resolve("etc/os-release").is_some());
        assert!(!s.files.contains_key("var/lib/dpkg/status"));
        assert!(!s.files.contains_key("app/node_modules/x/package.json"));
        assert!(
            s.files.contains_key("app/node_modules/z/package.json"),
            "same-layer entries survive an opaque marker"
        );
        assert!(s.warnings[0].contains("climbs out"));
        // A loop resolves to nothing, without hanging.
        s.put("a", Kind::Symlink, Some("b"), 0, &mut std::io::empty())
            .unwrap();
        s.put("b", Kind::Symlink, Some("a"), 0, &mut std::io::empty())
            .unwrap();
        assert!(s.resolve("a/x").is_none());
        // A later layer's entry for a directory keeps its contents.
        s.begin_layer(None);
        s.put(
            "app/node_modules",
            Kind::Dir,
            None,
            0,
            &mut std::io::empty(),
        )
        .unwrap();
        assert!(s.files.contains_key("app/node_modules/z/package.json"));
        // A file replacing a directory hides its contents.
        put(&mut s, "app", "now a file");
        assert!(!s.files.contains_key("app/node_modules/z/package.json"));
    }
}
