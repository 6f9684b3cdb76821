//! Stage 8, report: `outcome.json` (stable, diffable), `report.md` (readable in a
//! pull request), `plot.svg`, JUnit XML and the terminal summary. Everything the
//! run measured ends up here, including partial runs and runs that failed part-way.
//!
//! In: the plan, the load's [`Delivery`], the scraped [`Series`], the bar
//! verdicts, the mock's statistics and the wall-clock facts. Out: one
//! [`Outcome`], the single source every format renders from, so a report can
//! be regenerated from `outcome.json` alone.
//!
//! Why stable: two runs of the same scenario must differ only where behaviour
//! differed, so that `runner diff` and a plain `git diff` of two outcomes show
//! what moved. Keys follow struct order, maps are `BTreeMap`s, arrays follow
//! block or scenario order, and everything wall-clock (start time, durations,
//! per-block timings, paths of the run directory, the engine log) lives in the
//! one `run` section.

mod faults;
mod junit;
mod markdown;
mod metrics;
pub mod orders;
mod probe;
mod requests;
mod svg;
mod terminal;
mod timeline;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::bars::{Bucket, Measure, Op, Verdict};
use crate::exit::Exit;
use crate::load::{Delivery, Phase};
use crate::metrics::{exact, Point, Series};
use crate::scenario::Plan;
use cowload_spec::{ExactHistogram, PerKind};

pub use markdown::{observed as format_observed, value as format_value};
pub use metrics::{MetricKind, MetricSummary, Source};
pub use requests::RouteRequests;
pub use terminal::{print_summary, summary_text, BlockLine, Progress};
pub use timeline::{BlockMetrics, Bottleneck, FirstFailure, StageGrowth};

/// Version of the outcome.json layout; `runner diff` refuses other versions.
pub const OUTCOME_VERSION: u32 = 1;

/// Why writing the run's files failed. All are I/O (exit 3).
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file of the run directory (or the JUnit/summary target) could not be written.
    #[error("cannot write {path}: {source}; check that the directory exists and is writable")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// The error that stopped a run, as the outcome keeps it: how the runner
/// exits because of it, and what it said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The exit it causes ([`Exit::Interrupted`] for a signal).
    pub exit: Exit,
    /// The error as printed.
    pub message: String,
}

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

/// The exact event→order latencies (seconds) of the first accepted orders received in
/// `point`'s interval, every kind together, in arrival order; empty without any.
fn interval_latencies(point: Option<&Point>) -> Vec<f64> {
    point
        .and_then(|p| exact::of_point(p, ExactHistogram::EventToOrderSeconds, |_| true))
        .unwrap_or_default()
}

/// The `q` quantile of block `number`'s exact latencies, rounded as every figure of the
/// outcome; `None` without any.
pub fn block_latency(series: &Series, number: u64, q: f64) -> Option<f64> {
    exact::quantile(&interval_latencies(series.at_block(number)), q).map(probe::round6)
}

/// Wall-clock facts of the run, as the pipeline hands them over.
#[derive(Debug, Clone)]
pub struct RunFacts {
    /// When the run started (UTC).
    pub started_at: time::OffsetDateTime,
    /// The runner's start, for runner start → first load block.
    pub started: std::time::Instant,
    /// How long the run took.
    pub duration: Duration,
    /// `anvil --version`, shortened.
    pub anvil_version: String,
    /// The engine's command line; `None` when the engine was disabled.
    pub engine_command: Option<Vec<String>>,
    /// Anvil start plus fixture replay.
    pub chain_setup: Duration,
    /// The engine's last log lines.
    pub engine_log_tail: String,
    /// How the engine exited, when it died during the run.
    pub engine_exit: Option<String>,
    /// Unix time of the local chain's genesis block (`None` on a fork).
    pub chain_genesis_timestamp: Option<u64>,
    /// The run directory.
    pub run_dir: PathBuf,
    /// Where the chain's contracts came from (replay, fork, recorded fixture).
    pub origin: crate::chain::Origin,
    /// The bar that ended the load early, when one had failed for good.
    pub ended_early: Option<EndedEarly>,
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

/// Events per kind (`twap`: `ComposableCoW.ConditionalOrderCreated`, `ethflow`:
/// `CoWSwapEthFlow.OrderPlacement`), serialised as a map keyed by kind label.
pub type Kinds = cowload_spec::PerKind<u64>;

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

impl From<Phase> for BlockPhase {
    fn from(p: Phase) -> Self {
        match p {
            Phase::Warmup => BlockPhase::Warmup,
            Phase::Load => BlockPhase::Load,
            Phase::Drain => BlockPhase::Drain,
        }
    }
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
            observed: v.observed.map(probe::round6),
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

impl LoadWindow {
    /// The window of `series`, with its blocks from `delivery`; `None` when
    /// no scrape falls in it.
    fn of(series: &Series, delivery: &Delivery) -> Option<Self> {
        let points = series.window();
        let (first, last) = (points.first()?, points.last()?);
        Some(LoadWindow {
            from: first.label.clone(),
            to: last.label.clone(),
            scrapes: points.len(),
            first_block: delivery
                .blocks
                .iter()
                .find(|b| b.phase == Phase::Load)
                .map(|b| b.block.number),
            last_block: delivery.blocks.last().map(|b| b.block.number),
        })
    }
}

/// What the mock orderbook saw, as it publishes at `/_stats`: the outcome keeps
/// the mock's own types, so the two never drift apart.
pub use cowload_spec::{EventStats as MockEvents, Stats as MockSummary, Summary as Distribution};

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
    pub requests_per_order: Vec<requests::RouteRequests>,
    /// Every engine, mock and harness series: `name{labels}` → summary.
    pub metrics: BTreeMap<String, MetricSummary>,
    /// `orders.jsonl` in short: orders by outcome, the first that failed, requests per
    /// order; absent when the mock's books were not closed (the run stopped during start-up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orders: Option<orders::OrdersSummary>,
    /// The scenario's chain-side faults, each with its truth (events during
    /// it, lost, duplicates, recovery time); absent without a `faults:` timeline.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<crate::faults::FaultRecord>,
    /// Wall-clock facts.
    pub run: RunSection,
    /// `runner SCENARIO --repeat N` only: every repeat's own outcome, in run
    /// order (each with its per-block samples), so `runner diff` can treat the
    /// run as its unit of replication. The fields above are then the first
    /// repeat's, except `status`, `exit_code` and `error`: the worst repeat's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repeats: Vec<Outcome>,
}

/// How many engine log lines the outcome keeps.
const LOG_TAIL_LINES: usize = 30;

impl Outcome {
    /// Assembles the outcome of one run. `mock` is what the mock saw (`None`
    /// when unavailable); `failure` is the error that stopped the run.
    pub fn new(
        plan: &Plan,
        delivery: &Delivery,
        series: &Series,
        verdicts: Vec<Verdict>,
        mock: Option<MockSummary>,
        failure: Option<&Failure>,
        facts: RunFacts,
    ) -> Self {
        let requested = delivery.requested();
        let delivered = delivery.delivered();
        let (status, exit) = match failure {
            Some(f) if f.exit == Exit::Interrupted => (Status::Interrupted, f.exit),
            Some(f) => (Status::Error, f.exit),
            // The engine under test died: a failed verdict, whatever else held.
            None if facts.engine_exit.is_some() => (Status::Fail, Exit::Fail),
            // A bar failed for good and the load was ended: failed, not interrupted.
            None if facts.ended_early.is_some() => (Status::Fail, Exit::Fail),
            None if delivery.interrupted => (Status::Interrupted, Exit::Interrupted),
            None if !verdicts.is_empty() && verdicts.iter().all(|b| b.holds) => {
                (Status::Pass, Exit::Pass)
            }
            None => (Status::Fail, Exit::Fail),
        };
        let blocks = block_rows(plan, delivery, series);
        let mut bottleneck = stage_growth(&blocks, delivery);
        bottleneck.first_failed_bar = timeline::first_failure(&plan.bars, series, &verdicts);
        let per_block: Vec<(u64, &BlockMetrics)> =
            blocks.iter().map(|b| (b.number, &b.metrics)).collect();
        // Only an engine can stall; a harness-only run has nobody to post.
        bottleneck.stalled = facts
            .engine_command
            .as_ref()
            .and_then(|_| timeline::stall(&per_block));
        let run = run_section(delivery, &facts);
        Outcome {
            version: OUTCOME_VERSION,
            scenario: ScenarioInfo {
                name: plan.scenario.name.clone(),
                file: plan.path.clone(),
                hash: plan.hash.clone(),
                seed: plan.scenario.seed,
            },
            versions: Versions {
                runner: env!("CARGO_PKG_VERSION").to_owned(),
                anvil: facts.anvil_version.clone(),
                engine_command: facts
                    .engine_command
                    .as_ref()
                    .map(|c| normalise_command(c, &facts.run_dir, &plan.scenario_dir)),
            },
            chain: chain_info(plan, &facts.origin),
            status,
            exit_code: exit.code(),
            error: failure
                .map(|f| f.message.clone())
                .or_else(|| facts.engine_exit.clone()),
            ended_early: facts.ended_early.clone(),
            totals: Totals {
                requested,
                delivered,
                delivered_ratio: (requested.total() > 0)
                    .then(|| probe::round6(delivered.total() as f64 / requested.total() as f64)),
            },
            bars: verdicts.into_iter().map(BarResult::from).collect(),
            window: LoadWindow::of(series, delivery),
            event_to_order_seconds: window_latencies(series),
            bottleneck,
            blocks,
            mock,
            requests_per_order: requests::per_accepted_order(series),
            metrics: metrics::summarise(series),
            orders: None,
            faults: Vec::new(),
            run,
            repeats: Vec::new(),
        }
    }

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

/// Each kind's exact event→order latencies over the load window, rounded as every figure
/// of the outcome.
fn window_latencies(series: &Series) -> PerKind<Distribution> {
    PerKind::from_fn(|kind| {
        let samples = exact::samples(series.window(), ExactHistogram::EventToOrderSeconds, |k| {
            k == kind
        });
        let d = exact::summary(&samples.unwrap_or_default());
        Distribution {
            count: d.count,
            min: probe::round6(d.min),
            p50: probe::round6(d.p50),
            p90: probe::round6(d.p90),
            p99: probe::round6(d.p99),
            max: probe::round6(d.max),
            mean: probe::round6(d.mean),
        }
    })
}

fn chain_info(plan: &Plan, origin: &crate::chain::Origin) -> ChainInfo {
    use crate::chain::Origin;
    let spec = &plan.scenario.chain;
    let (mode, fork_url, fork_block, fixture) = match origin {
        Origin::Replay => (ChainMode::Local, None, None, None),
        Origin::Fork { url, block, .. } => (ChainMode::Fork, Some(url.clone()), Some(*block), None),
        Origin::Recorded { path, block } => {
            (ChainMode::Recorded, None, Some(*block), Some(path.clone()))
        }
    };
    ChainInfo {
        mode,
        chain_id: spec.id,
        fork_url,
        fork_block,
        fixture,
        block_time_seconds: spec.block_time.0.as_secs_f64(),
        gas_limit: spec.gas_limit,
    }
}

/// The run directory varies from run to run; write it as `<run_dir>`.
/// The command with this machine's directories named, not spelled out, so
/// two runs of the same scenario record the same command.
fn normalise_command(command: &[String], run_dir: &Path, scenario_dir: &Path) -> Vec<String> {
    let names = [(run_dir, "<run_dir>"), (scenario_dir, "<scenario_dir>")];
    command
        .iter()
        .map(|arg| {
            names.iter().fold(arg.clone(), |arg, (dir, name)| {
                let dir = dir.display().to_string();
                if dir.is_empty() {
                    arg
                } else {
                    arg.replace(&dir, name)
                }
            })
        })
        .collect()
}

fn block_rows(plan: &Plan, delivery: &Delivery, series: &Series) -> Vec<BlockRow> {
    delivery
        .blocks
        .iter()
        .map(|b| (b, interval_latencies(series.at_block(b.block.number))))
        .map(|(b, latencies)| BlockRow {
            number: b.block.number,
            phase: b.phase.into(),
            requested: b.requested,
            delivered: b.delivered,
            active_twaps: b.active_twaps,
            metrics: BlockMetrics {
                event_to_order_p50_seconds: exact::quantile(&latencies, 0.5).map(probe::round6),
                event_to_order_p99_seconds: exact::quantile(&latencies, 0.99).map(probe::round6),
                ..timeline::interval(series, b.block.number)
                    .map(|(before, after)| timeline::block_metrics(before, after))
                    .unwrap_or_default()
            },
            event_to_order_samples_seconds: latencies.iter().map(|x| probe::round6(*x)).collect(),
            engine_lag_blocks: series
                .at_block(b.block.number)
                .and_then(|point| crate::engine::progress_at(plan, point))
                .map(|read| b.block.number.saturating_sub(read)),
            failures: b
                .failures
                .iter()
                .map(|f| FailureRow {
                    kind: f.kind.to_owned(),
                    tx: f.tx.to_string(),
                    sender: f.sender.to_string(),
                    nonce: f.nonce,
                    reason: f.reason.clone(),
                })
                .collect(),
        })
        .collect()
}

/// What the metrics say about block `number`'s interval, for the progress
/// line; `None` until the block's scrape is in the series.
pub fn block_metrics(series: &Series, number: u64) -> Option<BlockMetrics> {
    timeline::interval(series, number).map(|(before, after)| timeline::block_metrics(before, after))
}

/// Stage names as the report prints them.
pub const STAGE_HARNESS: &str = "harness block lateness";
/// See [`STAGE_HARNESS`].
pub const STAGE_ENGINE: &str = "engine event latency";
/// See [`STAGE_HARNESS`].
pub const STAGE_EVENT_TO_ORDER: &str = "event→order latency";
/// See [`STAGE_HARNESS`].
pub const STAGE_MOCK: &str = "mock request latency";

fn stage_growth(blocks: &[BlockRow], delivery: &Delivery) -> Bottleneck {
    let loaded: Vec<&BlockRow> = blocks
        .iter()
        .filter(|b| b.phase == BlockPhase::Load)
        .collect();
    let late: Vec<Option<f64>> = delivery
        .blocks
        .iter()
        .filter(|b| b.phase == Phase::Load)
        .map(|b| Some(b.timing.late_ms / 1000.0))
        .collect();
    let column = |f: fn(&BlockMetrics) -> Option<f64>| -> Vec<Option<f64>> {
        loaded.iter().map(|b| f(&b.metrics)).collect()
    };
    timeline::growth(&[
        (STAGE_HARNESS, late),
        (STAGE_ENGINE, column(|m| m.engine_latency_p99_seconds)),
        (
            STAGE_EVENT_TO_ORDER,
            column(|m| m.event_to_order_p99_seconds),
        ),
        (STAGE_MOCK, column(|m| m.mock_request_p99_seconds)),
    ])
}

fn run_section(delivery: &Delivery, facts: &RunFacts) -> RunSection {
    let tail: Vec<String> = facts.engine_log_tail.lines().map(str::to_owned).collect();
    let skip = tail.len().saturating_sub(LOG_TAIL_LINES);
    RunSection {
        started_at: facts
            .started_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        duration_seconds: round_ms(facts.duration),
        chain_setup_seconds: round_ms(facts.chain_setup),
        time_to_first_load_block_seconds: delivery
            .first_load_block_at
            .map(|at| round_ms(at.saturating_duration_since(facts.started))),
        run_dir: facts.run_dir.clone(),
        chain_genesis_timestamp: facts.chain_genesis_timestamp,
        engine_log_tail: tail.into_iter().skip(skip).collect(),
        blocks: delivery
            .blocks
            .iter()
            .map(|b| BlockTimingRow {
                number: b.block.number,
                build_ms: round1(b.timing.build_ms),
                send_ms: round1(b.timing.send_ms),
                verify_ms: round1(b.timing.verify_ms),
                late_ms: round1(b.timing.late_ms),
            })
            .collect(),
    }
}

fn round_ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

fn round1(ms: f64) -> f64 {
    (ms * 10.0).round() / 10.0
}

/// The JSON Schema of `outcome.json` (pretty JSON, trailing newline), as
/// committed in `schemas/outcome.schema.json`.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(Outcome);
    serde_json::to_string_pretty(&schema).expect("a JSON schema always serialises") + "\n"
}

/// Writes `outcome.json`, `report.md` and `plot.svg` into `run_dir`, and the
/// JUnit XML to `junit` when given. Each file is written as soon as it is
/// rendered, so a failure later keeps the earlier ones.
/// When `$GITHUB_STEP_SUMMARY` names a file, the verdict and bars are
/// appended to it.
pub fn write(outcome: &Outcome, run_dir: &Path, junit: Option<&Path>) -> Result<(), ReportError> {
    let summary = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty());
    write_to(outcome, run_dir, junit, summary.as_deref().map(Path::new))
}

fn write_to(
    outcome: &Outcome,
    run_dir: &Path,
    junit: Option<&Path>,
    step_summary: Option<&Path>,
) -> Result<(), ReportError> {
    write_file(&run_dir.join("outcome.json"), &outcome.to_json())?;
    write_file(&run_dir.join("report.md"), &markdown::render(outcome))?;
    write_file(&run_dir.join("plot.svg"), &svg::render(outcome))?;
    if let Some(path) = junit {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| ReportError::Write {
                path: parent.to_owned(),
                source,
            })?;
        }
        write_file(path, &junit::render(outcome))?;
    }
    if let Some(path) = step_summary {
        // The run's own files are written; a CI summary that cannot be appended
        // must not turn a finished run into an infrastructure failure.
        if let Err(e) = append_file(path, &markdown::render_summary(outcome)) {
            eprintln!("warning: $GITHUB_STEP_SUMMARY not updated: {e}");
        }
    }
    Ok(())
}

/// `report.md` for an outcome (for regenerating it from `outcome.json`).
pub fn render_markdown(outcome: &Outcome) -> String {
    markdown::render(outcome)
}

/// `plot.svg` for an outcome.
pub fn render_svg(outcome: &Outcome) -> String {
    svg::render(outcome)
}

/// JUnit XML for an outcome: one test case per bar.
pub fn render_junit(outcome: &Outcome) -> String {
    junit::render(outcome)
}

fn write_file(path: &Path, text: &str) -> Result<(), ReportError> {
    std::fs::write(path, text).map_err(|source| ReportError::Write {
        path: path.to_owned(),
        source,
    })
}

fn append_file(path: &Path, text: &str) -> Result<(), ReportError> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|source| ReportError::Write {
            path: path.to_owned(),
            source,
        })
}

#[cfg(test)]
pub(crate) mod golden;
#[cfg(test)]
pub(crate) mod tests;
