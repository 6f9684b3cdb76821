//! Verdicts on an engine cowload has never seen (issue 9): a crafted-metrics
//! engine (`crafted_engine.py`, standard-library Python) serves scripted
//! `/metrics` computed from the chain head, and each bar below proves one
//! rule — warm-up is not judged, a `+Inf` rank is only a bound, a declared
//! counter without samples is 0, an unknown name fails, `# TYPE` decides the
//! kind, and an engine that stops following the chain fails a lag bar.

use cowload_spec::bars::Bucket;
use runner::report::MetricKind;

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

fn crafted_scenario() -> ScenarioBuilder {
    let script = project_root().join("runner/tests/e2e/crafted_engine.py");
    ScenarioBuilder::new("crafted")
        .seed(5)
        .block_time(ms(500))
        .warmup_blocks(WARMUP)
        .drain_blocks(3)
        .blocks(4)
        .per_block(1, 1)
        .reference_engine_config()
        .engine_command([
            "python3".to_owned(),
            script.display().to_string(),
            "${METRICS_ADDR}".to_owned(),
            "${RPC_HTTP_URL}".to_owned(),
            WARMUP.to_string(),
        ])
        .bars(BARS.iter().map(|(bar, _)| bar))
}

#[test]
fn a_crafted_engine_gets_the_verdicts_its_metrics_deserve() {
    require_anvil();
    let _machine = shared();
    let dir = tempfile::tempdir().unwrap();
    let file = crafted_scenario().write(dir.path(), "crafted.yaml");
    let out = dir.path().join("run");
    let output = runner().arg(&file).arg("--out").arg(&out).output().unwrap();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    let outcome = outcome(&out);
    assert_eq!(outcome.status, Status::Fail);
    for (text, holds) in BARS {
        let got = bar(&outcome, text);
        assert_eq!(got.holds, *holds, "{text}: {got:?}");
    }

    let warm = bar(&outcome, BARS[0].0);
    assert_eq!(warm.observed, None, "{warm:?}");
    let reason = warm.reason.as_deref().unwrap();
    assert!(
        reason.contains("no observations during the load window"),
        "{reason}"
    );

    let slow = bar(&outcome, BARS[1].0);
    assert_eq!(slow.observed, Some(10.0));
    assert_eq!(
        slow.bucket,
        Some(Bucket {
            lower: 10.0,
            upper: None
        })
    );
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("| > 10 s |"), "{report}");

    let typo = bar(&outcome, BARS[4].0);
    let reason = typo.reason.as_deref().unwrap();
    assert!(
        reason.contains("`crafted_typo_total` not found"),
        "{reason}"
    );

    // Lag: 0 at the window's first scrape, one more per block after it
    // (4 loaded + 3 drain blocks).
    assert_eq!(bar(&outcome, BARS[6].0).observed, Some(7.0));

    // The kind comes from # TYPE: a gauge named *_total is a gauge.
    assert_eq!(
        outcome.metrics["crafted_queue_total"].kind,
        MetricKind::Gauge
    );

    // The window opens at the last warm-up scrape and ends after drain.
    let window = outcome.window.as_ref().unwrap();
    let first = window.first_block.unwrap();
    assert_eq!(window.from, format!("block {}", first - 1));
    assert_eq!(window.to, "end");
    assert_eq!(window.last_block, Some(first + 6));
    assert!(report.contains("Bars judge the load window"), "{report}");
    assert_all_gone(&printed_pids(&err));
}
