//! Webhooks: BFL can POST a task's outcome to a URL instead of waiting to be polled. Here a
//! delivery is a **hint**, never a verdict: a verified delivery wakes its task for one confirming
//! poll, and a forged, stale or repeated one cannot end a task. While a delivery is expected the
//! task polls on a sparse [`Fallback`] schedule, so a lost delivery costs bounded lag.
//!
//! - [`WebhookSecret`]: a fresh random secret per task, never printed;
//! - [`verify()`]: the `X-Webhook-Secret` header or the `X-BFL-Signature` HMAC, in constant time;
//! - [`WebhookPayload`]: both body dialects (`task_id`/`SUCCESS` and `id`/`Ready`);
//! - [`WebhookRouter`]: the framework-agnostic handler (`headers, body → Delivery`) that routes
//!   deliveries to waiting tasks through a per-task [`HintInbox`];
//! - [`Webhooks`]: what `ClientBuilder::webhooks` installs on a client.
//!
//! ```
//! use bfl_core::webhook::{verify::SECRET_HEADER, Delivery, WebhookRouter, WebhookSecret};
//! let router = WebhookRouter::new();
//! let mut inbox = router.expect(WebhookSecret::from_value("s"));
//! inbox.bind("task-1");
//! let mut headers = http::HeaderMap::new();
//! headers.insert(SECRET_HEADER, http::HeaderValue::from_static("wrong"));
//! let body = br#"{"task_id":"task-1","status":"SUCCESS"}"#;
//! assert_eq!(router.handle(&headers, body), Delivery::Forged);
//! headers.insert(SECRET_HEADER, http::HeaderValue::from_static("s"));
//! assert!(matches!(router.handle(&headers, body), Delivery::Accepted { .. }));
//! assert_eq!(router.handle(&headers, body), Delivery::Duplicate);
//! assert_eq!(router.counters().forged, 1);
//! ```

mod attach;
mod fallback;
pub mod payload;
mod router;
mod secret;
pub mod verify;

pub(crate) use attach::{attach, wait_for_hint};
pub use attach::{Webhooks, DEFAULT_PATH};
pub use fallback::Fallback;
pub use payload::{PayloadError, WebhookPayload};
pub use router::{Delivery, HintInbox, WebhookCounters, WebhookRouter};
pub use secret::WebhookSecret;
pub use verify::verify;

use crate::api::Status;

/// A verified delivery, as the task machine receives it: the status the delivery claims. The
/// machine answers a terminal claim with one confirming poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint {
    /// The claimed status.
    pub status: Status,
}
