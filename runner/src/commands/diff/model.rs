//! What a diff says: one row per reading with its verdict and the test that decided it,
//! the two sides, and the options that shaped it.

use crate::bars::Measure;
use std::str::FromStr;

use serde::Serialize;

use crate::report::Status;

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
    /// What the values are measured in (`s` for seconds, else empty, in JSON).
    pub unit: Measure,
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
    /// The false discovery rate of the row's family ([`super::FDR_PRIMARY`] or [`super::FDR_SECONDARY`]).
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
