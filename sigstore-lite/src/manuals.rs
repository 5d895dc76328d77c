//! Shell completions and man pages for every command-line tool of the workspace, made by clap
//! from the same definitions the tools parse with (`sigstore-lite completions SHELL`,
//! `sigstore-lite man`): the launcher links every tool, so it is the one place that can.

use std::path::{Path, PathBuf};

use clap::CommandFactory;

/// Every tool's command definition, under the name its binary has.
pub fn commands() -> Vec<clap::Command> {
    vec![
        crate::cli::Cli::command(),
        fulcio_lite::cli::Cli::command(),
        rekor_lite::cli::Cli::command(),
        tsa_lite::cli::Cli::command(),
        mock_oidc::cli::Cli::command(),
        cosign_keyless::cli::Cli::command(),
        sbom_lite::cli::Cli::command(),
        admission_lite::cli::Cli::command(),
    ]
}

/// Writes one completion script per tool for `shell` into `out`; returns the files.
pub fn write_completions(shell: clap_complete::Shell, out: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out)?;
    let mut files = Vec::new();
    for mut cmd in commands() {
        let name = cmd.get_name().to_string();
        files.push(clap_complete::generate_to(shell, &mut cmd, &name, out)?);
    }
    Ok(files)
}

/// Writes a man page per tool (`TOOL.1`) and per subcommand (`TOOL-SUB.1`) into `out`.
pub fn write_man_pages(out: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out)?;
    let mut files = Vec::new();
    for cmd in commands() {
        let cmd = cmd.version(env!("CARGO_PKG_VERSION"));
        let name = cmd.get_name().to_string();
        page(&cmd, &name, &name, out, &mut files)?;
    }
    Ok(files)
}

fn page(
    cmd: &clap::Command,
    name: &str,
    bin: &str,
    out: &Path,
    files: &mut Vec<PathBuf>,
) -> std::io::Result<()> {
    let mut bytes = Vec::new();
    // NAME reads `tool-sub`, SYNOPSIS `tool sub` (as git's pages do).
    let named = cmd
        .clone()
        .display_name(name.to_string())
        .bin_name(bin.to_string());
    clap_mangen::Man::new(named)
        .title(name.to_string())
        .render(&mut bytes)?;
    let path = out.join(format!("{name}.1"));
    std::fs::write(&path, bytes)?;
    files.push(path);
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let n = sub.get_name();
        page(
            sub,
            &format!("{name}-{n}"),
            &format!("{bin} {n}"),
            out,
            files,
        )?;
    }
    Ok(())
}
