//! Checkpoints: the verdict so far, written while a long run goes on.
//!
//! In: the run's facts known before the load, an interval, and after every block the
//! observer's scrapes, blocks and mock. Out: `outcome.json` and `report.md` in the run
//! directory, rewritten whenever the interval has passed, marked with [`Checkpoint`].
//!
//! Why: a soak runs for hours, and a run that dies in the middle (the machine, the CI job's
//! time limit, a runner that is SIGKILLed) would otherwise leave only raw scrapes. The run's
//! own end rewrites both files as usual. Building a checkpoint (every bar evaluated over the
//! whole series, the report rendered) grows with the run — seconds after an hour — so between
//! two blocks only a copy of the state is taken (names and labels are shared, so it is a copy
//! of values) and the rest runs on a blocking thread; one still being written skips the next, and the run's end waits for it ([`Checkpoints::settle`])
//! so it can never overwrite the final files.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use cowload_spec::outcome::Checkpoint;

use crate::bars;
use crate::load::Delivery;
use crate::metrics::Series;
use crate::report::{self, MockSummary, RunFacts};
use crate::scenario::Plan;

/// What one checkpoint is built from: a copy of the run's state after a block.
pub(crate) struct State {
    pub(crate) plan: Plan,
    pub(crate) delivery: Delivery,
    pub(crate) series: Series,
    pub(crate) mock: MockSummary,
    pub(crate) facts: RunFacts,
    pub(crate) mark: Checkpoint,
}

/// When and where checkpoints are written, and the facts every one repeats.
pub(crate) struct Checkpoints {
    every: Duration,
    last: Instant,
    /// The checkpoint being written, if one is.
    writing: Option<tokio::task::JoinHandle<()>>,
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
            writing: None,
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

    /// Builds and writes the checkpoint of `state` on a blocking thread; skipped while the
    /// previous one is still being written.
    pub(crate) fn write_aside(&mut self, state: State) {
        if self
            .writing
            .as_ref()
            .is_some_and(|task| !task.is_finished())
        {
            return;
        }
        let run_dir = self.run_dir.clone();
        self.writing = Some(tokio::task::spawn_blocking(move || {
            let block = state.mark.block;
            if let Err(e) = report::write_checkpoint(&build(state), &run_dir) {
                eprintln!("warning: checkpoint after block {block} not written: {e}");
            }
        }));
    }

    /// Waits for a checkpoint still being written, so the run's own files come after it.
    pub(crate) async fn settle(&mut self) {
        if let Some(task) = self.writing.take() {
            let _ = task.await;
        }
    }

    /// The facts as of now: the run's duration so far and the engine's latest log lines.
    pub(crate) fn facts_now(&self, engine_log_tail: String) -> RunFacts {
        let mut facts = self.facts.clone();
        facts.duration = facts.started.elapsed();
        facts.engine_log_tail = engine_log_tail;
        facts
    }
}

/// The outcome of the blocks so far, marked as a checkpoint.
fn build(state: State) -> report::Outcome {
    let verdicts = bars::evaluate(&state.plan.bars, &state.series);
    let mut outcome = report::outcome(
        &state.plan,
        &state.delivery,
        &state.series,
        verdicts,
        Some(state.mock),
        None,
        state.facts,
    );
    outcome.error = Some(describe(&state.mark));
    outcome.checkpoint = Some(state.mark);
    outcome
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
