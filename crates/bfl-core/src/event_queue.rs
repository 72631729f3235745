//! A task's queue of pending events, sized for the usual one at a time.
//!
//! A machine queues about one event per answer and its driver takes it at once, so the queue
//! holds the first event inline and spills only a second into a heap buffer, which it frees
//! again once drained: an idle polling task keeps no event buffer.

use crate::machine::TaskEvent;
use std::collections::VecDeque;

/// First in, first out; the first event inline.
#[derive(Debug, Default)]
pub(crate) struct EventQueue {
    first: Option<TaskEvent>,
    rest: VecDeque<TaskEvent>,
}

impl EventQueue {
    /// An empty queue (allocates nothing).
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Queues `event` after the others.
    pub(crate) fn push_back(&mut self, event: TaskEvent) {
        if self.first.is_none() && self.rest.is_empty() {
            self.first = Some(event);
        } else {
            self.rest.push_back(event);
        }
    }

    /// The oldest event, if any.
    pub(crate) fn pop_front(&mut self) -> Option<TaskEvent> {
        if let Some(event) = self.first.take() {
            return Some(event);
        }
        let event = self.rest.pop_front();
        if self.rest.is_empty() && self.rest.capacity() > 0 {
            self.rest = VecDeque::new();
        }
        event
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(q: &mut EventQueue) -> Vec<&'static str> {
        std::iter::from_fn(|| q.pop_front())
            .map(|e| match e {
                TaskEvent::Submitting => "submitting",
                TaskEvent::Terminal(_) => "terminal",
                _ => "other",
            })
            .collect()
    }

    #[test]
    fn events_come_out_in_the_order_they_went_in() {
        let mut q = EventQueue::new();
        q.push_back(TaskEvent::Submitting);
        q.push_back(TaskEvent::Terminal(crate::api::Status::Ready));
        assert_eq!(q.pop_front().map(|_| ()), Some(()));
        // A push while the spill buffer still holds one goes behind it.
        q.push_back(TaskEvent::Submitting);
        assert_eq!(names(&mut q), ["terminal", "submitting"]);
        assert_eq!(q.rest.capacity(), 0, "a drained queue keeps no buffer");
        q.push_back(TaskEvent::Submitting);
        assert_eq!(names(&mut q), ["submitting"]);
    }
}
