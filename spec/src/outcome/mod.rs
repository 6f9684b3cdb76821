//! The outcome of a run: `outcome.json`, the one result every report format renders from.
//!
//! In: nothing (the runner builds it). Out: the types, with their JSON Schema
//! ([`json_schema`]), reading back ([`Outcome::from_json`]) and writing ([`Outcome::to_json`]).
//! Why here: `runner diff`, `runner search` and anyone reading a run's results work on these
//! types alone; keeping them apart from the code that measures a run keeps that reading
//! independent of how it was measured.
//!
//! Why stable: two runs of the same scenario must differ only where behaviour differed, so
//! that `runner diff` and a plain `git diff` of two outcomes show what moved. Keys follow
//! struct order, maps are `BTreeMap`s, arrays follow block or scenario order, and everything
//! wall-clock (start time, durations, per-block timings, paths of the run directory, the
//! engine log) lives in the one `run` section.

mod bottleneck;
mod faults;
mod metrics;
mod requests;

use std::collections::BTreeMap;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::bars::{Bucket, Measure, Op, Verdict};
use crate::PerKind;

pub use bottleneck::{BlockMetrics, Bottleneck, FirstFailure, Stage, StageGrowth, Stall};
pub use faults::FaultRecord;
pub use metrics::{MetricKind, MetricSummary, Source};
pub use requests::{OrdersSummary, PerOrderRequests, RouteRequests};

/// Version of the outcome.json layout; `runner diff` refuses other versions.
pub const OUTCOME_VERSION: u32 = 1;

/// How the run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Every bar held.
    Pass,
    /// At least one bar failed (or had no data).
    Fail,
    /// Stopped by a signal; what was measured until then is kept.
    Interrupted,
    /// An infrastructure failure stopped the run.
    Error,
}

impl Status {
    /// The status as `outcome.json` writes it: `pass`, `fail`, `interrupted`, `error`.
    pub fn label(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Interrupted => "interrupted",
            Status::Error => "error",
        }
    }
}

/// A load ended before its last block because a bar had already failed in
/// a way no later scrape could undo (`runner search` probes only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EndedEarly {
    /// The bar as written.
    pub bar: String,
    /// The block after whose scrape it was seen failed for good.
    pub block: u64,
}

/// Written while the run went on: a checkpoint's `outcome.json` and `report.md` hold the
/// verdict on the blocks so far, so a run that dies (or a runner that is killed) leaves it.
/// The run's own end rewrites both without it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Checkpoint {
    /// The block after whose scrape it was written.
    pub block: u64,
    /// Loaded blocks mined by then, and how many the scenario asks for.
    pub load_blocks: (u32, u32),
}

/// Events per kind (`twap`: `ComposableCoW.ConditionalOrderCreated`, `ethflow`:
/// `CoWSwapEthFlow.OrderPlacement`), serialised as a map keyed by kind label.
pub type Kinds = crate::PerKind<u64>;

/// Which part of the run a block belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BlockPhase {
    /// Empty blocks before the load.
    Warmup,
    /// Blocks carrying the scenario's events.
    Load,
    /// Empty blocks after the load.
    Drain,
}

/// A load transaction that did not emit its event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FailureRow {
    /// `twap` or `ethflow`.
    pub kind: String,
    /// Transaction hash.
    pub tx: String,
    /// Sender address.
    pub sender: String,
    /// Sender nonce.
    pub nonce: u64,
    /// Why no event was found.
    pub reason: String,
}

/// One block of the timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BlockRow {
    /// Block number.
    pub number: u64,
    /// Warm-up, load or drain.
    pub phase: BlockPhase,
    /// Events the scenario asked for in this block.
    pub requested: Kinds,
    /// Events found on chain in this block.
    pub delivered: Kinds,
    /// TWAPs whose lifetime covers this block.
    pub active_twaps: u64,
    /// What the metrics say about this block's interval.
    #[serde(flatten)]
    pub metrics: BlockMetrics,
    /// Every exact event→order latency (seconds) of the first accepted orders
    /// received in this block's interval, in arrival order: the raw data behind
    /// the two quantiles above, kept so that any quantile can be recomputed
    /// over any set of blocks or repeats.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub event_to_order_samples_seconds: Vec<f64>,
    /// The chain head minus the engine's last processed block (`engine.progress`) at this
    /// block's scrape; absent without that setting or reading.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_lag_blocks: Option<u64>,
    /// Transactions without their event.
    pub failures: Vec<FailureRow>,
}

/// Per-block wall-clock timings (in the `run` section).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BlockTimingRow {
    /// Block number.
    pub number: u64,
    /// Building and signing the block's transactions.
    pub build_ms: f64,
    /// Sending them.
    pub send_ms: f64,
    /// Finding their events after mining.
    pub verify_ms: f64,
    /// How much later than its slot the block was mined.
    pub late_ms: f64,
}

/// Totals over the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Totals {
    /// Events asked for.
    pub requested: Kinds,
    /// Events found on chain.
    pub delivered: Kinds,
    /// delivered / requested; `None` when nothing was requested.
    pub delivered_ratio: Option<f64>,
}

/// Scenario identity: two outcomes are comparable when their hashes agree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ScenarioInfo {
    /// The scenario's name.
    pub name: String,
    /// The file as given on the command line.
    pub file: PathBuf,
    /// SHA-256 of the normalised scenario.
    pub hash: String,
    /// The seed of everything random.
    pub seed: u64,
}

/// What ran: the runner, Anvil and the engine command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Versions {
    /// The runner's version.
    pub runner: String,
    /// `anvil --version`, shortened.
    pub anvil: String,
    /// The engine's command line, with the run directory written as
    /// `<run_dir>`; `None` when the engine was disabled.
    pub engine_command: Option<Vec<String>>,
}

/// Local Anvil with the replayed fixture, or a fork of a live chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChainMode {
    /// A fresh Anvil holding the CoW contracts replayed from the fixture.
    Local,
    /// A fork of `fork_url`.
    Fork,
    /// A fresh Anvil holding contracts loaded from a recorded fixture (`fixture`).
    Recorded,
}

/// The chain the load was fired at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChainInfo {
    /// Local or fork.
    pub mode: ChainMode,
    /// Chain id.
    pub chain_id: u64,
    /// The forked RPC URL, redacted (no keys, no path).
    pub fork_url: Option<String>,
    /// The block forked, or the block a recorded fixture was taken at; `None` for local.
    pub fork_block: Option<u64>,
    /// The recorded fixture file, for `recorded` runs.
    pub fixture: Option<PathBuf>,
    /// Time between two mined blocks.
    pub block_time_seconds: f64,
    /// Block gas limit.
    pub gas_limit: u64,
}

/// One acceptance bar's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BarResult {
    /// The bar as written.
    pub bar: String,
    /// The observed value in base units (seconds, ratio); `None` without data.
    pub observed: Option<f64>,
    /// What the value is measured in (`"s"` for seconds, else `""`).
    pub unit: Measure,
    /// The comparison.
    pub op: Op,
    /// The limit in base units.
    pub limit: f64,
    /// True exactly when there was data and `observed op limit` was known to hold.
    pub holds: bool,
    /// Why there was no data, or why a value above the top bucket could not
    /// decide the bar.
    pub reason: Option<String>,
    /// Histogram quantiles only: the bucket the quantile's rank fell in
    /// (`upper: null` is the `+Inf` bucket: the value is above `observed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<Bucket>,
}

impl From<Verdict> for BarResult {
    fn from(v: Verdict) -> Self {
        BarResult {
            bar: v.bar,
            observed: v.observed.map(round6),
            unit: v.unit,
            op: v.op,
            limit: v.limit,
            holds: v.holds,
            reason: v.reason,
            bucket: v.bucket,
        }
    }
}

/// The scrapes every bar judged: the load window, from the last scrape
/// before the first loaded block was mined to the last one, after drain.
/// Nothing observed during warm-up counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LoadWindow {
    /// The scrape that opens it (its values are the baseline), e.g. `block 3`.
    pub from: String,
    /// The scrape that closes it, normally `end`.
    pub to: String,
    /// How many scrapes it holds, both ends included.
    pub scrapes: usize,
    /// The first loaded block.
    pub first_block: Option<u64>,
    /// The last block mined (the end of drain).
    pub last_block: Option<u64>,
}

/// What the mock orderbook saw, as it publishes at `/_stats`: the outcome keeps
/// the mock's own types, so the two never drift apart.
pub use crate::stats::{EventStats as MockEvents, Stats as MockSummary, Summary as Distribution};

/// The wall-clock section: the only part that differs between two runs of
/// the same scenario with the same behaviour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunSection {
    /// RFC 3339 start time (UTC).
    pub started_at: String,
    /// Whole run.
    pub duration_seconds: f64,
    /// Anvil start plus fixture replay.
    pub chain_setup_seconds: f64,
    /// Runner start → first loaded block mined.
    pub time_to_first_load_block_seconds: Option<f64>,
    /// The run directory.
    pub run_dir: PathBuf,
    /// Unix time of the local chain's genesis block: the wall clock at the
    /// start unless `chain.genesis_timestamp` pins it; absent on a fork.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_genesis_timestamp: Option<u64>,
    /// The engine's last log lines.
    pub engine_log_tail: Vec<String>,
    /// Per-block timings.
    pub blocks: Vec<BlockTimingRow>,
}

/// Everything a run produced; `outcome.json` is this, serialised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "cowload outcome")]
pub struct Outcome {
    /// Layout version ([`OUTCOME_VERSION`]).
    pub version: u32,
    /// Which scenario ran.
    pub scenario: ScenarioInfo,
    /// What ran it.
    pub versions: Versions,
    /// The chain.
    pub chain: ChainInfo,
    /// The verdict.
    pub status: Status,
    /// The runner's exit code for this outcome.
    pub exit_code: u8,
    /// The error that stopped the run, if any.
    pub error: Option<String>,
    /// The bar that ended the load early (`runner search` probes only);
    /// absent when the load ran to its last block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_early: Option<EndedEarly>,
    /// Present only in a checkpoint written while the run went on (see [`Checkpoint`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<Checkpoint>,
    /// Totals.
    pub totals: Totals,
    /// One result per bar, in scenario order.
    pub bars: Vec<BarResult>,
    /// The scrapes the bars judged; `None` when the run never mined a loaded
    /// block (then every bar has no data).
    #[serde(default)]
    pub window: Option<LoadWindow>,
    /// Event→order latency per kind over the load window, from the harness's exact samples
    /// (nearest rank): the figures a bar on `cowload_event_to_order_seconds{kind=…}` reads.
    #[serde(default)]
    pub event_to_order_seconds: PerKind<Distribution>,
    /// What failed first and which stage slowed down most.
    pub bottleneck: Bottleneck,
    /// The per-block timeline.
    pub blocks: Vec<BlockRow>,
    /// What the mock saw; `None` when the run stopped before it could say.
    pub mock: Option<MockSummary>,
    /// What the engine asked the orderbook, by route and status, per accepted
    /// order over the load window (the harness's own traffic left out).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requests_per_order: Vec<RouteRequests>,
    /// Every engine, mock and harness series: `name{labels}` → summary.
    pub metrics: BTreeMap<String, MetricSummary>,
    /// `orders.jsonl` in short: orders by outcome, the first that failed, requests per
    /// order; absent when the mock's books were not closed (the run stopped during start-up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orders: Option<OrdersSummary>,
    /// The scenario's chain-side faults, each with its truth (events during
    /// it, lost, duplicates, recovery time); absent without a `faults:` timeline.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<FaultRecord>,
    /// Wall-clock facts.
    pub run: RunSection,
    /// `runner SCENARIO --repeat N` only: every repeat's own outcome, in run
    /// order (each with its per-block samples), so `runner diff` can treat the
    /// run as its unit of replication. The fields above are then the first
    /// repeat's, except `status`, `exit_code` and `error`: the worst repeat's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repeats: Vec<Outcome>,
}

impl Outcome {
    /// Reads an outcome back, refusing other layout versions.
    pub fn from_json(text: &str) -> Result<Outcome, String> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        match value.get("version").and_then(serde_json::Value::as_u64) {
            Some(v) if v == u64::from(OUTCOME_VERSION) => {}
            Some(v) => {
                return Err(format!(
                    "outcome version {v} is not supported (this runner reads version {OUTCOME_VERSION}); \
                     compare outcomes written by the same runner version"
                ))
            }
            None => return Err("no `version` field: is this a cowload outcome.json?".to_owned()),
        }
        serde_json::from_value(value).map_err(|e| format!("not a cowload outcome: {e}"))
    }

    /// The outcome as pretty JSON with a trailing newline.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("an outcome always serialises") + "\n"
    }
}

/// A value rounded to the millionth (a microsecond, for seconds), as every figure of the
/// outcome: two runs that agree to a millionth print the same, and `-0` prints as `0`.
pub fn round6(x: f64) -> f64 {
    if x.is_finite() {
        (x * 1e6).round() / 1e6 + 0.0
    } else {
        x
    }
}

/// The JSON Schema of `outcome.json` (pretty JSON, trailing newline), as
/// committed in `schemas/outcome.schema.json`.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(Outcome);
    serde_json::to_string_pretty(&schema).expect("a JSON schema always serialises") + "\n"
}

#[cfg(test)]
mod tests {
    use super::round6;

    #[test]
    fn rounding_keeps_microseconds() {
        assert_eq!(round6(0.196_852_608_5), 0.196_853);
        assert_eq!(round6(-0.0), 0.0);
        assert!(round6(f64::INFINITY).is_infinite());
    }

    #[test]
    fn a_status_label_is_its_json_name() {
        use super::Status;
        for status in [
            Status::Pass,
            Status::Fail,
            Status::Interrupted,
            Status::Error,
        ] {
            assert_eq!(serde_json::to_value(status).unwrap(), status.label());
        }
    }
}
