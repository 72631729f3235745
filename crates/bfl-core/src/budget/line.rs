//! The budget's bookkeeping, with no clock and no waiting: a pacer that spaces grants (the
//! generic cell rate algorithm, exact in `Instant` arithmetic) and the line of requests waiting
//! for one, in precedence order.

use std::collections::BTreeMap;
use std::task::Waker;
use std::time::{Duration, Instant};

/// A request's place in the line: earlier `key` first, then first come first served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Place {
    key: Instant,
    seq: u64,
}

#[derive(Debug, Default)]
struct Waiting {
    /// Set when the request reached the head of the line; cleared when it looks.
    woken: bool,
    waker: Option<Waker>,
}

/// What a request in the line may do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Turn {
    /// It was granted and left the line.
    Go,
    /// It heads the line: the next grant is due then.
    SleepUntil(Instant),
    /// Others go first: wait to be woken at the head.
    Behind,
}

/// Grants at most one request per `interval`, `burst` at once after a quiet spell.
#[derive(Debug)]
pub(super) struct Line {
    interval: Duration,
    /// How far ahead of the pace a grant may be: `(burst − 1) × interval`.
    tolerance: Duration,
    /// The theoretical arrival time: when the next grant would be due at the exact pace.
    tat: Option<Instant>,
    waiting: BTreeMap<Place, Waiting>,
    seq: u64,
}

impl Line {
    pub(super) fn new(interval: Duration, burst: u32) -> Line {
        Line {
            interval,
            tolerance: interval.saturating_mul(burst.saturating_sub(1)),
            tat: None,
            waiting: BTreeMap::new(),
            seq: 0,
        }
    }

    /// The earliest moment the next grant may be made (`None`: any time).
    fn ready_at(&self) -> Option<Instant> {
        self.tat.and_then(|tat| tat.checked_sub(self.tolerance))
    }

    fn conforms(&self, now: Instant) -> bool {
        self.ready_at().is_none_or(|at| now >= at)
    }

    fn spend(&mut self, now: Instant) {
        let base = self.tat.map_or(now, |tat| tat.max(now));
        self.tat = Some(base + self.interval);
    }

    /// Grants at once if nobody waits and the pace allows it.
    pub(super) fn try_now(&mut self, now: Instant) -> bool {
        let go = self.waiting.is_empty() && self.conforms(now);
        if go {
            self.spend(now);
        }
        go
    }

    /// Joins the line with precedence `key` (earlier goes first).
    pub(super) fn join(&mut self, key: Instant) -> Place {
        self.seq += 1;
        let place = Place { key, seq: self.seq };
        self.waiting.insert(place, Waiting::default());
        place
    }

    /// Whether `place` may go now (it then leaves the line), or how it must wait.
    pub(super) fn turn(&mut self, now: Instant, place: Place) -> Turn {
        if let Some(w) = self.waiting.get_mut(&place) {
            w.woken = false;
        }
        if self.waiting.first_key_value().map(|(p, _)| *p) != Some(place) {
            return Turn::Behind;
        }
        match self.ready_at() {
            Some(at) if now < at => Turn::SleepUntil(at),
            _ => {
                self.spend(now);
                self.leave(place);
                Turn::Go
            }
        }
    }

    /// Leaves the line (granted, or given up); the new head, if the head left, is woken.
    pub(super) fn leave(&mut self, place: Place) {
        let was_head = self.waiting.first_key_value().map(|(p, _)| *p) == Some(place);
        self.waiting.remove(&place);
        if was_head {
            if let Some((_, head)) = self.waiting.iter_mut().next() {
                head.woken = true;
                if let Some(waker) = head.waker.take() {
                    waker.wake();
                }
            }
        }
    }

    /// Whether `place` was woken since it last looked; if not, `waker` is kept to wake it.
    pub(super) fn take_woken(&mut self, place: Place, waker: &Waker) -> bool {
        match self.waiting.get_mut(&place) {
            Some(w) if !w.woken => {
                w.waker = Some(waker.clone());
                false
            }
            Some(w) => {
                w.woken = false;
                true
            }
            None => true,
        }
    }

    /// Requests in the line.
    pub(super) fn len(&self) -> usize {
        self.waiting.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::disallowed_methods)] // an arbitrary origin; time then moves only by hand
    fn origin() -> Instant {
        Instant::now()
    }

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn grants_are_spaced_by_the_interval_and_a_quiet_spell_allows_the_burst() {
        let t0 = origin();
        let mut line = Line::new(100 * MS, 3);
        assert!(line.try_now(t0) && line.try_now(t0) && line.try_now(t0));
        assert!(!line.try_now(t0), "a burst of 3, no more");
        assert!(!line.try_now(t0 + 99 * MS));
        assert!(line.try_now(t0 + 100 * MS));
        assert!(!line.try_now(t0 + 150 * MS));
        // A long quiet spell refills the burst, never more.
        let later = t0 + Duration::from_secs(10);
        assert!((0..3).all(|_| line.try_now(later)));
        assert!(!line.try_now(later));
    }

    #[test]
    fn the_earliest_key_goes_first_whatever_the_order_of_arrival() {
        let t0 = origin() + Duration::from_secs(60);
        let mut line = Line::new(100 * MS, 1);
        assert!(line.try_now(t0));
        let late = line.join(t0);
        assert_eq!(line.turn(t0, late), Turn::SleepUntil(t0 + 100 * MS));
        // A request with more precedence arrives while the head sleeps: it heads the line now.
        let urgent = line.join(t0 - Duration::from_secs(5));
        assert_eq!(line.turn(t0 + 50 * MS, late), Turn::Behind);
        assert_eq!(line.turn(t0 + 100 * MS, urgent), Turn::Go);
        // The one it overtook was woken, and is next.
        let waker = Waker::noop();
        assert!(line.take_woken(late, waker));
        assert_eq!(
            line.turn(t0 + 100 * MS, late),
            Turn::SleepUntil(t0 + 200 * MS)
        );
        assert_eq!(line.turn(t0 + 200 * MS, late), Turn::Go);
        assert_eq!(line.len(), 0);
    }

    #[test]
    fn a_head_that_gives_up_wakes_the_next() {
        let t0 = origin();
        let mut line = Line::new(100 * MS, 1);
        assert!(line.try_now(t0));
        let first = line.join(t0);
        let second = line.join(t0);
        assert!(!line.take_woken(second, Waker::noop()));
        line.leave(first);
        assert!(line.take_woken(second, Waker::noop()));
        assert_eq!(line.turn(t0 + 100 * MS, second), Turn::Go);
    }

    #[test]
    fn nobody_jumps_a_line_that_is_waiting_for_the_pace() {
        let t0 = origin();
        let mut line = Line::new(100 * MS, 1);
        assert!(line.try_now(t0));
        let waiting = line.join(t0);
        assert!(!line.try_now(t0 + 100 * MS), "the line goes first");
        assert_eq!(line.turn(t0 + 100 * MS, waiting), Turn::Go);
    }
}
