//! `runner SCENARIO --repeat N` end to end: N fresh runs, one combined
//! outcome with every repeat's per-block samples, and `runner diff` reading
//! the repeat directory.

use crate::common::*;

#[test]
fn repeats_write_numbered_runs_and_a_combined_outcome_that_diff_reads() {
    require_anvil();
    let _machine = shared();
    let dir = tempfile::tempdir().unwrap();
    let file = ScenarioBuilder::short_light("repeat")
        .bars([
            "cowload_events_delivered_ratio == 1",
            "increase(cowload_events_lost_total) == 0",
        ])
        .write(dir.path(), "repeat.yaml");
    let out = dir.path().join("runs");
    let output = runner()
        .arg(&file)
        .args(["--repeat", "2", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{err}");
    assert!(err.contains("repeat 2/2"), "{err}");
    for i in ["1", "2"] {
        assert_eq!(outcome(&out.join(i)).status, Status::Pass, "repeat {i}");
    }
    let combined = outcome(&out);
    let repeats = &combined.repeats;
    assert_eq!(repeats.len(), 2);
    for repeat in repeats {
        let samples: usize = repeat
            .blocks
            .iter()
            .map(|b| b.event_to_order_samples_seconds.len())
            .sum();
        // 16 events, each a first accepted order with its exact latency.
        assert!(samples >= 16, "{samples} samples in {:#?}", repeat.blocks);
    }
    assert_all_gone(&printed_pids(&err));

    let output = runner()
        .arg("diff")
        .arg(&out)
        .arg(&out)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    // `runner diff --format json` has no deserialisable type (its `Comparison` is
    // Serialize only): read as plain JSON.
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        (json["base"]["runs"].as_u64(), json["regressions"].as_u64()),
        (Some(2), Some(0))
    );

    // A repeat directory that is not empty is refused before anything starts.
    let output = runner()
        .arg(&file)
        .args(["--repeat", "2", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("not empty"), "{}", stderr(&output));
}
