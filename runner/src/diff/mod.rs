//! `runner diff BASE.json HEAD.json`: what moved between two outcomes of the
//! same scenario, for a pull request.
//!
//! In: two `outcome.json` files. Out: one row per reading (bar values, totals,
//! mock accounting, stage growth, every engine/mock/harness series), each with
//! a direction (lower or higher is better, or neutral), a delta and a verdict,
//! rendered as markdown, text or JSON, and an exit code.
//!
//! Why a noise band: latencies wobble from run to run; a change smaller than
//! `--noise` (percent of the base) is shown as unchanged so the table only
//! shouts about real moves. Bars that flipped are listed first because they
//! change the verdict. Outcomes of different scenarios (hashes differ) are
//! not comparable and are refused unless `--force`.

mod render;
mod search;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Serialize;

use crate::error::Exit;
use crate::report::{MetricKind, Outcome, Status};

pub use render::render;

/// Why a diff could not be made. Exit 2 for unreadable input, 3 for a
/// scenario mismatch (as the issue asks).
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}; pass the outcome.json of a run directory")]
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
            DiffError::Read { .. } | DiffError::Parse { .. } => Exit::Usage,
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

/// A noise band in percent of the base value, written `5%` or `5`.
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
    /// A bar that held on base and fails on head.
    NowFails,
    /// A bar that failed on base and holds on head.
    NowHolds,
    /// Moved the bad way past the noise band.
    Worse,
    /// Moved the good way past the noise band.
    Better,
    /// Moved past the noise band; the reading has no direction.
    Changed,
    /// Only on head.
    New,
    /// Only on base.
    Removed,
    /// Within the noise band.
    Unchanged,
}

impl Change {
    /// True for the changes that fail a diff with `--fail-on-regression`.
    pub fn is_regression(self) -> bool {
        matches!(self, Change::NowFails | Change::Worse)
    }
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
    /// The base value (absent when the reading is new).
    pub base: Option<f64>,
    /// The head value (absent when the reading was removed).
    pub head: Option<f64>,
    /// head − base.
    pub delta: Option<f64>,
    /// (head − base) / |base| × 100; absent when base is 0 or missing.
    pub delta_percent: Option<f64>,
    /// The verdict.
    pub change: Change,
}

/// One side of the comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Side {
    /// Scenario name.
    pub scenario: String,
    /// Scenario hash.
    pub hash: String,
    /// The run's verdict.
    pub status: Status,
}

/// Two outcomes compared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// The base outcome.
    pub base: Side,
    /// The head outcome.
    pub head: Side,
    /// The noise band, percent.
    pub noise_percent: f64,
    /// Rows: flipped bars first, then the other bars, then every other
    /// reading in a fixed order.
    pub rows: Vec<Row>,
    /// Rows that count as regressions.
    pub regressions: usize,
}

impl Comparison {
    /// True when nothing moved past the noise band and no reading came or went.
    pub fn unchanged(&self) -> bool {
        self.rows.iter().all(|r| r.change == Change::Unchanged)
    }
}

/// One reading of one outcome.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Reading {
    value: Option<f64>,
    direction: Direction,
    seconds: bool,
    /// `Some(holds)` for bars.
    holds: Option<bool>,
}

/// Compares `head` against `base` with a noise band of `noise` percent.
pub fn compare(base: &Outcome, head: &Outcome, noise: Noise) -> Comparison {
    compare_readings(
        side(base),
        side(head),
        &readings(base),
        &readings(head),
        noise,
    )
}

/// The rows of two sets of readings; shared by outcomes and searches.
fn compare_readings(
    base: Side,
    head: Side,
    before: &BTreeMap<(u8, String), Reading>,
    after: &BTreeMap<(u8, String), Reading>,
    noise: Noise,
) -> Comparison {
    let mut keys: Vec<&(u8, String)> = before.keys().chain(after.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut rows: Vec<Row> = keys
        .into_iter()
        .map(|key| row(&key.1, before.get(key), after.get(key), noise.0))
        .collect();
    // Flipped bars first, keeping the fixed order otherwise (the sort is stable).
    rows.sort_by_key(|r| !matches!(r.change, Change::NowFails | Change::NowHolds));
    let regressions = rows.iter().filter(|r| r.change.is_regression()).count();
    Comparison {
        base,
        head,
        noise_percent: noise.0,
        rows,
        regressions,
    }
}

fn side(o: &Outcome) -> Side {
    Side {
        scenario: o.scenario.name.clone(),
        hash: o.scenario.hash.clone(),
        status: o.status,
    }
}

fn row(metric: &str, base: Option<&Reading>, head: Option<&Reading>, noise: f64) -> Row {
    let any = head.or(base).expect("a key comes from one side at least");
    let b = base.and_then(|r| r.value);
    let h = head.and_then(|r| r.value);
    let delta = b.zip(h).map(|(b, h)| h - b);
    let delta_percent = b
        .zip(delta)
        .filter(|(b, _)| *b != 0.0)
        .map(|(b, d)| d / b.abs() * 100.0);
    let flip = match (base.and_then(|r| r.holds), head.and_then(|r| r.holds)) {
        (Some(true), Some(false)) => Some(Change::NowFails),
        (Some(false), Some(true)) => Some(Change::NowHolds),
        _ => None,
    };
    let change = match (base, head) {
        _ if flip.is_some() => flip.expect("checked"),
        (None, Some(_)) => Change::New,
        (Some(_), None) => Change::Removed,
        _ => judge(b, h, delta_percent, any, noise),
    };
    Row {
        metric: metric.to_owned(),
        unit: if any.seconds { "s" } else { "" }.to_owned(),
        direction: any.direction,
        base: b,
        head: h,
        delta,
        delta_percent,
        change,
    }
}

fn judge(
    base: Option<f64>,
    head: Option<f64>,
    percent: Option<f64>,
    reading: &Reading,
    noise: f64,
) -> Change {
    let (b, h) = match (base, head) {
        (Some(b), Some(h)) => (b, h),
        (None, None) => return Change::Unchanged,
        // A value appeared or vanished (for example a bar lost its data).
        _ => return Change::Changed,
    };
    let below_floor = reading.seconds && (h - b).abs() < TIME_FLOOR_SECONDS;
    if b == h || below_floor || percent.is_some_and(|p| p.abs() <= noise) {
        return Change::Unchanged;
    }
    match reading.direction {
        Direction::Neutral => Change::Changed,
        Direction::Lower if h < b => Change::Better,
        Direction::Higher if h > b => Change::Better,
        _ => Change::Worse,
    }
}

/// Time readings closer than this are unchanged whatever the percentage:
/// a 0.3 ms → 0.4 ms move is +33% and still noise.
pub const TIME_FLOOR_SECONDS: f64 = 0.001;

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
fn readings(o: &Outcome) -> BTreeMap<(u8, String), Reading> {
    let mut out = BTreeMap::new();
    let mut put =
        |section: u8, name: String, value: Option<f64>, direction: Direction, seconds: bool| {
            out.insert(
                (section, name),
                Reading {
                    value,
                    direction,
                    seconds,
                    holds: None,
                },
            );
        };
    put(
        TOTALS,
        "delivered ratio".to_owned(),
        o.totals.delivered_ratio,
        Direction::Higher,
        false,
    );
    for (kind, &n) in o.totals.delivered.iter() {
        put(
            TOTALS,
            format!("events on chain ({kind})"),
            Some(n as f64),
            Direction::Higher,
            false,
        );
    }
    if let Some(mock) = &o.mock {
        for (kind, e) in &mock.events {
            put(
                MOCK,
                format!("events matched ({kind})"),
                Some(e.matched as f64),
                Direction::Higher,
                false,
            );
            put(
                MOCK,
                format!("events lost ({kind})"),
                Some(e.lost as f64),
                Direction::Lower,
                false,
            );
            if e.latency_seconds.count > 0 {
                put(
                    MOCK,
                    format!("event→order p50 ({kind})"),
                    Some(e.latency_seconds.p50),
                    Direction::Lower,
                    true,
                );
                put(
                    MOCK,
                    format!("event→order p99 ({kind})"),
                    Some(e.latency_seconds.p99),
                    Direction::Lower,
                    true,
                );
            }
        }
        for (kind, outcomes) in &mock.orders_received {
            for (result, n) in outcomes {
                let direction = if result == "accepted" {
                    Direction::Higher
                } else {
                    Direction::Lower
                };
                put(
                    MOCK,
                    format!("order POSTs ({kind}, {result})"),
                    Some(*n as f64),
                    direction,
                    false,
                );
            }
        }
        put(
            MOCK,
            "unmatched orders".to_owned(),
            Some(mock.unmatched_orders as f64),
            Direction::Lower,
            false,
        );
    }
    for stage in &o.bottleneck.stages {
        put(
            STAGES,
            format!("p99 growth: {}", stage.stage),
            Some(stage.growth_seconds),
            Direction::Lower,
            true,
        );
    }
    for (key, m) in &o.metrics {
        let seconds = key
            .split('{')
            .next()
            .is_some_and(|n| n.contains("_seconds"));
        let direction = direction_of(key);
        match m.kind {
            MetricKind::Counter => put(METRICS, format!("{key} Δ"), m.delta, direction, false),
            MetricKind::Gauge => put(
                METRICS,
                format!("{key} max"),
                m.max.or(m.end),
                direction,
                seconds,
            ),
            MetricKind::Histogram | MetricKind::Summary => {
                for (q, v) in m
                    .quantiles
                    .iter()
                    .filter(|(q, _)| !NOISY_QUANTILES.contains(&q.as_str()))
                {
                    put(
                        METRICS,
                        format!("{key} {q}"),
                        Some(*v),
                        Direction::Lower,
                        seconds,
                    );
                }
                if m.delta.is_some() {
                    put(
                        METRICS,
                        format!("{key} count Δ"),
                        m.delta,
                        Direction::Neutral,
                        false,
                    );
                }
            }
        }
    }
    for bar in &o.bars {
        let direction = match bar.op.as_str() {
            "<" | "<=" => Direction::Lower,
            ">" | ">=" => Direction::Higher,
            _ => Direction::Neutral,
        };
        out.insert(
            (BARS, format!("bar: {}", bar.bar)),
            Reading {
                value: bar.observed,
                direction,
                seconds: bar.unit == "s",
                holds: Some(bar.holds),
            },
        );
    }
    out
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

/// What `runner diff` was asked to do.
#[derive(Debug, Clone)]
pub struct Request {
    /// The base outcome file.
    pub base: PathBuf,
    /// The head outcome file.
    pub head: PathBuf,
    /// The noise band.
    pub noise: Noise,
    /// Exit 1 when something regressed.
    pub fail_on_regression: bool,
    /// The output format.
    pub format: Format,
    /// Compare outcomes of different scenarios anyway.
    pub force: bool,
}

/// What `runner diff` prints and how it exits.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The rendered comparison (stdout).
    pub text: String,
    /// 0, or 1 when a regression was found and `--fail-on-regression` was given.
    pub exit_code: u8,
}

/// Reads both files, compares them and renders the result. Two
/// `search.json` are compared as searches (capacity, bracket, probes); two
/// `outcome.json` as runs; one of each is refused.
pub fn run(request: &Request) -> Result<Answer, DiffError> {
    let comparison = match (search::read(&request.base)?, search::read(&request.head)?) {
        (Some(base), Some(head)) => search::compare_files(&base, &head, request)?,
        (None, None) => compare_files(&read(&request.base)?, &read(&request.head)?, request)?,
        (base, _) => {
            let (search, outcome) = if base.is_some() {
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
    base: &Outcome,
    head: &Outcome,
    request: &Request,
) -> Result<Comparison, DiffError> {
    check_same_scenario(
        &base.scenario.name,
        &base.scenario.hash,
        &head.scenario.name,
        &head.scenario.hash,
        request.force,
    )?;
    Ok(compare(base, head, request.noise))
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

fn read(path: &Path) -> Result<Outcome, DiffError> {
    let text = std::fs::read_to_string(path).map_err(|source| DiffError::Read {
        path: path.to_owned(),
        source,
    })?;
    Outcome::from_json(&text).map_err(|reason| DiffError::Parse {
        path: path.to_owned(),
        reason,
    })
}

#[cfg(test)]
mod tests;
