//! A ready client: the real API from the environment, or an embedded simulator with `--sim`.

use super::output::fail;
use super::{EngineArgs, Global, EXIT_CONFIG};
use bfl_core::strategy::{default_strategy, preset};
use bfl_core::{Client, ClientBuilder};
use bfl_sim::{SimConfig, SimServer};

/// The key the embedded simulator is given: a real key never leaves for a simulator.
const SIM_KEY: &str = "bfl-sim-local-key";

/// A client, and the simulator it talks to when `--sim` started one (kept alive with it).
#[derive(Debug)]
pub(super) struct Connection {
    /// The client.
    pub client: Client,
    /// The embedded simulator, if any.
    pub sim: Option<SimServer>,
    /// The webhook receiver `--webhook-listen` started, if any.
    pub receiver: Option<bfl_hyper::WebhookReceiver>,
}

/// Why no client could be made.
#[derive(Debug, thiserror::Error)]
pub(super) enum ConnectError {
    /// No key, bad region or base URL, or a transport that cannot be built.
    #[error(transparent)]
    Env(#[from] bfl_hyper::EnvError),
    /// The client refused its settings.
    #[error(transparent)]
    Build(#[from] bfl_core::BuildError),
    /// The embedded simulator could not start.
    #[error("cannot start the embedded simulator: {0}")]
    Sim(String),
    /// The webhook receiver could not listen.
    #[error("cannot start the webhook receiver: {0}")]
    Webhooks(String),
}

/// Runs a command's `work` over a connection made as the global flags say (with the engine
/// settings of `engine`), then closes it (the embedded simulator and webhook receiver stop,
/// saying what they saw) and returns what `work` returned. A connection that cannot be made is
/// reported, `work` never runs, and the error is exit code 3.
pub(super) async fn connected<T>(
    global: &Global,
    engine: Option<&EngineArgs>,
    max_active: Option<usize>,
    work: impl AsyncFnOnce(&Connection) -> T,
) -> Result<T, u8> {
    let conn = match connect(global, engine, max_active).await {
        Ok(c) => c,
        Err(e) => return Err(fail(global, EXIT_CONFIG, &e.to_string())),
    };
    let done = work(&conn).await;
    conn.close().await;
    Ok(done)
}

/// Connects as the global flags say, with the engine settings of `engine`.
async fn connect(
    global: &Global,
    engine: Option<&EngineArgs>,
    max_active: Option<usize>,
) -> Result<Connection, ConnectError> {
    let (builder, sim) = if global.sim || global.sim_scenario.is_some() {
        let config = match &global.sim_scenario {
            // The simulator's one loader: a file (or a built-in's name), checked.
            Some(path) => {
                bfl_sim::scenarios::load(&path.to_string_lossy()).map_err(ConnectError::Sim)?
            }
            None => SimConfig::default(),
        };
        let server = SimServer::start(config)
            .await
            .map_err(|e| ConnectError::Sim(e.to_string()))?;
        tracing::info!(base_url = %server.base_url(), "embedded simulator started");
        let builder = bfl_hyper::client_builder()
            .map_err(bfl_hyper::EnvError::from)?
            .api_key(SIM_KEY)
            .base_url(server.base_url())
            .allow_key_host(server.regional_authority());
        (builder, Some(server))
    } else {
        let base_url = global
            .base_url
            .clone()
            .or_else(|| std::env::var(bfl_hyper::BASE_URL_VAR).ok());
        let region = global.region.clone();
        let builder = bfl_hyper::builder_from_vars(|name| match name {
            bfl_hyper::BASE_URL_VAR => base_url.clone(),
            bfl_hyper::REGION_VAR => region.clone().or_else(|| std::env::var(name).ok()),
            other => std::env::var(other).ok(),
        })?;
        let builder = global
            .key_host
            .iter()
            .fold(builder, |b, host| b.allow_key_host(host.clone()));
        (builder, None)
    };
    let (builder, receiver) = match engine {
        Some(e) => super::webhooks::listen(&e.webhooks, builder)
            .await
            .map_err(|e| ConnectError::Webhooks(e.to_string()))?,
        None => (builder, None),
    };
    let client = configure(builder, engine, max_active).build()?;
    Ok(Connection {
        client,
        sim,
        receiver,
    })
}

fn configure(
    mut builder: ClientBuilder,
    engine: Option<&EngineArgs>,
    max_active: Option<usize>,
) -> ClientBuilder {
    if let Some(e) = engine {
        let strategy = preset(&e.strategy).unwrap_or_else(default_strategy);
        builder = builder
            .strategy(strategy)
            .deadline(e.timeout)
            .seed(e.client_seed);
        if let Some(rps) = e.max_rps {
            builder = builder.request_budget(rps);
        }
    }
    if let Some(n) = max_active {
        builder = builder.max_active(n);
    }
    builder
}

impl Connection {
    /// Stops the webhook receiver and the embedded simulator, if any.
    pub(super) async fn close(self) {
        if let Some(receiver) = self.receiver {
            eprintln!("{}", super::webhooks::summary(&receiver));
            receiver.shutdown().await;
        }
        if let Some(sim) = self.sim {
            sim.shutdown().await;
        }
    }
}
