//! Fork mode and recorded fixtures, offline: an "upstream" Anvil holding the
//! replayed CoW contracts stands in for a public chain, and its URL carries a
//! fake key (in user info and query: Anvil answers 404 on any path but `/`)
//! that must never show up in anything the runner writes or prints.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use runner::chain::recorded::RecordedFixture;
use runner::process::ChildGuard;

use crate::common::*;

const SECRET: &str = "SECRETKEY123abc";

/// An Anvil the runner forks; ended when dropped.
struct Upstream {
    port: u16,
    _chain: Option<runner::chain::Chain>,
    _guard: Option<ChildGuard>,
    _runtime: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

impl Upstream {
    /// A local chain with the contract fixture replayed, started by the runner's own chain stage.
    fn with_contracts() -> Self {
        let dir = tempfile::tempdir().unwrap();
        // The runner's own chain stage, with the fixture compiled into it.
        let file = ScenarioBuilder::new("upstream")
            .per_block(1, 0)
            .engine_disabled()
            .write(dir.path(), "upstream.yaml");
        let plan = runner::scenario::load(&file).unwrap_or_else(|e| panic!("{e}"));
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let anvil = runner::chain::find_anvil(None).unwrap();
        let chain = runtime
            .block_on(runner::chain::start(&plan, &anvil, dir.path()))
            .unwrap_or_else(|e| panic!("upstream: {e}"));
        let port = chain.http_url.rsplit(':').next().unwrap().parse().unwrap();
        Self {
            port,
            _chain: Some(chain),
            _guard: None,
            _runtime: runtime,
            _dir: dir,
        }
    }

    /// A bare Anvil on Sepolia's chain id: no CoW contracts at all.
    fn bare() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = runner::chain::free_port().unwrap();
        let anvil = runner::chain::find_anvil(None).unwrap();
        let args: Vec<String> = ["--host", "127.0.0.1", "--port", &port.to_string()]
            .into_iter()
            .map(str::to_owned)
            .chain(["--chain-id", "11155111", "--quiet"].map(str::to_owned))
            .collect();
        let guard =
            ChildGuard::spawn("upstream", &anvil, &args, &[], &dir.path().join("up.log")).unwrap();
        wait_listening(port);
        Self {
            port,
            _chain: None,
            _guard: Some(guard),
            _runtime: tokio::runtime::Runtime::new().unwrap(),
            _dir: dir,
        }
    }

    /// The upstream's URL with the fake key in user info and query.
    fn url(&self) -> String {
        format!(
            "http://cowload:{SECRET}@127.0.0.1:{}/?apikey={SECRET}",
            self.port
        )
    }
}

fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "upstream anvil never listened");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The fork URL as the scenarios write it: taken from the runner's environment.
const FORK_URL: &str = "${COWLOAD_TEST_FORK_URL}";

/// A baseline-like scenario (2 TWAP + 2 EthFlow per block, reference engine); the
/// caller adds where the chain comes from.
fn small(name: &str) -> ScenarioBuilder {
    ScenarioBuilder::short_light(name).bars([
        "cowload_events_delivered_ratio == 1",
        "increase(cowload_events_lost_total) == 0",
        "increase(shepherd_module_errors_total) == 0",
    ])
}

fn run_with_fork_url(file: &Path, out: &Path, url: &str) -> Output {
    runner()
        .arg(file)
        .arg("--out")
        .arg(out)
        .env("COWLOAD_TEST_FORK_URL", url)
        .output()
        .unwrap()
}

/// Every event emitted became an order at the mock, and the report agrees.
fn assert_all_delivered(out: &Path, events: u64) {
    let outcome = outcome(out);
    assert_eq!(outcome.status, Status::Pass, "{outcome:#?}");
    let delivered =
        outcome.totals.delivered[EventKind::Twap] + outcome.totals.delivered[EventKind::EthFlow];
    assert_eq!(delivered, events);
    let matched = mock_events(&outcome, |e| e.matched);
    assert_eq!(matched, delivered);
}

/// Fails when the secret is in the output or in any file under `dirs`.
fn assert_secret_absent(output: &Output, dirs: &[&Path]) {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!text.contains(SECRET), "the key was printed:\n{text}");
    for dir in dirs.iter().filter(|dir| dir.exists()) {
        for file in files_under(dir) {
            let bytes = std::fs::read(&file).unwrap();
            let hit = bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes());
            assert!(!hit, "the key is in {}", file.display());
        }
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

#[test]
fn a_fork_run_delivers_every_event_and_never_shows_the_key() {
    let _machine = shared();
    require_anvil();
    let upstream = Upstream::with_contracts();
    let dir = tempfile::tempdir().unwrap();
    let file = small("fork").fork(FORK_URL).write(dir.path(), "fork.yaml");
    let out = dir.path().join("run");
    let output = run_with_fork_url(&file, &out, &upstream.url());
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{err}");
    assert!(
        err.contains(&format!("fork of http://127.0.0.1:{}/…", upstream.port)),
        "{err}"
    );
    assert!(err.contains("chain id 11155111"), "{err}");
    assert_all_delivered(&out, 16);
    let written: Vec<PathBuf> = files_under(&out);
    for name in [
        "anvil.log",
        "engine.log",
        "engine-config.toml",
        "outcome.json",
        "report.md",
    ] {
        assert!(
            written.iter().any(|f| f.ends_with(name)),
            "{name} not in {written:?}"
        );
    }
    assert_secret_absent(&output, &[&out]);
    assert_all_gone(&printed_pids(&err));
}

#[test]
fn a_fork_without_the_contracts_names_each_missing_one() {
    let _machine = shared();
    require_anvil();
    let upstream = Upstream::bare();
    let dir = tempfile::tempdir().unwrap();
    let file = small("bare").fork(FORK_URL).write(dir.path(), "bare.yaml");
    let out = dir.path().join("run");
    let output = run_with_fork_url(&file, &out, &upstream.url());
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(3), "{err}");
    for (name, address) in runner::chain::required_contracts(11_155_111).unwrap() {
        assert!(
            err.contains(&format!("{name} at {address}")),
            "{name}: {err}"
        );
    }
    assert_secret_absent(&output, &[&out]);
}

#[test]
fn wrong_unreachable_or_mismatched_forks_fail_fast() {
    let _machine = shared();
    require_anvil();
    let upstream = Upstream::bare();
    let closed = runner::chain::free_port().unwrap();
    let cases = [
        (
            format!("http://127.0.0.1:{closed}/?apikey={SECRET}"),
            None,
            "cannot reach the fork RPC http://127.0.0.1:",
        ),
        (
            // Anvil answers 404 on any path but `/`: a wrong URL.
            format!("http://127.0.0.1:{}/v2/{SECRET}", upstream.port),
            None,
            "answered eth_chainId badly: HTTP 404",
        ),
        (
            upstream.url(),
            Some(1),
            "chain.id is 1 but the fork http://127.0.0.1:",
        ),
    ];
    for (url, id, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        let mut built = small("wrong").fork(FORK_URL);
        if let Some(id) = id {
            built = built.chain_id(id);
        }
        let file = built.write(dir.path(), "wrong.yaml");
        let out = dir.path().join("run");
        let started = Instant::now();
        let output = run_with_fork_url(&file, &out, &url);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(3), "{url}: {err}");
        assert!(err.contains(want), "{url}: {err}");
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{url} took {:?}",
            started.elapsed()
        );
        assert_secret_absent(&output, &[&out]);
    }
}

#[test]
fn a_recorded_fixture_runs_offline_and_its_code_hashes_are_checked() {
    let _machine = shared();
    require_anvil();
    let dir = tempfile::tempdir().unwrap();
    let fixture = dir.path().join("sepolia.fixture.json");
    let recorded = {
        let upstream = Upstream::with_contracts();
        runner()
            .args(["fixture", "record", "--rpc", &upstream.url(), "--out"])
            .arg(&fixture)
            .output()
            .unwrap()
    }; // the upstream is gone: the run below cannot reach it
    let err = stderr(&recorded);
    assert_eq!(recorded.status.code(), Some(0), "{err}");
    assert_secret_absent(&recorded, &[]);
    let text = std::fs::read_to_string(&fixture).unwrap();
    assert!(!text.contains(SECRET), "the key is in the fixture");
    let written: RecordedFixture = serde_json::from_str(&text).unwrap();
    assert_eq!(written.chain_id, 11_155_111);
    let names: Vec<&str> = written.contracts.iter().map(|c| c.name.as_str()).collect();
    for (name, _) in runner::chain::required_contracts(11_155_111).unwrap() {
        assert!(names.contains(&name), "{name} not recorded: {names:?}");
    }
    // The creates and EthFlow orders read their contracts' storage: the tracer saw it.
    for name in ["ComposableCoW", "CoWSwapEthFlow"] {
        let contract = written.contracts.iter().find(|c| c.name == name).unwrap();
        assert!(
            !contract.storage.is_empty(),
            "no storage recorded for {name}"
        );
    }

    let file = small("offline")
        .fixture("sepolia.fixture.json")
        .write(dir.path(), "offline.yaml");
    let out = dir.path().join("run");
    let output = runner().arg(&file).arg("--out").arg(&out).output().unwrap();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{err}");
    assert!(
        err.contains("sepolia.fixture.json (recorded at block"),
        "{err}"
    );
    assert_all_delivered(&out, 16);
    assert_all_gone(&printed_pids(&err));

    // One changed byte of code (its last hex digit: 1 if it was 0, else 0): refused
    // before anything runs.
    let mut damaged = written.clone();
    let mut code = damaged.contracts[0].code.to_vec();
    let last = code.last_mut().expect("recorded code");
    *last = if *last & 0x0f == 0 {
        *last | 0x01
    } else {
        *last & 0xf0
    };
    damaged.contracts[0].code = code.into();
    std::fs::write(&fixture, serde_json::to_string(&damaged).unwrap()).unwrap();
    let output = runner()
        .arg(&file)
        .arg("--out")
        .arg(dir.path().join("damaged"))
        .output()
        .unwrap();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(3), "{err}");
    assert!(err.contains("edited or damaged"), "{err}");
}

#[test]
fn a_bad_fork_url_is_refused_without_echoing_it() {
    let output = runner()
        .args(["validate", "runner/tests/bad/fork_ws_url.toml"])
        .output()
        .unwrap();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(err.contains("wss://rpc.example.com/…"), "{err}");
    assert!(!err.contains("SECRETKEY123"), "{err}");
}
