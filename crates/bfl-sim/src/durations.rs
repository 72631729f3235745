//! The simulator's default generation times. Durations themselves are
//! [`bfl_core::dist::DurationDist`]s, written in its one grammar (`fixed:5`, `lognormal:6,0.5`,
//! `uniform:2,8`, `bimodal:0.01,6,0.5,60,0.5`, `samples:1.5,2,7.25`, …) in scenario files and
//! on the command line alike.

use bfl_core::dist::DurationDist;

/// The default generation time of a model family (`docs/bfl-api.md`, "Generation times").
pub fn default_for_model(model: &str) -> DurationDist {
    let (median, sigma) = if model.starts_with("flux-2-klein") {
        (0.6, 0.3)
    } else if model.starts_with("flux-2-max") || model == "flux-kontext-max" {
        (14.0, 0.3)
    } else if model.starts_with("flux-2-flex") {
        (7.0, 0.4)
    } else if model == "flux-dev" {
        (7.0, 0.15)
    } else if model.contains("ultra") {
        (10.0, 0.4)
    } else if model.starts_with("flux-pro-1.0") {
        (8.0, 0.4)
    } else {
        (6.0, 0.5)
    };
    DurationDist::LogNormal { median, sigma }
}
