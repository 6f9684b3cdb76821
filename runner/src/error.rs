//! `RunError`: every way a run can fail, and the [`Failure`] the report keeps
//! of it; [`report`]: an error as printed, once. Exit codes live in
//! [`crate::exit`]. A failed bar is not an error: it is a result, and the
//! outcome decides 0 or 1.

use crate::chain::ChainError;
use crate::engine::EngineError;
pub use crate::exit::Exit;
use crate::load::LoadError;
use crate::mock::MockError;
use crate::report::{Failure, ReportError};
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

    /// What the outcome keeps of this error: its exit and its message.
    pub fn failure(&self) -> Failure {
        Failure {
            exit: self.exit(),
            message: self.to_string(),
        }
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
