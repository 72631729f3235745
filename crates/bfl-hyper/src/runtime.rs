//! [`TokioRuntime`]: the engine's clocks and sleep on tokio.

use async_trait::async_trait;
use bfl_core::Runtime;
use std::time::{Instant, SystemTime};

/// The tokio runtime adapter: `now` from tokio's clock (so tests with a paused clock,
/// `#[tokio::test(start_paused = true)]`, run in virtual time), sleeps with `tokio::time`.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioRuntime {
    _private: (),
}

impl TokioRuntime {
    /// The adapter. Its methods must be used inside a tokio runtime with the time driver enabled.
    pub fn new() -> TokioRuntime {
        TokioRuntime { _private: () }
    }
}

#[async_trait]
impl Runtime for TokioRuntime {
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }

    // The one place (with `now`) where the engine's wall clock is read.
    #[allow(clippy::disallowed_methods)]
    fn wall_now(&self) -> SystemTime {
        SystemTime::now()
    }

    async fn sleep_until(&self, deadline: Instant) {
        tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn paused_clock_sleeps_advance_now_without_waiting() {
        let rt = TokioRuntime::new();
        let t0 = rt.now();
        rt.sleep(Duration::from_secs(3600)).await;
        let elapsed = rt.now() - t0;
        assert!(elapsed >= Duration::from_secs(3600), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(3601), "{elapsed:?}");
        // A deadline in the past returns at once.
        rt.sleep_until(t0).await;
    }
}
