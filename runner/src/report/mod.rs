//! Stage 8, report: `outcome.json` (stable, diffable), `report.md` (readable in a
//! pull request), `plot.svg`, JUnit XML, `orders.jsonl` and the terminal summary. Everything
//! the run measured ends up here, including partial runs and runs that failed part-way.
//!
//! In: the plan, the load's delivery, the scraped series, the bar verdicts, the mock's
//! statistics and the wall-clock facts. Out: one [`Outcome`] (built in `build`; its types are
//! the spec crate's), the single source every format renders from, so a report can be
//! regenerated from `outcome.json` alone. Each format is a module of its own.

mod build;
mod faults;
pub(crate) mod junit;
mod markdown;
mod metrics;
pub mod orders;
mod probe;
mod requests;
mod svg;
mod terminal;
mod timeline;

use std::path::{Path, PathBuf};

use crate::exit::Exit;

pub use build::{block_latency, block_metrics, outcome, RunFacts};
pub use cowload_spec::outcome::*;
pub use markdown::{observed as format_observed, value as format_value};
pub use terminal::{print_summary, summary_text, BlockLine, Progress};

/// Why writing the run's files failed. All are I/O (exit 3).
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file of the run directory (or the JUnit/summary target) could not be written.
    #[error("cannot write {path}: {source}; check that the directory exists and is writable")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// The error that stopped a run, as the outcome keeps it: how the runner
/// exits because of it, and what it said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The exit it causes ([`Exit::Interrupted`] for a signal).
    pub exit: Exit,
    /// The error as printed.
    pub message: String,
}

/// Writes `outcome.json`, `report.md` and `plot.svg` into `run_dir`, and the
/// JUnit XML to `junit` when given. Each file is written as soon as it is
/// rendered, so a failure later keeps the earlier ones.
/// When `$GITHUB_STEP_SUMMARY` names a file, the verdict and bars are
/// appended to it.
pub fn write(outcome: &Outcome, run_dir: &Path, junit: Option<&Path>) -> Result<(), ReportError> {
    let summary = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty());
    write_to(outcome, run_dir, junit, summary.as_deref().map(Path::new))
}

fn write_to(
    outcome: &Outcome,
    run_dir: &Path,
    junit: Option<&Path>,
    step_summary: Option<&Path>,
) -> Result<(), ReportError> {
    write_file(&run_dir.join("outcome.json"), &outcome.to_json())?;
    write_file(&run_dir.join("report.md"), &markdown::render(outcome))?;
    write_file(&run_dir.join("plot.svg"), &svg::render(outcome))?;
    if let Some(path) = junit {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| ReportError::Write {
                path: parent.to_owned(),
                source,
            })?;
        }
        write_file(path, &junit::render(outcome))?;
    }
    if let Some(path) = step_summary {
        append_or_warn(path, &markdown::render_summary(outcome));
    }
    Ok(())
}

/// Appends `text` to the file `$GITHUB_STEP_SUMMARY` names, when it names one.
pub fn append_step_summary(text: &str) {
    if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) {
        append_or_warn(Path::new(&path), text);
    }
}

/// The run's own files are written; a CI summary that cannot be appended must not turn a
/// finished run into an infrastructure failure, so it only warns.
fn append_or_warn(path: &Path, text: &str) {
    if let Err(e) = append_file(path, text) {
        eprintln!("warning: $GITHUB_STEP_SUMMARY not updated: {e}");
    }
}

/// `report.md` for an outcome (for regenerating it from `outcome.json`).
pub fn render_markdown(outcome: &Outcome) -> String {
    markdown::render(outcome)
}

/// `plot.svg` for an outcome.
pub fn render_svg(outcome: &Outcome) -> String {
    svg::render(outcome)
}

/// JUnit XML for an outcome: one test case per bar.
pub fn render_junit(outcome: &Outcome) -> String {
    junit::render(outcome)
}

/// Writes `outcome.json` and `report.md` of a checkpoint (the outcome says so); the run's
/// end rewrites them.
pub fn write_checkpoint(outcome: &Outcome, run_dir: &Path) -> Result<(), ReportError> {
    write_file(&run_dir.join("outcome.json"), &outcome.to_json())?;
    write_file(&run_dir.join("report.md"), &markdown::render(outcome))
}

/// Writes through a temporary file renamed into place, so a reader (or a runner killed
/// mid-write) never sees half a file: the old one or the new one.
pub(crate) fn write_file(path: &Path, text: &str) -> Result<(), ReportError> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = std::path::PathBuf::from(temporary);
    std::fs::write(&temporary, text)
        .and_then(|()| std::fs::rename(&temporary, path))
        .map_err(|source| ReportError::Write {
            path: path.to_owned(),
            source,
        })
}

fn append_file(path: &Path, text: &str) -> Result<(), ReportError> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|source| ReportError::Write {
            path: path.to_owned(),
            source,
        })
}

#[cfg(test)]
pub(crate) mod golden;
#[cfg(test)]
pub(crate) mod tests;
