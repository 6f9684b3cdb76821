//! `runner SCENARIO --repeat N`: the same scenario N times, each a full fresh
//! run (new Anvil, mock and engine), into `DIR/1` … `DIR/N`, and one combined
//! `DIR/outcome.json`.
//!
//! In: a plan, the run options and N. Out: the repeat directory; the combined
//! outcome is the first repeat's with the worst repeat's status and exit code,
//! and every repeat's own outcome (per-block samples included) in `repeats`.
//!
//! Why: one run cannot tell a slower engine from a busier machine; the
//! spread between repeats can. `runner diff` treats each repeat as one
//! observation (docs/ci.md).

use std::path::PathBuf;

use crate::commands::diff::worst_status;
use crate::error::RunError;
use crate::pipeline::{self, Options};
use crate::report::{self, Outcome};
use crate::scenario::Plan;
use crate::shutdown::Cancel;

/// The finished repeats.
pub struct Repeated {
    /// The combined outcome (also in `dir/outcome.json`).
    pub outcome: Outcome,
    /// The repeat directory.
    pub dir: PathBuf,
}

/// Runs `plan` `n` times into one directory. Stops after an interrupted
/// repeat, or at the first repeat that cannot run (then the combined file
/// holds the repeats that finished, and the error is returned).
pub async fn run(
    plan: &Plan,
    options: &Options,
    n: u32,
    cancel: &Cancel,
) -> Result<Repeated, RunError> {
    let dir = pipeline::make_run_dir(&plan.scenario.name, options.out.as_deref())?;
    let dir = std::path::absolute(&dir).map_err(|source| RunError::RunDir {
        path: dir.clone(),
        source,
    })?;
    let mut runs: Vec<Outcome> = Vec::new();
    for i in 1..=n {
        eprintln!("repeat {i}/{n}");
        let repeat = Options {
            out: Some(dir.join(i.to_string())),
            junit: None,
            // Only the first repeat started with the process.
            process_start: options.process_start.filter(|_| i == 1),
            ..options.clone()
        };
        match pipeline::run(plan, &repeat, cancel).await {
            Ok(finished) => {
                report::print_summary(&finished.outcome);
                let interrupted = finished.outcome.status == report::Status::Interrupted;
                runs.push(finished.outcome);
                if interrupted || cancel.is_cancelled() {
                    break;
                }
            }
            Err(e) => {
                if !runs.is_empty() {
                    write(&combine(runs), &dir)?;
                }
                return Err(e);
            }
        }
    }
    let outcome = combine(runs);
    write(&outcome, &dir)?;
    Ok(Repeated { outcome, dir })
}

/// The first repeat's outcome with the worst status and every repeat inside.
pub fn combine(runs: Vec<Outcome>) -> Outcome {
    let status = worst_status(runs.iter().map(|o| o.status));
    let mut combined = runs[0].clone();
    let worst = runs
        .iter()
        .find(|o| o.status == status)
        .expect("the worst status is one of the runs'");
    combined.status = status;
    combined.exit_code = worst.exit_code;
    combined.error = worst.error.clone();
    combined.repeats = runs;
    combined
}

fn write(outcome: &Outcome, dir: &std::path::Path) -> Result<(), RunError> {
    Ok(report::write_file(
        &dir.join("outcome.json"),
        &outcome.to_json(),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Status;

    #[test]
    fn the_combined_outcome_keeps_every_repeat_and_the_worst_verdict() {
        let mut pass = crate::report::tests::sample();
        pass.status = Status::Pass;
        pass.exit_code = 0;
        let fail = crate::report::tests::sample();
        let combined = combine(vec![pass.clone(), fail.clone(), pass.clone()]);
        assert_eq!((combined.status, combined.exit_code), (Status::Fail, 1));
        assert_eq!(combined.repeats, vec![pass.clone(), fail, pass]);
        let text = combined.to_json();
        let back = Outcome::from_json(&text).unwrap();
        assert_eq!(back, combined);
        assert!(
            back.repeats[0]
                .blocks
                .iter()
                .any(|b| !b.event_to_order_samples_seconds.is_empty()),
            "per-block samples survive the round trip"
        );
    }
}
