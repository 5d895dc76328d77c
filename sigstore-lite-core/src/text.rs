//! Text from outside (a tar header, a certificate's SAN, a log's error message, a file name)
//! made safe to print on a terminal or in a one-line log: control characters (C0, DEL, C1),
//! and the bidirectional overrides that reorder what a reader sees, are written as `\u{..}`
//! escapes, so a crafted input can neither break the one-sentence rule with a newline nor send
//! terminal escape sequences.

use std::borrow::Cow;
use std::fmt::Write;

/// Whether `c` must not reach a terminal as it is.
fn unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}')
}

/// `s` with every control or bidi-override character escaped (`\n` → `\u{a}`, ESC → `\u{1b}`);
/// borrowed when there is nothing to escape.
pub fn printable(s: &str) -> Cow<'_, str> {
    if !s.chars().any(unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if unsafe_char(c) {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Bytes from outside as printable text: invalid UTF-8 as U+FFFD, then [`printable`].
pub fn printable_bytes(b: &[u8]) -> String {
    printable(&String::from_utf8_lossy(b)).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_bidi_characters_are_escaped_and_the_rest_kept() {
        for (input, want) in [
            ("plain text, ünïcode, 日本", "plain text, ünïcode, 日本"),
            ("a\nb", "a\\u{a}b"),
            ("\u{1b}[31mred\u{1b}[0m", "\\u{1b}[31mred\\u{1b}[0m"),
            ("bell\u{7}", "bell\\u{7}"),
            ("cr\rlf", "cr\\u{d}lf"),
            ("nul\0", "nul\\u{0}"),
            ("del\u{7f}", "del\\u{7f}"),
            ("c1\u{9b}", "c1\\u{9b}"),
            ("tab\t", "tab\\u{9}"),
            ("rtl\u{202e}txt", "rtl\\u{202e}txt"),
        ] {
            assert_eq!(printable(input), want, "{input:?}");
            assert!(!printable(input).chars().any(|c| c.is_control()));
        }
        assert!(matches!(printable("clean"), Cow::Borrowed(_)));
        assert_eq!(printable_bytes(b"x\xff\x1by"), "x\u{fffd}\\u{1b}y");
    }
}
