//! Chain-side faults (issue 12) against the reference engine: each fault
//! scenario passes with the engine as shipped, and fails on the bar it names
//! when the matching defence is switched off (the engine's `[reference]` knob,
//! overridden by its environment variable). No process outlives the run: the
//! engine started again after `engine_restart` included.

use std::path::PathBuf;

use cowload_spec::SpanTruth;
use runner::scenario::faults::{Fault, ReorgEvents};
use runner::scenario::{DelaySpec, Dur};

use crate::common::*;

/// Runs a shipped fault scenario with `env` added to the runner's (and so the
/// engine's) environment; checks every printed PID is gone afterwards.
fn run_fault(scenario: &str, env: &[(&str, &str)]) -> (Option<i32>, String, Outcome) {
    let dir = tempfile::tempdir().unwrap();
    run_fault_in(dir.path(), scenario, env)
}

/// [`run_fault`] with the run directory at `dir/run`, kept for the caller.
fn run_fault_in(
    dir: &std::path::Path,
    scenario: &str,
    env: &[(&str, &str)],
) -> (Option<i32>, String, Outcome) {
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

/// The truth the outcome reports for fault `index`.
fn fault_truth(outcome: &Outcome, index: usize) -> &SpanTruth {
    outcome.faults[index]
        .truth
        .as_ref()
        .unwrap_or_else(|| panic!("fault {index} has no truth: {:#?}", outcome.faults))
}

const LOST_BAR: &str = "increase(cowload_events_lost_total) == 0";
const DUPLICATE_BAR: &str = "increase(cowload_orders_received_total{outcome=\"duplicate\"}) == 0";

#[test]
fn ws_drop_is_survived_by_reconnect_and_backfill() {
    let _machine = shared();
    let (code, err, outcome) = run_fault("scenarios/faults/ws-drop.yaml", &[]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("fault 0 (ws_disconnect) starts before load block 5: closed 1 WebSocket"),
        "{err}"
    );
    assert!(err.contains("accepting WebSockets again"), "{err}");
    assert_eq!(mock_events(&outcome, |e| e.lost), 0);
    assert_eq!(mock_events(&outcome, |e| e.registered), 48);
    // Three blocks of 2 TWAP + 2 EthFlow events were emitted while the WebSocket was down,
    // and the fault is charged with the block mined just before it too.
    let truth = fault_truth(&outcome, 0);
    assert_eq!(truth.events, 16, "{:#?}", outcome.faults);
    assert_eq!(truth.events_before_start, 4, "{:#?}", outcome.faults);
    assert_eq!(truth.lost, 0);
    assert_eq!(truth.duplicates, 0);
    assert!(truth.recovery_seconds.is_some(), "{:#?}", outcome.faults);
    assert!(err.contains("faults:"), "the fault table is printed: {err}");
}

#[test]
fn ws_drop_without_backfill_loses_the_events_of_the_outage() {
    let _machine = shared();
    let env = [("REFERENCE_RECONNECT_BACKFILL", "false")];
    let (code, err, outcome) = run_fault("scenarios/faults/ws-drop.yaml", &env);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(
        first_failed_bar(&outcome),
        Some(LOST_BAR),
        "{:#?}",
        outcome.bottleneck
    );
    assert!(bar(&outcome, LOST_BAR).observed.unwrap() > 0.0);
    // The outage's own events are the lost ones.
    assert!(fault_truth(&outcome, 0).lost > 0, "{:#?}", outcome.faults);
}

#[test]
fn restart_resumes_from_the_persisted_cursor_without_gap_or_duplicate() {
    let _machine = shared();
    let (code, err, outcome) = run_fault("scenarios/faults/restart.yaml", &[]);
    assert_eq!(code, Some(0), "{err}");
    // Two engine processes ran, and both are gone (run_fault checked every printed PID).
    assert!(err.contains("SIGKILL to pid"), "{err}");
    assert!(err.contains("engine started again as pid"), "{err}");
    assert_eq!(mock_events(&outcome, |e| e.lost), 0);
    assert!(bar(&outcome, DUPLICATE_BAR).holds);
    let truth = fault_truth(&outcome, 0);
    assert_eq!(
        (truth.events, truth.events_before_start),
        (12, 4),
        "two blocks down, and the block before: {:#?}",
        outcome.faults
    );
    assert_eq!((truth.lost, truth.duplicates), (0, 0));
    assert!(truth.recovery_seconds.is_some(), "{:#?}", outcome.faults);
}

#[test]
fn restart_without_a_persisted_cursor_leaves_a_gap() {
    let _machine = shared();
    let env = [("REFERENCE_PERSIST_CURSOR", "false")];
    let (code, err, outcome) = run_fault("scenarios/faults/restart.yaml", &env);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(
        first_failed_bar(&outcome),
        Some(LOST_BAR),
        "{:#?}",
        outcome.bottleneck
    );
    assert!(err.contains("engine started again as pid"), "{err}");
    // Started from the head again, the engine never saw the blocks it was down for.
    assert!(fault_truth(&outcome, 0).lost > 0, "{:#?}", outcome.faults);
}

#[test]
fn rpc_errors_on_half_the_requests_are_retried_through() {
    let _machine = shared();
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
    assert_eq!(
        (truth.events, truth.events_before_start),
        (20, 4),
        "four blocks, and the block before: {:#?}",
        outcome.faults
    );
    assert_eq!(truth.lost, 0);
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
    let _machine = shared();
    let dir = tempfile::tempdir().unwrap();
    let path = ScenarioBuilder::new("hang-latency")
        .warmup_blocks(2)
        .blocks(10)
        .drain_blocks(6)
        .per_block(1, 1)
        .order_deadline_blocks(5)
        .fault(3, blocks(2), Fault::RpcHang {})
        .fault(
            6,
            blocks(2),
            Fault::RpcLatency {
                methods: vec!["eth_getLogs".to_owned()],
                latency: DelaySpec::Fixed(Dur(ms(300))),
            },
        )
        .bar("increase(cowload_events_lost_total) == 0")
        .write(dir.path(), "hang.yaml");
    let (code, err, outcome) = run_fault_in(dir.path(), path.to_str().unwrap(), &[]);
    assert_eq!(code, Some(0), "{err}");
    let hang = &outcome.faults[0];
    let (first, last) = hang.blocks.unwrap();
    let run = dir.path().join("run");
    assert!(engine_height_after(&run, last) < first as f64, "{hang:?}");
    assert!(
        engine_height_after(&run, last + 2) >= last as f64,
        "caught up: {hang:?}"
    );
    assert!(err.contains("delaying eth_getLogs by 300ms"), "{err}");
    assert!(!err.contains(" 0 delayed request(s)"), "{err}");
    for index in 0..2 {
        assert_eq!(
            fault_truth(&outcome, index).lost,
            0,
            "{:#?}",
            outcome.faults
        );
    }
}

#[test]
fn a_stale_head_holds_the_engine_back_until_it_ends() {
    let _machine = shared();
    let dir = tempfile::tempdir().unwrap();
    let (code, err, outcome) = run_fault_in(dir.path(), "scenarios/faults/stale-head.yaml", &[]);
    assert_eq!(code, Some(0), "{err}");
    let fault = &outcome.faults[0];
    assert_eq!(fault_truth(&outcome, 0).lost, 0, "{fault:?}");
    let (first, last) = fault.blocks.unwrap();
    // The engine's own height, scraped after each block: held below the fault's first block
    // until its last one (the head served 3 behind), caught up after it.
    let run = dir.path().join("run");
    assert!(engine_height_after(&run, last) < first as f64, "{fault:?}");
    assert!(
        bar(
            &outcome,
            "last(cowload_chain_head_block - reference_head_block) <= 1"
        )
        .holds
    );
}

const REORGED_BAR: &str = "increase(cowload_orders_for_reorged_events_total) == 0";

#[test]
fn reorgs_are_survived_by_waiting_for_confirmations() {
    let _machine = shared();
    let (code, err, outcome) = run_fault("scenarios/faults/reorg.yaml", &[]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("8 load transaction(s) dropped"),
        "the first reorg drops blocks 4–5's transactions: {err}"
    );
    assert!(err.contains("8 load transaction(s) mined again"), "{err}");
    // The dropped events need no order and got none; the re-included ones got exactly one.
    let dropped = fault_truth(&outcome, 0);
    assert_eq!(
        (dropped.events, dropped.reorged),
        (8, 8),
        "{:#?}",
        outcome.faults
    );
    // Left out of the JSON when none: no order for a dropped event.
    assert_eq!(dropped.orders_for_reorged, 0);
    let reincluded = fault_truth(&outcome, 1);
    assert_eq!(reincluded.events, 8, "{:#?}", outcome.faults);
    assert_eq!(reincluded.reorged, 0);
    assert_eq!((reincluded.lost, reincluded.duplicates), (0, 0));
    assert_eq!(mock_events(&outcome, |e| e.lost), 0);
    assert_eq!(mock_events(&outcome, |e| e.reorged), 8);
    // Both kinds' events were among the dropped ones.
    for kind in EventKind::ALL {
        assert!(mock_kind(&outcome, kind).reorged > 0, "{kind}");
    }
    // The load went on after each reorg with the senders' nonces as the chain has them.
    assert_eq!(
        outcome.totals.delivered[EventKind::EthFlow],
        28,
        "{:?}",
        outcome.totals
    );
}

#[test]
fn an_engine_acting_on_every_head_posts_orders_for_reorged_events() {
    let _machine = shared();
    let env = [("REFERENCE_REORG_AWARE", "false")];
    let (code, err, outcome) = run_fault("scenarios/faults/reorg.yaml", &env);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(
        first_failed_bar(&outcome),
        Some(REORGED_BAR),
        "{:#?}",
        outcome.bottleneck
    );
    assert!(bar(&outcome, REORGED_BAR).observed.unwrap() > 0.0);
    let dropped = fault_truth(&outcome, 0);
    assert!(dropped.orders_for_reorged > 0, "{:#?}", outcome.faults);
    // Reorged events are not lost: nothing was owed for them.
    assert_eq!(mock_events(&outcome, |e| e.lost), 0);
}

/// Anvil 1.7.1 tells no log subscriber that a reorg removed its logs; the
/// proxy does, with `removed: true`, before anything of the new blocks.
#[test]
fn log_subscribers_see_the_removed_logs_before_the_new_blocks() {
    require_anvil();
    let _machine = shared();
    let dir = tempfile::tempdir().unwrap();
    let script = project_root().join("runner/tests/e2e/log_subscriber.mjs");
    let file = ScenarioBuilder::new("log-subscriber")
        .seed(3)
        .block_time(ms(500))
        .warmup_blocks(2)
        .blocks(5)
        .drain_blocks(3)
        .per_block(1, 1)
        .engine_command([
            "node".to_owned(),
            "--experimental-websocket".to_owned(),
            script.display().to_string(),
            "${METRICS_ADDR}".to_owned(),
            "${RPC_WS_URL}".to_owned(),
        ])
        .fault(
            2,
            blocks(2),
            Fault::Reorg {
                events: ReorgEvents::Drop,
            },
        )
        .bar("cowload_events_delivered_ratio == 1")
        .write(dir.path(), "reorg.yaml");
    let out = dir.path().join("run");
    let output = runner().arg(&file).arg("--out").arg(&out).output().unwrap();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{err}");
    assert_all_gone(&printed_pids(&err));
    let outcome = outcome(&out);
    let (first, last) = outcome.faults[0].blocks.unwrap();
    // The subscriber script's own notes (one JSON object a line): no runner type behind them.
    let lines: Vec<serde_json::Value> =
        std::fs::read_to_string(out.join("engine-work/notifications.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    let removed: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i]["removed"] == true)
        .collect();
    // Two events per replaced block, each one log, each announced removed once.
    assert_eq!(removed.len(), 4, "{lines:#?}");
    for &i in &removed {
        let block = lines[i]["block"].as_u64().unwrap();
        assert!((first..=last).contains(&block), "{}", lines[i]);
        let tx = &lines[i]["tx"];
        let original = lines[..i]
            .iter()
            .position(|l| l["tx"] == *tx && l["removed"] == false);
        assert!(original.is_some(), "removed log of {tx} before its log");
    }
    // The first head after the removals is the first new block, at the replaced height.
    let after = &lines[removed[removed.len() - 1] + 1..];
    let next_head = after.iter().find(|l| l["kind"] == "head").unwrap();
    assert_eq!(next_head["block"].as_u64(), Some(first), "{lines:#?}");
    let old_head = lines
        .iter()
        .find(|l| l["kind"] == "head" && l["block"].as_u64() == Some(first))
        .unwrap();
    assert_ne!(
        old_head["hash"], next_head["hash"],
        "a new block, not the old one again"
    );
    // No log of a dropped transaction came back.
    let dropped: Vec<&serde_json::Value> = removed.iter().map(|&i| &lines[i]["tx"]).collect();
    assert!(
        after.iter().all(|l| !dropped.contains(&&l["tx"])),
        "{lines:#?}"
    );
}

/// `every:` repeats a fault on the timeline, each repeat started, ended and judged on its
/// own: three restarts of the engine, each resumed from its cursor with nothing lost.
#[test]
fn a_repeated_restart_is_judged_once_per_repeat() {
    require_anvil();
    let _machine = shared();
    let dir = tempfile::tempdir().unwrap();
    let file = ScenarioBuilder::new("restart-every")
        .seed(4)
        .block_time(secs(1))
        .warmup_blocks(2)
        .blocks(16)
        .drain_blocks(6)
        .per_block(2, 2)
        .orderbook_latency(ms(10))
        .order_deadline_blocks(5)
        .fault(
            3,
            blocks(2),
            Fault::EngineRestart {
                signal: runner::scenario::faults::StopSignal::Kill,
            },
        )
        .every(blocks(6))
        .bars([LOST_BAR, DUPLICATE_BAR])
        .write(dir.path(), "restart-every.yaml");
    let (code, err, outcome) = run_fault_in(dir.path(), file.to_str().unwrap(), &[]);
    assert_eq!(code, Some(0), "{err}");
    let starts: Vec<u32> = outcome.faults.iter().map(|f| f.at).collect();
    assert_eq!(starts, [3, 9, 15], "{:#?}", outcome.faults);
    // One live line per restart (the fault table at the end repeats each action).
    let restarted = err
        .lines()
        .filter(|l| l.starts_with("fault ") && l.contains("engine started again as pid"))
        .count();
    assert_eq!(restarted, 3, "{err}");
    for index in 0..3 {
        let truth = fault_truth(&outcome, index);
        assert!(outcome.faults[index].ended, "{:#?}", outcome.faults);
        assert!(truth.events > 0, "{truth:?}");
        assert_eq!((truth.lost, truth.duplicates), (0, 0), "{truth:?}");
    }
}
