//! The HTTP face: hyper listeners on loopback in front of the core, on the real clock.
//!
//! Four listeners, each its own host for the client: the API, a regional API host, the delivery
//! host of result images and a hostile host (outside any key policy). The scenario's
//! `polling_host` picks which one `polling_url` names, its `delivery` where result URLs point.
//! On any of them, `GET /__sim/stats` answers the ground truth as JSON, `GET /__sim/summary` its
//! figures and `/__sim/config` reads or changes the scenario ([`crate::control`]); none of them
//! is counted as a request. Bounded under abuse by [`Bounds`].

use crate::config::SimConfig;
use crate::core::{Hosts, Role, Sim, SimRequest, SimResponse};
use crate::guards::{BodyRefusal, Guards};
use crate::stats::Stats;
use crate::wire_body::WireBody;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use crate::guards::Bounds;

/// Where the HTTP face listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerOptions {
    /// The address of every listener.
    pub bind: IpAddr,
    /// The API port (0: any free port).
    pub port: u16,
    /// The delivery port (0: any).
    pub delivery_port: u16,
    /// The regional API port (0: any).
    pub regional_port: u16,
    /// The hostile polling port (0: any).
    pub hostile_port: u16,
    /// Limits under abuse.
    pub bounds: Bounds,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            delivery_port: 0,
            regional_port: 0,
            hostile_port: 0,
            bounds: Bounds::default(),
        }
    }
}

/// The real clock of the HTTP face: sim time is seconds since the server started.
#[derive(Debug, Clone, Copy)]
struct WallClock {
    start: std::time::Instant,
}

impl WallClock {
    /// The HTTP face is a runtime adapter: it alone reads the real clock.
    #[allow(clippy::disallowed_methods)]
    fn start() -> (WallClock, f64) {
        let epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        (
            WallClock {
                start: std::time::Instant::now(),
            },
            epoch,
        )
    }

    fn now(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }
}

struct Shared {
    sim: Mutex<Sim>,
    clock: WallClock,
    webhooks: crate::webhooks::send::HttpSender,
    guards: Guards,
}

/// POSTs the deliveries the core scheduled, each at its time, and records the answers.
fn spawn_deliveries(shared: &Arc<Shared>) {
    let (fresh, timeout) = {
        let mut sim = shared.lock();
        (sim.take_webhooks(), sim.config().webhooks.timeout_secs)
    };
    let timeout = Duration::try_from_secs_f64(timeout).unwrap_or(Duration::from_secs(5));
    for d in fresh {
        let shared = Arc::clone(shared);
        tokio::spawn(async move {
            let wait = (d.due_at - shared.clock.now()).max(0.0);
            tokio::time::sleep(Duration::try_from_secs_f64(wait).unwrap_or_default()).await;
            let sent = shared.clock.now();
            let answer = crate::webhooks::send::post(&shared.webhooks, &d, timeout).await;
            tracing::debug!(url = %d.url, ?answer, "webhook delivery");
            shared.lock().webhook_answered(d.seq, sent, answer);
        });
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Sim> {
        self.sim.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn stats(&self) -> Stats {
        let now = self.clock.now();
        let mut stats = self.lock().stats(now);
        stats.http = Some(self.guards.load());
        stats
    }
}

/// A running simulator on loopback. Dropping it without [`SimServer::shutdown`] leaves the
/// listeners running until the tokio runtime ends.
pub struct SimServer {
    shared: Arc<Shared>,
    hosts: Hosts,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for SimServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimServer")
            .field("hosts", &self.hosts)
            .finish()
    }
}

impl SimServer {
    /// Starts the simulator on `127.0.0.1`, every listener on a free port.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
    /// let server = bfl_sim::SimServer::start(bfl_sim::SimConfig::default()).await?;
    /// assert!(server.base_url().starts_with("http://127.0.0.1:"));
    /// server.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub async fn start(config: SimConfig) -> io::Result<SimServer> {
        SimServer::start_with(config, ServerOptions::default()).await
    }

    /// Starts the simulator with explicit addresses.
    pub async fn start_with(mut config: SimConfig, opts: ServerOptions) -> io::Result<SimServer> {
        let bind = |port| TcpListener::bind(SocketAddr::new(opts.bind, port));
        let api = bind(opts.port).await?;
        let regional = bind(opts.regional_port).await?;
        let delivery = bind(opts.delivery_port).await?;
        let hostile = bind(opts.hostile_port).await?;
        let authority = |l: &TcpListener| -> io::Result<String> {
            let a = l.local_addr()?;
            Ok(match a.ip() {
                IpAddr::V6(ip) => format!("[{ip}]:{}", a.port()),
                IpAddr::V4(ip) => format!("{ip}:{}", a.port()),
            })
        };
        let hosts = Hosts {
            scheme: "http".into(),
            api: authority(&api)?,
            regional: authority(&regional)?,
            delivery: authority(&delivery)?,
            hostile: authority(&hostile)?,
        };
        let (clock, epoch) = WallClock::start();
        config.epoch_unix = epoch;
        let shared = Arc::new(Shared {
            sim: Mutex::new(Sim::new(config, hosts.clone())),
            clock,
            webhooks: crate::webhooks::send::http_sender(),
            guards: Guards::new(opts.bounds),
        });
        let (stop, _) = watch::channel(false);
        let tasks = [
            (api, Role::Api),
            (regional, Role::Regional),
            (delivery, Role::Delivery),
            (hostile, Role::Hostile),
        ]
        .into_iter()
        .map(|(l, role)| tokio::spawn(accept_loop(l, role, Arc::clone(&shared), stop.subscribe())))
        .collect();
        tracing::info!(api = %hosts.api, delivery = %hosts.delivery, regional = %hosts.regional, hostile = %hosts.hostile, "bfl-sim listening");
        Ok(SimServer {
            shared,
            hosts,
            stop,
            tasks,
        })
    }

    /// The API base URL, e.g. `http://127.0.0.1:41234` (append `/v1` or not: bfl-core accepts both).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.hosts.api)
    }

    /// `host:port` of the API.
    pub fn api_authority(&self) -> &str {
        &self.hosts.api
    }

    /// `host:port` of the regional polling host (give it to `ClientBuilder::allow_key_host`).
    pub fn regional_authority(&self) -> &str {
        &self.hosts.regional
    }

    /// `host:port` of the delivery host.
    pub fn delivery_authority(&self) -> &str {
        &self.hosts.delivery
    }

    /// `host:port` of the hostile polling host.
    pub fn hostile_authority(&self) -> &str {
        &self.hosts.hostile
    }

    /// Seconds since the server started (its sim time).
    pub fn now(&self) -> f64 {
        self.shared.clock.now()
    }

    /// A snapshot of the ground truth, the HTTP face's load included.
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// Runs `f` on the core (locked) with the current sim time.
    pub fn with_sim<R>(&self, f: impl FnOnce(&mut Sim, f64) -> R) -> R {
        let now = self.now();
        f(&mut self.shared.lock(), now)
    }

    /// Stops every listener and drops open connections (hung requests included).
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    role: Role,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => return,
        };
        let stream = match accepted {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        // Over the limit, the connection is closed at once: nothing of it is held.
        let Some(permit) = shared.guards.admit() else {
            tracing::debug!("connection refused: at the connection limit");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let shared = Arc::clone(&shared);
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let conn_shared = Arc::clone(&shared);
            let service = service_fn(move |req| serve(Arc::clone(&conn_shared), role, req));
            let conn = http1::Builder::new()
                .keep_alive(true)
                .timer(TokioTimer::new())
                .header_read_timeout(shared.guards.bounds.header_read_timeout)
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                r = conn => if let Err(e) = r {
                    if e.is_timeout() {
                        shared.guards.header_timed_out();
                    }
                    tracing::debug!(error = %e, "connection ended");
                },
                _ = stop.changed() => {}
            }
        });
    }
}

/// How long a hung request holds its connection at most.
const HANG_LIMIT: Duration = Duration::from_secs(600);

/// A hung request's end: the connection is closed without an answer.
#[derive(Debug, thiserror::Error)]
#[error("hung request dropped")]
struct HungUp;

async fn serve(
    shared: Arc<Shared>,
    role: Role,
    req: http::Request<Incoming>,
) -> Result<http::Response<WireBody>, HungUp> {
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse().ok());
    let body = match shared.guards.read(declared, body).await {
        Ok(b) => b,
        Err(BodyRefusal::Busy) => {
            let mut r = plain(
                503,
                r#"{"detail":"Server busy: too many request bytes in flight"}"#,
            );
            r.headers_mut().insert(
                http::header::RETRY_AFTER,
                http::HeaderValue::from_static("1"),
            );
            return Ok(r);
        }
        Err(BodyRefusal::TooLarge | BodyRefusal::Broken) => {
            return Ok(plain(
                413,
                r#"{"detail":"Request body too large or broken"}"#,
            ));
        }
    };
    if let Some(resp) = sim_endpoint(&shared, &parts, &body.bytes) {
        return Ok(to_hyper(resp));
    }
    let key = parts
        .headers
        .get("x-key")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let sim_req = SimRequest {
        role,
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query(),
        key: key.as_deref(),
        body: &body.bytes,
    };
    let now = shared.clock.now();
    let resp = shared.lock().handle(now, &sim_req);
    spawn_deliveries(&shared);
    drop(body);
    tracing::debug!(role = ?role, method = %parts.method, uri = %parts.uri, status = resp.status, delay = resp.delay, hang = resp.hang, "request");
    if resp.hang {
        // Held until the client gives up or the server shuts down; after HANG_LIMIT the
        // connection is dropped without an answer, so a long run does not pile up sockets.
        tokio::time::sleep(HANG_LIMIT).await;
        return Err(HungUp);
    }
    if resp.delay > 0.0 {
        tokio::time::sleep(Duration::from_secs_f64(resp.delay)).await;
    }
    // Encoding a large image takes a while (it is cached once made): off the reactor, so other
    // connections are answered meanwhile.
    if matches!(resp.body, crate::core::SimBody::Image(_)) {
        let rendered = tokio::task::spawn_blocking(move || to_hyper(resp)).await;
        return Ok(rendered.unwrap_or_else(|_| plain(500, r#"{"detail":"image encoding failed"}"#)));
    }
    Ok(to_hyper(resp))
}

/// The simulator's own endpoints (`/__sim/…`), not counted as requests.
fn sim_endpoint(shared: &Shared, parts: &http::request::Parts, body: &[u8]) -> Option<SimResponse> {
    let json = |v: serde_json::Result<Vec<u8>>| SimResponse::json(200, v.unwrap_or_default());
    let now = shared.clock.now();
    Some(match parts.uri.path() {
        "/__sim/stats" => json(serde_json::to_vec(&shared.stats())),
        "/__sim/summary" => json(serde_json::to_vec(&shared.lock().summary(now))),
        "/__sim/config" => {
            crate::control::answer(&mut shared.lock(), now, parts.method.as_str(), body)
        }
        _ => return None,
    })
}

fn plain(status: u16, body: &'static str) -> http::Response<WireBody> {
    let mut r = http::Response::new(WireBody::exact(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::BAD_REQUEST);
    r
}

fn to_hyper(resp: SimResponse) -> http::Response<WireBody> {
    let (parts, body) = resp.into_http().into_parts();
    let body = if parts.headers.contains_key(http::header::CONTENT_LENGTH) {
        WireBody::announced(body)
    } else {
        WireBody::exact(body)
    };
    http::Response::from_parts(parts, body)
}
