//! `RunError`: every way a run can fail, and the one mapping to exit codes.
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
    /// 2 bad scenario or usage · 3 infrastructure · 130 interrupted.
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::Scenario(_) | RunError::Usage(_) => 2,
            RunError::Interrupted => 130,
            _ => 3,
        }
    }
}
