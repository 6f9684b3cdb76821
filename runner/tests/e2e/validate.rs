//! `runner validate` and `runner schema` from the command line.

use crate::common::*;

#[test]
fn the_shipped_scenarios_validate() {
    let output = runner()
        .args([
            "validate",
            "scenarios/baseline.yaml",
            "scenarios/baseline.toml",
            "scenarios/medium.yaml",
            "scenarios/saturation.yaml",
            "scenarios/twap-parts.yaml",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

#[test]
fn every_bad_file_exits_two_naming_file_line_and_column() {
    let bad = project_root().join("runner/tests/bad");
    let mut files: Vec<_> = std::fs::read_dir(&bad)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(
        files.len() >= 10,
        "expected the bad-scenario corpus in {}",
        bad.display()
    );
    for file in files {
        let output = runner().arg("validate").arg(&file).output().unwrap();
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{}: {err}", file.display());
        let name = file.file_name().unwrap().to_str().unwrap();
        let located = err.lines().any(|l| {
            l.contains(name)
                && l.split(':')
                    .filter(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_digit()))
                    .count()
                    >= 2
        });
        assert!(located, "{}: no file:line:column in {err}", file.display());
    }
}

#[test]
fn a_run_of_a_bad_file_exits_two_before_starting_anything() {
    let bad = project_root().join("runner/tests/bad");
    let first = std::fs::read_dir(&bad)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let output = runner().arg(&first).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        !stderr(&output).contains("pid "),
        "nothing should have started"
    );
}

#[test]
fn the_committed_schema_is_what_runner_schema_prints() {
    let output = runner().arg("schema").output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let committed =
        std::fs::read_to_string(project_root().join("schemas/scenario.schema.json")).unwrap();
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        committed,
        "run `runner schema > schemas/scenario.schema.json`"
    );
}

/// Each class of error is printed once, whatever wraps it: a bad scenario
/// (exit 2), an unknown flag (exit 2), a run that cannot start (exit 3).
#[test]
fn every_error_is_printed_once() {
    let bad_bar = runner()
        .arg("runner/tests/bad/bad_bar.yaml")
        .output()
        .unwrap();
    let err = stderr(&bad_bar);
    assert_eq!(bad_bar.status.code(), Some(2), "{err}");
    assert_eq!(err.matches("expected `)`").count(), 1, "{err}");
    assert!(!err.contains("caused by"), "{err}");

    let flag = runner().args(["run", "--nope", "x.yaml"]).output().unwrap();
    let err = stderr(&flag);
    assert_eq!(flag.status.code(), Some(2), "{err}");
    assert_eq!(err.matches("error:").count(), 1, "{err}");

    let dir = tempfile::tempdir().unwrap();
    let file = ScenarioBuilder::new("no-anvil")
        .per_block(1, 0)
        .engine_disabled()
        .write(dir.path(), "no-anvil.yaml");
    let missing = dir.path().join("no-such-anvil");
    let output = runner()
        .arg(&file)
        .arg("--anvil")
        .arg(&missing)
        .arg("--out")
        .arg(dir.path().join("run"))
        .output()
        .unwrap();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(3), "{err}");
    assert_eq!(err.matches("no-such-anvil").count(), 1, "{err}");
}
