//! Shared helpers: the runner command, scenario files in temp dirs (built with
//! [`ScenarioBuilder`]), the typed outcome, and PID checks.

use std::io::{BufRead, BufReader, Lines};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub use crate::builder::{blocks, ms, secs, ScenarioBuilder};
pub use cowload_spec::{EventKind, EventStats};
pub use runner::report::{BarResult, MockSummary, Outcome, Status};

pub fn runner() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_runner"));
    cmd.current_dir(project_root());
    cmd
}

pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// Anvil as the runner finds it; fails loudly (never skips) when it is not installed.
pub fn require_anvil() -> PathBuf {
    runner::chain::find_anvil(None).unwrap_or_else(|e| {
        panic!(
            "{e}: run `npm ci` in {} (installs @foundry-rs/anvil-linux-amd64@1.7.1)",
            project_root().display()
        )
    })
}

/// Writes `body` as `<dir>/<name>` and returns its path (scenarios whose text is the
/// point; the others are built with [`ScenarioBuilder::write`]).
pub fn scenario(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    path
}

/// A runner started in the background, followed on its stderr: the child,
/// the lines still to come, and what it printed so far.
pub struct Running {
    pub child: Child,
    pub lines: Lines<BufReader<ChildStderr>>,
    pub seen: String,
}

/// Starts `command` and reads its stderr until a line satisfies `reached`,
/// failing the test after `within` (`what` names what was awaited).
pub fn start_and_follow(
    mut command: Command,
    mut reached: impl FnMut(&str) -> bool,
    within: Duration,
    what: &str,
) -> Running {
    let mut child = command.stderr(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = String::new();
    let deadline = Instant::now() + within;
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if reached(&line) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no {what} within {within:?}:\n{seen}"
        );
    }
    Running { child, lines, seen }
}

impl Running {
    /// Sends SIGINT, reads the rest of stderr and waits: the exit code and
    /// everything printed.
    pub fn interrupt(mut self) -> (Option<i32>, String) {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        )
        .unwrap();
        for line in self.lines {
            self.seen.push_str(&line.unwrap());
            self.seen.push('\n');
        }
        let status = self.child.wait().unwrap();
        (status.code(), self.seen)
    }
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Every `pid N` the runner printed (Anvil's and the engine's).
pub fn printed_pids(text: &str) -> Vec<i32> {
    text.split("pid ")
        .skip(1)
        .filter_map(|rest| {
            rest.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        })
        .collect()
}

/// Asserts that none of `pids` is alive (allowing a moment for reaping by init).
pub fn assert_all_gone(pids: &[i32]) {
    assert!(!pids.is_empty(), "the runner printed no child PIDs");
    for &pid in pids {
        let mut alive = true;
        for _ in 0..100 {
            alive = Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(pid);
            if !alive {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(!alive, "child process {pid} outlived the runner");
    }
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(false)
}

/// The run directory's `outcome.json`, typed.
pub fn outcome(dir: &Path) -> Outcome {
    let text = std::fs::read_to_string(dir.join("outcome.json")).expect("outcome.json written");
    Outcome::from_json(&text).unwrap_or_else(|e| panic!("{}/outcome.json: {e}", dir.display()))
}

/// What the mock saw; fails when the outcome has no mock section.
pub fn mock(outcome: &Outcome) -> &MockSummary {
    outcome
        .mock
        .as_ref()
        .unwrap_or_else(|| panic!("no mock section; error: {:?}", outcome.error))
}

/// The mock's accounting of `kind`; fails when the kind is missing.
pub fn mock_kind(outcome: &Outcome, kind: EventKind) -> &EventStats {
    let mock = mock(outcome);
    mock.events
        .get(kind.label())
        .unwrap_or_else(|| panic!("mock.events.{kind} in {mock:?}"))
}

/// POSTs the mock received for `kind` (`twap`, `ethflow`, `unmatched`) with `outcome`
/// (`accepted`, `mismatched`…); `None` when it counted none of them.
pub fn orders_received(outcome: &Outcome, kind: &str, result: &str) -> Option<u64> {
    mock(outcome)
        .orders_received
        .get(kind)?
        .get(result)
        .copied()
}

/// The result of the bar written `text`; fails when there is none.
pub fn bar<'a>(outcome: &'a Outcome, text: &str) -> &'a BarResult {
    outcome
        .bars
        .iter()
        .find(|b| b.bar == text)
        .unwrap_or_else(|| panic!("no bar {text} in {:#?}", outcome.bars))
}

/// The bar that failed first, as written.
pub fn first_failed_bar(outcome: &Outcome) -> Option<&str> {
    outcome
        .bottleneck
        .first_failed_bar
        .as_ref()
        .map(|f| f.bar.as_str())
}

/// Every test that starts Anvil holds this lock for its whole run: shared by runs that
/// only check behaviour (they spend most of their time waiting for the next block, and
/// their bars leave a wide margin), exclusive for runs that measure capacity or latency
/// against a known answer, or count every Anvil on the machine.
static MACHINE: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// A run that may share the machine with other such runs.
pub fn shared() -> std::sync::RwLockReadGuard<'static, ()> {
    MACHINE
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A run that must have the machine to itself.
pub fn exclusive() -> std::sync::RwLockWriteGuard<'static, ()> {
    MACHINE
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs a shipped scenario into a temp run dir; returns (exit code, stderr, outcome, run dir).
pub fn run_shipped(scenario_path: &str) -> (Option<i32>, String, Outcome, tempfile::TempDir) {
    require_anvil();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let output = runner()
        .arg(scenario_path)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let err = stderr(&output);
    let outcome = outcome(&out);
    assert_all_gone(&printed_pids(&err));
    (output.status.code(), err, outcome, dir)
}

/// Every line of the run directory's `orders.jsonl`.
pub fn order_lines(run: &Path) -> Vec<cowload_spec::OrderLine> {
    let text = std::fs::read_to_string(run.join("orders.jsonl")).expect("orders.jsonl written");
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

/// Sum of a mock statistic (`|e| e.lost`) over every event kind.
pub fn mock_events(outcome: &Outcome, field: impl Fn(&EventStats) -> u64) -> u64 {
    EventKind::ALL
        .into_iter()
        .map(|kind| field(mock_kind(outcome, kind)))
        .sum()
}

/// PIDs of every live Anvil on the machine, for tests of runs that fail before
/// the runner prints its children's PIDs (hold [`exclusive`] so no other test's
/// Anvil is counted).
pub fn live_anvils() -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "anvil")
                && !is_zombie(*pid)
        })
        .collect()
}
