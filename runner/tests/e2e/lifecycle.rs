//! Exit codes and process hygiene: pass, failed bar, engine dying (a failed
//! verdict), engine never ready, SIGINT. After each, no child the runner
//! started is alive.

use std::time::{Duration, Instant};

use crate::common::*;

fn small(name: &str, blocks: u32, engine: &str, bars: &[&str]) -> String {
    let bars: String = bars.iter().map(|b| format!("  - {b}\n")).collect();
    format!(
        "version: 1\nname: {name}\nseed: 5\nchain: {{ block_time: 500ms }}\n\
         load:\n  warmup_blocks: 2\n  drain_blocks: 3\n  blocks: {blocks}\n  per_block: {{ twap: 2, ethflow: 2 }}\n\
         engine:\n{}{engine}bars:\n{bars}",
        engine_config_line()
    )
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
    let body = small(
        "pass",
        4,
        "",
        &[
            "cowload_events_delivered_ratio == 1",
            "increase(cowload_events_lost_total) == 0",
            "increase(shepherd_module_errors_total) == 0",
        ],
    );
    let file = scenario(dir.path(), "pass.yaml", &body);
    let out = dir.path().join("run");
    let output = runner().arg(&file).arg("--out").arg(&out).output().unwrap();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{err}");
    let outcome = outcome(&out);
    assert_eq!(outcome["status"], "pass");
    // Cross-check: events on chain, events the mock matched to an order, and the report agree.
    let delivered = outcome["totals"]["delivered"]["twap"].as_u64().unwrap()
        + outcome["totals"]["delivered"]["ethflow"].as_u64().unwrap();
    assert_eq!(delivered, 16);
    let events = &outcome["mock"]["events"];
    let matched = events["twap"]["matched"].as_u64().unwrap()
        + events["ethflow"]["matched"].as_u64().unwrap();
    assert_eq!(matched, delivered, "{events}");
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("PASS"), "{report}");
    assert_all_gone(&printed_pids(&err));
}

#[test]
fn a_failed_bar_exits_one() {
    require_anvil();
    let _machine = shared();
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(
        dir.path(),
        "fail.yaml",
        &small("fail", 2, "", &["cowload_events_delivered_ratio < 0.5"]),
    );
    let out = dir.path().join("run");
    let output = runner().arg(&file).arg("--out").arg(&out).output().unwrap();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    let outcome = outcome(&out);
    assert_eq!(outcome["status"], "fail");
    // The implicit engine-up bar comes first and held; the scenario's own bar failed.
    assert_eq!(outcome["bars"][0]["bar"], "min(cowload_engine_up) == 1");
    assert_eq!(outcome["bars"][0]["holds"], true);
    assert_eq!(outcome["bars"][1]["holds"], false);
    assert_eq!(outcome["bars"][1]["observed"], 1.0);
    assert_all_gone(&printed_pids(&err));
}

#[test]
fn an_engine_that_dies_during_the_run_fails_the_verdict_with_its_bar_first() {
    require_anvil();
    let _machine = shared();
    let dir = tempfile::tempdir().unwrap();
    let engine = format!(
        "  command: [\"/bin/sh\", \"-c\", \"timeout -s KILL 3 {} --config ${{CONFIG_PATH}}\"]\n",
        reference_engine()
    );
    let file = scenario(
        dir.path(),
        "dies.yaml",
        &small(
            "dies",
            30,
            &engine,
            &["cowload_events_delivered_ratio == 1"],
        ),
    );
    let out = dir.path().join("run");
    let output = runner().arg(&file).arg("--out").arg(&out).output().unwrap();
    let err = stderr(&output);
    // The system under test failing is a failed verdict (exit 1), never an
    // infrastructure error (exit 3) that CI might retry or ignore.
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(err.contains("engine exited during the run"), "{err}");
    let outcome = outcome(&out);
    assert_eq!(outcome["status"], "fail");
    assert_eq!(outcome["exit_code"], 1);
    let first = &outcome["bars"][0];
    assert_eq!(
        first["bar"], "min(cowload_engine_up) == 1",
        "{}",
        outcome["bars"]
    );
    assert_eq!(first["holds"], false);
    assert_eq!(first["observed"], 0.0);
    assert!(
        outcome["error"]
            .as_str()
            .is_some_and(|e| e.contains("exited during the run")),
        "{}",
        outcome["error"]
    );
    assert!(
        outcome["bottleneck"]["first_failed_bar"]["bar"] == "min(cowload_engine_up) == 1",
        "{}",
        outcome["bottleneck"]
    );
    // The run stopped early: far fewer blocks than the 30 asked for.
    assert!(outcome["blocks"].as_array().unwrap().len() < 30);
    assert_all_gone(&printed_pids(&err));
}

#[test]
fn an_engine_whose_metrics_never_answer_fails_with_its_log() {
    require_anvil();
    let _machine = shared();
    let dir = tempfile::tempdir().unwrap();
    let engine = "  command: [\"/bin/sh\", \"-c\", \"echo engine-starting; sleep 30\"]\n  startup_timeout: 1s\n";
    let file = scenario(
        dir.path(),
        "silent.yaml",
        &small(
            "silent",
            2,
            engine,
            &["cowload_events_delivered_ratio == 1"],
        ),
    );
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
    let file = scenario(
        dir.path(),
        "long.yaml",
        &small("long", 200, "", &["cowload_events_delivered_ratio == 1"]),
    );
    let out = dir.path().join("run");
    let (code, seen) = start_until_first_load_block(&file, &out).interrupt();
    assert_eq!(code, Some(130), "{seen}");
    let outcome = outcome(&out);
    assert_eq!(outcome["status"], "interrupted");
    assert!(!outcome["blocks"].as_array().unwrap().is_empty());
    assert_all_gone(&printed_pids(&seen));
}

#[test]
fn a_sigkilled_runner_leaves_no_child_behind() {
    require_anvil();
    let _machine = shared();
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(
        dir.path(),
        "killed.yaml",
        &small("killed", 200, "", &["cowload_events_delivered_ratio == 1"]),
    );
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
