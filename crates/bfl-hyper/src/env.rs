//! Building a ready [`Client`] from the environment: `BFL_API_KEY`, and `BFL_BASE_URL` or
//! `BFL_REGION`.

use crate::runtime::TokioRuntime;
use crate::transport::{HyperTransport, TransportBuildError};
use bfl_core::BuildError;
use bfl_core::{Client, ClientBuilder};
use std::sync::Arc;

/// The variable holding the API key.
pub const KEY_VAR: &str = "BFL_API_KEY";
/// The variable holding an explicit API base URL (wins over [`REGION_VAR`]).
pub const BASE_URL_VAR: &str = "BFL_BASE_URL";
/// The variable naming a region: `global` (default), `eu` or `us`.
pub const REGION_VAR: &str = "BFL_REGION";

/// Why a client could not be built from the environment. Its `Debug` says it in words too, so
/// `fn main() -> Result<(), Box<dyn Error>>` prints more than `Error: MissingKey`.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvError {
    /// `BFL_API_KEY` is unset, empty or not valid Unicode.
    #[error(
        "BFL_API_KEY is not set (or empty): export BFL_API_KEY=bfl_… with your key, \
         or run against the embedded simulator with --sim"
    )]
    MissingKey,
    /// `BFL_REGION` names no known region.
    #[error("BFL_REGION={0:?} is not a known region: use global, eu or us (or set BFL_BASE_URL)")]
    UnknownRegion(String),
    /// The transport could not be built.
    #[error(transparent)]
    Transport(#[from] TransportBuildError),
    /// The client refused the settings (an unusable key or base URL).
    #[error(transparent)]
    Build(#[from] BuildError),
}

impl std::fmt::Debug for EnvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            EnvError::MissingKey => "MissingKey",
            EnvError::UnknownRegion(_) => "UnknownRegion",
            EnvError::Transport(_) => "Transport",
            EnvError::Build(_) => "Build",
        };
        write!(f, "{name}: {self}")
    }
}

/// The API base of a region name: `global` → `https://api.bfl.ai`, `eu` → `https://api.eu.bfl.ai`,
/// `us` → `https://api.us.bfl.ai` (case-insensitive).
pub fn region_base_url(region: &str) -> Option<&'static str> {
    match region.trim().to_ascii_lowercase().as_str() {
        "" | "global" => Some("https://api.bfl.ai"),
        "eu" => Some("https://api.eu.bfl.ai"),
        "us" => Some("https://api.us.bfl.ai"),
        _ => None,
    }
}

/// A [`ClientBuilder`] with [`HyperTransport`] (default settings) and [`TokioRuntime`] preset;
/// add the key and anything else.
pub fn client_builder() -> Result<ClientBuilder, TransportBuildError> {
    Ok(Client::builder()
        .transport(Arc::new(HyperTransport::new()?))
        .runtime(Arc::new(TokioRuntime::new())))
}

/// A [`ClientBuilder`] preset like [`client_builder`], with the key and base URL read from the
/// environment ([`KEY_VAR`], then [`BASE_URL_VAR`] or else [`REGION_VAR`]). Adjust it (strategy,
/// deadline, …) and call `build`.
pub fn builder_from_env() -> Result<ClientBuilder, EnvError> {
    builder_from_vars(|name| std::env::var(name).ok())
}

/// A ready [`Client`] from the environment (see [`builder_from_env`]).
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let client = bfl_hyper::client_from_env()?;
/// let req = bfl_core::GenerationRequest::new("flux-2-pro", "a red fox in snow");
/// let out = client.generate_to_file(req, std::path::Path::new("fox.jpeg")).await?;
/// println!("task {} done", out.ready.task.id);
/// # Ok(()) }
/// ```
pub fn client_from_env() -> Result<Client, EnvError> {
    Ok(builder_from_env()?.build()?)
}

/// [`builder_from_env`] over any variable lookup (for tests, or configuration from elsewhere).
pub fn builder_from_vars(var: impl Fn(&str) -> Option<String>) -> Result<ClientBuilder, EnvError> {
    let key = var(KEY_VAR)
        .filter(|k| !k.trim().is_empty())
        .ok_or(EnvError::MissingKey)?;
    let base = match var(BASE_URL_VAR).filter(|u| !u.trim().is_empty()) {
        Some(url) => url.trim().to_owned(),
        None => {
            let region = var(REGION_VAR).unwrap_or_default();
            region_base_url(&region)
                .ok_or(EnvError::UnknownRegion(region))?
                .to_owned()
        }
    };
    Ok(client_builder()?.api_key(key).base_url(base))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_key_says_what_to_do_even_in_debug() {
        let shown = format!("{:?}", EnvError::MissingKey);
        assert!(
            shown.starts_with("MissingKey: BFL_API_KEY is not set"),
            "{shown}"
        );
    }

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let owned: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            owned
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn missing_or_blank_key_is_a_typed_error_that_says_what_to_do() {
        for env in [vec![], vec![(KEY_VAR, "")], vec![(KEY_VAR, "   ")]] {
            let err = builder_from_vars(vars(&env)).err();
            assert_eq!(err, Some(EnvError::MissingKey));
        }
        let msg = EnvError::MissingKey.to_string();
        assert!(
            msg.contains("export BFL_API_KEY") && msg.contains("--sim"),
            "{msg}"
        );
    }

    #[test]
    fn region_and_base_url_pick_the_host_and_the_key_never_shows() {
        let c = builder_from_vars(vars(&[(KEY_VAR, "bfl_topsecret"), (REGION_VAR, "EU")]))
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(c.config().base.to_string(), "https://api.eu.bfl.ai/");
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("topsecret"), "{dbg}");

        let c = builder_from_vars(vars(&[
            (KEY_VAR, "bfl_topsecret"),
            (REGION_VAR, "us"),
            (BASE_URL_VAR, "http://127.0.0.1:9"),
        ]))
        .unwrap()
        .build()
        .unwrap();
        assert_eq!(c.config().base.to_string(), "http://127.0.0.1:9/");

        let c = builder_from_vars(vars(&[(KEY_VAR, "k")]))
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(c.config().base.to_string(), "https://api.bfl.ai/");

        let err = builder_from_vars(vars(&[(KEY_VAR, "k"), (REGION_VAR, "mars")])).err();
        assert_eq!(err, Some(EnvError::UnknownRegion("mars".into())));
    }
}
