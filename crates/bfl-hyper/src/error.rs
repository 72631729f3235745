//! Mapping hyper's and hyper-util's errors onto [`TransportError`].

use bfl_core::transport::{Cause, TransportError};
use std::error::Error as StdError;

/// An error and its sources, joined by `: ` (hyper's top-level messages alone say little).
pub(crate) fn chain(err: &(dyn StdError + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let msg = s.to_string();
        if !out.contains(&msg) {
            out.push_str(": ");
            out.push_str(&msg);
        }
        source = s.source();
    }
    out
}

/// Classifies an error of the pooled client's `request` future.
pub(crate) fn request_error(err: hyper_util::client::legacy::Error) -> TransportError {
    let connect = err.is_connect();
    let cause = Cause::with_source(chain(&err), err);
    if connect {
        TransportError::Connect(cause)
    } else {
        TransportError::Protocol(cause)
    }
}
