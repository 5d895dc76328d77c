//! Sources: a directory, an OCI image layout, a `docker save` archive or an image in a
//! registry, each read into a [`Squash`] layer by layer. Layers are streamed from their files
//! (registry blobs are first streamed to a temporary file), decompressed on the fly and hashed
//! as they pass, so an image is never held in memory whole.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::model::SourceInfo;
use crate::squash::{Kind, Limits, Squash};
use crate::Error;

/// What the user asked to catalogue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Dir(PathBuf),
    OciDir(PathBuf),
    DockerArchive(PathBuf),
    Registry(String),
}

impl Source {
    /// `dir:PATH`, `oci-dir:PATH`, `docker-archive:PATH`, `registry:REF` or a bare image
    /// reference (as syft accepts them).
    pub fn parse(s: &str) -> Source {
        if let Some(p) = s.strip_prefix("dir:") {
            Source::Dir(p.into())
        } else if let Some(p) = s.strip_prefix("oci-dir:") {
            Source::OciDir(p.into())
        } else if let Some(p) = s.strip_prefix("docker-archive:") {
            Source::DockerArchive(p.into())
        } else if let Some(r) = s.strip_prefix("registry:") {
            Source::Registry(r.to_string())
        } else {
            Source::Registry(s.to_string())
        }
    }
}

/// Hashes what passes through (SHA-256) and counts it.
struct Hashing<R> {
    inner: R,
    ctx: aws_lc_rs::digest::Context,
    n: u64,
}

impl<R: Read> Hashing<R> {
    fn new(inner: R) -> Self {
        Hashing {
            inner,
            ctx: aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256),
            n: 0,
        }
    }
    fn digest(self) -> String {
        format!("sha256:{}", hex::encode(self.ctx.finish()))
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.ctx.update(&buf[..n]);
        self.n += n as u64;
        Ok(n)
    }
}

/// Reports bytes read to a progress bar, if there is one.
struct Progress<'a, R> {
    inner: R,
    bar: Option<&'a indicatif::ProgressBar>,
}

impl<R: Read> Read for Progress<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(b) = self.bar {
            b.inc(n as u64);
        }
        Ok(n)
    }
}

/// Applies one layer blob (gzip or plain tar) read from `blob`; checks its digest (if
/// `expect_digest`) and returns its diff ID.
pub fn apply_layer(
    sq: &mut Squash,
    blob: &mut dyn Read,
    what: &str,
    expect_digest: Option<&str>,
    bar: Option<&indicatif::ProgressBar>,
) -> Result<String, Error> {
    let outer = Hashing::new(Progress { inner: blob, bar });
    let mut buffered = BufReader::with_capacity(256 << 10, outer);
    let head = buffered
        .fill_buf()
        .map_err(|e| Error::io(what, e))?
        .to_vec();
    if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return Err(Error::Source(format!(
            "{what} is zstd-compressed, which sbom-lite does not read yet (gzip and plain tar only)"
        )));
    }
    let gz = head.starts_with(&[0x1f, 0x8b]);
    let diff_id = {
        let decoded: Box<dyn Read + '_> = if gz {
            Box::new(flate2::read::MultiGzDecoder::new(&mut buffered))
        } else {
            Box::new(&mut buffered)
        };
        let mut inner = Hashing::new(decoded);
        sq.apply_tar(&mut inner, what).map_err(|e| match e {
            Error::Source(m)
                if gz && m.contains("invalid gzip") || m.contains("corrupt deflate") =>
            {
                Error::Source(format!("{what} is not valid gzip: {m}"))
            }
            e => e,
        })?;
        // What follows the end-of-archive blocks still counts toward the diff ID.
        std::io::copy(&mut inner, &mut std::io::sink())
            .map_err(|e| Error::Source(format!("{what} is truncated or corrupt: {e}")))?;
        inner.digest()
    };
    std::io::copy(&mut buffered, &mut std::io::sink()).map_err(|e| Error::io(what, e))?;
    let blob_digest = buffered.into_inner().digest();
    if let Some(want) = expect_digest {
        if want != blob_digest {
            return Err(Error::Source(format!(
                "{what} does not match its digest (the blob is {blob_digest})"
            )));
        }
    }
    Ok(diff_id)
}

/// Walks a directory as the single layer of a squashed view: symlinks are recorded, never
/// followed, so a symlink loop is harmless; unreadable entries are warned about and skipped.
pub fn read_dir(root: &Path, sq: &mut Squash) -> Result<SourceInfo, Error> {
    let meta = std::fs::metadata(root).map_err(|e| Error::io(root.display(), e))?;
    if !meta.is_dir() {
        return Err(Error::Source(format!(
            "{} is not a directory",
            root.display()
        )));
    }
    sq.begin_layer(None);
    for entry in walkdir::WalkDir::new(root).follow_links(false) {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                sq.warnings.push(format!("skipped {e}"));
                continue;
            }
        };
        let Ok(rel) = entry.path().strip_prefix(root) else {
            continue;
        };
        let rel = rel.to_string_lossy().to_string();
        if rel.is_empty() {
            continue;
        }
        let ft = entry.file_type();
        if ft.is_symlink() {
            if let Ok(t) = std::fs::read_link(entry.path()) {
                sq.put(
                    &rel,
                    Kind::Symlink,
                    Some(&t.to_string_lossy()),
                    0,
                    &mut std::io::empty(),
                )?;
            }
        } else if ft.is_dir() {
            sq.put(&rel, Kind::Dir, None, 0, &mut std::io::empty())?;
        } else if ft.is_file() {
            use std::os::unix::fs::PermissionsExt;
            let Ok(md) = entry.metadata() else { continue };
            let executable = md.permissions().mode() & 0o111 != 0;
            if crate::squash::wanted(&rel, executable, true) == crate::squash::Want::No {
                continue;
            }
            match File::open(entry.path()) {
                Ok(mut f) => sq.put(&rel, Kind::File { executable }, None, md.len(), &mut f)?,
                Err(e) => sq
                    .warnings
                    .push(format!("skipped {}: {e}", entry.path().display())),
            }
        }
    }
    Ok(SourceInfo::Directory {
        path: root.display().to_string(),
    })
}

#[derive(Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    size: u64,
    #[serde(default)]
    platform: Option<Platform>,
    #[serde(default)]
    annotations: std::collections::BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Platform {
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    os: String,
}

#[derive(Deserialize)]
struct Index {
    manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct Manifest {
    config: Descriptor,
    layers: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct Config {
    #[serde(default)]
    architecture: Option<String>,
    #[serde(default)]
    rootfs: Option<RootFs>,
}

#[derive(Deserialize)]
struct RootFs {
    #[serde(default)]
    diff_ids: Vec<String>,
}

/// `sha256:<64 hex>` only: a digest is also a file name here, so nothing else may pass.
fn checked_digest(d: &str) -> Result<&str, Error> {
    match d.strip_prefix("sha256:") {
        Some(h) if h.len() == 64 && h.bytes().all(|c| c.is_ascii_hexdigit()) => Ok(h),
        _ => Err(Error::Source(format!("{d:?} is not a sha256 digest"))),
    }
}

fn is_index(media_type: &str, body: &serde_json::Value) -> bool {
    media_type.contains("index")
        || media_type.contains("manifest.list")
        || body.get("manifests").is_some()
}

/// Picks linux/amd64 from an index, else the first manifest.
fn pick(index: &Index) -> Option<&Descriptor> {
    index
        .manifests
        .iter()
        .find(|m| {
            m.platform
                .as_ref()
                .is_some_and(|p| p.os == "linux" && p.architecture == "amd64")
        })
        .or_else(|| index.manifests.iter().find(|m| m.platform.is_none()))
        .or_else(|| index.manifests.first())
}

fn parse<T: serde::de::DeserializeOwned>(b: &[u8], what: &str) -> Result<T, Error> {
    serde_json::from_slice(b).map_err(|e| Error::Source(format!("{what} does not parse: {e}")))
}

fn diff_ids_match(config: &Config, got: &[String], what: &str) -> Result<(), Error> {
    if let Some(rootfs) = &config.rootfs {
        if !rootfs.diff_ids.is_empty() && rootfs.diff_ids != got {
            return Err(Error::Source(format!(
                "the layers of {what} do not match the diff IDs in its config"
            )));
        }
    }
    Ok(())
}

fn bar(total: u64, show: bool) -> Option<indicatif::ProgressBar> {
    if !show {
        return None;
    }
    let b = indicatif::ProgressBar::new(total);
    b.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
        )
        .expect("template")
        .progress_chars("=> "),
    );
    b.set_message("cataloguing layers");
    Some(b)
}

/// An OCI image layout directory (`index.json`, `blobs/sha256/`).
pub fn read_oci_dir(root: &Path, sq: &mut Squash, progress: bool) -> Result<SourceInfo, Error> {
    let blob_path = |d: &str| -> Result<PathBuf, Error> {
        Ok(root.join("blobs").join("sha256").join(checked_digest(d)?))
    };
    let read_small = |d: &str, what: &str| -> Result<Vec<u8>, Error> {
        let p = blob_path(d)?;
        let mut b = Vec::new();
        File::open(&p)
            .and_then(|f| f.take(16 << 20).read_to_end(&mut b))
            .map_err(|e| Error::io(format!("{what} {d}"), e))?;
        if registry_client::digest_of(&b) != d {
            return Err(Error::Source(format!(
                "{what} {d} does not match its digest"
            )));
        }
        Ok(b)
    };
    let index_bytes = std::fs::read(root.join("index.json")).map_err(|e| {
        Error::Source(format!(
            "{} is not an OCI image layout: {e}",
            root.display()
        ))
    })?;
    let index: Index = parse(&index_bytes, "index.json")?;
    let mut desc =
        pick(&index).ok_or_else(|| Error::Source("index.json lists no manifest".into()))?;
    let tag = desc
        .annotations
        .get("org.opencontainers.image.ref.name")
        .cloned();
    let mut nested;
    let mut manifest_bytes = read_small(&desc.digest, "manifest")?;
    for _ in 0..4 {
        let v: serde_json::Value = parse(&manifest_bytes, "the manifest")?;
        if !is_index(&desc.media_type, &v) {
            break;
        }
        nested = parse::<Index>(&manifest_bytes, "the image index")?;
        let d = pick(&nested)
            .ok_or_else(|| Error::Source("the image index lists no manifest".into()))?;
        manifest_bytes = read_small(&d.digest, "manifest")?;
        desc = d;
    }
    let digest = desc.digest.clone();
    let manifest: Manifest = parse(&manifest_bytes, "the manifest")?;
    let config: Config = parse(
        &read_small(&manifest.config.digest, "config")?,
        "the config",
    )?;
    let b = bar(
        manifest
            .layers
            .iter()
            .map(|l| l.size)
            .fold(0, u64::saturating_add),
        progress,
    );
    let mut layers = Vec::new();
    for (i, l) in manifest.layers.iter().enumerate() {
        let what = format!("layer {} ({})", i + 1, l.digest);
        let mut f = File::open(blob_path(&l.digest)?).map_err(|e| Error::io(&what, e))?;
        sq.begin_layer(None);
        let diff_id = apply_layer(sq, &mut f, &what, Some(&l.digest), b.as_ref())?;
        if let Some(slot) = sq.layers.last_mut() {
            *slot = Some(diff_id.clone());
        }
        layers.push(diff_id);
    }
    if let Some(b) = b {
        b.finish_and_clear();
    }
    diff_ids_match(&config, &layers, &root.display().to_string())?;
    Ok(SourceInfo::Image {
        name: root.display().to_string(),
        tag,
        digest,
        arch: config.architecture,
        layers,
    })
}

#[derive(Deserialize)]
struct DockerManifest {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

/// A `docker save` tarball: `manifest.json` names the config and the layer files, which are
/// read in place (seeking to each entry), never extracted.
pub fn read_docker_archive(
    path: &Path,
    sq: &mut Squash,
    progress: bool,
) -> Result<SourceInfo, Error> {
    let what = path.display().to_string();
    let mut file = File::open(path).map_err(|e| Error::io(&what, e))?;
    // Index the archive: name → (offset, size).
    let mut entries = std::collections::HashMap::new();
    {
        let mut archive = tar::Archive::new(BufReader::new(&mut file));
        let bad = |e: std::io::Error| {
            Error::Source(format!("{what} is not a valid docker archive (tar): {e}"))
        };
        for e in archive.entries().map_err(bad)? {
            let e = e.map_err(bad)?;
            let name = String::from_utf8_lossy(&e.path_bytes())
                .trim_start_matches("./")
                .to_string();
            entries.insert(name, (e.raw_file_position(), e.size()));
        }
    }
    let read_entry = |name: &str, limit: u64| -> Result<Vec<u8>, Error> {
        let &(off, size) = entries
            .get(name.trim_start_matches("./"))
            .ok_or_else(|| Error::Source(format!("{what} has no {name}")))?;
        if size > limit {
            return Err(Error::Source(format!("{name} in {what} is too large")));
        }
        let mut f = File::open(path).map_err(|e| Error::io(&what, e))?;
        f.seek(SeekFrom::Start(off))
            .map_err(|e| Error::io(&what, e))?;
        let mut b = Vec::new();
        f.take(size)
            .read_to_end(&mut b)
            .map_err(|e| Error::io(&what, e))?;
        Ok(b)
    };
    let manifests: Vec<DockerManifest> =
        parse(&read_entry("manifest.json", 1 << 20)?, "manifest.json")?;
    let m = manifests
        .first()
        .ok_or_else(|| Error::Source(format!("{what} holds no image")))?;
    let config_bytes = read_entry(&m.config, 16 << 20)?;
    let config: Config = parse(&config_bytes, "the image config")?;
    let total: u64 = m
        .layers
        .iter()
        .filter_map(|l| entries.get(l.trim_start_matches("./")).map(|e| e.1))
        .fold(0, u64::saturating_add);
    let b = bar(total, progress);
    let mut layers = Vec::new();
    for (i, l) in m.layers.iter().enumerate() {
        let lw = format!("layer {} ({l})", i + 1);
        let &(off, size) = entries
            .get(l.trim_start_matches("./"))
            .ok_or_else(|| Error::Source(format!("{what} has no {l}")))?;
        let mut f = File::open(path).map_err(|e| Error::io(&what, e))?;
        f.seek(SeekFrom::Start(off))
            .map_err(|e| Error::io(&what, e))?;
        sq.begin_layer(None);
        let diff_id = apply_layer(sq, &mut f.take(size), &lw, None, b.as_ref())?;
        if let Some(slot) = sq.layers.last_mut() {
            *slot = Some(diff_id.clone());
        }
        layers.push(diff_id);
    }
    if let Some(b) = b {
        b.finish_and_clear();
    }
    diff_ids_match(&config, &layers, &what)?;
    let tag = m.repo_tags.as_ref().and_then(|t| t.first()).cloned();
    let name = tag
        .as_deref()
        .and_then(|t| t.rsplit_once(':').map(|(n, _)| n.to_string()))
        .unwrap_or_else(|| what.clone());
    Ok(SourceInfo::Image {
        name,
        tag: tag.and_then(|t| t.rsplit_once(':').map(|(_, t)| t.to_string())),
        // docker save keeps no manifest: the image ID (the config's digest) stands for it.
        digest: registry_client::digest_of(&config_bytes),
        arch: config.architecture,
        layers,
    })
}

/// An image in a registry, through the shared client. Each layer is streamed to a temporary
/// file (checked against its digest as it arrives), catalogued from there and deleted.
pub async fn read_registry(
    reference: &str,
    reg: &registry_client::Registry,
    sq: &mut Squash,
    progress: bool,
) -> Result<SourceInfo, Error> {
    let r = registry_client::Reference::parse(reference)?;
    let want = r
        .digest
        .clone()
        .or(r.tag.clone())
        .unwrap_or_else(|| "latest".into());
    let (mut body, mut mt, mut digest) = reg
        .manifest(&r, &want)
        .await?
        .ok_or_else(|| Error::Source(format!("{reference} was not found in its registry")))?;
    for _ in 0..4 {
        let v: serde_json::Value = parse(&body, "the manifest")?;
        if !is_index(&mt, &v) {
            break;
        }
        let index: Index = parse(&body, "the image index")?;
        let d = pick(&index)
            .ok_or_else(|| Error::Source("the image index lists no manifest".into()))?;
        let d = d.digest.clone();
        // The index names its manifest by digest; a tag or a path there would make a pinned
        // index point at something mutable.
        checked_digest(&d)?;
        (body, mt, digest) = reg
            .manifest(&r, &d)
            .await?
            .ok_or_else(|| Error::Source(format!("{reference}: manifest {d} is missing")))?;
    }
    let manifest: Manifest = parse(&body, "the manifest")?;
    let config: Config = parse(
        &reg.blob(&r, &manifest.config.digest).await?,
        "the image config",
    )?;
    let b = bar(
        manifest
            .layers
            .iter()
            .map(|l| l.size)
            .fold(0, u64::saturating_add),
        progress,
    );
    let mut layers = Vec::new();
    for (i, l) in manifest.layers.iter().enumerate() {
        checked_digest(&l.digest)?;
        let what = format!("layer {} ({})", i + 1, l.digest);
        let mut tmp = tempfile::tempfile().map_err(|e| Error::io("a temporary file", e))?;
        reg.blob_to(&r, &l.digest, &mut tmp).await?;
        tmp.seek(SeekFrom::Start(0))
            .map_err(|e| Error::io(&what, e))?;
        sq.begin_layer(None);
        let diff_id = apply_layer(sq, &mut tmp, &what, None, b.as_ref())?;
        if let Some(slot) = sq.layers.last_mut() {
            *slot = Some(diff_id.clone());
        }
        layers.push(diff_id);
    }
    if let Some(b) = b {
        b.finish_and_clear();
    }
    diff_ids_match(&config, &layers, reference)?;
    Ok(SourceInfo::Image {
        name: r.name(),
        tag: r.tag.clone(),
        digest,
        arch: config.architecture,
        layers,
    })
}

/// Reads `source` and catalogues it.
pub async fn generate(
    source: &Source,
    reg: &registry_client::Registry,
    limits: Limits,
    progress: bool,
) -> Result<crate::Sbom, Error> {
    let mut sq = Squash::new(matches!(source, Source::Dir(_)), limits);
    let info = match source {
        Source::Dir(p) => read_dir(p, &mut sq)?,
        Source::OciDir(p) => read_oci_dir(p, &mut sq, progress)?,
        Source::DockerArchive(p) => read_docker_archive(p, &mut sq, progress)?,
        Source::Registry(r) => read_registry(r, reg, &mut sq, progress).await?,
    };
    let (distro, packages, mut warnings) = crate::squash::catalogue(&sq);
    let mut all = std::mem::take(&mut sq.warnings);
    all.append(&mut warnings);
    Ok(crate::Sbom {
        source: info,
        distro,
        packages,
        warnings: all,
    })
}
