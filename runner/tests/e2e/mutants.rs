//! Bugs must not pass: mutants of the reference engine (selected by
//! `$COWLOAD_REFERENCE_MUTANT`, which the runner passes on to the engine) run
//! against the shipped baseline scenario, unchanged. Each must fail it (exit 1)
//! and the bar that fails first must be the one that names the bug. The real
//! engine passes the same scenario (`shipped::baseline_…`).

use crate::common::*;

/// Runs the shipped `scenario` with `mutant`; returns (exit code, stderr, outcome).
fn shipped_with(scenario: &str, mutant: &str) -> (Option<i32>, String, Outcome) {
    let (code, err, outcome, _dir) = shipped_in(scenario, mutant);
    (code, err, outcome)
}

/// [`shipped_with`], keeping the run directory (`<dir>/run`) for the caller.
fn shipped_in(scenario: &str, mutant: &str) -> (Option<i32>, String, Outcome, tempfile::TempDir) {
    require_anvil();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let output = runner()
        .arg(scenario)
        .arg("--out")
        .arg(&out)
        .env("COWLOAD_REFERENCE_MUTANT", mutant)
        .output()
        .unwrap();
    let err = stderr(&output);
    let outcome = outcome(&out);
    assert_all_gone(&printed_pids(&err));
    let engine_log = std::fs::read_to_string(out.join("engine.log")).unwrap();
    assert!(
        engine_log.contains("MUTANT"),
        "{mutant} was not active:\n{engine_log}"
    );
    (output.status.code(), err, outcome, dir)
}

/// Asserts the baseline run failed and `bar` is the first bar to fail.
fn caught_first_by(mutant: &str, bar: &str) -> Outcome {
    caught_first_in("scenarios/baseline.yaml", mutant, bar)
}

/// Asserts the run of the shipped `scenario` failed and `bar` is the first bar to fail.
fn caught_first_in(scenario: &str, mutant: &str, bar: &str) -> Outcome {
    let _machine = shared();
    let (code, err, outcome) = shipped_with(scenario, mutant);
    assert_eq!(code, Some(1), "{mutant}: {err}");
    assert_eq!(outcome.status, Status::Fail);
    let first = &outcome.bottleneck.first_failed_bar;
    assert_eq!(
        first.as_ref().map(|f| f.bar.as_str()),
        Some(bar),
        "{mutant}: first failure {first:?}; bars {:#?}",
        outcome.bars
    );
    let failed = outcome
        .bars
        .iter()
        .find(|b| b.bar == bar)
        .unwrap_or_else(|| panic!("{bar} is not a bar of {scenario}"));
    assert!(!failed.holds, "{failed:?}");
    outcome
}

#[test]
fn an_engine_that_posts_every_order_twice_fails_on_duplicates() {
    let outcome = caught_first_by(
        "double-post",
        r#"increase(cowload_orders_received_total{outcome="duplicate"}) == 0"#,
    );
    // Every event still got its order: only the duplicate bar can see this bug.
    assert_eq!(mock_events(&outcome, |e| e.lost), 0, "{:#?}", outcome.mock);
}

#[test]
fn an_engine_that_posts_the_wrong_order_fails_on_mismatched_orders() {
    let outcome = caught_first_by(
        "wrong-order-every-5",
        r#"increase(cowload_orders_received_total{outcome="mismatched"}) == 0"#,
    );
    // Every 5th EthFlow order had validTo one second short: never counted as matched.
    let ethflow = mock_kind(&outcome, EventKind::EthFlow);
    assert_eq!(ethflow.matched, 120, "{ethflow:?}");
    assert_eq!(
        orders_received(&outcome, "ethflow", "mismatched"),
        Some(30),
        "{:#?}",
        outcome.mock
    );
}

#[test]
fn an_engine_that_drops_every_fifth_event_fails_on_lost_events() {
    let _machine = shared();
    let (code, err, outcome, dir) = shipped_in("scenarios/baseline.yaml", "drop-every-5");
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(
        first_failed_bar(&outcome),
        Some("increase(cowload_events_lost_total) == 0")
    );
    assert_eq!(mock_events(&outcome, |e| e.lost), 60, "{:#?}", outcome.mock);
    // Each lost line names the transaction the engine saw on chain and dropped
    // (the mutant logs it), says `never_posted`, and lists no request.
    let run = dir.path().join("run");
    let engine_log = std::fs::read_to_string(run.join("engine.log")).unwrap();
    let dropped: std::collections::BTreeSet<&str> = engine_log
        .lines()
        .filter(|l| l.contains("MUTANT drop-every"))
        .filter_map(|l| l.split("tx=Some(").nth(1)?.split(')').next())
        .collect();
    assert_eq!(dropped.len(), 60, "{engine_log}");
    let lost: Vec<cowload_spec::OrderLine> = order_lines(&run)
        .into_iter()
        .filter(|l| l.part.is_none() && l.outcome == cowload_spec::OrderOutcome::Lost)
        .collect();
    assert_eq!(lost.len(), 60);
    for line in &lost {
        assert!(dropped.contains(line.tx.to_string().as_str()), "{line:?}");
        assert_eq!(line.reason, Some(cowload_spec::LossReason::NeverPosted));
        assert!(
            line.requests.is_empty() && line.requests_total == 0,
            "{line:?}"
        );
    }
    let report = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(report.contains("### Lost and missing"), "{report}");
    assert!(report.contains(&lost[0].tx.to_string()), "{report}");
}

#[test]
fn an_engine_that_stops_following_the_chain_fails_on_lag_before_loss() {
    let outcome = caught_first_by(
        "stall-after-8",
        "max(cowload_chain_head_block - reference_head_block) <= 2",
    );
    // The report names the stall from the harness's own data, whatever the engine's metrics.
    let stalled = outcome
        .bottleneck
        .stalled
        .as_ref()
        .unwrap_or_else(|| panic!("{:#?}", outcome.bottleneck));
    let from = stalled.from_block;
    assert!(stalled.blocks >= 3, "{stalled:?}");
    // Handled 8 blocks (from the first after the contracts), then nothing.
    assert!(from > 8, "{stalled:?}");
}

#[test]
fn an_engine_that_crashes_mid_run_fails_on_staying_up() {
    let outcome = caught_first_by("crash-after-8", "min(cowload_engine_up) == 1");
    assert_eq!(outcome.bars[0].bar, "min(cowload_engine_up) == 1");
    assert!(
        outcome
            .error
            .as_deref()
            .is_some_and(|e| e.contains("exit status: 101")),
        "{:?}",
        outcome.error
    );
}

#[test]
fn an_engine_whose_metrics_claim_more_accepted_orders_fails_on_its_claims() {
    let outcome = caught_first_by(
        "lie-accepted",
        r#"max(increase(shepherd_cow_api_submit_total{outcome="accepted"}) - increase(cowload_orders_accepted_total)) <= 0"#,
    );
    assert_eq!(mock_events(&outcome, |e| e.lost), 0, "{:#?}", outcome.mock);
}

#[test]
fn an_engine_that_posts_only_each_twaps_first_part_fails_on_missing_parts() {
    // The baseline's TWAPs outlive the run (only part 0 opens there): the short-part scenario.
    let outcome = caught_first_in(
        "scenarios/twap-parts.yaml",
        "first-part-only",
        r#"increase(cowload_twap_parts_total{outcome="missing"}) == 0"#,
    );
    let twap = mock_kind(&outcome, EventKind::Twap);
    // 50 TWAPs of 3 parts, all opened; only each part 0 got its order.
    assert_eq!(twap.parts_expected, 150, "{twap:?}");
    assert_eq!(twap.parts_matched, 50, "{twap:?}");
    assert_eq!(twap.parts_missing, 100, "{twap:?}");
    // Every TWAP still got its first order: the event-level bars cannot see this bug.
    assert_eq!(twap.lost, 0, "{twap:?}");
}

#[test]
fn an_engine_that_posts_a_twap_part_twice_fails_on_the_second_copy() {
    // On the shipped baseline itself: part 0 of every TWAP, posted again with
    // validTo one second short. Both UIDs are new to the API (201), but only one
    // is the part's order: the copy is mismatched, never a second match.
    let outcome = caught_first_by(
        "double-part",
        r#"increase(cowload_orders_received_total{outcome="mismatched"}) == 0"#,
    );
    let twap = mock_kind(&outcome, EventKind::Twap);
    assert_eq!(twap.matched, 150, "{twap:?}");
    assert_eq!(
        orders_received(&outcome, "twap", "mismatched"),
        Some(150),
        "{:#?}",
        outcome.mock
    );
    // The engine's own accepted count agrees with the API's 201s: not a lie.
    let claims = outcome
        .bars
        .iter()
        .find(|b| {
            b.bar
                .starts_with("max(increase(shepherd_cow_api_submit_total")
        })
        .unwrap();
    assert!(claims.holds, "{claims:?}");
}
