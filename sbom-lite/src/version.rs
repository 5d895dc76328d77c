//! Version ordering per ecosystem, as OSV ranges need it: dpkg (`deb-version(7)`), apk
//! (apk-tools' `version.c`), PEP 440 (pep440_rs), SemVer 2.0 precedence (npm, crates.io, and Go
//! without its `v`). dpkg and apk are written here: each is a short, exactly specified
//! algorithm, and the crates found for them were unmaintained or pulled in far more than they
//! give; they are checked against `dpkg --compare-versions` and known cases in the tests.

use std::cmp::Ordering;
use std::str::FromStr;

/// The ecosystems OSV records use for the package types sbom-lite finds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Ecosystem {
    Debian,
    Alpine,
    PyPI,
    Npm,
    CratesIo,
    Go,
}

impl Ecosystem {
    /// The OSV ecosystem string's base (`Debian:12` → Debian); `None` if sbom-lite cannot
    /// order its versions.
    pub fn parse(osv: &str) -> Option<Ecosystem> {
        let base = osv.split(':').next().unwrap_or(osv);
        Some(match base {
            "Debian" => Ecosystem::Debian,
            "Alpine" => Ecosystem::Alpine,
            "PyPI" => Ecosystem::PyPI,
            "npm" => Ecosystem::Npm,
            "crates.io" => Ecosystem::CratesIo,
            "Go" => Ecosystem::Go,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Ecosystem::Debian => "Debian",
            Ecosystem::Alpine => "Alpine",
            Ecosystem::PyPI => "PyPI",
            Ecosystem::Npm => "npm",
            Ecosystem::CratesIo => "crates.io",
            Ecosystem::Go => "Go",
        }
    }

    /// Orders two versions; `None` if either does not parse in this ecosystem.
    pub fn compare(self, a: &str, b: &str) -> Option<Ordering> {
        match self {
            Ecosystem::Debian => (dpkg_valid(a) && dpkg_valid(b)).then(|| dpkg_compare(a, b)),
            Ecosystem::Alpine => Some(apk_compare(a, b)),
            Ecosystem::PyPI => {
                let a = pep440_rs::Version::from_str(a.trim()).ok()?;
                let b = pep440_rs::Version::from_str(b.trim()).ok()?;
                Some(a.cmp(&b))
            }
            Ecosystem::Npm | Ecosystem::CratesIo => semver_compare(a, b),
            Ecosystem::Go => {
                let strip = |v: &str| v.trim().trim_start_matches('v').to_string();
                semver_compare(&strip(a), &strip(b))
            }
        }
    }
}

/// SemVer 2.0 precedence: build metadata is ignored (as npm's `semver` does).
pub fn semver_compare(a: &str, b: &str) -> Option<Ordering> {
    let p = |v: &str| {
        semver::Version::parse(v.trim().trim_start_matches('=').trim_start_matches('v')).ok()
    };
    Some(p(a)?.cmp_precedence(&p(b)?))
}

/// `dpkg --compare-versions`: epoch, then upstream, then revision (split at the last `-`).
pub fn dpkg_compare(a: &str, b: &str) -> Ordering {
    let (ea, ua, ra) = dpkg_split(a);
    let (eb, ub, rb) = dpkg_split(b);
    ea.cmp(&eb)
        .then_with(|| verrevcmp(ua.as_bytes(), ub.as_bytes()))
        .then_with(|| verrevcmp(ra.as_bytes(), rb.as_bytes()))
}

fn dpkg_split(v: &str) -> (u64, &str, &str) {
    let v = v.trim();
    let (epoch, rest) = match v.split_once(':') {
        Some((e, r)) if !e.is_empty() && e.bytes().all(|c| c.is_ascii_digit()) => {
            (e.parse().unwrap_or(u64::MAX), r)
        }
        _ => (0, v),
    };
    match rest.rsplit_once('-') {
        Some((u, r)) => (epoch, u, r),
        None => (epoch, rest, ""),
    }
}

fn dpkg_order(c: u8) -> i32 {
    if c.is_ascii_digit() {
        0
    } else if c.is_ascii_alphabetic() {
        c as i32
    } else if c == b'~' {
        -1
    } else if c != 0 {
        c as i32 + 256
    } else {
        0
    }
}

/// dpkg's `verrevcmp`. dpkg walks NUL-terminated C strings; here the end of the slice is the
/// end, and every step of every loop moves at least one index forward, so any bytes (a NUL in
/// the middle included) end the comparison.
fn verrevcmp(a: &[u8], b: &[u8]) -> Ordering {
    let (mut i, mut j) = (0, 0);
    let non_digit = |s: &[u8], k: usize| s.get(k).is_some_and(|c| !c.is_ascii_digit());
    let digit = |s: &[u8], k: usize| s.get(k).is_some_and(u8::is_ascii_digit);
    let order = |s: &[u8], k: usize| s.get(k).map_or(0, |&c| dpkg_order(c));
    while i < a.len() || j < b.len() {
        let mut first_diff = 0i32;
        while non_digit(a, i) || non_digit(b, j) {
            let (ac, bc) = (order(a, i), order(b, j));
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        while digit(a, i) && digit(b, j) {
            if first_diff == 0 {
                first_diff = a[i] as i32 - b[j] as i32;
            }
            i += 1;
            j += 1;
        }
        if digit(a, i) {
            return Ordering::Greater;
        }
        if digit(b, j) {
            return Ordering::Less;
        }
        if first_diff != 0 {
            return first_diff.cmp(&0);
        }
    }
    Ordering::Equal
}

/// Whether dpkg would parse `v` (deb-version(7), as `parseversion` checks it): an optional
/// numeric epoch, an upstream part that starts with a digit and holds only alphanumerics and
/// `.+-~:` (a `-` only with a revision), and a revision of alphanumerics and `.+~`. Anything
/// else, a NUL or a control character in particular, is not a Debian version (grype's
/// go-deb-version refuses the same; dpkg itself only warns about some of these).
pub fn dpkg_valid(v: &str) -> bool {
    let v = v.trim();
    if v.is_empty() || v.bytes().any(|c| c.is_ascii_whitespace()) {
        return false;
    }
    let (epoch, rest) = match v.split_once(':') {
        Some((e, r)) => (Some(e), r),
        None => (None, v),
    };
    if let Some(e) = epoch {
        if e.is_empty() || !e.bytes().all(|c| c.is_ascii_digit()) || e.parse::<u32>().is_err() {
            return false;
        }
    }
    let (upstream, revision) = match rest.rsplit_once('-') {
        Some((u, r)) => (u, Some(r)),
        None => (rest, None),
    };
    let up_ok = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'+' | b'~' | b'-' | b':');
    let rev_ok = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'+' | b'~');
    upstream.as_bytes().first().is_some_and(u8::is_ascii_digit)
        && upstream.bytes().all(up_ok)
        && revision.is_none_or(|r| !r.is_empty() && r.bytes().all(rev_ok))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Tok {
    Invalid,
    DigitOrZero,
    Digit,
    Letter,
    Suffix,
    SuffixNo,
    RevisionNo,
    End,
}

const PRE: [&str; 4] = ["alpha", "beta", "pre", "rc"];
const POST: [&str; 5] = ["cvs", "svn", "git", "hg", "p"];

/// apk-tools' `get_token`: the value of the token of type `t` at `s[*i..]`; sets `t` to the
/// next token's type.
fn apk_token(t: &mut Tok, s: &[u8], i: &mut usize) -> i64 {
    if *i >= s.len() {
        *t = Tok::End;
        return 0;
    }
    let mut v: i64 = 0;
    let mut next = Tok::Invalid;
    let mut n = 0usize;
    let rest = &s[*i..];
    match *t {
        Tok::DigitOrZero if rest[0] == b'0' => {
            while n < rest.len() && rest[n] == b'0' {
                n += 1;
            }
            next = Tok::Digit;
            v = -(n as i64);
        }
        Tok::DigitOrZero | Tok::Digit | Tok::SuffixNo | Tok::RevisionNo => {
            while n < rest.len() && rest[n].is_ascii_digit() {
                v = v.saturating_mul(10).saturating_add((rest[n] - b'0') as i64);
                n += 1;
            }
        }
        Tok::Letter => {
            v = rest[0] as i64;
            n = 1;
        }
        Tok::Suffix => {
            if let Some(k) = PRE.iter().position(|p| rest.starts_with(p.as_bytes())) {
                v = k as i64 - PRE.len() as i64;
                n = PRE[k].len();
            } else if let Some(k) = POST.iter().position(|p| rest.starts_with(p.as_bytes())) {
                v = k as i64;
                n = POST[k].len();
            } else {
                *t = Tok::Invalid;
                return -1;
            }
            next = Tok::SuffixNo;
        }
        Tok::Invalid | Tok::End => {
            *t = Tok::Invalid;
            return -1;
        }
    }
    *i += n;
    if *i >= s.len() {
        *t = Tok::End;
    } else if next != Tok::Invalid {
        *t = next;
    } else {
        apk_next(t, s, i);
    }
    v
}

fn apk_next(t: &mut Tok, s: &[u8], i: &mut usize) {
    let c = s[*i];
    let mut n = Tok::Invalid;
    if c == 0 {
        n = Tok::End;
    } else if matches!(*t, Tok::Digit | Tok::DigitOrZero) && c.is_ascii_lowercase() {
        n = Tok::Letter;
    } else if *t == Tok::Letter && c.is_ascii_digit() {
        n = Tok::Digit;
    } else if *t == Tok::Suffix && c.is_ascii_digit() {
        n = Tok::SuffixNo;
    } else {
        match c {
            b'.' => n = Tok::DigitOrZero,
            b'_' => n = Tok::Suffix,
            b'-' if s.get(*i + 1) == Some(&b'r') => {
                n = Tok::RevisionNo;
                *i += 1;
            }
            _ => {}
        }
        *i += 1;
    }
    if n < *t
        && !((n == Tok::DigitOrZero && *t == Tok::Digit)
            || (n == Tok::Suffix && *t == Tok::SuffixNo)
            || (n == Tok::Digit && *t == Tok::Letter))
    {
        n = Tok::Invalid;
    }
    *t = n;
}

/// apk's ordering (apk-tools `apk_version_compare`): `digits{.digits}[letter]{_suffix[N]}[-rN]`;
/// pre-release suffixes (alpha, beta, pre, rc) sort below the release, post-release ones (cvs,
/// svn, git, hg, p) above; of two otherwise equal versions the longer is newer.
pub fn apk_compare(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.trim().as_bytes(), b.trim().as_bytes());
    let (mut at, mut bt) = (Tok::Digit, Tok::Digit);
    let (mut i, mut j) = (0, 0);
    let (mut av, mut bv) = (0i64, 0i64);
    while at == bt && at != Tok::End && at != Tok::Invalid && av == bv {
        av = apk_token(&mut at, a, &mut i);
        bv = apk_token(&mut bt, b, &mut j);
    }
    if av != bv {
        return av.cmp(&bv);
    }
    if at == bt {
        return Ordering::Equal;
    }
    if at == Tok::Suffix && apk_token(&mut at, a, &mut i) < 0 {
        return Ordering::Less;
    }
    if bt == Tok::Suffix && apk_token(&mut bt, b, &mut j) < 0 {
        return Ordering::Greater;
    }
    bt.cmp(&at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    #[test]
    fn dpkg_known_cases() {
        for (a, b, o) in [
            ("1.0~rc1", "1.0", Less),
            ("1:0.9", "2.0", Greater),
            ("2.36-9+deb12u4", "2.36-9+deb12u10", Less),
            ("1.0-1", "1.0-1.1", Less),
            ("1.0a", "1.0+", Less),
            ("1.0", "1.0-0", Equal),
            ("1.01", "1.1", Equal),
        ] {
            assert_eq!(dpkg_compare(a, b), o, "{a} vs {b}");
        }
    }

    #[test]
    fn apk_known_cases() {
        for (a, b, o) in [
            ("1.2.3_rc1-r0", "1.2.3-r0", Less),
            ("1.2.3-r0", "1.2.3_p1-r0", Less),
            ("1.2.3a-r0", "1.2.3-r0", Greater),
            ("1.2", "1.2.1", Less),
            ("1.2-r1", "1.2-r10", Less),
            ("1.36.1-r29", "1.36.1-r29", Equal),
            ("3.0.15-r0", "3.1.0-r0", Less),
            ("1.2_alpha1", "1.2_beta", Less),
        ] {
            assert_eq!(apk_compare(a, b), o, "{a} vs {b}");
            assert_eq!(apk_compare(b, a), o.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn pep440_and_semver() {
        let py = |a, b| Ecosystem::PyPI.compare(a, b).unwrap();
        assert_eq!(py("1.0.dev1", "1.0a1"), Less);
        assert_eq!(py("1.0rc1", "1.0"), Less);
        assert_eq!(py("1.0.post1", "1.0"), Greater);
        assert_eq!(py("2.0", "2.0.0"), Equal);
        let sv = |a, b| Ecosystem::Npm.compare(a, b).unwrap();
        assert_eq!(sv("1.0.0-alpha", "1.0.0-alpha.1"), Less);
        assert_eq!(sv("1.0.0-alpha.beta", "1.0.0"), Less);
        assert_eq!(sv("1.0.0+b", "1.0.0"), Equal);
        assert_eq!(Ecosystem::Go.compare("v0.3.7", "0.3.10"), Some(Less));
        assert_eq!(Ecosystem::Npm.compare("not a version", "1.0.0"), None);
    }
}
