//! Is a delivery from the API? Both documented forms: the `X-Webhook-Secret` shared secret
//! (BFL's own SDK) and an `X-BFL-Signature: sha256=<hex HMAC-SHA256 of the raw body>` (an older
//! guide). Either one, correct, is enough; both are checked in constant time.

use super::secret::{constant_time_eq, hex, WebhookSecret};
use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha2::Sha256;

/// The shared-secret header.
pub const SECRET_HEADER: &str = "x-webhook-secret";
/// The body-signature header.
pub const SIGNATURE_HEADER: &str = "x-bfl-signature";

/// Whether `headers` prove that the sender knows `secret` for this `body`.
pub fn verify(headers: &HeaderMap, body: &[u8], secret: &WebhookSecret) -> bool {
    let by_secret = headers
        .get_all(SECRET_HEADER)
        .iter()
        .any(|v| secret.matches(v.as_bytes()));
    by_secret
        || headers
            .get_all(SIGNATURE_HEADER)
            .iter()
            .any(|v| signature_matches(v.as_bytes(), body, secret))
}

/// `sha256=<hex>` (or bare hex) against the HMAC of `body` keyed by the secret.
fn signature_matches(header: &[u8], body: &[u8], secret: &WebhookSecret) -> bool {
    let claimed = header.strip_prefix(b"sha256=").unwrap_or(header);
    let expected = sign(body, secret);
    constant_time_eq(expected.as_bytes(), &claimed.to_ascii_lowercase())
}

/// The `X-BFL-Signature` value for `body`: `sha256=<hex HMAC-SHA256>`.
pub fn signature(body: &[u8], secret: &WebhookSecret) -> String {
    format!("sha256={}", sign(body, secret))
}

fn sign(body: &[u8], secret: &WebhookSecret) -> String {
    // HMAC accepts a key of any length, so this cannot fail.
    match Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()) {
        Ok(mut mac) => {
            mac.update(body);
            hex(&mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(name: &'static str, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Ok(v) = value.parse() {
            h.insert(name, v);
        }
        h
    }

    #[test]
    fn shared_secret_is_checked() {
        let s = WebhookSecret::from_value("s3cret");
        assert!(verify(&headers(SECRET_HEADER, "s3cret"), b"{}", &s));
        assert!(!verify(&headers(SECRET_HEADER, "s3creT"), b"{}", &s));
        assert!(!verify(&HeaderMap::new(), b"{}", &s));
    }

    #[test]
    fn hmac_signature_is_checked_over_the_raw_body() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let s = WebhookSecret::from_value("Jefe");
        let body = b"what do ya want for nothing?";
        let good = "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        assert_eq!(signature(body, &s), good);
        assert!(verify(&headers(SIGNATURE_HEADER, good), body, &s));
        assert!(verify(
            &headers(SIGNATURE_HEADER, &good.to_uppercase()[7..]),
            body,
            &s
        ));
        assert!(!verify(
            &headers(SIGNATURE_HEADER, good),
            b"what do ya want for nothing!",
            &s
        ));
    }
}
