//! The command line: a thin shell over the library. Errors are one sentence on stderr and
//! exit 1; `scan --fail-on` exits 2 when a match reaches the severity (as grype).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::osv::Severity;
use crate::output::{Format, Stamp};
use crate::source::Source;
use crate::Error;
use clap::{Parser, Subcommand};
use sigstore_lite_core::text::printable;

#[derive(Parser)]
#[command(
    name = "sbom-lite",
    version,
    about = "SBOMs as syft writes them, vulnerability matching as grype reports it, offline"
)]
pub struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Args, Clone)]
struct RegistryArgs {
    /// Skip TLS certificate verification for the registry (tests only).
    #[arg(long)]
    allow_insecure_registry: bool,
    /// Use plain HTTP for the registry (loopback registries always use it).
    #[arg(long)]
    allow_http_registry: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// Catalogue SOURCE: REGISTRY/REPO[:TAG|@sha256:..], oci-dir:PATH, docker-archive:PATH or dir:PATH.
    Generate {
        source: String,
        /// FORMAT[=FILE], repeatable: spdx-json, cyclonedx-json (1.6; cyclonedx-json@1.5), table, json.
        #[arg(short = 'o', long = "output", default_value = "table")]
        outputs: Vec<String>,
        /// No progress bar and no warnings.
        #[arg(short, long)]
        quiet: bool,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Match TARGET (sbom:FILE, or any SOURCE of generate) against the OSV records in --db.
    Scan {
        target: String,
        /// A directory of OSV JSON records (one advisory per file); default: the database
        /// `db import` fills ($SBOM_LITE_DB_DIR, else ~/.cache/sbom-lite/db).
        #[arg(long)]
        db: Option<PathBuf>,
        /// table or json.
        #[arg(short = 'o', long = "output", default_value = "table")]
        output: String,
        /// Exit 2 if a match has this severity or higher: negligible, low, medium, high, critical.
        #[arg(short = 'f', long)]
        fail_on: Option<String>,
        /// Only report matches that have a fixed version.
        #[arg(long)]
        only_fixed: bool,
        #[arg(short, long)]
        quiet: bool,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// The vulnerability database scan reads by default.
    #[command(subcommand)]
    Db(DbCmd),
}

#[derive(Subcommand)]
enum DbCmd {
    /// Import OSV's per-ecosystem exports (all.zip from osv-vulnerabilities.storage.googleapis.com/<ECOSYSTEM>/),
    /// each replacing its previous import whole.
    Import {
        #[arg(required = true)]
        archives: Vec<PathBuf>,
        /// The database directory (default: $SBOM_LITE_DB_DIR, else ~/.cache/sbom-lite/db).
        #[arg(long)]
        db: Option<PathBuf>,
        #[arg(short, long)]
        quiet: bool,
    },
}

/// `--db`, or the default database directory.
fn db_dir(given: Option<&Path>) -> Result<PathBuf, Error> {
    given
        .map(Path::to_path_buf)
        .or_else(crate::db::default_dir)
        .ok_or_else(|| {
            Error::Input("no database directory: give --db DIR or set SBOM_LITE_DB_DIR".into())
        })
}

impl RegistryArgs {
    fn client(&self) -> registry_client::Registry {
        registry_client::Registry::configured(
            self.allow_http_registry,
            self.allow_insecure_registry,
            std::time::Duration::from_secs(3600),
        )
    }
}

/// Writes `text` to `path` whole or not at all: a temporary file beside it, then a rename.
fn write_atomic(path: &Path, text: &str) -> Result<(), Error> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let fail = |e: std::io::Error| Error::Output(format!("cannot write {}: {e}", path.display()));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(fail)?;
    std::io::Write::write_all(&mut tmp, text.as_bytes()).map_err(fail)?;
    // An SBOM is not a secret: readable by all, as syft writes it (the temporary file is 0600).
    use std::os::unix::fs::PermissionsExt;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))
        .map_err(fail)?;
    tmp.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}

/// Writes to standard output; a reader that went away (`| head`) is not an error.
fn stdout(text: &str) -> Result<(), Error> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Error::Output(format!(
            "cannot write to standard output: {e}"
        ))),
        _ => Ok(()),
    }
}

fn warn(quiet: bool, warnings: &[String]) {
    if !quiet {
        for w in warnings {
            eprintln!("sbom-lite: warning: {}", printable(w));
        }
    }
}

async fn generate(
    source: &str,
    outputs: &[String],
    quiet: bool,
    reg: &RegistryArgs,
) -> Result<(), Error> {
    let mut plan = Vec::new();
    let mut to_stdout = 0;
    for o in outputs {
        let (f, file) = match o.split_once('=') {
            Some((f, file)) => (f, Some(PathBuf::from(file))),
            None => (o.as_str(), None),
        };
        let format = Format::parse(f).ok_or_else(|| {
            Error::Input(format!(
                "unknown output format {f:?}: use spdx-json, cyclonedx-json, cyclonedx-json@1.5, table or json"
            ))
        })?;
        to_stdout += usize::from(file.is_none());
        plan.push((format, file));
    }
    if to_stdout > 1 {
        return Err(Error::Input(
            "only one output can go to standard output; name a file with FORMAT=FILE".into(),
        ));
    }
    let progress = !quiet && std::io::stderr().is_terminal();
    let sbom = crate::source::generate(
        &Source::parse(source),
        &reg.client(),
        Default::default(),
        progress,
    )
    .await?;
    warn(quiet, &sbom.warnings);
    if sbom.packages.is_empty() && !sbom.warnings.is_empty() {
        return Err(Error::Source(format!(
            "nothing usable was found in {source}: every candidate file was skipped (see the warnings)"
        )));
    }
    let stamp = Stamp::now();
    for (format, file) in plan {
        let text = crate::output::render(&sbom, format, &stamp);
        match file {
            Some(p) => write_atomic(&p, &text)?,
            None => stdout(&text)?,
        }
    }
    Ok(())
}

fn import(archives: &[PathBuf], db: Option<&Path>, quiet: bool) -> Result<(), Error> {
    let dir = db_dir(db)?;
    for a in archives {
        let got = crate::db::import(a, &dir)?;
        warn(
            quiet,
            &got.skipped
                .iter()
                .map(|s| format!("skipped {s}"))
                .collect::<Vec<_>>(),
        );
        println!(
            "imported {} OSV records from {} into {}",
            got.records,
            a.display(),
            got.dir.display()
        );
    }
    Ok(())
}

async fn scan(
    target: &str,
    db: Option<&Path>,
    output: &str,
    fail_on: Option<&str>,
    only_fixed: bool,
    quiet: bool,
    reg: &RegistryArgs,
) -> Result<bool, Error> {
    let threshold = fail_on
        .map(|s| {
            Severity::parse(s).filter(|s| *s != Severity::Unknown).ok_or_else(|| {
                Error::Input(format!("--fail-on {s:?} is not a severity: use negligible, low, medium, high or critical"))
            })
        })
        .transpose()?;
    if output != "table" && output != "json" {
        return Err(Error::Input(format!(
            "unknown output format {output:?}: use table or json"
        )));
    }
    let dir = db_dir(db)?;
    if db.is_none() && !dir.is_dir() {
        return Err(Error::Input(format!(
            "no vulnerability database in {}: give --db DIR, or run `sbom-lite db import all.zip` with OSV's export for your ecosystems",
            dir.display()
        )));
    }
    let db = crate::osv::Db::load(&dir)?;
    warn(quiet, &db.warnings);
    let inv = match target.strip_prefix("sbom:") {
        Some(file) => {
            let bytes = std::fs::read(file)
                .map_err(|e| Error::Input(format!("cannot read {file}: {e}")))?;
            crate::input::read(&bytes, file)?
        }
        None => {
            let progress = !quiet && std::io::stderr().is_terminal();
            let sbom = crate::source::generate(
                &Source::parse(target),
                &reg.client(),
                Default::default(),
                progress,
            )
            .await?;
            warn(quiet, &sbom.warnings);
            crate::input::from_sbom(&sbom)
        }
    };
    warn(quiet, &inv.warnings);
    let (mut matches, warnings) = crate::osv::scan(&db, &inv);
    warn(quiet, &warnings);
    if only_fixed {
        matches.retain(|m| !m.fixed_in.is_empty());
    }
    if output == "json" {
        let mut s = serde_json::to_string_pretty(&crate::osv::json(&matches, inv.distro.as_ref()))
            .expect("JSON");
        s.push('\n');
        stdout(&s)?;
    } else {
        stdout(&crate::osv::table(&matches))?;
    }
    Ok(threshold.is_some_and(|t| matches.iter().any(|m| m.severity >= t)))
}

/// Runs the command line with the process's arguments.
/// syft's habit: `sbom-lite SOURCE -o FORMAT` means `sbom-lite generate SOURCE -o FORMAT` (syft
/// scans when it is given a source and no command).
fn with_default_command(mut args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let first = args.get(1).and_then(|a| a.to_str()).unwrap_or("");
    // The subcommands as the parser defines them (so a new one is never taken for a source).
    let cmd = <Cli as clap::CommandFactory>::command();
    let known = first == "help" || cmd.get_subcommands().any(|s| s.get_name() == first);
    if !first.is_empty() && !first.starts_with('-') && !known {
        args.insert(1, "generate".into());
    }
    args
}

pub fn main() -> ExitCode {
    let cli = Cli::parse_from(with_default_command(std::env::args_os().collect()));
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sbom-lite: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(run(cli))
}

async fn run(cli: Cli) -> ExitCode {
    let result = match &cli.cmd {
        Cmd::Generate {
            source,
            outputs,
            quiet,
            registry,
        } => generate(source, outputs, *quiet, registry)
            .await
            .map(|_| false),
        Cmd::Db(DbCmd::Import {
            archives,
            db,
            quiet,
        }) => import(archives, db.as_deref(), *quiet).map(|()| false),
        Cmd::Scan {
            target,
            db,
            output,
            fail_on,
            only_fixed,
            quiet,
            registry,
        } => {
            scan(
                target,
                db.as_deref(),
                output,
                fail_on.as_deref(),
                *only_fixed,
                *quiet,
                registry,
            )
            .await
        }
    };
    match result {
        Ok(false) => ExitCode::SUCCESS,
        Ok(true) => {
            eprintln!("sbom-lite: discovered vulnerabilities at or above the severity threshold");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("sbom-lite: {}", printable(&e.to_string()));
            ExitCode::FAILURE
        }
    }
}
