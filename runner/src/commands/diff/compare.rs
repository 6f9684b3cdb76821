//! The comparison itself: per reading, the exact check, the noise band or the t-test
//! (Welch's or paired), then Benjamini–Hochberg within each family.

use super::model::{Change, Comparison, Design, Direction, Noise, Row, Side, Test};
use super::readings::{readings, Class, Reading, Readings, Section};
use super::{stats, FDR, FDR_PRIMARY, FDR_SECONDARY};
use crate::report::{Outcome, Status};

/// Compares the `head` runs against the `base` runs.
pub fn compare(base: &[Outcome], head: &[Outcome], noise: Noise, design: Design) -> Comparison {
    let before: Vec<Readings> = base.iter().map(readings).collect();
    let after: Vec<Readings> = head.iter().map(readings).collect();
    compare_readings(side(base), side(head), &before, &after, noise, design)
}

/// The rows of two sets of runs' readings; shared by outcomes and searches.
pub(super) fn compare_readings(
    base: Side,
    head: Side,
    before: &[Readings],
    after: &[Readings],
    noise: Noise,
    design: Design,
) -> Comparison {
    let mut keys: Vec<&(Section, String)> = before
        .iter()
        .chain(after)
        .flat_map(|runs| runs.keys())
        .collect();
    keys.sort();
    keys.dedup();
    let mut rows: Vec<Row> = keys
        .into_iter()
        .map(|key| {
            let pick = |runs: &[Readings]| -> Vec<Reading> {
                runs.iter().filter_map(|r| r.get(key).copied()).collect()
            };
            let pairs = match design {
                Design::Paired => pairs(before, after, key),
                Design::Independent => None,
            };
            row(&key.1, &pick(before), &pick(after), noise.0, pairs)
        })
        .collect();
    adjust(&mut rows);
    // Flipped bars first, keeping the fixed order otherwise (the sort is stable).
    rows.sort_by_key(|r| !matches!(r.change, Change::NowFails | Change::NowHolds));
    let regressions = rows.iter().filter(|r| r.change.is_regression()).count();
    let improvements = rows.iter().filter(|r| r.change.is_improvement()).count();
    Comparison {
        base,
        head,
        noise_percent: noise.0,
        fdr: FDR,
        fdr_primary: FDR_PRIMARY,
        paired: design == Design::Paired,
        rows,
        regressions,
        improvements,
    }
}

/// The values of `key` in run `i` of each side, when every run of both sides
/// has one (and the sides have as many runs): else the reading is not paired.
fn pairs(before: &[Readings], after: &[Readings], key: &(Section, String)) -> Option<Pairs> {
    if before.len() != after.len() {
        return None;
    }
    let value = |runs: &Readings| runs.get(key).and_then(|r| r.value);
    before
        .iter()
        .zip(after)
        .map(|(b, a)| Some((value(b)?, value(a)?)))
        .collect::<Option<Vec<_>>>()
        .map(|pairs| pairs.into_iter().unzip())
}

/// Base and head values of one reading, run by run.
type Pairs = (Vec<f64>, Vec<f64>);

/// Benjamini–Hochberg within each family over every Welch p-value of the
/// comparison (also those within the threshold: a family is every reading
/// tested, not the ones that looked big), then the verdicts of the rows
/// Welch decides.
fn adjust(rows: &mut [Row]) {
    for (primary, level) in [(true, FDR_PRIMARY), (false, FDR_SECONDARY)] {
        let tested: Vec<usize> = (0..rows.len())
            .filter(|&i| rows[i].p_value.is_some() && rows[i].primary == primary)
            .collect();
        let p: Vec<f64> = tested
            .iter()
            .map(|&i| rows[i].p_value.expect("filtered"))
            .collect();
        for (&i, adjusted) in tested.iter().zip(stats::benjamini_hochberg(&p)) {
            let row = &mut rows[i];
            row.p_adjusted = Some(adjusted);
            row.level = Some(level);
            if matches!(row.test, Test::Welch | Test::Paired) {
                // Past the threshold (else the row would be decided by it): a move that the
                // runs cannot tell from noise is said to be so, never called unchanged.
                row.change = if adjusted <= level {
                    directional(row.direction, row.delta.unwrap_or(0.0))
                } else {
                    Change::NotSignificant
                };
            }
        }
    }
}

/// The worst status of a side's runs.
fn side(runs: &[Outcome]) -> Side {
    let first = runs.first().expect("a side has at least one run");
    Side {
        scenario: first.scenario.name.clone(),
        hash: first.scenario.hash.clone(),
        status: worst_status(runs.iter().map(|o| o.status)),
        runs: runs.len(),
        left_out: 0,
    }
}

/// Error, then interrupted, then fail, then pass.
pub fn worst_status(statuses: impl Iterator<Item = Status>) -> Status {
    let rank = |s: &Status| match s {
        Status::Pass => 0,
        Status::Fail => 1,
        Status::Interrupted => 2,
        Status::Error => 3,
    };
    statuses.max_by_key(rank).unwrap_or(Status::Pass)
}

/// Better or worse by the reading's direction; `Changed` without one.
fn directional(direction: Direction, delta: f64) -> Change {
    match direction {
        Direction::Neutral => Change::Changed,
        Direction::Lower if delta < 0.0 => Change::Better,
        Direction::Higher if delta > 0.0 => Change::Better,
        _ => Change::Worse,
    }
}

/// A row before the Benjamini–Hochberg step (which settles `Test::Welch` rows).
fn row(metric: &str, base: &[Reading], head: &[Reading], noise: f64, pairs: Option<Pairs>) -> Row {
    let any = *head
        .first()
        .or(base.first())
        .expect("a key comes from one side at least");
    let values = |side: &[Reading]| -> Vec<f64> { side.iter().filter_map(|r| r.value).collect() };
    let (bv, hv) = (values(base), values(head));
    let summary = |v: &[f64]| match any.class {
        Class::Exact => worst(v, any.direction),
        Class::Measured => stats::mean(v),
        Class::Banded => v.first().copied(),
    };
    let (b, h) = (summary(&bv), summary(&hv));
    let delta = b.zip(h).map(|(b, h)| h - b);
    let delta_percent = b
        .zip(delta)
        .filter(|(b, _)| *b != 0.0)
        .map(|(b, d)| d / b.abs() * 100.0);
    // A value interpolated inside a bucket is only known to lie in it: a move smaller than
    // the widest bucket of either side is no move.
    let widest = |side: &[Reading]| {
        side.iter()
            .filter_map(|r| r.bucket)
            .fold(None, |w: Option<f64>, x| Some(w.map_or(x, |w| w.max(x))))
    };
    let widths = (widest(base), widest(head));
    let bucket_width = match widths {
        (None, None) => None,
        (b, h) => Some(b.unwrap_or(0.0).max(h.unwrap_or(0.0))),
    };
    let threshold = b.map(|b| {
        (b.abs() * noise / 100.0)
            .max(any.unit.floor())
            .max(bucket_width.unwrap_or(0.0))
    });
    let several = |v: &[f64]| if v.len() > 1 { v.to_vec() } else { Vec::new() };
    let mut row = Row {
        metric: metric.to_owned(),
        unit: any.unit.measure(),
        direction: any.direction,
        base: b,
        head: h,
        delta,
        delta_percent,
        change: Change::Unchanged,
        test: Test::Presence,
        threshold: None,
        bucket_width,
        p_value: None,
        p_adjusted: None,
        level: None,
        primary: any.primary,
        interval: None,
        base_runs: several(&bv),
        head_runs: several(&hv),
    };
    if let Some(flip) = flip(base, head) {
        (row.change, row.test) = (flip, Test::BarVerdict);
        return row;
    }
    match (base.is_empty(), head.is_empty(), b.zip(h)) {
        (true, _, _) => row.change = Change::New,
        (_, true, _) => row.change = Change::Removed,
        (_, _, None) if b.is_none() && h.is_none() => row.change = Change::Unchanged,
        // A value appeared or vanished (for example a bar lost its data).
        (_, _, None) => row.change = Change::Changed,
        (_, _, Some((bs, hs))) => {
            let d = hs - bs;
            match any.class {
                Class::Exact => {
                    row.test = Test::Exact;
                    row.change = if d == 0.0 {
                        Change::Unchanged
                    } else {
                        directional(any.direction, d)
                    };
                }
                Class::Banded => {
                    row.test = Test::NoiseBand;
                    row.threshold = threshold;
                    row.change = if d.abs() <= threshold.unwrap_or(0.0) {
                        Change::Unchanged
                    } else {
                        directional(any.direction, d)
                    };
                }
                Class::Measured => {
                    let widths = (widths.0.unwrap_or(0.0), widths.1.unwrap_or(0.0));
                    let tested = match pairs {
                        Some((b, h)) => {
                            stats::paired_quantized(&b, &h, widths).map(|t| (t, Test::Paired))
                        }
                        None => stats::welch_quantized(&bv, &hv, widths).map(|t| (t, Test::Welch)),
                    };
                    measured(&mut row, tested, threshold.unwrap_or(0.0));
                }
            }
        }
    }
    row
}

/// Threshold first, then the t-test `tested` (paired or Welch's; settled after the
/// adjustment).
fn measured(row: &mut Row, tested: Option<(stats::Welch, Test)>, threshold: f64) {
    let d = row.delta.unwrap_or(0.0);
    row.threshold = Some(threshold);
    if let Some((t, _)) = tested {
        row.p_value = Some(t.p);
        row.interval = Some([t.interval.0, t.interval.1]);
    }
    (row.test, row.change) = match tested {
        _ if d.abs() <= threshold => (Test::Threshold, Change::Unchanged),
        None => (Test::None, Change::NotEnoughData),
        Some((_, test)) => (test, Change::NotSignificant),
    };
}

/// A bar that held on every run of one side and failed on some run of the other.
fn flip(base: &[Reading], head: &[Reading]) -> Option<Change> {
    let holds = |side: &[Reading]| -> Option<bool> {
        let verdicts: Vec<bool> = side.iter().filter_map(|r| r.holds).collect();
        (!verdicts.is_empty()).then(|| verdicts.iter().all(|h| *h))
    };
    match (holds(base)?, holds(head)?) {
        (true, false) => Some(Change::NowFails),
        (false, true) => Some(Change::NowHolds),
        _ => None,
    }
}

/// The worst run's value: the largest where lower is better, the smallest
/// where higher is better, the median otherwise.
fn worst(values: &[f64], direction: Direction) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match direction {
        Direction::Lower => sorted.last().copied(),
        Direction::Higher => sorted.first().copied(),
        Direction::Neutral => sorted.get(sorted.len() / 2).copied(),
    }
}
