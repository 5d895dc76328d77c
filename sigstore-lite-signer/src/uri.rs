//! Key references as users already write them for cosign: a file path, an RFC 7512 `pkcs11:`
//! URI, or `<scheme>://...` served by a `sigstore-kms-<scheme>` plugin.

use std::fmt;
use std::path::PathBuf;

use crate::Error;

/// Where a key lives.
#[derive(Clone, PartialEq, Eq)]
pub enum KeyRef {
    /// A PKCS#8 PEM file.
    File(PathBuf),
    /// An object in a PKCS#11 token.
    Pkcs11(Pkcs11Uri),
    /// A key behind cosign's KMS plugin protocol: `sigstore-kms-<scheme>` serves `<scheme>://<id>`.
    Plugin { scheme: String, resource: String },
}

impl KeyRef {
    /// Reads a reference: `pkcs11:...`, `<scheme>://...`, or else a path.
    pub fn parse(s: &str) -> Result<KeyRef, Error> {
        if let Some(rest) = s.strip_prefix("pkcs11:") {
            return Pkcs11Uri::parse(rest)
                .map(KeyRef::Pkcs11)
                .map_err(|why| Error::BadReference {
                    reference: redact(s),
                    why,
                });
        }
        if let Some((scheme, resource)) = s.split_once("://") {
            let ok = !scheme.is_empty()
                && scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
            if !ok {
                return Err(Error::BadReference {
                    reference: redact(s),
                    why: "a KMS scheme is letters, digits, '-', '_' or '.'".into(),
                });
            }
            if resource.is_empty() {
                return Err(Error::BadReference {
                    reference: redact(s),
                    why: "the KMS key name after :// is empty".into(),
                });
            }
            return Ok(KeyRef::Plugin {
                scheme: scheme.to_string(),
                resource: resource.to_string(),
            });
        }
        if s.is_empty() {
            return Err(Error::BadReference {
                reference: String::new(),
                why: "empty".into(),
            });
        }
        Ok(KeyRef::File(PathBuf::from(s)))
    }

    /// True when the private key is in a file that this process reads.
    pub fn is_file(&self) -> bool {
        matches!(self, KeyRef::File(_))
    }
}

/// The value parser of `--key REF` flags: clap's own error would quote the argument, PIN and
/// all; this one says only what is wrong.
#[derive(Clone, Copy, Debug, Default)]
pub struct KeyRefParser;

impl clap::builder::TypedValueParser for KeyRefParser {
    type Value = KeyRef;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<KeyRef, clap::Error> {
        let flag = arg.map_or_else(|| "the key".to_string(), |a| format!("--{}", a.get_id()));
        let text = value.to_str().ok_or_else(|| {
            clap::Error::raw(
                clap::error::ErrorKind::InvalidUtf8,
                format!("{flag}: the key reference is not UTF-8\n"),
            )
            .with_cmd(cmd)
        })?;
        KeyRef::parse(text).map_err(|e| {
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!("{flag}: {e}\n"),
            )
            .with_cmd(cmd)
        })
    }
}

/// `--key REF` flags parse with this.
impl std::str::FromStr for KeyRef {
    type Err = Error;
    fn from_str(s: &str) -> Result<KeyRef, Error> {
        KeyRef::parse(s)
    }
}

/// Shown without any PIN.
impl fmt::Display for KeyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyRef::File(p) => write!(f, "{}", p.display()),
            KeyRef::Pkcs11(u) => write!(f, "{u}"),
            KeyRef::Plugin { scheme, resource } => write!(f, "{scheme}://{resource}"),
        }
    }
}

impl fmt::Debug for KeyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyRef({self})")
    }
}

/// A reference as text, with every `pin-value` hidden (all that follows it: a PIN may itself
/// hold `&` or `;`).
fn redact(s: &str) -> String {
    match s.find("pin-value") {
        Some(i) => format!("{}pin-value=***", &s[..i]),
        None => s.to_string(),
    }
}

/// An RFC 7512 PKCS#11 URI, with the attributes cosign reads.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Pkcs11Uri {
    /// `token=`: the token label.
    pub token: Option<String>,
    /// `slot-id=`.
    pub slot_id: Option<u64>,
    /// `serial=`, `manufacturer=`, `model=`: further token attributes.
    pub serial: Option<String>,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    /// `object=`: the key's label.
    pub object: Option<String>,
    /// `id=`: the key's CKA_ID bytes (percent-encoded in the URI).
    pub id: Option<Vec<u8>>,
    /// `module-path=` (or `COSIGN_PKCS11_MODULE_PATH`).
    pub module_path: Option<PathBuf>,
    /// `pin-value=`.
    pub pin_value: Option<String>,
    /// `pin-source=`: a file holding the PIN (a path or a `file:` URI).
    pub pin_source: Option<PathBuf>,
}

impl Pkcs11Uri {
    /// Parses what follows `pkcs11:`.
    fn parse(rest: &str) -> Result<Pkcs11Uri, String> {
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        let mut u = Pkcs11Uri::default();
        let pairs = path
            .split(';')
            .filter(|a| !a.is_empty())
            .map(|a| (a, true))
            .chain(
                query
                    .into_iter()
                    .flat_map(|q| q.split('&'))
                    .filter(|a| !a.is_empty())
                    .map(|a| (a, false)),
            );
        for (attr, in_path) in pairs {
            // Messages name attributes, never their values (one may be the PIN).
            let (name, raw) = attr.split_once('=').ok_or_else(|| {
                "an attribute has no '=' (a PIN with '&' or ';' must be percent-encoded)"
                    .to_string()
            })?;
            let bytes = percent_decode(raw)
                .map_err(|_| format!("attribute {name} has a bad percent escape"))?;
            let text = || {
                String::from_utf8(bytes.clone())
                    .map_err(|_| format!("attribute {name} is not UTF-8"))
            };
            let dup = |set: bool| {
                if set {
                    Err(format!("attribute {name} is given twice"))
                } else {
                    Ok(())
                }
            };
            match (name, in_path) {
                ("token", true) => {
                    dup(u.token.is_some())?;
                    u.token = Some(text()?)
                }
                ("object", true) => {
                    dup(u.object.is_some())?;
                    u.object = Some(text()?)
                }
                ("id", true) => {
                    dup(u.id.is_some())?;
                    u.id = Some(bytes)
                }
                ("slot-id", true) => {
                    dup(u.slot_id.is_some())?;
                    u.slot_id = Some(
                        text()?
                            .parse()
                            .map_err(|_| "slot-id is not a number".to_string())?,
                    )
                }
                ("serial", true) => u.serial = Some(text()?),
                ("manufacturer", true) => u.manufacturer = Some(text()?),
                ("model", true) => u.model = Some(text()?),
                // Attributes RFC 7512 defines that do not change which key is meant here.
                (
                    "type"
                    | "library-description"
                    | "library-manufacturer"
                    | "library-version"
                    | "slot-description"
                    | "slot-manufacturer",
                    true,
                ) => {}
                ("module-path", false) => u.module_path = Some(PathBuf::from(text()?)),
                ("pin-value", false) => {
                    dup(u.pin_value.is_some())?;
                    u.pin_value = Some(text()?)
                }
                ("pin-source", false) => {
                    let t = text()?;
                    let p = t.strip_prefix("file:").unwrap_or(&t);
                    let p = p.strip_prefix("//").unwrap_or(p);
                    u.pin_source = Some(PathBuf::from(p))
                }
                ("module-name", false) => {
                    return Err("module-name is not supported: give module-path".into())
                }
                (other, true) => {
                    return Err(format!(
                        "unknown path attribute {}",
                        sigstore_lite_core::text::printable(other)
                    ))
                }
                (_, false) => {} // RFC 7512: unknown query attributes are ignored
            }
        }
        if u.token.is_none() && u.slot_id.is_none() && u.serial.is_none() {
            return Err("name the token with token=, slot-id= or serial=".into());
        }
        if u.object.is_none() && u.id.is_none() {
            return Err("name the key with object= or id=".into());
        }
        if u.pin_value.is_some() && u.pin_source.is_some() {
            return Err("give pin-value or pin-source, not both".into());
        }
        Ok(u)
    }

    /// The key as a message names it: token and object, never the PIN.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(t) = &self.token {
            parts.push(format!("token={}", percent_encode(t.as_bytes())));
        }
        if let Some(s) = self.slot_id {
            parts.push(format!("slot-id={s}"));
        }
        if let Some(s) = &self.serial {
            parts.push(format!("serial={}", percent_encode(s.as_bytes())));
        }
        if let Some(o) = &self.object {
            parts.push(format!("object={}", percent_encode(o.as_bytes())));
        }
        if let Some(id) = &self.id {
            let hex: String = id.iter().map(|b| format!("%{b:02x}")).collect();
            parts.push(format!("id={hex}"));
        }
        format!("pkcs11:{}", parts.join(";"))
    }
}

impl fmt::Display for Pkcs11Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

impl fmt::Debug for Pkcs11Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pkcs11Uri({})", self.describe())
    }
}

fn percent_decode(s: &str) -> Result<Vec<u8>, ()> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or(())?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(out)
}

fn percent_encode(b: &[u8]) -> String {
    b.iter()
        .map(|&c| {
            if c.is_ascii_alphanumeric() || b"-._~".contains(&c) {
                (c as char).to_string()
            } else {
                format!("%{c:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Pkcs11Uri {
        match KeyRef::parse(s).unwrap() {
            KeyRef::Pkcs11(u) => u,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn cosign_style_uris_parse() {
        let u = uri("pkcs11:token=my%20token;object=fulcio;id=%01%a0?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-value=1234");
        assert_eq!(u.token.as_deref(), Some("my token"));
        assert_eq!(u.object.as_deref(), Some("fulcio"));
        assert_eq!(u.id.as_deref(), Some(&[1u8, 0xa0][..]));
        assert_eq!(
            u.module_path.as_deref(),
            Some(std::path::Path::new("/usr/lib/softhsm/libsofthsm2.so"))
        );
        assert_eq!(u.pin_value.as_deref(), Some("1234"));
        // The PIN never reaches a message.
        assert!(!format!("{u} {u:?}").contains("1234"));
        assert_eq!(
            u.describe(),
            "pkcs11:token=my%20token;object=fulcio;id=%01%a0"
        );

        let u = uri("pkcs11:slot-id=7;object=k?pin-source=file:/run/pin&unknown=x");
        assert_eq!(u.slot_id, Some(7));
        assert_eq!(
            u.pin_source.as_deref(),
            Some(std::path::Path::new("/run/pin"))
        );
    }

    #[test]
    fn bad_uris_are_refused_without_their_pin() {
        for (s, why) in [
            ("pkcs11:object=k", "name the token"),
            ("pkcs11:token=t", "name the key"),
            ("pkcs11:token=t;object=k;object=j", "twice"),
            ("pkcs11:token=t;object=%zz", "percent"),
            (
                "pkcs11:token=t;colour=red;object=k",
                "unknown path attribute",
            ),
            (
                "pkcs11:token=t;object=k?pin-value=1&pin-source=/p",
                "not both",
            ),
            ("pkcs11:token=t;slot-id=x;object=k", "slot-id"),
            ("pkcs11:token=t;object?pin-value=secret", "no '='"),
            ("pkcs11:object=k?pin-value=secret", "name the token"),
            (
                "pkcs11:token=t;object=k?pin-value=se%zzcret",
                "bad percent escape",
            ),
            ("pkcs11:token=t;object=k?pin-value=se&cret", "no '='"),
            (
                "pkcs11:token=t;object=k?pin-value=secret&pin-value=secret",
                "twice",
            ),
        ] {
            let e = KeyRef::parse(s).unwrap_err().to_string();
            assert!(e.contains(why), "{s}: {e}");
            assert!(!e.contains("secret"), "{e}");
        }
    }

    #[test]
    fn plugins_and_files() {
        assert_eq!(
            KeyRef::parse("awskms:///arn:aws:kms:us-east-1:1:key/2").unwrap(),
            KeyRef::Plugin {
                scheme: "awskms".into(),
                resource: "/arn:aws:kms:us-east-1:1:key/2".into()
            }
        );
        assert!(KeyRef::parse("my kms://x").is_err());
        assert!(KeyRef::parse("x://").is_err());
        assert!(KeyRef::parse("").is_err());
        assert_eq!(
            KeyRef::parse("keys/rekor.pem").unwrap(),
            KeyRef::File("keys/rekor.pem".into())
        );
    }
}
