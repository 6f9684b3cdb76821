//! Engine configuration: shepherd's `engine.toml` shape plus a `[reference]` table.
//!
//! In: the text of the config file and a way to read environment variables. Out: a checked
//! [`Settings`] the rest of the engine reads. The file is shepherd's format so the runner can
//! render one template for every engine; keys this engine does not know are ignored (other
//! engines may need them), except inside `[reference]`, which is ours and refuses typos.
//! `REFERENCE_DISPATCH`, `REFERENCE_PER_EVENT_COST`, `REFERENCE_CONCURRENCY`, and the chain-fault
//! defences `REFERENCE_RECONNECT_BACKFILL`, `REFERENCE_PERSIST_CURSOR`, `REFERENCE_REORG_AWARE`
//! (`true`/`false`) and `REFERENCE_CONFIRMATIONS` override the table so a scenario can turn the
//! knobs through the engine's environment alone. Each defence defaults to on; switching one off
//! gives a fault scenario its known wrong answer (see `follow.rs` and `state.rs`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;

/// Environment variable overriding `[reference] dispatch`.
pub const ENV_DISPATCH: &str = "REFERENCE_DISPATCH";
/// Environment variable overriding `[reference] per_event_cost`.
pub const ENV_PER_EVENT_COST: &str = "REFERENCE_PER_EVENT_COST";
/// Environment variable overriding `[reference] concurrency`.
pub const ENV_CONCURRENCY: &str = "REFERENCE_CONCURRENCY";
/// Environment variable overriding `[reference] reconnect_backfill`.
pub const ENV_RECONNECT_BACKFILL: &str = "REFERENCE_RECONNECT_BACKFILL";
/// Environment variable overriding `[reference] persist_cursor`.
pub const ENV_PERSIST_CURSOR: &str = "REFERENCE_PERSIST_CURSOR";
/// Environment variable overriding `[reference] reorg_aware`.
pub const ENV_REORG_AWARE: &str = "REFERENCE_REORG_AWARE";
/// Environment variable overriding `[reference] confirmations`.
pub const ENV_CONFIRMATIONS: &str = "REFERENCE_CONFIRMATIONS";
/// Environment variable overriding `[reference] stall_timeout`.
pub const ENV_STALL_TIMEOUT: &str = "REFERENCE_STALL_TIMEOUT";
/// Environment variable overriding `[reference] stall_check`.
pub const ENV_STALL_CHECK: &str = "REFERENCE_STALL_CHECK";
/// Environment variable overriding `[reference] retry_recoverable`.
pub const ENV_RETRY_RECOVERABLE: &str = "REFERENCE_RETRY_RECOVERABLE";
/// Environment variable overriding `[reference] pin_calls`.
pub const ENV_PIN_CALLS: &str = "REFERENCE_PIN_CALLS";
/// Environment variable overriding `[reference] split_log_ranges`.
pub const ENV_SPLIT_LOG_RANGES: &str = "REFERENCE_SPLIT_LOG_RANGES";
/// Environment variable overriding `[reference] leak_per_event`.
pub const ENV_LEAK_PER_EVENT: &str = "REFERENCE_LEAK_PER_EVENT";

/// Most bytes `leak_per_event` may keep per event: enough for any soak test, small enough
/// that a typo cannot exhaust a machine in seconds.
const MAX_LEAK_PER_EVENT: u64 = 16 << 20;

/// Upper bound on `confirmations`: deeper waits make every order minutes late at 12 s blocks.
const MAX_CONFIRMATIONS: u64 = 64;

/// Upper bound on `concurrency`: far above anything 2–16 cores can use, low enough to catch a
/// typo such as an extra zero.
const MAX_CONCURRENCY: usize = 4096;

/// Why a config could not be turned into [`Settings`]. Messages name the key and the fix.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The path given with `--config`.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The TOML did not parse or had the wrong shape (toml's message carries line and column).
    #[error("invalid config: {0}")]
    Toml(#[from] toml::de::Error),
    /// A key had a value outside what the engine accepts.
    #[error("invalid value for {key}: {value:?}: {hint}")]
    Invalid {
        /// The dotted key (or environment variable) that was wrong.
        key: String,
        /// The value as written.
        value: String,
        /// What a valid value looks like.
        hint: String,
    },
    /// No `[chains.<id>]` table: the engine would have nothing to watch.
    #[error("no [chains.<chain id>] table: add one with rpc_url (ws://…) and orderbook_url")]
    NoChains,
}

/// How events of one block are handed to the modules.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Dispatch {
    /// One event at a time, in log order (the behaviour under question in shepherd).
    Sequential,
    /// Up to `concurrency` events (and, after them, polls) of a block at once.
    Concurrent,
}

impl Dispatch {
    fn parse(key: &str, value: &str) -> Result<Self, ConfigError> {
        match value {
            "sequential" => Ok(Self::Sequential),
            "concurrent" => Ok(Self::Concurrent),
            other => Err(invalid(
                key,
                other,
                "expected \"sequential\" or \"concurrent\"",
            )),
        }
    }
}

/// The checked configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// `[engine] state_dir`: created at start; holds the cursor and posted UIDs when
    /// `persist_cursor` is on (without it nothing persists).
    pub state_dir: Option<PathBuf>,
    /// `[engine] log_level`, a `tracing` filter such as `info` or `info,reference_engine=debug`.
    pub log_level: String,
    /// `[engine.metrics] bind_addr` when metrics are enabled, else `None` (also when the
    /// table is missing, as in shepherd).
    pub metrics_addr: Option<SocketAddr>,
    /// One entry per `[chains.<id>]` table, ordered by chain id.
    pub chains: Vec<ChainSettings>,
    /// The `[reference]` knobs after environment overrides.
    pub reference: ReferenceSettings,
}

/// One `[chains.<id>]` table.
#[derive(Clone, Debug, PartialEq)]
pub struct ChainSettings {
    /// The chain id (the table's key); it also selects the EIP-712 domain of order UIDs.
    pub chain_id: u64,
    /// WebSocket RPC endpoint (`ws://` or `wss://`).
    pub rpc_url: String,
    /// Base URL of the orderbook API (`http://` or `https://`), without a trailing slash.
    pub orderbook_url: String,
}

/// The `[reference]` knobs.
#[derive(Clone, Debug, PartialEq)]
pub struct ReferenceSettings {
    /// Event dispatch mode.
    pub dispatch: Dispatch,
    /// Deterministic sleep before handling each chain event (not each poll).
    pub per_event_cost: Duration,
    /// Parallelism bound in `concurrent` mode (ignored in `sequential` mode).
    pub concurrency: usize,
    /// After a reconnect, fetch every block missed while disconnected (off: they are lost).
    pub reconnect_backfill: bool,
    /// Keep the last handled block, active watches and posted UIDs in `state_dir` and resume
    /// from them after a restart (off: start at the head, forgetting everything).
    pub persist_cursor: bool,
    /// Act on a block only once it is `confirmations` deep, check parent hashes, handle a
    /// reorg's new blocks again and forget retries of removed events (off: act on every head at
    /// once, even one a reorg removes later).
    pub reorg_aware: bool,
    /// How deep a block must be before a reorg-aware engine acts on it: the deepest reorg whose
    /// removed events never become orders, at a latency cost of this many block times. 0 by
    /// default, because the bundled scenarios' latency bars and known answers assume an engine
    /// that acts in the event's own block; a reorg scenario sets it to its depth.
    pub confirmations: u64,
    /// How long the head stream may stay silent before the engine looks into it (0: never).
    pub stall_timeout: Duration,
    /// On a silent stream, ask the node for its head: a chain that has not moved is waited
    /// for, a chain that has means the stream is dead and is re-opened (with backfill). Off:
    /// exit, as a watchdog that takes silence for death does, which turns a stalled chain or
    /// a frozen engine into an outage.
    pub stall_check: bool,
    /// Post again next block what the orderbook could not take now: no answer, 429, 5xx, or a
    /// rejection that can clear on its own (`InsufficientBalance`, `QuoteNotFound`…). Off: drop
    /// the order, as an engine that takes an outage for a verdict does.
    pub retry_recoverable: bool,
    /// Make each TWAP poll (`eth_call`) at the hash of the block it is for: a node behind the
    /// one that delivered the block answers `header not found`, which is retried next block.
    /// Off: at `latest`, where a lagging node answers from a state without the order, whose
    /// revert drops it for good.
    pub pin_calls: bool,
    /// Catching up on blocks the stream skipped, read their logs by range, and split a range
    /// the node refuses (providers cap `eth_getLogs` ranges) in halves down to single blocks.
    /// Off: a refused range is skipped for good, as an engine with a fixed page size does.
    pub split_log_ranges: bool,
    /// A bug on purpose, for soak tests: bytes kept (written, never freed) for every chain
    /// event handled, as an engine that never prunes a per-order list does. 0: none.
    pub leak_per_event: u64,
}

impl Default for ReferenceSettings {
    fn default() -> Self {
        Self {
            dispatch: Dispatch::Sequential,
            per_event_cost: Duration::ZERO,
            concurrency: 8,
            reconnect_backfill: true,
            persist_cursor: true,
            reorg_aware: true,
            confirmations: 0,
            stall_timeout: Duration::from_secs(30),
            stall_check: true,
            retry_recoverable: true,
            pin_calls: true,
            split_log_ranges: true,
            leak_per_event: 0,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct RawConfig {
    #[serde(default)]
    engine: RawEngine,
    #[serde(default)]
    chains: BTreeMap<String, RawChain>,
    reference: Option<RawReference>,
}

#[derive(Debug, Default, Deserialize)]
struct RawEngine {
    state_dir: Option<PathBuf>,
    log_level: Option<String>,
    metrics: Option<RawMetrics>,
}

#[derive(Debug, Deserialize)]
struct RawMetrics {
    #[serde(default = "default_true")]
    enabled: bool,
    bind_addr: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawChain {
    rpc_url: String,
    orderbook_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReference {
    dispatch: Option<String>,
    per_event_cost: Option<String>,
    concurrency: Option<i64>,
    reconnect_backfill: Option<bool>,
    persist_cursor: Option<bool>,
    reorg_aware: Option<bool>,
    confirmations: Option<i64>,
    stall_timeout: Option<String>,
    stall_check: Option<bool>,
    retry_recoverable: Option<bool>,
    pin_calls: Option<bool>,
    leak_per_event: Option<i64>,
    split_log_ranges: Option<bool>,
}

fn default_true() -> bool {
    true
}

/// Read and check the config file at `path`, applying overrides from the process environment.
pub fn load(path: &std::path::Path) -> Result<Settings, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(&text, |name| std::env::var(name).ok())
}

/// Parse config text; `env` answers environment look-ups (injected so tests need no globals).
/// An empty (or blank) environment variable counts as unset, so a template can leave it empty.
pub fn parse(text: &str, env: impl Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
    let env = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    let raw: RawConfig = toml::from_str(text)?;
    let reference = resolve_reference(raw.reference.unwrap_or_default(), &env)?;
    let chains = resolve_chains(raw.chains)?;
    let log_level = raw.engine.log_level.unwrap_or_else(|| "info".to_owned());
    check_log_level(&log_level)?;
    Ok(Settings {
        state_dir: raw.engine.state_dir,
        log_level,
        metrics_addr: resolve_metrics(raw.engine.metrics)?,
        chains,
        reference,
    })
}

fn resolve_metrics(raw: Option<RawMetrics>) -> Result<Option<SocketAddr>, ConfigError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    if !raw.enabled {
        return Ok(None);
    }
    let key = "engine.metrics.bind_addr";
    let Some(addr) = raw.bind_addr else {
        return Err(invalid(
            key,
            "",
            "set it to host:port, e.g. \"127.0.0.1:9464\"",
        ));
    };
    addr.parse().map(Some).map_err(|_| {
        invalid(
            key,
            &addr,
            "expected host:port with a numeric IP, e.g. \"127.0.0.1:9464\"",
        )
    })
}

fn resolve_chains(raw: BTreeMap<String, RawChain>) -> Result<Vec<ChainSettings>, ConfigError> {
    if raw.is_empty() {
        return Err(ConfigError::NoChains);
    }
    let mut chains = Vec::with_capacity(raw.len());
    for (id, chain) in raw {
        let chain_id = id.parse::<u64>().map_err(|_| {
            invalid(
                &format!("chains.{id}"),
                &id,
                "the table key must be a numeric chain id",
            )
        })?;
        chains.push(resolve_chain(chain_id, chain)?);
    }
    chains.sort_by_key(|c| c.chain_id);
    Ok(chains)
}

fn resolve_chain(chain_id: u64, raw: RawChain) -> Result<ChainSettings, ConfigError> {
    let rpc_key = format!("chains.{chain_id}.rpc_url");
    if !(raw.rpc_url.starts_with("ws://") || raw.rpc_url.starts_with("wss://")) {
        return Err(invalid(
            &rpc_key,
            &raw.rpc_url,
            "the engine subscribes to new heads, so use a ws:// or wss:// URL",
        ));
    }
    let ob_key = format!("chains.{chain_id}.orderbook_url");
    let Some(orderbook_url) = raw.orderbook_url else {
        return Err(invalid(
            &ob_key,
            "",
            "set it to the orderbook API base URL, e.g. \"http://127.0.0.1:8080\"",
        ));
    };
    if !(orderbook_url.starts_with("http://") || orderbook_url.starts_with("https://")) {
        return Err(invalid(
            &ob_key,
            &orderbook_url,
            "expected an http:// or https:// URL",
        ));
    }
    Ok(ChainSettings {
        chain_id,
        rpc_url: raw.rpc_url,
        orderbook_url: orderbook_url.trim_end_matches('/').to_owned(),
    })
}

/// Table values first, then environment overrides; each value is checked where it came from so
/// the error names the right source.
fn resolve_reference(
    raw: RawReference,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<ReferenceSettings, ConfigError> {
    let mut out = ReferenceSettings::default();
    if let Some(v) = raw.dispatch {
        out.dispatch = Dispatch::parse("reference.dispatch", &v)?;
    }
    if let Some(v) = env(ENV_DISPATCH) {
        out.dispatch = Dispatch::parse(ENV_DISPATCH, v.trim())?;
    }
    if let Some(v) = raw.per_event_cost {
        out.per_event_cost = parse_cost("reference.per_event_cost", &v)?;
    }
    if let Some(v) = env(ENV_PER_EVENT_COST) {
        out.per_event_cost = parse_cost(ENV_PER_EVENT_COST, v.trim())?;
    }
    if let Some(v) = raw.concurrency {
        out.concurrency = check_concurrency("reference.concurrency", v)?;
    }
    if let Some(v) = env(ENV_CONCURRENCY) {
        let n = v.trim().parse::<i64>().map_err(|_| {
            invalid(
                ENV_CONCURRENCY,
                &v,
                "expected a whole number from 1 to 4096",
            )
        })?;
        out.concurrency = check_concurrency(ENV_CONCURRENCY, n)?;
    }
    out.reconnect_backfill = resolve_flag(raw.reconnect_backfill, env, ENV_RECONNECT_BACKFILL)?
        .unwrap_or(out.reconnect_backfill);
    out.persist_cursor =
        resolve_flag(raw.persist_cursor, env, ENV_PERSIST_CURSOR)?.unwrap_or(out.persist_cursor);
    out.reorg_aware =
        resolve_flag(raw.reorg_aware, env, ENV_REORG_AWARE)?.unwrap_or(out.reorg_aware);
    if let Some(v) = raw.confirmations {
        out.confirmations = check_confirmations("reference.confirmations", v)?;
    }
    if let Some(v) = env(ENV_CONFIRMATIONS) {
        let n = v.trim().parse::<i64>().map_err(|_| {
            invalid(
                ENV_CONFIRMATIONS,
                &v,
                "expected a whole number from 0 to 64",
            )
        })?;
        out.confirmations = check_confirmations(ENV_CONFIRMATIONS, n)?;
    }
    if let Some(v) = raw.stall_timeout {
        out.stall_timeout = parse_cost("reference.stall_timeout", &v)?;
    }
    if let Some(v) = env(ENV_STALL_TIMEOUT) {
        out.stall_timeout = parse_cost(ENV_STALL_TIMEOUT, v.trim())?;
    }
    out.stall_check =
        resolve_flag(raw.stall_check, env, ENV_STALL_CHECK)?.unwrap_or(out.stall_check);
    out.retry_recoverable = resolve_flag(raw.retry_recoverable, env, ENV_RETRY_RECOVERABLE)?
        .unwrap_or(out.retry_recoverable);
    out.pin_calls = resolve_flag(raw.pin_calls, env, ENV_PIN_CALLS)?.unwrap_or(out.pin_calls);
    out.split_log_ranges = resolve_flag(raw.split_log_ranges, env, ENV_SPLIT_LOG_RANGES)?
        .unwrap_or(out.split_log_ranges);
    if let Some(v) = raw.leak_per_event {
        out.leak_per_event = check_leak("reference.leak_per_event", v)?;
    }
    if let Some(v) = env(ENV_LEAK_PER_EVENT) {
        let n = v
            .trim()
            .parse::<i64>()
            .map_err(|_| invalid(ENV_LEAK_PER_EVENT, &v, "expected a whole number of bytes"))?;
        out.leak_per_event = check_leak(ENV_LEAK_PER_EVENT, n)?;
    }
    Ok(out)
}

/// A boolean knob: the environment (`true`/`false`) wins over the table; `None` when neither
/// sets it.
fn resolve_flag(
    table: Option<bool>,
    env: &impl Fn(&str) -> Option<String>,
    var: &str,
) -> Result<Option<bool>, ConfigError> {
    match env(var) {
        Some(v) => match v.trim() {
            "true" => Ok(Some(true)),
            "false" => Ok(Some(false)),
            other => Err(invalid(var, other, "expected true or false")),
        },
        None => Ok(table),
    }
}

fn check_leak(key: &str, value: i64) -> Result<u64, ConfigError> {
    u64::try_from(value)
        .ok()
        .filter(|n| *n <= MAX_LEAK_PER_EVENT)
        .ok_or_else(|| {
            invalid(
                key,
                &value.to_string(),
                "expected a whole number of bytes from 0 to 16777216",
            )
        })
}

fn check_confirmations(key: &str, value: i64) -> Result<u64, ConfigError> {
    u64::try_from(value)
        .ok()
        .filter(|n| *n <= MAX_CONFIRMATIONS)
        .ok_or_else(|| {
            invalid(
                key,
                &value.to_string(),
                "expected a whole number from 0 to 64",
            )
        })
}

fn parse_cost(key: &str, value: &str) -> Result<Duration, ConfigError> {
    humantime::parse_duration(value).map_err(|_| {
        invalid(
            key,
            value,
            "expected a duration such as \"0ms\", \"2ms\" or \"1s\"",
        )
    })
}

fn check_concurrency(key: &str, value: i64) -> Result<usize, ConfigError> {
    usize::try_from(value)
        .ok()
        .filter(|n| (1..=MAX_CONCURRENCY).contains(n))
        .ok_or_else(|| {
            invalid(
                key,
                &value.to_string(),
                "expected a whole number from 1 to 4096",
            )
        })
}

fn check_log_level(level: &str) -> Result<(), ConfigError> {
    tracing_subscriber::EnvFilter::try_new(level)
        .map(|_| ())
        .map_err(|_| {
            invalid(
                "engine.log_level",
                level,
                "expected a tracing filter such as \"info\" or \"info,reference_engine=debug\"",
            )
        })
}

fn invalid(key: &str, value: &str, hint: &str) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_owned(),
        value: value.to_owned(),
        hint: hint.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
        [engine]
        state_dir = "/tmp/state"
        log_level = "debug"
        some_shepherd_key = 1

        [engine.metrics]
        enabled = true
        bind_addr = "127.0.0.1:9464"

        [chains.11155111]
        rpc_url = "ws://127.0.0.1:8545"
        orderbook_url = "http://127.0.0.1:8080/"
        require_ws = true

        [[modules]]
        name = "twap"
    "#;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    /// Environment variables of a test case.
    type Env<'a> = &'a [(&'a str, &'a str)];
    /// One bad-config case: config text, an environment variable, what the error must name.
    type BadCase<'a> = (String, Option<(&'a str, &'a str)>, &'a str);

    #[test]
    fn parses_the_shepherd_shape_and_ignores_unknown_top_level_keys() {
        let s = parse(BASE, no_env).expect("valid config");
        assert_eq!(s.state_dir, Some(PathBuf::from("/tmp/state")));
        assert_eq!(s.log_level, "debug");
        assert_eq!(
            s.metrics_addr,
            Some("127.0.0.1:9464".parse().expect("addr"))
        );
        assert_eq!(
            s.chains,
            vec![ChainSettings {
                chain_id: 11_155_111,
                rpc_url: "ws://127.0.0.1:8545".into(),
                orderbook_url: "http://127.0.0.1:8080".into(),
            }]
        );
        assert_eq!(s.reference, ReferenceSettings::default());
    }

    #[test]
    fn the_shipped_template_parses_once_rendered() {
        let template = include_str!("../../engine.load.toml");
        let rendered = template
            .replace("${STATE_DIR}", "/tmp/s")
            .replace("${METRICS_ADDR}", "127.0.0.1:1")
            .replace("${CHAIN_ID}", "11155111")
            .replace("${RPC_WS_URL}", "ws://127.0.0.1:2")
            .replace("${ORDERBOOK_URL}", "http://127.0.0.1:3");
        let s = parse(&rendered, no_env).expect("rendered template is valid");
        assert_eq!(s.reference.dispatch, Dispatch::Sequential);
        assert_eq!(s.reference.concurrency, 8);
        // The template's one departure from the defaults: a stall timeout of five block times
        // at the shipped scenarios' 1 s blocks.
        assert_eq!(
            s.reference,
            ReferenceSettings {
                stall_timeout: Duration::from_secs(5),
                ..ReferenceSettings::default()
            },
        );
        assert_eq!(s.chains[0].chain_id, 11_155_111);
    }

    #[test]
    fn reference_table_and_environment_precedence() {
        let table = format!(
            "{BASE}\n[reference]\ndispatch = \"concurrent\"\nper_event_cost = \"5ms\"\nconcurrency = 3\n"
        );
        // (environment, expected dispatch, expected cost, expected concurrency)
        let cases: &[(Env, Dispatch, Duration, usize)] = &[
            (&[], Dispatch::Concurrent, Duration::from_millis(5), 3),
            (
                &[(ENV_DISPATCH, "sequential")],
                Dispatch::Sequential,
                Duration::from_millis(5),
                3,
            ),
            (
                &[(ENV_PER_EVENT_COST, "250us")],
                Dispatch::Concurrent,
                Duration::from_micros(250),
                3,
            ),
            (
                &[(ENV_CONCURRENCY, " 16 ")],
                Dispatch::Concurrent,
                Duration::from_millis(5),
                16,
            ),
            (
                &[
                    (ENV_DISPATCH, "sequential"),
                    (ENV_PER_EVENT_COST, "1s"),
                    (ENV_CONCURRENCY, "1"),
                ],
                Dispatch::Sequential,
                Duration::from_secs(1),
                1,
            ),
        ];
        for (env, dispatch, cost, concurrency) in cases {
            let lookup = |name: &str| {
                env.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            };
            let s = parse(&table, lookup).expect("valid");
            assert_eq!(s.reference.dispatch, *dispatch, "env {env:?}");
            assert_eq!(s.reference.per_event_cost, *cost, "env {env:?}");
            assert_eq!(s.reference.concurrency, *concurrency, "env {env:?}");
        }
    }

    #[test]
    fn fault_defences_default_on_and_switch_off_by_table_or_environment() {
        let on = parse(BASE, no_env).expect("valid").reference;
        assert!(on.reconnect_backfill && on.persist_cursor && on.reorg_aware);
        assert_eq!(on.confirmations, 0);

        let table = format!(
            "{BASE}\n[reference]\nreconnect_backfill = false\npersist_cursor = false\nreorg_aware = false\nconfirmations = 3\nstall_check = false\nretry_recoverable = false\npin_calls = false\nsplit_log_ranges = false\n"
        );
        let off = parse(&table, no_env).expect("valid").reference;
        assert!(
            !off.reconnect_backfill
                && !off.persist_cursor
                && !off.reorg_aware
                && !off.stall_check
                && !off.retry_recoverable
                && !off.pin_calls
                && !off.split_log_ranges
        );
        assert_eq!(off.confirmations, 3);

        // (environment variable, value) → the knob it turns, read back from the settings.
        type Read = fn(&ReferenceSettings) -> bool;
        let cases: [(&str, Read); 7] = [
            (ENV_RECONNECT_BACKFILL, |r| r.reconnect_backfill),
            (ENV_PERSIST_CURSOR, |r| r.persist_cursor),
            (ENV_REORG_AWARE, |r| r.reorg_aware),
            (ENV_STALL_CHECK, |r| r.stall_check),
            (ENV_RETRY_RECOVERABLE, |r| r.retry_recoverable),
            (ENV_PIN_CALLS, |r| r.pin_calls),
            (ENV_SPLIT_LOG_RANGES, |r| r.split_log_ranges),
        ];
        for (var, read) in cases {
            let env_off = parse(BASE, |n| (n == var).then(|| " false ".to_owned())).expect("valid");
            assert!(!read(&env_off.reference), "{var}=false");
            let env_on = parse(&table, |n| (n == var).then(|| "true".to_owned())).expect("valid");
            assert!(read(&env_on.reference), "{var}=true beats the table");
        }
        let deep =
            parse(BASE, |n| (n == ENV_CONFIRMATIONS).then(|| "2".to_owned())).expect("valid");
        assert_eq!(deep.reference.confirmations, 2);
        let quick =
            parse(BASE, |n| (n == ENV_STALL_TIMEOUT).then(|| "3s".to_owned())).expect("valid");
        assert_eq!(quick.reference.stall_timeout, Duration::from_secs(3));
        assert_eq!(
            parse(BASE, no_env).expect("valid").reference.stall_timeout,
            Duration::from_secs(30)
        );
    }

    #[test]
    fn the_leak_knob_is_off_unless_set_and_the_environment_wins() {
        assert_eq!(parse(BASE, no_env).unwrap().reference.leak_per_event, 0);
        let table = format!("{BASE}\n[reference]\nleak_per_event = 1000\n");
        assert_eq!(
            parse(&table, no_env).unwrap().reference.leak_per_event,
            1000
        );
        let env = |n: &str| (n == ENV_LEAK_PER_EVENT).then(|| "65536".to_owned());
        assert_eq!(parse(&table, env).unwrap().reference.leak_per_event, 65536);
    }

    #[test]
    fn environment_overrides_apply_without_a_reference_table() {
        let s = parse(BASE, |n| {
            (n == ENV_PER_EVENT_COST).then(|| "10ms".to_owned())
        })
        .expect("valid");
        assert_eq!(s.reference.per_event_cost, Duration::from_millis(10));
    }

    #[test]
    fn blank_environment_variables_count_as_unset() {
        let table = format!("{BASE}\n[reference]\ndispatch = \"concurrent\"\n");
        let s = parse(&table, |_| Some("  ".to_owned())).expect("valid");
        assert_eq!(s.reference.dispatch, Dispatch::Concurrent);
        assert_eq!(s.reference.concurrency, 8);
    }

    #[test]
    fn bad_configs_name_the_offending_key() {
        let metrics_off = BASE.replace("enabled = true", "enabled = false");
        assert_eq!(
            parse(&metrics_off, no_env).expect("valid").metrics_addr,
            None
        );

        // (config text, environment variable, substring the error must contain)
        let cases: Vec<BadCase> = vec![
            (
                format!("{BASE}\n[reference]\ndispatchh = \"concurrent\"\n"),
                None,
                "dispatchh",
            ),
            (
                format!("{BASE}\n[reference]\ndispatch = \"parallel\"\n"),
                None,
                "reference.dispatch",
            ),
            (
                format!("{BASE}\n[reference]\nper_event_cost = \"5 bananas\"\n"),
                None,
                "reference.per_event_cost",
            ),
            (
                format!("{BASE}\n[reference]\nconcurrency = 0\n"),
                None,
                "reference.concurrency",
            ),
            (
                format!("{BASE}\n[reference]\nconcurrency = -2\n"),
                None,
                "reference.concurrency",
            ),
            (BASE.to_owned(), Some((ENV_DISPATCH, "fast")), ENV_DISPATCH),
            (
                BASE.to_owned(),
                Some((ENV_REORG_AWARE, "yes")),
                ENV_REORG_AWARE,
            ),
            (
                BASE.to_owned(),
                Some((ENV_CONFIRMATIONS, "65")),
                ENV_CONFIRMATIONS,
            ),
            (
                format!("{BASE}\n[reference]\nleak_per_event = 16777217\n"),
                None,
                "reference.leak_per_event",
            ),
            (
                BASE.to_owned(),
                Some((ENV_LEAK_PER_EVENT, "1MB")),
                ENV_LEAK_PER_EVENT,
            ),
            (
                format!("{BASE}\n[reference]\nconfirmations = -1\n"),
                None,
                "reference.confirmations",
            ),
            (
                format!("{BASE}\n[reference]\npersist_cursor = \"no\"\n"),
                None,
                "persist_cursor",
            ),
            (
                BASE.to_owned(),
                Some((ENV_CONCURRENCY, "many")),
                ENV_CONCURRENCY,
            ),
            (
                BASE.to_owned(),
                Some((ENV_STALL_TIMEOUT, "soon")),
                ENV_STALL_TIMEOUT,
            ),
            (
                BASE.to_owned(),
                Some((ENV_PER_EVENT_COST, "-1ms")),
                ENV_PER_EVENT_COST,
            ),
            (
                BASE.replace("ws://127.0.0.1:8545", "http://127.0.0.1:8545"),
                None,
                "rpc_url",
            ),
            (
                BASE.replace("http://127.0.0.1:8080/", "127.0.0.1:8080"),
                None,
                "orderbook_url",
            ),
            (
                BASE.replace("orderbook_url = \"http://127.0.0.1:8080/\"", ""),
                None,
                "orderbook_url",
            ),
            (
                BASE.replace("[chains.11155111]", "[chains.sepolia]"),
                None,
                "chains.sepolia",
            ),
            (
                BASE.replace("127.0.0.1:9464", "localhost"),
                None,
                "bind_addr",
            ),
            (
                BASE.replace("log_level = \"debug\"", "log_level = \"loud[\""),
                None,
                "log_level",
            ),
            (
                BASE.replace("[chains.11155111]", "[unused]")
                    .replace("rpc_url", "a")
                    .replace("orderbook_url", "b")
                    .replace("require_ws", "c"),
                None,
                "[chains.",
            ),
            ("[engine\n".to_owned(), None, "invalid config"),
        ];
        for (text, env, needle) in cases {
            let err = parse(&text, |n| {
                env.filter(|(k, _)| *k == n).map(|(_, v)| v.to_owned())
            })
            .expect_err(needle);
            assert!(err.to_string().contains(needle), "{needle:?} not in {err}");
        }
    }

    #[test]
    fn missing_metrics_table_disables_metrics() {
        let text = BASE.replace("[engine.metrics]", "[other]");
        assert_eq!(parse(&text, no_env).expect("valid").metrics_addr, None);
    }
}
