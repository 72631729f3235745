//! The transport's bound on requests in flight, and the wait for room under it.
//!
//! A request holds a [`RequestSlot`] from before it is sent until its answer's body is read.
//! [`RequestSlots::ready`] waits, without taking one, until a slot is free and no request queues
//! for one: a driver awaits it before it builds a request, so the tasks of a burst wait here
//! holding nothing rather than queueing their requests (≈ 1 KB each) for a slot.

use std::sync::Arc;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// At most `n` requests in flight at once.
#[derive(Debug, Clone)]
pub(crate) struct RequestSlots {
    permits: Arc<Semaphore>,
    /// Told each time a slot is freed.
    freed: Arc<Notify>,
}

/// A held slot; dropping it frees the slot and wakes one task waiting in
/// [`RequestSlots::ready`].
#[derive(Debug)]
pub(crate) struct RequestSlot {
    permit: Option<OwnedSemaphorePermit>,
    freed: Arc<Notify>,
}

impl RequestSlots {
    /// At most `n` requests at once (at least 1).
    pub(crate) fn new(n: usize) -> RequestSlots {
        RequestSlots {
            permits: Arc::new(Semaphore::new(n.clamp(1, Semaphore::MAX_PERMITS))),
            freed: Arc::new(Notify::new()),
        }
    }

    /// Waits for a free slot and takes it; `None` once the semaphore is closed (never, here).
    pub(crate) async fn acquire(&self) -> Option<RequestSlot> {
        let permit = Arc::clone(&self.permits).acquire_owned().await.ok()?;
        Some(RequestSlot {
            permit: Some(permit),
            freed: Arc::clone(&self.freed),
        })
    }

    /// Returns once a slot is free, taking none. (Free slots are handed to queued requests
    /// first, so none is free while a request queues.)
    pub(crate) async fn ready(&self) {
        loop {
            let notified = self.freed.notified();
            let mut notified = std::pin::pin!(notified);
            // Registered before the check, so a slot freed in between is not missed.
            notified.as_mut().enable();
            if self.permits.available_permits() > 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for RequestSlot {
    fn drop(&mut self) {
        // The permit goes back first, so the task woken sees the free slot.
        drop(self.permit.take());
        self.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn ready_waits_for_a_freed_slot_without_taking_it() {
        let slots = RequestSlots::new(1);
        let held = slots.acquire().await;
        assert!(held.is_some());
        let waiting = tokio::time::timeout(Duration::from_millis(50), slots.ready()).await;
        assert!(waiting.is_err(), "ready while the only slot is held");
        let ready = tokio::spawn({
            let slots = slots.clone();
            async move { slots.ready().await }
        });
        tokio::task::yield_now().await;
        drop(held);
        let joined = tokio::time::timeout(Duration::from_secs(5), ready).await;
        assert!(
            matches!(joined, Ok(Ok(()))),
            "ready did not return once the slot was freed"
        );
        // `ready` took nothing: the slot is still there to acquire.
        let again = tokio::time::timeout(Duration::from_secs(5), slots.acquire()).await;
        assert!(matches!(again, Ok(Some(_))));
    }
}
