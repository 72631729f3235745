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
    use bfl_core::transport::{Timeout, Transport, TransportError};
    use bytes::Bytes;
    use std::sync::Arc;
    use std::time::Duration;

    /// Answers at `at`, its timer registered after `yields` polls.
    struct AnswersAt {
        at: tokio::time::Instant,
        yields: usize,
    }

    #[async_trait]
    impl Transport for AnswersAt {
        async fn send(
            &self,
            _req: http::Request<Bytes>,
        ) -> Result<http::Response<Bytes>, TransportError> {
            for _ in 0..self.yields {
                tokio::task::yield_now().await;
            }
            tokio::time::sleep_until(self.at).await;
            Ok(http::Response::new(Bytes::from_static(b"ok")))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn on_the_paused_clock_the_deadline_wins_a_tie_whichever_timer_came_first() {
        let limit = Duration::from_secs(5);
        let rt: Arc<dyn Runtime> = Arc::new(TokioRuntime::new());
        // 0: the answer's timer is registered before the deadline's; 1: after it.
        for yields in [0, 1] {
            let start = tokio::time::Instant::now();
            let tie = Timeout::new(
                AnswersAt {
                    at: start + limit,
                    yields,
                },
                Arc::clone(&rt),
                limit,
            );
            let req = http::Request::new(Bytes::new());
            assert_eq!(
                tie.send(req).await.unwrap_err(),
                TransportError::Timeout(limit)
            );
            assert_eq!(start.elapsed(), limit, "cut off at the deadline");

            let start = tokio::time::Instant::now();
            let at = start + limit - Duration::from_millis(1);
            let early = Timeout::new(AnswersAt { at, yields }, Arc::clone(&rt), limit);
            let resp = early.send(http::Request::new(Bytes::new())).await.unwrap();
            assert_eq!(resp.body().as_ref(), b"ok");
            assert_eq!(start.elapsed(), limit - Duration::from_millis(1));
        }
    }

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
