//! The HTTP face's bounds under abuse: a connection limit, a header-read timeout (applied by
//! hyper), and a budget of request-body bytes held at once over all requests. What they turn
//! away is counted and shown in `/__sim/stats` (`http`).

use crate::stats::HttpLoad;
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The bounds, with their defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Most connections open at once, over every listener (default 1024).
    pub max_connections: usize,
    /// Time a client has to send a request's headers, and to start the next request on a
    /// kept-alive connection (default 30 s, hyper's).
    pub header_read_timeout: Duration,
    /// Most bytes of request bodies held at once, over all requests (default 256 MiB).
    pub body_budget: usize,
    /// Largest body of one request (default 64 MiB: submits carry base64 input images).
    pub max_body: usize,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(30),
            body_budget: 256 << 20,
            max_body: 64 << 20,
        }
    }
}

/// Why a body was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyRefusal {
    /// Over the per-request cap (413).
    TooLarge,
    /// Over the shared budget now (503, retryable).
    Busy,
    /// The client broke off.
    Broken,
}

/// The shared state of the bounds.
#[derive(Debug)]
pub(crate) struct Guards {
    pub(crate) bounds: Bounds,
    connections: Arc<Semaphore>,
    bodies: Arc<Semaphore>,
    connections_refused: AtomicU64,
    header_timeouts: AtomicU64,
    bodies_refused: AtomicU64,
}

/// A body read under the budget: its bytes stay counted until this is dropped.
pub(crate) struct HeldBody {
    pub(crate) bytes: Bytes,
    _permit: Option<OwnedSemaphorePermit>,
}

impl Guards {
    pub(crate) fn new(bounds: Bounds) -> Guards {
        let cap = |n: usize| n.clamp(1, Semaphore::MAX_PERMITS);
        Guards {
            bounds,
            connections: Arc::new(Semaphore::new(cap(bounds.max_connections))),
            bodies: Arc::new(Semaphore::new(cap(bounds.body_budget))),
            connections_refused: AtomicU64::new(0),
            header_timeouts: AtomicU64::new(0),
            bodies_refused: AtomicU64::new(0),
        }
    }

    /// A connection slot, or `None` (counted) when every one is taken.
    pub(crate) fn admit(&self) -> Option<OwnedSemaphorePermit> {
        let permit = Arc::clone(&self.connections).try_acquire_owned().ok();
        if permit.is_none() {
            self.connections_refused.fetch_add(1, Ordering::Relaxed);
        }
        permit
    }

    /// Counts a connection closed by the header-read timeout.
    pub(crate) fn header_timed_out(&self) {
        self.header_timeouts.fetch_add(1, Ordering::Relaxed);
    }

    /// Reads a body frame by frame, holding budget for every byte; refuses as soon as the
    /// request's cap or the shared budget would be exceeded, so no refused byte is kept.
    pub(crate) async fn read(
        &self,
        declared: Option<u64>,
        mut body: Incoming,
    ) -> Result<HeldBody, BodyRefusal> {
        let max = self.bounds.max_body;
        if declared.is_some_and(|n| n > max as u64) {
            return Err(BodyRefusal::TooLarge);
        }
        let mut held: Option<OwnedSemaphorePermit> = None;
        let mut buf = BytesMut::new();
        while let Some(frame) = body.frame().await {
            let Ok(data) = frame.map_err(|_| BodyRefusal::Broken)?.into_data() else {
                continue;
            };
            if buf.len() + data.len() > max {
                return Err(BodyRefusal::TooLarge);
            }
            let n = u32::try_from(data.len()).map_err(|_| BodyRefusal::TooLarge)?;
            let Ok(permit) = Arc::clone(&self.bodies).try_acquire_many_owned(n) else {
                self.bodies_refused.fetch_add(1, Ordering::Relaxed);
                return Err(BodyRefusal::Busy);
            };
            match &mut held {
                Some(h) => h.merge(permit),
                None => held = Some(permit),
            }
            buf.extend_from_slice(&data);
        }
        Ok(HeldBody {
            bytes: buf.freeze(),
            _permit: held,
        })
    }

    /// The figures of `/__sim/stats`.
    pub(crate) fn load(&self) -> HttpLoad {
        let b = &self.bounds;
        HttpLoad {
            open_connections: b
                .max_connections
                .saturating_sub(self.connections.available_permits()),
            max_connections: b.max_connections,
            connections_refused: self.connections_refused.load(Ordering::Relaxed),
            header_read_timeout_secs: b.header_read_timeout.as_secs_f64(),
            header_timeouts: self.header_timeouts.load(Ordering::Relaxed),
            body_budget: b.body_budget,
            body_bytes_in_flight: b
                .body_budget
                .saturating_sub(self.bodies.available_permits()),
            bodies_refused: self.bodies_refused.load(Ordering::Relaxed),
        }
    }
}
