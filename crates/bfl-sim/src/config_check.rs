//! The sanity check of a [`SimConfig`]: values no scenario can mean are refused with a message
//! naming the field, whether they come from a flag, a scenario file or `/__sim/config`.

use crate::config::{EndpointRates, SimConfig};

fn probability(name: &str, p: f64) -> Result<(), String> {
    if (0.0..=1.0).contains(&p) {
        Ok(())
    } else {
        Err(format!("{name} is a probability between 0 and 1, got {p}"))
    }
}

fn non_negative(name: &str, x: f64) -> Result<(), String> {
    if x.is_finite() && x >= 0.0 {
        Ok(())
    } else {
        Err(format!("{name} must be a finite number ≥ 0, got {x}"))
    }
}

fn rates(name: &str, r: &EndpointRates) -> Result<(), String> {
    for (endpoint, p) in [
        ("submit", r.submit),
        ("poll", r.poll),
        ("download", r.download),
        ("credits", r.credits),
    ] {
        probability(&format!("{name}.{endpoint}"), p)?;
    }
    Ok(())
}

fn windows(name: &str, w: &[(f64, f64)]) -> Result<(), String> {
    match w
        .iter()
        .find(|(a, b)| !(a.is_finite() && !b.is_nan() && a <= b))
    {
        Some((a, b)) => Err(format!("{name}: window {a}-{b} must have FROM ≤ TO")),
        None => Ok(()),
    }
}

fn webhooks(w: &crate::webhooks::WebhookConfig) -> Result<(), String> {
    for (name, p) in [
        ("webhooks.drop", w.drop),
        ("webhooks.duplicate", w.duplicate),
        ("webhooks.out_of_order", w.out_of_order),
        ("webhooks.forged", w.forged),
    ] {
        probability(name, p)?;
    }
    for (name, x) in [
        ("webhooks.delay_median_secs", w.delay_median_secs),
        ("webhooks.delay_sigma", w.delay_sigma),
        ("webhooks.late_secs", w.late_secs),
        ("webhooks.timeout_secs", w.timeout_secs),
    ] {
        non_negative(name, x)?;
    }
    Ok(())
}

/// See [`SimConfig::check`].
pub(crate) fn check(c: &SimConfig) -> Result<(), String> {
    let o = &c.outcomes;
    probability("outcomes.error", o.error)?;
    probability("outcomes.request_moderated", o.request_moderated)?;
    probability("outcomes.content_moderated", o.content_moderated)?;
    probability(
        "the sum of the outcome rates",
        o.error + o.request_moderated + o.content_moderated,
    )?;
    let f = &c.faults;
    rates("faults.server_error", &f.server_error)?;
    rates("faults.hang", &f.hang)?;
    rates("faults.lost_answer", &f.lost_answer)?;
    rates("faults.malformed", &f.malformed)?;
    rates("faults.truncated", &f.truncated)?;
    windows("faults.brownouts", &f.brownouts)?;
    let l = &f.latency;
    non_negative("faults.latency.base", l.base)?;
    non_negative("faults.latency.jitter", l.jitter)?;
    non_negative("faults.latency.spike_factor", l.spike_factor)?;
    non_negative("faults.latency.download_extra", l.download_extra)?;
    probability("faults.latency.spike_rate", l.spike_rate)?;
    windows("faults.latency.spike_windows", &l.spike_windows)?;
    webhooks(&c.webhooks)?;
    non_negative("result_ttl_secs", c.result_ttl_secs)?;
    non_negative("retention_secs", c.retention_secs)?;
    non_negative(
        "quirks.not_found_after_submit_secs",
        c.quirks.not_found_after_submit_secs,
    )?;
    non_negative("default_cost", c.default_cost)?;
    for (model, cost) in &c.costs {
        non_negative(&format!("costs.{model}"), *cost)?;
    }
    if let Some(credits) = c.credits {
        non_negative("credits", credits)?;
    }
    if let Some((t, _)) = c.limits.schedule.iter().find(|(t, _)| !t.is_finite()) {
        return Err(format!("limits.schedule: time {t} is not finite"));
    }
    if c.image_max_side == 0 {
        return Err("image_max_side must be at least 1".into());
    }
    if c.capacity == Some(0) {
        return Err("capacity must be at least 1 (omit it for unlimited)".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonsense_is_refused_with_the_field_named() {
        assert!(SimConfig::default().check().is_ok());
        let mut c = SimConfig::default();
        c.outcomes.error = 1.5;
        assert!(c.check().unwrap_err().contains("outcomes.error"));
        let mut c = SimConfig::default();
        c.faults.latency.base = -1.0;
        assert!(c.check().unwrap_err().contains("latency.base"));
        let mut c = SimConfig::default();
        c.faults.brownouts.push((40.0, 10.0));
        assert!(c.check().unwrap_err().contains("brownouts"));
        let mut c = SimConfig::default();
        c.webhooks.duplicate = 2.0;
        assert!(c.check().unwrap_err().contains("webhooks.duplicate"));
        let mut c = SimConfig::default();
        c.webhooks.late_secs = f64::INFINITY;
        assert!(c.check().unwrap_err().contains("webhooks.late_secs"));
        let c = SimConfig {
            credits: Some(f64::NAN),
            ..SimConfig::default()
        };
        assert!(c.check().unwrap_err().contains("credits"));
    }
}
