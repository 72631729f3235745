//! Server text made safe to show: everything a server says passes through here before it can
//! reach a terminal, a log, `--json` output or a journal.
//!
//! Two steps, in this order:
//! 1. [`redact_key`] — at the edge, before an answer is parsed: a server that echoes the key (in a
//!    403 `detail`, in an `Error`'s details) has it replaced by `[redacted key]`, so no field
//!    derived from the answer can carry it. The task machine does this for every API answer.
//! 2. [`server_text`] — where server text becomes words of an error: control characters (escape
//!    sequences that would set a terminal's title, clear its screen or forge lines) are shown as
//!    escapes, long base64 runs (a 422 body echoing an input image) are elided, and the text is
//!    cut to [`MAX_SERVER_TEXT`] characters. It is public, as [`crate::server_text`].

use bytes::Bytes;

/// The most characters of server text an error shows.
pub(crate) const MAX_SERVER_TEXT: usize = 400;

/// What an echoed key becomes.
pub(crate) const REDACTED_KEY: &str = "[redacted key]";

/// A run of base64-looking characters longer than this is elided.
const MAX_BASE64_RUN: usize = 120;

/// Keys shorter than this are not searched for (they would match ordinary words).
const MIN_KEY_LEN: usize = 6;

/// `body` with every occurrence of `key` replaced by [`REDACTED_KEY`] (the body is returned
/// untouched, without a copy, when it holds none).
pub(crate) fn redact_key(body: Bytes, key: &str) -> Bytes {
    let needle = key.as_bytes();
    if needle.len() < MIN_KEY_LEN || find(&body, needle).is_none() {
        return body;
    }
    let mut out = Vec::with_capacity(body.len());
    let mut rest: &[u8] = &body;
    while let Some(at) = find(rest, needle) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(REDACTED_KEY.as_bytes());
        rest = &rest[at + needle.len()..];
    }
    out.extend_from_slice(rest);
    Bytes::from(out)
}

/// `url` with a `user:password@` part masked as `***@`, or `None` when it carries none: a URL
/// that names credentials is shown this way in every error, so a password never reaches a log.
pub(crate) fn mask_userinfo(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (_, host) = rest[..authority_len].rsplit_once('@')?;
    Some(format!("{scheme}://***@{host}{}", &rest[authority_len..]))
}

/// Where `needle` first occurs in `haystack`. It runs on every answer, so it compares whole
/// windows only where the first byte matches (a window comparison per byte was 4 % of a
/// virtual-time client's CPU).
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    let last_start = haystack.len().checked_sub(needle.len())?;
    let mut from = 0;
    while from <= last_start {
        let at = from
            + haystack[from..=last_start]
                .iter()
                .position(|&b| b == first)?;
        if haystack[at + 1..at + needle.len()] == *rest {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// Server text as it may be shown: control and bidi-override characters escaped (`\u{1b}`),
/// base64 runs elided, at most 400 characters. Every error's words already went through it; use
/// it for what else a server sent (a task id, a polling URL) before a terminal shows it.
///
/// ```
/// assert_eq!(bfl_core::server_text("id \x1b]0;pwned\x07"), "id \\u{1b}]0;pwned\\u{7}");
/// ```
pub fn server_text(text: &str) -> String {
    let elided = elide_base64(text);
    let mut out = String::with_capacity(elided.len().min(MAX_SERVER_TEXT + 32));
    for (shown, (i, c)) in elided.char_indices().enumerate() {
        if shown >= MAX_SERVER_TEXT {
            let left = elided[i..].chars().count();
            out.push_str(&format!("… ({left} more characters)"));
            break;
        }
        if is_unsafe(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// Characters a terminal acts on instead of showing, and those that reorder what it shows.
fn is_unsafe(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn is_base64(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '_')
}

/// Replaces each run of more than [`MAX_BASE64_RUN`] base64 characters by a note of its length.
fn elide_base64(text: &str) -> std::borrow::Cow<'_, str> {
    let mut out = String::new();
    let mut copied = 0;
    let mut run_start: Option<usize> = None;
    let mut changed = false;
    for (i, c) in text
        .char_indices()
        .chain(std::iter::once((text.len(), ' ')))
    {
        match (is_base64(c) && i < text.len(), run_start) {
            (true, None) => run_start = Some(i),
            (false, Some(start)) => {
                if i - start > MAX_BASE64_RUN {
                    out.push_str(&text[copied..start]);
                    out.push_str(&format!("[{} characters of base64]", i - start));
                    copied = i;
                    changed = true;
                }
                run_start = None;
            }
            _ => {}
        }
    }
    if !changed {
        return std::borrow::Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_are_shown_not_obeyed() {
        let hostile = "ok\x1b[2J\x1b]0;title\x07\r\nforged line\u{202e}txt";
        let shown = server_text(hostile);
        assert!(!shown.chars().any(is_unsafe), "{shown:?}");
        assert_eq!(
            shown,
            "ok\\u{1b}[2J\\u{1b}]0;title\\u{7}\\u{d}\\u{a}forged line\\u{202e}txt"
        );
    }

    #[test]
    fn long_text_and_base64_are_cut() {
        let image = "iVBORw0KGgo".repeat(100);
        let shown = server_text(&format!("input_image: {image} is not valid"));
        assert_eq!(
            shown,
            "input_image: [1100 characters of base64] is not valid"
        );
        let long = "word ".repeat(200);
        let shown = server_text(&long);
        let suffix = "… (600 more characters)";
        assert_eq!(
            shown.chars().count(),
            MAX_SERVER_TEXT + suffix.chars().count()
        );
        assert!(shown.ends_with(suffix));
    }

    #[test]
    fn the_key_is_found_at_either_end_and_after_near_misses() {
        let key = b"abcab";
        for (hay, want) in [
            (&b"abcab"[..], Some(0)),
            (b"xxabcab", Some(2)),
            (b"abcaabcab", Some(4)),
            (b"ababcab", Some(2)),
            (b"abca", None),
            (b"abcax abca", None),
            (b"", None),
        ] {
            assert_eq!(find(hay, key), want, "{}", String::from_utf8_lossy(hay));
        }
        assert_eq!(find(b"abc", b""), None);
    }

    #[test]
    fn keys_are_redacted_wherever_they_appear() {
        let key = "bfl_secret_42";
        let body = Bytes::from(format!("{{\"detail\":\"key {key} refused; {key}\"}}"));
        let out = redact_key(body, key);
        assert_eq!(
            &out[..],
            b"{\"detail\":\"key [redacted key] refused; [redacted key]\"}"
        );
        let clean = Bytes::from_static(b"nothing here");
        assert_eq!(redact_key(clean.clone(), key), clean);
        let short = Bytes::from_static(b"k1 k1");
        assert_eq!(
            redact_key(short.clone(), "k1"),
            short,
            "too short to search"
        );
    }

    #[test]
    fn a_key_echoed_with_escapes_is_redacted_then_shown_escaped() {
        let body = Bytes::from_static(b"bad key sk-123456 \x1b]0;pwned\x07");
        let body = redact_key(body, "sk-123456");
        let shown = server_text(std::str::from_utf8(&body).unwrap());
        assert_eq!(shown, "bad key [redacted key] \\u{1b}]0;pwned\\u{7}");
    }

    #[test]
    fn a_password_in_a_url_is_masked() {
        assert_eq!(
            mask_userinfo("https://me:hunter2@api.bfl.ai/v1").as_deref(),
            Some("https://***@api.bfl.ai/v1")
        );
        assert_eq!(mask_userinfo("https://api.bfl.ai/v1?a=b@c"), None);
    }
}
