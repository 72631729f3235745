//! Per-key accounts: the active tasks of each limit class (until they end) and credits spent.
//!
//! A submit holds its estimated cost at once, so parallel submits can never spend more than
//! the balance; when the task ends the hold is released and its settled charge (the estimate
//! for `Ready`, nothing otherwise) is spent.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct At(pub(crate) f64);
impl Eq for At {}
impl PartialOrd for At {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for At {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// A task holding an active slot until `end`, the credits it holds until then, and what it
/// charges then (milli-credits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Active {
    pub(crate) end: At,
    pub(crate) held_milli: u64,
    pub(crate) charge_milli: u64,
}

/// Credits as whole milli-credits, so holds and releases add up exactly.
pub(crate) fn milli(credits: f64) -> u64 {
    (credits * 1000.0).round().max(0.0) as u64
}

#[derive(Debug, Default)]
pub(crate) struct KeyState {
    /// Settled charges.
    pub(crate) spent_milli: u64,
    /// Estimates held by tasks not yet ended.
    pub(crate) held_milli: u64,
    pub(crate) pools: HashMap<String, BinaryHeap<Reverse<Active>>>,
}

impl KeyState {
    /// What is spent or held, in credits.
    pub(crate) fn committed(&self) -> f64 {
        (self.spent_milli + self.held_milli) as f64 / 1000.0
    }

    /// Ends every task finished by `now`, charging the `Ready` ones.
    pub(crate) fn settle(&mut self, now: f64) {
        for pool in self.pools.values_mut() {
            while let Some(Reverse(a)) = pool.peek() {
                if a.end.0 > now {
                    break;
                }
                self.spent_milli += a.charge_milli;
                self.held_milli = self.held_milli.saturating_sub(a.held_milli);
                pool.pop();
            }
        }
    }
}
