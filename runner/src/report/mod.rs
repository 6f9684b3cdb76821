//! Stage 8, report: `outcome.json` (stable, diffable), `report.md` (readable in a
//! pull request) and the terminal summary. Everything the run measured ends up
//! here, including partial runs and runs that failed part-way.

mod markdown;
mod terminal;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::bars::Verdict;
use crate::error::RunError;
use crate::load::{Counts, Delivery, Phase, TxFailure};
use crate::scenario::Plan;

pub use terminal::print_summary;

/// Version of the outcome.json layout.
pub const OUTCOME_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// How the run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Every bar held.
    Pass,
    /// At least one bar failed (or had no data).
    Fail,
    /// Stopped by a signal; what was measured until then is kept.
    Interrupted,
    /// An infrastructure failure stopped the run.
    Error,
}

/// Wall-clock facts of the run: the only part of the outcome that differs
/// between two runs of the same scenario with the same behaviour.
#[derive(Debug, Clone, Serialize)]
pub struct RunFacts {
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: time::OffsetDateTime,
    #[serde(serialize_with = "seconds")]
    pub duration: Duration,
    pub anvil_version: String,
    pub engine_command: Option<Vec<String>>,
    #[serde(serialize_with = "seconds")]
    pub chain_setup: Duration,
    #[serde(skip)]
    pub engine_log_tail: String,
    pub run_dir: PathBuf,
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0).round() / 1000.0)
}

/// Per block: what was asked, what landed on chain, what failed.
#[derive(Debug, Clone, Serialize)]
pub struct BlockRow {
    pub number: u64,
    pub phase: Phase,
    pub requested: Counts,
    pub delivered: Counts,
    pub active_twaps: u64,
    pub failures: Vec<TxFailure>,
}

/// Per block wall-clock timings (kept in the `run` section).
#[derive(Debug, Clone, Serialize)]
pub struct BlockTimingRow {
    pub number: u64,
    pub build_ms: f64,
    pub send_ms: f64,
    pub verify_ms: f64,
    pub late_ms: f64,
}

/// Totals over the run.
#[derive(Debug, Clone, Serialize)]
pub struct Totals {
    pub requested: Counts,
    pub delivered: Counts,
    pub delivered_ratio: Option<f64>,
}

/// Scenario identity: two outcomes are comparable when their hashes agree.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioInfo {
    pub name: String,
    pub file: PathBuf,
    pub hash: String,
    pub seed: u64,
}

/// The wall-clock section of the outcome.
#[derive(Debug, Clone, Serialize)]
pub struct RunSection {
    #[serde(flatten)]
    pub facts: RunFacts,
    pub runner_version: &'static str,
    pub time_to_first_load_block_seconds: Option<f64>,
    pub blocks: Vec<BlockTimingRow>,
}

/// Everything a run produced.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub version: u32,
    pub scenario: ScenarioInfo,
    pub status: Status,
    pub exit_code: u8,
    pub error: Option<String>,
    pub totals: Totals,
    pub bars: Vec<Verdict>,
    pub blocks: Vec<BlockRow>,
    pub mock: serde_json::Value,
    pub run: RunSection,
}

impl Outcome {
    pub fn new(
        plan: &Plan,
        delivery: &Delivery,
        bars: Vec<Verdict>,
        mock: serde_json::Value,
        failure: Option<&RunError>,
        facts: RunFacts,
    ) -> Self {
        let requested = delivery.requested();
        let delivered = delivery.delivered();
        let error = failure.map(ToString::to_string);
        let (status, exit_code) = match failure {
            Some(RunError::Interrupted) => (Status::Interrupted, 130),
            Some(e) => (Status::Error, e.exit_code()),
            None if delivery.interrupted => (Status::Interrupted, 130),
            None if !bars.is_empty() && bars.iter().all(|b| b.holds) => (Status::Pass, 0),
            None => (Status::Fail, 1),
        };
        Outcome {
            version: OUTCOME_VERSION,
            scenario: ScenarioInfo {
                name: plan.scenario.name.clone(),
                file: plan.path.clone(),
                hash: plan.hash.clone(),
                seed: plan.scenario.seed,
            },
            status,
            exit_code,
            error,
            totals: Totals {
                requested,
                delivered,
                delivered_ratio: (requested.total() > 0)
                    .then(|| delivered.total() as f64 / requested.total() as f64),
            },
            bars,
            blocks: delivery
                .blocks
                .iter()
                .map(|b| BlockRow {
                    number: b.block.number,
                    phase: b.phase,
                    requested: b.requested,
                    delivered: b.delivered,
                    active_twaps: b.active_twaps,
                    failures: b.failures.clone(),
                })
                .collect(),
            mock,
            run: RunSection {
                facts,
                runner_version: env!("CARGO_PKG_VERSION"),
                time_to_first_load_block_seconds: delivery
                    .time_to_first_load_block
                    .map(|d| d.as_secs_f64()),
                blocks: delivery
                    .blocks
                    .iter()
                    .map(|b| BlockTimingRow {
                        number: b.block.number,
                        build_ms: round(b.timing.build_ms),
                        send_ms: round(b.timing.send_ms),
                        verify_ms: round(b.timing.verify_ms),
                        late_ms: round(b.timing.late_ms),
                    })
                    .collect(),
            },
        }
    }
}

fn round(ms: f64) -> f64 {
    (ms * 10.0).round() / 10.0
}

/// Writes `outcome.json` and `report.md` into `run_dir`.
pub fn write(outcome: &Outcome, run_dir: &Path) -> Result<(), ReportError> {
    let json = serde_json::to_string_pretty(outcome).expect("the outcome serialises") + "\n";
    write_file(&run_dir.join("outcome.json"), &json)?;
    write_file(&run_dir.join("report.md"), &markdown::render(outcome))
}

fn write_file(path: &Path, text: &str) -> Result<(), ReportError> {
    std::fs::write(path, text).map_err(|source| ReportError::Write {
        path: path.to_owned(),
        source,
    })
}
