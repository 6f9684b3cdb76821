//! Verdicts on an engine cowload has never seen (issue 9): a crafted-metrics
//! engine (`crafted_engine.py`, standard-library Python) serves scripted
//! `/metrics` computed from the chain head, and each bar below proves one
//! rule — warm-up is not judged, a `+Inf` rank is only a bound, a declared
//! counter without samples is 0, an unknown name fails, `# TYPE` decides the
//! kind, and an engine that stops following the chain fails a lag bar.

use crate::common::*;

/// Warm-up blocks; the crafted engine observes latency only before the last
/// of them and stops following the chain after them.
const WARMUP: u32 = 3;

/// Each bar, and whether it must hold.
const BARS: &[(&str, bool)] = &[
    // Observed during warm-up only: no observations in the load window.
    ("quantile(0.99, crafted_block_duration_seconds) < 1s", false),
    // Every observation beyond the top finite bound (10 s): "> 10 s".
    ("quantile(0.99, crafted_slow_seconds) < 12s", false),
    ("quantile(0.99, crafted_slow_seconds) > 5s", true),
    // Declared by # TYPE, never printed: 0.
    ("increase(crafted_errors_total) == 0", true),
    // Never seen: no data, whatever the comparison.
    ("increase(crafted_typo_total) == 0", false),
    // Unless the bar says absent counts as 0.
    ("increase(crafted_typo_total or 0) == 0", true),
    // The engine's height stops after warm-up while the chain goes on.
    (
        "max(cowload_chain_head_block - crafted_block_height) <= 2",
        false,
    ),
    (
        "min(cowload_chain_head_block - crafted_block_height) >= 0",
        true,
    ),
];

fn crafted_scenario() -> String {
    let script = project_root().join("runner/tests/e2e/crafted_engine.py");
    let bars: String = BARS.iter().map(|(b, _)| format!("  - {b}\n")).collect();
    format!(
        "version: 1\nname: crafted\nseed: 5\nchain: {{ block_time: 500ms }}\n\
         load:\n  warmup_blocks: {WARMUP}\n  drain_blocks: 3\n  blocks: 4\n  per_block: {{ twap: 1, ethflow: 1 }}\n\
         engine:\n{}  command: [python3, \"{}\", \"${{METRICS_ADDR}}\", \"${{RPC_HTTP_URL}}\", \"{WARMUP}\"]\n\
         bars:\n{bars}",
        engine_config_line(),
        script.display()
    )
}

#[test]
fn a_crafted_engine_gets_the_verdicts_its_metrics_deserve() {
    require_anvil();
    let _machine = shared();
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(dir.path(), "crafted.yaml", &crafted_scenario());
    let out = dir.path().join("run");
    let output = runner().arg(&file).arg("--out").arg(&out).output().unwrap();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    let outcome = outcome(&out);
    assert_eq!(outcome["status"], "fail");
    let bars = outcome["bars"].as_array().unwrap();
    for (bar, holds) in BARS {
        let got = bars
            .iter()
            .find(|b| b["bar"] == *bar)
            .unwrap_or_else(|| panic!("{bar} missing from {bars:?}"));
        assert_eq!(got["holds"], *holds, "{bar}: {got}");
    }
    let by_text = |text: &str| bars.iter().find(|b| b["bar"] == text).unwrap();

    let warm = by_text(BARS[0].0);
    assert_eq!(warm["observed"], serde_json::Value::Null, "{warm}");
    let reason = warm["reason"].as_str().unwrap();
    assert!(
        reason.contains("no observations during the load window"),
        "{reason}"
    );

    let slow = by_text(BARS[1].0);
    assert_eq!(slow["observed"], 10.0);
    assert_eq!(
        slow["bucket"],
        serde_json::json!({"lower": 10.0, "upper": null})
    );
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("| > 10 s |"), "{report}");

    let typo = by_text(BARS[4].0);
    let reason = typo["reason"].as_str().unwrap();
    assert!(
        reason.contains("`crafted_typo_total` not found"),
        "{reason}"
    );

    // Lag: 0 at the window's first scrape, one more per block after it
    // (4 loaded + 3 drain blocks).
    assert_eq!(by_text(BARS[6].0)["observed"], 7.0);

    // The kind comes from # TYPE: a gauge named *_total is a gauge.
    assert_eq!(outcome["metrics"]["crafted_queue_total"]["kind"], "gauge");

    // The window opens at the last warm-up scrape and ends after drain.
    let window = &outcome["window"];
    let first = window["first_block"].as_u64().unwrap();
    assert_eq!(window["from"], format!("block {}", first - 1));
    assert_eq!(window["to"], "end");
    assert_eq!(window["last_block"].as_u64().unwrap(), first + 6);
    assert!(report.contains("Bars judge the load window"), "{report}");
    assert_all_gone(&printed_pids(&err));
}
