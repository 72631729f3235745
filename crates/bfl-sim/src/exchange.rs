//! What a face hands the core and gets back: the request as the core sees it, the answer with
//! its delivery instructions (latency, hang), and the hosts and their roles.

use crate::images::ImageSpec;
use bytes::Bytes;
use serde_json::{json, Value};

/// The `detail` of a 403 for a missing or unknown key, as seen on the real API.
pub const NOT_AUTHENTICATED: &str = "Not authenticated - Invalid Authentication";

/// Which listener (host) a request arrived at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The API host submits go to.
    Api,
    /// The regional API host a `polling_url` may name.
    Regional,
    /// The delivery host of result images (no key needed, none wanted).
    Delivery,
    /// A host outside the client's key policy that a hostile `polling_url` names.
    Hostile,
}

/// The authorities (`host:port`) and scheme the core writes into URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hosts {
    /// `http` or `https`.
    pub scheme: String,
    /// The API host.
    pub api: String,
    /// The regional API host.
    pub regional: String,
    /// The delivery host.
    pub delivery: String,
    /// The hostile polling host.
    pub hostile: String,
}

impl Hosts {
    /// The fake names of the virtual-time face (`https://api.sim.invalid` …).
    pub fn virtual_names() -> Hosts {
        Hosts {
            scheme: "https".into(),
            api: "api.sim.invalid".into(),
            regional: "api.eu1.sim.invalid".into(),
            delivery: "delivery.sim.invalid".into(),
            hostile: "api.sim-evil.invalid".into(),
        }
    }

    /// The authority of a role.
    pub fn authority(&self, role: Role) -> &str {
        match role {
            Role::Api => &self.api,
            Role::Regional => &self.regional,
            Role::Delivery => &self.delivery,
            Role::Hostile => &self.hostile,
        }
    }

    /// The role of an authority, if it is one of ours.
    pub fn role_of(&self, authority: &str) -> Option<Role> {
        [Role::Api, Role::Regional, Role::Delivery, Role::Hostile]
            .into_iter()
            .find(|r| self.authority(*r).eq_ignore_ascii_case(authority))
    }
}

/// A request as the core sees it.
#[derive(Debug, Clone, Copy)]
pub struct SimRequest<'a> {
    /// Where it arrived.
    pub role: Role,
    /// `GET`, `POST`, …
    pub method: &'a str,
    /// The path, without the query.
    pub path: &'a str,
    /// The query string, without `?`.
    pub query: Option<&'a str>,
    /// The `x-key` header.
    pub key: Option<&'a str>,
    /// The body.
    pub body: &'a [u8],
}

/// An answer body: bytes, or an image to render outside the core's lock.
#[derive(Debug, Clone, PartialEq)]
pub enum SimBody {
    /// Ready bytes.
    Bytes(Bytes),
    /// An image to encode.
    Image(ImageSpec),
}

/// The core's answer, plus how the face must deliver it.
#[derive(Debug, Clone, PartialEq)]
pub struct SimResponse {
    /// HTTP status.
    pub status: u16,
    /// Headers (`content-type`, `retry-after`, …).
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: SimBody,
    /// Seconds to wait before answering.
    pub delay: f64,
    /// Never answer (a hung request).
    pub hang: bool,
}

impl SimResponse {
    pub(crate) fn json(status: u16, body: Vec<u8>) -> SimResponse {
        SimResponse {
            status,
            headers: vec![("content-type", "application/json".into())],
            body: SimBody::Bytes(Bytes::from(body)),
            delay: 0.0,
            hang: false,
        }
    }

    pub(crate) fn value(status: u16, v: &Value) -> SimResponse {
        SimResponse::serialized(status, v)
    }

    /// `body` as JSON, written into one buffer sized for a poll answer (growing from empty
    /// took five allocations per poll).
    pub(crate) fn serialized(status: u16, body: &impl serde::Serialize) -> SimResponse {
        let mut out = Vec::with_capacity(256);
        if serde_json::to_writer(&mut out, body).is_err() {
            out.clear();
        }
        SimResponse::json(status, out)
    }

    pub(crate) fn detail(status: u16, msg: &str) -> SimResponse {
        SimResponse::value(status, &json!({ "detail": msg }))
    }

    pub(crate) fn with_header(mut self, name: &'static str, value: String) -> SimResponse {
        self.headers.push((name, value));
        self
    }

    /// The body bytes (renders an image).
    pub fn body_bytes(&self) -> Bytes {
        match &self.body {
            SimBody::Bytes(b) => b.clone(),
            SimBody::Image(spec) => spec.bytes(),
        }
    }

    /// As an `http::Response` (renders an image); a header that cannot be sent makes it a bare
    /// 500. The body moves, not copied.
    pub fn into_http(self) -> http::Response<Bytes> {
        let mut r = http::Response::new(Bytes::new());
        let (Ok(status), Ok(())) = (
            http::StatusCode::from_u16(self.status),
            append_headers(r.headers_mut(), &self.headers),
        ) else {
            *r.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
            r.headers_mut().clear();
            return r;
        };
        *r.status_mut() = status;
        *r.body_mut() = match self.body {
            SimBody::Bytes(b) => b,
            SimBody::Image(spec) => spec.bytes(),
        };
        r
    }
}

/// Appends `headers` to `map` (the JSON content type without a copy of its text).
fn append_headers(
    map: &mut http::HeaderMap,
    headers: &[(&'static str, String)],
) -> Result<(), http::Error> {
    let json = http::HeaderValue::from_static("application/json");
    for (name, value) in headers {
        let name = http::HeaderName::from_bytes(name.as_bytes())?;
        let value = if value == "application/json" {
            json.clone()
        } else {
            http::HeaderValue::from_str(value)?
        };
        map.append(name, value);
    }
    Ok(())
}
