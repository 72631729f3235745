//! The settings every task of a client shares.

use super::retry::{RetryBudget, RetryPolicy};
use crate::auth::{ApiKey, KeyPolicy};
use http::Uri;
use std::sync::Arc;
use std::time::Duration;

/// How long after a submit a `404` or `Task not found` is taken for "not visible yet".
pub const DEFAULT_NOT_FOUND_GRACE: Duration = Duration::from_secs(5);

/// Settings shared by every task of a client.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The API base, e.g. `https://api.bfl.ai` (a trailing `/v1` is accepted and dropped).
    pub base: Uri,
    /// The key.
    pub key: ApiKey,
    /// Which hosts may receive the key.
    pub key_policy: KeyPolicy,
    /// The most a task may take to be accepted, and again from its acceptance to its image (a
    /// paid task is never abandoned for the time its submit took).
    pub deadline: Duration,
    /// Waits between tries.
    pub retry: RetryPolicy,
    /// Retries shared by every task of the client.
    pub budget: Arc<RetryBudget>,
    /// How long after a submit a not-found answer counts as "not visible yet".
    pub not_found_grace: Duration,
    /// The most polls one task may make, whatever its strategy says.
    pub max_polls: u32,
    /// How long a result URL lives after the generation's `end_time`.
    pub result_url_lifetime: Duration,
}

impl EngineConfig {
    /// Defaults for `base` and `key`: the key policy of the base URL, a 10-minute deadline.
    pub fn new(base: Uri, key: ApiKey) -> EngineConfig {
        let base = normalize_base(base);
        EngineConfig {
            key_policy: KeyPolicy::for_base(&base),
            base,
            key,
            deadline: Duration::from_secs(600),
            retry: RetryPolicy::default(),
            budget: Arc::new(RetryBudget::default()),
            not_found_grace: DEFAULT_NOT_FOUND_GRACE,
            max_polls: 2_000,
            result_url_lifetime: crate::api::RESULT_URL_LIFETIME,
        }
    }
}

/// Drops a trailing `/` and `/v1` so `https://api.bfl.ai/v1` and `https://api.bfl.ai` mean the same.
fn normalize_base(base: Uri) -> Uri {
    let s = base.to_string();
    let trimmed = s.trim_end_matches('/');
    let trimmed = trimmed.strip_suffix("/v1").unwrap_or(trimmed);
    trimmed.parse().unwrap_or(base)
}
