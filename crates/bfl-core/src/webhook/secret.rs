//! The per-task webhook secret: fresh, random, compared in constant time, never printed.

use rand::rngs::OsRng;
use rand::TryRngCore;
use std::fmt;

/// Bytes of entropy in a secret (hex-encoded on the wire: 64 characters).
const SECRET_BYTES: usize = 32;

/// A webhook secret. `Debug` and `Display` print `WebhookSecret(…)`, never the value, so a
/// secret cannot leak through a log line or a panic message.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(String);

impl WebhookSecret {
    /// A fresh secret from the operating system's random source, or `None` when that source
    /// fails (the caller then submits without a webhook and polls).
    pub fn generate() -> Option<WebhookSecret> {
        let mut bytes = [0u8; SECRET_BYTES];
        OsRng.try_fill_bytes(&mut bytes).ok()?;
        Some(WebhookSecret(hex(&bytes)))
    }

    /// A secret with a known value (tests, or a secret shared with another receiver).
    pub fn from_value(value: impl Into<String>) -> WebhookSecret {
        WebhookSecret(value.into())
    }

    /// The value, to put in the submit's `webhook_secret` field. Nothing else should read it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `candidate` is this secret, in time independent of where they differ.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        constant_time_eq(self.0.as_bytes(), candidate)
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(…)")
    }
}

impl fmt::Display for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(…)")
    }
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

/// Equality whose running time depends only on the lengths, not on the contents.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_secrets_differ_and_never_print() {
        let (Some(a), Some(b)) = (WebhookSecret::generate(), WebhookSecret::generate()) else {
            panic!("no OS randomness");
        };
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 64);
        assert!(!format!("{a:?} {a}").contains(a.expose()));
    }

    #[test]
    fn a_request_carrying_a_secret_never_prints_it() {
        let req = crate::GenerationRequest::new("flux-2-pro", "fox")
            .webhook("https://hooks.example", Some("s3cret-value".into()));
        let shown = format!("{req:?}");
        assert!(
            !shown.contains("s3cret-value") && shown.contains("fox"),
            "{shown}"
        );
    }

    #[test]
    fn matching_is_exact() {
        let s = WebhookSecret::from_value("abc");
        assert!(s.matches(b"abc"));
        assert!(!s.matches(b"abd"));
        assert!(!s.matches(b"ab"));
        assert!(!s.matches(b""));
    }
}
