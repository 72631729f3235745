//! Per-key accounts: the active tasks of each limit class (until they end) and credits spent.

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

/// A task holding an active slot until `end`, and what it charges then.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Active {
    pub(crate) end: At,
    pub(crate) charge_milli: u64,
}

#[derive(Debug, Default)]
pub(crate) struct KeyState {
    pub(crate) spent: f64,
    pub(crate) pools: HashMap<String, BinaryHeap<Reverse<Active>>>,
}

impl KeyState {
    /// Ends every task finished by `now`, charging the `Ready` ones.
    pub(crate) fn settle(&mut self, now: f64) {
        for pool in self.pools.values_mut() {
            while let Some(Reverse(a)) = pool.peek() {
                if a.end.0 > now {
                    break;
                }
                self.spent += a.charge_milli as f64 / 1000.0;
                pool.pop();
            }
        }
    }
}
