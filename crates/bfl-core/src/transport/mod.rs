//! The [`Transport`] trait: how the engine's requests reach a server.
//!
//! The engine builds `http::Request<Bytes>` values and reads `http::Response<Bytes>` values; a
//! transport only moves them. Each request carries a [`RequestMeta`] in its extensions saying what
//! it is for (so a transport can pick a body-size cap) and how long it may take at most (the
//! smaller of the transport's own timeout and the task's remaining deadline). [`Timeout`] is
//! that whole-request limit as a decorator over any transport, on a [`Runtime`](crate::rt::Runtime)'s
//! clock; both shipped transports use it.

use crate::api::OutputFormat;
use crate::image::{check_image, declared_length};
use async_trait::async_trait;
use bytes::Bytes;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod error;
mod timeout;

pub use error::{Cause, TransportError};
pub use timeout::Timeout;

/// What a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RequestKind {
    /// `POST /v1/{model}`.
    Submit,
    /// `GET polling_url`.
    Poll,
    /// `GET` of a signed result URL (never carries the key).
    Download,
    /// `GET /v1/credits`.
    Credits,
}

impl RequestKind {
    /// A short lowercase name for logs and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::Submit => "submit",
            RequestKind::Poll => "poll",
            RequestKind::Download => "download",
            RequestKind::Credits => "credits",
        }
    }
}

/// Metadata the engine attaches to every request (in `http::Request::extensions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestMeta {
    /// What the request is for.
    pub kind: RequestKind,
    /// The most the request may take: the task's remaining deadline. A transport uses the
    /// smaller of this and its own timeout ([`Timeout::limit_for`]).
    pub timeout: Option<Duration>,
}

impl RequestMeta {
    /// Reads the metadata of a request, if the engine attached any.
    pub fn of<B>(req: &http::Request<B>) -> Option<RequestMeta> {
        req.extensions().get::<RequestMeta>().copied()
    }
}

/// Where a streamed download was written (attached to the response's extensions by
/// [`Transport::download_to`], whose response body is then empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadedFile {
    /// The final path.
    pub path: PathBuf,
    /// Bytes written.
    pub len: u64,
    /// The image format its magic bytes name (see [`crate::image::sniff`]).
    pub format: Option<OutputFormat>,
}

/// Moves requests to a server and answers back. Object-safe; share it as `Arc<dyn Transport>`.
///
/// Implementations: `bfl_hyper::HyperTransport` (real sockets), `bfl_sim::SimTransport` (virtual
/// time, no sockets), and any test double; decorators: [`Timeout`] (the whole-request limit, which
/// both of those use), [`Budgeted`](crate::budget::Budgeted).
#[async_trait]
pub trait Transport: Send + Sync {
    /// Sends a request and returns the whole answer.
    async fn send(
        &self,
        req: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, TransportError>;

    /// Sends a download request and writes a successful (2xx) body to `dest`, returning the answer
    /// with an empty body and a [`DownloadedFile`] extension. Non-2xx answers come back with their
    /// body, and nothing is written.
    ///
    /// A `200` whose body is not the image ([`crate::image::check_image`]) is
    /// [`TransportError::BadImage`], and `dest` is left as it was.
    ///
    /// The default buffers the body in memory, checks it, then writes a temporary file beside
    /// `dest` and renames it, so a crash never leaves a partial image under the final name.
    /// Transports that can stream override it.
    async fn download_to(
        &self,
        req: http::Request<Bytes>,
        dest: &Path,
    ) -> Result<http::Response<Bytes>, TransportError> {
        let resp = self.send(req).await?;
        if !resp.status().is_success() {
            return Ok(resp);
        }
        let (mut parts, body) = resp.into_parts();
        let len = body.len() as u64;
        let format = check_image(&body, len, declared_length(&parts.headers))?;
        write_atomically(dest, &body)
            .map_err(|e| TransportError::Io(Cause::with_source(e.to_string(), e)))?;
        parts.extensions.insert(DownloadedFile {
            path: dest.to_path_buf(),
            len,
            format: Some(format),
        });
        Ok(http::Response::from_parts(parts, Bytes::new()))
    }

    /// Waits until a request sent now would not queue behind the transport's own bound on
    /// requests in flight (no room is reserved). The driver awaits it when a task wakes from a
    /// wait, before the machine builds the task's next request: a burst of tasks queued for a
    /// bounded transport then holds no requests, and each request is stamped with the moment
    /// it can leave. The default is ready at once.
    async fn ready(&self) {}
}

impl std::fmt::Debug for dyn Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("dyn Transport")
    }
}

/// Writes `bytes` to a temporary file beside `dest`, syncs it, and renames it into place.
pub(crate) fn write_atomically(dest: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = temp_path_for(dest);
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, dest)
}

/// The temporary name a download to `dest` is written under before its rename.
pub fn temp_path_for(dest: &Path) -> PathBuf {
    let mut name = dest
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".part");
    dest.with_file_name(name)
}

#[async_trait]
impl<T: Transport + ?Sized> Transport for std::sync::Arc<T> {
    async fn send(
        &self,
        req: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, TransportError> {
        (**self).send(req).await
    }
    async fn download_to(
        &self,
        req: http::Request<Bytes>,
        dest: &Path,
    ) -> Result<http::Response<Bytes>, TransportError> {
        (**self).download_to(req, dest).await
    }
    async fn ready(&self) {
        (**self).ready().await
    }
}

/// One request on its way out, as the task machine hands it to its driver (in the manner of
/// str0m's `Transmit`): what it is for, the request itself, and where a download streams — typed
/// fields, not metadata for the driver to dig out of the request.
#[derive(Debug)]
pub struct Transmit {
    /// What the request is for (a driver takes an active slot before a submit).
    pub kind: RequestKind,
    /// The request. Its extensions carry a [`RequestMeta`] for the transport.
    pub request: http::Request<Bytes>,
    /// Stream the answer's body to this file ([`Transport::download_to`]) instead of memory.
    pub download_to: Option<PathBuf>,
}
