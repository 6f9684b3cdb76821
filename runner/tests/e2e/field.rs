//! Field failures: each `scenarios/field/*.yaml` passes with the reference engine as shipped,
//! and fails on the bar its header names when the matching defence (a `[reference]` knob,
//! overridden by its environment variable) is switched off. No process outlives a run.

use cowload_spec::scenario::faults::{Fault, RpcLimits};
use cowload_spec::{LossReason, OrderLine, OrderOutcome};
use runner::report::FaultRecord;

use crate::common::*;

/// The implicit first bar of every run with an engine.
const ENGINE_UP_BAR: &str = "min(cowload_engine_up) == 1";
const LOST_BAR: &str = "increase(cowload_events_lost_total) == 0";

/// What one run of a field scenario left: its exit code, its stderr and its outcome.
struct Run {
    code: Option<i32>,
    err: String,
    outcome: Outcome,
    /// The engine's log.
    engine_log: String,
    /// Every owed order, as `orders.jsonl` has it.
    orders: Vec<OrderLine>,
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
            outcome: outcome(&out),
            engine_log: std::fs::read_to_string(out.join("engine.log")).unwrap_or_default(),
            orders: order_lines(&out),
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

    /// Every owed order that was lost, each for `reason`; at least one.
    fn assert_lost_for(&self, reason: LossReason) -> Vec<&OrderLine> {
        let lost: Vec<&OrderLine> = self
            .orders
            .iter()
            .filter(|l| l.outcome == OrderOutcome::Lost)
            .collect();
        assert!(!lost.is_empty(), "{}", self.err);
        for line in &lost {
            assert_eq!(line.reason, Some(reason), "{line:?}");
        }
        lost
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

#[test]
fn orders_of_an_orderbook_outage_are_posted_once_it_is_back() {
    let _machine = shared();
    let run = Run::of("scenarios/field/orderbook-outage.yaml", &[]);
    run.assert_passed();
    let fault = run.fault();
    let (first, last) = fault.blocks.expect("the fault's blocks");
    let truth = fault.truth.as_ref().expect("the fault's truth");
    assert_eq!((truth.events, truth.lost), (16, 0), "{truth:?}");
    // The outage's events owed their order by its last block + order_deadline_blocks (4).
    let events: Vec<&OrderLine> = run
        .orders
        .iter()
        .filter(|l| l.part.is_none() && (first..=last).contains(&l.block))
        .collect();
    assert_eq!(events.len(), 16);
    for line in events {
        assert_eq!(line.deadline_block, last + 4, "{line:?}");
        assert_eq!(line.outcome, OrderOutcome::Matched, "{line:?}");
        // The outage ends right after its last block is mined, before the engine posts that
        // block's orders: every earlier block's were answered 503 first.
        if line.block < last {
            assert!(line.requests_total > 1, "answered 503 first: {line:?}");
        }
    }
}

#[test]
fn an_engine_that_gives_up_on_an_outage_loses_its_orders() {
    let _machine = shared();
    let run = Run::of(
        "scenarios/field/orderbook-outage.yaml",
        &[("REFERENCE_RETRY_RECOVERABLE", "false")],
    );
    run.assert_failed_first_on(LOST_BAR);
    // Each lost order's last answer was the outage's 503: the engine gave up on a retryable
    // answer.
    run.assert_lost_for(LossReason::GaveUpOnRetryable);
}

#[test]
fn a_recoverable_rejection_is_retried_until_the_orderbook_takes_the_order() {
    let _machine = shared();
    let run = Run::of("scenarios/field/recoverable-rejection.yaml", &[]);
    run.assert_passed();
    let refused = run
        .mock()
        .orders_received
        .values()
        .map(|by| by.get("InsufficientBalance").copied().unwrap_or(0))
        .sum::<u64>();
    assert!(
        refused >= 16,
        "every event of the fault was refused at least once: {refused}"
    );
}

#[test]
fn an_engine_that_takes_a_recoverable_rejection_for_final_loses_its_orders() {
    let _machine = shared();
    let off = Run::of(
        "scenarios/field/recoverable-rejection.yaml",
        &[("REFERENCE_RETRY_RECOVERABLE", "false")],
    );
    off.assert_failed_first_on(LOST_BAR);
    off.assert_lost_for(LossReason::Rejected);
}

#[test]
fn polls_pinned_to_their_block_survive_a_node_that_lags() {
    let _machine = shared();
    let run = Run::of("scenarios/field/state-lag.yaml", &[]);
    run.assert_passed();
    assert!(
        run.err.contains("from a node 2 block(s) behind"),
        "{}",
        run.err
    );
    let truth = run.fault().truth.as_ref().expect("the fault's truth");
    assert_eq!(truth.lost, 0, "{truth:?}");
}

#[test]
fn an_engine_that_polls_a_lagging_node_at_latest_drops_new_twaps() {
    let _machine = shared();
    let off = Run::of(
        "scenarios/field/state-lag.yaml",
        &[("REFERENCE_PIN_CALLS", "false")],
    );
    off.assert_failed_first_on(LOST_BAR);
    // What the lagging node said dropped the TWAPs it had not seen yet: only TWAPs are lost,
    // and their engine never posted them.
    for line in off.assert_lost_for(LossReason::NeverPosted) {
        assert_eq!(line.kind, cowload_spec::EventKind::Twap, "{line:?}");
    }
}

#[test]
fn a_gap_wider_than_the_provider_allows_is_read_in_pieces() {
    let _machine = shared();
    let run = Run::of("scenarios/field/provider-limits.yaml", &[]);
    run.assert_passed();
    assert!(
        run.engine_log
            .contains("query exceeds the block range limit"),
        "the provider refused the gap's range: {}",
        run.engine_log
    );
}

#[test]
fn an_engine_with_a_fixed_log_range_skips_the_gap_for_good() {
    let _machine = shared();
    let off = Run::of(
        "scenarios/field/provider-limits.yaml",
        &[("REFERENCE_SPLIT_LOG_RANGES", "false")],
    );
    off.assert_failed_first_on(LOST_BAR);
    // The skipped range's events were never posted; the drop's fault is charged with them.
    let truth = off.fault().truth.as_ref().expect("the fault's truth");
    assert!(truth.lost > 0, "{truth:?}");
    off.assert_lost_for(LossReason::NeverPosted);
}

/// A rate limit refuses what goes over it (HTTP 429, or `-32005` on the WebSocket), and an
/// engine that retries what failed loses nothing.
#[test]
fn requests_over_a_rate_limit_are_refused_and_retried_through() {
    let _machine = shared();
    let dir = tempfile::tempdir().unwrap();
    let limits = RpcLimits {
        requests_per_second: Some(2),
        ..RpcLimits::default()
    };
    let file = ScenarioBuilder::new("rate-limit")
        .seed(1)
        .warmup_blocks(2)
        .blocks(8)
        .drain_blocks(8)
        .per_block(3, 1)
        .orderbook_latency(ms(10))
        .order_deadline_blocks(8)
        .fault(3, blocks(3), Fault::RpcLimits { limits })
        .bar("increase(cowload_events_lost_total) == 0")
        .write(dir.path(), "rate.yaml");
    let run = Run::of(file.to_str().unwrap(), &[]);
    run.assert_passed();
    let actions = run.fault().actions.join("; ");
    assert!(
        actions.contains("holding the engine's requests to 2 requests per second"),
        "{actions}"
    );
    let refused: u64 = actions
        .split("the run's own limits apply again (")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("the refusals counted in the action line");
    assert!(refused > 0, "{actions}");
}
