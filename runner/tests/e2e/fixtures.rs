//! The contract fixture is checked before any load: a missing fixture or a
//! contract whose code does not match the fixture's hash is an infrastructure
//! failure (exit 3) that says what is wrong.

use crate::common::*;

fn scenario_with_fixtures(dir: &std::path::Path, fixtures: &std::path::Path) -> std::path::PathBuf {
    ScenarioBuilder::new("fixtures")
        .block_time(ms(200))
        .fixtures(fixtures)
        .warmup_blocks(0)
        .drain_blocks(0)
        .blocks(1)
        .per_block(1, 1)
        .engine_disabled()
        .bar("cowload_events_delivered_ratio == 1")
        .write(dir, "fixtures.yaml")
}

/// Runs `file`, expects exit 3 with no Anvil left behind, and returns stderr.
fn run_expecting_infrastructure_failure(file: &std::path::Path, dir: &std::path::Path) -> String {
    let before = live_anvils();
    let output = runner()
        .arg(file)
        .arg("--out")
        .arg(dir.join("run"))
        .output()
        .unwrap();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(3), "{err}");
    let left: Vec<i32> = live_anvils()
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect();
    assert!(left.is_empty(), "anvil {left:?} outlived the runner");
    err
}

#[test]
fn a_missing_fixture_is_exit_3_naming_the_file() {
    require_anvil();
    let _machine = exclusive();
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let file = scenario_with_fixtures(dir.path(), &empty);
    let err = run_expecting_infrastructure_failure(&file, dir.path());
    assert!(
        err.contains("replay.11155111.json") && err.contains("COW_FIXTURES"),
        "{err}"
    );
}

#[test]
fn a_code_hash_mismatch_is_exit_3_naming_the_contract() {
    require_anvil();
    let _machine = exclusive();
    let dir = tempfile::tempdir().unwrap();
    let doctored = dir.path().join("doctored");
    std::fs::create_dir(&doctored).unwrap();
    let shared = project_root().join("runner/fixtures/cow-contracts");
    std::fs::copy(shared.join("weth9.json"), doctored.join("weth9.json")).unwrap();
    // Plain JSON: the replay fixture's type is private to the runner's chain stage.
    let mut replay: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(shared.join("replay.11155111.json")).unwrap(),
    )
    .unwrap();
    let steps = replay["steps"].as_array_mut().unwrap();
    let twap = steps
        .iter_mut()
        .find(|s| s["name"] == "TWAP")
        .expect("TWAP step");
    twap["expectedRuntimeCodeKeccak"] = serde_json::json!(format!("0x{}", "ab".repeat(32)));
    std::fs::write(doctored.join("replay.11155111.json"), replay.to_string()).unwrap();
    let file = scenario_with_fixtures(dir.path(), &doctored);
    let err = run_expecting_infrastructure_failure(&file, dir.path());
    assert!(
        err.contains("TWAP at 0x6cF1e9cA41f7611dEf408122793c358a3d11E5a5")
            && err.contains("expected 0xabab"),
        "{err}"
    );
}
