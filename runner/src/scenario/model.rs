//! The scenario file's data model: one set of serde types for YAML and TOML.
//!
//! These types are what a user writes. Every struct refuses unknown fields, every
//! field that may be left out has a documented default, and the JSON Schema in
//! `schemas/scenario.schema.json` is generated from them (`runner schema`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

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
}

fn default_seed() -> u64 {
    1
}

/// Where the chain comes from and how fast it mines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChainSpec {
    /// Chain id of the local Anvil (1 or 11155111: the ids the contract fixture covers).
    #[serde(default = "default_chain_id")]
    pub id: u64,
    /// Time between two blocks the runner mines.
    #[serde(default = "default_block_time")]
    pub block_time: Dur,
    /// Block gas limit; raise it for more than ~500 events per block.
    #[serde(default = "default_gas_limit")]
    pub gas_limit: u64,
    /// Directory holding `replay.<chainId>.json`. Default: `$COW_FIXTURES`, else
    /// `../shared/fixtures/cow-contracts` relative to the working directory.
    #[serde(default)]
    pub fixtures: Option<PathBuf>,
    /// Fork a live chain instead of replaying the fixture (not supported yet).
    #[serde(default)]
    pub fork: Option<ForkSpec>,
}

fn default_chain_id() -> u64 {
    11_155_111
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
        }
    }
}

/// An RPC endpoint to fork, pinned to a block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ForkSpec {
    /// RPC URL; usually `${RPC_URL_SEPOLIA_HTTP}`. Redacted in every output.
    pub url: String,
    /// Block to fork at; latest when left out.
    #[serde(default)]
    pub block: Option<u64>,
}

/// The load: events per block and for how many blocks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoadSpec {
    /// Empty blocks mined after the engine is up and before the first event.
    #[serde(default = "default_warmup_blocks")]
    pub warmup_blocks: u32,
    /// Blocks that carry events.
    pub blocks: u32,
    /// Empty blocks mined after the last event, so the engine can finish.
    #[serde(default = "default_drain_blocks")]
    pub drain_blocks: u32,
    /// Events per loaded block.
    pub per_block: PerBlock,
    /// Shape of the TWAP orders created.
    #[serde(default)]
    pub twap: TwapSpec,
    /// Shape of the EthFlow orders created.
    #[serde(default)]
    pub ethflow: EthFlowSpec,
}

fn default_warmup_blocks() -> u32 {
    2
}
fn default_drain_blocks() -> u32 {
    3
}

/// How many events of each kind go into one block.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PerBlock {
    /// `ComposableCoW.create` transactions per block.
    #[serde(default)]
    pub twap: u32,
    /// `CoWSwapEthFlow.createOrder` transactions per block.
    #[serde(default)]
    pub ethflow: u32,
}

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
    /// Number of owner accounts the creates are spread over.
    #[serde(default = "default_accounts")]
    pub owners: u32,
    /// Parts per TWAP (`n`).
    #[serde(default = "default_parts")]
    pub parts: u32,
    /// Duration of one part (`t`); a TWAP stays active for parts × part_duration.
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
    /// Number of sender accounts the createOrders are spread over.
    #[serde(default = "default_accounts")]
    pub senders: u32,
    /// How long each order stays valid after its block.
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

/// The mock orderbook's behaviour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderbookSpec {
    /// Fixed delay added to every answer.
    #[serde(default = "default_latency")]
    pub latency: Dur,
    /// Fraction of order posts answered with each CoW errorType (sum ≤ 1).
    #[serde(default)]
    pub errors: BTreeMap<String, f64>,
    /// An event with no order this many blocks after its own counts as lost.
    #[serde(default = "default_order_deadline_blocks")]
    pub order_deadline_blocks: u32,
}

fn default_latency() -> Dur {
    Dur(Duration::ZERO)
}
fn default_order_deadline_blocks() -> u32 {
    3
}

impl Default for OrderbookSpec {
    fn default() -> Self {
        Self {
            latency: default_latency(),
            errors: BTreeMap::new(),
            order_deadline_blocks: default_order_deadline_blocks(),
        }
    }
}

/// The engine under test: a black box with a command, a config template and a
/// metrics URL. Placeholders `${RPC_HTTP_URL}`, `${RPC_WS_URL}`, `${ORDERBOOK_URL}`,
/// `${METRICS_ADDR}`, `${STATE_DIR}`, `${CHAIN_ID}` and `${CONFIG_PATH}` are filled
/// per run; every other `${VAR}` comes from the environment when the file is read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EngineSpec {
    /// `false` runs chain, load and mock only (harness-only runs).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Program and arguments. Left out: the bundled `reference-engine --config ${CONFIG_PATH}`.
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// Extra environment variables for the engine process.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Config template, relative to the scenario file. Default: `engine.load.toml` at the project root.
    #[serde(default)]
    pub config: Option<PathBuf>,
    /// Prometheus endpoint of the engine.
    #[serde(default = "default_metrics_url")]
    pub metrics: String,
    /// How long the engine may take until its metrics endpoint answers.
    #[serde(default = "default_startup_timeout")]
    pub startup_timeout: Dur,
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
        }
    }
}

/// A duration written as text with a unit: `1s`, `500ms`, `2m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dur(pub Duration);

impl Serialize for Dur {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(self.0).to_string())
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(text.trim())
            .map(Dur)
            .map_err(|e| {
                serde::de::Error::custom(format!(
                    "bad duration {text:?}: {e} (write e.g. 1s, 500ms, 2m)"
                ))
            })
    }
}

impl JsonSchema for Dur {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A duration with a unit, e.g. 1s, 500ms, 2m",
            "pattern": "^\\s*[0-9]+(\\.[0-9]+)?\\s*(ns|us|µs|ms|s|sec|m|min|h)(\\s*[0-9]+\\s*(ns|us|µs|ms|s|m|h))*\\s*$"
        })
    }
}
