//! Two suite directories (`runner suite`) compared scenario by scenario.
//!
//! In: each side's `suite.json` and the run directories beside it. Out: one [`Comparison`]
//! per scenario present on both sides (the same judgement as two runs get), the scenarios on
//! one side only, and whose scenario file changed between the sides.
//!
//! Why: a release gate is a suite, and a pull request wants one comment for it, led by the
//! bars that flipped in any scenario.

use std::path::Path;

use serde::Serialize;

use super::{compare_files, input, Comparison, DiffError, Request};
use crate::commands::suite::Suite;

/// A suite compared with another.
#[derive(Debug, Clone, Serialize)]
pub struct SuiteComparison {
    /// Each scenario on both sides, by name, in the head suite's order.
    pub scenarios: Vec<ScenarioComparison>,
    /// Scenarios only the base suite ran.
    pub only_base: Vec<String>,
    /// Scenarios only the head suite ran.
    pub only_head: Vec<String>,
    /// Scenarios whose file differs between the sides (another plan hash): not compared.
    pub changed: Vec<String>,
    /// Regressions over every scenario.
    pub regressions: usize,
}

/// One scenario's comparison.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioComparison {
    /// The scenario's name.
    pub scenario: String,
    /// Its comparison, as `runner diff` of its two run directories gives it.
    pub comparison: Comparison,
}

/// Compares every scenario both suites ran.
pub(super) fn compare(
    (base_dir, base): (&Path, &Suite),
    (head_dir, head): (&Path, &Suite),
    request: &Request,
) -> Result<SuiteComparison, DiffError> {
    let mut out = SuiteComparison {
        scenarios: Vec::new(),
        only_base: Vec::new(),
        only_head: Vec::new(),
        changed: Vec::new(),
        regressions: 0,
    };
    for row in &head.scenarios {
        let Some(base_row) = base.scenarios.iter().find(|b| b.name == row.name) else {
            out.only_head.push(row.name.clone());
            continue;
        };
        let runs = |dir: &Path, run_dir: &Path| match input::load(&dir.join(run_dir))? {
            input::Loaded::Runs(runs) => Ok(runs),
            input::Loaded::Search(_) | input::Loaded::Suite(..) => Err(DiffError::Parse {
                path: dir.join(run_dir),
                reason: "not a run directory".to_owned(),
            }),
        };
        let (base_runs, head_runs) = match (
            runs(base_dir, &base_row.run_dir),
            runs(head_dir, &row.run_dir),
        ) {
            (Ok(b), Ok(h)) => (b, h),
            // A scenario that stopped before writing an outcome has nothing to compare.
            _ => {
                out.changed
                    .push(format!("{} (no outcome on a side)", row.name));
                continue;
            }
        };
        match compare_files(&base_runs, &head_runs, request) {
            Ok(comparison) => {
                out.regressions += comparison.regressions;
                out.scenarios.push(ScenarioComparison {
                    scenario: row.name.clone(),
                    comparison,
                });
            }
            Err(DiffError::ScenarioMismatch { .. }) => out.changed.push(row.name.clone()),
            Err(e) => return Err(e),
        }
    }
    out.only_base = base
        .scenarios
        .iter()
        .filter(|b| !head.scenarios.iter().any(|h| h.name == b.name))
        .map(|b| b.name.clone())
        .collect();
    Ok(out)
}
