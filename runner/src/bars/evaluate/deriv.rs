//! `deriv(series)`: how fast a gauge grows, for leaks that only show over hours.
//!
//! In: a selector and the window's scrapes. Out: the steepest least-squares slope among the
//! selected series, per second of wall-clock time (or why there is none).
//!
//! Why least squares over every scrape, against wall-clock time: a leak is a trend under
//! noise (a garbage collector's saw-tooth, a burst of orders), so the slope of a line fitted
//! through every point says more than the difference of two points, as PromQL's `deriv()`
//! does. The time axis is the harness's own `cowload_run_elapsed_seconds`, taken at the same
//! scrape as the value, because a leak grows with the engine's running time, not with block
//! numbers (a paused chain still leaks). Each label set is fitted on its own and the steepest
//! is judged: one leaking series is a leak.

use super::{absent, braces, Labels, NoData, Select};
use crate::bars::Selector;
use crate::metrics::Point;
use cowload_spec::names;

/// Fewest scrapes a slope is fitted through: two points always fit a line exactly, so a
/// third is the least that can show a trend under noise.
const MIN_POINTS: usize = 3;

/// The steepest slope among the series `sel` selects, per second.
pub(super) fn observe(sel: &Selector, series: &[Point]) -> Result<f64, NoData> {
    let mut fits: std::collections::BTreeMap<&Labels, Vec<(f64, f64)>> = Default::default();
    for point in series {
        let Some(at) = point.snapshot.value(names::RUN_ELAPSED_SECONDS, &[]) else {
            continue;
        };
        for sample in sel.select(&point.snapshot) {
            if sample.value.is_finite() {
                fits.entry(&sample.labels)
                    .or_default()
                    .push((at, sample.value));
            }
        }
    }
    if fits.is_empty() {
        // Nothing selected anywhere: `or 0` reads a flat 0, anything else has no data.
        return absent(sel, series).map(|_| 0.0);
    }
    let mut steepest: Option<f64> = None;
    let mut short = Vec::new();
    for (labels, points) in &fits {
        match slope(points) {
            Some(s) => steepest = Some(steepest.map_or(s, |best: f64| best.max(s))),
            None => short.push(format!("{}{}", sel.name, braces(labels))),
        }
    }
    steepest.ok_or_else(|| {
        format!(
            "{} has fewer than {MIN_POINTS} scrapes at distinct times in the window, too few to \
             fit a slope",
            short.join(", ")
        )
    })
}

/// The least-squares slope of `y` over `x`; `None` with fewer than [`MIN_POINTS`] points or
/// no spread in time.
fn slope(points: &[(f64, f64)]) -> Option<f64> {
    if points.len() < MIN_POINTS {
        return None;
    }
    let n = points.len() as f64;
    let mean_x = points.iter().map(|(x, _)| x).sum::<f64>() / n;
    let mean_y = points.iter().map(|(_, y)| y).sum::<f64>() / n;
    let (mut covariance, mut variance) = (0.0, 0.0);
    for (x, y) in points {
        covariance += (x - mean_x) * (y - mean_y);
        variance += (x - mean_x) * (x - mean_x);
    }
    (variance > 0.0).then(|| covariance / variance)
}

#[cfg(test)]
mod tests {
    use super::slope;

    #[test]
    fn a_line_gives_its_slope_and_noise_around_it_averages_out() {
        let line: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, 5.0 + 2.0 * i as f64)).collect();
        assert_eq!(slope(&line), Some(2.0));
        // A saw-tooth of ±3 around a flat line has no trend worth its amplitude.
        let saw: Vec<(f64, f64)> = (0..100)
            .map(|i| (i as f64, 100.0 + if i % 2 == 0 { 3.0 } else { -3.0 }))
            .collect();
        assert!(slope(&saw).unwrap().abs() < 0.01);
        assert_eq!(slope(&line[..2]), None, "two points always fit");
        assert_eq!(
            slope(&[(1.0, 1.0), (1.0, 2.0), (1.0, 3.0)]),
            None,
            "no time"
        );
    }
}
