//! The load is exact: every requested event lands on chain, at 100 and 1,000 per block.

use crate::common::*;

fn harness_only(blocks: u32, twap: u32, ethflow: u32, block_time: &str, gas_limit: u64) -> String {
    format!(
        "version: 1\nname: exact\nseed: 3\nchain: {{ block_time: {block_time}, gas_limit: {gas_limit} }}\n\
         load:\n  warmup_blocks: 0\n  drain_blocks: 0\n  blocks: {blocks}\n  per_block: {{ twap: {twap}, ethflow: {ethflow} }}\n\
         engine: {{ enabled: false }}\n\
         bars:\n  - cowload_events_delivered_ratio == 1\n  - increase(cowload_events_delivered_total) == {}\n",
        blocks * (twap + ethflow)
    )
}

fn run_exact(blocks: u32, twap: u32, ethflow: u32, block_time: &str, gas_limit: u64) {
    require_anvil();
    let _machine = exclusive();
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(
        dir.path(),
        "exact.yaml",
        &harness_only(blocks, twap, ethflow, block_time, gas_limit),
    );
    let out = dir.path().join("run");
    let output = runner().arg(&file).arg("--out").arg(&out).output().unwrap();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{err}");
    let outcome = outcome(&out);
    let totals = &outcome["totals"];
    assert_eq!(
        totals["requested"]["twap"],
        u64::from(blocks * twap),
        "{totals}"
    );
    assert_eq!(
        totals["delivered"]["twap"],
        u64::from(blocks * twap),
        "{totals}"
    );
    assert_eq!(
        totals["delivered"]["ethflow"],
        u64::from(blocks * ethflow),
        "{totals}"
    );
    let loaded: Vec<_> = outcome["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["phase"] == "load")
        .collect();
    assert_eq!(loaded.len(), blocks as usize);
    for block in loaded {
        assert_eq!(block["delivered"]["twap"], u64::from(twap), "{block}");
        assert_eq!(block["delivered"]["ethflow"], u64::from(ethflow), "{block}");
        assert!(block["failures"].as_array().unwrap().is_empty(), "{block}");
    }
    // No engine, so nobody to stall, however long the orders wait.
    assert!(
        outcome["bottleneck"]["stalled"].is_null(),
        "{}",
        outcome["bottleneck"]
    );
    assert!(!err.contains("engine stalled"), "{err}");
    assert_all_gone(&printed_pids(&err));
}

#[test]
fn fifty_plus_fifty_for_ten_blocks_is_exactly_a_thousand_events() {
    run_exact(10, 50, 50, "500ms", 30_000_000);
}

#[test]
fn five_hundred_plus_five_hundred_per_block_is_exact() {
    run_exact(3, 500, 500, "2s", 100_000_000);
}
