//! `/__sim/config`: read and change the scenario mid-run, so a client's test can inject a fault
//! at the moment it chooses (as WireMock's or LocalStack's chaos APIs allow).
//!
//! - `GET /__sim/config` answers `{"now": <sim seconds>, "config": <SimConfig>}`.
//! - `PATCH` (or `POST`) with a JSON merge patch (RFC 7386) of `SimConfig` changes the named
//!   knobs and answers like `GET`: `{"outcomes": {"error": 0.5}}` makes half the next tasks fail,
//!   `{"faults": {"brownouts": [[NOW, NOW + 30]]}}` starts a 30 s brownout (windows are in sim
//!   seconds: take `now` from the `GET`). The result is checked like a scenario file; a bad one
//!   answers 422 and changes nothing. `seed` and `epoch_unix` are fixed at start.
//!
//! Changes apply to requests from then on; tasks already submitted keep their duration and
//! outcome. Control requests are not counted in the ground truth.

use crate::config::SimConfig;
use crate::core::Sim;
use crate::exchange::SimResponse;
use serde_json::{json, Value};

/// RFC 7386: objects merge key by key, `null` removes, anything else replaces.
fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    if let Value::Object(t) = target {
        for (k, v) in patch {
            if v.is_null() {
                t.remove(k);
            } else {
                merge(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

/// The scenario `patch` makes of `current`, checked.
pub fn patched(current: &SimConfig, patch: &[u8]) -> Result<SimConfig, String> {
    let patch: Value = serde_json::from_slice(patch).map_err(|e| format!("not JSON: {e}"))?;
    if !patch.is_object() {
        return Err("a merge patch of SimConfig is a JSON object".into());
    }
    let mut value = serde_json::to_value(current).map_err(|e| e.to_string())?;
    merge(&mut value, &patch);
    let next: SimConfig = serde_json::from_value(value).map_err(|e| e.to_string())?;
    if next.seed != current.seed || next.epoch_unix != current.epoch_unix {
        return Err("seed and epoch_unix are fixed at start".into());
    }
    next.check()?;
    Ok(next)
}

/// Answers a request to `/__sim/config` at `now`.
pub fn answer(sim: &mut Sim, now: f64, method: &str, body: &[u8]) -> SimResponse {
    if method.eq_ignore_ascii_case("PATCH") || method.eq_ignore_ascii_case("POST") {
        match patched(sim.config(), body) {
            Ok(next) => {
                tracing::info!("scenario changed through /__sim/config");
                *sim.config_mut() = next;
            }
            Err(e) => return SimResponse::detail(422, &e),
        }
    } else if !method.eq_ignore_ascii_case("GET") {
        return SimResponse::detail(405, "Method Not Allowed");
    }
    SimResponse::value(200, &json!({"now": now, "config": sim.config()}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_merge_patch_changes_only_what_it_names_and_is_checked() {
        let c = SimConfig::default();
        let next = patched(
            &c,
            br#"{"outcomes": {"error": 0.5}, "faults": {"brownouts": [[1, 9]]}}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(next.outcomes.error, 0.5);
        assert_eq!(next.faults.brownouts, vec![(1.0, 9.0)]);
        assert_eq!(next.limits, c.limits);
        assert!(patched(&c, br#"{"outcomes": {"error": 1.5}}"#).is_err());
        assert!(patched(&c, br#"{"no_such_knob": 1}"#).is_err());
        assert!(patched(&c, br#"{"seed": 99}"#).is_err());
        assert!(patched(&c, b"[1]").is_err());
    }
}
