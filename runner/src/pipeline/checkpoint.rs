//! Checkpoints: the verdict so far, written while a long run goes on.
//!
//! In: the run's facts known before the load, an interval, and after every block the
//! observer's scrapes, blocks and mock. Out: `outcome.json` and `report.md` in the run
//! directory, rewritten whenever the interval has passed, marked with [`Checkpoint`].
//!
//! Why: a soak runs for hours, and a run that dies in the middle (the machine, the CI job's
//! time limit, a runner that is SIGKILLed) would otherwise leave only raw scrapes. The run's
//! own end rewrites both files as usual; the interval keeps the cost (every bar evaluated,
//! the report rendered) a small share of a long run.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use cowload_spec::outcome::Checkpoint;

use crate::report::RunFacts;

/// When and where checkpoints are written, and the facts every one repeats.
pub(crate) struct Checkpoints {
    every: Duration,
    last: Instant,
    /// The run's facts as known before the load; each checkpoint brings them up to date.
    pub(crate) facts: RunFacts,
    pub(crate) run_dir: PathBuf,
}

impl Checkpoints {
    /// Checkpoints every `every` from now on; `None` for a zero interval (off).
    pub(crate) fn every(every: Duration, facts: RunFacts, run_dir: PathBuf) -> Option<Self> {
        (!every.is_zero()).then(|| Self {
            every,
            last: Instant::now(),
            facts,
            run_dir,
        })
    }

    /// Whether one is due now; if so, the next is due one interval later.
    pub(crate) fn due(&mut self) -> bool {
        if self.last.elapsed() < self.every {
            return false;
        }
        self.last = Instant::now();
        true
    }

    /// The facts as of now: the run's duration so far and the engine's latest log lines.
    pub(crate) fn facts_now(&self, engine_log_tail: String) -> RunFacts {
        let mut facts = self.facts.clone();
        facts.duration = facts.started.elapsed();
        facts.engine_log_tail = engine_log_tail;
        facts
    }
}

/// What a checkpoint's outcome says of itself: the error line a reader sees first.
pub(crate) fn describe(checkpoint: &Checkpoint) -> String {
    let (mined, planned) = checkpoint.load_blocks;
    format!(
        "checkpoint after block {} ({mined} of {planned} loaded blocks): the run had not ended \
         when this was written; the verdict covers the blocks so far",
        checkpoint.block
    )
}
