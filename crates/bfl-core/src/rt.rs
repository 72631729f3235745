//! The [`Runtime`] trait: clocks and sleeping, injected so the same client runs under tokio, another
//! runtime, or the simulator's virtual time.

use async_trait::async_trait;
use std::time::{Duration, Instant, SystemTime};

/// Clocks and sleep. Object-safe; share it as `Arc<dyn Runtime>`.
#[async_trait]
pub trait Runtime: Send + Sync {
    /// The monotonic clock.
    fn now(&self) -> Instant;
    /// The wall clock (used only to turn the server's unix timestamps into deadlines).
    fn wall_now(&self) -> SystemTime;
    /// Sleeps until `deadline` (returns at once if it has passed).
    async fn sleep_until(&self, deadline: Instant);
    /// Sleeps for `duration`.
    async fn sleep(&self, duration: Duration) {
        let deadline = self.now() + duration;
        self.sleep_until(deadline).await
    }
}

impl std::fmt::Debug for dyn Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("dyn Runtime")
    }
}

/// A stamp of both clocks at one moment; every event fed to the task machine carries one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// The monotonic time.
    pub instant: Instant,
    /// The wall time at the same moment.
    pub wall: SystemTime,
}

impl Now {
    /// Reads both clocks of a runtime.
    pub fn of(rt: &(impl Runtime + ?Sized)) -> Now {
        Now {
            instant: rt.now(),
            wall: rt.wall_now(),
        }
    }

    /// The moment `d` later on both clocks.
    pub fn after(self, d: Duration) -> Now {
        Now {
            instant: self.instant + d,
            wall: self.wall + d,
        }
    }

    /// The wall time as unix seconds.
    pub fn unix_secs(&self) -> f64 {
        self.wall
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0)
    }
}
