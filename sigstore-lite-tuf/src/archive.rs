//! `export`: the air-gap archive, a gzip tarball in the layout policy-controller's TrustRoot
//! `repository.mirrorFS` reads (everything under `repository/`, targets in
//! `repository/targets/`, which is the TrustRoot's `targets: targets`).

use std::path::Path;

use crate::repo::Repository;
use crate::Error;

/// The prefix policy-controller strips from the archive's paths.
pub const PREFIX: &str = "repository";

/// Writes the archive of the repository's current files to `out`.
pub fn export(repo: &Repository, out: &Path) -> Result<usize, Error> {
    let files = repo.mirror_files()?;
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    let io = |e: std::io::Error| Error::Io {
        op: "write",
        path: out.to_path_buf(),
        why: e.to_string(),
    };
    for dir in [format!("{PREFIX}/"), format!("{PREFIX}/targets/")] {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        h.set_mtime(0);
        h.set_path(&dir).map_err(io)?;
        h.set_cksum();
        tar.append(&h, std::io::empty()).map_err(io)?;
    }
    for (name, bytes) in &files {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_size(bytes.len() as u64);
        h.set_mtime(0);
        h.set_path(format!("{PREFIX}/{name}")).map_err(io)?;
        h.set_cksum();
        tar.append(&h, bytes.as_slice()).map_err(io)?;
    }
    let gz = tar.into_inner().map_err(io)?;
    let bytes = gz.finish().map_err(io)?;
    crate::files::write_file(out, &bytes, false)?;
    Ok(files.len())
}
