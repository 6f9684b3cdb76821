//! [`Exit`]: every exit code of every subcommand, in one place.
//!
//! In: nothing. Out: the enum and its numbers. Why its own module: the
//! report decides a run's exit code and the error type maps errors to one;
//! both read this module and neither reads the other.

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
