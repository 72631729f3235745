//! The comparison as an SVG: mean lag against polls per job, a point per strategy, and the
//! oracle frontier no open-loop strategy can beat.

use super::report::CompareReport;
use plotters::prelude::*;
use std::path::Path;

/// Writes the plot of `report` to `path` (SVG).
pub(super) fn write_svg(path: &Path, report: &CompareReport) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| format!("plot {}: {e}", path.display());
    let results = &report.results;
    let x_max = max_polls(report) * 1.1;
    let y_max = lag_axis_max(report);

    let root = SVGBackend::new(path, (900, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{} (seed {})", report.scenario, report.seed),
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("polls per job")
        .y_desc("mean detection lag (s)")
        .draw()
        .map_err(|e| err(&e))?;

    let mut frontier: Vec<(f64, f64)> = report
        .oracle
        .iter()
        .filter(|p| p.polls_per_job <= x_max && p.mean_lag_s <= y_max)
        .map(|p| (p.polls_per_job, p.mean_lag_s))
        .collect();
    frontier.sort_by(|a, b| a.0.total_cmp(&b.0));
    if !frontier.is_empty() {
        chart
            .draw_series(LineSeries::new(frontier, BLACK.stroke_width(2)))
            .map_err(|e| err(&e))?
            .label("oracle frontier")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK));
    }
    for (i, r) in results.iter().enumerate() {
        let colour = Palette99::pick(i).to_rgba();
        let point = (r.polls_per_job, r.lag.mean);
        chart
            .draw_series(std::iter::once(Circle::new(point, 5, colour.filled())))
            .map_err(|e| err(&e))?
            .label(r.strategy.clone())
            .legend(move |(x, y)| Circle::new((x + 10, y), 4, colour.filled()));
        // Strategies on the same point (fixed-2s and adaptive on an idle server) share one
        // label, set beside the dot rather than over it.
        let Some(label) = point_label(report, i) else {
            continue;
        };
        chart
            .draw_series(std::iter::once(
                EmptyElement::at(point) + Text::new(label, (7, -14), ("sans-serif", 12)),
            ))
            .map_err(|e| err(&e))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

/// The top of the lag axis: every strategy's lag and the frontier's in view, with headroom.
fn lag_axis_max(report: &CompareReport) -> f64 {
    let oracle_in_view = |polls: f64| polls <= max_polls(report) * 1.05;
    report
        .results
        .iter()
        .map(|r| r.lag.mean)
        .chain(
            report
                .oracle
                .iter()
                .filter(|p| oracle_in_view(p.polls_per_job))
                .map(|p| p.mean_lag_s),
        )
        .fold(0.0f64, f64::max)
        .max(0.1)
        * 1.15
}

/// The label of result `i`'s point: every strategy on (nearly) the same point, joined with " = ",
/// drawn once, by the first of them.
fn point_label(report: &CompareReport, i: usize) -> Option<String> {
    let near = |a: f64, b: f64| (a - b).abs() <= 0.005 * a.abs().max(b.abs()).max(1e-9);
    let me = &report.results[i];
    let same: Vec<(usize, &str)> = report
        .results
        .iter()
        .enumerate()
        .filter(|(_, r)| near(r.polls_per_job, me.polls_per_job) && near(r.lag.mean, me.lag.mean))
        .map(|(j, r)| (j, r.strategy.as_str()))
        .collect();
    (same.first().map(|(j, _)| *j) == Some(i))
        .then(|| same.iter().map(|(_, s)| *s).collect::<Vec<_>>().join(" = "))
}

fn max_polls(report: &CompareReport) -> f64 {
    report
        .results
        .iter()
        .map(|r| r.polls_per_job)
        .fold(1.0f64, f64::max)
}
