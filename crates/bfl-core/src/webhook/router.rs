//! Routes verified deliveries to the tasks waiting for them: one entry per submitted task (its
//! secret and a wake slot), removed when the task's [`HintInbox`] is dropped.
//!
//! [`WebhookRouter::handle`] is the framework-agnostic handler: any HTTP server hands it the
//! request's headers and raw body, answers 2xx at once whatever it returns, and is done.

use super::payload::WebhookPayload;
use super::secret::WebhookSecret;
use super::verify::verify;
use super::Hint;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};

/// What became of one delivery. Every variant is answered 2xx by a receiver (a sender that
/// retries on errors gains nothing from learning which check failed).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Delivery {
    /// Verified, first of its task, claims a terminal status: the task will confirm with a poll.
    Accepted {
        /// The task.
        task_id: String,
    },
    /// Verified, but its task already had one.
    Duplicate,
    /// Verified, but claims a status that is not terminal (nothing to do).
    NotTerminal,
    /// No waiting task has that id (finished already, never ours, or a guess).
    UnknownTask,
    /// The secret or signature is wrong or missing.
    Forged,
    /// The body is not a delivery.
    Malformed,
}

/// Counts of every [`Delivery`] kind since the router was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct WebhookCounters {
    /// [`Delivery::Accepted`].
    pub accepted: u64,
    /// [`Delivery::Duplicate`].
    pub duplicate: u64,
    /// [`Delivery::NotTerminal`].
    pub not_terminal: u64,
    /// [`Delivery::UnknownTask`].
    pub unknown_task: u64,
    /// [`Delivery::Forged`].
    pub forged: u64,
    /// [`Delivery::Malformed`].
    pub malformed: u64,
}

/// Shared by a client (which registers its tasks) and a receiver (which hands it deliveries).
/// Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct WebhookRouter {
    inner: Arc<RouterInner>,
}

#[derive(Debug, Default)]
struct RouterInner {
    waiting: Mutex<HashMap<String, Entry>>,
    counts: [AtomicU64; 6],
}

#[derive(Debug)]
struct Entry {
    secret: WebhookSecret,
    slot: Arc<HintSlot>,
    delivered: bool,
}

impl WebhookRouter {
    /// An empty router.
    pub fn new() -> WebhookRouter {
        WebhookRouter::default()
    }

    /// An inbox for a task about to be submitted with `secret`; it starts receiving once
    /// [`HintInbox::bind`] names the task's id, and stops when dropped.
    pub fn expect(&self, secret: WebhookSecret) -> HintInbox {
        HintInbox {
            router: Arc::downgrade(&self.inner),
            slot: Arc::new(HintSlot::default()),
            secret,
            bound: None,
        }
    }

    /// Handles one delivery: parse, find the task, verify, dedupe, wake it.
    pub fn handle(&self, headers: &http::HeaderMap, body: &[u8]) -> Delivery {
        let outcome = self.classify(headers, body);
        let i = match outcome {
            Delivery::Accepted { .. } => 0,
            Delivery::Duplicate => 1,
            Delivery::NotTerminal => 2,
            Delivery::UnknownTask => 3,
            Delivery::Forged => 4,
            Delivery::Malformed => 5,
        };
        self.inner.counts[i].fetch_add(1, Ordering::Relaxed);
        outcome
    }

    fn classify(&self, headers: &http::HeaderMap, body: &[u8]) -> Delivery {
        let Ok(payload) = WebhookPayload::parse(body) else {
            return Delivery::Malformed;
        };
        let mut waiting = self.inner.lock();
        let Some(entry) = waiting.get_mut(&payload.task_id) else {
            return Delivery::UnknownTask;
        };
        if !verify(headers, body, &entry.secret) {
            return Delivery::Forged;
        }
        if entry.delivered {
            return Delivery::Duplicate;
        }
        if !payload.status.is_terminal() {
            return Delivery::NotTerminal;
        }
        entry.delivered = true;
        entry.slot.put(Hint {
            status: payload.status,
        });
        Delivery::Accepted {
            task_id: payload.task_id,
        }
    }

    /// The counts so far.
    pub fn counters(&self) -> WebhookCounters {
        let c = |i: usize| self.inner.counts[i].load(Ordering::Relaxed);
        WebhookCounters {
            accepted: c(0),
            duplicate: c(1),
            not_terminal: c(2),
            unknown_task: c(3),
            forged: c(4),
            malformed: c(5),
        }
    }

    /// Tasks currently waiting for a delivery.
    pub fn waiting(&self) -> usize {
        self.inner.lock().len()
    }
}

impl RouterInner {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One task's wake channel: holds at most one hint and the waker of the task waiting for it.
#[derive(Debug, Default)]
struct HintSlot {
    state: Mutex<(Option<Hint>, Option<Waker>)>,
}

impl HintSlot {
    fn put(&self, hint: Hint) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.0 = Some(hint);
        if let Some(w) = s.1.take() {
            w.wake();
        }
    }

    fn poll_take(&self, cx: &mut Context<'_>) -> Poll<Hint> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match s.0.take() {
            Some(h) => Poll::Ready(h),
            None => {
                s.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// The receiving end of one task's deliveries. Dropping it unregisters the task, so a late or
/// repeated delivery finds no one and is counted as [`Delivery::UnknownTask`].
#[derive(Debug)]
pub struct HintInbox {
    router: Weak<RouterInner>,
    slot: Arc<HintSlot>,
    secret: WebhookSecret,
    bound: Option<String>,
}

impl HintInbox {
    /// The secret the task is submitted with.
    pub fn secret(&self) -> &WebhookSecret {
        &self.secret
    }

    /// Starts receiving deliveries for `task_id` (once the submit named it). Idempotent.
    pub fn bind(&mut self, task_id: &str) {
        if self.bound.is_some() {
            return;
        }
        let Some(router) = self.router.upgrade() else {
            return;
        };
        let entry = Entry {
            secret: self.secret.clone(),
            slot: Arc::clone(&self.slot),
            delivered: false,
        };
        router.lock().insert(task_id.to_owned(), entry);
        self.bound = Some(task_id.to_owned());
    }

    /// Whether [`HintInbox::bind`] has named the task.
    pub fn is_bound(&self) -> bool {
        self.bound.is_some()
    }

    /// The next hint; pending until a delivery is accepted.
    pub async fn recv(&self) -> Hint {
        std::future::poll_fn(|cx| self.slot.poll_take(cx)).await
    }
}

impl Drop for HintInbox {
    fn drop(&mut self) {
        if let (Some(id), Some(router)) = (self.bound.take(), self.router.upgrade()) {
            router.lock().remove(&id);
        }
    }
}
