//! The request budget: a cap on the requests per second a client sends with its key, shared by
//! all its tasks (not the retry budget of [`crate::machine::retry`], which caps retries).
//!
//! BFL documents no polling rate limit, but a key is one account: a client that polls 24 tasks
//! every 100 ms sends 240 requests a second for at most 24 useful answers. A budget spaces the
//! key's requests to at most `per_second` (plus a `burst` after a quiet spell: at most
//! `per_second + burst − 1` in any one-second window `[t, t + 1 s)`), and when requests queue
//! for it, it spends the next grant where it is most likely worth something:
//!
//! - a submit (and a credits call) is certainly useful — it fills the slot a finished task
//!   freed — so it goes ahead of the polls ([`BudgetConfig::head_start`], 10 s by default);
//! - polls go in the order they fell due: the one most overdue by its strategy first, since a
//!   poll gains worth while it waits. (Serving older *tasks* first was measured on S2 and lost
//!   on makespan and lag: a task polled a moment ago is unlikely to have finished since, however
//!   old it is.)
//!
//! A head start is a place in the line: a request joins it as if it had asked that much
//! earlier. So no request starves: one asked at `t` is overtaken only by requests asked before
//! `t + head_start`, and waits at most `head_start` plus the time to grant the requests already
//! waiting then (each task has at most one). The budget only ever delays a request, never drops
//! one, so a paid task is polled and downloaded however tight the budget: its lag grows, nothing
//! is lost — as long as the budget affords each active task a request well within its deadline
//! (24 tasks at 0.1 a second: one each per 240 s). Downloads from the delivery host carry no
//! key and do not count (nor wait: their URL expires).
//!
//! Runtime-agnostic: time comes from the client's [`Runtime`], waiting is a plain `Future`.
//! [`Budgeted`] applies a budget to any [`Transport`](crate::transport::Transport);
//! `ClientBuilder::request_budget` does it for a client.

mod line;
mod transport;

pub use transport::{precedence_of, Budgeted};

use crate::rt::Runtime;
use line::{Line, Place, Turn};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// The default head start of a submit over polls.
pub const DEFAULT_HEAD_START: Duration = Duration::from_secs(10);

/// The settings of a [`RequestBudget`].
///
/// ```
/// use bfl_core::budget::BudgetConfig;
/// let c = BudgetConfig::per_second(48.0).burst(4);
/// assert_eq!(c.most_in_one_second(), 51);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BudgetConfig {
    per_second: f64,
    burst: u32,
    head_start: Duration,
}

impl BudgetConfig {
    /// At most `per_second` requests a second, one at a time (burst 1).
    pub fn per_second(per_second: f64) -> BudgetConfig {
        BudgetConfig {
            per_second,
            burst: 1,
            head_start: DEFAULT_HEAD_START,
        }
    }

    /// How many requests may go at once after a quiet spell (default 1).
    pub fn burst(mut self, burst: u32) -> BudgetConfig {
        self.burst = burst;
        self
    }

    /// How far ahead of polls a submit goes (default 10 s): it joins the line as if it had
    /// asked this much earlier. Zero serves every request first come first served.
    pub fn head_start(mut self, head_start: Duration) -> BudgetConfig {
        self.head_start = head_start;
        self
    }

    /// The rate.
    pub fn rate(&self) -> f64 {
        self.per_second
    }

    /// The burst.
    pub fn burst_size(&self) -> u32 {
        self.burst
    }

    /// The head start of a submit.
    pub fn head_start_of_submits(&self) -> Duration {
        self.head_start
    }

    /// The most requests the budget lets out in any window of one second.
    pub fn most_in_one_second(&self) -> u64 {
        (self.per_second.ceil() as u64).saturating_add(u64::from(self.burst)) - 1
    }

    /// The time between two grants at the budget's pace (rounded up to the nanosecond, so that
    /// a second never holds one grant too many).
    fn interval(&self) -> Result<Duration, InvalidBudget> {
        let ok = self.per_second.is_finite() && (MIN_RATE..=MAX_RATE).contains(&self.per_second);
        if !ok {
            return Err(InvalidBudget(format!(
                "{} requests per second: expected a number from {MIN_RATE} to {MAX_RATE}",
                self.per_second
            )));
        }
        if self.burst == 0 {
            return Err(InvalidBudget("a burst of 0: expected at least 1".into()));
        }
        Ok(Duration::from_nanos((1e9 / self.per_second).ceil() as u64))
    }
}

impl From<f64> for BudgetConfig {
    fn from(per_second: f64) -> BudgetConfig {
        BudgetConfig::per_second(per_second)
    }
}

const MIN_RATE: f64 = 0.001;
const MAX_RATE: f64 = 1e9;

/// A budget that cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid request budget: {0}")]
pub struct InvalidBudget(String);

/// What a budget has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BudgetStats {
    /// Requests granted.
    pub granted: u64,
    /// Of those, the ones that had to wait.
    pub held_back: u64,
    /// Their waits added up.
    pub total_wait: Duration,
    /// The longest wait.
    pub longest_wait: Duration,
    /// Requests waiting now.
    pub waiting: usize,
}

#[derive(Debug)]
struct Shared {
    line: Line,
    stats: BudgetStats,
}

/// A cap on requests per second, shared (as `Arc`) by every task that sends with one key.
#[derive(Debug)]
pub struct RequestBudget {
    config: BudgetConfig,
    shared: Mutex<Shared>,
}

impl RequestBudget {
    /// A budget with `config`.
    pub fn new(config: BudgetConfig) -> Result<RequestBudget, InvalidBudget> {
        let interval = config.interval()?;
        Ok(RequestBudget {
            config,
            shared: Mutex::new(Shared {
                line: Line::new(interval, config.burst),
                stats: BudgetStats::default(),
            }),
        })
    }

    /// Its settings.
    pub fn config(&self) -> &BudgetConfig {
        &self.config
    }

    /// What it has done so far.
    pub fn stats(&self) -> BudgetStats {
        let s = self.lock();
        BudgetStats {
            waiting: s.line.len(),
            ..s.stats
        }
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        // A poisoned lock only means another thread panicked between two plain updates.
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for the right to send one request, with `precedence` (a head start in the line,
    /// capped at [`BudgetConfig::head_start`]); returns how long it waited.
    pub async fn acquire(&self, runtime: &dyn Runtime, precedence: Duration) -> Duration {
        let asked = runtime.now();
        let head_start = precedence.min(self.config.head_start);
        let place = {
            let mut s = self.lock();
            if s.line.try_now(asked) {
                s.stats.granted += 1;
                return Duration::ZERO;
            }
            s.line.join(asked.checked_sub(head_start).unwrap_or(asked))
        };
        let ticket = Ticket {
            budget: self,
            place,
        };
        loop {
            let now = runtime.now();
            let turn = self.lock().line.turn(now, ticket.place);
            match turn {
                Turn::Go => {
                    std::mem::forget(ticket); // it left the line with its grant
                    let waited = now.saturating_duration_since(asked);
                    self.granted_after(waited);
                    return waited;
                }
                Turn::SleepUntil(at) => runtime.sleep_until(at).await,
                Turn::Behind => {
                    std::future::poll_fn(|cx| {
                        if self.lock().line.take_woken(ticket.place, cx.waker()) {
                            std::task::Poll::Ready(())
                        } else {
                            std::task::Poll::Pending
                        }
                    })
                    .await
                }
            }
        }
    }

    fn granted_after(&self, waited: Duration) {
        let mut s = self.lock();
        s.stats.granted += 1;
        if !waited.is_zero() {
            s.stats.held_back += 1;
            s.stats.total_wait += waited;
            s.stats.longest_wait = s.stats.longest_wait.max(waited);
        }
    }
}

/// A place in the line, given up if its request is dropped while waiting.
struct Ticket<'a> {
    budget: &'a RequestBudget,
    place: Place,
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        self.budget.lock().line.leave(self.place);
    }
}
