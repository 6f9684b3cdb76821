//! Soak bars: the engine's process group is read from /proc with every scrape, and `deriv()`
//! judges how fast it grows. The reference engine passes a short steady load as shipped and
//! fails the memory bar with its leak knob on; the resource series reach the outcome.

use cowload_spec::bars::Measure;

use crate::common::*;

const MEMORY_BAR: &str = "deriv(cowload_engine_rss_bytes) < 500MB/h";
const FDS_BAR: &str = "deriv(cowload_engine_open_fds) < 100/h";

/// A minute of steady load after a warm-up that reaches it: TWAPs live 2 × 10 s, so about
/// 200 are active from block 20 on.
fn steady_load(dir: &std::path::Path) -> std::path::PathBuf {
    ScenarioBuilder::new("soak")
        .seed(3)
        .block_time(secs(1))
        .warmup_blocks(20)
        .blocks(60)
        .drain_blocks(3)
        .per_block(10, 10)
        .twap_parts(2, secs(10))
        .orderbook_latency(ms(10))
        .order_deadline_blocks(3)
        .bars([
            MEMORY_BAR,
            FDS_BAR,
            "increase(cowload_events_lost_total) == 0",
        ])
        .write(dir, "soak.yaml")
}

/// Runs the steady load with `env` added to the runner's (and so the engine's) environment.
fn run(env: &[(&str, &str)]) -> (Option<i32>, String, Outcome) {
    require_anvil();
    let dir = tempfile::tempdir().unwrap();
    let file = steady_load(dir.path());
    let out = dir.path().join("run");
    let output = runner()
        .arg(&file)
        .arg("--out")
        .arg(&out)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let err = stderr(&output);
    assert_all_gone(&printed_pids(&err));
    (output.status.code(), err, outcome(&out))
}

fn bar<'a>(outcome: &'a Outcome, text: &str) -> &'a BarResult {
    outcome
        .bars
        .iter()
        .find(|b| b.bar == text)
        .unwrap_or_else(|| panic!("no bar {text}"))
}

#[test]
fn a_steady_engine_passes_the_growth_bars_and_its_resources_are_published() {
    let _machine = shared();
    let (code, err, outcome) = run(&[]);
    assert_eq!(code, Some(0), "{err}");
    let memory = bar(&outcome, MEMORY_BAR);
    assert_eq!(memory.unit, Measure::BytesPerSecond);
    assert!(memory.observed.is_some() && memory.holds, "{memory:?}");
    // The series behind the bars reach the outcome with plausible values: an engine holds
    // megabytes, a few descriptors and threads, and used some CPU; the runner too.
    let end = |name: &str| {
        outcome
            .metrics
            .get(name)
            .and_then(|m| m.end)
            .unwrap_or_else(|| panic!("{name} missing from the outcome"))
    };
    assert!(end("cowload_engine_rss_bytes") > 1e6);
    assert!(end("cowload_engine_open_fds") >= 3.0);
    assert!(end("cowload_engine_threads") >= 1.0);
    assert!(end("cowload_engine_cpu_seconds_total") > 0.0);
    assert!(
        end("cowload_engine_state_bytes") > 0.0,
        "the cursor and UIDs are on disk"
    );
    assert!(end("cowload_runner_rss_bytes") > 1e6);
    assert!(end("cowload_run_elapsed_seconds") > 60.0);
}

#[test]
fn an_engine_that_keeps_something_per_event_fails_the_memory_bar() {
    let _machine = shared();
    // 64 KB kept per event at 20 events a second: about 4.7 GB an hour.
    let (code, err, outcome) = run(&[("REFERENCE_LEAK_PER_EVENT", "65536")]);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(
        outcome
            .bottleneck
            .first_failed_bar
            .as_ref()
            .map(|f| f.bar.as_str()),
        Some(MEMORY_BAR),
        "{err}"
    );
    let memory = bar(&outcome, MEMORY_BAR);
    let per_hour = memory.observed.expect("a slope") * 3600.0;
    assert!(per_hour > 2e9, "{per_hour} bytes an hour");
    assert!(bar(&outcome, FDS_BAR).holds, "only memory leaks");
    assert!(
        err.contains("GB/h"),
        "the verdict shows the slope per hour: {err}"
    );
}

/// A long run that dies leaves its verdict so far: the runner rewrites `outcome.json` and
/// `report.md` at every checkpoint, and a SIGKILL (no handler, no drop) keeps the last one.
#[test]
fn a_sigkilled_soak_leaves_the_outcome_of_its_last_checkpoint() {
    require_anvil();
    let _machine = shared();
    let dir = tempfile::tempdir().unwrap();
    let file = steady_load(dir.path());
    let out = dir.path().join("run");
    let log_path = dir.path().join("runner.log");
    let mut child = runner()
        .arg(&file)
        .arg("--out")
        .arg(&out)
        .args(["--checkpoint", "3s"])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    // Wait for a checkpoint with loaded blocks in it (the first may fall in the warm-up).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    let checkpoint = loop {
        let written = std::fs::read_to_string(out.join("outcome.json"))
            .ok()
            .and_then(|text| serde_json::from_str::<Outcome>(&text).ok())
            .filter(|o| o.checkpoint.as_ref().is_some_and(|c| c.load_blocks.0 >= 3));
        if let Some(outcome) = written {
            break outcome;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint within 90 s: {}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    let log = std::fs::read_to_string(&log_path).unwrap();
    let children = printed_pids(&log);
    assert_eq!(children.len(), 2, "anvil and the engine: {log}");
    assert_all_gone(&children);

    // What the killed runner left is a whole outcome (never half a file), marked as a
    // checkpoint, with the bars judged on the blocks so far.
    let left = outcome(&out);
    let mark = left.checkpoint.as_ref().expect("the last checkpoint");
    assert!(mark.block >= checkpoint.checkpoint.as_ref().unwrap().block);
    assert_eq!(mark.load_blocks.1, 60);
    assert_eq!(left.status, Status::Interrupted);
    assert!(left
        .error
        .as_deref()
        .unwrap()
        .starts_with("checkpoint after block"));
    let memory = bar(&left, MEMORY_BAR);
    assert!(memory.observed.is_some(), "{memory:?}");
    assert!(!left.blocks.is_empty());
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("checkpoint after block"), "{report}");
}

/// `load.bursts`: the chain carries the burst's events in the last blocks of every cycle and
/// the steady load in the others, as the harness proves on chain.
#[test]
fn bursts_put_their_events_on_chain_at_the_end_of_every_cycle() {
    require_anvil();
    let _machine = shared();
    let dir = tempfile::tempdir().unwrap();
    let file = ScenarioBuilder::new("bursts")
        .seed(8)
        .block_time(ms(500))
        .warmup_blocks(0)
        .blocks(8)
        .drain_blocks(0)
        .per_block(1, 1)
        .bursts(blocks(4), blocks(1), 6, 4)
        .engine_disabled()
        .write(dir.path(), "bursts.yaml");
    let out = dir.path().join("run");
    let output = runner().arg(&file).arg("--out").arg(&out).output().unwrap();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{err}");
    let delivered: Vec<u64> = outcome(&out)
        .blocks
        .iter()
        .map(|b| b.delivered.total())
        .collect();
    assert_eq!(delivered, [2, 2, 2, 10, 2, 2, 2, 10], "{err}");
}
