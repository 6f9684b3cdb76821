//! Field failures: each `scenarios/field/*.yaml` passes with the reference engine as shipped,
//! and fails on the bar its header names when the matching defence (a `[reference]` knob,
//! overridden by its environment variable) is switched off. No process outlives a run.

use std::path::Path;

use runner::report::{FaultRecord, Outcome, Status};

use crate::common::*;

/// The implicit first bar of every run with an engine.
const ENGINE_UP_BAR: &str = "min(cowload_engine_up) == 1";

/// What one run of a field scenario left: its exit code, its stderr and its outcome.
struct Run {
    code: Option<i32>,
    err: String,
    outcome: Outcome,
    /// The engine's log.
    engine_log: String,
}

impl Run {
    /// Runs `scenario` with `env` added to the runner's (and so the engine's) environment,
    /// and checks that every process it printed is gone afterwards.
    fn of(scenario: &str, env: &[(&str, &str)]) -> Run {
        require_anvil();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run");
        let mut command = runner();
        command.arg(scenario).arg("--out").arg(&out);
        command.envs(env.iter().copied());
        let output = command.output().unwrap();
        let err = stderr(&output);
        assert_all_gone(&printed_pids(&err));
        Run {
            code: output.status.code(),
            outcome: read_outcome(&out),
            engine_log: std::fs::read_to_string(out.join("engine.log")).unwrap_or_default(),
            err,
        }
    }

    /// The run passed: exit 0, every bar held, nothing lost.
    fn assert_passed(&self) {
        assert_eq!(self.code, Some(0), "{}", self.err);
        assert_eq!(self.outcome.status, Status::Pass, "{}", self.err);
        let lost: u64 = self.mock().events.values().map(|e| e.lost).sum();
        assert_eq!(lost, 0, "{}", self.err);
    }

    /// The run failed, and `bar` was the first bar to fail.
    fn assert_failed_first_on(&self, bar: &str) {
        assert_eq!(self.code, Some(1), "{}", self.err);
        assert_eq!(self.outcome.status, Status::Fail, "{}", self.err);
        let first = self.outcome.bottleneck.first_failed_bar.as_ref();
        assert_eq!(
            first.map(|f| f.bar.as_str()),
            Some(bar),
            "{:?}",
            self.outcome.bottleneck
        );
    }

    fn mock(&self) -> &runner::report::MockSummary {
        self.outcome.mock.as_ref().expect("the mock's summary")
    }

    /// The record of the run's only fault.
    fn fault(&self) -> &FaultRecord {
        assert_eq!(self.outcome.faults.len(), 1, "{:?}", self.outcome.faults);
        &self.outcome.faults[0]
    }
}

fn read_outcome(run: &Path) -> Outcome {
    let text = std::fs::read_to_string(run.join("outcome.json")).expect("outcome.json written");
    Outcome::from_json(&text).unwrap_or_else(|e| panic!("outcome.json: {e}"))
}

#[test]
fn a_chain_that_pauses_is_waited_for() {
    let _machine = shared();
    let run = Run::of("scenarios/field/chain-pause.yaml", &[]);
    run.assert_passed();
    assert!(
        run.err.contains(
            "fault 0 (chain_pause) starts before load block 5: no block for 10s (load block 5 is the first after it)"
        ),
        "{}",
        run.err
    );
    let fault = run.fault();
    assert!(fault.ended, "{fault:?}");
    // The pause holds back one block: the first after it.
    let (first, last) = fault.blocks.expect("the fault's blocks");
    assert_eq!(first, last, "{fault:?}");
    let truth = fault.truth.as_ref().expect("the fault's truth");
    assert_eq!((truth.events, truth.lost), (4, 0), "{truth:?}");
}

#[test]
fn a_watchdog_that_exits_on_a_paused_chain_fails_on_staying_up() {
    let _machine = shared();
    let run = Run::of(
        "scenarios/field/chain-pause.yaml",
        &[("REFERENCE_STALL_CHECK", "false")],
    );
    run.assert_failed_first_on(ENGINE_UP_BAR);
    let error = run.outcome.error.as_deref().unwrap_or_default();
    assert!(error.contains("exit status: 3"), "{error}");
}

#[test]
fn a_frozen_engine_catches_up_when_it_wakes() {
    let _machine = shared();
    let run = Run::of("scenarios/field/engine-pause.yaml", &[]);
    run.assert_passed();
    assert!(run.err.contains("SIGSTOP to pid"), "{}", run.err);
    assert!(run.err.contains("SIGCONT to pid"), "{}", run.err);
    let fault = run.fault();
    let truth = fault.truth.as_ref().expect("the fault's truth");
    // Seven frozen blocks of 4 events, and the block mined just before the freeze.
    assert_eq!(
        (truth.events, truth.events_before_start, truth.lost),
        (32, 4, 0),
        "{truth:?}"
    );
    assert_eq!(truth.duplicates, 0, "{truth:?}");
}

#[test]
fn a_watchdog_that_exits_after_a_freeze_fails_on_staying_up() {
    let _machine = shared();
    let run = Run::of(
        "scenarios/field/engine-pause.yaml",
        &[("REFERENCE_STALL_CHECK", "false")],
    );
    run.assert_failed_first_on(ENGINE_UP_BAR);
    // It woke up and exited at once, before handling the blocks it slept through.
    assert!(
        run.engine_log
            .contains("no new head within the stall timeout; exiting"),
        "{}",
        run.engine_log
    );
    let truth = run.fault().truth.as_ref().expect("the fault's truth");
    assert!(truth.lost + truth.unjudged > 0, "{truth:?}");
}
