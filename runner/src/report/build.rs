//! Builds the run's [`Outcome`] from what the stages measured: the delivery, the scraped
//! series, the bars' verdicts, the mock's statistics and the wall-clock facts.
//!
//! In: the plan and every stage's result. Out: one [`Outcome`]. Why apart from the writers:
//! building reads the run; rendering reads only the outcome, so a report can be regenerated
//! from `outcome.json` alone.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cowload_spec::outcome::round6;
use cowload_spec::{ExactHistogram, PerKind};

use super::{metrics, requests, timeline, Failure};
use crate::bars::Verdict;
use crate::exit::Exit;
use crate::load::{Delivery, Phase};
use crate::metrics::{exact, Point, Series};
use crate::scenario::Plan;
use cowload_spec::outcome::*;

/// How many engine log lines the outcome keeps.
const LOG_TAIL_LINES: usize = 30;

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

impl From<Phase> for BlockPhase {
    fn from(p: Phase) -> Self {
        match p {
            Phase::Warmup => BlockPhase::Warmup,
            Phase::Load => BlockPhase::Load,
            Phase::Drain => BlockPhase::Drain,
        }
    }
}

/// Assembles the outcome of one run. `mock` is what the mock saw (`None` when unavailable);
/// `failure` is the error that stopped the run.
pub fn outcome(
    plan: &Plan,
    delivery: &Delivery,
    series: &Series,
    verdicts: Vec<Verdict>,
    mock: Option<MockSummary>,
    failure: Option<&Failure>,
    facts: RunFacts,
) -> Outcome {
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
        checkpoint: None,
        totals: Totals {
            requested,
            delivered,
            delivered_ratio: (requested.total() > 0)
                .then(|| round6(delivered.total() as f64 / requested.total() as f64)),
        },
        bars: verdicts.into_iter().map(BarResult::from).collect(),
        window: load_window(series, delivery),
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

/// The load window of `series`, with its blocks from `delivery`; `None` when no scrape falls
/// in it.
pub(super) fn load_window(series: &Series, delivery: &Delivery) -> Option<LoadWindow> {
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
    exact::quantile(&interval_latencies(series.at_block(number)), q).map(round6)
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
            min: round6(d.min),
            p50: round6(d.p50),
            p90: round6(d.p90),
            p99: round6(d.p99),
            max: round6(d.max),
            mean: round6(d.mean),
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
pub(super) fn normalise_command(
    command: &[String],
    run_dir: &Path,
    scenario_dir: &Path,
) -> Vec<String> {
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
                event_to_order_p50_seconds: exact::quantile(&latencies, 0.5).map(round6),
                event_to_order_p99_seconds: exact::quantile(&latencies, 0.99).map(round6),
                ..timeline::interval(series, b.block.number)
                    .map(|(before, after)| timeline::block_metrics(before, after))
                    .unwrap_or_default()
            },
            event_to_order_samples_seconds: latencies.iter().map(|x| round6(*x)).collect(),
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
        (Stage::HarnessLateness, late),
        (
            Stage::EngineLatency,
            column(|m| m.engine_latency_p99_seconds),
        ),
        (
            Stage::EventToOrder,
            column(|m| m.event_to_order_p99_seconds),
        ),
        (Stage::MockRequest, column(|m| m.mock_request_p99_seconds)),
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
