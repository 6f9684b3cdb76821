//! The harness checked against a known answer (issue 4): the reference engine
//! with sequential dispatch and 50 ms per event keeps up with at most
//! 1 s / 50 ms = 20 events per 1-second block. At half that load every bar holds;
//! at double it the latency and loss bars fail, as predicted.

use crate::common::*;

#[test]
fn half_the_predicted_capacity_keeps_up() {
    let _machine = exclusive();
    let (code, err, outcome, _dir) = run_shipped("scenarios/known-answer/half.yaml");
    assert_eq!(code, Some(0), "{err}");
    assert!(outcome.bars.iter().all(|b| b.holds), "{:#?}", outcome.bars);
    assert_eq!(mock_events(&outcome, |e| e.matched), 60);
    assert_eq!(mock_events(&outcome, |e| e.lost), 0);
}

#[test]
fn double_the_predicted_capacity_falls_behind() {
    let _machine = exclusive();
    let (code, err, outcome, _dir) = run_shipped("scenarios/known-answer/double.yaml");
    assert_eq!(code, Some(1), "{err}");
    let bar = |text: &str| {
        outcome
            .bars
            .iter()
            .find(|b| b.bar.contains(text))
            .unwrap_or_else(|| panic!("no bar {text}"))
    };
    // Every event still reached the chain: the engine, not the harness, fell behind.
    assert!(bar("delivered_ratio").holds);
    assert!(!bar("shepherd_event_latency_seconds").holds);
    assert!(!bar("cowload_event_to_order_seconds").holds);
    assert!(!bar("lost_total").holds);
    // Behind by about one block time per loaded block: far above the 1 s bar.
    assert!(bar("shepherd_event_latency_seconds").observed.unwrap() > 2.0);
}
