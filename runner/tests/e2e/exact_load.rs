//! The load is exact: every requested event lands on chain, at 100 and 1,000 per block.

use std::time::Duration;

use runner::report::BlockPhase;

use crate::common::*;

fn harness_only(
    blocks: u32,
    twap: u32,
    ethflow: u32,
    block_time: Duration,
    gas_limit: u64,
) -> ScenarioBuilder {
    ScenarioBuilder::new("exact")
        .seed(3)
        .block_time(block_time)
        .gas_limit(gas_limit)
        .warmup_blocks(0)
        .drain_blocks(0)
        .blocks(blocks)
        .per_block(twap, ethflow)
        .engine_disabled()
        .bar("cowload_events_delivered_ratio == 1")
        .bar(&format!(
            "increase(cowload_events_delivered_total) == {}",
            blocks * (twap + ethflow)
        ))
}

fn run_exact(blocks: u32, twap: u32, ethflow: u32, block_time: Duration, gas_limit: u64) {
    require_anvil();
    let _machine = exclusive();
    let dir = tempfile::tempdir().unwrap();
    let file =
        harness_only(blocks, twap, ethflow, block_time, gas_limit).write(dir.path(), "exact.yaml");
    let out = dir.path().join("run");
    let output = runner().arg(&file).arg("--out").arg(&out).output().unwrap();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{err}");
    let outcome = outcome(&out);
    let totals = &outcome.totals;
    assert_eq!(
        totals.requested[EventKind::Twap],
        u64::from(blocks * twap),
        "{totals:?}"
    );
    assert_eq!(
        totals.delivered[EventKind::Twap],
        u64::from(blocks * twap),
        "{totals:?}"
    );
    assert_eq!(
        totals.delivered[EventKind::EthFlow],
        u64::from(blocks * ethflow),
        "{totals:?}"
    );
    let loaded: Vec<_> = outcome
        .blocks
        .iter()
        .filter(|b| b.phase == BlockPhase::Load)
        .collect();
    assert_eq!(loaded.len(), blocks as usize);
    for block in loaded {
        assert_eq!(
            block.delivered[EventKind::Twap],
            u64::from(twap),
            "{block:?}"
        );
        assert_eq!(
            block.delivered[EventKind::EthFlow],
            u64::from(ethflow),
            "{block:?}"
        );
        assert!(block.failures.is_empty(), "{block:?}");
    }
    // No engine, so nobody to stall, however long the orders wait.
    assert!(
        outcome.bottleneck.stalled.is_none(),
        "{:#?}",
        outcome.bottleneck
    );
    assert!(!err.contains("engine stalled"), "{err}");
    assert_all_gone(&printed_pids(&err));
}

#[test]
fn fifty_plus_fifty_for_ten_blocks_is_exactly_a_thousand_events() {
    run_exact(10, 50, 50, ms(500), 30_000_000);
}

#[test]
fn five_hundred_plus_five_hundred_per_block_is_exact() {
    run_exact(3, 500, 500, secs(2), 100_000_000);
}
