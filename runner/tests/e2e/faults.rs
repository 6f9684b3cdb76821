//! Chain-side faults (issue 12) against the reference engine: each fault
//! scenario passes with the engine as shipped, and fails on the bar it names
//! when the matching defence is switched off (the engine's `[reference]` knob,
//! overridden by its environment variable). No process outlives the run: the
//! engine started again after `engine_restart` included.

use std::path::PathBuf;

use crate::common::*;

/// Runs a shipped fault scenario with `env` added to the runner's (and so the
/// engine's) environment; checks every printed PID is gone afterwards.
fn run_fault(scenario: &str, env: &[(&str, &str)]) -> (Option<i32>, String, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    run_fault_in(dir.path(), scenario, env)
}

/// [`run_fault`] with the run directory at `dir/run`, kept for the caller.
fn run_fault_in(
    dir: &std::path::Path,
    scenario: &str,
    env: &[(&str, &str)],
) -> (Option<i32>, String, serde_json::Value) {
    require_anvil();
    let out: PathBuf = dir.join("run");
    let mut command = runner();
    command.arg(scenario).arg("--out").arg(&out);
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().unwrap();
    let err = stderr(&output);
    let outcome = outcome(&out);
    assert_all_gone(&printed_pids(&err));
    (output.status.code(), err, outcome)
}

fn bar<'a>(outcome: &'a serde_json::Value, text: &str) -> &'a serde_json::Value {
    outcome["bars"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["bar"].as_str().unwrap() == text)
        .unwrap_or_else(|| panic!("no bar {text} in {}", outcome["bars"]))
}

/// The truth the outcome reports for fault `index`.
fn fault_truth(outcome: &serde_json::Value, index: usize) -> &serde_json::Value {
    &outcome["faults"][index]["truth"]
}

const LOST_BAR: &str = "increase(cowload_events_lost_total) == 0";
const DUPLICATE_BAR: &str = "increase(cowload_orders_received_total{outcome=\"duplicate\"}) == 0";

#[test]
fn ws_drop_is_survived_by_reconnect_and_backfill() {
    let _serial = serial();
    let (code, err, outcome) = run_fault("scenarios/faults/ws-drop.yaml", &[]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("fault 0 (ws_disconnect) starts before load block 5: closed 1 WebSocket"),
        "{err}"
    );
    assert!(err.contains("accepting WebSockets again"), "{err}");
    assert_eq!(mock_events(&outcome, "lost"), 0);
    assert_eq!(mock_events(&outcome, "registered"), 48);
    // Three blocks of 2 TWAP + 2 EthFlow events were emitted while the WebSocket was down.
    let truth = fault_truth(&outcome, 0);
    assert_eq!(truth["events"], 12, "{}", outcome["faults"]);
    assert_eq!(truth["lost"], 0);
    assert_eq!(truth["duplicates"], 0);
    assert!(
        truth["recovery_seconds"].as_f64().is_some(),
        "{}",
        outcome["faults"]
    );
    assert!(err.contains("faults:"), "the fault table is printed: {err}");
}

#[test]
fn ws_drop_without_backfill_loses_the_events_of_the_outage() {
    let _serial = serial();
    let env = [("REFERENCE_RECONNECT_BACKFILL", "false")];
    let (code, err, outcome) = run_fault("scenarios/faults/ws-drop.yaml", &env);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(
        outcome["bottleneck"]["first_failed_bar"]["bar"], LOST_BAR,
        "{}",
        outcome["bottleneck"]
    );
    assert!(bar(&outcome, LOST_BAR)["observed"].as_f64().unwrap() > 0.0);
    // The outage's own events are the lost ones.
    assert!(
        fault_truth(&outcome, 0)["lost"].as_u64().unwrap() > 0,
        "{}",
        outcome["faults"]
    );
}

#[test]
fn restart_resumes_from_the_persisted_cursor_without_gap_or_duplicate() {
    let _serial = serial();
    let (code, err, outcome) = run_fault("scenarios/faults/restart.yaml", &[]);
    assert_eq!(code, Some(0), "{err}");
    // Two engine processes ran, and both are gone (run_fault checked every printed PID).
    assert!(err.contains("SIGKILL to pid"), "{err}");
    assert!(err.contains("engine started again as pid"), "{err}");
    assert_eq!(mock_events(&outcome, "lost"), 0);
    assert_eq!(bar(&outcome, DUPLICATE_BAR)["holds"], true);
    let truth = fault_truth(&outcome, 0);
    assert_eq!(truth["events"], 8, "two blocks down: {}", outcome["faults"]);
    assert_eq!(
        (truth["lost"].as_u64(), truth["duplicates"].as_u64()),
        (Some(0), Some(0))
    );
    assert!(
        truth["recovery_seconds"].as_f64().is_some(),
        "{}",
        outcome["faults"]
    );
}

#[test]
fn restart_without_a_persisted_cursor_leaves_a_gap() {
    let _serial = serial();
    let env = [("REFERENCE_PERSIST_CURSOR", "false")];
    let (code, err, outcome) = run_fault("scenarios/faults/restart.yaml", &env);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(
        outcome["bottleneck"]["first_failed_bar"]["bar"], LOST_BAR,
        "{}",
        outcome["bottleneck"]
    );
    assert!(err.contains("engine started again as pid"), "{err}");
    // Started from the head again, the engine never saw the blocks it was down for.
    assert!(
        fault_truth(&outcome, 0)["lost"].as_u64().unwrap() > 0,
        "{}",
        outcome["faults"]
    );
}

#[test]
fn rpc_errors_on_half_the_requests_are_retried_through() {
    let _serial = serial();
    let (code, err, outcome) = run_fault("scenarios/faults/rpc-errors.yaml", &[]);
    assert_eq!(code, Some(0), "{err}");
    // The fault took effect: the proxy answered some requests with the error itself.
    let answered = err
        .split("passes everything through again (")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no error count printed: {err}"));
    assert!(answered > 0, "{err}");
    let truth = fault_truth(&outcome, 0);
    assert_eq!(truth["events"], 16, "{}", outcome["faults"]);
    assert_eq!(truth["lost"], 0);
}

/// The reference engine's height after the scrape of `block`, from the run's raw scrapes.
fn engine_height_after(run: &std::path::Path, block: u64) -> f64 {
    let raw = std::fs::read_to_string(run.join("metrics/engine.prom")).unwrap();
    let label = format!("# cowload scrape: block {block}\n");
    let scrape = raw
        .split(&label)
        .nth(1)
        .unwrap_or_else(|| panic!("no scrape {label}"));
    scrape
        .lines()
        .find(|l| l.starts_with("reference_head_block"))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no reference_head_block after block {block}"))
}

/// `rpc_hang` holds every answer (the engine's height stops), `rpc_latency`
/// delays the methods named; both end, and the engine loses nothing.
#[test]
fn a_hang_and_a_latency_fault_take_effect_and_end() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let body = "version: 1\nname: hang-latency\n\
        load: { warmup_blocks: 2, blocks: 10, drain_blocks: 6, per_block: { twap: 1, ethflow: 1 } }\n\
        orderbook: { order_deadline_blocks: 5 }\n\
        faults:\n\
        \x20 - { kind: rpc_hang, at: 3, for: 2 blocks }\n\
        \x20 - { kind: rpc_latency, at: 6, for: 2 blocks, methods: [eth_getLogs], latency: 300ms }\n\
        bars: [\"increase(cowload_events_lost_total) == 0\"]\n";
    let path = scenario(dir.path(), "hang.yaml", body);
    let (code, err, outcome) = run_fault_in(dir.path(), path.to_str().unwrap(), &[]);
    assert_eq!(code, Some(0), "{err}");
    let hang = &outcome["faults"][0];
    let first = hang["blocks"][0].as_u64().unwrap();
    let last = hang["blocks"][1].as_u64().unwrap();
    let run = dir.path().join("run");
    assert!(engine_height_after(&run, last) < first as f64, "{hang}");
    assert!(
        engine_height_after(&run, last + 2) >= last as f64,
        "caught up: {hang}"
    );
    assert!(err.contains("delaying eth_getLogs by 300ms"), "{err}");
    assert!(!err.contains(" 0 delayed request(s)"), "{err}");
    for index in 0..2 {
        assert_eq!(
            fault_truth(&outcome, index)["lost"],
            0,
            "{}",
            outcome["faults"]
        );
    }
}

#[test]
fn a_stale_head_holds_the_engine_back_until_it_ends() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let (code, err, outcome) = run_fault_in(dir.path(), "scenarios/faults/stale-head.yaml", &[]);
    assert_eq!(code, Some(0), "{err}");
    let fault = &outcome["faults"][0];
    assert_eq!(fault_truth(&outcome, 0)["lost"], 0, "{fault}");
    let first = fault["blocks"][0].as_u64().unwrap();
    let last = fault["blocks"][1].as_u64().unwrap();
    // The engine's own height, scraped after each block: held below the fault's first block
    // until its last one (the head served 3 behind), caught up after it.
    let run = dir.path().join("run");
    assert!(engine_height_after(&run, last) < first as f64, "{fault}");
    assert_eq!(
        bar(
            &outcome,
            "last(cowload_chain_head_block - reference_head_block) <= 1"
        )["holds"],
        true
    );
}
