//! The HTTP face's response body: the bytes, announced by their exact length — unless the core's
//! answer carries a `Content-Length` of its own (a truncated image), which hyper then sends as
//! is, closing the connection when the body ends short of it, as a broken CDN would.

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A one-frame body whose length is exact unless the headers announce their own.
#[derive(Debug)]
pub(crate) struct WireBody {
    data: Option<Bytes>,
    exact: Option<u64>,
}

impl WireBody {
    /// `bytes`, with hyper computing the `Content-Length`.
    pub(crate) fn exact(bytes: Bytes) -> WireBody {
        WireBody {
            exact: Some(bytes.len() as u64),
            data: Some(bytes),
        }
    }
    /// `bytes`, sent under whatever `Content-Length` the headers announce.
    pub(crate) fn announced(bytes: Bytes) -> WireBody {
        WireBody {
            data: Some(bytes),
            exact: None,
        }
    }
}

impl Body for WireBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.get_mut().data.take().map(|d| Ok(Frame::data(d))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        match self.exact {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}
