//! Why a request got no HTTP answer, with the underlying failure kept as a source.

use crate::image::BadImage;
use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Why a request got no HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportError {
    /// No answer within the request's timeout (a hung connection ends here).
    Timeout(Duration),
    /// Could not connect.
    Connect(Cause),
    /// The answer's body exceeded the cap for its kind.
    BodyTooLarge {
        /// The cap, in bytes.
        limit: u64,
    },
    /// The connection broke mid-answer, or the answer was not valid HTTP.
    Protocol(Cause),
    /// The request itself was unusable (bad URL, unsupported scheme).
    InvalidRequest(String),
    /// Writing a downloaded body to disk failed.
    Io(Cause),
    /// A `200` download whose body is not the image (empty, an HTML page, short of its
    /// `Content-Length`); nothing was written under the destination's name.
    BadImage(BadImage),
}

impl TransportError {
    /// Whether sending the same request again may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            TransportError::Timeout(_)
                | TransportError::Connect(_)
                | TransportError::Protocol(_)
                | TransportError::BadImage(_)
        )
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportError::Timeout(after) => write!(f, "request timed out after {after:?}"),
            TransportError::Connect(cause) => write!(f, "connection failed: {cause}"),
            TransportError::BodyTooLarge { limit } => {
                write!(f, "response body larger than the {limit}-byte cap")
            }
            TransportError::Protocol(cause) => write!(f, "broken or invalid response: {cause}"),
            TransportError::InvalidRequest(why) => write!(f, "invalid request: {why}"),
            TransportError::Io(cause) => write!(f, "writing the download failed: {cause}"),
            TransportError::BadImage(bad) => write!(f, "{bad}"),
        }
    }
}

impl StdError for TransportError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            TransportError::Connect(cause)
            | TransportError::Protocol(cause)
            | TransportError::Io(cause) => cause.source(),
            TransportError::BadImage(bad) => Some(bad),
            _ => None,
        }
    }
}

impl From<BadImage> for TransportError {
    fn from(bad: BadImage) -> TransportError {
        TransportError::BadImage(bad)
    }
}

/// The failure beneath a [`TransportError`]: the words shown for it (often the whole chain of
/// the underlying error, since a client library's top-level message alone says little) and,
/// when there is one, the error itself, for [`source`](StdError::source) and downcasting.
/// Two causes are equal when their words are.
#[derive(Clone)]
pub struct Cause {
    message: String,
    source: Option<Arc<dyn StdError + Send + Sync>>,
}

impl Cause {
    /// A cause known only by its words (a test double's "refused", a simulated reset).
    pub fn new(message: impl Into<String>) -> Cause {
        Cause {
            message: message.into(),
            source: None,
        }
    }

    /// A cause shown as `message` that keeps `source`.
    pub fn with_source(
        message: impl Into<String>,
        source: impl StdError + Send + Sync + 'static,
    ) -> Cause {
        Cause {
            message: message.into(),
            source: Some(Arc::new(source)),
        }
    }

    /// The words shown for the failure.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The underlying error, when there is one.
    pub fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Cause");
        d.field("message", &self.message);
        if let Some(source) = &self.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl PartialEq for Cause {
    fn eq(&self, other: &Cause) -> bool {
        self.message == other.message
    }
}

impl Eq for Cause {}

impl From<&str> for Cause {
    fn from(message: &str) -> Cause {
        Cause::new(message)
    }
}

impl From<String> for Cause {
    fn from(message: String) -> Cause {
        Cause::new(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_words_stay_and_the_cause_is_a_source() {
        let io = std::io::Error::new(std::io::ErrorKind::StorageFull, "disk full");
        let e = TransportError::Io(Cause::with_source("renaming x.png: disk full", io));
        assert_eq!(
            e.to_string(),
            "writing the download failed: renaming x.png: disk full"
        );
        let source = e.source().and_then(|s| s.downcast_ref::<std::io::Error>());
        assert_eq!(
            source.map(|s| s.kind()),
            Some(std::io::ErrorKind::StorageFull)
        );
        let plain = TransportError::Connect("refused".into());
        assert_eq!(plain.to_string(), "connection failed: refused");
        assert!(plain.source().is_none());
    }
}
