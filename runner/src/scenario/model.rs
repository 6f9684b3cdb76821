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
    /// Blocks that carry events (1 to 100000).
    pub blocks: u32,
    /// Empty blocks mined after the last event, so the engine can finish (at
    /// most 100000; with the engine enabled, at least `orderbook.order_deadline_blocks`).
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
    /// `ComposableCoW.create` transactions per block (at most 100000).
    #[serde(default)]
    pub twap: u32,
    /// `CoWSwapEthFlow.createOrder` transactions per block (at most 100000).
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

/// The mock orderbook's behaviour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderbookSpec {
    /// Delay added to every `/api/…` answer: a duration (`10ms`), a distribution
    /// (`{distribution: lognormal, p50: 20ms, p99: 200ms}`) or one per endpoint with spikes.
    #[serde(default)]
    pub latency: LatencySpec,
    /// Fraction of order posts answered with each CoW errorType (sum ≤ 1).
    #[serde(default)]
    pub errors: BTreeMap<String, f64>,
    /// How long a `SlowResponse` fault (from `errors`) holds its answer, a 504.
    #[serde(default = "default_slow_response")]
    pub slow_response: Dur,
    /// A token bucket per API route; requests finding it empty get 429. None: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitSpec>,
    /// An event with no order this many blocks after its own counts as lost (1 to 1000).
    #[serde(default = "default_order_deadline_blocks")]
    pub order_deadline_blocks: u32,
}

fn default_slow_response() -> Dur {
    Dur(mock_orderbook::DEFAULT_SLOW_RESPONSE)
}
fn default_order_deadline_blocks() -> u32 {
    3
}

impl Default for OrderbookSpec {
    fn default() -> Self {
        Self {
            latency: LatencySpec::default(),
            errors: BTreeMap::new(),
            slow_response: default_slow_response(),
            rate_limit: None,
            order_deadline_blocks: default_order_deadline_blocks(),
        }
    }
}

/// A token bucket per API route (`POST /api/v1/orders`, `GET /api/v1/orders/{uid}`,
/// `GET /api/v1/app_data/{hash}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSpec {
    /// Sustained requests per second each route accepts (at least 1).
    pub per_second: u32,
    /// Requests a route accepts at once after being idle (at least 1). Default: `per_second`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u32>,
}

/// The latency the mock adds: one delay for every endpoint, or one per endpoint plus spikes.
///
/// Written as a duration (`10ms`), a distribution map with a `distribution` key, or a map
/// with `post_orders`, `get` and `spikes` keys.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LatencySpec {
    /// The same delay on every endpoint.
    All(DelaySpec),
    /// A delay per endpoint (left out: none) and optional spikes.
    PerEndpoint {
        /// `POST /api/v1/orders`.
        post_orders: DelaySpec,
        /// `GET /api/v1/orders/{uid}` and `GET /api/v1/app_data/{hash}`.
        get: DelaySpec,
        /// Extra delay for a window every period, on every endpoint.
        spikes: Option<SpikesSpec>,
    },
}

impl Default for LatencySpec {
    fn default() -> Self {
        LatencySpec::All(DelaySpec::default())
    }
}

impl LatencySpec {
    /// The mock's latency config for this spec.
    pub fn to_mock(&self) -> mock_orderbook::Latency {
        match self {
            LatencySpec::All(delay) => mock_orderbook::Latency::same(delay.to_mock()),
            LatencySpec::PerEndpoint {
                post_orders,
                get,
                spikes,
            } => mock_orderbook::Latency {
                post_orders: post_orders.to_mock(),
                get: get.to_mock(),
                spikes: spikes.map(|s| mock_orderbook::Spikes {
                    every: s.every.0,
                    duration: s.duration.0,
                    extra: s.extra.0,
                }),
            },
        }
    }
}

/// One delay: fixed or drawn (seeded) from a distribution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DelaySpec {
    /// `10ms` or `{distribution: fixed, value: 10ms}`.
    Fixed(Dur),
    /// `{distribution: uniform, min: 5ms, max: 50ms}`.
    Uniform {
        /// Shortest delay.
        min: Dur,
        /// Longest delay.
        max: Dur,
    },
    /// `{distribution: normal, mean: 20ms, std_dev: 5ms}`; negative draws become 0.
    Normal {
        /// Mean.
        mean: Dur,
        /// Standard deviation.
        std_dev: Dur,
    },
    /// `{distribution: lognormal, p50: 20ms, p99: 200ms}`: median and 0.99 quantile.
    LogNormal {
        /// Median.
        p50: Dur,
        /// 0.99 quantile.
        p99: Dur,
    },
}

impl Default for DelaySpec {
    fn default() -> Self {
        DelaySpec::Fixed(Dur(Duration::ZERO))
    }
}

impl DelaySpec {
    /// The mock's delay for this spec.
    pub fn to_mock(&self) -> mock_orderbook::Delay {
        use mock_orderbook::Delay;
        match *self {
            DelaySpec::Fixed(d) => Delay::Fixed(d.0),
            DelaySpec::Uniform { min, max } => Delay::Uniform {
                min: min.0,
                max: max.0,
            },
            DelaySpec::Normal { mean, std_dev } => Delay::Normal {
                mean: mean.0,
                std_dev: std_dev.0,
            },
            DelaySpec::LogNormal { p50, p99 } => Delay::LogNormal {
                p50: p50.0,
                p99: p99.0,
            },
        }
    }
}

/// Extra delay for `duration` at the start of every `every`, counted from the mock's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SpikesSpec {
    /// Period between the starts of two spikes.
    pub every: Dur,
    /// Length of each spike (at most `every`).
    pub duration: Dur,
    /// Delay added to every request arriving during a spike.
    pub extra: Dur,
}

/// Every key a latency map may hold: a distribution's keys, then the
/// per-endpoint ones. One list, so the two views below cannot drift apart.
const LATENCY_KEYS: &[&str] = &[
    "distribution",
    "value",
    "min",
    "max",
    "mean",
    "std_dev",
    "p50",
    "p99",
    "post_orders",
    "get",
    "spikes",
];
/// The keys of a distribution map, in the order they are serialised.
const DELAY_KEYS: &[&str] = LATENCY_KEYS.split_at(8).0;
/// The keys of a per-endpoint latency map.
const ENDPOINT_KEYS: &[&str] = LATENCY_KEYS.split_at(8).1;
/// The `distribution` values.
const DISTRIBUTIONS: &[&str] = &["fixed", "uniform", "normal", "lognormal"];

impl DelaySpec {
    /// The `distribution` value and the fields of the map form.
    fn fields(&self) -> (&'static str, Vec<(&'static str, Dur)>) {
        match *self {
            DelaySpec::Fixed(value) => ("fixed", vec![("value", value)]),
            DelaySpec::Uniform { min, max } => ("uniform", vec![("min", min), ("max", max)]),
            DelaySpec::Normal { mean, std_dev } => {
                ("normal", vec![("mean", mean), ("std_dev", std_dev)])
            }
            DelaySpec::LogNormal { p50, p99 } => ("lognormal", vec![("p50", p50), ("p99", p99)]),
        }
    }
}

impl Serialize for DelaySpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        if let DelaySpec::Fixed(value) = self {
            return value.serialize(s);
        }
        let (distribution, fields) = self.fields();
        let mut map = s.serialize_map(Some(fields.len() + 1))?;
        map.serialize_entry("distribution", distribution)?;
        for (key, value) in fields {
            map.serialize_entry(key, &value)?;
        }
        map.end()
    }
}

impl Serialize for LatencySpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            LatencySpec::All(delay) => delay.serialize(s),
            LatencySpec::PerEndpoint {
                post_orders,
                get,
                spikes,
            } => {
                let mut map = s.serialize_map(None)?;
                map.serialize_entry("post_orders", post_orders)?;
                map.serialize_entry("get", get)?;
                if let Some(spikes) = spikes {
                    map.serialize_entry("spikes", spikes)?;
                }
                map.end()
            }
        }
    }
}

/// The distribution fields read from one map, before they are checked for the distribution.
#[derive(Default)]
struct DelayFields {
    distribution: Option<String>,
    durations: BTreeMap<&'static str, Dur>,
}

impl DelayFields {
    /// Reads the value of `key` (one of [`DELAY_KEYS`]).
    fn read<'de, A: serde::de::MapAccess<'de>>(
        &mut self,
        key: &'static str,
        map: &mut A,
    ) -> Result<(), A::Error> {
        let duplicate = || serde::de::Error::duplicate_field(key);
        if key == "distribution" {
            if self.distribution.is_some() {
                return Err(duplicate());
            }
            self.distribution = Some(map.next_value()?);
        } else if self.durations.insert(key, map.next_value()?).is_some() {
            return Err(duplicate());
        }
        Ok(())
    }

    /// The delay the fields describe, or a message naming what is missing or extra.
    fn build<E: serde::de::Error>(mut self) -> Result<DelaySpec, E> {
        let Some(distribution) = self.distribution.take() else {
            return Err(E::custom(
                "a latency map needs `distribution: fixed|uniform|normal|lognormal` (or write a duration such as 10ms)",
            ));
        };
        let wanted: &[&str] = match distribution.as_str() {
            "fixed" => &["value"],
            "uniform" => &["min", "max"],
            "normal" => &["mean", "std_dev"],
            "lognormal" => &["p50", "p99"],
            other => return Err(E::unknown_variant(other, DISTRIBUTIONS)),
        };
        if let Some(extra) = self.durations.keys().find(|k| !wanted.contains(k)) {
            return Err(E::custom(format!(
                "`{extra}` does not belong to a {distribution} latency; it takes {}",
                wanted.join(" and ")
            )));
        }
        let take = |key: &'static str| {
            self.durations.get(key).copied().ok_or_else(|| {
                E::custom(format!(
                    "a {distribution} latency needs {} (missing `{key}`)",
                    wanted.join(" and ")
                ))
            })
        };
        Ok(match distribution.as_str() {
            "fixed" => DelaySpec::Fixed(take("value")?),
            "uniform" => DelaySpec::Uniform {
                min: take("min")?,
                max: take("max")?,
            },
            "normal" => DelaySpec::Normal {
                mean: take("mean")?,
                std_dev: take("std_dev")?,
            },
            _ => DelaySpec::LogNormal {
                p50: take("p50")?,
                p99: take("p99")?,
            },
        })
    }
}

/// Reads a latency or delay: a duration string, or a map whose keys decide the form.
struct LatencyVisitor {
    /// Whether the per-endpoint form is allowed (not inside `post_orders`/`get`).
    per_endpoint: bool,
}

impl<'de> serde::de::Visitor<'de> for LatencyVisitor {
    type Value = LatencySpec;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a duration such as 10ms, or a map such as {distribution: lognormal, p50: 20ms, p99: 200ms}")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<LatencySpec, E> {
        let dur = Dur::deserialize(serde::de::value::StrDeserializer::<E>::new(text))?;
        Ok(LatencySpec::All(DelaySpec::Fixed(dur)))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<LatencySpec, A::Error> {
        use serde::de::Error;
        let mut delay = DelayFields::default();
        let mut post_orders = None;
        let mut get = None;
        let mut spikes = None;
        let expected: &[&str] = if self.per_endpoint {
            LATENCY_KEYS
        } else {
            DELAY_KEYS
        };
        let (mut saw_endpoint, mut saw_delay) = (false, false);
        while let Some(key) = map.next_key::<String>()? {
            let endpoint_key = ENDPOINT_KEYS.contains(&key.as_str());
            if endpoint_key && !self.per_endpoint {
                return Err(A::Error::custom(format!(
                    "`{key}` goes directly under `latency`, not inside an endpoint's latency"
                )));
            }
            saw_endpoint |= endpoint_key;
            saw_delay |= !endpoint_key;
            if saw_endpoint && saw_delay {
                return Err(A::Error::custom(
                    "a latency map is either a distribution (distribution, …) or per endpoint (post_orders, get, spikes), not both",
                ));
            }
            match key.as_str() {
                "post_orders" => post_orders = Some(map.next_value::<DelaySpec>()?),
                "get" => get = Some(map.next_value::<DelaySpec>()?),
                "spikes" => spikes = Some(map.next_value::<SpikesSpec>()?),
                other => match DELAY_KEYS.iter().find(|k| **k == other) {
                    Some(known) => delay.read(known, &mut map)?,
                    None => return Err(A::Error::unknown_field(other, expected)),
                },
            }
        }
        if saw_endpoint {
            return Ok(LatencySpec::PerEndpoint {
                post_orders: post_orders.unwrap_or_default(),
                get: get.unwrap_or_default(),
                spikes,
            });
        }
        delay.build().map(LatencySpec::All)
    }
}

impl<'de> Deserialize<'de> for LatencySpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LatencyVisitor { per_endpoint: true })
    }
}

impl<'de> Deserialize<'de> for DelaySpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match d.deserialize_any(LatencyVisitor {
            per_endpoint: false,
        })? {
            LatencySpec::All(delay) => Ok(delay),
            LatencySpec::PerEndpoint { .. } => Err(serde::de::Error::custom(
                "an endpoint's latency cannot itself be per endpoint",
            )),
        }
    }
}

/// A `{distribution: <name>, <a>: duration, <b>: duration}` schema.
fn distribution_schema(
    generator: &mut schemars::SchemaGenerator,
    name: &str,
    fields: &[(&str, &str)],
    description: &str,
) -> schemars::Schema {
    let duration = generator.subschema_for::<Dur>();
    let mut properties = serde_json::Map::new();
    properties.insert(
        "distribution".to_owned(),
        serde_json::json!({ "const": name }),
    );
    let mut required = vec!["distribution".to_owned()];
    for (field, what) in fields {
        let mut schema = duration.clone();
        schema.insert("description".to_owned(), serde_json::json!(what));
        properties.insert((*field).to_owned(), schema.to_value());
        required.push((*field).to_owned());
    }
    schemars::json_schema!({
        "type": "object",
        "description": description,
        "properties": properties,
        "required": required,
        "additionalProperties": false
    })
}

impl JsonSchema for DelaySpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Delay".into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let fixed_text = generator.subschema_for::<Dur>();
        let fixed = distribution_schema(
            generator,
            "fixed",
            &[("value", "The delay.")],
            "Always the same delay.",
        );
        let uniform = distribution_schema(
            generator,
            "uniform",
            &[("min", "Shortest delay."), ("max", "Longest delay.")],
            "Uniform between min and max.",
        );
        let normal = distribution_schema(
            generator,
            "normal",
            &[("mean", "Mean delay."), ("std_dev", "Standard deviation.")],
            "Normal; negative draws become 0.",
        );
        let lognormal = distribution_schema(
            generator,
            "lognormal",
            &[
                ("p50", "Median delay (above 0)."),
                ("p99", "0.99 quantile (at least p50)."),
            ],
            "Log-normal with this median and 0.99 quantile: a long tail.",
        );
        schemars::json_schema!({
            "description": "A delay: a duration such as 10ms, or a seeded distribution map with a `distribution` key. Draws are capped at 60s.",
            "oneOf": [fixed_text, fixed, uniform, normal, lognormal]
        })
    }
}

impl JsonSchema for LatencySpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Latency".into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let delay = generator.subschema_for::<DelaySpec>();
        let spikes = generator.subschema_for::<SpikesSpec>();
        schemars::json_schema!({
            "description": "Latency added to /api answers: one delay for every endpoint, or a map with post_orders, get and spikes.",
            "anyOf": [
                delay,
                {
                    "type": "object",
                    "description": "A delay per endpoint (left out: 0s) and optional spikes.",
                    "properties": {
                        "post_orders": delay,
                        "get": delay,
                        "spikes": spikes
                    },
                    "additionalProperties": false
                }
            ]
        })
    }
}

#[cfg(test)]
mod orderbook_tests {
    use super::*;

    fn ms(n: u64) -> Dur {
        Dur(Duration::from_millis(n))
    }

    fn yaml(text: &str) -> Result<OrderbookSpec, String> {
        serde_yaml_ng::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn latency_forms_parse() {
        let per_endpoint = LatencySpec::PerEndpoint {
            post_orders: DelaySpec::LogNormal {
                p50: ms(20),
                p99: ms(200),
            },
            get: DelaySpec::Fixed(ms(2)),
            spikes: Some(SpikesSpec {
                every: ms(60_000),
                duration: ms(5_000),
                extra: ms(1_000),
            }),
        };
        let cases: &[(&str, LatencySpec)] = &[
            ("latency: 10ms", LatencySpec::All(DelaySpec::Fixed(ms(10)))),
            (
                "latency: {distribution: fixed, value: 1s}",
                LatencySpec::All(DelaySpec::Fixed(ms(1_000))),
            ),
            (
                "latency: {distribution: uniform, min: 5ms, max: 50ms}",
                LatencySpec::All(DelaySpec::Uniform { min: ms(5), max: ms(50) }),
            ),
            (
                "latency: {std_dev: 5ms, distribution: normal, mean: 20ms}",
                LatencySpec::All(DelaySpec::Normal { mean: ms(20), std_dev: ms(5) }),
            ),
            (
                "latency:\n  distribution: lognormal\n  p50: 20ms\n  p99: 200ms",
                LatencySpec::All(DelaySpec::LogNormal { p50: ms(20), p99: ms(200) }),
            ),
            (
                "latency:\n  post_orders: {distribution: lognormal, p50: 20ms, p99: 200ms}\n  get: 2ms\n  spikes: {every: 60s, duration: 5s, extra: 1s}",
                per_endpoint,
            ),
            (
                "latency: {get: 3ms}",
                LatencySpec::PerEndpoint {
                    post_orders: DelaySpec::Fixed(ms(0)),
                    get: DelaySpec::Fixed(ms(3)),
                    spikes: None,
                },
            ),
        ];
        for (text, want) in cases {
            let spec = yaml(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(spec.latency, *want, "{text}");
            // The serialised form reads back the same (the scenario hash relies on it).
            let json = serde_json::to_string(&spec).expect("serialises");
            let back: OrderbookSpec = serde_json::from_str(&json).expect("reads back");
            assert_eq!(back, spec, "{json}");
        }
        let toml: OrderbookSpec = toml::from_str(
            "latency = { distribution = \"lognormal\", p50 = \"20ms\", p99 = \"200ms\" }\nrate_limit = { per_second = 100, burst = 20 }\n",
        )
        .expect("TOML inline table");
        assert_eq!(
            toml.latency,
            LatencySpec::All(DelaySpec::LogNormal {
                p50: ms(20),
                p99: ms(200)
            })
        );
        assert_eq!(
            toml.rate_limit,
            Some(RateLimitSpec {
                per_second: 100,
                burst: Some(20)
            })
        );
    }

    #[test]
    fn a_fixed_latency_serialises_as_before() {
        let spec = yaml("latency: 10ms").expect("valid");
        let json = serde_json::to_value(&spec).expect("serialises");
        assert_eq!(json["latency"], "10ms");
        assert!(json.get("rate_limit").is_none());
    }

    #[test]
    fn bad_latencies_say_what_to_write() {
        let cases = [
            (
                "latency: {distribution: pareto, p50: 1ms}",
                "unknown variant `pareto`",
            ),
            (
                "latency: {distribution: uniform, min: 5ms}",
                "missing `max`",
            ),
            (
                "latency: {distribution: normal, mean: 5ms, std_dev: 1ms, p99: 2ms}",
                "`p99` does not belong",
            ),
            ("latency: {p50: 20ms, p99: 200ms}", "needs `distribution"),
            (
                "latency: {distribution: fixed, value: 1ms, get: 2ms}",
                "not both",
            ),
            (
                "latency: {post_orders: {get: 1ms}}",
                "directly under `latency`",
            ),
            ("latency: {post: 1ms}", "unknown field `post`"),
            (
                "latency: {distribution: fixed, value: soon}",
                "bad duration",
            ),
            (
                "latency: {get: 1ms, spikes: {every: 1s}}",
                "missing field `duration`",
            ),
            ("latency: 10", "a duration such as 10ms"),
            (
                "rate_limit: {per_second: 1, bucket: 2}",
                "unknown field `bucket`",
            ),
        ];
        for (text, want) in cases {
            let err = yaml(text).expect_err(text);
            assert!(err.contains(want), "{text}: {err}");
        }
    }

    #[test]
    fn specs_convert_to_the_mock_config() {
        let spec =
            yaml("latency: {post_orders: 5ms, spikes: {every: 10s, duration: 1s, extra: 100ms}}")
                .expect("valid");
        let latency = spec.latency.to_mock();
        assert_eq!(
            latency.post_orders,
            mock_orderbook::Delay::Fixed(Duration::from_millis(5))
        );
        assert_eq!(latency.get, mock_orderbook::Delay::Fixed(Duration::ZERO));
        assert_eq!(
            latency.spikes.map(|s| (s.every, s.duration, s.extra)),
            Some((
                Duration::from_secs(10),
                Duration::from_secs(1),
                Duration::from_millis(100)
            ))
        );
        assert_eq!(spec.slow_response.0, mock_orderbook::DEFAULT_SLOW_RESPONSE);
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
