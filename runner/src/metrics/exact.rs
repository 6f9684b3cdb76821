//! The harness's exact samples: every observation of the mock's three `cowload_*` histograms
//! (event→order seconds and blocks, POSTs per order), per kind, as the mock handed them over
//! after each scrape.
//!
//! In: [`mock_orderbook::Truth::take_exact_samples`] at every scrape. Out: the samples of
//! any set of points, their nearest-rank quantiles and summaries. Why: a quantile interpolated
//! inside a histogram bucket can be off by a whole bucket (a p99 of 8.0 s read as 9.8 s in a
//! 5–10 s bucket; a median of exactly one POST read as 0.5). Bars on these histograms, the
//! report's tables and the progress line all read the samples through [`quantile`], so the
//! verdict and the report print the same figure.

use cowload_spec::{EventKind, ExactHistogram, ExactSamples, PerKind, Summary};

use super::Point;

/// One scrape's exact samples: what each kind observed since the scrape before.
pub type ExactByKind = PerKind<ExactSamples>;

/// Every sample of `histogram` of the kinds `keep` accepts, over the intervals that end at
/// `points` (the first point's interval lies before them and is left out, as a window's
/// baseline is); `None` when a point has no exact samples (not scraped by the harness).
pub fn samples(
    points: &[Point],
    histogram: ExactHistogram,
    keep: impl Fn(EventKind) -> bool,
) -> Option<Vec<f64>> {
    let mut all = Vec::new();
    for point in points.get(1..).unwrap_or_default() {
        all.extend(of_point(point, histogram, &keep)?);
    }
    Some(all)
}

/// The samples of `histogram` of the kinds `keep` accepts taken with `point`'s scrape (its
/// interval), in arrival order; `None` when the point has no exact samples.
pub fn of_point(
    point: &Point,
    histogram: ExactHistogram,
    keep: impl Fn(EventKind) -> bool,
) -> Option<Vec<f64>> {
    let exact = point.exact.as_ref()?;
    Some(
        exact
            .iter()
            .filter(|(kind, _)| keep(*kind))
            .flat_map(|(_, samples)| samples.get(histogram).iter().copied())
            .collect(),
    )
}

/// The `q` quantile of `samples` by nearest rank (the smallest sample with at least `q` of
/// them at or below it); `None` without samples.
pub fn quantile(samples: &[f64], q: f64) -> Option<f64> {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    rank(&sorted, q)
}

fn rank(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len() as f64;
    let rank = (q * n).ceil().clamp(1.0, n);
    Some(sorted[rank as usize - 1])
}

/// Count, min, p50, p90, p99, max and mean of `samples`, every quantile by [`quantile`]'s
/// rule; all zero without samples.
pub fn summary(samples: &[f64]) -> Summary {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let at = |q| rank(&sorted, q).unwrap_or(0.0);
    Summary {
        count: sorted.len() as u64,
        min: at(0.0),
        p50: at(0.5),
        p90: at(0.9),
        p99: at(0.99),
        max: at(1.0),
        mean: if sorted.is_empty() {
            0.0
        } else {
            sorted.iter().sum::<f64>() / sorted.len() as f64
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank() {
        let samples = [0.3, 0.1, 0.2, 0.4];
        assert_eq!(quantile(&samples, 0.5), Some(0.2));
        assert_eq!(quantile(&samples, 0.51), Some(0.3));
        assert_eq!(quantile(&samples, 0.99), Some(0.4));
        assert_eq!(quantile(&samples, 0.0), Some(0.1));
        assert_eq!(quantile(&[], 0.5), None);
        // All ones: the median is one, never an interpolated 0.5.
        assert_eq!(quantile(&[1.0; 7], 0.5), Some(1.0));
        let s = summary(&samples);
        assert_eq!((s.count, s.min, s.p50, s.max), (4, 0.1, 0.2, 0.4));
        assert!((s.mean - 0.25).abs() < 1e-12);
        assert_eq!(summary(&[]), Summary::default());
    }
}
