//! The shipped release-gate scenarios against the reference engine.

use runner::report::Stage;

use crate::common::*;

#[test]
fn baseline_turns_every_event_into_exactly_one_accepted_order() {
    let _machine = shared();
    let (code, err, outcome, dir) = run_shipped("scenarios/baseline.yaml");
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(outcome.totals.delivered[EventKind::Twap], 150);
    assert_eq!(outcome.totals.delivered[EventKind::EthFlow], 150);
    for kind in EventKind::ALL {
        let events = mock_kind(&outcome, kind);
        assert_eq!(events.matched, 150, "{kind}: {events:?}");
        assert_eq!(events.lost, 0, "{kind}: {events:?}");
        // TWAP parts last 60 s, longer than the run: one order per event, no more.
        if kind == EventKind::Twap {
            assert_eq!(events.parts_expected, 150, "{events:?}");
            assert_eq!(events.parts_matched, 150, "{events:?}");
        }
        assert_eq!(
            orders_received(&outcome, kind.label(), "accepted"),
            Some(150),
            "{:#?}",
            outcome.mock
        );
    }
    assert_eq!(mock(&outcome).unmatched_orders, 0);
    let report = std::fs::read_to_string(dir.path().join("run/report.md")).unwrap();
    assert!(report.contains("PASS"), "{report}");
    // One line per event and one per TWAP part, every one matched by one POST.
    let lines = order_lines(&dir.path().join("run"));
    let events = lines.iter().filter(|l| l.part.is_none()).count();
    let parts = lines.iter().filter(|l| l.part.is_some()).count();
    assert_eq!((events, parts), (300, 150));
    for line in &lines {
        assert_eq!(
            line.outcome,
            cowload_spec::OrderOutcome::Matched,
            "{line:?}"
        );
        assert_eq!(line.requests_total, 1, "{line:?}");
        assert!(
            line.uid.is_some() && line.first_accepted.is_some(),
            "{line:?}"
        );
    }
    let orders = outcome.orders.as_ref().expect("the orders summary");
    assert_eq!(orders.failed_total, 0, "{orders:#?}");
}

#[test]
fn twap_parts_every_part_that_opens_becomes_exactly_one_order() {
    let _machine = shared();
    let (code, err, outcome, dir) = run_shipped("scenarios/twap-parts.yaml");
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(outcome.totals.delivered[EventKind::Twap], 50);
    let twap = mock_kind(&outcome, EventKind::Twap);
    // 3 parts of 2 s: every part of every TWAP opens before the end of drain.
    assert_eq!(twap.parts_expected, 150, "{twap:?}");
    assert_eq!(twap.parts_matched, 150, "{twap:?}");
    for (field, value) in [
        ("parts_missing", twap.parts_missing),
        ("parts_late", twap.parts_late),
        ("parts_duplicate", twap.parts_duplicate),
        ("parts_awaiting", twap.parts_awaiting),
    ] {
        assert_eq!(value, 0, "{field}: {twap:?}");
    }
    // One event per TWAP (its part 0), one accepted order per part.
    assert_eq!(twap.matched, 50, "{twap:?}");
    assert_eq!(
        orders_received(&outcome, "twap", "accepted"),
        Some(150),
        "{:#?}",
        outcome.mock
    );
    assert_eq!(twap.posts_per_event.count, 150, "posts are per part");
    let report = std::fs::read_to_string(dir.path().join("run/report.md")).unwrap();
    assert!(
        report.contains("150 opened, 150 matched, 0 missing"),
        "{report}"
    );
}

#[test]
fn medium_turns_every_event_into_an_order_without_module_errors() {
    let _machine = exclusive();
    let (code, err, outcome, _dir) = run_shipped("scenarios/medium.yaml");
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(outcome.totals.delivered[EventKind::Twap], 600);
    assert_eq!(outcome.totals.delivered[EventKind::EthFlow], 600);
    assert_eq!(mock_events(&outcome, |e| e.matched), 1200);
    assert_eq!(mock_events(&outcome, |e| e.lost), 0);
}

#[test]
fn saturation_breaks_the_reference_engine_and_the_report_names_what_broke() {
    let _machine = exclusive();
    let (code, err, outcome, dir) = run_shipped("scenarios/saturation.yaml");
    // 50+50 per block: 1,500 TWAPs active by the end, each polled every block by a
    // sequential engine; it cannot keep up, and the harness itself delivered everything.
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(outcome.totals.delivered_ratio, Some(1.0));
    let first_failed = first_failed_bar(&outcome)
        .expect("a first failed bar")
        .to_owned();
    let failed: Vec<&str> = outcome
        .bars
        .iter()
        .filter(|b| !b.holds)
        .map(|b| b.bar.as_str())
        .collect();
    assert!(
        failed.contains(&first_failed.as_str()),
        "{first_failed} not among {failed:?}"
    );
    // What broke is the engine: the stage that slowed down most is not the harness.
    let grew_most = outcome.bottleneck.grew_most.unwrap();
    assert_ne!(
        grew_most,
        Stage::HarnessLateness,
        "{:#?}",
        outcome.bottleneck
    );
    let report = std::fs::read_to_string(dir.path().join("run/report.md")).unwrap();
    assert!(
        report.contains(&format!("**First bar to fail:** `{first_failed}`")),
        "{report}"
    );
}
