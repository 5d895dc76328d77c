//! The explorer's HTML, rendered on the server from what the log answered. Every string that
//! came from the log (bodies, certificates, identities, checkpoints) or from the visitor (search
//! terms) goes through [`esc`]; data the page's script needs travels in `data-` attributes,
//! never in inline script, and the Content-Security-Policy allows only the explorer's own
//! script file.

use std::fmt::Write;

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use sigstore_lite_core::fulcio;
use sigstore_lite_core::rekor::{Entry, LogEntry, Verifier};

/// HTML-escapes text for element content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a query value.
pub fn url_enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The page frame: header with the search box, then `main`.
pub fn layout(title: &str, query: &str, main: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{t} · sigstore-lite log explorer</title><link rel="stylesheet" href="/static/explorer.css"></head>
<body><header><a class="brand" href="/">sigstore-lite log explorer</a> <a href="/log">log</a>
<form action="/search" method="get"><input name="q" id="q" value="{q}" placeholder="artifact hash, e-mail, log index, entry UUID or PEM key" size="60">
<select name="kind"><option value="auto">auto</option><option value="hash">hash</option><option value="email">e-mail</option><option value="index">log index</option><option value="uuid">UUID</option><option value="key">public key</option></select>
<button type="submit">search</button></form></header>
<main>{main}</main><script src="/static/explorer.js"></script></body></html>"#,
        t = esc(title),
        q = esc(query),
    )
}

/// A time as RFC 3339 (UTC).
pub fn time(t: i64) -> String {
    sigstore_lite_core::trust::rfc3339(t)
}

/// What a logged body says, for the page.
pub struct Described {
    pub kind: String,
    /// `(label, value)` rows about the content (digests, signatures).
    pub rows: Vec<(String, String)>,
    /// The signer's certificates (DER) or keys (PEM text).
    pub verifiers: Vec<Verifier>,
}

/// Describes a canonical body (hashedrekord 0.0.1/0.0.2, dsse 0.0.1); an unknown kind is shown
/// as its JSON only.
pub fn describe(body: &[u8]) -> Described {
    let kind = sigstore_lite_core::rekor::entry::kind_version_of(body)
        .map(|(k, v)| format!("{k} {v}"))
        .unwrap_or_else(|_| "not a Rekor entry".into());
    let mut rows = Vec::new();
    let mut verifiers = Vec::new();
    match Entry::parse_body(body) {
        Ok(Entry::HashedRekordV001(h)) => {
            rows.push(("artifact sha256".into(), hex::encode(h.digest)));
            rows.push(("signature".into(), B64.encode(&h.signature)));
            verifiers.push(h.verifier);
        }
        Ok(Entry::DsseV001(d)) => {
            rows.push(("payload sha256".into(), hex::encode(d.payload_hash)));
            rows.push(("envelope sha256".into(), hex::encode(d.envelope_hash)));
            for s in d.signatures {
                rows.push(("signature".into(), B64.encode(&s.signature)));
                verifiers.push(s.verifier);
            }
        }
        Ok(Entry::IntotoV002(i)) => {
            rows.push(("payload type".into(), i.payload_type));
            rows.push(("payload sha256".into(), hex::encode(i.payload_hash)));
            rows.push(("envelope sha256".into(), hex::encode(i.envelope_hash)));
            for s in i.signatures {
                rows.push(("signature".into(), B64.encode(&s.signature)));
                verifiers.push(s.verifier);
            }
        }
        Ok(Entry::HashedRekordV002(h)) => {
            rows.push(("artifact digest".into(), hex::encode(&h.digest)));
            rows.push(("signature".into(), B64.encode(&h.signature)));
            verifiers.push(h.verifier);
        }
        Ok(_) => {}
        Err(e) => rows.push(("not decoded".into(), e.to_string())),
    }
    Described {
        kind,
        rows,
        verifiers,
    }
}

/// The names of Fulcio's certificate extensions (Fulcio's docs/oid-info.md).
pub fn fulcio_oid_name(oid: &str) -> Option<&'static str> {
    let n: u32 = oid.strip_prefix("1.3.6.1.4.1.57264.1.")?.parse().ok()?;
    Some(match n {
        1 => "Issuer (deprecated)",
        2 => "GitHub Workflow Trigger (deprecated)",
        3 => "GitHub Workflow SHA (deprecated)",
        4 => "GitHub Workflow Name (deprecated)",
        5 => "GitHub Workflow Repository (deprecated)",
        6 => "GitHub Workflow Ref (deprecated)",
        7 => "OtherName SAN",
        8 => "Issuer (V2)",
        9 => "Build Signer URI",
        10 => "Build Signer Digest",
        11 => "Runner Environment",
        12 => "Source Repository URI",
        13 => "Source Repository Digest",
        14 => "Source Repository Ref",
        15 => "Source Repository Identifier",
        16 => "Source Repository Owner URI",
        17 => "Source Repository Owner Identifier",
        18 => "Build Config URI",
        19 => "Build Config Digest",
        20 => "Build Trigger",
        21 => "Run Invocation URI",
        22 => "Source Repository Visibility At Signing",
        24 => "Token Subject",
        _ => return None,
    })
}

/// One verifier, field by field; returns the HTML and the e-mail identities (for links).
pub fn verifier_html(v: &Verifier) -> (String, Vec<String>) {
    let mut h = String::new();
    let mut emails = Vec::new();
    match v {
        Verifier::PublicKey(spki) => {
            let kind = sigstore_lite_core::keys::PublicKey::from_spki_der(spki)
                .map(|k| k.kind().name().to_string())
                .unwrap_or_else(|e| e.to_string());
            let _ = write!(
                h,
                "<h3>Public key</h3><table><tr><th>type</th><td>{}</td></tr></table><pre>{}</pre>",
                esc(&kind),
                esc(&v.canonical_pem())
            );
        }
        Verifier::Certificate(der) => {
            h.push_str("<h3>Certificate</h3><table class=\"cert\">");
            match x509_parser::parse_x509_certificate(der) {
                Ok((_, c)) => {
                    let row = |h: &mut String, k: &str, v: &str| {
                        let _ = write!(h, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(v));
                    };
                    row(&mut h, "subject", &c.subject().to_string());
                    row(&mut h, "issuer", &c.issuer().to_string());
                    row(&mut h, "serial", &c.raw_serial_as_string());
                    row(
                        &mut h,
                        "valid from",
                        &time(c.validity().not_before.timestamp()),
                    );
                    row(
                        &mut h,
                        "valid until",
                        &time(c.validity().not_after.timestamp()),
                    );
                    match fulcio::read(der) {
                        Ok(f) => {
                            for s in &f.sans {
                                let label = match s {
                                    fulcio::San::Email(e) => {
                                        emails.push(e.clone());
                                        "SAN (e-mail)"
                                    }
                                    fulcio::San::Uri(_) => "SAN (URI)",
                                    fulcio::San::Username(_) => "SAN (username)",
                                    fulcio::San::Other(_) => "SAN",
                                };
                                let _ = write!(
                                    h,
                                    "<tr><th>{}</th><td class=\"identity\">{}</td></tr>",
                                    label,
                                    esc(s.value())
                                );
                            }
                            row(&mut h, "key", f.key.kind().name());
                            for (oid, value) in &f.sigstore_extensions {
                                let name = fulcio_oid_name(oid).unwrap_or("Sigstore extension");
                                row(&mut h, &format!("{name} ({oid})"), value);
                            }
                        }
                        Err(e) => row(&mut h, "Fulcio fields", &e.to_string()),
                    }
                    match sigstore_lite_core::sct::tbs_without_sct(der) {
                        Ok((_, scts)) => {
                            for s in scts {
                                row(
                                    &mut h,
                                    "SCT",
                                    &format!(
                                        "log {} at {} (embedded by the CA's CT log)",
                                        hex::encode(s.log_id),
                                        time((s.timestamp_ms / 1000) as i64)
                                    ),
                                );
                            }
                        }
                        Err(e) => row(&mut h, "SCT", &e.to_string()),
                    }
                }
                Err(e) => {
                    let _ = write!(h, "<tr><td>{}</td></tr>", esc(&e.to_string()));
                }
            }
            let _ = write!(
                h,
                "</table><details><summary>PEM</summary><pre>{}</pre></details>",
                esc(&v.canonical_pem())
            );
        }
    }
    (h, emails)
}

/// The checkpoint note's size and root hash (hex), if it parses.
pub fn checkpoint_root(note: &str) -> Option<(u64, String)> {
    let n = sigstore_lite_core::note::SignedNote::parse(note).ok()?;
    let c = sigstore_lite_core::note::Checkpoint::from_text(&n.text).ok()?;
    Some((c.size, hex::encode(c.root_hash)))
}

/// The inclusion proof section: the server's check, and the data the page's script walks from
/// the leaf to the root (`#proof-verdict`, `#path`).
pub fn proof_html(
    body_b64: &str,
    index: u64,
    size: u64,
    root_hex: &str,
    hashes: &[String],
    checkpoint: &str,
    server_ok: Result<(), String>,
) -> String {
    let cp = checkpoint_root(checkpoint);
    let (cp_size, cp_root) = cp.clone().unwrap_or((0, String::new()));
    format!(
        r#"<section id="proof" data-body="{b}" data-index="{index}" data-size="{size}" data-root="{r}" data-hashes="{hs}" data-checkpoint-size="{cs}" data-checkpoint-root="{cr}">
<h2>Inclusion proof</h2>
<p>Leaf {index} of a tree of {size}; root <code>{r}</code>.</p>
<p>Server check: <span id="server-verdict">{sv}</span></p>
<p>This page: <strong id="proof-verdict">not verified (the page verifies the proof with JavaScript)</strong></p>
<ol id="path" class="path"><li>leaf hash = SHA-256(0x00 ‖ body)</li></ol>
<h3>Checkpoint</h3><pre>{cpt}</pre></section>"#,
        b = esc(body_b64),
        r = esc(root_hex),
        hs = esc(&hashes.join(",")),
        cs = cp_size,
        cr = esc(&cp_root),
        sv = esc(&match server_ok {
            Ok(()) => "verified: the path from this body leads to the root".to_string(),
            Err(e) => format!("FAILED: {e}"),
        }),
        cpt = esc(checkpoint),
    )
}

/// A v1 entry page.
pub fn entry_html(uuid: &str, e: &LogEntry, set_ok: Result<(), String>, v1: bool) -> String {
    let body = B64.decode(&e.body).unwrap_or_default();
    let d = describe(&body);
    let mut h = String::new();
    let _ = write!(
        h,
        "<h1>Entry {}</h1><table><tr><th>UUID</th><td><code>{}</code></td></tr><tr><th>log index</th><td>{}</td></tr><tr><th>kind</th><td>{}</td></tr>",
        e.log_index,
        esc(uuid),
        e.log_index,
        esc(&d.kind)
    );
    if v1 {
        let _ = write!(
            h,
            "<tr><th>integrated time</th><td>{}</td></tr><tr><th>log ID</th><td><code>{}</code></td></tr>",
            esc(&time(e.integrated_time)),
            esc(&e.log_id)
        );
    }
    for (k, v) in &d.rows {
        let _ = write!(
            h,
            "<tr><th>{}</th><td><code>{}</code></td></tr>",
            esc(k),
            esc(v)
        );
    }
    h.push_str("</table>");
    let mut all_emails = Vec::new();
    for v in &d.verifiers {
        let (vh, emails) = verifier_html(v);
        h.push_str(&vh);
        all_emails.extend(emails);
    }
    for email in all_emails {
        let _ = write!(
            h,
            "<p><a class=\"same-identity\" href=\"/search?kind=email&amp;q={}\">other entries by {}</a></p>",
            esc(&url_enc(&email)),
            esc(&email)
        );
    }
    if v1 {
        let _ = write!(
            h,
            "<h2>Signed entry timestamp</h2><p>{}</p><pre class=\"wrap\">{}</pre>",
            esc(&match set_ok {
                Ok(()) =>
                    "verifies with the log's public key (the log's promise to include the entry)"
                        .to_string(),
                Err(e) => format!("does NOT verify: {e}"),
            }),
            esc(&e.verification.signed_entry_timestamp)
        );
    }
    let pretty = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
    let _ = write!(
        h,
        "<h2>Body</h2><pre class=\"wrap body\">{}</pre>",
        esc(&pretty)
    );
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_everything_that_could_open_markup() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"y\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;y&quot;"
        );
        let page = layout("<b>", "\"><script>alert(1)</script>", "");
        assert!(!page.contains("<script>alert"));
        assert!(page.contains("&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert_eq!(url_enc("a b@c.d/<"), "a%20b%40c.d%2F%3C");
    }

    #[test]
    fn names_fulcio_extensions() {
        assert_eq!(
            fulcio_oid_name("1.3.6.1.4.1.57264.1.8"),
            Some("Issuer (V2)")
        );
        assert_eq!(fulcio_oid_name("1.3.6.1.4.1.57264.1.99"), None);
        assert_eq!(fulcio_oid_name("2.5.29.17"), None);
    }

    #[test]
    fn describes_bodies_and_survives_garbage() {
        let d = describe(b"<script>not json");
        assert_eq!(d.kind, "not a Rekor entry");
        assert!(d.verifiers.is_empty());
        let d = describe(br#"{"apiVersion":"0.0.1","kind":"other","spec":{}}"#);
        assert!(d.kind.starts_with("other"));
    }
}
