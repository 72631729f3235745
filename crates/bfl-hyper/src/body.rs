//! Reading a response body under a size cap, frame by frame, so a huge or endless body becomes
//! [`TransportError::BodyTooLarge`] without a large allocation.

use bfl_core::image::declared_length as content_length;
use bfl_core::transport::{Cause, TransportError};
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Incoming;

/// Fails early when the declared length alone exceeds `cap`.
pub(crate) fn check_declared(headers: &http::HeaderMap, cap: u64) -> Result<(), TransportError> {
    match content_length(headers) {
        Some(len) if len > cap => Err(TransportError::BodyTooLarge { limit: cap }),
        _ => Ok(()),
    }
}

/// Reads the whole body, failing as soon as more than `cap` bytes arrived.
pub(crate) async fn read_capped(
    headers: &http::HeaderMap,
    mut body: Incoming,
    cap: u64,
) -> Result<Bytes, TransportError> {
    check_declared(headers, cap)?;
    // Preallocate what the server declared (already checked against the cap), but no more than a
    // modest amount: a lying header must not make us reserve memory.
    let declared = content_length(headers).unwrap_or(0);
    let mut buf = BytesMut::with_capacity(declared.min(64 * 1024) as usize);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(body_error)?;
        if let Ok(data) = frame.into_data() {
            if buf.len() as u64 + data.len() as u64 > cap {
                return Err(TransportError::BodyTooLarge { limit: cap });
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}

/// An error while reading a body: the connection broke or the framing was invalid.
pub(crate) fn body_error(err: hyper::Error) -> TransportError {
    let message = format!("reading the body: {}", crate::error::chain(&err));
    TransportError::Protocol(Cause::with_source(message, err))
}
