//! `runner diff` end to end on the golden outcomes: exit codes, formats and
//! messages as a CI job sees them.

use std::path::PathBuf;
use std::process::Output;

use crate::common::*;

fn golden(name: &str) -> PathBuf {
    project_root().join("runner/tests/golden").join(name)
}

fn diff(args: &[&str]) -> Output {
    runner().arg("diff").args(args).output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn an_outcome_against_itself_shows_no_change_in_two_lines_and_exits_zero() {
    let base = golden("outcome.json");
    let base = base.to_str().unwrap();
    let output = diff(&[base, base, "--fail-on-regression"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.contains("no change"), "{text}");
}

#[test]
fn a_regression_exits_one_only_when_asked() {
    let (base, head) = (golden("outcome.json"), golden("outcome.head.json"));
    let (base, head) = (base.to_str().unwrap(), head.to_str().unwrap());
    let output = diff(&[base, head, "--format", "text"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    assert_eq!(text, std::fs::read_to_string(golden("diff.txt")).unwrap());

    let output = diff(&[base, head, "--fail-on-regression", "--format", "json"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    // `runner diff --format json` has no deserialisable type (its `Comparison` is
    // Serialize only): read as plain JSON.
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["rows"][0]["change"], "now_fails", "{json}");
    assert_eq!(json["rows"][0]["test"], "bar_verdict", "{json}");
    // One run a side: the flipped bar is the only regression; the +26 % p99
    // cannot be told from run-to-run noise.
    assert_eq!(json["regressions"], 1, "{json}");
    let p99 = json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["metric"] == "event→order p99 (twap)")
        .unwrap();
    assert_eq!(p99["change"], "not_enough_data", "{p99}");

    // A wide noise band never hides a flipped bar.
    let output = diff(&[base, head, "--fail-on-regression", "--noise", "50%"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("1 regression,"),
        "{}",
        stdout(&output)
    );
}

/// Writes `outcome` into `DIR/1..=n/outcome.json` with its time readings
/// scaled by `factors[i]`: a repeat directory as `runner --repeat` leaves it.
fn repeat_dir(dir: &std::path::Path, factors: &[f64]) {
    let text = std::fs::read_to_string(golden("outcome.json")).unwrap();
    let golden_outcome = Outcome::from_json(&text).unwrap();
    for (i, factor) in factors.iter().enumerate() {
        let mut o = golden_outcome.clone();
        for kind in EventKind::ALL {
            let latency = &mut o.event_to_order_seconds[kind];
            assert!(latency.count > 0, "the golden outcome has {kind} latencies");
            latency.p50 *= factor;
            latency.p99 *= factor;
        }
        let run = dir.join((i + 1).to_string());
        std::fs::create_dir_all(&run).unwrap();
        std::fs::write(run.join("outcome.json"), o.to_json()).unwrap();
    }
}

#[test]
fn repeat_directories_are_compared_run_by_run() {
    let dir = tempfile::tempdir().unwrap();
    let (base, same, slow) = (
        dir.path().join("base"),
        dir.path().join("same"),
        dir.path().join("slow"),
    );
    repeat_dir(&base, &[1.0, 1.02, 0.98]);
    repeat_dir(&same, &[0.99, 1.03, 1.0]);
    repeat_dir(&slow, &[1.25, 1.27, 1.23]);
    let path = |p: &std::path::Path| p.to_str().unwrap().to_owned();

    let output = diff(&[&path(&base), &path(&same), "--fail-on-regression"]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(stdout(&output).contains("no change"), "{}", stdout(&output));

    let output = diff(&[
        &path(&base),
        &path(&slow),
        "--fail-on-regression",
        "--format",
        "json",
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    // Plain JSON, as above: the comparison has no deserialisable type.
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["base"]["runs"], 3, "{json}");
    let worse: Vec<&str> = json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["change"] == "worse")
        .map(|r| r["metric"].as_str().unwrap())
        .collect();
    for name in ["event→order p50 (twap)", "event→order p99 (ethflow)"] {
        assert!(worse.contains(&name), "{name} not in {worse:?}");
    }
    let row = json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["metric"] == "event→order p50 (twap)")
        .unwrap();
    assert_eq!(row["test"], "welch", "{row}");
    assert!(row["p_adjusted"].as_f64().unwrap() <= 0.05, "{row}");

    // An empty directory is refused, naming what it looked for.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let output = diff(&[&path(&base), &path(&empty)]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("numbered repeat directories"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn different_scenarios_are_refused_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(golden("outcome.head.json")).unwrap();
    let mut other = Outcome::from_json(&text).unwrap();
    other.scenario.hash = "ee".repeat(32);
    let head = dir.path().join("other.json");
    std::fs::write(&head, other.to_json()).unwrap();
    let base = golden("outcome.json");
    let args = [base.to_str().unwrap(), head.to_str().unwrap()];
    let output = diff(&args);
    // Its own code: 3 means "infrastructure" for a run, never "different scenarios".
    assert_eq!(output.status.code(), Some(4), "{}", stderr(&output));
    assert_eq!(
        stderr(&output).matches("different scenarios").count(),
        1,
        "printed once: {}",
        stderr(&output)
    );
    assert!(
        stderr(&output).contains("different scenarios"),
        "{}",
        stderr(&output)
    );
    assert!(stderr(&output).contains("--force"), "{}", stderr(&output));

    let output = diff(&[args[0], args[1], "--force"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stdout(&output).contains("different scenarios compared"));
}

#[test]
fn unreadable_input_exits_two_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let base = golden("outcome.json");
    let missing = dir.path().join("nope.json");
    let output = diff(&[base.to_str().unwrap(), missing.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("nope.json"), "{}", stderr(&output));

    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "not json").unwrap();
    let output = diff(&[base.to_str().unwrap(), garbage.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("garbage.json: not JSON"),
        "{}",
        stderr(&output)
    );

    let output = diff(&[
        base.to_str().unwrap(),
        base.to_str().unwrap(),
        "--noise",
        "lots",
    ]);
    assert_eq!(output.status.code(), Some(2), "a bad flag is a usage error");
}

#[test]
fn the_outcome_schema_printed_is_the_committed_one() {
    let output = runner().args(["schema", "--outcome"]).output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let committed =
        std::fs::read_to_string(project_root().join("schemas/outcome.schema.json")).unwrap();
    assert_eq!(stdout(&output), committed);
}
