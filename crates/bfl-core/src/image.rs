//! Is a downloaded body the image? One pure check, shared by every transport and the machine,
//! applied before a body may become the file (or the in-memory image).
//!
//! A delivery host may answer `200` with a body that is not the image: an empty body, an HTML
//! error page from a proxy, a JSON error, or fewer bytes than its `Content-Length` announced.
//! Each is a [`BadImage`]: retryable while the URL lives, and never written under the final name.
//!
//! ```
//! use bfl_core::image::{check_image, sniff, BadImage};
//! use bfl_core::OutputFormat;
//!
//! assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Some(OutputFormat::Png));
//! assert_eq!(check_image(b"\xff\xd8\xff\xe0...", 7, Some(7)), Ok(OutputFormat::Jpeg));
//! assert_eq!(check_image(b"", 0, None), Err(BadImage::Empty));
//! let html = check_image(b"<html>oops</html>", 17, None).unwrap_err();
//! assert_eq!(html.to_string(), r#"result body is not an image (starts with "<html>oops</html>")"#);
//! ```

use crate::api::OutputFormat;

/// How many leading bytes [`check_image`] looks at (the magic bytes, and the prefix a bad body's
/// error shows): what a streaming transport keeps ([`Head`]).
pub const HEAD_LEN: usize = 24;

/// The image format whose magic bytes `head` starts with, if any: JPEG `FF D8 FF`, PNG
/// `89 50 4E 47 0D 0A 1A 0A`, WebP `RIFF????WEBP`.
pub fn sniff(head: &[u8]) -> Option<OutputFormat> {
    if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(OutputFormat::Jpeg)
    } else if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(OutputFormat::Png)
    } else if head.len() >= 12 && head.starts_with(b"RIFF") && &head[8..12] == b"WEBP" {
        Some(OutputFormat::Webp)
    } else {
        None
    }
}

/// Why a `200` body is not the image.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BadImage {
    /// No bytes at all.
    #[error("result body is empty")]
    Empty,
    /// Fewer (or more) bytes than the `Content-Length` announced.
    #[error(
        "result body ended after {received} of the {declared} bytes its Content-Length announced"
    )]
    LengthMismatch {
        /// Bytes received.
        received: u64,
        /// Bytes announced.
        declared: u64,
    },
    /// Bytes that start with no known image format's magic (an HTML or JSON page, say).
    #[error("result body is not an image (starts with \"{prefix}\")")]
    NotAnImage {
        /// The body's first bytes, escaped (never the raw body).
        prefix: String,
    },
}

/// Checks a whole body: `head` is its first bytes (at least [`HEAD_LEN`] of them when it has
/// that many), `received` its length, `declared` its `Content-Length` if one was sent. Returns
/// the image's format.
pub fn check_image(
    head: &[u8],
    received: u64,
    declared: Option<u64>,
) -> Result<OutputFormat, BadImage> {
    if received == 0 {
        return Err(BadImage::Empty);
    }
    if let Some(declared) = declared.filter(|d| *d != received) {
        return Err(BadImage::LengthMismatch { received, declared });
    }
    sniff(head).ok_or_else(|| BadImage::NotAnImage {
        prefix: escaped_prefix(head, received),
    })
}

/// The `Content-Length` of an answer, if present and valid.
pub fn declared_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The first bytes of a body of `len` bytes, printable ASCII kept and everything else escaped,
/// with `…` when cut.
fn escaped_prefix(head: &[u8], len: u64) -> String {
    let shown = &head[..head.len().min(HEAD_LEN)];
    let mut out: String = shown.escape_ascii().to_string();
    if len > shown.len() as u64 {
        out.push('…');
    }
    out
}

/// Keeps the first [`HEAD_LEN`] bytes of a body that arrives in pieces.
#[derive(Debug, Clone, Default)]
pub struct Head {
    bytes: Vec<u8>,
}

impl Head {
    /// Adds the next piece of the body (only its first bytes are kept).
    pub fn push(&mut self, piece: &[u8]) {
        let room = HEAD_LEN.saturating_sub(self.bytes.len());
        self.bytes
            .extend_from_slice(&piece[..piece.len().min(room)]);
    }
    /// The bytes kept.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_format_is_recognised_by_its_magic_bytes() {
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xDB]), Some(OutputFormat::Jpeg));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0"), Some(OutputFormat::Png));
        assert_eq!(sniff(b"RIFF\x10\0\0\0WEBPVP8 "), Some(OutputFormat::Webp));
        // A RIFF that is not WebP (a WAV file), a PNG without its line-ending check, a short head.
        assert_eq!(sniff(b"RIFF\x10\0\0\0WAVEfmt "), None);
        assert_eq!(sniff(b"\x89PNG\n\n\x1a\n"), None);
        assert_eq!(sniff(b"RIFF"), None);
        assert_eq!(sniff(&[0xFF, 0xD8]), None);
    }

    #[test]
    fn empty_html_json_and_short_bodies_are_not_the_image() {
        assert_eq!(check_image(b"", 0, Some(0)), Err(BadImage::Empty));
        assert_eq!(
            check_image(&[0xFF, 0xD8, 0xFF], 3, Some(4000)),
            Err(BadImage::LengthMismatch {
                received: 3,
                declared: 4000
            })
        );
        let json = check_image(br#"{"detail":"x"}"#, 14, None).unwrap_err();
        assert!(json
            .to_string()
            .contains(r#"starts with "{\"detail\":\"x\"}""#));
        assert_eq!(
            check_image(b"\xff\xd8\xffrest", 7, None),
            Ok(OutputFormat::Jpeg)
        );
    }

    #[test]
    fn a_bad_body_is_shown_short_and_escaped() {
        let mut body = b"<html>\x1b[31m\r\n".to_vec();
        body.extend(std::iter::repeat_n(b'x', 1000));
        let err = check_image(&body, body.len() as u64, None).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(r"<html>\x1b[31m\r\n"), "{msg}");
        assert!(msg.ends_with("…\")"), "{msg}");
        assert!(msg.len() < 100, "{msg}");
    }

    #[test]
    fn head_keeps_only_the_first_bytes_across_pieces() {
        let mut head = Head::default();
        for piece in [
            &b"RIFF"[..],
            b"\x10\0",
            b"\0\0WE",
            b"BPVP8 and much more than 24 bytes",
        ] {
            head.push(piece);
        }
        assert_eq!(head.as_bytes(), b"RIFF\x10\0\0\0WEBPVP8 and much");
        assert_eq!(sniff(head.as_bytes()), Some(OutputFormat::Webp));
    }
}
