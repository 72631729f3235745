//! The `sim:download-KIND[:N]` prompt token: the first `N` downloads (default 1) of the task's
//! image answer `200` with a body that is not the image, as a misbehaving CDN or proxy does.
//! `KIND` is `empty` (no bytes), `html` (an error page) or `truncated` (half the image, with a
//! `Content-Length` announcing all of it; the HTTP face then closes the connection early). Later
//! downloads get the image. A bad answer is not a successful download (`downloaded_at` stays
//! unset), but it counts in the task's `downloads`.

use crate::exchange::{SimBody, SimResponse};
use bytes::Bytes;

const TOKEN: &str = "sim:download-";

/// A bad body a delivery can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BadDownload {
    Empty,
    Html,
    Truncated,
}

/// The bad body the `attempt`-th download (1 = the first) of a task with this prompt gets, if any.
pub(super) fn bad_download(prompt: &str, attempt: u32) -> Option<BadDownload> {
    let spec = prompt
        .split_whitespace()
        .find_map(|w| w.strip_prefix(TOKEN))?
        // An upsampled prompt may put a comma right after the token.
        .trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
    let (kind, count) = match spec.split_once(':') {
        Some((kind, n)) => (kind, n.parse().ok()?),
        None => (spec, 1),
    };
    let kind = match kind {
        "empty" => BadDownload::Empty,
        "html" => BadDownload::Html,
        "truncated" => BadDownload::Truncated,
        _ => return None,
    };
    (attempt <= count).then_some(kind)
}

impl BadDownload {
    /// The `200` answer carrying this bad body in place of `image` (of type `mime`).
    pub(super) fn answer(self, image: Bytes, mime: &str) -> SimResponse {
        let (ctype, body, declared) = match self {
            BadDownload::Empty => (mime.to_owned(), Bytes::new(), None),
            BadDownload::Html => (
                "text/html".to_owned(),
                Bytes::from_static(b"<html><head><title>Access Denied</title></head><body>Reference #18.2f</body></html>"),
                None,
            ),
            BadDownload::Truncated => {
                let full = image.len();
                (mime.to_owned(), image.slice(..full / 2), Some(full))
            }
        };
        let mut headers = vec![("content-type", ctype)];
        if let Some(full) = declared {
            headers.push(("content-length", full.to_string()));
        }
        SimResponse {
            status: 200,
            headers,
            body: SimBody::Bytes(body),
            delay: 0.0,
            hang: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_names_the_kind_and_how_many_downloads_go_bad() {
        let p = "a fox sim:download-html:2 at dawn";
        assert_eq!(bad_download(p, 1), Some(BadDownload::Html));
        assert_eq!(bad_download(p, 2), Some(BadDownload::Html));
        assert_eq!(bad_download(p, 3), None);
        assert_eq!(
            bad_download("sim:download-empty", 1),
            Some(BadDownload::Empty)
        );
        assert_eq!(bad_download("sim:download-empty", 2), None);
        assert_eq!(bad_download("sim:download-gzip", 1), None);
        assert_eq!(bad_download("a fox", 1), None);
    }

    #[test]
    fn a_truncated_body_announces_the_whole_length() {
        let r = BadDownload::Truncated.answer(Bytes::from_static(b"0123456789"), "image/png");
        assert_eq!(r.body_bytes().as_ref(), b"01234");
        assert!(r.headers.contains(&("content-length", "10".to_owned())));
    }
}
