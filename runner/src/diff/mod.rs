//! `runner diff BASE HEAD`: what moved between two sets of runs of the same
//! scenario, for a pull request, without crying wolf.
//!
//! In: two outcomes, each an `outcome.json`, a run directory, or a repeat
//! directory (`runner SCENARIO --repeat N`: `DIR/outcome.json` holding every
//! repeat, or `DIR/1..N/outcome.json`). Out: one row per reading (bars, totals,
//! mock accounting, stage growth, every engine/mock/harness series), each with
//! a direction, a delta, the test that decided it (with its p-value or
//! interval) and a verdict, rendered as markdown, text or JSON, and an exit code.
//!
//! Why these rules (docs/ci.md has the reasoning and the measurements):
//! - **Exact readings** (events on chain, matched, lost, duplicates, unmatched
//!   orders, the delivered ratio, bars' verdicts) are compared exactly, on the
//!   worst repeat of each side: one lost event is news, whatever the noise.
//! - **Measured readings** (latencies, engine series, stage growth, bars'
//!   observed values) change only when the move is larger than a practical
//!   threshold, max(`--noise` % of base, 1 ms or 1 event), **and** significant:
//!   Welch's t-test on one value per run (the run is the unit of replication:
//!   blocks of one run share its machine noise), or with `--paired` (runs
//!   made side by side, interleaved) the paired t-test on the per-pair
//!   differences, where the machine's drift between pairs cancels; the p-values adjusted by
//!   Benjamini–Hochberg in two families that split the error rate: the
//!   primary readings (event→order p50 and p99 per kind, what cowload is
//!   for) at [`FDR_PRIMARY`], every other measured reading at
//!   [`FDR_SECONDARY`]. With fewer than two runs on a side there is no
//!   run-to-run variance to test against: a move past the threshold is then
//!   "not enough data to judge", never a regression.
//! - Outcomes of different scenarios (hashes differ) are not comparable and
//!   are refused unless `--force`.

mod input;
mod render;
mod search;
pub mod stats;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;

use serde::Serialize;

use cowload_spec::EventKind;

use crate::bars::Measure;
use crate::error::Exit;
use crate::report::{MetricKind, Outcome, Status};

pub use render::render;

/// False discovery rate of the primary readings (event→order p50 and p99 per
/// kind), Benjamini–Hochberg within their family.
pub const FDR_PRIMARY: f64 = 0.04;

/// False discovery rate of every other measured reading (about 180 for the
/// baseline scenario), Benjamini–Hochberg within their family.
pub const FDR_SECONDARY: f64 = 0.01;

/// The two rates together: with nothing changed, the chance that any measured
/// reading is flagged is at most this (a union bound over the two families),
/// before the practical threshold removes small moves as well. Why a split
/// rather than one family: one family of ~180 readings asks a single moved
/// reading for p ≤ 0.05/180, which three to five runs a side cannot reach
/// for a 25 % slower engine on a busy 2-core machine (docs/performance.md);
/// the few readings cowload exists to measure get most of the rate.
pub const FDR: f64 = FDR_PRIMARY + FDR_SECONDARY;

/// Why a diff could not be made. Exit 2 for unreadable input, 4 for a
/// scenario mismatch.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    /// The file could not be read.
    #[error(
        "cannot read {path}: {source}; pass an outcome.json, a run directory or a repeat directory"
    )]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a usable outcome.
    #[error("{path}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// `--paired` was asked of runs that cannot be paired.
    #[error("--paired compares run i of {base} with run i of {head}, but {reason}; leave out --paired to compare them as independent sets")]
    Unpaired {
        /// The base.
        base: PathBuf,
        /// The head.
        head: PathBuf,
        /// Why not.
        reason: String,
    },
    /// The outcomes come from different scenarios.
    #[error(
        "the outcomes come from different scenarios (base `{base_name}` hash {base_hash}, head `{head_name}` hash {head_hash}); \
         run the same scenario on both sides, or pass --force to compare anyway"
    )]
    ScenarioMismatch {
        /// Base scenario name.
        base_name: String,
        /// Base scenario hash.
        base_hash: String,
        /// Head scenario name.
        head_name: String,
        /// Head scenario hash.
        head_hash: String,
    },
}

impl DiffError {
    /// Unreadable input, or outcomes of different scenarios.
    pub fn exit(&self) -> Exit {
        match self {
            DiffError::Read { .. } | DiffError::Parse { .. } | DiffError::Unpaired { .. } => {
                Exit::Usage
            }
            DiffError::ScenarioMismatch { .. } => Exit::DifferentScenarios,
        }
    }

    /// [`DiffError::exit`] as the number.
    pub fn exit_code(&self) -> u8 {
        self.exit().code()
    }
}

/// Output format of the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// A markdown table for a PR comment.
    #[default]
    Md,
    /// An aligned plain-text table for terminals and logs.
    Text,
    /// The full comparison as JSON.
    Json,
}

/// The relative part of the practical threshold, in percent of the base
/// value, written `5%` or `5`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Noise(pub f64);

impl Default for Noise {
    fn default() -> Self {
        Noise(5.0)
    }
}

impl FromStr for Noise {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let number = text.trim().trim_end_matches('%').trim();
        match number.parse::<f64>() {
            Ok(x) if x.is_finite() && x >= 0.0 => Ok(Noise(x)),
            _ => Err(format!(
                "`{text}` is not a noise band; write a non-negative percentage such as 5%"
            )),
        }
    }
}

/// Which way is good for a reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Smaller is better (latency, errors, lost events).
    Lower,
    /// Larger is better (delivered, accepted, matched).
    Higher,
    /// Neither: a change is reported, never judged.
    Neutral,
}

/// The verdict on one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// A bar that held on every base run and failed on a head run.
    NowFails,
    /// A bar that failed on a base run and holds on every head run.
    NowHolds,
    /// Moved the bad way: exactly (counts), or significantly and past the threshold.
    Worse,
    /// Moved the good way: exactly (counts), or significantly and past the threshold.
    Better,
    /// Moved; the reading has no direction.
    Changed,
    /// Only on head.
    New,
    /// Only on base.
    Removed,
    /// Moved past the threshold, but a side has fewer than two runs: no
    /// run-to-run variance to judge the move against.
    NotEnoughData,
    /// Moved past the threshold, but not significantly at the runs there are: neither
    /// unchanged nor changed; more repeats can decide.
    NotSignificant,
    /// Within the threshold, or not significant.
    Unchanged,
}

impl Change {
    /// True for the changes that fail a diff with `--fail-on-regression`.
    pub fn is_regression(self) -> bool {
        matches!(self, Change::NowFails | Change::Worse)
    }

    /// True for the changes that improve the head.
    pub fn is_improvement(self) -> bool {
        matches!(self, Change::NowHolds | Change::Better)
    }

    /// True when the row says something moved (not unchanged, not undecided).
    pub fn moved(self) -> bool {
        !matches!(
            self,
            Change::Unchanged | Change::NotEnoughData | Change::NotSignificant
        )
    }

    /// True for a move past the threshold that the runs could not decide.
    pub fn undecided(self) -> bool {
        matches!(self, Change::NotEnoughData | Change::NotSignificant)
    }
}

/// What decided a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Test {
    /// A bar's verdict (held on every run of a side or not), compared exactly.
    BarVerdict,
    /// A count compared exactly on each side's worst run.
    Exact,
    /// Welch's t-test on per-run values, Benjamini–Hochberg adjusted.
    Welch,
    /// The paired t-test on run `i` of each side (`--paired`), Benjamini–Hochberg adjusted.
    Paired,
    /// The move is within the practical threshold: unchanged whatever a test says.
    Threshold,
    /// A single result per side (`search.json`) against the noise band.
    NoiseBand,
    /// The reading (or its value) exists on one side only.
    Presence,
    /// Nothing could decide: fewer than two runs on a side.
    None,
}

/// One compared reading.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// What is measured, e.g. `bar: …`, `event→order p99 (twap)`, or a series `name{labels} Δ`.
    pub metric: String,
    /// `s` for seconds, else empty.
    pub unit: String,
    /// Which way is good.
    pub direction: Direction,
    /// The base value: the mean over runs (measured readings) or the worst
    /// run (exact readings); absent when the reading is new.
    pub base: Option<f64>,
    /// The head value, as `base`; absent when the reading was removed.
    pub head: Option<f64>,
    /// head − base.
    pub delta: Option<f64>,
    /// (head − base) / |base| × 100; absent when base is 0 or missing.
    pub delta_percent: Option<f64>,
    /// The verdict.
    pub change: Change,
    /// What decided the verdict.
    pub test: Test,
    /// The smallest move that can count: max(noise % of base, 1 ms or 1 event), and for a
    /// reading interpolated inside a histogram bucket at least the bucket's width.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// For a reading interpolated inside histogram buckets, the widest bucket of its runs:
    /// the reading is only known to lie somewhere in it, so a smaller move is no move and
    /// no side is taken as surer than one bucket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket_width: Option<f64>,
    /// Welch's two-sided p-value, before adjustment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p_value: Option<f64>,
    /// The Benjamini–Hochberg adjusted p-value within the row's family;
    /// significant when ≤ `level`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p_adjusted: Option<f64>,
    /// The false discovery rate of the row's family ([`FDR_PRIMARY`] or [`FDR_SECONDARY`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<f64>,
    /// True for the primary readings (event→order p50 and p99 per kind).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub primary: bool,
    /// 95 % interval of head − base (Welch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<[f64; 2]>,
    /// One value per base run, when there are several.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub base_runs: Vec<f64>,
    /// One value per head run, when there are several.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub head_runs: Vec<f64>,
}

/// One side of the comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Side {
    /// Scenario name.
    pub scenario: String,
    /// Scenario hash.
    pub hash: String,
    /// The worst verdict of its runs.
    pub status: Status,
    /// How many runs (repeats) were compared.
    pub runs: usize,
    /// Interrupted or failed-to-run repeats left out (partial measurements).
    #[serde(skip_serializing_if = "is_zero")]
    pub left_out: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Two sides compared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// The base side.
    pub base: Side,
    /// The head side.
    pub head: Side,
    /// The relative part of the practical threshold, percent.
    pub noise_percent: f64,
    /// The false discovery rate of all Welch tests together.
    pub fdr: f64,
    /// Its share for the primary readings.
    pub fdr_primary: f64,
    /// Run `i` of each side was compared with run `i` of the other (`--paired`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub paired: bool,
    /// Rows: flipped bars first, then the other bars, then every other
    /// reading in a fixed order.
    pub rows: Vec<Row>,
    /// Rows that count as regressions.
    pub regressions: usize,
    /// Rows that count as improvements.
    pub improvements: usize,
}

impl Comparison {
    /// True when no reading moved, came or went (undecided rows included).
    pub fn unchanged(&self) -> bool {
        self.rows.iter().all(|r| !r.change.moved())
    }
}

/// The smallest move of a reading that can count, besides the percentage.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Unit {
    /// Seconds: 1 ms.
    Seconds,
    /// Events, orders, requests: 1.
    Count,
    /// Ratios and anything else: no floor.
    Plain,
}

impl Unit {
    fn floor(self) -> f64 {
        match self {
            Unit::Seconds => TIME_FLOOR_SECONDS,
            Unit::Count => COUNT_FLOOR,
            Unit::Plain => 0.0,
        }
    }
}

/// How a reading is judged.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Class {
    /// Exactly, on the worst run of each side.
    Exact,
    /// Threshold and Welch's test over runs.
    Measured,
    /// One result per side against the noise band (searches).
    Banded,
}

/// One reading of one run.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Reading {
    value: Option<f64>,
    direction: Direction,
    unit: Unit,
    class: Class,
    /// `Some(holds)` for bars.
    holds: Option<bool>,
    /// One of the primary readings (event→order latency per kind).
    primary: bool,
    /// The width of the histogram bucket the value was interpolated in (see
    /// [`Row::bucket_width`]).
    bucket: Option<f64>,
}

/// Every reading of one run, keyed by (section, name).
type Readings = BTreeMap<(u8, String), Reading>;

/// How the runs of the two sides relate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Design {
    /// Two independent sets of runs: Welch's test.
    #[default]
    Independent,
    /// Run `i` of base was made beside run `i` of head (interleaved): the
    /// paired test, for each reading every pair has.
    Paired,
}

/// Compares the `head` runs against the `base` runs.
pub fn compare(base: &[Outcome], head: &[Outcome], noise: Noise, design: Design) -> Comparison {
    let before: Vec<Readings> = base.iter().map(readings).collect();
    let after: Vec<Readings> = head.iter().map(readings).collect();
    compare_readings(side(base), side(head), &before, &after, noise, design)
}

/// The rows of two sets of runs' readings; shared by outcomes and searches.
fn compare_readings(
    base: Side,
    head: Side,
    before: &[Readings],
    after: &[Readings],
    noise: Noise,
    design: Design,
) -> Comparison {
    let mut keys: Vec<&(u8, String)> = before
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
fn pairs(before: &[Readings], after: &[Readings], key: &(u8, String)) -> Option<Pairs> {
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
        unit: if any.unit == Unit::Seconds { "s" } else { "" }.to_owned(),
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

/// Time readings closer than this are unchanged whatever the percentage:
/// a 0.3 ms → 0.4 ms move is +33% and still noise.
pub const TIME_FLOOR_SECONDS: f64 = 0.001;

/// Count readings (events, orders, requests) must move by more than one.
pub const COUNT_FLOOR: f64 = 1.0;

/// Summary quantiles left out of the diff: min and max are single
/// observations, noise by nature (they stay in outcome.json).
const NOISY_QUANTILES: [&str; 2] = ["p0", "p100"];

/// Section order of the rows after the flipped bars.
const BARS: u8 = 0;
const TOTALS: u8 = 1;
const MOCK: u8 = 2;
const STAGES: u8 = 3;
const METRICS: u8 = 4;

/// Every comparable reading of an outcome, keyed by (section, name).
fn readings(o: &Outcome) -> Readings {
    let mut out = BTreeMap::new();
    let exact = (Unit::Count, Class::Exact);
    put(
        &mut out,
        TOTALS,
        "delivered ratio".to_owned(),
        o.totals.delivered_ratio,
        Direction::Higher,
        (Unit::Plain, Class::Exact),
    );
    for (kind, &n) in o.totals.delivered.iter() {
        put(
            &mut out,
            TOTALS,
            format!("events on chain ({kind})"),
            Some(n as f64),
            Direction::Higher,
            exact,
        );
    }
    if let Some(mock) = &o.mock {
        for (kind, e) in &mock.events {
            put(
                &mut out,
                MOCK,
                format!("events matched ({kind})"),
                Some(e.matched as f64),
                Direction::Higher,
                exact,
            );
            put(
                &mut out,
                MOCK,
                format!("events lost ({kind})"),
                Some(e.lost as f64),
                Direction::Lower,
                exact,
            );
        }
        // What cowload measures first: the exact event→order latency per kind over the load
        // window (outcomes written before it was kept fall back to the mock's summary).
        for kind in EventKind::ALL {
            let window = &o.event_to_order_seconds[kind];
            let latency = match mock.events.get(kind.label()) {
                Some(e) if window.count == 0 => &e.latency_seconds,
                _ => window,
            };
            if latency.count == 0 {
                continue;
            }
            for (q, v) in [("p50", latency.p50), ("p99", latency.p99)] {
                let reading = put(
                    &mut out,
                    MOCK,
                    format!("event→order {q} ({kind})"),
                    Some(v),
                    Direction::Lower,
                    (Unit::Seconds, Class::Measured),
                );
                reading.primary = true;
            }
        }
        for (kind, outcomes) in &mock.orders_received {
            for (result, n) in outcomes {
                let direction = if result == "accepted" {
                    Direction::Higher
                } else {
                    Direction::Lower
                };
                // Duplicates are a bug, counted exactly; retries and rejections
                // depend on timing and are measured like any other count.
                let class = if result == "duplicate" {
                    Class::Exact
                } else {
                    Class::Measured
                };
                put(
                    &mut out,
                    MOCK,
                    format!("order POSTs ({kind}, {result})"),
                    Some(*n as f64),
                    direction,
                    (Unit::Count, class),
                );
            }
        }
        put(
            &mut out,
            MOCK,
            "unmatched orders".to_owned(),
            Some(mock.unmatched_orders as f64),
            Direction::Lower,
            exact,
        );
    }
    for stage in &o.bottleneck.stages {
        put(
            &mut out,
            STAGES,
            format!("p99 growth: {}", stage.stage),
            Some(stage.growth_seconds),
            Direction::Lower,
            (Unit::Seconds, Class::Measured),
        );
    }
    for (key, m) in &o.metrics {
        let seconds = key
            .split('{')
            .next()
            .is_some_and(|n| n.contains("_seconds"));
        let direction = direction_of(key);
        let measured = |unit: Unit| (unit, Class::Measured);
        let timed = if seconds { Unit::Seconds } else { Unit::Count };
        match m.kind {
            MetricKind::Counter => {
                put(
                    &mut out,
                    METRICS,
                    format!("{key} Δ"),
                    m.delta,
                    direction,
                    measured(timed),
                );
            }
            MetricKind::Gauge => {
                put(
                    &mut out,
                    METRICS,
                    format!("{key} max"),
                    m.max.or(m.end),
                    direction,
                    measured(timed),
                );
            }
            MetricKind::Histogram | MetricKind::Summary => {
                for (q, v) in m
                    .quantiles
                    .iter()
                    .filter(|(q, _)| !NOISY_QUANTILES.contains(&q.as_str()))
                {
                    let unit = if seconds { Unit::Seconds } else { Unit::Plain };
                    let bucket = m.quantile_buckets.get(q).and_then(|b| b.width());
                    put(
                        &mut out,
                        METRICS,
                        format!("{key} {q}"),
                        Some(*v),
                        Direction::Lower,
                        measured(unit),
                    )
                    .bucket = bucket;
                }
                if m.delta.is_some() {
                    put(
                        &mut out,
                        METRICS,
                        format!("{key} count Δ"),
                        m.delta,
                        Direction::Neutral,
                        measured(Unit::Count),
                    );
                }
            }
        }
    }
    for bar in &o.bars {
        let direction = match bar.op.lower_is_better() {
            Some(true) => Direction::Lower,
            Some(false) => Direction::Higher,
            None => Direction::Neutral,
        };
        let unit = match bar.unit {
            Measure::Seconds => Unit::Seconds,
            Measure::Plain => Unit::Plain,
        };
        // A value above the top bucket is only a bound: no value to compare.
        let known = bar.bucket.is_none_or(|b| !b.is_above_top());
        let reading = put(
            &mut out,
            BARS,
            format!("bar: {}", bar.bar),
            bar.observed.filter(|_| known),
            direction,
            (unit, Class::Measured),
        );
        reading.holds = Some(bar.holds);
        reading.bucket = bar.bucket.and_then(|b| b.width());
    }
    out
}

/// Records one reading of a run and hands it back for what only some readings carry.
fn put(
    out: &mut Readings,
    section: u8,
    name: String,
    value: Option<f64>,
    direction: Direction,
    (unit, class): (Unit, Class),
) -> &mut Reading {
    let reading = Reading {
        value,
        direction,
        unit,
        class,
        holds: None,
        primary: false,
        bucket: None,
    };
    let slot = out.entry((section, name)).or_insert(reading);
    *slot = reading;
    slot
}

/// Words that say which way is good, checked against the name and labels.
const WORSE_WHEN_UP: [&str; 14] = [
    "error",
    "lost",
    "late",
    "fail",
    "retry",
    "reject",
    "reconnect",
    "backlog",
    "poison",
    "duplicate",
    "unmatched",
    "awaiting",
    "revert",
    "timeout",
];
const BETTER_WHEN_UP: [&str; 5] = [
    "accepted",
    "matched",
    "delivered",
    "processed",
    "outcome=\"ok\"",
];

/// Lower is better for latencies and anything that names a problem; higher
/// for anything that names success; otherwise neutral.
pub fn direction_of(series: &str) -> Direction {
    let text = series.to_ascii_lowercase();
    let name = text.split('{').next().unwrap_or_default();
    if name.contains("_seconds") || name.contains("latency") || name.contains("duration") {
        return Direction::Lower;
    }
    if WORSE_WHEN_UP.iter().any(|w| text.contains(w)) {
        Direction::Lower
    } else if BETTER_WHEN_UP.iter().any(|w| text.contains(w)) {
        Direction::Higher
    } else {
        Direction::Neutral
    }
}

/// What `runner diff` was asked to do (its flags; the doc comments are its
/// `--help`).
#[derive(Debug, Clone, clap::Args)]
pub struct Request {
    /// The base: outcome.json, run directory, repeat directory (runner --repeat) or search.json.
    pub base: PathBuf,
    /// The head, as the base.
    pub head: PathBuf,
    /// Moves within this percentage of the base (or 1 ms / 1 event) count as unchanged.
    #[arg(long, default_value = "5%")]
    pub noise: Noise,
    /// Exit 1 when a bar flipped to failing or a reading got significantly worse.
    #[arg(long)]
    pub fail_on_regression: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Md)]
    pub format: Format,
    /// Compare outcomes of different scenarios anyway.
    #[arg(long)]
    pub force: bool,
    /// Run i of BASE and run i of HEAD were made side by side (interleaved:
    /// base/1, head/1, base/2, …): judge each reading by the paired t-test on
    /// the runs' differences, which the machine's drift between pairs does not blur.
    #[arg(long)]
    pub paired: bool,
}

/// What `runner diff` prints and how it exits.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The rendered comparison (stdout).
    pub text: String,
    /// 0, or 1 when a regression was found and `--fail-on-regression` was given.
    pub exit_code: u8,
}

/// Reads both sides, compares them and renders the result. Two
/// `search.json` are compared as searches (capacity, bracket, probes); two
/// outcomes (single runs or repeats) as runs; one of each is refused.
pub fn run(request: &Request) -> Result<Answer, DiffError> {
    let comparison = match (input::load(&request.base)?, input::load(&request.head)?) {
        (input::Loaded::Search(base), input::Loaded::Search(head)) => {
            search::compare_files(&base, &head, request)?
        }
        (input::Loaded::Runs(base), input::Loaded::Runs(head)) => {
            compare_files(&base, &head, request)?
        }
        (base, _) => {
            let (search, outcome) = if matches!(base, input::Loaded::Search(_)) {
                (&request.base, &request.head)
            } else {
                (&request.head, &request.base)
            };
            return Err(DiffError::Parse {
                path: outcome.clone(),
                reason: format!(
                    "an outcome.json cannot be compared with a search.json ({}); pass two outcomes or two searches",
                    search.display()
                ),
            });
        }
    };
    let exit = if request.fail_on_regression && comparison.regressions > 0 {
        Exit::Fail
    } else {
        Exit::Pass
    };
    let exit_code = exit.code();
    Ok(Answer {
        text: render(&comparison, request.format),
        exit_code,
    })
}

fn compare_files(
    base: &[Outcome],
    head: &[Outcome],
    request: &Request,
) -> Result<Comparison, DiffError> {
    let (b, h) = (&base[0].scenario, &head[0].scenario);
    check_same_scenario(&b.name, &b.hash, &h.name, &h.hash, request.force)?;
    let (base, base_left_out) = complete(base);
    let (head, head_left_out) = complete(head);
    let design = if request.paired {
        check_pairable(
            base.len(),
            head.len(),
            base_left_out + head_left_out,
            request,
        )?;
        Design::Paired
    } else {
        Design::Independent
    };
    let mut comparison = compare(&base, &head, request.noise, design);
    comparison.base.left_out = base_left_out;
    comparison.head.left_out = head_left_out;
    Ok(comparison)
}

/// The runs that ran to their end (passed or failed), and how many were
/// left out: an interrupted or broken repeat measured only part of the load.
/// A side with no complete run keeps all its runs (its status says why).
fn complete(runs: &[Outcome]) -> (Vec<Outcome>, usize) {
    let done: Vec<Outcome> = runs
        .iter()
        .filter(|o| matches!(o.status, Status::Pass | Status::Fail))
        .cloned()
        .collect();
    if done.is_empty() {
        (runs.to_vec(), 0)
    } else {
        let left_out = runs.len() - done.len();
        (done, left_out)
    }
}

/// `--paired` needs run `i` on both sides: as many complete runs, none left out.
fn check_pairable(
    base: usize,
    head: usize,
    left_out: usize,
    request: &Request,
) -> Result<(), DiffError> {
    if base == head && left_out == 0 && base >= 2 {
        return Ok(());
    }
    Err(DiffError::Unpaired {
        base: request.base.clone(),
        head: request.head.clone(),
        reason: format!(
            "base has {base} complete run(s), head {head}, {left_out} interrupted or broken left out; \
             pairing needs the same runs, at least two, on both sides"
        ),
    })
}

/// Refuses two different scenarios unless `force`.
fn check_same_scenario(
    base_name: &str,
    base_hash: &str,
    head_name: &str,
    head_hash: &str,
    force: bool,
) -> Result<(), DiffError> {
    if base_hash != head_hash && !force {
        return Err(DiffError::ScenarioMismatch {
            base_name: base_name.to_owned(),
            base_hash: base_hash.to_owned(),
            head_name: head_name.to_owned(),
            head_hash: head_hash.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
