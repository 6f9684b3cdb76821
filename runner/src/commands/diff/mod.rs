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

mod compare;
mod input;
mod model;
mod readings;
mod render;
mod search;
pub mod stats;
mod suites;

use std::path::PathBuf;

use crate::error::Exit;
use crate::report::{Outcome, Status};

pub use compare::{compare, worst_status};
pub use model::{Change, Comparison, Design, Direction, Format, Noise, Row, Side, Test};
pub use readings::{direction_of, COUNT_FLOOR, TIME_FLOOR_SECONDS};
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
        (input::Loaded::Suite(base, base_dir), input::Loaded::Suite(head, head_dir)) => {
            let compared = suites::compare((&base_dir, &base), (&head_dir, &head), request)?;
            let failing = request.fail_on_regression && compared.regressions > 0;
            return Ok(Answer {
                text: render::suites(&compared, request.format),
                exit_code: if failing { Exit::Fail } else { Exit::Pass }.code(),
            });
        }
        (input::Loaded::Suite(..), _) | (_, input::Loaded::Suite(..)) => {
            return Err(DiffError::Parse {
                path: request.head.clone(),
                reason: "a suite directory is compared only with another suite directory"
                    .to_owned(),
            });
        }
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
