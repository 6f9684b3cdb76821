//! The scenario file's data model: one set of serde types for YAML and TOML.
//!
//! These types are what a user writes. Every struct refuses unknown fields, every
//! field that may be left out has a documented default, and the JSON Schema in
//! `schemas/scenario.schema.json` is generated from them (`runner schema`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::faults::{RpcLimits, Span};
/// The `orderbook:` section is the mock's own settings type: one syntax, one set of checks.
pub use crate::orderbook::{DelaySpec, Dur, LatencySpec, OrderbookSpec, RateLimitSpec, SpikesSpec};
use crate::{EventKind, PerKind};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The only scenario format version this runner understands.
pub const SCENARIO_VERSION: u32 = 1;

/// A load-test scenario: the chain, the load, the mock orderbook, the engine and
/// the bars the run must clear.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Format version; must be 1.
    pub version: u32,
    /// Short name, used for the run directory (`runs/<name>-<timestamp>`).
    pub name: String,
    /// One line saying what the scenario exercises.
    #[serde(default)]
    pub description: String,
    /// Seed for everything random: calldata, mock latency and errors.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// The chain the load is fired at.
    #[serde(default)]
    pub chain: ChainSpec,
    /// How many events to fire, for how long.
    pub load: LoadSpec,
    /// The mock orderbook's behaviour.
    #[serde(default)]
    pub orderbook: OrderbookSpec,
    /// The engine under test. Left out: the bundled reference engine.
    #[serde(default)]
    pub engine: EngineSpec,
    /// Acceptance bars, e.g. `quantile(0.99, shepherd_event_latency_seconds) < 2s`.
    #[serde(default)]
    pub bars: Vec<String>,
    /// Chain-side faults injected during the load, one at a time
    /// (docs/scenarios.md, "Faults").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<super::faults::FaultSpec>,
}

fn default_seed() -> u64 {
    1
}

/// Where the chain comes from and how fast it mines. Three modes: local (the
/// default: a fresh Anvil with the contract fixture replayed), `fork` (Anvil
/// forking an RPC URL) and `fixture` (a fresh Anvil loaded from a file written
/// by `runner fixture record`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChainSpec {
    /// Chain id. Local mode: 1 or 11155111 (the ids the contract fixture
    /// covers). Fork and fixture mode: the fork's or the fixture's; when written
    /// here it must agree (checked when the run starts).
    #[serde(default = "default_chain_id")]
    pub id: u64,
    /// Time between two blocks the runner mines (100ms to 60s). Block
    /// timestamps are whole seconds and advance by max(1s, block_time rounded
    /// down) per block, so below 1s chain time runs faster than wall time.
    #[serde(default = "default_block_time")]
    pub block_time: Dur,
    /// Block gas limit; raise it for more than ~500 events per block.
    #[serde(default = "default_gas_limit")]
    pub gas_limit: u64,
    /// Directory holding `replay.<chainId>.json` and `weth9.json`, relative to
    /// the scenario file. Default: `$COW_FIXTURES` (relative to the working
    /// directory), else the fixture compiled into the runner.
    #[serde(default)]
    pub fixtures: Option<PathBuf>,
    /// Fork a live chain instead of replaying the contract fixture.
    #[serde(default)]
    pub fork: Option<ForkSpec>,
    /// A chain fixture recorded with `runner fixture record` (relative to the
    /// scenario file): its contracts' code and storage are loaded instead of
    /// replaying the deployments, and their code hashes verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixture: Option<PathBuf>,
    /// Unix time (seconds) of the local chain's genesis block. Left out: the
    /// wall clock when the run starts (recorded in outcome.json under `run`), so
    /// an engine that compares block time with its own clock sees a chain in
    /// step with it. Pin it for byte-identical calldata from run to run. Not
    /// with `fork` (a fork keeps the forked chain's time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub genesis_timestamp: Option<u64>,
    /// A hosted provider's limits on the engine's requests, for the whole run: the largest
    /// `eth_getLogs` block range, requests per second, the largest answer. Left out: none.
    #[serde(default, skip_serializing_if = "RpcLimits::is_none")]
    pub rpc_limits: RpcLimits,
}

/// Chain id of local mode when the scenario names none: Sepolia.
pub const DEFAULT_CHAIN_ID: u64 = 11_155_111;

fn default_chain_id() -> u64 {
    DEFAULT_CHAIN_ID
}
fn default_block_time() -> Dur {
    Dur(Duration::from_secs(1))
}
fn default_gas_limit() -> u64 {
    30_000_000
}

impl Default for ChainSpec {
    fn default() -> Self {
        Self {
            id: default_chain_id(),
            block_time: default_block_time(),
            gas_limit: default_gas_limit(),
            fixtures: None,
            fork: None,
            fixture: None,
            genesis_timestamp: None,
            rpc_limits: RpcLimits::default(),
        }
    }
}

/// An RPC endpoint to fork, pinned to a block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ForkSpec {
    /// HTTP(S) JSON-RPC URL; usually `${RPC_URL_SEPOLIA_HTTP}`. It may carry an
    /// API key: it is redacted in every output, and Anvil never sees it (the
    /// runner relays Anvil's fork requests).
    pub url: String,
    /// Block to fork at; the latest block when left out (the run then records
    /// which block that was).
    #[serde(default)]
    pub block: Option<u64>,
}

/// The load: events per block and for how many blocks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoadSpec {
    /// Empty blocks mined after the engine is up and before the first event (at most 100000).
    #[serde(default = "default_warmup_blocks")]
    pub warmup_blocks: u32,
    /// Blocks that carry events (1 to 100000). Give this or `duration`.
    #[serde(default)]
    pub blocks: u32,
    /// How long to load instead of how many blocks (`6h`, `7d`): that many block times of
    /// loaded blocks, rounded up ([`LoadSpec::blocks_for`]). Give this or `blocks`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<Dur>,
    /// Empty blocks mined after the last event, so the engine can finish (at
    /// most 100000; with the engine enabled, at least `orderbook.order_deadline_blocks`).
    #[serde(default = "default_drain_blocks")]
    pub drain_blocks: u32,
    /// Events per loaded block.
    pub per_block: PerBlock,
    /// Bursts on top of the steady load, for soaks with quiet stretches and busy ones:
    /// every `every`, the last `for` of it carries the burst's `per_block` instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bursts: Option<BurstSpec>,
    /// Shape of the TWAP orders created.
    #[serde(default)]
    pub twap: TwapSpec,
    /// Shape of the EthFlow orders created.
    #[serde(default)]
    pub ethflow: EthFlowSpec,
}

/// A repeated burst: each cycle of `every` is the steady `per_block`, then `for` of the
/// burst's `per_block` at its end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BurstSpec {
    /// The cycle's length: `N blocks` or a duration in block times (`1h`).
    pub every: Span,
    /// How much of each cycle is burst (its last blocks): shorter than `every`.
    #[serde(rename = "for")]
    pub lasts: Span,
    /// Events per block during a burst.
    pub per_block: PerBlock,
}

impl LoadSpec {
    /// Events in loaded block `index` (1 for the first loaded block): the burst's during
    /// the last `for` blocks of each `every`, else the steady `per_block`.
    pub fn per_block_at(&self, index: u32, block_time: Duration) -> PerBlock {
        let Some(bursts) = &self.bursts else {
            return self.per_block;
        };
        let cycle = bursts.every.blocks(block_time).max(1);
        let burst = bursts.lasts.blocks(block_time).min(cycle);
        let position = u64::from(index.max(1) - 1) % cycle;
        if position >= cycle - burst {
            bursts.per_block
        } else {
            self.per_block
        }
    }

    /// The most events any one loaded block carries, per kind (for the gas pre-flight).
    pub fn busiest_block(&self) -> PerBlock {
        match &self.bursts {
            Some(bursts) => {
                PerKind::from_fn(|kind| self.per_block[kind].max(bursts.per_block[kind]))
            }
            None => self.per_block,
        }
    }

    /// How many loaded blocks `duration` takes at `block_time`, rounded up; 0 for a zero
    /// block time (which validation refuses on its own).
    pub fn blocks_for(duration: Duration, block_time: Duration) -> u64 {
        if block_time.is_zero() {
            return 0;
        }
        duration.as_nanos().div_ceil(block_time.as_nanos()) as u64
    }

    /// Fills `blocks` from `duration` when only the duration was written; a scenario that
    /// gives both keeps both, for validation to refuse.
    pub fn resolve_duration(&mut self, block_time: Duration) {
        if let (0, Some(duration)) = (self.blocks, self.duration) {
            self.blocks =
                u32::try_from(Self::blocks_for(duration.0, block_time)).unwrap_or(u32::MAX);
        }
    }

    /// How many accounts send `kind`'s transactions (TWAP owners, EthFlow senders).
    pub fn accounts(&self, kind: EventKind) -> u32 {
        match kind {
            EventKind::Twap => self.twap.owners,
            EventKind::EthFlow => self.ethflow.senders,
        }
    }
}

fn default_warmup_blocks() -> u32 {
    2
}
fn default_drain_blocks() -> u32 {
    3
}

/// How many events of each kind go into one block (`twap`: `ComposableCoW.create`
/// transactions, `ethflow`: `CoWSwapEthFlow.createOrder` transactions; each at most 100000).
pub type PerBlock = PerKind<u32>;

/// What kind of account owns the TWAP orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OwnerKind {
    /// EIP-7702 delegation to the ExtensibleFallbackHandler (Safe-style signature).
    Eip7702,
    /// Code that always reverts (ERC-1271 forwarder signature).
    RevertCode,
    /// A plain EOA: every poll reverts; reproduces the broken set-up on purpose.
    Eoa,
}

/// Shape of the TWAP conditional orders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TwapSpec {
    /// Owner account kind.
    #[serde(default = "default_owner")]
    pub owner: OwnerKind,
    /// Number of owner accounts the creates are spread over (1 to 10000).
    #[serde(default = "default_accounts")]
    pub owners: u32,
    /// Parts per TWAP (`n`, 2 to 1000000).
    #[serde(default = "default_parts")]
    pub parts: u32,
    /// Duration of one part (`t`, above 0s, at most 365days), in chain time; a
    /// TWAP stays active for parts × part_duration.
    #[serde(default = "default_part_duration")]
    pub part_duration: Dur,
}

fn default_owner() -> OwnerKind {
    OwnerKind::Eip7702
}
fn default_accounts() -> u32 {
    16
}
fn default_parts() -> u32 {
    10
}
fn default_part_duration() -> Dur {
    Dur(Duration::from_secs(60))
}

impl Default for TwapSpec {
    fn default() -> Self {
        Self {
            owner: default_owner(),
            owners: default_accounts(),
            parts: default_parts(),
            part_duration: default_part_duration(),
        }
    }
}

/// Shape of the EthFlow orders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EthFlowSpec {
    /// Number of sender accounts the createOrders are spread over (1 to 10000).
    #[serde(default = "default_accounts")]
    pub senders: u32,
    /// How long each order stays valid after its block, in chain time (at most 365days).
    #[serde(default = "default_valid_for")]
    pub valid_for: Dur,
}

fn default_valid_for() -> Dur {
    Dur(Duration::from_secs(3600))
}

impl Default for EthFlowSpec {
    fn default() -> Self {
        Self {
            senders: default_accounts(),
            valid_for: default_valid_for(),
        }
    }
}

/// The engine under test: a black box with a command, a config template and a
/// metrics URL. Placeholders `${RPC_HTTP_URL}`, `${RPC_WS_URL}`, `${ORDERBOOK_URL}`,
/// `${METRICS_ADDR}`, `${METRICS_HOST}`, `${METRICS_PORT}`, `${STATE_DIR}`,
/// `${WORK_DIR}`, `${SCENARIO_DIR}`, `${START_BLOCK}`, `${CHAIN_ID}`,
/// `${CHAIN_NAME}` and `${CONFIG_PATH}` are filled per run (docs/engines.md);
/// every other `${VAR}` comes from the environment when the file is read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EngineSpec {
    /// `false` runs chain, load and mock only (harness-only runs).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Program and arguments. Left out: the bundled `reference-engine --config ${CONFIG_PATH}`.
    /// A relative program with a `/` (`./engine`) is relative to the scenario file;
    /// the engine runs in a fresh directory inside the run directory (`${WORK_DIR}`).
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// Extra environment variables for the engine process.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Config template in the engine's own format, relative to the scenario file;
    /// rendered per run to `${CONFIG_PATH}`, keeping its extension. Left out: the
    /// reference engine's template (shepherd's format) compiled into the runner.
    #[serde(default)]
    pub config: Option<PathBuf>,
    /// Prometheus endpoint of the engine.
    #[serde(default = "default_metrics_url")]
    pub metrics: String,
    /// How long the engine may take until it is ready (1s to 10m).
    #[serde(default = "default_startup_timeout")]
    pub startup_timeout: Dur,
    /// When the engine is ready for the load, beyond its metrics answering.
    #[serde(default, skip_serializing_if = "ReadySpec::is_default")]
    pub ready: ReadySpec,
    /// The engine's own "last block processed" series, e.g. `watch_tower_block_height` or
    /// `reference_head_block{chain_id="11155111"}`: the progress line and the plot show the
    /// engine's lag behind the chain head, and a fault is charged with every block the
    /// engine had not read when it began (without it, the block mined just before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,
}

/// Readiness beyond "the metrics endpoint answers" (always required, since the
/// runner scrapes it before the load). Every check given must hold within
/// `startup_timeout`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadySpec {
    /// A loopback HTTP URL that must answer 2xx, e.g. a health endpoint that
    /// answers only once the engine has synced (placeholders allowed).
    #[serde(default)]
    pub http: Option<String>,
    /// A regular expression that a line of the engine's output must match,
    /// e.g. `synced to block \d+`.
    #[serde(default)]
    pub log: Option<String>,
}

impl ReadySpec {
    fn is_default(&self) -> bool {
        self == &Self::default()
    }
}

fn default_true() -> bool {
    true
}
fn default_metrics_url() -> String {
    "http://${METRICS_ADDR}/metrics".to_owned()
}
fn default_startup_timeout() -> Dur {
    Dur(Duration::from_secs(30))
}

impl Default for EngineSpec {
    fn default() -> Self {
        Self {
            enabled: true,
            command: None,
            env: BTreeMap::new(),
            config: None,
            metrics: default_metrics_url(),
            startup_timeout: default_startup_timeout(),
            ready: ReadySpec::default(),
            progress: None,
        }
    }
}
