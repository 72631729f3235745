//! A connector that bounds the sockets open at once to each host.
//!
//! hyper-util's pool opens a new connection whenever a request finds none idle at that moment,
//! even while one is on its way back to the pool, so bounding requests in flight does not bound
//! sockets. Here each socket holds a permit of its host (scheme and authority, as the pool keys
//! them) from the moment it is connected until hyper drops it; a connect past the bound waits
//! for a socket to that host to close (the request's whole-request timeout covers the wait).
//!
//! The bound is per host because a socket idle in the pool still holds its permit (the pool
//! never says when a connection goes idle, and keeps it for reuse up to its idle timeout): under
//! one bound shared by all hosts, `n` warm sockets to the API host would keep a download from
//! the delivery host waiting until its timeout. Per host, a request never waits for another
//! host's sockets, and one waiting for its own host's gets the first to come back idle (the pool
//! hands it over). So: at most `n` sockets to each host, `n` × the hosts in use at most in all.

use hyper::rt::{Read, ReadBufCursor, Write};
use hyper::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection};
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower_service::Service;

/// `C` with at most `n` connections open at once to each host.
#[derive(Debug, Clone)]
pub(crate) struct BoundedConnector<C> {
    inner: C,
    hosts: Arc<HostPermits>,
}

impl<C> BoundedConnector<C> {
    /// At most `n` connections of `inner` at once to each host (at least 1).
    pub(crate) fn new(inner: C, n: usize) -> Self {
        BoundedConnector {
            inner,
            hosts: Arc::new(HostPermits {
                per_host: n.clamp(1, Semaphore::MAX_PERMITS),
                by_host: Mutex::new(HashMap::new()),
            }),
        }
    }
}

/// A connection's scheme and authority.
type HostKey = (Option<http::uri::Scheme>, Option<http::uri::Authority>);

/// Each host's permits, made when a host is first connected to.
#[derive(Debug)]
struct HostPermits {
    per_host: usize,
    by_host: Mutex<HashMap<HostKey, Arc<Semaphore>>>,
}

impl HostPermits {
    /// The permits of `uri`'s host.
    fn of(&self, uri: &Uri) -> Arc<Semaphore> {
        // As hyper-util's pool keys its connections: `Authority` compares without case, and
        // cloning these shares their bytes.
        let key = (uri.scheme().cloned(), uri.authority().cloned());
        let mut by_host = self.by_host.lock().unwrap_or_else(|p| p.into_inner());
        // A host with no socket open and none waiting (no permit or acquire holds its
        // semaphore) is forgotten, so the map holds only hosts in use.
        by_host.retain(|_, permits| Arc::strong_count(permits) > 1);
        let permits = by_host
            .entry(key)
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_host)));
        Arc::clone(permits)
    }
}

impl<C> Service<Uri> for BoundedConnector<C>
where
    C: Service<Uri> + Clone + Send + 'static,
    C::Future: Send + 'static,
{
    type Response = Counted<C::Response>;
    type Error = C::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        // The connector made ready is the one that connects; a clone takes its place.
        let fresh = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, fresh);
        let permits = self.hosts.of(&uri);
        Box::pin(async move {
            // The semaphore is never closed; were it, connecting unbounded beats failing.
            let permit = permits.acquire_owned().await.ok();
            let io = inner.call(uri).await?;
            Ok(Counted {
                io,
                _permit: permit,
            })
        })
    }
}

/// A connection holding its permit until it is dropped.
#[derive(Debug)]
pub(crate) struct Counted<T> {
    io: T,
    _permit: Option<OwnedSemaphorePermit>,
}

impl<T: Connection> Connection for Counted<T> {
    fn connected(&self) -> Connected {
        self.io.connected()
    }
}

impl<T: Read + Unpin> Read for Counted<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: Write + Unpin> Write for Counted<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_host_spelt_two_ways_shares_its_permits_and_another_host_has_its_own() {
        let permits = HostPermits {
            per_host: 2,
            by_host: Mutex::default(),
        };
        let of = |uri: &str| permits.of(&uri.parse::<Uri>().unwrap());
        let api = of("https://api.example.com/v1/x");
        assert!(Arc::ptr_eq(&api, &of("https://API.Example.com/v1/y")));
        assert!(!Arc::ptr_eq(&api, &of("https://delivery.example.com/a")));
        assert!(!Arc::ptr_eq(&api, &of("http://api.example.com/v1/x")));
    }
}
