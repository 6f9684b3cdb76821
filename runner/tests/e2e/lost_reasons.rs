//! Why an event was lost: with a permanent rejection injected, the reference engine drops the
//! order (as the CoW API means `InvalidSignature`), and every lost event is labelled
//! `rejected` — so a bar can allow that reason and forbid the rest.

use crate::common::*;

/// A quarter of the posts rejected with `InvalidSignature`, on the reference engine.
fn rejecting() -> ScenarioBuilder {
    ScenarioBuilder::new("lost-reasons")
        .seed(7)
        .chain_id(11_155_111)
        .block_time(secs(1))
        .warmup_blocks(1)
        .blocks(6)
        .drain_blocks(4)
        .per_block(3, 3)
        .orderbook_latency(ms(5))
        .orderbook_error("InvalidSignature", 0.25)
        .order_deadline_blocks(2)
        .bars([
            "increase(cowload_events_lost_total) > 0",
            r#"increase(cowload_events_lost_reason_total{reason!="rejected"}) == 0"#,
            r#"increase(cowload_events_lost_reason_total{reason="rejected"}) > 0"#,
        ])
}

#[test]
fn events_lost_to_a_permanent_rejection_are_labelled_rejected() {
    let _machine = shared();
    require_anvil();
    let dir = tempfile::tempdir().unwrap();
    let file = rejecting().write(dir.path(), "lost-reasons.yaml");
    let out = dir.path().join("run");
    let output = runner().arg(&file).arg("--out").arg(&out).output().unwrap();
    let err = stderr(&output);
    assert_all_gone(&printed_pids(&err));
    let outcome = outcome(&out);
    assert_eq!(output.status.code(), Some(0), "{err}\n{:#?}", outcome.bars);
    let mut lost_total = 0;
    for kind in EventKind::ALL {
        let events = mock_kind(&outcome, kind);
        let lost = events.lost;
        lost_total += lost;
        let reason_count = |reason: &str| events.lost_reasons.get(reason).copied();
        assert_eq!(reason_count("rejected"), Some(lost), "{kind}: {events:?}");
        for reason in ["never_posted", "gave_up_on_retryable", "mismatched", "late"] {
            assert_eq!(reason_count(reason), Some(0), "{kind} {reason}: {events:?}");
        }
    }
    assert!(lost_total > 0, "{:#?}", outcome.mock);
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("Why lost"), "{report}");
    assert!(report.contains("rejected"), "{report}");
    // Every lost line shows the answers the engine got, in order, the last one
    // the rejection it gave up on.
    let lost: Vec<cowload_spec::OrderLine> = order_lines(&out)
        .into_iter()
        .filter(|l| l.outcome == cowload_spec::OrderOutcome::Lost)
        .collect();
    assert!(!lost.is_empty());
    for line in &lost {
        let last = line.requests.last().unwrap_or_else(|| panic!("{line:?}"));
        assert_eq!(
            (last.answer.as_str(), last.status),
            ("InvalidSignature", Some(400))
        );
        let times: Vec<f64> = line
            .requests
            .iter()
            .map(|r| r.seconds_after_event)
            .collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "in order: {line:?}");
    }
}
