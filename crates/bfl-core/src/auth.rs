//! The API key, and which hosts may receive it.
//!
//! The key is a secret: [`ApiKey`] has no `Display`, its `Debug` is redacted, and the header it
//! becomes is marked sensitive. [`KeyPolicy`] decides, per URL, whether a request may carry it:
//! only the configured API host family does — never a delivery host, never a foreign polling URL.

use http::uri::{Scheme, Uri};
use std::fmt;
use std::sync::Arc;

/// The header that carries the key.
pub const KEY_HEADER: &str = "x-key";

/// An API key. Its `Debug` output is redacted and it has no `Display`, so it cannot leak into logs
/// by formatting.
///
/// ```
/// let key = bfl_core::auth::ApiKey::new("bfl_secret").unwrap();
/// assert_eq!(format!("{key:?}"), "ApiKey(bfl_…redacted)");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    text: Arc<str>,
    /// The header it becomes, built once (a clone shares its bytes).
    header: http::HeaderValue,
}

/// Why a string is not a usable key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidKey {
    /// Empty or only white space.
    #[error("the API key is empty")]
    Empty,
    /// Contains characters that cannot go in an HTTP header.
    #[error("the API key contains characters that cannot be sent in a header")]
    NotHeaderSafe,
}

impl ApiKey {
    /// Wraps a key, trimming surrounding white space.
    pub fn new(key: impl AsRef<str>) -> Result<ApiKey, InvalidKey> {
        let key = key.as_ref().trim();
        if key.is_empty() {
            return Err(InvalidKey::Empty);
        }
        let Ok(mut header) = http::HeaderValue::from_str(key) else {
            return Err(InvalidKey::NotHeaderSafe);
        };
        header.set_sensitive(true);
        Ok(ApiKey {
            text: key.into(),
            header,
        })
    }

    /// The secret itself. Use only to build the header.
    pub fn expose(&self) -> &str {
        &self.text
    }

    /// The key as a sensitive header value (hidden from hyper's and http's `Debug`).
    pub fn header_value(&self) -> http::HeaderValue {
        self.header.clone()
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix = if self.text.starts_with("bfl_") {
            "bfl_"
        } else {
            ""
        };
        write!(f, "ApiKey({prefix}…redacted)")
    }
}

/// Which URLs may receive the key.
///
/// Allowed: the base URL's own scheme, host and port; `https` hosts of BFL's API family
/// (`api.bfl.ai`, `api.<region>.bfl.ai`, `api.bfl.ml`) unless [`KeyPolicy::only`] was used; and
/// any `host[:port]` added with [`KeyPolicy::allow`]. Everything else — delivery hosts included —
/// is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPolicy {
    base_scheme: String,
    base_authority: String,
    bfl_family: bool,
    extra: Vec<String>,
}

impl KeyPolicy {
    /// The default policy for a base URL.
    pub fn for_base(base: &Uri) -> KeyPolicy {
        KeyPolicy {
            base_scheme: base.scheme_str().unwrap_or("https").to_ascii_lowercase(),
            base_authority: authority_of(base).unwrap_or_default(),
            bfl_family: true,
            extra: Vec::new(),
        }
    }

    /// Only the base URL's host (and hosts added with [`KeyPolicy::allow`]), not the BFL family.
    pub fn only(mut self) -> KeyPolicy {
        self.bfl_family = false;
        self
    }

    /// Also allows `host` or `host:port` (e.g. a regional polling host of a simulator), over the
    /// base URL's scheme or https.
    pub fn allow(mut self, authority: impl Into<String>) -> KeyPolicy {
        self.extra.push(authority.into().to_ascii_lowercase());
        self
    }

    /// Whether a request to `uri` may carry the key. Nothing is allocated: the budget's
    /// transport asks it for every request.
    pub fn allows(&self, uri: &Uri) -> bool {
        let (Some(scheme), Some(host)) = (uri.scheme_str(), uri.host()) else {
            return false;
        };
        let port = non_default_port(uri);
        let secure = scheme.eq_ignore_ascii_case(Scheme::HTTPS.as_str());
        // The policy's own spellings are lower case.
        let same_scheme = scheme.eq_ignore_ascii_case(&self.base_scheme);
        if same_scheme && authority_is(host, port, &self.base_authority) {
            return true;
        }
        if (same_scheme || secure) && self.extra.iter().any(|a| authority_is(host, port, a)) {
            return true;
        }
        // Family hosts only on their default port: `api.bfl.ai:8443` is not BFL's API.
        secure && self.bfl_family && port.is_none() && is_bfl_api_host(host)
    }
}

/// `host[:port]`, lower-cased, with the default port of the scheme removed.
fn authority_of(uri: &Uri) -> Option<String> {
    let host = uri.host()?.to_ascii_lowercase();
    Some(match non_default_port(uri) {
        Some(p) => format!("{host}:{p}"),
        None => host,
    })
}

/// The URL's port, unless it is its scheme's default.
fn non_default_port(uri: &Uri) -> Option<u16> {
    let default_port = match uri.scheme_str() {
        Some("https") => Some(443),
        Some("http") => Some(80),
        _ => None,
    };
    uri.port_u16().filter(|&p| Some(p) != default_port)
}

/// Whether `host` with `port` (not its scheme's default) is the lower-case authority `want`, as
/// [`authority_of`] would spell it — compared in place.
fn authority_is(host: &str, port: Option<u16>, want: &str) -> bool {
    let Some(port) = port else {
        return host.eq_ignore_ascii_case(want);
    };
    let Some((want_host, want_port)) = want.rsplit_once(':') else {
        return false;
    };
    // `authority_of` writes the port in plain decimal: no sign, no leading zeros.
    let canonical = want_port.bytes().all(|b| b.is_ascii_digit())
        && !(want_port.len() > 1 && want_port.starts_with('0'));
    canonical && want_port.parse() == Ok(port) && host.eq_ignore_ascii_case(want_host)
}

/// `api.bfl.ai`, `api.<cluster>.bfl.ai`, `api.bfl.ml` (any case) — BFL's API hosts, not its
/// delivery hosts.
fn is_bfl_api_host(host: &str) -> bool {
    if host.eq_ignore_ascii_case("api.bfl.ai") || host.eq_ignore_ascii_case("api.bfl.ml") {
        return true;
    }
    let (prefix, suffix) = (b"api.", b".bfl.ai");
    let bytes = host.as_bytes();
    if bytes.len() <= prefix.len() + suffix.len() {
        return false;
    }
    let (head, rest) = bytes.split_at(prefix.len());
    let (region, tail) = rest.split_at(rest.len() - suffix.len());
    head.eq_ignore_ascii_case(prefix)
        && tail.eq_ignore_ascii_case(suffix)
        && region
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Uri {
        s.parse().unwrap()
    }

    #[test]
    fn default_policy_allows_base_and_bfl_api_family_only() {
        let p = KeyPolicy::for_base(&uri("https://api.bfl.ai"));
        for ok in [
            "https://api.bfl.ai/v1/get_result?id=1",
            "https://api.eu1.bfl.ai/v1/get_result?id=1",
            "https://API.US.bfl.ai/v1/x",
            "https://api.bfl.ml/v1/x",
            "https://api.bfl.ai:443/v1/x",
            "HTTPS://Api.Eu1.BFL.ai/v1/x",
        ] {
            assert!(p.allows(&uri(ok)), "{ok}");
        }
        for bad in [
            "https://delivery-eu1.bfl.ai/results/x.jpeg",
            "http://api.eu1.bfl.ai/v1/get_result?id=1",
            "https://api.bfl.ai.evil.com/v1/x",
            "https://evil.com/api.bfl.ai",
            "https://api..bfl.ai/x",
            "https://api.bfl.ai:8443/v1/x",
            "https://api.-.bfl.ai.x/v1/x",
            "https://api.eu_1.bfl.ai/v1/x",
            "https://xapi.eu1.bfl.ai/v1/x",
            "/relative/path",
        ] {
            assert!(!p.allows(&uri(bad)), "{bad}");
        }
    }

    #[test]
    fn local_base_allows_its_own_port_and_added_hosts_only() {
        let p = KeyPolicy::for_base(&uri("http://127.0.0.1:4000")).allow("127.0.0.1:4001");
        assert!(p.allows(&uri("http://127.0.0.1:4000/v1/get_result?id=1")));
        assert!(p.allows(&uri("http://127.0.0.1:4001/v1/get_result?id=1")));
        assert!(!p.allows(&uri("http://127.0.0.1:4002/v1/get_result?id=1")));
        assert!(!p.allows(&uri("http://localhost:4000/v1/get_result?id=1")));
        // The port as written does not matter, only its value; another host on that port never.
        assert!(p.allows(&uri("http://127.0.0.1:04001/v1/get_result?id=1")));
        assert!(!p.allows(&uri("http://127.0.0.2:4001/v1/get_result?id=1")));
        assert!(!p.allows(&uri("https://127.0.0.1:4000/v1/get_result?id=1")));
        let odd = KeyPolicy::for_base(&uri("http://127.0.0.1:4000")).allow("127.0.0.1:04001");
        assert!(!odd.allows(&uri("http://127.0.0.1:4001/v1/get_result?id=1")));
        assert!(!KeyPolicy::for_base(&uri("https://api.bfl.ai"))
            .only()
            .allows(&uri("https://api.eu1.bfl.ai/v1/x")));
    }

    #[test]
    fn key_never_formats() {
        let k = ApiKey::new("  bfl_abc123  ").unwrap();
        assert_eq!(k.expose(), "bfl_abc123");
        assert!(!format!("{k:?}").contains("abc123"));
        assert!(k.header_value().is_sensitive());
        assert_eq!(ApiKey::new(" "), Err(InvalidKey::Empty));
        assert_eq!(ApiKey::new("a\nb"), Err(InvalidKey::NotHeaderSafe));
    }
}
