//! Stage 4, engine: the system under test as a black box. Renders its config
//! template with this run's ports and directories, starts it in a guard, and
//! waits (under a deadline) until its metrics endpoint answers.
//!
//! In: the plan, the chain's URLs, the mock's URL. Out: [`Engine`] (or `None`
//! for harness-only runs); dropping it ends the engine and its children.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::chain::Chain;
use crate::process::{ChildGuard, ProcessError};
use crate::scenario::Plan;

/// The bundled engine's binary name.
pub const REFERENCE_ENGINE: &str = "reference-engine";

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot read engine config template {path}: {source}")]
    Template {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: unknown placeholder ${{{name}}} (known: RPC_HTTP_URL, RPC_WS_URL, ORDERBOOK_URL, METRICS_ADDR, STATE_DIR, CHAIN_ID, CONFIG_PATH)")]
    Placeholder { path: PathBuf, name: String },
    #[error("cannot find the reference engine binary `{REFERENCE_ENGINE}` next to the runner or on PATH; build it with `cargo build --workspace` or set $COWLOAD_REFERENCE_ENGINE")]
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
    #[error("engine metrics at {url} did not answer within {after:?}; its last output:\n{tail}")]
    NotReady {
        url: String,
        after: Duration,
        tail: String,
    },
    #[error("engine exited during the run ({status}); its last output:\n{tail}")]
    Died { status: String, tail: String },
}

/// A running engine.
pub struct Engine {
    guard: ChildGuard,
    pub metrics_url: String,
    /// Program and arguments as started (placeholders filled).
    pub command: Vec<String>,
}

impl Engine {
    pub fn pid(&self) -> u32 {
        self.guard.pid()
    }

    /// `Err(Died)` once the engine has exited on its own.
    pub fn check_alive(&mut self) -> Result<(), EngineError> {
        match self.guard.try_exit_status() {
            Some(status) => Err(EngineError::Died {
                status: status.to_string(),
                tail: self.guard.log_tail(20),
            }),
            None => Ok(()),
        }
    }

    pub fn log_tail(&self, lines: usize) -> String {
        self.guard.log_tail(lines)
    }

    /// Ends the engine (the same happens on drop).
    pub fn stop(self) {
        self.guard.stop();
    }
}

/// Starts the engine the plan names, or returns `None` when it is disabled.
pub async fn start(
    plan: &Plan,
    chain: &Chain,
    orderbook_url: &str,
    run_dir: &Path,
) -> Result<Option<Engine>, EngineError> {
    let spec = &plan.scenario.engine;
    if !spec.enabled {
        return Ok(None);
    }
    let values = placeholder_values(plan, chain, orderbook_url, run_dir)?;
    let template_path = plan
        .engine_config
        .clone()
        .ok_or(EngineError::ReferenceMissing)?;
    let config_path = PathBuf::from(&values["CONFIG_PATH"]);
    let template =
        std::fs::read_to_string(&template_path).map_err(|source| EngineError::Template {
            path: template_path.clone(),
            source,
        })?;
    let rendered = render(&template, &values).map_err(|name| EngineError::Placeholder {
        path: template_path.clone(),
        name,
    })?;
    write(&config_path, &rendered)?;
    let command = command_line(spec.command.as_deref(), &values)?;
    let env: Vec<(String, String)> = spec
        .env
        .iter()
        .map(|(k, v)| Ok((k.clone(), render(v, &values)?)))
        .collect::<Result<_, String>>()
        .map_err(|name| EngineError::Placeholder {
            path: plan.path.clone(),
            name,
        })?;
    let metrics_url = render(&spec.metrics, &values).map_err(|name| EngineError::Placeholder {
        path: plan.path.clone(),
        name,
    })?;
    let log_path = run_dir.join("engine.log");
    let guard = ChildGuard::spawn(
        "engine",
        Path::new(&command[0]),
        &command[1..],
        &env,
        &log_path,
    )?;
    let mut engine = Engine {
        guard,
        metrics_url,
        command,
    };
    wait_ready(&mut engine, spec.startup_timeout.0).await?;
    Ok(Some(engine))
}

fn placeholder_values(
    plan: &Plan,
    chain: &Chain,
    orderbook_url: &str,
    run_dir: &Path,
) -> Result<BTreeMap<&'static str, String>, EngineError> {
    let port = crate::chain::free_port().map_err(|source| EngineError::Io {
        path: run_dir.to_owned(),
        source,
    })?;
    let state_dir = run_dir.join("engine-state");
    std::fs::create_dir_all(&state_dir).map_err(|source| EngineError::Io {
        path: state_dir.clone(),
        source,
    })?;
    let extension = plan
        .engine_config
        .as_deref()
        .and_then(Path::extension)
        .and_then(|e| e.to_str())
        .unwrap_or("toml");
    let config_path = run_dir.join(format!("engine-config.{extension}"));
    Ok(BTreeMap::from([
        ("RPC_HTTP_URL", chain.http_url.clone()),
        ("RPC_WS_URL", chain.ws_url.clone()),
        ("ORDERBOOK_URL", orderbook_url.to_owned()),
        ("METRICS_ADDR", format!("127.0.0.1:{port}")),
        ("STATE_DIR", state_dir.display().to_string()),
        ("CHAIN_ID", chain.chain_id.to_string()),
        ("CONFIG_PATH", config_path.display().to_string()),
    ]))
}

/// Replaces every `${NAME}` with its value; an unknown name is returned as the error.
pub fn render(template: &str, values: &BTreeMap<&'static str, String>) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err(after.chars().take(20).collect());
        };
        let name = &after[..end];
        out.push_str(values.get(name).ok_or_else(|| name.to_owned())?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn command_line(
    command: Option<&[String]>,
    values: &BTreeMap<&'static str, String>,
) -> Result<Vec<String>, EngineError> {
    let command = match command {
        Some(words) => words.to_vec(),
        None => vec![
            reference_engine()?.display().to_string(),
            "--config".to_owned(),
            "${CONFIG_PATH}".to_owned(),
        ],
    };
    command
        .iter()
        .map(|w| render(w, values))
        .collect::<Result<_, _>>()
        .map_err(|name| EngineError::Placeholder {
            path: PathBuf::from("engine.command"),
            name,
        })
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

fn write(path: &Path, text: &str) -> Result<(), EngineError> {
    std::fs::write(path, text).map_err(|source| EngineError::Io {
        path: path.to_owned(),
        source,
    })
}

async fn wait_ready(engine: &mut Engine, timeout: Duration) -> Result<(), EngineError> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .no_proxy()
        .build()
        .expect("a plain HTTP client builds");
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = engine.guard.try_exit_status() {
            return Err(EngineError::ExitedEarly {
                status: status.to_string(),
                tail: engine.guard.log_tail(20),
            });
        }
        if let Ok(response) = client.get(&engine.metrics_url).send().await {
            if response.status().is_success() {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            return Err(EngineError::NotReady {
                url: engine.metrics_url.clone(),
                after: timeout,
                tail: engine.guard.log_tail(20),
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_fills_known_and_refuses_unknown() {
        let values = BTreeMap::from([("A", "1".to_owned()), ("B", "x y".to_owned())]);
        assert_eq!(render("a=${A} b=${B}", &values).unwrap(), "a=1 b=x y");
        assert_eq!(render("none", &values).unwrap(), "none");
        assert_eq!(render("c=${C}", &values).unwrap_err(), "C");
        assert!(render("open ${A", &values).is_err());
    }

    #[test]
    fn the_default_template_uses_only_known_placeholders() {
        let template =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../engine.load.toml"))
                .unwrap();
        let values = BTreeMap::from([
            ("RPC_HTTP_URL", "http://127.0.0.1:1".to_owned()),
            ("RPC_WS_URL", "ws://127.0.0.1:1".to_owned()),
            ("ORDERBOOK_URL", "http://127.0.0.1:2".to_owned()),
            ("METRICS_ADDR", "127.0.0.1:3".to_owned()),
            ("STATE_DIR", "/tmp/state".to_owned()),
            ("CHAIN_ID", "11155111".to_owned()),
            ("CONFIG_PATH", "/tmp/c.toml".to_owned()),
        ]);
        let rendered = render(&template, &values).unwrap();
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
}
