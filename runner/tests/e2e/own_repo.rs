//! cowload used from an engine's own repository: only a scenario file and a
//! small engine (`examples/python-engine/`, a Python watch-tower with a JSON
//! config) in a directory outside the workspace, the runner binary copied
//! elsewhere as an install would, no `$COW_FIXTURES`. The run must pass on the
//! embedded contract fixture, the engine must get its split metrics host and
//! port, its start block and chain name, run in its own work directory, and be
//! judged ready by its health URL and log line; nothing may be written outside
//! the run directory.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

const EXAMPLE_FILES: [&str; 3] = ["scenario.yaml", "watchtower.py", "watchtower.json"];

/// The runner binary copied into its own directory, as `cargo install` would
/// leave it (no workspace, no `node_modules` above it).
fn installed_runner(root: &Path) -> PathBuf {
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let runner = bin.join("runner");
    std::fs::copy(env!("CARGO_BIN_EXE_runner"), &runner).unwrap();
    runner
}

fn require_python() {
    let found = Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(found, "python3 is needed for the example engine");
}

/// An engine repository: the example's files and nothing else.
fn engine_repo(root: &Path) -> PathBuf {
    let repo = root.join("my-engine");
    std::fs::create_dir_all(&repo).unwrap();
    let example = project_root().join("examples/python-engine");
    for file in EXAMPLE_FILES {
        std::fs::copy(example.join(file), repo.join(file)).unwrap();
    }
    repo
}

fn run_in(repo: &Path, runner: &Path, scenario: &str) -> std::process::Output {
    Command::new(runner)
        .arg(scenario)
        .current_dir(repo)
        .env_remove("COW_FIXTURES")
        .env_remove("COWLOAD_REFERENCE_ENGINE")
        .env("ANVIL", require_anvil())
        .output()
        .unwrap()
}

/// Every path under `dir`, relative to it, sorted.
fn tree(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(next) = stack.pop() {
        for entry in std::fs::read_dir(&next).unwrap() {
            let path = entry.unwrap().path();
            found.push(path.strip_prefix(dir).unwrap().display().to_string());
            if path.is_dir() {
                stack.push(path);
            }
        }
    }
    found.sort();
    found
}

/// A temporary root holding an installed runner and an engine repository.
fn installed_setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
    require_anvil();
    require_python();
    let root = tempfile::tempdir().unwrap();
    let runner = installed_runner(&root.path().join("install"));
    let repo = engine_repo(root.path());
    (root, runner, repo)
}

#[test]
fn a_scenario_and_an_engine_outside_the_workspace_pass_on_the_embedded_fixture() {
    let _machine = shared();
    let (_root, runner, repo) = installed_setup();

    let output = run_in(&repo, &runner, "scenario.yaml");
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{err}");
    assert_all_gone(&printed_pids(&err));

    // Nothing beside the scenario and the engine but the one run directory.
    let runs: Vec<PathBuf> = std::fs::read_dir(repo.join("runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let run = &runs[0];
    let outside_run: Vec<String> = tree(&repo)
        .into_iter()
        .filter(|p| !p.starts_with("runs"))
        .collect();
    let mut want: Vec<String> = EXAMPLE_FILES.map(str::to_owned).to_vec();
    want.sort();
    assert_eq!(outside_run, want);

    // The engine got its own format, split host and port, start block and chain name
    // (read as plain JSON: the format is the example engine's, no runner type's).
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("engine-config.json")).unwrap())
            .expect("the rendered config is still JSON");
    assert_eq!(config["metrics"]["host"], "127.0.0.1");
    assert!(config["metrics"]["port"].as_u64().unwrap() > 0);
    assert_eq!(config["network"], "sepolia");
    let start_block = config["start_block"].as_u64().unwrap();
    assert!(start_block > 0, "the contracts are deployed after genesis");
    // It ran in its work directory inside the run (its cursor file is there).
    let cursor: u64 = std::fs::read_to_string(run.join("engine-work/cursor"))
        .expect("the engine wrote its cursor in its working directory")
        .trim()
        .parse()
        .unwrap();
    assert!(cursor > start_block);

    let outcome = outcome(run);
    assert_eq!(outcome.status, Status::Pass, "{err}");
    assert_eq!(
        mock_events(&outcome, |e| e.registered),
        24,
        "{:#?}",
        outcome.mock
    );
    let engine_log = std::fs::read_to_string(run.join("engine.log")).unwrap();
    assert!(
        engine_log.contains(&format!("from block {start_block}")),
        "{engine_log}"
    );
}

#[test]
fn a_readiness_check_that_never_holds_is_exit_3_naming_it() {
    let _machine = shared();
    let (_root, runner, repo) = installed_setup();
    let scenario = std::fs::read_to_string(repo.join("scenario.yaml"))
        .unwrap()
        .replace("startup_timeout: 20s", "startup_timeout: 3s")
        .replace(
            r#"log: "synced to block \\d+""#,
            r#"log: "fully caught up""#,
        );
    assert!(scenario.contains("fully caught up"), "the example changed");
    std::fs::write(repo.join("never-ready.yaml"), scenario).unwrap();

    let output = run_in(&repo, &runner, "never-ready.yaml");
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(3), "{err}");
    assert!(
        err.contains("engine not ready within 3s")
            && err.contains("no output line matched ready.log /fully caught up/")
            && !err.contains("ready.http"),
        "{err}"
    );
    // Anvil's PID was printed; the engine never got that far, so look for it by its path.
    assert_all_gone(&printed_pids(&err));
    assert_eq!(
        processes_running(&repo),
        Vec::<i32>::new(),
        "the engine outlived the runner"
    );
}

/// Live processes whose command line mentions `dir` (the engine started from it).
fn processes_running(dir: &Path) -> Vec<i32> {
    let needle = dir.display().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&needle))
                && std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
                    !s.rsplit(')')
                        .next()
                        .unwrap_or("")
                        .trim_start()
                        .starts_with('Z')
                })
        })
        .collect()
}
