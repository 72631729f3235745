//! A connector that bounds the sockets open at once.
//!
//! hyper-util's pool opens a new connection whenever a request finds none idle at that moment,
//! even while one is on its way back to the pool, so bounding requests in flight does not bound
//! sockets. Here each socket holds a permit from the moment it is connected until hyper drops
//! it; a connect past the bound waits for one to close (the pool keeps idle ones for reuse, and
//! the request's whole-request timeout covers the wait).

use hyper::rt::{Read, ReadBufCursor, Write};
use hyper::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower_service::Service;

/// `C` with at most as many connections open as `permits` has.
#[derive(Debug, Clone)]
pub(crate) struct BoundedConnector<C> {
    inner: C,
    permits: Arc<Semaphore>,
}

impl<C> BoundedConnector<C> {
    /// At most `n` connections of `inner` at once (at least 1).
    pub(crate) fn new(inner: C, n: usize) -> Self {
        BoundedConnector {
            inner,
            permits: Arc::new(Semaphore::new(n.clamp(1, Semaphore::MAX_PERMITS))),
        }
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
        let permits = Arc::clone(&self.permits);
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
