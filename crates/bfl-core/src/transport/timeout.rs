//! [`Timeout`]: a [`Transport`] decorator that bounds each request as a whole, on a [`Runtime`]'s
//! clock — the one whole-request timeout both shipped transports use.

use super::{RequestMeta, Transport, TransportError};
use crate::rt::Runtime;
use async_trait::async_trait;
use bytes::Bytes;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

/// `inner` with every request — [`send`](Transport::send) and
/// [`download_to`](Transport::download_to) alike, from the first byte to the last of the answer
/// (or of the file written) — bounded by a whole-request limit on `runtime`'s clock, shortened to
/// the request's [`RequestMeta::timeout`] (the task's remaining deadline) when that is smaller.
/// [`ready`](Transport::ready) passes through unbounded (it holds no request).
///
/// # The race, and its tie rule
///
/// A request races its answer against the deadline `now + limit`. Each time the race is woken
/// it polls the answer first, then the deadline:
///
/// - the answer ready and the deadline not passed: the answer;
/// - the deadline passed: [`TransportError::Timeout`] carrying the limit, and the inner future
///   is dropped before the error is returned (a request cut off mid-way is cancelled, its slot
///   and socket released) — **even if the answer was ready at the same poll**: at a tie the
///   deadline wins.
///
/// The answer is polled first so that a request always starts (the inner transport sees it,
/// as a server would have) even with no time left. The tie rule is the one the simulator's
/// virtual-time transport had before this decorator (an answer whose delay is `>=` its timeout
/// was a timeout), and under virtual time it is deterministic: when tokio's paused clock jumps
/// to an instant, every timer due then fires before any task runs, so a race whose answer and
/// deadline fall on one timer tick sees both ready at one poll and the deadline wins, whichever
/// timer was registered first. (tokio's timers tick in milliseconds, rounding up: an answer
/// due less than a millisecond before the deadline shares its tick, and loses too.)
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use bfl_core::transport::{Timeout, Transport};
/// use bfl_core::Runtime;
///
/// fn bounded(inner: impl Transport, runtime: Arc<dyn Runtime>) -> impl Transport {
///     Timeout::new(inner, runtime, Duration::from_secs(30))
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Timeout<T> {
    inner: T,
    runtime: Arc<dyn Runtime>,
    limit: Duration,
}

/// What a bounded request returns (the boxed future `async_trait` makes).
type Timed<'a> =
    Pin<Box<dyn Future<Output = Result<http::Response<Bytes>, TransportError>> + Send + 'a>>;

impl<T> Timeout<T> {
    /// `inner` with requests bounded by `limit` on `runtime`'s clock.
    pub fn new(inner: T, runtime: Arc<dyn Runtime>, limit: Duration) -> Timeout<T> {
        Timeout {
            inner,
            runtime,
            limit,
        }
    }

    /// The decorator's own limit (a request whose task has less time left gets that instead).
    pub fn limit(&self) -> Duration {
        self.limit
    }

    /// The transport inside.
    pub fn inner(&self) -> &T {
        &self.inner
    }

    /// The limit of one request: the decorator's, shortened to the request's own.
    pub fn limit_for(&self, meta: Option<RequestMeta>) -> Duration {
        match meta.and_then(|m| m.timeout) {
            Some(t) => t.min(self.limit),
            None => self.limit,
        }
    }

    /// Races `answer` against `limit` from now (see [`Timeout`] for the tie rule).
    fn race<'a>(&'a self, limit: Duration, answer: Timed<'a>) -> Timed<'a> {
        // A limit past the clock's range (`Duration::MAX` as "no limit") never fires.
        let mut deadline =
            (self.runtime.now().checked_add(limit)).map(|at| self.runtime.sleep_until(at));
        let mut answer = Some(answer);
        Box::pin(std::future::poll_fn(move |cx| {
            let answered = match answer.as_mut() {
                Some(answer) => answer.as_mut().poll(cx),
                None => Poll::Pending,
            };
            if deadline
                .as_mut()
                .is_some_and(|d| d.as_mut().poll(cx).is_ready())
            {
                // The request is cancelled now, not whenever the caller drops the race.
                answer = None;
                return Poll::Ready(Err(TransportError::Timeout(limit)));
            }
            answered
        }))
    }
}

#[async_trait]
impl<T: Transport> Transport for Timeout<T> {
    // Written out rather than `async fn`: the inner future takes the request at once, so the
    // race holds it once (an `async fn` would keep the argument beside the inner future).
    fn send<'life0, 'async_trait>(&'life0 self, req: http::Request<Bytes>) -> Timed<'async_trait>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        let limit = self.limit_for(RequestMeta::of(&req));
        self.race(limit, self.inner.send(req))
    }

    fn download_to<'life0, 'life1, 'async_trait>(
        &'life0 self,
        req: http::Request<Bytes>,
        dest: &'life1 Path,
    ) -> Timed<'async_trait>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        let limit = self.limit_for(RequestMeta::of(&req));
        self.race(limit, self.inner.download_to(req, dest))
    }

    fn ready<'life0, 'async_trait>(
        &'life0 self,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'async_trait>>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        self.inner.ready()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::RequestKind;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Mutex;
    use std::task::{Context, Waker};
    use std::time::{Instant, SystemTime};

    const LIMIT: Duration = Duration::from_secs(5);

    /// A clock moved by hand; a sleep is ready once the clock has reached its deadline.
    #[derive(Clone)]
    struct Manual(Arc<Mutex<Instant>>);

    impl Manual {
        #[allow(clippy::disallowed_methods)] // an arbitrary origin; time then moves only by hand
        fn new() -> Manual {
            Manual(Arc::new(Mutex::new(Instant::now())))
        }
        fn read(&self) -> Instant {
            *self.0.lock().unwrap_or_else(|p| p.into_inner())
        }
        fn advance(&self, by: Duration) {
            *self.0.lock().unwrap_or_else(|p| p.into_inner()) += by;
        }
    }

    #[async_trait]
    impl Runtime for Manual {
        fn now(&self) -> Instant {
            self.read()
        }
        fn wall_now(&self) -> SystemTime {
            SystemTime::UNIX_EPOCH
        }
        async fn sleep_until(&self, deadline: Instant) {
            std::future::poll_fn(|_| {
                if self.read() >= deadline {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            })
            .await
        }
    }

    /// Sets its flag when dropped.
    struct Flag(Arc<AtomicBool>);

    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    /// Answers `200 ok` `delay` after a request starts (never, for `None`), counting the
    /// requests started, the `ready` calls, and noting when a request's future is dropped.
    struct Delayed {
        clock: Manual,
        delay: Option<Duration>,
        started: AtomicUsize,
        readied: AtomicUsize,
        dropped: Arc<AtomicBool>,
    }

    impl Delayed {
        fn new(clock: &Manual, delay: Option<Duration>) -> Delayed {
            Delayed {
                clock: clock.clone(),
                delay,
                started: AtomicUsize::new(0),
                readied: AtomicUsize::new(0),
                dropped: Arc::new(AtomicBool::new(false)),
            }
        }
    }

    #[async_trait]
    impl Transport for Delayed {
        async fn send(
            &self,
            _req: http::Request<Bytes>,
        ) -> Result<http::Response<Bytes>, TransportError> {
            let _alive = Flag(Arc::clone(&self.dropped));
            self.started.fetch_add(1, Ordering::SeqCst);
            match self.delay {
                Some(delay) => self.clock.sleep(delay).await,
                None => std::future::pending().await,
            }
            Ok(http::Response::new(Bytes::from_static(b"ok")))
        }
        async fn ready(&self) {
            self.readied.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn request(timeout: Option<Duration>) -> http::Request<Bytes> {
        let mut req = http::Request::new(Bytes::new());
        req.extensions_mut().insert(RequestMeta {
            kind: RequestKind::Poll,
            timeout,
        });
        req
    }

    type Outcome = Poll<Result<http::Response<Bytes>, TransportError>>;

    fn poll(fut: &mut Timed<'_>) -> Outcome {
        fut.as_mut().poll(&mut Context::from_waker(Waker::noop()))
    }

    fn body(outcome: Outcome) -> Option<Bytes> {
        match outcome {
            Poll::Ready(Ok(resp)) => Some(resp.into_body()),
            _ => None,
        }
    }

    #[test]
    fn an_answer_before_the_deadline_is_the_answer() {
        let clock = Manual::new();
        let t = Timeout::new(
            Delayed::new(&clock, Some(Duration::from_secs(1))),
            Arc::new(clock.clone()),
            LIMIT,
        );
        let mut sending = t.send(request(None));
        assert!(poll(&mut sending).is_pending());
        clock.advance(Duration::from_millis(999));
        assert!(poll(&mut sending).is_pending());
        clock.advance(Duration::from_millis(1));
        assert_eq!(body(poll(&mut sending)), Some(Bytes::from_static(b"ok")));
    }

    #[test]
    fn the_deadline_first_is_a_typed_timeout_and_drops_the_request() {
        let clock = Manual::new();
        let t = Timeout::new(Delayed::new(&clock, None), Arc::new(clock.clone()), LIMIT);
        let mut sending = t.send(request(None));
        assert!(poll(&mut sending).is_pending());
        clock.advance(LIMIT - Duration::from_nanos(1));
        assert!(poll(&mut sending).is_pending());
        assert!(!t.inner().dropped.load(Ordering::SeqCst), "still in flight");
        clock.advance(Duration::from_nanos(1));
        let err = poll(&mut sending);
        assert!(matches!(err, Poll::Ready(Err(TransportError::Timeout(l))) if l == LIMIT));
        // Cancelled when the error is returned, before the caller drops the race.
        assert!(
            t.inner().dropped.load(Ordering::SeqCst),
            "the request was dropped"
        );
        assert_eq!(t.inner().started.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn at_a_tie_the_deadline_wins() {
        let clock = Manual::new();
        let t = Timeout::new(
            Delayed::new(&clock, Some(LIMIT)),
            Arc::new(clock.clone()),
            LIMIT,
        );
        let mut tie = t.send(request(None));
        assert!(poll(&mut tie).is_pending());
        clock.advance(LIMIT);
        assert!(
            matches!(poll(&mut tie), Poll::Ready(Err(TransportError::Timeout(l))) if l == LIMIT)
        );
        // A nanosecond earlier, the answer.
        let early = Timeout::new(
            Delayed::new(&clock, Some(LIMIT - Duration::from_nanos(1))),
            Arc::new(clock.clone()),
            LIMIT,
        );
        let mut sending = early.send(request(None));
        assert!(poll(&mut sending).is_pending());
        clock.advance(LIMIT - Duration::from_nanos(1));
        assert!(body(poll(&mut sending)).is_some());
    }

    #[test]
    fn the_request_s_own_shorter_limit_holds_and_the_request_starts_even_with_none_left() {
        let clock = Manual::new();
        let t = Timeout::new(Delayed::new(&clock, None), Arc::new(clock.clone()), LIMIT);
        assert_eq!(
            t.limit_for(Some(RequestMeta {
                kind: RequestKind::Poll,
                timeout: Some(LIMIT * 2)
            })),
            LIMIT
        );
        assert_eq!(t.limit_for(None), LIMIT);
        let short = Duration::from_secs(2);
        let mut sending = t.send(request(Some(short)));
        assert!(poll(&mut sending).is_pending());
        clock.advance(short);
        assert!(
            matches!(poll(&mut sending), Poll::Ready(Err(TransportError::Timeout(l))) if l == short)
        );
        // No time left: the request is still made (the server sees it), then times out.
        let mut none_left = t.send(request(Some(Duration::ZERO)));
        assert!(matches!(
            poll(&mut none_left),
            Poll::Ready(Err(TransportError::Timeout(Duration::ZERO)))
        ));
        assert_eq!(t.inner().started.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_limit_past_the_clock_s_range_never_fires_and_never_panics() {
        let clock = Manual::new();
        let t = Timeout::new(
            Delayed::new(&clock, Some(Duration::from_secs(1))),
            Arc::new(clock.clone()),
            Duration::MAX,
        );
        let mut sending = t.send(request(None));
        assert!(poll(&mut sending).is_pending());
        clock.advance(Duration::from_secs(1));
        assert!(matches!(poll(&mut sending), Poll::Ready(Ok(_))));
    }

    #[test]
    fn downloads_are_bounded_and_ready_passes_through() {
        let clock = Manual::new();
        let t = Timeout::new(Delayed::new(&clock, None), Arc::new(clock.clone()), LIMIT);
        let dest = std::env::temp_dir().join(format!("bfl-timeout-{}.jpeg", std::process::id()));
        let mut downloading = t.download_to(request(None), &dest);
        assert!(poll(&mut downloading).is_pending());
        clock.advance(LIMIT);
        assert!(matches!(
            poll(&mut downloading),
            Poll::Ready(Err(TransportError::Timeout(_)))
        ));
        // The download's request was cancelled at the deadline (its body is no image, so a
        // written file could not tell).
        assert!(
            t.inner().dropped.load(Ordering::SeqCst),
            "the request dropped"
        );
        let mut ready = t.ready();
        assert!(ready
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
            .is_ready());
        assert_eq!(t.inner().readied.load(Ordering::SeqCst), 1);
    }
}
