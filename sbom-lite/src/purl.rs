//! Package URLs as syft writes them (qualifiers sorted by key, `+` and `@` percent-encoded) and
//! a parser for reading them back from SBOMs (always percent-decoded before use).

use std::collections::BTreeMap;

/// Percent-encodes a purl component: unreserved characters, and those syft leaves readable
/// (`:` in versions, parentheses in Go's `(devel)`), stay; `+`, `@`, spaces and the rest do not.
pub fn encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.' | b'_' | b'~' | b':' | b'(' | b')' | b'!' | b'*'
            )
            || (keep_slash && b == b'/');
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Builds `pkg:type/namespace/name@version?k=v&...#subpath` with sorted qualifiers; empty
/// qualifier values are left out.
pub fn build(
    ty: &str,
    namespace: Option<&str>,
    name: &str,
    version: &str,
    qualifiers: &[(&str, String)],
    subpath: Option<&str>,
) -> String {
    let mut s = format!("pkg:{ty}/");
    if let Some(ns) = namespace.filter(|n| !n.is_empty()) {
        for seg in ns.split('/') {
            s.push_str(&encode(seg, false));
            s.push('/');
        }
    }
    s.push_str(&encode(name, false));
    if !version.is_empty() {
        s.push('@');
        s.push_str(&encode(version, false));
    }
    let q: BTreeMap<&str, &String> = qualifiers
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (*k, v))
        .collect();
    for (i, (k, v)) in q.iter().enumerate() {
        s.push(if i == 0 { '?' } else { '&' });
        s.push_str(k);
        s.push('=');
        s.push_str(&encode(v, false));
    }
    if let Some(sp) = subpath.filter(|s| !s.is_empty()) {
        s.push('#');
        s.push_str(&encode(sp, true));
    }
    s
}

/// A parsed purl, every component decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Purl {
    pub ty: String,
    pub namespace: Option<String>,
    pub name: String,
    pub version: Option<String>,
    pub qualifiers: BTreeMap<String, String>,
    pub subpath: Option<String>,
}

impl Purl {
    pub fn parse(s: &str) -> Option<Purl> {
        let rest = s.strip_prefix("pkg:")?.trim_start_matches('/');
        let (rest, subpath) = match rest.split_once('#') {
            Some((r, sp)) => (r, Some(decode(sp.trim_matches('/')))),
            None => (rest, None),
        };
        let (rest, quals) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        let (path, version) = match rest.rsplit_once('@') {
            // An `@` inside the path would be encoded; a scoped npm namespace is `%40scope`.
            Some((p, v)) => (p, Some(decode(v))),
            None => (rest, None),
        };
        let (ty, path) = path.split_once('/')?;
        let (namespace, name) = match path.rsplit_once('/') {
            Some((ns, n)) => (
                Some(ns.split('/').map(decode).collect::<Vec<_>>().join("/")),
                decode(n),
            ),
            None => (None, decode(path)),
        };
        if ty.is_empty() || name.is_empty() {
            return None;
        }
        let mut qualifiers = BTreeMap::new();
        for kv in quals.unwrap_or("").split('&').filter(|s| !s.is_empty()) {
            if let Some((k, v)) = kv.split_once('=') {
                qualifiers.insert(k.to_ascii_lowercase(), decode(v));
            }
        }
        Some(Purl {
            ty: ty.to_ascii_lowercase(),
            namespace,
            name,
            version,
            qualifiers,
            subpath,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_syft_writes_them() {
        let p = build(
            "deb",
            Some("debian"),
            "libc6",
            "2.36-9+deb12u4",
            &[
                ("upstream", "glibc".into()),
                ("distro", "debian-12".into()),
                ("arch", "amd64".into()),
            ],
            None,
        );
        assert_eq!(
            p,
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12&upstream=glibc"
        );
        assert_eq!(
            build(
                "deb",
                Some("debian"),
                "umoci",
                "0.4.7+ds-3+b7",
                &[("upstream", "umoci@0.4.7+ds-3".into())],
                None
            ),
            "pkg:deb/debian/umoci@0.4.7%2Bds-3%2Bb7?upstream=umoci%400.4.7%2Bds-3"
        );
        assert_eq!(
            build("npm", Some("@sigstore"), "core", "1.0.0", &[], None),
            "pkg:npm/%40sigstore/core@1.0.0"
        );
        let back = Purl::parse(&p).unwrap();
        assert_eq!(back.version.as_deref(), Some("2.36-9+deb12u4"));
        assert_eq!(back.qualifiers["upstream"], "glibc");
        let go =
            Purl::parse("pkg:golang/github.com/opencontainers/umoci@(devel)#cmd/umoci").unwrap();
        assert_eq!(go.namespace.as_deref(), Some("github.com/opencontainers"));
        assert_eq!(go.name, "umoci");
        assert_eq!(go.subpath.as_deref(), Some("cmd/umoci"));
        let scoped = Purl::parse("pkg:npm/%40sigstore/core@1.0.0").unwrap();
        assert_eq!(scoped.namespace.as_deref(), Some("@sigstore"));
        assert_eq!(decode("%zz%4"), "%zz%4");
    }
}
