//! `runner search SCENARIO`: the capacity question answered by one command.
//!
//! In: a scenario and the search's range and budgets. Out: `search.json`
//! ([`Search`]), `search.md` and one run directory per probe under the
//! search's directory.
//!
//! Each probe is a full, fresh [`pipeline::run`] of the scenario (new chain,
//! mock and engine) with `load.per_block` scaled to N events per block in the
//! scenario's mix; block time, bars and seed stay. Fresh runs cost a few
//! seconds of start-up each but make every probe independent: no backlog,
//! no active TWAP and no engine state carries from one load to the next.
//! Which N comes next is [`strategy::next`]: ramp from `--min`, then bisect.

mod markdown;
mod model;
mod strategy;
mod svg;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use crate::error::{Exit, RunError};
use crate::load::calldata::TX_GAS_LIMIT;
use crate::pipeline::{self, Finished};
use crate::report::{Outcome, Status};
use crate::scenario::{Plan, MAX_EVENTS_PER_BLOCK};
use crate::shutdown::Cancel;

pub use model::{
    json_schema, Breaking, DecidingBar, Probe, ProbeBar, Search, SearchStatus, SearchedScenario,
    Settings, StopReason, SEARCH_VERSION,
};
pub use strategy::{scale, Bracket, Limits, Next, Settled, GROWTH};

/// The default `--max` never goes above this: the harness itself keeps the
/// 1-second pace up to about 2,000 events per block (docs/performance.md).
pub const DEFAULT_MAX_CEILING: u32 = 2_000;

/// At most this many probes, whatever `--max-probes` says: a bound on the loop.
pub const MAX_PROBES_LIMIT: u32 = 64;

/// What the command line asked for (`runner search`'s flags; the doc
/// comments are its `--help`).
#[derive(Debug, Clone, clap::Args)]
pub struct Request {
    /// First load probed, events per block.
    #[arg(long, default_value_t = 1)]
    pub min: u32,
    /// Largest load probed (default: what chain.gas_limit allows, at most 2000).
    #[arg(long)]
    pub max: Option<u32>,
    /// Stop once the bracket between the last pass and the first fail is this narrow (percent of the pass).
    #[arg(long, default_value = "10%")]
    pub precision: Precision,
    /// Most probes to run.
    #[arg(long, default_value_t = 8)]
    pub max_probes: u32,
    /// Wall-clock budget of the whole search: no probe starts that would likely end past it.
    #[arg(long, default_value = "20m")]
    pub budget: Budget,
    /// The search's directory: search.json, search.md and probe-NN-EVENTS/ (default: runs/search-<name>-<timestamp>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Anvil binary (default: $ANVIL, PATH, ~/.foundry/bin, ./node_modules).
    #[arg(long)]
    pub anvil: Option<PathBuf>,
}

/// A bracket width in percent of the passing load, written `10%` or `10`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Precision(pub f64);

impl FromStr for Precision {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let number = text.trim().trim_end_matches('%').trim();
        match number.parse::<f64>() {
            Ok(x) if x.is_finite() && x > 0.0 && x < 100.0 => Ok(Precision(x)),
            _ => Err(format!(
                "`{text}` is not a precision; write a percentage above 0 and below 100, such as 10%"
            )),
        }
    }
}

/// A wall-clock budget such as `20m` or `90s`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget(pub Duration);

/// The longest budget accepted.
pub const MAX_BUDGET: Duration = Duration::from_secs(24 * 3600);

impl FromStr for Budget {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match humantime::parse_duration(text.trim()) {
            Ok(d) if !d.is_zero() && d <= MAX_BUDGET => Ok(Budget(d)),
            _ => Err(format!(
                "`{text}` is not a budget; write a duration above 0 and at most 24h, such as 20m or 90s"
            )),
        }
    }
}

/// Why a search could not start or could not write its files. A probe's
/// own failure is not one of these: it is recorded in the [`Search`].
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// Arguments that cannot make a search (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The search's directory or its files could not be written (exit 3).
    #[error("{0}")]
    Io(RunError),
}

impl SearchError {
    /// Bad arguments are usage; a directory that cannot be written is infrastructure.
    pub fn exit(&self) -> Exit {
        match self {
            SearchError::Usage(_) => Exit::Usage,
            SearchError::Io(_) => Exit::Infrastructure,
        }
    }

    /// [`SearchError::exit`] as the number.
    pub fn exit_code(&self) -> u8 {
        self.exit().code()
    }
}

impl From<RunError> for SearchError {
    fn from(e: RunError) -> Self {
        match e {
            RunError::Usage(text) => SearchError::Usage(text),
            other => SearchError::Io(other),
        }
    }
}

/// Checks the request against the scenario and fills in the default `--max`.
pub fn settings(plan: &Plan, request: &Request) -> Result<Settings, SearchError> {
    let usage = |text: String| Err(SearchError::Usage(text));
    let by_gas = plan.scenario.chain.gas_limit / TX_GAS_LIMIT;
    let by_gas = u32::try_from(by_gas).unwrap_or(u32::MAX);
    let max = request
        .max
        .unwrap_or_else(|| by_gas.min(DEFAULT_MAX_CEILING));
    if request.min == 0 {
        return usage("--min must be at least 1 event per block".to_owned());
    }
    if max < request.min {
        return usage(format!(
            "--max ({max}) is below --min ({}); give a range with min <= max",
            request.min
        ));
    }
    if max > MAX_EVENTS_PER_BLOCK {
        return usage(format!(
            "--max {max} is above the {MAX_EVENTS_PER_BLOCK} events per block a scenario may ask for"
        ));
    }
    if max > by_gas {
        return usage(format!(
            "--max {max} events per block need a block gas limit of at least {}; the scenario's chain.gas_limit is {} (raise it, or lower --max to {by_gas})",
            u64::from(max) * TX_GAS_LIMIT,
            plan.scenario.chain.gas_limit
        ));
    }
    if request.max_probes == 0 || request.max_probes > MAX_PROBES_LIMIT {
        return usage(format!(
            "--max-probes must be between 1 and {MAX_PROBES_LIMIT}"
        ));
    }
    if plan.scenario.load.bursts.is_some() {
        return usage(
            "the scenario has load.bursts: a search scales one per-block rate, so remove the bursts to search its capacity".to_owned(),
        );
    }
    if plan.scenario.load.per_block.total() == 0 {
        return usage("the scenario's load.per_block has no events to scale".to_owned());
    }
    Ok(Settings {
        min: request.min,
        max,
        precision_percent: request.precision.0,
        max_probes: request.max_probes,
        budget_seconds: request.budget.0.as_secs_f64(),
        growth: GROWTH,
    })
}

/// Runs the search: probe after probe until the answer is as precise as
/// asked, a budget is spent, a probe fails on infrastructure or a signal
/// arrives. `search.json` and `search.md` are rewritten after every probe.
pub async fn run(plan: &Plan, request: &Request, cancel: &Cancel) -> Result<Search, SearchError> {
    let settings = settings(plan, request)?;
    let out_dir = pipeline::make_run_dir(
        &format!("search-{}", plan.scenario.name),
        request.out.as_deref(),
    )?;
    let out_dir = std::path::absolute(&out_dir).unwrap_or(out_dir);
    eprintln!(
        "search: {} from {} to {} events per block, precision {}%, at most {} probes in {}; directory {}",
        plan.scenario.name,
        settings.min,
        settings.max,
        settings.precision_percent,
        settings.max_probes,
        humantime::format_duration(request.budget.0),
        out_dir.display()
    );
    let started = Instant::now();
    let mut search = start(plan, settings, out_dir);
    let limits = Limits {
        min: search.settings.min,
        max: search.settings.max,
        precision: search.settings.precision_percent / 100.0,
    };
    let mut bracket = Bracket::default();
    let stopped = loop {
        let events = match strategy::next(bracket, limits) {
            Next::Settled(why) => break settled(why),
            Next::Probe(events) => events,
        };
        if let Some(reason) = out_of_budget(&search, started, request.budget.0) {
            break reason;
        }
        if cancel.is_cancelled() {
            break StopReason::Interrupted;
        }
        let probe = probe(plan, request, &search, events, cancel).await;
        eprintln!(
            "{}",
            markdown::progress_line(&probe, search.settings.max_probes, started.elapsed())
        );
        let status = probe.status;
        search.probes.push(probe);
        search.duration_seconds = round_ms(started.elapsed());
        write(&search)?;
        match status {
            Status::Pass => bracket.record(events, true),
            Status::Fail => bracket.record(events, false),
            Status::Interrupted => break StopReason::Interrupted,
            Status::Error => break StopReason::Error,
        }
    };
    conclude(&mut search, bracket, stopped);
    search.duration_seconds = round_ms(started.elapsed());
    write(&search)?;
    Ok(search)
}

fn start(plan: &Plan, settings: Settings, out_dir: PathBuf) -> Search {
    let load = &plan.scenario.load;
    Search {
        version: SEARCH_VERSION,
        scenario: SearchedScenario {
            name: plan.scenario.name.clone(),
            file: plan.path.clone(),
            hash: plan.hash.clone(),
            seed: plan.scenario.seed,
            mix: load.per_block.map(|_, n| u64::from(*n)),
            load_blocks: load.blocks,
            block_time_seconds: plan.scenario.chain.block_time.0.as_secs_f64(),
        },
        settings,
        status: SearchStatus::Running,
        exit_code: 0,
        stopped: None,
        capacity: None,
        first_failing: None,
        breaking: None,
        probes: Vec::new(),
        duration_seconds: 0.0,
        out_dir,
    }
}

fn settled(why: Settled) -> StopReason {
    match why {
        Settled::MinFailed => StopReason::MinFailed,
        Settled::MaxPassed => StopReason::MaxPassed,
        Settled::Precise => StopReason::Precision,
    }
}

/// Why no further probe may start: the probe count is spent, or the next
/// probe, if it takes as long as the longest so far, would end past the budget.
fn out_of_budget(search: &Search, started: Instant, budget: Duration) -> Option<StopReason> {
    if search.probes.len() >= search.settings.max_probes as usize {
        return Some(StopReason::ProbeBudget);
    }
    let longest = search
        .probes
        .iter()
        .map(|p| p.duration_seconds)
        .fold(0.0, f64::max);
    let expected_end = started.elapsed().as_secs_f64() + longest;
    (expected_end > budget.as_secs_f64()).then_some(StopReason::TimeBudget)
}

/// One probe: the scenario at `events` per block, run into `DIR/probe-NN-EVENTS/`.
async fn probe(
    plan: &Plan,
    request: &Request,
    search: &Search,
    events: u32,
    cancel: &Cancel,
) -> Probe {
    let index = u32::try_from(search.probes.len()).unwrap_or(u32::MAX - 1) + 1;
    let run_dir = search.out_dir.join(format!("probe-{index:02}-{events}"));
    let per_block = scale(plan.scenario.load.per_block, events);
    let mix: Vec<String> = per_block.iter().map(|(k, n)| format!("{k} {n}")).collect();
    eprintln!(
        "search: probe {index}: {events} events per block ({})",
        mix.join(", ")
    );
    let scaled = plan.with_per_block(per_block);
    let options = pipeline::Options {
        anvil: request.anvil.clone(),
        out: Some(run_dir.clone()),
        junit: None,
        // A probe is minutes long and the search keeps its own record of every probe.
        checkpoint: None,
        process_start: None,
        // A probe only needs its verdict: once a bar has failed for good,
        // the rest of its blocks would cost time and change nothing.
        end_early: true,
    };
    let started = Instant::now();
    let result = pipeline::run(&scaled, &options, cancel).await;
    let mut probe = Probe {
        index,
        events_per_block: events,
        per_block: per_block.map(|_, n| u64::from(*n)),
        status: Status::Error,
        exit_code: Exit::Infrastructure.code(),
        decided_by: None,
        ended_early: None,
        grew_most: None,
        lost: None,
        bars: Vec::new(),
        error: None,
        run_dir: run_dir.clone(),
        duration_seconds: 0.0,
    };
    match result {
        Ok(Finished { outcome, .. }) => read_outcome(&mut probe, &outcome),
        Err(e) => {
            probe.status = match e {
                RunError::Interrupted => Status::Interrupted,
                _ => Status::Error,
            };
            probe.exit_code = e.exit_code();
            probe.error = Some(e.to_string());
            // The pipeline writes what it measured even on failure.
            if let Some(outcome) = written_outcome(&run_dir) {
                probe.lost = lost(&outcome);
            }
        }
    }
    probe.duration_seconds = round_ms(started.elapsed());
    probe
}

/// Fills a probe's verdict from its run's outcome.
fn read_outcome(probe: &mut Probe, outcome: &Outcome) {
    probe.status = outcome.status;
    probe.exit_code = outcome.exit_code;
    probe.error = outcome.error.clone();
    probe.grew_most = outcome.bottleneck.grew_most;
    probe.ended_early = outcome.ended_early.clone();
    probe.lost = lost(outcome);
    probe.bars = outcome
        .bars
        .iter()
        .map(|b| ProbeBar {
            bar: b.bar.clone(),
            observed: b.observed,
            unit: b.unit,
            limit: b.limit,
            holds: b.holds,
        })
        .collect();
    probe.decided_by = outcome.bottleneck.first_failed_bar.as_ref().map(|first| {
        let result = outcome.bars.iter().find(|b| b.bar == first.bar);
        DecidingBar {
            bar: first.bar.clone(),
            observed: result.and_then(|b| b.observed),
            unit: result.map(|b| b.unit).unwrap_or_default(),
            at: first.at.clone(),
            block: first.block,
        }
    });
}

fn lost(outcome: &Outcome) -> Option<u64> {
    outcome
        .mock
        .as_ref()
        .map(|m| m.events.values().map(|e| e.lost).sum())
}

fn written_outcome(run_dir: &Path) -> Option<Outcome> {
    let text = std::fs::read_to_string(run_dir.join("outcome.json")).ok()?;
    Outcome::from_json(&text).ok()
}

/// Sets the answer, the status and the exit code from the final bracket.
fn conclude(search: &mut Search, bracket: Bracket, stopped: StopReason) {
    search.stopped = Some(stopped);
    search.capacity = bracket.pass;
    search.first_failing = bracket.fail;
    search.breaking = bracket.fail.and_then(|fail| {
        let probe = search.probes.iter().find(|p| p.events_per_block == fail)?;
        Some(Breaking {
            events_per_block: fail,
            bar: probe.decided_by.clone(),
            grew_most: probe.grew_most,
        })
    });
    (search.status, search.exit_code) = match (stopped, bracket.pass) {
        (StopReason::Interrupted, _) => (SearchStatus::Interrupted, Exit::Interrupted.code()),
        (StopReason::Error, _) => (SearchStatus::Error, Exit::Infrastructure.code()),
        (_, Some(_)) => (SearchStatus::Found, Exit::Pass.code()),
        (_, None) => (SearchStatus::BelowMin, Exit::Fail.code()),
    };
}

/// Writes `search.json` and `search.md` into the search's directory.
fn write(search: &Search) -> Result<(), SearchError> {
    let io = |path: PathBuf| {
        move |source| {
            SearchError::Io(RunError::Report(crate::report::ReportError::Write {
                path,
                source,
            }))
        }
    };
    let json = search.out_dir.join("search.json");
    std::fs::write(&json, search.to_json()).map_err(io(json))?;
    let md = search.out_dir.join("search.md");
    std::fs::write(&md, markdown::render(search)).map_err(io(md))?;
    let plot = search.out_dir.join("search.svg");
    std::fs::write(&plot, svg::render(search)).map_err(io(plot))?;
    Ok(())
}

fn round_ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

/// `search.md` for a search (for regenerating it from `search.json`).
pub fn render_markdown(search: &Search) -> String {
    markdown::render(search)
}

/// The search's answer in one plain line, as the terminal prints it.
pub fn summary_line(search: &Search) -> String {
    markdown::summary_line(search)
}

#[cfg(test)]
pub(crate) mod tests;
