//! Writing a file whole or not at all: every file the repository and its keys directory hold.

use std::io::Write;
use std::path::Path;

use crate::Error;

/// Writes `bytes` to `path` whole or not at all, durably (0600 if `private`).
pub fn write_file(path: &Path, bytes: &[u8], private: bool) -> Result<(), Error> {
    let err = |op: &'static str, e: std::io::Error| Error::Io {
        op,
        path: path.to_path_buf(),
        why: e.to_string(),
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id()
    ));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, if private { 0o600 } else { 0o644 });
    let mut f = opts.open(&tmp).map_err(|e| err("write", e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| err("write", e))?;
    std::fs::rename(&tmp, path).map_err(|e| err("write", e))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
