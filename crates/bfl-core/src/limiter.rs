//! The active-task limiter: at most `limit` tasks of a key between submit and a terminal status.
//!
//! BFL limits *active tasks* per key (24; 6 for `flux-kontext-max`), not request rate, so a slot
//! is held from the submit until the task is terminal. The limit adapts (AIMD), from what the
//! server says about the submits it has **accepted** (those are the tasks it counts):
//!
//! - **Growth** (only below the ceiling, and only while every slot holds an accepted task, so an
//!   idle client does not inflate its limit): one more slot — a *probe* — per accepted submit
//!   until the first 429 (slow start: a key whose limit is higher than configured is found one
//!   round trip per step), then one probe per `limit × probe_factor` accepted submits.
//! - **A 429 on a probe**: the limit goes back to the accepted tasks in flight, and the next
//!   probe waits twice as long (`probe_factor` doubles): an unknown limit costs a handful of
//!   429s per batch, not one per job.
//! - **A 429 on any other submit**: the server's limit dropped (or another client shares the
//!   key): the limit falls to ⅞ of the accepted tasks in flight. Submits that were already on
//!   their way when the limit fell carry no news, so their 429s do not lower it again (one
//!   decrease per round, as TCP does), and a drop is found in a few 429s.
//!
//! Started at a limit the server documents (the default), it never exceeds it: zero 429s.
//! Runtime-agnostic: waiting is a plain `Future` woken by releases, served first come first served.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

const MAX_PROBE_FACTOR: usize = 64;

/// What a slot knows of the moment it was handed out.
#[derive(Debug, Clone, Copy)]
struct Ticket {
    /// The limiter's decrease count then: a 429 from an older ticket is old news.
    epoch: u64,
    /// Whether the slot is the one a growth step opened.
    probe: bool,
}

#[derive(Debug)]
struct Waiter {
    granted: Option<Ticket>,
    waker: Option<Waker>,
}

#[derive(Debug)]
struct State {
    limit: usize,
    ceiling: usize,
    active: usize,
    accepted_active: usize,
    accepted_since_change: usize,
    probe_factor: usize,
    probe_pending: bool,
    seen_429: bool,
    epoch: u64,
    queue: VecDeque<Arc<Mutex<Waiter>>>,
    rate_limited_total: u64,
}

impl State {
    /// Takes a free slot.
    fn issue(&mut self) -> Ticket {
        self.active += 1;
        let probe = std::mem::take(&mut self.probe_pending);
        Ticket {
            epoch: self.epoch,
            probe,
        }
    }
}

/// Figures about a limiter (what its tests read).
#[cfg(test)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LimiterStats {
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
pub(crate) struct ActiveLimiter {
    state: Mutex<State>,
}

impl ActiveLimiter {
    /// A limiter that starts at `limit` and never grows above it.
    pub(crate) fn new(limit: usize) -> Arc<ActiveLimiter> {
        ActiveLimiter::with_ceiling(limit, limit)
    }

    /// A limiter that starts at `start` and may probe up to `ceiling`.
    pub(crate) fn with_ceiling(start: usize, ceiling: usize) -> Arc<ActiveLimiter> {
        let start = start.max(1);
        Arc::new(ActiveLimiter {
            state: Mutex::new(State {
                limit: start,
                ceiling: ceiling.max(start),
                active: 0,
                accepted_active: 0,
                accepted_since_change: 0,
                probe_factor: 1,
                probe_pending: false,
                seen_429: false,
                epoch: 0,
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
    pub(crate) fn acquire(self: &Arc<Self>) -> Acquire {
        Acquire {
            limiter: Arc::clone(self),
            waiter: None,
        }
    }

    /// Takes a slot if one is free now.
    #[cfg(test)]
    pub(crate) fn try_acquire(self: &Arc<Self>) -> Option<Slot> {
        let mut s = self.lock();
        if s.queue.is_empty() && s.active < s.limit {
            let ticket = s.issue();
            Some(Slot::new(self, ticket))
        } else {
            None
        }
    }

    /// Whether tasks are waiting for a slot.
    pub(crate) fn has_waiters(&self) -> bool {
        !self.lock().queue.is_empty()
    }

    /// Current figures.
    #[cfg(test)]
    pub(crate) fn stats(&self) -> LimiterStats {
        let s = self.lock();
        LimiterStats {
            limit: s.limit,
            active: s.active,
            waiting: s.queue.len(),
            rate_limited: s.rate_limited_total,
        }
    }

    fn release(&self, accepted: bool) {
        let mut s = self.lock();
        s.active = s.active.saturating_sub(1);
        if accepted {
            s.accepted_active = s.accepted_active.saturating_sub(1);
        }
        Self::grant(&mut s);
    }

    /// Hands free slots to waiters, first come first served.
    fn grant(s: &mut State) {
        while s.active < s.limit {
            let Some(w) = s.queue.pop_front() else { break };
            let ticket = s.issue();
            let mut w = w.lock().unwrap_or_else(|p| p.into_inner());
            w.granted = Some(ticket);
            if let Some(waker) = w.waker.take() {
                waker.wake();
            }
        }
    }

    fn on_accepted(&self) {
        let mut s = self.lock();
        s.accepted_active += 1;
        s.accepted_since_change += 1;
        let window = if s.seen_429 {
            s.limit * s.probe_factor
        } else {
            1
        };
        let saturated = s.accepted_active >= s.limit;
        if s.limit < s.ceiling && saturated && s.accepted_since_change >= window {
            s.limit += 1;
            s.accepted_since_change = 0;
            s.probe_pending = true;
            Self::grant(&mut s);
        }
    }

    fn on_rate_limited(&self, ticket: Ticket) {
        let mut s = self.lock();
        s.rate_limited_total += 1;
        s.accepted_since_change = 0;
        s.probe_pending = false;
        if ticket.probe {
            s.limit = s.limit.min(s.accepted_active.max(1));
            if s.seen_429 {
                s.probe_factor = (s.probe_factor * 2).min(MAX_PROBE_FACTOR);
            }
        } else if ticket.epoch == s.epoch {
            s.limit = (s.limit.min(s.accepted_active) * 7 / 8).max(1);
            s.epoch += 1;
        }
        s.seen_429 = true;
    }
}

/// A held slot; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct Slot {
    limiter: Arc<ActiveLimiter>,
    ticket: Ticket,
    accepted: AtomicBool,
}

impl Slot {
    fn new(limiter: &Arc<ActiveLimiter>, ticket: Ticket) -> Slot {
        Slot {
            limiter: Arc::clone(limiter),
            ticket,
            accepted: AtomicBool::new(false),
        }
    }

    /// The server accepted the submit made under this slot.
    pub(crate) fn accepted(&self) {
        if !self.accepted.swap(true, Ordering::AcqRel) {
            self.limiter.on_accepted();
        }
    }

    /// The submit made under this slot got a 429: the limit shrinks and the slot is freed.
    pub(crate) fn rate_limited(self) {
        self.limiter.on_rate_limited(self.ticket);
        drop(self);
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.limiter.release(*self.accepted.get_mut());
    }
}

/// The future of [`ActiveLimiter::acquire`].
#[derive(Debug)]
pub(crate) struct Acquire {
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
            if let Some(ticket) = w.granted {
                drop(w);
                self.waiter = None;
                return Poll::Ready(Slot::new(&limiter, ticket));
            }
            w.waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        if s.queue.is_empty() && s.active < s.limit {
            let ticket = s.issue();
            return Poll::Ready(Slot::new(&limiter, ticket));
        }
        let w = Arc::new(Mutex::new(Waiter {
            granted: None,
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
        let granted = w.lock().map(|w| w.granted.is_some()).unwrap_or(true);
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

    /// Takes `n` slots and has each submit accepted.
    fn accepted_slots(l: &Arc<ActiveLimiter>, n: usize) -> Vec<Slot> {
        let slots: Vec<Slot> = (0..n).map(|_| l.try_acquire().unwrap()).collect();
        slots.iter().for_each(Slot::accepted);
        slots
    }

    #[test]
    fn slow_start_opens_one_probe_per_accepted_probe_and_only_when_saturated() {
        let l = ActiveLimiter::with_ceiling(4, 6);
        let mut held = accepted_slots(&l, 3);
        assert_eq!(l.stats().limit, 4, "not saturated: no growth");
        held.extend(accepted_slots(&l, 1));
        assert_eq!(l.stats().limit, 5, "saturated and accepted: one probe");
        held.extend(accepted_slots(&l, 1));
        assert_eq!(l.stats().limit, 6);
        held.extend(accepted_slots(&l, 1));
        assert_eq!(l.stats().limit, 6, "never above the ceiling");
        assert_eq!(l.stats().rate_limited, 0);
    }

    #[test]
    fn a_failed_probe_restores_the_limit_and_the_next_probe_waits_longer() {
        let l = ActiveLimiter::with_ceiling(4, 8);
        let held = accepted_slots(&l, 4);
        assert_eq!(l.stats().limit, 5);
        l.try_acquire().unwrap().rate_limited();
        assert_eq!(l.stats().limit, 4, "back to the 4 accepted tasks");
        // After a 429, one probe per limit × probe_factor accepted submits.
        let more: Vec<Slot> = held
            .into_iter()
            .map(|s| {
                drop(s);
                let t = l.try_acquire().unwrap();
                t.accepted();
                t
            })
            .collect();
        assert_eq!(l.stats().limit, 5, "4 accepted submits: probe again");
        l.try_acquire().unwrap().rate_limited();
        assert_eq!(l.stats().limit, 4);
        let mut held = more;
        for round in 1..=8 {
            let s = held.remove(0);
            drop(s);
            held.extend(accepted_slots(&l, 1));
            let expected = if round < 8 { 4 } else { 5 };
            assert_eq!(
                l.stats().limit,
                expected,
                "round {round}: twice as long after a failed probe"
            );
        }
    }

    #[test]
    fn a_429_on_a_regular_submit_cuts_to_seven_eighths_once_per_round() {
        let l = ActiveLimiter::new(24);
        let held = accepted_slots(&l, 20);
        let in_flight: Vec<Slot> = (0..4).map(|_| l.try_acquire().unwrap()).collect();
        // The server's limit fell: the 4 submits in flight all come back 429.
        for s in in_flight {
            s.rate_limited();
        }
        assert_eq!(
            l.stats().limit,
            17,
            "⅞ of the 20 accepted, once for the whole round"
        );
        assert_eq!(l.stats().rate_limited, 4);
        drop(held);
        let next = l.try_acquire().unwrap();
        next.rate_limited();
        assert_eq!(
            l.stats().limit,
            1,
            "a 429 with nothing accepted in flight: down to one"
        );
    }

    #[test]
    fn a_known_limit_is_never_exceeded() {
        let known = ActiveLimiter::new(24);
        let held = accepted_slots(&known, 24);
        assert!(known.try_acquire().is_none());
        for _ in 0..10_000 {
            held[0].limiter.on_accepted();
        }
        assert_eq!(known.stats().limit, 24);
    }
}
