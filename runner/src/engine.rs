//! Stage 4, engine: the system under test as a black box. Renders its config
//! template with this run's ports and directories, starts it in a guard inside
//! a fresh working directory of the run directory, and waits (under a
//! deadline) until it is ready: its metrics answer, plus the scenario's own
//! readiness checks (a health URL, a log line).
//!
//! In: the plan, the chain (URLs, chain id, start block), the mock's URL. Out:
//! [`Engine`] (or `None` for harness-only runs); dropping it ends the engine
//! and its children.
//!
//! Why placeholders and not a fixed config shape: engines are not
//! shepherd-shaped. Each takes its settings its own way (a TOML or JSON file,
//! a `.env`, flags, variables), so the runner fills named values into whatever
//! the scenario writes ([`RUNTIME_PLACEHOLDERS`]) and nothing else.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use regex::Regex;

use crate::chain::Chain;
use crate::process::{ChildGuard, ProcessError};
use crate::scenario::{EngineTemplate, Plan, ReadySpec, RUNTIME_PLACEHOLDERS};

/// The engine's own "last block processed" (`engine.progress`) as read at `point`'s
/// scrape; `None` without the setting, or when that scrape has no such value.
pub fn progress_at(plan: &Plan, point: &crate::metrics::Point) -> Option<u64> {
    let selector = plan.scenario.engine.progress.as_deref()?;
    let bar = crate::bars::parse(&crate::scenario::progress_expression(selector))
        .expect("engine.progress was validated with the scenario");
    let verdict =
        crate::bars::evaluate_over(std::slice::from_ref(&bar), std::slice::from_ref(point));
    let value = verdict.first()?.observed?;
    (value.is_finite() && value >= 0.0).then_some(value as u64)
}

/// The bundled engine's binary name.
pub const REFERENCE_ENGINE: &str = "reference-engine";

/// The reference engine's config template (shepherd's format), compiled in so
/// an installed runner needs no file beside it.
pub const REFERENCE_TEMPLATE: &str = include_str!("../../engine.load.toml");

/// The engine's working directory inside the run directory (`${WORK_DIR}`).
const WORK_DIR_NAME: &str = "engine-work";
/// The engine's state directory inside the run directory (`${STATE_DIR}`).
const STATE_DIR_NAME: &str = "engine-state";

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot read engine config template {path}: {source}")]
    Template {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{field}: unknown placeholder ${{{name}}} (known: {known})", known = RUNTIME_PLACEHOLDERS.join(", "))]
    Placeholder { field: String, name: String },
    #[error("{field}: ${{{name}}} has no value in this run: {why}")]
    Unfilled {
        field: String,
        name: String,
        why: String,
    },
    #[error("cannot find the reference engine binary `{REFERENCE_ENGINE}` next to the runner or on PATH; build it with `cargo build --workspace`, install it with `cargo install --path reference-engine`, or set $COWLOAD_REFERENCE_ENGINE")]
    ReferenceMissing,
    #[error("cannot prepare {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Spawn(#[from] ProcessError),
    #[error("engine exited during start-up ({status}); its last output:\n{tail}")]
    ExitedEarly { status: String, tail: String },
    #[error("engine not ready within {after:?} ({pending}); its last output:\n{tail}")]
    NotReady {
        after: Duration,
        pending: String,
        tail: String,
    },
    #[error("engine exited during the run ({status}); its last output:\n{tail}")]
    Died { status: String, tail: String },
}

/// A running engine.
pub struct Engine {
    /// `None` only while an `engine_restart` fault holds it down.
    guard: Option<ChildGuard>,
    /// Frozen by an `engine_pause` fault (SIGSTOP) until it is continued.
    paused: bool,
    /// How it was started, to start it again the same way.
    launch: Launch,
    /// PIDs of every process started for this run, the first one first.
    pub pids: Vec<u32>,
    pub metrics_url: String,
    /// Program and arguments as started (placeholders filled).
    pub command: Vec<String>,
}

/// Environment, log and directories of an engine start; a restart reuses them
/// all, so the engine finds its state directory as it left it.
struct Launch {
    env: Vec<(String, String)>,
    log_path: PathBuf,
    work_dir: PathBuf,
    /// `${STATE_DIR}`, whose size is published with every scrape.
    state_dir: PathBuf,
}

impl Engine {
    /// The PID of the running process (the last one started).
    pub fn pid(&self) -> u32 {
        self.pids.last().copied().unwrap_or_default()
    }

    /// `Err(Died)` once the engine has exited on its own; a fault's planned
    /// stop is not a death.
    pub fn check_alive(&mut self) -> Result<(), EngineError> {
        let Some(guard) = self.guard.as_mut() else {
            return Ok(());
        };
        match guard.try_exit_status() {
            Some(status) => Err(EngineError::Died {
                status: status.to_string(),
                tail: guard.log_tail(20),
            }),
            None => Ok(()),
        }
    }

    pub fn log_tail(&self, lines: usize) -> String {
        crate::process::log_tail(&self.launch.log_path, lines)
    }

    /// Whether a fault holds the engine down (stopped by `engine_restart`, or frozen by
    /// `engine_pause`): nothing to scrape then.
    pub fn is_down(&self) -> bool {
        self.guard.is_none() || self.paused
    }

    /// What its process group holds now, and the bytes in its state directory; `None`
    /// while a restart fault holds it stopped (a frozen engine is read: it still holds
    /// its memory).
    pub fn usage(&self) -> Option<(crate::resources::Usage, u64)> {
        self.guard.as_ref()?;
        let usage = crate::resources::of_group(self.pid())?;
        Some((usage, crate::resources::dir_bytes(&self.launch.state_dir)))
    }

    /// Freezes the engine for `engine_pause`: SIGSTOP to its process group. Returns what
    /// was done.
    pub fn pause(&mut self) -> String {
        let Some(guard) = self.guard.as_ref() else {
            return "no engine running to pause".to_owned();
        };
        match guard.signal(nix::sys::signal::Signal::SIGSTOP) {
            Ok(()) => {
                self.paused = true;
                format!("SIGSTOP to pid {}", guard.pid())
            }
            Err(e) => format!("could not stop pid {}: {e}", guard.pid()),
        }
    }

    /// Lets a paused engine run on: SIGCONT to its process group.
    pub fn resume(&mut self) -> String {
        let Some(guard) = self.guard.as_ref().filter(|_| self.paused) else {
            return "no paused engine to continue".to_owned();
        };
        self.paused = false;
        match guard.signal(nix::sys::signal::Signal::SIGCONT) {
            Ok(()) => format!("SIGCONT to pid {}", guard.pid()),
            Err(e) => format!("could not continue pid {}: {e}", guard.pid()),
        }
    }

    /// Stops the engine for a fault: `signal` to its process group (SIGKILL:
    /// a crash; SIGTERM: an orderly stop, SIGKILL after the grace period).
    /// Returns how it exited.
    pub fn kill(&mut self, signal: nix::sys::signal::Signal) -> Option<String> {
        let guard = self.guard.take()?;
        // The stop waits (up to the grace period) on this thread; let the
        // runtime move its other tasks (the RPC proxy, the mock) elsewhere.
        let stop = move || guard.stop_with(signal);
        let status = match tokio::runtime::Handle::try_current() {
            Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(stop)
            }
            _ => stop(),
        };
        status.map(|s| s.to_string())
    }

    /// Starts the engine again after [`Engine::kill`]: same command,
    /// environment, working and state directory, appending to the same log.
    /// Readiness is not awaited: recovering is the engine's own work, which
    /// the fault's recovery time measures.
    pub fn respawn(&mut self) -> Result<u32, EngineError> {
        if self.guard.is_some() {
            return Ok(self.pid());
        }
        let guard = ChildGuard::spawn_in(
            "engine",
            Path::new(&self.command[0]),
            &self.command[1..],
            &self.launch.env,
            &self.launch.log_path,
            &self.launch.work_dir,
        )?;
        self.pids.push(guard.pid());
        self.guard = Some(guard);
        Ok(self.pid())
    }

    /// Ends the engine (the same happens on drop).
    pub fn stop(self) {
        if let Some(guard) = self.guard {
            guard.stop();
        }
    }
}

/// This run's values for the runtime placeholders. A placeholder with no
/// value in this run (`CONFIG_PATH` without a template, `CHAIN_NAME` of a
/// chain the orderbook does not serve) carries the reason instead.
struct Values(BTreeMap<&'static str, Result<String, String>>);

impl Values {
    /// Replaces every `${NAME}` in `text`; `field` names where the text came from.
    fn render(&self, field: &str, text: &str) -> Result<String, EngineError> {
        render_with(text, |name| match self.0.get(name) {
            Some(Ok(value)) => Ok(value.clone()),
            Some(Err(why)) => Err(EngineError::Unfilled {
                field: field.to_owned(),
                name: name.to_owned(),
                why: why.clone(),
            }),
            None => Err(EngineError::Placeholder {
                field: field.to_owned(),
                name: name.to_owned(),
            }),
        })
    }

    fn path(&self, name: &str) -> Option<PathBuf> {
        self.0.get(name)?.as_ref().ok().map(PathBuf::from)
    }
}

/// Where the engine reaches the chain: the runner's RPC proxy in front of
/// Anvil ([`crate::chain::proxy`]), so chain-side faults reach the engine only.
#[derive(Debug, Clone)]
pub struct EngineRpc {
    pub http_url: String,
    pub ws_url: String,
}

/// Starts the engine the plan names, or returns `None` when it is disabled.
pub async fn start(
    plan: &Plan,
    chain: &Chain,
    rpc: &EngineRpc,
    orderbook_url: &str,
    run_dir: &Path,
) -> Result<Option<Engine>, EngineError> {
    let spec = &plan.scenario.engine;
    if !spec.enabled {
        return Ok(None);
    }
    let values = placeholder_values(plan, chain, rpc, orderbook_url, run_dir)?;
    if let Some(template) = &plan.engine_config {
        render_config(template, &values)?;
    }
    let command = command_line(plan, &values)?;
    let env: Vec<(String, String)> = spec
        .env
        .iter()
        .map(|(key, value)| {
            Ok((
                key.clone(),
                values.render(&format!("engine.env.{key}"), value)?,
            ))
        })
        .collect::<Result<_, EngineError>>()?;
    let metrics_url = values.render("engine.metrics", &spec.metrics)?;
    let ready_url = spec
        .ready
        .http
        .as_deref()
        .map(|url| values.render("engine.ready.http", url))
        .transpose()?;
    let work_dir = values.path("WORK_DIR").expect("WORK_DIR is always filled");
    let state_dir = values
        .path("STATE_DIR")
        .expect("STATE_DIR is always filled");
    let log_path = run_dir.join("engine.log");
    let guard = ChildGuard::spawn_in(
        "engine",
        Path::new(&command[0]),
        &command[1..],
        &env,
        &log_path,
        &work_dir,
    )?;
    let mut engine = Engine {
        pids: vec![guard.pid()],
        guard: Some(guard),
        paused: false,
        launch: Launch {
            env,
            log_path: log_path.clone(),
            work_dir,
            state_dir,
        },
        metrics_url,
        command,
    };
    let readiness = Readiness::new(&engine.metrics_url, ready_url, &spec.ready, &log_path);
    wait_ready(&mut engine, readiness, spec.startup_timeout.0).await?;
    Ok(Some(engine))
}

fn placeholder_values(
    plan: &Plan,
    chain: &Chain,
    rpc: &EngineRpc,
    orderbook_url: &str,
    run_dir: &Path,
) -> Result<Values, EngineError> {
    let port = crate::chain::free_port().map_err(|source| EngineError::Io {
        path: run_dir.to_owned(),
        source,
    })?;
    let state_dir = fresh_dir(&run_dir.join(STATE_DIR_NAME))?;
    let work_dir = fresh_dir(&run_dir.join(WORK_DIR_NAME))?;
    let config_path = plan
        .engine_config
        .as_ref()
        .map(|template| {
            run_dir
                .join(rendered_config_name(template))
                .display()
                .to_string()
        })
        .ok_or_else(|| "the engine is disabled".to_owned());
    Ok(Facts {
        rpc_http_url: rpc.http_url.clone(),
        rpc_ws_url: rpc.ws_url.clone(),
        orderbook_url: orderbook_url.to_owned(),
        metrics_port: port,
        state_dir,
        work_dir,
        scenario_dir: plan.scenario_dir.clone(),
        start_block: chain.start_block,
        chain_id: chain.chain_id,
        config_path,
    }
    .values())
}

/// What the runner picked for this run, before it becomes placeholder text.
struct Facts {
    rpc_http_url: String,
    rpc_ws_url: String,
    orderbook_url: String,
    metrics_port: u16,
    state_dir: PathBuf,
    work_dir: PathBuf,
    scenario_dir: PathBuf,
    start_block: u64,
    chain_id: u64,
    config_path: Result<String, String>,
}

impl Facts {
    fn values(self) -> Values {
        let host = "127.0.0.1";
        let chain_name = cowprotocol::chain::Chain::try_from(self.chain_id)
            .map(|named| named.orderbook_slug().to_owned())
            .map_err(|_| {
                format!(
                    "chain id {} is not one the CoW orderbook serves",
                    self.chain_id
                )
            });
        let shown = |path: &Path| Ok(path.display().to_string());
        Values(BTreeMap::from([
            ("RPC_HTTP_URL", Ok(self.rpc_http_url)),
            ("RPC_WS_URL", Ok(self.rpc_ws_url)),
            ("ORDERBOOK_URL", Ok(self.orderbook_url)),
            ("METRICS_ADDR", Ok(format!("{host}:{}", self.metrics_port))),
            ("METRICS_HOST", Ok(host.to_owned())),
            ("METRICS_PORT", Ok(self.metrics_port.to_string())),
            ("STATE_DIR", shown(&self.state_dir)),
            ("WORK_DIR", shown(&self.work_dir)),
            ("SCENARIO_DIR", shown(&self.scenario_dir)),
            ("START_BLOCK", Ok(self.start_block.to_string())),
            ("CHAIN_ID", Ok(self.chain_id.to_string())),
            ("CHAIN_NAME", chain_name),
            ("CONFIG_PATH", self.config_path),
        ]))
    }
}

/// Creates `path` as an empty directory (run directories are fresh, so it is new).
fn fresh_dir(path: &Path) -> Result<PathBuf, EngineError> {
    std::fs::create_dir_all(path).map_err(|source| EngineError::Io {
        path: path.to_owned(),
        source,
    })?;
    Ok(path.to_owned())
}

/// `engine-config` plus the template's extension, so an engine that picks
/// its parser by extension (`.json`, `.yaml`, `.toml`, `.env`) reads it as
/// written; a dotfile such as `.env` counts as its extension.
fn rendered_config_name(template: &EngineTemplate) -> String {
    let name = match template {
        EngineTemplate::Reference => "engine.load.toml".to_owned(),
        EngineTemplate::File(path) => path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    let extension = match name.strip_prefix('.') {
        Some(dotfile) if !dotfile.contains('.') => Some(dotfile),
        _ => name.rsplit_once('.').map(|(_, ext)| ext),
    };
    match extension {
        Some(ext) if !ext.is_empty() => format!("engine-config.{ext}"),
        _ => "engine-config".to_owned(),
    }
}

fn render_config(template: &EngineTemplate, values: &Values) -> Result<(), EngineError> {
    let (field, text) = match template {
        EngineTemplate::Reference => (
            "the reference engine's template".to_owned(),
            REFERENCE_TEMPLATE.to_owned(),
        ),
        EngineTemplate::File(path) => (
            path.display().to_string(),
            std::fs::read_to_string(path).map_err(|source| EngineError::Template {
                path: path.clone(),
                source,
            })?,
        ),
    };
    let rendered = values.render(&field, &text)?;
    let config_path = values
        .path("CONFIG_PATH")
        .expect("a template implies CONFIG_PATH");
    std::fs::write(&config_path, rendered).map_err(|source| EngineError::Io {
        path: config_path,
        source,
    })
}

/// Replaces every `${NAME}` with `lookup(NAME)`.
fn render_with<E>(
    template: &str,
    mut lookup: impl FnMut(&str) -> Result<String, E>,
) -> Result<String, E> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            // An unclosed `${` is text, not a placeholder.
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        out.push_str(&lookup(&after[..end])?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The program and its arguments, placeholders filled. A relative program
/// with a `/` is taken relative to the scenario file (the engine itself runs
/// in its work directory, so "relative to the current directory" would be
/// ambiguous); a bare name is looked up on PATH as usual.
fn command_line(plan: &Plan, values: &Values) -> Result<Vec<String>, EngineError> {
    let words = match &plan.scenario.engine.command {
        Some(words) => words.clone(),
        None => vec![
            reference_engine()?.display().to_string(),
            "--config".to_owned(),
            "${CONFIG_PATH}".to_owned(),
        ],
    };
    let mut command = words
        .iter()
        .map(|word| values.render("engine.command", word))
        .collect::<Result<Vec<_>, _>>()?;
    let program = Path::new(&command[0]);
    if program.is_relative() && command[0].contains('/') {
        command[0] = plan.scenario_dir.join(program).display().to_string();
    }
    Ok(command)
}

/// `$COWLOAD_REFERENCE_ENGINE`, the runner's own directory, then PATH.
fn reference_engine() -> Result<PathBuf, EngineError> {
    if let Some(path) = std::env::var_os("COWLOAD_REFERENCE_ENGINE").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    let sibling = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(REFERENCE_ENGINE)));
    let on_path = std::env::var_os("PATH").into_iter().flat_map(|p| {
        std::env::split_paths(&p)
            .map(|dir| dir.join(REFERENCE_ENGINE))
            .collect::<Vec<_>>()
    });
    sibling
        .into_iter()
        .chain(on_path)
        .find(|p| p.is_file())
        .ok_or(EngineError::ReferenceMissing)
}

/// The checks that make an engine ready; each is met once and stays met.
struct Readiness {
    metrics_url: String,
    metrics_ok: bool,
    http: Option<(String, bool)>,
    log: Option<(Regex, LogScan, bool)>,
}

impl Readiness {
    fn new(metrics_url: &str, http: Option<String>, spec: &ReadySpec, log_path: &Path) -> Self {
        Self {
            metrics_url: metrics_url.to_owned(),
            metrics_ok: false,
            http: http.map(|url| (url, false)),
            log: spec.log.as_deref().map(|pattern| {
                // Validation compiled it already; a failure here is a bug.
                let regex = Regex::new(pattern).expect("engine.ready.log was validated");
                (regex, LogScan::new(log_path), false)
            }),
        }
    }

    async fn poll(&mut self, client: &reqwest::Client) -> bool {
        if !self.metrics_ok {
            self.metrics_ok = answers_2xx(client, &self.metrics_url).await;
        }
        if let Some((url, ok)) = &mut self.http {
            if !*ok {
                *ok = answers_2xx(client, url).await;
            }
        }
        if let Some((regex, scan, ok)) = &mut self.log {
            if !*ok {
                *ok = scan.new_lines().iter().any(|line| regex.is_match(line));
            }
        }
        self.pending().is_empty()
    }

    /// The checks not met yet, for the time-out message.
    fn pending(&self) -> Vec<String> {
        let mut pending = Vec::new();
        if !self.metrics_ok {
            pending.push(format!("metrics {} never answered 2xx", self.metrics_url));
        }
        if let Some((url, false)) = &self.http {
            pending.push(format!("ready.http {url} never answered 2xx"));
        }
        if let Some((regex, _, false)) = &self.log {
            pending.push(format!(
                "no output line matched ready.log /{}/",
                regex.as_str()
            ));
        }
        pending
    }
}

async fn answers_2xx(client: &reqwest::Client, url: &str) -> bool {
    client
        .get(url)
        .send()
        .await
        .is_ok_and(|response| response.status().is_success())
}

/// Reads a growing log file line by line, each complete line once.
struct LogScan {
    path: PathBuf,
    offset: u64,
    partial: String,
}

impl LogScan {
    fn new(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            offset: 0,
            partial: String::new(),
        }
    }

    /// The complete lines written since the last call.
    fn new_lines(&mut self) -> Vec<String> {
        let Ok(mut file) = std::fs::File::open(&self.path) else {
            return Vec::new();
        };
        let mut bytes = Vec::new();
        if file.seek(SeekFrom::Start(self.offset)).is_err() || file.read_to_end(&mut bytes).is_err()
        {
            return Vec::new();
        }
        self.offset += bytes.len() as u64;
        self.partial.push_str(&String::from_utf8_lossy(&bytes));
        let Some(last_newline) = self.partial.rfind('\n') else {
            return Vec::new();
        };
        let rest = self.partial.split_off(last_newline + 1);
        let complete = std::mem::replace(&mut self.partial, rest);
        complete.lines().map(str::to_owned).collect()
    }
}

async fn wait_ready(
    engine: &mut Engine,
    mut readiness: Readiness,
    timeout: Duration,
) -> Result<(), EngineError> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .no_proxy()
        .build()
        .expect("a plain HTTP client builds");
    let deadline = Instant::now() + timeout;
    loop {
        if let Err(EngineError::Died { status, tail }) = engine.check_alive() {
            return Err(EngineError::ExitedEarly { status, tail });
        }
        if readiness.poll(&client).await {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(EngineError::NotReady {
                after: timeout,
                pending: readiness.pending().join("; "),
                tail: engine.log_tail(20),
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pairs: &[(&'static str, Result<&str, &str>)]) -> Values {
        Values(
            pairs
                .iter()
                .map(|(k, v)| (*k, v.map(str::to_owned).map_err(str::to_owned)))
                .collect(),
        )
    }

    #[test]
    fn render_fills_known_and_refuses_unknown_or_unfilled() {
        let values = values(&[("A", Ok("1")), ("B", Ok("x y")), ("C", Err("no reason"))]);
        assert_eq!(values.render("f", "a=${A} b=${B}").unwrap(), "a=1 b=x y");
        assert_eq!(values.render("f", "none").unwrap(), "none");
        assert_eq!(values.render("f", "open ${A").unwrap(), "open ${A");
        let unknown = values.render("engine.command", "d=${D}").unwrap_err();
        assert!(matches!(&unknown, EngineError::Placeholder { name, .. } if name == "D"));
        assert!(unknown.to_string().contains("METRICS_PORT"), "{unknown}");
        let unfilled = values
            .render("engine.env.X", "c=${C}")
            .unwrap_err()
            .to_string();
        assert_eq!(
            unfilled,
            "engine.env.X: ${C} has no value in this run: no reason"
        );
    }

    fn facts(chain_id: u64, config_path: Result<String, String>) -> Facts {
        Facts {
            rpc_http_url: "http://127.0.0.1:1".to_owned(),
            rpc_ws_url: "ws://127.0.0.1:1".to_owned(),
            orderbook_url: "http://127.0.0.1:2".to_owned(),
            metrics_port: 4567,
            state_dir: PathBuf::from("/run/engine-state"),
            work_dir: PathBuf::from("/run/engine-work"),
            scenario_dir: PathBuf::from("/repo/scenarios"),
            start_block: 14,
            chain_id,
            config_path,
        }
    }

    #[test]
    fn every_runtime_placeholder_is_filled_and_nothing_else() {
        let values = facts(11155111, Ok("/run/engine-config.toml".to_owned())).values();
        let names: Vec<&str> = values.0.keys().copied().collect();
        let mut want = RUNTIME_PLACEHOLDERS.to_vec();
        want.sort_unstable();
        assert_eq!(names, want);
        assert!(values.0.values().all(Result::is_ok));
        let rendered = values
            .render(
                "t",
                "${METRICS_HOST}:${METRICS_PORT} ${CHAIN_NAME} from ${START_BLOCK}",
            )
            .unwrap();
        assert_eq!(rendered, "127.0.0.1:4567 sepolia from 14");
        let mainnet = facts(1, Ok(String::new())).values();
        assert_eq!(mainnet.render("t", "${CHAIN_NAME}").unwrap(), "mainnet");
    }

    #[test]
    fn a_chain_the_orderbook_does_not_serve_has_no_name() {
        let values = facts(31337, Err("no template".to_owned())).values();
        let error = values
            .render("engine.command", "${CHAIN_NAME}")
            .unwrap_err();
        assert!(error.to_string().contains("chain id 31337"), "{error}");
        assert_eq!(values.render("x", "${CHAIN_ID}").unwrap(), "31337");
        let error = values
            .render("engine.command", "${CONFIG_PATH}")
            .unwrap_err();
        assert!(error.to_string().contains("no template"), "{error}");
    }

    #[test]
    fn the_rendered_config_keeps_the_template_extension() {
        let file = |name: &str| EngineTemplate::File(PathBuf::from("/t").join(name));
        let cases = [
            (file("watch.json"), "engine-config.json"),
            (file("watch.yaml"), "engine-config.yaml"),
            (file("a.b.toml"), "engine-config.toml"),
            (file(".env"), "engine-config.env"),
            (file("prod.env"), "engine-config.env"),
            (file("Procfile"), "engine-config"),
            (EngineTemplate::Reference, "engine-config.toml"),
        ];
        for (template, want) in cases {
            assert_eq!(rendered_config_name(&template), want, "{template:?}");
        }
    }

    #[test]
    fn the_embedded_template_uses_only_known_placeholders() {
        let mut filled: BTreeMap<&'static str, Result<String, String>> = RUNTIME_PLACEHOLDERS
            .iter()
            .map(|name| (*name, Ok(format!("<{name}>"))))
            .collect();
        filled.insert("RPC_WS_URL", Ok("ws://127.0.0.1:1".to_owned()));
        filled.insert("METRICS_ADDR", Ok("127.0.0.1:3".to_owned()));
        filled.insert("CHAIN_ID", Ok("11155111".to_owned()));
        let rendered = Values(filled).render("t", REFERENCE_TEMPLATE).unwrap();
        let parsed: toml::Table = toml::from_str(&rendered).unwrap();
        assert_eq!(
            parsed["chains"]["11155111"]["rpc_url"].as_str(),
            Some("ws://127.0.0.1:1")
        );
        assert_eq!(
            parsed["engine"]["metrics"]["bind_addr"].as_str(),
            Some("127.0.0.1:3")
        );
    }

    #[test]
    fn the_log_scan_yields_each_complete_line_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("engine.log");
        let mut scan = LogScan::new(&path);
        assert!(scan.new_lines().is_empty(), "no file yet");
        std::fs::write(&path, "one\ntw").unwrap();
        assert_eq!(scan.new_lines(), ["one"]);
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        std::io::Write::write_all(&mut file, b"o\nthree\n").unwrap();
        assert_eq!(scan.new_lines(), ["two", "three"]);
        assert!(scan.new_lines().is_empty());
    }
}
