//! The virtual-time face: the core behind a [`Transport`] with no sockets, and a [`Runtime`] on
//! tokio's paused clock, which jumps straight to the next timer whenever every task is waiting.
//! A whole batch of simulated hours runs in the CPU time its requests cost (about 80 µs per job
//! of submit + polls + download in release: 100 000 jobs in under 10 s on one core).
//!
//! Ground truth is read from the server side, in sim seconds: [`VirtualSim::with_sim`] gives the
//! core, whose [`Sim::tasks`](crate::Sim::tasks) has each task's `ready_at`,
//! `first_ready_poll_at` (so detection lag), `polls`, `downloaded_at`; [`Sim::counters`](crate::Sim::counters)
//! the 429s and 5xx; [`VirtualSim::stats`] everything, request log included (turn the log off
//! with `SimConfig::record_requests = false` for the largest runs).
//!
//! ```
//! use bfl_core::{GenerationRequest, Job};
//! use bfl_sim::{SimConfig, VirtualSim};
//! use futures_util::StreamExt;
//!
//! let rt = VirtualSim::tokio_runtime().unwrap();
//! rt.block_on(async {
//!     let sim = VirtualSim::new(SimConfig::default());
//!     let client = sim.client_builder("bfl_demo").build().unwrap();
//!     let jobs = (0..50).map(|i| Job::generate(GenerationRequest::new("flux-2-pro", format!("fox {i}"))));
//!     let done: Vec<_> = client.batch(jobs).collect().await;
//!     assert!(done.iter().all(|item| item.outcome.result.is_ok()));
//!     let stats = sim.stats();
//!     assert_eq!(stats.tasks.len(), 50);
//!     assert!(stats.tasks.iter().all(|t| t.downloaded_at.is_some()));
//! });
//! ```

use crate::config::SimConfig;
use crate::core::{Hosts, Sim, SimRequest};
use crate::stats::Stats;
use crate::webhooks::WebhookSink;
use async_trait::async_trait;
use bfl_core::transport::{Timeout, Transport, TransportError};
use bfl_core::ClientBuilder;
use bfl_core::Runtime;
use bytes::Bytes;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

/// The virtual clock: sim time 0 is the moment the [`VirtualSim`] was made.
///
/// Outside the runtime that drives it (after `block_on` returned), tokio's clock is the real one,
/// so the clock then answers the last virtual time it saw.
#[derive(Debug, Clone)]
struct VirtualClock {
    origin: tokio::time::Instant,
    epoch: SystemTime,
    last: Arc<AtomicU64>,
}

impl VirtualClock {
    fn now(&self) -> f64 {
        if tokio::runtime::Handle::try_current().is_err() {
            return f64::from_bits(self.last.load(Ordering::Relaxed));
        }
        let now = tokio::time::Instant::now()
            .saturating_duration_since(self.origin)
            .as_secs_f64();
        self.last.fetch_max(now.to_bits(), Ordering::Relaxed);
        now
    }
}

type SharedSim = Arc<Mutex<Sim>>;

fn lock(sim: &SharedSim) -> MutexGuard<'_, Sim> {
    sim.lock().unwrap_or_else(|p| p.into_inner())
}

/// A [`Transport`] that hands requests to the core, routing by authority (`api.sim.invalid`,
/// `api.eu1.sim.invalid`, `delivery.sim.invalid`, `api.sim-evil.invalid`) and applying the
/// scenario's latency as a tokio sleep; a hung request never answers. It has no timeout of its
/// own: [`VirtualSim`] wraps it in [`Timeout`], the decorator the real transport uses, so a
/// request that would take longer than its timeout (the request's deadline, capped by the
/// transport's) fails with [`TransportError::Timeout`] after that long, as a real one would —
/// and one whose latency equals its timeout times out (the decorator's tie rule).
#[derive(Debug)]
pub struct SimTransport {
    sim: SharedSim,
    clock: VirtualClock,
    sink: SharedSink,
}

/// Where the virtual face sends webhook deliveries (none: they are scheduled but not sent).
type SharedSink = Arc<Mutex<Option<Arc<dyn WebhookSink>>>>;

/// Sends the deliveries the core scheduled, each at its virtual time, to the sink.
fn spawn_deliveries(sim: &SharedSim, clock: &VirtualClock, sink: &SharedSink) {
    let fresh = lock(sim).take_webhooks();
    let Some(sink) = sink.lock().unwrap_or_else(|p| p.into_inner()).clone() else {
        return;
    };
    for d in fresh {
        let (sim, clock, sink) = (Arc::clone(sim), clock.clone(), Arc::clone(&sink));
        tokio::spawn(async move {
            let due = clock.origin + Duration::try_from_secs_f64(d.due_at).unwrap_or_default();
            tokio::time::sleep_until(due).await;
            let status = sink.deliver(&d.url, &crate::webhooks::send::headers(&d), &d.body);
            lock(&sim).webhook_answered(d.seq, clock.now(), Some(status));
        });
    }
}

#[async_trait]
impl Transport for SimTransport {
    async fn send(
        &self,
        req: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, TransportError> {
        // Borrowed from the request: nothing allocated per request for them.
        let authority =
            req.uri().authority().map(|a| a.as_str()).ok_or_else(|| {
                TransportError::InvalidRequest(format!("no host in {}", req.uri()))
            })?;
        let key = req
            .headers()
            .get("x-key")
            .map(|v| String::from_utf8_lossy(v.as_bytes()));
        let resp = {
            let mut sim = lock(&self.sim);
            let Some(role) = sim.hosts().role_of(authority) else {
                return Err(TransportError::Connect(
                    format!("no simulated host {authority}").into(),
                ));
            };
            let sim_req = SimRequest {
                role,
                method: req.method().as_str(),
                path: req.uri().path(),
                query: req.uri().query(),
                key: key.as_deref(),
                body: req.body(),
            };
            sim.handle(self.clock.now(), &sim_req)
        };
        spawn_deliveries(&self.sim, &self.clock, &self.sink);
        // A hang, or a delay no clock can hold, never answers: the timeout ends it.
        if resp.hang {
            return std::future::pending().await;
        }
        if resp.delay > 0.0 {
            let Ok(delay) = Duration::try_from_secs_f64(resp.delay) else {
                return std::future::pending().await;
            };
            tokio::time::sleep(delay).await;
        }
        Ok(resp.to_http())
    }
}

/// A [`Runtime`] on tokio's clock (paused under [`VirtualSim::tokio_runtime`]); its wall clock is
/// the scenario's `epoch_unix` plus elapsed virtual time.
#[derive(Debug)]
pub struct VirtualRuntime {
    clock: VirtualClock,
}

#[async_trait]
impl Runtime for VirtualRuntime {
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }
    fn wall_now(&self) -> SystemTime {
        self.clock.epoch + Duration::from_secs_f64(self.clock.now())
    }
    async fn sleep_until(&self, deadline: Instant) {
        tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)).await
    }
}

/// The simulator without sockets: a transport, a runtime and the core's ground truth.
#[derive(Debug, Clone)]
pub struct VirtualSim {
    /// Give it to `ClientBuilder::transport` (the core's transport under the whole-request
    /// timeout).
    pub transport: Arc<Timeout<SimTransport>>,
    /// Give it to `ClientBuilder::runtime`.
    pub runtime: Arc<VirtualRuntime>,
    /// The API base URL (`https://api.sim.invalid`).
    pub base_url: String,
    sim: SharedSim,
    clock: VirtualClock,
    hosts: Hosts,
    sink: SharedSink,
}

impl VirtualSim {
    /// A current-thread tokio runtime with a paused clock: the place to run a `VirtualSim`.
    pub fn tokio_runtime() -> std::io::Result<tokio::runtime::Runtime> {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
    }

    /// A simulation of `config`; sim time 0 is now. Call it inside the runtime that will drive
    /// it (ideally [`VirtualSim::tokio_runtime`]), since it reads that runtime's clock.
    pub fn new(config: SimConfig) -> VirtualSim {
        VirtualSim::with_transport_timeout(config, Duration::from_secs(30))
    }

    /// Like [`VirtualSim::new`], with the transport's own per-request timeout (a request slower
    /// than this, or hung, fails with [`TransportError::Timeout`] after it).
    pub fn with_transport_timeout(config: SimConfig, timeout: Duration) -> VirtualSim {
        let hosts = Hosts::virtual_names();
        let epoch = SystemTime::UNIX_EPOCH
            + Duration::try_from_secs_f64(config.epoch_unix).unwrap_or_default();
        let clock = VirtualClock {
            origin: tokio::time::Instant::now(),
            epoch,
            last: Arc::new(AtomicU64::new(0)),
        };
        let sim = Arc::new(Mutex::new(Sim::new(config, hosts.clone())));
        let sink = SharedSink::default();
        let runtime = Arc::new(VirtualRuntime {
            clock: clock.clone(),
        });
        let wire = SimTransport {
            sim: Arc::clone(&sim),
            clock: clock.clone(),
            sink: Arc::clone(&sink),
        };
        VirtualSim {
            transport: Arc::new(Timeout::new(wire, runtime.clone(), timeout)),
            runtime,
            base_url: format!("{}://{}", hosts.scheme, hosts.api),
            sim,
            clock,
            hosts,
            sink,
        }
    }

    /// Sends webhook deliveries to `sink` in-process, at their virtual times (e.g. a
    /// `bfl_core::webhook::WebhookRouter` shared with the client under test).
    pub fn set_webhook_sink(&self, sink: Arc<dyn WebhookSink>) {
        *self.sink.lock().unwrap_or_else(|p| p.into_inner()) = Some(sink);
    }

    /// A client builder wired to this simulation: transport, runtime, base URL, the key, and
    /// the regional host allowed to receive it.
    pub fn client_builder(&self, key: &str) -> ClientBuilder {
        bfl_core::Client::builder()
            .api_key(key)
            .base_url(self.base_url.clone())
            .transport(self.transport.clone())
            .runtime(self.runtime.clone())
            .allow_key_host(self.hosts.regional.clone())
    }

    /// The hosts the simulation answers for.
    pub fn hosts(&self) -> &Hosts {
        &self.hosts
    }

    /// Sim seconds elapsed.
    pub fn now(&self) -> f64 {
        self.clock.now()
    }

    /// A snapshot of the ground truth.
    pub fn stats(&self) -> Stats {
        lock(&self.sim).stats(self.clock.now())
    }

    /// Runs `f` on the core (locked) with the current sim time: the cheap way to read a few
    /// figures from a large run.
    pub fn with_sim<R>(&self, f: impl FnOnce(&mut Sim, f64) -> R) -> R {
        let now = self.clock.now();
        f(&mut lock(&self.sim), now)
    }
}

/// A burst: `jobs` generations (`flux-2-pro`, prompts `job 0`, `job 1`, …) handed to `client`'s
/// batch at once, driven to the end. Returns how many ended without an image — the S2 workload
/// of the tests, benches and examples.
pub async fn burst(client: &bfl_core::Client, jobs: usize) -> usize {
    use futures_util::StreamExt;
    let jobs = (0..jobs).map(|i| {
        bfl_core::Job::generate(bfl_core::GenerationRequest::new(
            "flux-2-pro",
            format!("job {i}"),
        ))
    });
    client
        .batch(jobs)
        .filter(|item| std::future::ready(item.outcome.result.is_err()))
        .count()
        .await
}
