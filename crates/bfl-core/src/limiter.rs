//! The active-task limiter: at most `limit` tasks of a key between submit and a terminal status.
//!
//! BFL limits *active tasks* per key (24; 6 for `flux-kontext-max`), not request rate, so a slot
//! is held from the submit until the task is terminal. The limit adapts (AIMD):
//!
//! - a 429 on submit means the server's limit is at most the number of other tasks in flight:
//!   the first 429 lowers the limit to that number; further 429s without an accepted submit in
//!   between halve it (a limit that dropped a lot is found in O(log) 429s);
//! - accepted submits grow it back by one after `limit × probe_factor` of them, never above the
//!   ceiling; each failed probe doubles `probe_factor`, so an unknown limit costs a handful of
//!   429s per batch, not one per job.
//!
//! Started at a limit the server documents (the default), it never exceeds it: zero 429s.
//! Runtime-agnostic: waiting is a plain `Future` woken by releases, served first come first served.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

const MAX_PROBE_FACTOR: usize = 64;

#[derive(Debug)]
struct Waiter {
    granted: bool,
    waker: Option<Waker>,
}

#[derive(Debug)]
struct State {
    limit: usize,
    ceiling: usize,
    active: usize,
    accepted_since_change: usize,
    probe_factor: usize,
    consecutive_429: u32,
    queue: VecDeque<Arc<Mutex<Waiter>>>,
    rate_limited_total: u64,
}

/// Figures about a limiter, for reports and progress bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimiterStats {
    /// The current limit.
    pub limit: usize,
    /// Slots held now.
    pub active: usize,
    /// Tasks waiting for a slot.
    pub waiting: usize,
    /// 429s reported so far.
    pub rate_limited: u64,
}

/// Shared by every task of a client (clone the `Arc`).
#[derive(Debug)]
pub struct ActiveLimiter {
    state: Mutex<State>,
}

impl ActiveLimiter {
    /// A limiter that starts at `limit` and never grows above it.
    pub fn new(limit: usize) -> Arc<ActiveLimiter> {
        ActiveLimiter::with_ceiling(limit, limit)
    }

    /// A limiter that starts at `start` and may probe up to `ceiling`.
    pub fn with_ceiling(start: usize, ceiling: usize) -> Arc<ActiveLimiter> {
        let start = start.max(1);
        Arc::new(ActiveLimiter {
            state: Mutex::new(State {
                limit: start,
                ceiling: ceiling.max(start),
                active: 0,
                accepted_since_change: 0,
                probe_factor: 1,
                consecutive_429: 0,
                queue: VecDeque::new(),
                rate_limited_total: 0,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means another thread panicked mid-update of plain counters.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for a slot.
    pub fn acquire(self: &Arc<Self>) -> Acquire {
        Acquire {
            limiter: Arc::clone(self),
            waiter: None,
        }
    }

    /// Takes a slot if one is free now.
    pub fn try_acquire(self: &Arc<Self>) -> Option<Slot> {
        let mut s = self.lock();
        if s.queue.is_empty() && s.active < s.limit {
            s.active += 1;
            Some(Slot {
                limiter: Arc::clone(self),
            })
        } else {
            None
        }
    }

    /// Current figures.
    pub fn stats(&self) -> LimiterStats {
        let s = self.lock();
        LimiterStats {
            limit: s.limit,
            active: s.active,
            waiting: s.queue.len(),
            rate_limited: s.rate_limited_total,
        }
    }

    fn release(&self) {
        let mut s = self.lock();
        s.active = s.active.saturating_sub(1);
        Self::grant(&mut s);
    }

    /// Hands free slots to waiters, first come first served.
    fn grant(s: &mut State) {
        while s.active < s.limit {
            let Some(w) = s.queue.pop_front() else { break };
            let mut w = w.lock().unwrap_or_else(|p| p.into_inner());
            w.granted = true;
            s.active += 1;
            if let Some(waker) = w.waker.take() {
                waker.wake();
            }
        }
    }

    fn on_accepted(&self) {
        let mut s = self.lock();
        s.consecutive_429 = 0;
        s.accepted_since_change += 1;
        if s.limit < s.ceiling && s.accepted_since_change >= s.limit * s.probe_factor {
            s.limit += 1;
            s.accepted_since_change = 0;
            Self::grant(&mut s);
        }
    }

    fn on_rate_limited(&self) {
        let mut s = self.lock();
        s.rate_limited_total += 1;
        s.consecutive_429 += 1;
        // The caller's slot is still counted: the others are `active - 1`.
        let others = s.active.saturating_sub(1).max(1);
        s.limit = if s.consecutive_429 == 1 {
            s.limit.min(others)
        } else {
            (others / 2).max(1).min(s.limit)
        };
        s.accepted_since_change = 0;
        s.probe_factor = (s.probe_factor * 2).min(MAX_PROBE_FACTOR);
    }
}

/// A held slot; dropping it frees the slot.
#[derive(Debug)]
pub struct Slot {
    limiter: Arc<ActiveLimiter>,
}

impl Slot {
    /// The server accepted the submit made under this slot.
    pub fn accepted(&self) {
        self.limiter.on_accepted();
    }

    /// The submit made under this slot got a 429: the limit shrinks and the slot is freed.
    pub fn rate_limited(self) {
        self.limiter.on_rate_limited();
        drop(self);
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.limiter.release();
    }
}

/// The future of [`ActiveLimiter::acquire`].
#[derive(Debug)]
pub struct Acquire {
    limiter: Arc<ActiveLimiter>,
    waiter: Option<Arc<Mutex<Waiter>>>,
}

impl Future for Acquire {
    type Output = Slot;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Slot> {
        let limiter = Arc::clone(&self.limiter);
        let mut s = limiter.lock();
        if let Some(w) = &self.waiter {
            let mut w = w.lock().unwrap_or_else(|p| p.into_inner());
            if w.granted {
                drop(w);
                self.waiter = None;
                return Poll::Ready(Slot {
                    limiter: Arc::clone(&limiter),
                });
            }
            w.waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        if s.queue.is_empty() && s.active < s.limit {
            s.active += 1;
            return Poll::Ready(Slot {
                limiter: Arc::clone(&limiter),
            });
        }
        let w = Arc::new(Mutex::new(Waiter {
            granted: false,
            waker: Some(cx.waker().clone()),
        }));
        s.queue.push_back(Arc::clone(&w));
        drop(s);
        self.waiter = Some(w);
        Poll::Pending
    }
}

impl Drop for Acquire {
    fn drop(&mut self) {
        let Some(w) = self.waiter.take() else { return };
        let mut s = self.limiter.lock();
        let granted = w.lock().map(|w| w.granted).unwrap_or(true);
        if granted {
            // Granted but never taken: pass the slot on.
            s.active = s.active.saturating_sub(1);
            ActiveLimiter::grant(&mut s);
        } else {
            s.queue.retain(|q| !Arc::ptr_eq(q, &w));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Wake;

    struct Flag(std::sync::atomic::AtomicBool);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    fn poll_once(f: &mut Acquire) -> (Poll<Slot>, Arc<Flag>) {
        let flag = Arc::new(Flag(false.into()));
        let waker = Waker::from(Arc::clone(&flag));
        let mut cx = Context::from_waker(&waker);
        (Pin::new(f).poll(&mut cx), flag)
    }

    #[test]
    fn never_exceeds_the_limit_and_serves_waiters_in_order() {
        let l = ActiveLimiter::new(2);
        let a = l.try_acquire().unwrap();
        let _b = l.try_acquire().unwrap();
        assert!(l.try_acquire().is_none());
        let mut first = l.acquire();
        let mut second = l.acquire();
        assert!(poll_once(&mut first).0.is_pending());
        assert!(poll_once(&mut second).0.is_pending());
        assert_eq!(l.stats().waiting, 2);
        drop(a);
        assert_eq!(
            l.stats().active,
            2,
            "the freed slot went straight to the first waiter"
        );
        let (p, _) = poll_once(&mut first);
        assert!(p.is_ready());
        assert!(poll_once(&mut second).0.is_pending());
    }

    #[test]
    fn a_dropped_waiter_passes_its_grant_on() {
        let l = ActiveLimiter::new(1);
        let a = l.try_acquire().unwrap();
        let mut first = l.acquire();
        let mut second = l.acquire();
        assert!(poll_once(&mut first).0.is_pending());
        let (_, woke_second) = poll_once(&mut second);
        drop(a);
        drop(first);
        assert!(woke_second.0.load(std::sync::atomic::Ordering::SeqCst));
        assert!(poll_once(&mut second).0.is_ready());
    }

    #[test]
    fn a_429_lowers_the_limit_to_the_others_in_flight_then_halves() {
        let l = ActiveLimiter::with_ceiling(32, 32);
        let slots: Vec<_> = (0..25).map(|_| l.try_acquire().unwrap()).collect();
        let mut slots = slots.into_iter();
        slots.next().unwrap().rate_limited();
        assert_eq!(l.stats().limit, 24);
        slots.next().unwrap().rate_limited();
        assert_eq!(l.stats().limit, 11, "a second 429 in a row halves");
        assert_eq!(l.stats().rate_limited, 2);
    }

    #[test]
    fn accepted_submits_probe_upward_ever_more_rarely() {
        let l = ActiveLimiter::with_ceiling(4, 8);
        let s = l.try_acquire().unwrap();
        for _ in 0..4 {
            s.accepted();
        }
        assert_eq!(
            l.stats().limit,
            5,
            "at the ceiling or below, one probe per window"
        );
        let mut extra: Vec<_> = (0..4).map(|_| l.try_acquire().unwrap()).collect();
        assert!(l.try_acquire().is_none());
        extra.pop().unwrap().rate_limited();
        assert_eq!(
            l.stats().limit,
            4,
            "the probe failed: back to the 4 others in flight"
        );
        for _ in 0..7 {
            s.accepted();
        }
        assert_eq!(
            l.stats().limit,
            4,
            "after a failed probe the next waits twice as long"
        );
        s.accepted();
        assert_eq!(l.stats().limit, 5);
        let known = ActiveLimiter::new(24);
        let s = known.try_acquire().unwrap();
        for _ in 0..10_000 {
            s.accepted();
        }
        assert_eq!(known.stats().limit, 24, "a known limit is never exceeded");
    }
}
