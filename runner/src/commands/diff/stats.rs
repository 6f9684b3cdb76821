//! The statistics behind `runner diff`: Welch's t-test on per-run values (or
//! the paired t-test, for runs made side by side) and the Benjamini–Hochberg
//! adjustment of many p-values at once.
//!
//! In: one value per run and side (a run's p99, a counter's increase, …), or a
//! list of p-values. Out: a p-value and a 95 % interval of head − base, or
//! adjusted p-values.
//!
//! Why the run is the unit: samples inside one run share that run's luck (a CPU
//! hog beside it slows every block), so treating blocks as independent would
//! call run-to-run noise significant. Welch's test on per-run values carries the
//! between-run variance by construction and, unlike a bootstrap over three runs,
//! stays honest with few runs (its t quantile widens as the runs get fewer).
//! Why Benjamini–Hochberg: a diff tests a hundred readings at once; without an
//! adjustment a few would pass 5 % by chance in every comparison.

use statrs::distribution::{ContinuousCDF, StudentsT};

/// Two-sided level of the intervals shown beside each reading.
pub const INTERVAL_LEVEL: f64 = 0.95;

/// A t-test of `head − base`: Welch's unequal-variance test, or the paired
/// test ([`paired`]), which fills the same fields.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Welch {
    /// Mean of head minus mean of base.
    pub difference: f64,
    /// The t statistic (infinite when both sides are constant and differ).
    pub t: f64,
    /// Welch–Satterthwaite degrees of freedom.
    pub df: f64,
    /// Two-sided p-value.
    pub p: f64,
    /// [`INTERVAL_LEVEL`] interval of the difference of means.
    pub interval: (f64, f64),
}

/// Arithmetic mean; `None` for no values.
pub fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// Sample variance (n − 1); `None` below two values.
fn variance(values: &[f64]) -> Option<f64> {
    let m = mean(values)?;
    (values.len() >= 2)
        .then(|| values.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (values.len() - 1) as f64)
}

/// Welch's test; `None` unless both sides have at least two values (one run
/// says nothing about how much runs vary).
pub fn welch(base: &[f64], head: &[f64]) -> Option<Welch> {
    welch_quantized(base, head, (0.0, 0.0))
}

/// The variance of a side's mean that values read inside histogram buckets `width` wide can
/// claim at best: one bucket's worth (uniform error, `width² / 12`), however many runs agree,
/// because every run of a side lands in the same bucket by the same interpolation.
fn quantization_floor(width: f64) -> f64 {
    width * width / 12.0
}

/// Welch's test on values interpolated inside histogram buckets of `widths` (base, head;
/// 0 for exact values): each side's squared standard error is at least
/// [`quantization_floor`] of its width, so sides that are constant only because they were
/// quantized give neither a zero-width interval nor an extreme p-value.
pub fn welch_quantized(base: &[f64], head: &[f64], widths: (f64, f64)) -> Option<Welch> {
    let (vb, vh) = (variance(base)?, variance(head)?);
    let (mb, mh) = (mean(base)?, mean(head)?);
    let difference = mh - mb;
    let sb = (vb / base.len() as f64).max(quantization_floor(widths.0));
    let sh = (vh / head.len() as f64).max(quantization_floor(widths.1));
    let se2 = sb + sh;
    let df = if se2 > 0.0 && se2.is_finite() {
        se2 * se2 / (sb * sb / (base.len() - 1) as f64 + sh * sh / (head.len() - 1) as f64)
    } else {
        (base.len() + head.len() - 2) as f64
    };
    t_test(difference, se2.sqrt(), df)
}

/// The two-sided t-test of `difference` with standard error `se` and `df`
/// degrees of freedom, and its [`INTERVAL_LEVEL`] interval. A zero (or not
/// finite) `se` means no spread at all: the difference is either none or certain.
fn t_test(difference: f64, se: f64, df: f64) -> Option<Welch> {
    if se <= 0.0 || !se.is_finite() {
        return Some(Welch {
            difference,
            t: if difference == 0.0 {
                0.0
            } else {
                f64::INFINITY.copysign(difference)
            },
            df,
            p: if difference == 0.0 { 1.0 } else { 0.0 },
            interval: (difference, difference),
        });
    }
    let t = difference / se;
    let dist = StudentsT::new(0.0, 1.0, df).ok()?;
    let p = (2.0 * dist.cdf(-t.abs())).clamp(0.0, 1.0);
    let half = dist.inverse_cdf(0.5 + INTERVAL_LEVEL / 2.0) * se;
    Some(Welch {
        difference,
        t,
        df,
        p,
        interval: (difference - half, difference + half),
    })
}

/// The paired t-test of `head − base`, run `i` of head against run `i` of
/// base: the runs of a pair were made side by side (interleaved), so the
/// machine's slow drift, which moves both, drops out of their difference.
/// `None` unless there are two pairs or more of equal-length sides.
pub fn paired(base: &[f64], head: &[f64]) -> Option<Welch> {
    paired_quantized(base, head, (0.0, 0.0))
}

/// [`paired`] on values read inside histogram buckets of `widths` (base, head): the mean
/// difference's squared standard error is at least both sides' [`quantization_floor`].
pub fn paired_quantized(base: &[f64], head: &[f64], widths: (f64, f64)) -> Option<Welch> {
    if base.len() != head.len() {
        return None;
    }
    let differences: Vec<f64> = base.iter().zip(head).map(|(b, h)| h - b).collect();
    let n = differences.len() as f64;
    let floor = quantization_floor(widths.0) + quantization_floor(widths.1);
    let se = (variance(&differences)? / n).max(floor).sqrt();
    t_test(mean(&differences)?, se, n - 1.0)
}

/// Benjamini–Hochberg adjusted p-values, in the order given: a reading is
/// significant at false discovery rate q when its adjusted p is ≤ q. Under no
/// change at all, the chance that any reading passes is at most q.
pub fn benjamini_hochberg(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut adjusted = vec![1.0; m];
    let mut running = 1.0_f64;
    for (rank, &i) in order.iter().enumerate().rev() {
        running = running.min(p[i] * m as f64 / (rank + 1) as f64);
        adjusted[i] = running.min(1.0);
    }
    adjusted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tolerance: f64) -> bool {
        (a - b).abs() <= tolerance
    }

    /// Student's sleep data (R's `t.test(extra ~ group, data = sleep)`):
    /// t = −1.8608, df = 17.776, p = 0.07939, 95 % CI −3.3654832 … 0.2054832
    /// (group 1 − group 2; here head − base, so the signs flip).
    #[test]
    fn welch_matches_the_textbook_sleep_example() {
        let group1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0];
        let group2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4];
        let w = welch(&group2, &group1).unwrap();
        assert!(close(w.t, -1.8608, 1e-4), "{w:?}");
        assert!(close(w.df, 17.776, 1e-3), "{w:?}");
        assert!(close(w.p, 0.07939, 1e-5), "{w:?}");
        assert!(close(w.interval.0, -3.3654832, 1e-6), "{w:?}");
        assert!(close(w.interval.1, 0.2054832, 1e-6), "{w:?}");
    }

    #[test]
    fn the_paired_test_sees_a_shift_that_drift_hides_from_welch() {
        // Five pairs made side by side while the machine drifted; head is ~8 % slower
        // in every pair, less than the drift between pairs.
        let base = [100.0, 120.0, 90.0, 130.0, 110.0];
        let head = [108.0, 131.0, 96.0, 140.0, 119.0];
        let unpaired = welch(&base, &head).unwrap();
        let pairs = paired(&base, &head).unwrap();
        assert!(unpaired.p > 0.3, "{unpaired:?}");
        assert!(pairs.p < 0.001, "{pairs:?}");
        assert_eq!(pairs.df, 4.0);
        assert!((pairs.difference - 8.8).abs() < 1e-9);
        assert!(pairs.interval.0 > 0.0 && pairs.interval.1 < 20.0);
        // Unequal sides cannot be paired; one pair has no variance to test against.
        assert_eq!(paired(&base, &head[..4]), None);
        assert_eq!(paired(&base[..1], &head[..1]), None);
        // Every pair moved alike: certain.
        assert_eq!(paired(&[1.0, 2.0], &[2.0, 3.0]).unwrap().p, 0.0);
    }

    #[test]
    fn welch_needs_two_runs_per_side_and_handles_constant_sides() {
        assert!(welch(&[1.0], &[1.0, 2.0]).is_none());
        assert!(welch(&[1.0, 2.0], &[]).is_none());
        let same = welch(&[3.0, 3.0, 3.0], &[3.0, 3.0]).unwrap();
        assert_eq!((same.p, same.difference), (1.0, 0.0));
        let moved = welch(&[3.0, 3.0], &[4.0, 4.0, 4.0]).unwrap();
        assert_eq!((moved.p, moved.difference), (0.0, 1.0));
    }

    /// Two sides constant only because they were read inside histogram buckets
    /// get no zero-width interval and no extreme p-value.
    #[test]
    fn quantized_sides_are_never_surer_than_their_buckets() {
        let (base, head) = ([0.0818, 0.0818], [0.4062, 0.4062]);
        let blind = welch(&base, &head).unwrap();
        assert_eq!((blind.p, blind.interval.0), (0.0, blind.interval.1));
        let honest = welch_quantized(&base, &head, (0.05, 0.25)).unwrap();
        assert!(honest.p > 0.01, "{honest:?}");
        assert!(honest.interval.1 - honest.interval.0 > 0.1, "{honest:?}");
        let paired = paired_quantized(&base, &head, (0.05, 0.25)).unwrap();
        assert!(paired.p > 0.01, "{paired:?}");
        // Real spread wider than the bucket is kept as it is.
        let spread = welch_quantized(&[1.0, 3.0], &[1.0, 3.0], (0.1, 0.1)).unwrap();
        assert_eq!(spread, welch(&[1.0, 3.0], &[1.0, 3.0]).unwrap());
    }

    /// Worked by hand: sorted p 0.005, 0.01, 0.03, 0.04 (m = 4) give
    /// 0.02, 0.02, 0.04, 0.04 after the step-up minimum.
    #[test]
    fn benjamini_hochberg_matches_a_hand_worked_example() {
        let adjusted = benjamini_hochberg(&[0.01, 0.04, 0.03, 0.005]);
        let want = [0.02, 0.04, 0.04, 0.02];
        for (a, w) in adjusted.iter().zip(want) {
            assert!(close(*a, w, 1e-12), "{adjusted:?}");
        }
        assert!(benjamini_hochberg(&[]).is_empty());
        assert_eq!(benjamini_hochberg(&[0.9, 1.0]), vec![1.0, 1.0]);
    }
}
