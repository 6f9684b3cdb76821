//! `RunError`: every way a run can fail; [`Exit`]: every exit code the runner
//! uses, in one place; [`report`]: an error as printed, once.
//! A failed bar is not an error: it is a result, and the outcome decides 0 or 1.

use crate::chain::ChainError;
use crate::engine::EngineError;
use crate::load::LoadError;
use crate::mock::MockError;
use crate::report::ReportError;
use crate::scenario::ScenarioError;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Scenario(#[from] ScenarioError),
    #[error("{0}")]
    Usage(String),
    #[error("chain: {0}")]
    Chain(#[from] ChainError),
    #[error("mock orderbook: {0}")]
    Mock(#[from] MockError),
    #[error("engine: {0}")]
    Engine(#[from] EngineError),
    #[error("load: {0}")]
    Load(#[from] LoadError),
    #[error("report: {0}")]
    Report(#[from] ReportError),
    #[error("cannot create run directory {path}: {source}")]
    RunDir {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("interrupted")]
    Interrupted,
}

impl RunError {
    /// Bad scenario or usage, interrupted, or infrastructure.
    pub fn exit(&self) -> Exit {
        match self {
            RunError::Scenario(_) | RunError::Usage(_) => Exit::Usage,
            RunError::Interrupted => Exit::Interrupted,
            _ => Exit::Infrastructure,
        }
    }

    /// [`RunError::exit`] as the number.
    pub fn exit_code(&self) -> u8 {
        self.exit().code()
    }
}

/// Every exit code of every subcommand. CI jobs branch on these, so each
/// number means one thing everywhere (documented in the README).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Every bar held; `diff`: nothing to fail on.
    Pass,
    /// A bar failed, or the engine died during the run; `diff
    /// --fail-on-regression`: a regression.
    Fail,
    /// Bad scenario, bad arguments or unreadable input: nothing was run.
    Usage,
    /// The harness could not do its job (Anvil, fixture, an engine that
    /// never started, I/O).
    Infrastructure,
    /// `diff`: the two outcomes come from different scenarios (`--force` to compare anyway).
    DifferentScenarios,
    /// Ctrl-C or SIGTERM.
    Interrupted,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Pass => 0,
            Exit::Fail => 1,
            Exit::Usage => 2,
            Exit::Infrastructure => 3,
            Exit::DifferentScenarios => 4,
            Exit::Interrupted => 130,
        }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit.code())
    }
}

/// `error` as printed: its message, then each cause that says something the
/// lines before it did not. Wrapping errors often repeat their source in
/// their own message; the user must read every fact once.
pub fn report(error: &dyn std::error::Error) -> String {
    let mut text = format!("error: {error}");
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str("\n  caused by: ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read {0}")]
    struct Leaf(&'static str);

    #[derive(Debug, thiserror::Error)]
    #[error("loading the plan")]
    struct Context(#[source] Leaf);

    #[test]
    fn a_wrapped_error_is_printed_once() {
        let error = RunError::Usage("nothing to run".to_owned());
        assert_eq!(report(&error), "error: nothing to run");
        let scenario = RunError::Chain(crate::chain::ChainError::Unexpected(
            "anvil died".to_owned(),
        ));
        assert_eq!(report(&scenario), "error: chain: anvil died");
    }

    #[test]
    fn a_cause_that_adds_a_fact_is_kept() {
        let error = Context(Leaf("x.yaml"));
        assert_eq!(
            report(&error),
            "error: loading the plan\n  caused by: cannot read x.yaml"
        );
    }

    #[test]
    fn exit_codes_are_distinct() {
        let all = [
            Exit::Pass,
            Exit::Fail,
            Exit::Usage,
            Exit::Infrastructure,
            Exit::DifferentScenarios,
            Exit::Interrupted,
        ];
        let mut codes: Vec<u8> = all.iter().map(|e| e.code()).collect();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
        assert_eq!(RunError::Interrupted.exit(), Exit::Interrupted);
    }
}
