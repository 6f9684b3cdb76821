//! Exit codes and process hygiene: pass, failed bar, engine dying (a failed
//! verdict), engine never ready, SIGINT. After each, no child the runner
//! started is alive.

use std::time::{Duration, Instant};

use crate::common::*;

/// 2 TWAP + 2 EthFlow per block for `blocks` blocks, the reference engine (add an
/// `engine_command` for another), the `bars` given.
fn small(name: &str, blocks: u32, bars: &[&str]) -> ScenarioBuilder {
    ScenarioBuilder::new(name)
        .seed(5)
        .block_time(ms(500))
        .warmup_blocks(2)
        .drain_blocks(3)
        .blocks(blocks)
        .per_block(2, 2)
        .reference_engine_config()
        .bars(bars)
}

fn reference_engine() -> String {
    std::path::Path::new(env!("CARGO_BIN_EXE_runner"))
        .with_file_name("reference-engine")
        .display()
        .to_string()
}

#[test]
fn a_passing_run_exits_zero_and_counts_agree() {
    require_anvil();
    let _machine = shared();
    let dir = tempfile::tempdir().unwrap();
    let file = small(
        "pass",
        4,
        &[
            "cowload_events_delivered_ratio == 1",
            "increase(cowload_events_lost_total) == 0",
            "increase(shepherd_module_errors_total) == 0",
        ],
    )
    .write(dir.path(), "pass.yaml");
    let out = dir.path().join("run");
    let output = runner().arg(&file).arg("--out").arg(&out).output().unwrap();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{err}");
    let outcome = outcome(&out);
    assert_eq!(outcome.status, Status::Pass);
    // Cross-check: events on chain, events the mock matched to an order, and the report agree.
    let delivered =
        outcome.totals.delivered[EventKind::Twap] + outcome.totals.delivered[EventKind::EthFlow];
    assert_eq!(delivered, 16);
    let matched = mock_events(&outcome, |e| e.matched);
    assert_eq!(matched, delivered, "{:#?}", mock(&outcome).events);
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("PASS"), "{report}");
    assert_all_gone(&printed_pids(&err));
}

#[test]
fn a_failed_bar_exits_one() {
    require_anvil();
    let _machine = shared();
    let dir = tempfile::tempdir().unwrap();
    let file =
        small("fail", 2, &["cowload_events_delivered_ratio < 0.5"]).write(dir.path(), "fail.yaml");
    let out = dir.path().join("run");
    let output = runner().arg(&file).arg("--out").arg(&out).output().unwrap();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    let outcome = outcome(&out);
    assert_eq!(outcome.status, Status::Fail);
    // The implicit engine-up bar comes first and held; the scenario's own bar failed.
    assert_eq!(outcome.bars[0].bar, "min(cowload_engine_up) == 1");
    assert!(outcome.bars[0].holds);
    assert!(!outcome.bars[1].holds);
    assert_eq!(outcome.bars[1].observed, Some(1.0));
    assert_all_gone(&printed_pids(&err));
}

#[test]
fn an_engine_that_dies_during_the_run_fails_the_verdict_with_its_bar_first() {
    require_anvil();
    let _machine = shared();
    let dir = tempfile::tempdir().unwrap();
    let file = small("dies", 30, &["cowload_events_delivered_ratio == 1"])
        .engine_command([
            "/bin/sh".to_owned(),
            "-c".to_owned(),
            format!(
                "timeout -s KILL 3 {} --config ${{CONFIG_PATH}}",
                reference_engine()
            ),
        ])
        .write(dir.path(), "dies.yaml");
    let out = dir.path().join("run");
    let output = runner().arg(&file).arg("--out").arg(&out).output().unwrap();
    let err = stderr(&output);
    // The system under test failing is a failed verdict (exit 1), never an
    // infrastructure error (exit 3) that CI might retry or ignore.
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(err.contains("engine exited during the run"), "{err}");
    let outcome = outcome(&out);
    assert_eq!(outcome.status, Status::Fail);
    assert_eq!(outcome.exit_code, 1);
    let first = &outcome.bars[0];
    assert_eq!(
        first.bar, "min(cowload_engine_up) == 1",
        "{:#?}",
        outcome.bars
    );
    assert!(!first.holds);
    assert_eq!(first.observed, Some(0.0));
    assert!(
        outcome
            .error
            .as_deref()
            .is_some_and(|e| e.contains("exited during the run")),
        "{:?}",
        outcome.error
    );
    assert!(
        first_failed_bar(&outcome) == Some("min(cowload_engine_up) == 1"),
        "{:#?}",
        outcome.bottleneck
    );
    // The run stopped early: far fewer blocks than the 30 asked for.
    assert!(outcome.blocks.len() < 30);
    assert_all_gone(&printed_pids(&err));
}

#[test]
fn an_engine_whose_metrics_never_answer_fails_with_its_log() {
    require_anvil();
    let _machine = shared();
    let dir = tempfile::tempdir().unwrap();
    let file = small("silent", 2, &["cowload_events_delivered_ratio == 1"])
        .engine_command(["/bin/sh", "-c", "echo engine-starting; sleep 30"])
        .startup_timeout(secs(1))
        .write(dir.path(), "silent.yaml");
    let output = runner()
        .arg(&file)
        .arg("--out")
        .arg(dir.path().join("run"))
        .output()
        .unwrap();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(3), "{err}");
    assert!(
        err.contains("never answered 2xx") && err.contains("engine-starting"),
        "{err}"
    );
    assert_all_gone(&printed_pids(&err));
}

/// A long run started in the background and followed until its first loaded block.
fn start_until_first_load_block(file: &std::path::Path, out: &std::path::Path) -> Running {
    let mut command = runner();
    command.arg(file).arg("--out").arg(out);
    start_and_follow(
        command,
        |line| line.contains("load") && line.contains("1/200"),
        Duration::from_secs(60),
        "load block",
    )
}

#[test]
fn sigint_stops_the_run_writes_a_partial_outcome_and_exits_130() {
    require_anvil();
    let _machine = shared();
    let dir = tempfile::tempdir().unwrap();
    let file =
        small("long", 200, &["cowload_events_delivered_ratio == 1"]).write(dir.path(), "long.yaml");
    let out = dir.path().join("run");
    let (code, seen) = start_until_first_load_block(&file, &out).interrupt();
    assert_eq!(code, Some(130), "{seen}");
    let outcome = outcome(&out);
    assert_eq!(outcome.status, Status::Interrupted);
    assert!(!outcome.blocks.is_empty());
    assert_all_gone(&printed_pids(&seen));
}

#[test]
fn a_sigkilled_runner_leaves_no_child_behind() {
    require_anvil();
    let _machine = shared();
    let dir = tempfile::tempdir().unwrap();
    let file = small("killed", 200, &["cowload_events_delivered_ratio == 1"])
        .write(dir.path(), "killed.yaml");
    let Running {
        mut child, seen, ..
    } = start_until_first_load_block(&file, &dir.path().join("run"));
    let children = printed_pids(&seen);
    assert_eq!(children.len(), 2, "anvil and the engine: {seen}");
    // No handler, no drop, no guard runs: only the kernel can end the children.
    child.kill().unwrap();
    child.wait().unwrap();
    let gone_by = Instant::now() + Duration::from_secs(2);
    let alive = |pid: i32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            !s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
    };
    while children.iter().any(|&pid| alive(pid)) && Instant::now() < gone_by {
        std::thread::sleep(Duration::from_millis(50));
    }
    let left: Vec<i32> = children.into_iter().filter(|&pid| alive(pid)).collect();
    assert!(
        left.is_empty(),
        "{left:?} outlived a SIGKILLed runner by 2 s"
    );
}
