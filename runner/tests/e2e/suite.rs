//! `runner suite`: many scenarios, one verdict. Harness-only scenarios (no engine) keep the
//! runs short; what is checked is the suite's own behaviour.

use std::path::{Path, PathBuf};

use runner::commands::suite::Suite;

use crate::common::*;

/// Three short scenarios in `dir`: `a` and `c` pass, `b` fails its bar.
fn three(dir: &Path) -> PathBuf {
    let scenarios = dir.join("scenarios");
    std::fs::create_dir_all(scenarios.join("more")).unwrap();
    let short = |name: &str| {
        ScenarioBuilder::new(name)
            .seed(2)
            .block_time(ms(500))
            .warmup_blocks(0)
            .blocks(2)
            .drain_blocks(0)
            .per_block(1, 1)
            .engine_disabled()
    };
    short("a").write(&scenarios, "a.yaml");
    short("b")
        .bar("cowload_events_delivered_ratio < 0.5")
        .write(&scenarios, "b.yaml");
    short("c").write(&scenarios.join("more"), "c.yaml");
    scenarios
}

fn run_suite(args: &[&str], out: &Path) -> (Option<i32>, String) {
    require_anvil();
    let output = runner()
        .arg("suite")
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    let err = stderr(&output);
    assert_all_gone(&printed_pids(&err));
    (output.status.code(), err)
}

fn suite_json(out: &Path) -> Suite {
    serde_json::from_str(&std::fs::read_to_string(out.join("suite.json")).unwrap()).unwrap()
}

#[test]
fn a_suite_with_one_failing_scenario_exits_1_with_a_row_each() {
    let _machine = shared();
    let dir = tempfile::tempdir().unwrap();
    let scenarios = three(dir.path());
    let out = dir.path().join("suite");
    let (code, err) = run_suite(&[scenarios.to_str().unwrap()], &out);
    assert_eq!(code, Some(1), "{err}");
    let suite = suite_json(&out);
    let rows: Vec<(&str, Status)> = suite
        .scenarios
        .iter()
        .map(|r| (r.name.as_str(), r.status))
        .collect();
    assert_eq!(
        rows,
        [
            ("a", Status::Pass),
            ("b", Status::Fail),
            ("c", Status::Pass)
        ],
        "{err}"
    );
    assert_eq!((suite.status, suite.exit_code), (Status::Fail, 1));
    assert_eq!(
        suite.scenarios[1].first_failed_bar.as_deref(),
        Some("cowload_events_delivered_ratio < 0.5")
    );
    assert!(suite.not_run.is_empty());
    // Every scenario has its own run directory with its own outcome.
    for row in &suite.scenarios {
        assert_eq!(outcome(&out.join(&row.run_dir)).scenario.name, row.name);
    }
    let junit = std::fs::read_to_string(out.join("junit.xml")).unwrap();
    assert_eq!(junit.matches("<testsuite ").count(), 3, "{junit}");
    assert_eq!(junit.matches("<failure").count(), 1, "{junit}");
    let md = std::fs::read_to_string(out.join("suite.md")).unwrap();
    assert!(md.contains("**2 of 3 scenarios passed** (exit 1"), "{md}");
    assert!(md.contains("[report](02-b/report.md)"), "{md}");
    // A progress line per scenario, with what is left.
    assert!(err.contains("suite [1/3]") && err.contains("left"), "{err}");
    assert!(
        err.contains("suite: 2 of 3 passed (0 not run); verdict Fail, exit 1"),
        "{err}"
    );
}

#[test]
fn fail_fast_stops_after_the_first_failure_and_names_what_did_not_run() {
    let _machine = shared();
    let dir = tempfile::tempdir().unwrap();
    let scenarios = three(dir.path());
    let out = dir.path().join("suite");
    let (code, err) = run_suite(&[scenarios.to_str().unwrap(), "--fail-fast"], &out);
    assert_eq!(code, Some(1), "{err}");
    let suite = suite_json(&out);
    assert_eq!(suite.scenarios.len(), 2, "{err}");
    assert_eq!(suite.not_run, [scenarios.join("more/c.yaml")]);
    assert!(!out.join("03-c").exists());
}

#[test]
fn every_file_is_checked_before_anything_runs() {
    let _machine = shared();
    let dir = tempfile::tempdir().unwrap();
    let scenarios = three(dir.path());
    std::fs::write(
        scenarios.join("bad1.yaml"),
        "version: 1\nname: x\nload: {blocks: 0, per_block: {twap: 1}}\n",
    )
    .unwrap();
    std::fs::write(
        scenarios.join("bad2.yaml"),
        "version: 1\nname: y\nlaod: {}\n",
    )
    .unwrap();
    let out = dir.path().join("suite");
    let output = runner()
        .arg("suite")
        .arg(&scenarios)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(
        err.contains("bad1.yaml:3:") && err.contains("bad2.yaml:3:"),
        "{err}"
    );
    assert!(
        err.contains("suite: 2 of 5 scenario files have problems; nothing was run"),
        "{err}"
    );
    assert!(!out.exists(), "nothing ran, nothing was written");
}

/// The same suite as two shards run side by side on this machine (their own ports and
/// directories), then merged, gives the single-process suite's result, timings aside.
#[test]
fn two_shards_run_concurrently_and_merged_equal_the_whole_suite() {
    let _machine = shared();
    let dir = tempfile::tempdir().unwrap();
    let scenarios = three(dir.path());
    let whole = dir.path().join("whole");
    let (code, err) = run_suite(&[scenarios.to_str().unwrap()], &whole);
    assert_eq!(code, Some(1), "{err}");

    let spawn = |shard: &str| {
        runner()
            .args([
                "suite",
                scenarios.to_str().unwrap(),
                "--shard",
                shard,
                "--out",
            ])
            .arg(dir.path().join(shard.replace('/', "-of-")))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (one, two) = (spawn("1/2"), spawn("2/2"));
    let (one, two) = (
        one.wait_with_output().unwrap(),
        two.wait_with_output().unwrap(),
    );
    for output in [&one, &two] {
        assert_all_gone(&printed_pids(&stderr(output)));
    }
    let shards = [dir.path().join("1-of-2"), dir.path().join("2-of-2")];
    // Each shard judges only its part.
    let parts: Vec<Suite> = shards.iter().map(|d| suite_json(d)).collect();
    assert_eq!(parts[0].scenarios.len() + parts[1].scenarios.len(), 3);
    assert!(parts
        .iter()
        .all(|p| p.shard.is_some() && p.id == parts[0].id));

    let merged_dir = dir.path().join("merged");
    let merge = |dirs: &[&Path], out: &Path| {
        runner()
            .args(["suite", "merge"])
            .args(dirs)
            .arg("--out")
            .arg(out)
            .output()
            .unwrap()
    };
    let output = merge(&[&shards[1], &shards[0]], &merged_dir);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let timeless = |mut suite: Suite| {
        suite.duration_seconds = 0.0;
        for row in &mut suite.scenarios {
            row.duration_seconds = 0.0;
            row.event_to_order_p99_seconds = None;
        }
        suite
    };
    assert_eq!(
        timeless(suite_json(&merged_dir)),
        timeless(suite_json(&whole))
    );
    // Every run directory came along, and the page links them.
    for row in &suite_json(&merged_dir).scenarios {
        assert!(merged_dir.join(&row.run_dir).join("outcome.json").is_file());
    }
    let junit = std::fs::read_to_string(merged_dir.join("junit.xml")).unwrap();
    assert_eq!(junit.matches("<testsuite ").count(), 3, "{junit}");

    // A missing shard, or a shard given twice, is refused and named.
    let output = merge(&[&shards[0]], &dir.path().join("half"));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("missing shards: 2/2"),
        "{}",
        stderr(&output)
    );
    let output = merge(&[&shards[0], &shards[0]], &dir.path().join("twice"));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("are both shard 1/2"),
        "{}",
        stderr(&output)
    );
    // A whole suite is not a shard.
    let output = merge(&[&whole], &dir.path().join("not-a-shard"));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("a whole suite, not a shard"),
        "{}",
        stderr(&output)
    );
}

/// `runner diff` of two suite directories: each scenario on both sides judged as two runs
/// are, one comment led by the bars that flipped, and the scenarios on one side only named.
#[test]
fn two_suites_diff_scenario_by_scenario_led_by_flipped_bars() {
    let _machine = shared();
    let dir = tempfile::tempdir().unwrap();
    let scenarios = dir.path().join("gate");
    std::fs::create_dir_all(&scenarios).unwrap();
    let lost = "increase(cowload_events_lost_total) == 0";
    ScenarioBuilder::short_light("orders")
        .bar(lost)
        .write(&scenarios, "orders.yaml");
    let base = dir.path().join("base");
    let (code, err) = run_suite(&[scenarios.to_str().unwrap()], &base);
    assert_eq!(code, Some(0), "{err}");

    // The head: an engine that drops every other event, and one more scenario.
    ScenarioBuilder::short_light("extra")
        .bar(lost)
        .write(&scenarios, "zz-extra.yaml");
    let head = dir.path().join("head");
    let output = runner()
        .args(["suite", scenarios.to_str().unwrap(), "--out"])
        .arg(&head)
        .env("COWLOAD_REFERENCE_MUTANT", "drop-every-2")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));

    let diff = |extra: &[&str]| {
        runner()
            .arg("diff")
            .arg(&base)
            .arg(&head)
            .args(extra)
            .output()
            .unwrap()
    };
    let output = diff(&[]);
    let md = String::from_utf8(output.stdout.clone()).unwrap();
    assert_eq!(output.status.code(), Some(0), "{}{md}", stderr(&output));
    assert!(
        md.starts_with("## cowload diff: suite of 2 scenarios"),
        "{md}"
    );
    assert!(md.contains("only on head: extra"), "{md}");
    let first_row = md
        .lines()
        .find(|l| l.starts_with("| orders |"))
        .unwrap_or_else(|| panic!("{md}"));
    assert!(
        first_row.contains(&format!("bar: {lost}")),
        "flips lead: {md}"
    );
    let failing = diff(&["--fail-on-regression"]);
    assert_eq!(failing.status.code(), Some(1));
    // A suite is compared only with a suite.
    let refused = runner()
        .arg("diff")
        .arg(&base)
        .arg(head.join("01-orders"))
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
}

/// Ctrl-C during the second scenario: that scenario is interrupted, the third never starts,
/// what ran is kept in `suite.json`, and the suite exits 130.
#[test]
fn an_interrupted_suite_keeps_what_ran_and_exits_130() {
    require_anvil();
    let _machine = shared();
    let dir = tempfile::tempdir().unwrap();
    let scenarios = dir.path().join("scenarios");
    std::fs::create_dir_all(&scenarios).unwrap();
    for name in ["a", "b", "c"] {
        ScenarioBuilder::new(name)
            .seed(2)
            .block_time(ms(500))
            .warmup_blocks(0)
            .blocks(if name == "b" { 60 } else { 2 })
            .drain_blocks(0)
            .per_block(1, 1)
            .engine_disabled()
            .write(&scenarios, &format!("{name}.yaml"));
    }
    let out = dir.path().join("suite");
    let mut command = runner();
    command.arg("suite").arg(&scenarios).arg("--out").arg(&out);
    let mut second = false;
    let running = start_and_follow(
        command,
        |line| {
            second |= line.starts_with("suite [2/3]");
            second && line.contains("load") && line.contains("3/60")
        },
        std::time::Duration::from_secs(60),
        "the second scenario's load",
    );
    let (code, seen) = running.interrupt();
    assert_eq!(code, Some(130), "{seen}");
    let suite = suite_json(&out);
    let rows: Vec<Status> = suite.scenarios.iter().map(|r| r.status).collect();
    assert_eq!(rows, [Status::Pass, Status::Interrupted], "{seen}");
    assert_eq!(suite.not_run, [scenarios.join("c.yaml")]);
    assert_eq!((suite.status, suite.exit_code), (Status::Interrupted, 130));
    assert_all_gone(&printed_pids(&seen));
}
