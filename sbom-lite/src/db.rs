//! The vulnerability database: a directory of OSV records that `scan` reads, in a default place
//! (as grype keeps its database), filled by `sbom-lite db import` from OSV's per-ecosystem
//! exports (`https://osv-vulnerabilities.storage.googleapis.com/<ECOSYSTEM>/all.zip`: one
//! `<ID>.json` per advisory).
//!
//! An archive is imported into `<db>/<archive name>/` whole or not at all: its records are
//! checked and written into a temporary directory beside it, which then replaces the previous
//! import of the same archive. Member names are never used as paths (only a plain `<ID>.json`
//! is kept), and every member's size is bounded, so a hostile archive can neither write outside
//! the database nor fill the disk.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::Error;

/// The environment variable naming the database directory.
pub const DB_ENV: &str = "SBOM_LITE_DB_DIR";

/// The largest record kept (OSV's largest advisories are well under 1 MiB).
pub const MAX_RECORD: u64 = 16 << 20;

/// Where `scan` reads and `db import` writes without `--db`: `$SBOM_LITE_DB_DIR`, else
/// `$XDG_CACHE_HOME/sbom-lite/db`, else `~/.cache/sbom-lite/db`.
pub fn default_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os(DB_ENV).filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d));
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(cache.join("sbom-lite").join("db"))
}

/// What an import kept and skipped.
#[derive(Debug, Default)]
pub struct Imported {
    pub dir: PathBuf,
    pub records: usize,
    pub skipped: Vec<String>,
}

fn plain_record_name(name: &str) -> Option<&str> {
    let stem = name.strip_suffix(".json")?;
    (!stem.is_empty()
        && !stem.starts_with('.')
        && stem
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')))
    .then_some(name)
}

/// Imports the OSV records of `archive` (a zip) into `db`.
pub fn import(archive: &Path, db: &Path) -> Result<Imported, Error> {
    let bad =
        |why: String| Error::Input(format!("{} is not an OSV export: {why}", archive.display()));
    let file = std::fs::File::open(archive).map_err(|e| Error::io(archive.display(), e))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| bad(e.to_string()))?;
    let name = archive
        .file_stem()
        .and_then(|s| s.to_str())
        .filter(|s| plain_record_name(&format!("{s}.json")).is_some())
        .unwrap_or("import")
        .to_string();
    std::fs::create_dir_all(db)
        .map_err(|e| Error::Output(format!("cannot create {}: {e}", db.display())))?;
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}-"))
        .tempdir_in(db)
        .map_err(|e| Error::Output(format!("cannot write into {}: {e}", db.display())))?;
    let mut out = Imported {
        dir: db.join(&name),
        ..Default::default()
    };
    for i in 0..zip.len() {
        let mut member = zip.by_index(i).map_err(|e| bad(e.to_string()))?;
        if member.is_dir() {
            continue;
        }
        let raw = member.name().to_string();
        let shown = sigstore_lite_core::text::printable(&raw).to_string();
        // Only `<ID>.json` at the top (OSV's layout); the name never becomes a path as given.
        let Some(file) = plain_record_name(&raw) else {
            out.skipped
                .push(format!("{shown}: not an <ID>.json record name"));
            continue;
        };
        if member.size() > MAX_RECORD {
            out.skipped
                .push(format!("{shown}: larger than {MAX_RECORD} bytes"));
            continue;
        }
        let mut bytes = Vec::new();
        (&mut member)
            .take(MAX_RECORD + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| bad(format!("{shown}: {e}")))?;
        if bytes.len() as u64 > MAX_RECORD {
            out.skipped
                .push(format!("{shown}: larger than {MAX_RECORD} bytes"));
            continue;
        }
        if let Err(e) = serde_json::from_slice::<crate::osv::Record>(&bytes) {
            out.skipped
                .push(format!("{shown}: not an OSV record ({e})"));
            continue;
        }
        std::fs::write(tmp.path().join(file), &bytes)
            .map_err(|e| Error::Output(format!("cannot write into {}: {e}", db.display())))?;
        out.records += 1;
    }
    if out.records == 0 {
        return Err(bad("it holds no OSV record".into()));
    }
    // Replace the previous import of this archive (moved aside, then removed).
    let old = db.join(format!(".{name}.old"));
    let _ = std::fs::remove_dir_all(&old);
    if out.dir.exists() {
        std::fs::rename(&out.dir, &old)
            .map_err(|e| Error::Output(format!("cannot replace {}: {e}", out.dir.display())))?;
    }
    let kept = tmp.keep();
    std::fs::rename(&kept, &out.dir)
        .map_err(|e| Error::Output(format!("cannot write {}: {e}", out.dir.display())))?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(out)
}
