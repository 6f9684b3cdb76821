//! Every order accounted for (issue 23): nothing is judged before its deadline, bars on the
//! harness's latencies read its exact samples, every owed order has a line in `orders.jsonl`,
//! and a fault is charged with the blocks the engine had not read when it began.

use std::path::{Path, PathBuf};

use cowload_spec::OrderOutcome;
use runner::scenario::faults::{Fault, RpcErrorKind};

use crate::common::*;

/// TWAPs of 30 parts of 2 s: their parts keep opening to the run's last block and beyond.
/// The reference engine acts on a block once it is 2 deep (confirmations), so it posts each
/// part about two blocks after its window opens: correct, and within the 3-block deadline.
fn parts_to_the_end() -> ScenarioBuilder {
    ScenarioBuilder::new("parts-to-the-end")
        .seed(3)
        .chain_id(11_155_111)
        .block_time(secs(1))
        .warmup_blocks(2)
        .blocks(6)
        .drain_blocks(3)
        .per_block(4, 0)
        .twap_parts(30, secs(2))
        .orderbook_latency(ms(10))
        .order_deadline_blocks(3)
        .engine_env("REFERENCE_CONFIRMATIONS", "2")
        .engine_progress("reference_head_block")
        .bars([
            MISSING_BAR,
            "increase(cowload_events_lost_total) == 0",
            LATENCY_BAR,
        ])
}

const MISSING_BAR: &str = r#"increase(cowload_twap_parts_total{outcome="missing"}) == 0"#;
const LATENCY_BAR: &str = r#"quantile(0.99, cowload_event_to_order_seconds{kind="twap"}) < 10s"#;

/// A finished run: exit code, stderr, the typed outcome and the run directory.
struct Run {
    code: Option<i32>,
    err: String,
    outcome: Outcome,
    dir: PathBuf,
    _keep: tempfile::TempDir,
}

/// Runs `scenario` with `env` added to the runner's and so the engine's environment;
/// checks every printed PID is gone afterwards.
fn run(name: &str, scenario: &ScenarioBuilder, env: &[(&str, &str)]) -> Run {
    require_anvil();
    let keep = tempfile::tempdir().unwrap();
    let file = scenario.write(keep.path(), &format!("{name}.yaml"));
    let dir = keep.path().join("run");
    let mut command = runner();
    command.arg(&file).arg("--out").arg(&dir);
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().unwrap();
    let err = stderr(&output);
    assert_all_gone(&printed_pids(&err));
    let outcome = outcome(&dir);
    Run {
        code: output.status.code(),
        err,
        outcome,
        dir,
        _keep: keep,
    }
}

/// The run's last mined block.
fn last_block(outcome: &Outcome) -> u64 {
    outcome.blocks.last().expect("blocks were mined").number
}

/// The classic bucket interpolation of `q` over the mock's `cowload_event_to_order_seconds`
/// histogram of `kind`, from its final raw scrape (every bucket starts at 0 before the load).
fn bucket_quantile(run: &Path, kind: &str, q: f64) -> f64 {
    let raw = std::fs::read_to_string(run.join("metrics/mock.prom")).unwrap();
    let end = raw.rsplit("# cowload scrape: end\n").next().unwrap();
    let prefix = format!("cowload_event_to_order_seconds_bucket{{kind=\"{kind}\",le=\"");
    let mut buckets: Vec<(f64, f64)> = end
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(&prefix)?;
            let (le, count) = rest.split_once("\"} ")?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, count.parse().ok()?))
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = buckets.last().unwrap().1;
    let rank = q * total;
    let mut below = (0.0, 0.0);
    for &(le, count) in &buckets {
        if count >= rank {
            return below.0 + (le - below.0) * (rank - below.1) / (count - below.1);
        }
        below = (le, count);
    }
    panic!("rank {rank} beyond every bucket: {buckets:?}")
}

/// TWAP parts keep opening to the run's end; a correct engine that posts each part
/// about two blocks after its window opens passes, the parts not yet due are unjudged (never
/// missing), and the latency bar reads the exact samples, the figure the report prints.
#[test]
fn parts_not_yet_due_at_the_end_are_unjudged_and_a_correct_engine_passes() {
    let _machine = shared();
    let run = run("parts-to-the-end", &parts_to_the_end(), &[]);
    let outcome = &run.outcome;
    assert_eq!(run.code, Some(0), "{}\n{:#?}", run.err, outcome.bars);
    let twap = mock_kind(outcome, EventKind::Twap);
    assert_eq!(twap.parts_missing, 0, "{twap:?}");
    assert!(twap.parts_unjudged > 0, "the edge's parts: {twap:?}");
    assert!(twap.parts_matched > twap.parts_unjudged, "{twap:?}");
    // The rule, line by line: unjudged exactly when the deadline lies after the last block.
    let last = last_block(outcome);
    let lines = order_lines(&run.dir);
    for line in lines.iter().filter(|l| l.part.is_some()) {
        match line.outcome {
            OrderOutcome::Unjudged => assert!(line.deadline_block > last, "{line:?}"),
            OrderOutcome::Matched => {}
            other => panic!("a correct engine's part is {other:?}: {line:?}"),
        }
    }
    let unjudged = lines
        .iter()
        .filter(|l| l.part.is_some() && l.outcome == OrderOutcome::Unjudged)
        .count() as u64;
    assert_eq!(unjudged, twap.parts_unjudged);
    let report = std::fs::read_to_string(run.dir.join("report.md")).unwrap();
    assert!(report.contains("Unjudged:"), "{report}");
    assert!(
        run.err.contains("unjudged (their deadline lay after"),
        "{}",
        run.err
    );

    // The latency bar's value is the exact figure the report prints, while bucket
    // interpolation over the same orders would say something else by more than 10 %.
    let bar = outcome.bars.iter().find(|b| b.bar == LATENCY_BAR).unwrap();
    let exact = outcome.event_to_order_seconds[EventKind::Twap].p99;
    assert_eq!(bar.observed, Some(exact), "{bar:?}");
    assert_eq!(bar.bucket, None, "no bucket: exact samples");
    let bucketed = bucket_quantile(&run.dir, "twap", 0.99);
    assert!(
        (bucketed - exact).abs() > 0.1 * exact,
        "buckets {bucketed} and samples {exact} agree within 10 %: the check proves nothing"
    );
    let shown = runner::report::format_value(exact, cowload_spec::bars::Measure::Seconds);
    assert!(
        report.contains(&format!("| {shown} |")),
        "the report's table prints {shown}: {report}"
    );
    // The engine's lag (engine.progress) is on the progress line and in the outcome.
    assert!(run.err.contains("| engine lag "), "{}", run.err);
    assert!(outcome.blocks.iter().any(|b| b.engine_lag_blocks.is_some()));
}

/// The must-fail twin: an engine that never posts a TWAP's later parts still fails on
/// the parts whose deadline fell inside the run; those after it stay unjudged.
#[test]
fn an_engine_that_skips_parts_due_inside_the_run_still_fails() {
    let _machine = shared();
    let run = run(
        "parts-to-the-end",
        &parts_to_the_end(),
        &[("COWLOAD_REFERENCE_MUTANT", "first-part-only")],
    );
    let outcome = &run.outcome;
    assert_eq!(run.code, Some(1), "{}", run.err);
    let missing = outcome.bars.iter().find(|b| b.bar == MISSING_BAR).unwrap();
    assert!(!missing.holds, "{missing:?}");
    let last = last_block(outcome);
    let lines = order_lines(&run.dir);
    let mut lost = 0;
    for line in lines.iter().filter(|l| l.part.is_some_and(|p| p > 0)) {
        match line.outcome {
            OrderOutcome::Lost => {
                lost += 1;
                assert!(line.deadline_block <= last, "{line:?}");
                assert!(line.requests.is_empty(), "{line:?}");
            }
            OrderOutcome::Unjudged => assert!(line.deadline_block > last, "{line:?}"),
            other => panic!("a skipped part is {other:?}: {line:?}"),
        }
    }
    let twap = mock_kind(outcome, EventKind::Twap);
    assert_eq!(lost, twap.parts_missing, "{twap:?}");
    assert!(lost > 0);
}

/// `length` blocks of `eth_getLogs` errors at load block 6, for an engine that gives a block
/// up after one failed `eth_getLogs` (`skip-failed-logs`); the caller sets the engine up.
fn getlogs_errors(length: u32) -> ScenarioBuilder {
    ScenarioBuilder::new("getlogs-fault")
        .seed(5)
        .chain_id(11_155_111)
        .block_time(secs(1))
        .warmup_blocks(2)
        .blocks(10)
        .drain_blocks(6)
        .per_block(2, 2)
        .orderbook_latency(ms(10))
        .order_deadline_blocks(6)
        .fault(
            6,
            blocks(length),
            Fault::RpcErrors {
                methods: vec!["eth_getLogs".to_owned()],
                fraction: 1.0,
                error: RpcErrorKind::HeaderNotFound,
            },
        )
        .bar("increase(cowload_events_lost_total) == 0")
}

/// The events lost in the run and the fault's record, checked to agree: every lost event is
/// charged to the fault.
fn lost_and_charged(run: &Run) -> (u64, runner::report::FaultRecord) {
    let mock = run.outcome.mock.as_ref().unwrap();
    let lost: u64 = mock.events.values().map(|e| e.lost).sum();
    let fault = run.outcome.faults[0].clone();
    let truth = fault.truth.clone().expect("the fault was judged");
    assert!(lost > 0, "the engine skipped a block: {}", run.err);
    assert_eq!(truth.lost, lost, "every lost event is charged: {fault:?}");
    (lost, fault)
}

/// Runs `scenario` with the engine that gives a block up when its `eth_getLogs` fails; the
/// run fails, and the fault is charged with what was lost.
fn run_skipping_failed_logs(scenario: &ScenarioBuilder) -> (Run, runner::report::FaultRecord) {
    let run = run(
        "getlogs-fault",
        scenario,
        &[("COWLOAD_REFERENCE_MUTANT", "skip-failed-logs")],
    );
    assert_eq!(run.code, Some(1), "{}", run.err);
    let (_, fault) = lost_and_charged(&run);
    (run, fault)
}

/// A fault is charged with the block mined just before it (no engine can have read it when
/// the fault began), and every event the engine gives up under it is charged to it. Two blocks
/// of `eth_getLogs` errors: the engine reads the fault's first block a whole block time inside
/// it, so it loses that block for sure; whatever it reads at the fault's edges (the block
/// before, the last block) is charged too.
#[test]
fn a_block_given_up_under_a_getlogs_fault_is_charged_to_the_fault() {
    let _machine = shared();
    let (run, fault) = run_skipping_failed_logs(&getlogs_errors(2));
    let (first, _) = fault.blocks.unwrap();
    assert_eq!(fault.charged_from, Some(first - 1), "{fault:?}");
    assert!(
        run.err.contains(&format!("(charged from {}", first - 1)),
        "the table says which blocks: {}",
        run.err
    );
}

/// An engine three blocks behind (confirmations) reads, during the fault, blocks
/// mined well before it; with `engine.progress` the fault is charged back to the engine's
/// last processed block, and the lost events are the fault's. Two blocks of errors: the
/// engine asks for a block's logs at most ~600 ms into a slot (150 ms per event), so its
/// request of the second slot always falls inside the fault.
#[test]
fn with_engine_progress_a_fault_is_charged_with_every_block_not_yet_read() {
    let _machine = shared();
    let scenario = getlogs_errors(2)
        .engine_env("REFERENCE_CONFIRMATIONS", "3")
        .engine_env("REFERENCE_PER_EVENT_COST", "150ms")
        .engine_progress("reference_head_block");
    let (_, fault) = run_skipping_failed_logs(&scenario);
    let (first, _) = fault.blocks.unwrap();
    let from = fault.charged_from.expect("charged before its first block");
    assert!(
        from + 3 <= first,
        "three blocks behind reach back: {fault:?}"
    );
    let truth = fault.truth.as_ref().unwrap();
    assert!(truth.events_before_start > 0, "{truth:?}");
}
