//! One run, stage after stage (docs/architecture.md):
//! chain → mock → engine → load (with metrics after every block) → bars → report.
//! Guards drop in reverse order: the engine stops first, the mock, then Anvil.

use std::path::{Path, PathBuf};
use std::time::Instant;

use alloy::providers::Provider;
use mock_orderbook::MockServer;

use crate::bars;
use crate::chain;
use crate::engine::{self, Engine};
use crate::error::RunError;
use crate::faults;
use crate::load::{self, Delivery};
use cowload_spec::names;

use crate::metrics::Series;
use crate::mock;
use crate::report::{self, Outcome, RunFacts};
use crate::scenario::Plan;
use crate::shutdown::Cancel;

mod checkpoint;
mod observer;

use checkpoint::Checkpoints;
use observer::Observer;

/// `--checkpoint`: a duration such as `5m` or `30s`; `0s` turns checkpoints off.
fn parse_interval(text: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|e| format!("{e}; write a duration such as 5m"))
}

/// Choices that come from the command line, not the scenario: `runner run`
/// flattens the flags (`process_start` and `end_early` are set by the caller).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Options {
    /// Run directory (default: runs/<name>-<timestamp>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Anvil binary (default: $ANVIL, PATH, ~/.foundry/bin, ./node_modules).
    #[arg(long)]
    pub anvil: Option<PathBuf>,
    /// Also write the bars as JUnit XML (one test case per bar) to this file.
    #[arg(long, value_name = "FILE", conflicts_with = "repeat")]
    pub junit: Option<PathBuf>,
    /// Write outcome.json and report.md with the verdict so far this often while the run
    /// goes on, so a long run that dies leaves it (0s: never).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_interval)]
    pub checkpoint: Option<std::time::Duration>,
    /// When the runner process started; the run's own start when left out.
    #[arg(skip)]
    pub process_start: Option<Instant>,
    /// End the load as soon as a bar has failed for good
    /// ([`bars::Bar::failed_for_good`]): `runner search` probes, which only
    /// need the verdict. A plain run always runs every block.
    #[arg(skip)]
    pub end_early: bool,
}

/// A finished run: its outcome and where it was written.
pub struct Finished {
    pub outcome: Outcome,
    pub run_dir: PathBuf,
}

/// Runs the plan end to end and writes the run directory.
pub async fn run(plan: &Plan, options: &Options, cancel: &Cancel) -> Result<Finished, RunError> {
    preflight(plan)?;
    let anvil = chain::find_anvil(options.anvil.as_deref())?;
    let run_dir = make_run_dir(&plan.scenario.name, options.out.as_deref())?;
    // Absolute: the engine runs in its own directory, and every path handed
    // to it (config, state, work directory) must mean the same there.
    let run_dir = std::path::absolute(&run_dir).map_err(|source| RunError::RunDir {
        path: run_dir.clone(),
        source,
    })?;
    eprintln!("run directory: {}", run_dir.display());
    let started_at = time::OffsetDateTime::now_utc();
    let started = options.process_start.unwrap_or_else(Instant::now);

    let chain = until_cancelled(cancel, chain::start(plan, &anvil, &run_dir)).await??;
    eprintln!(
        "chain: {} pid {} on {} (chain id {}), {} contracts verified in {} ms; {}",
        chain.anvil_version,
        chain.anvil_pid(),
        chain.http_url,
        chain.chain_id,
        chain.deployed.len(),
        chain.setup_time.as_millis(),
        chain.origin
    );
    // Fork and fixture chains bring their own chain id; later stages use it.
    let effective = with_implicit_bars(plan.with_chain_id(chain.chain_id));
    let plan = &effective;
    let proxy = chain::proxy::start(&chain.http_url, &chain.ws_url).await?;
    proxy
        .control()
        .set_run_limits(plan.scenario.chain.rpc_limits);
    let rpc = engine::EngineRpc {
        http_url: proxy.http_url.clone(),
        ws_url: proxy.ws_url.clone(),
    };
    let mock = mock::start(plan).await?;
    eprintln!("mock orderbook: {}", mock.url());
    let engine = until_cancelled(
        cancel,
        engine::start(plan, &chain, &rpc, &mock.url(), &run_dir),
    )
    .await??;
    if let Some(engine) = &engine {
        eprintln!(
            "engine: pid {} ({}), metrics {}, chain through the RPC proxy {} / {}",
            engine.pid(),
            engine.command.join(" "),
            engine.metrics_url,
            rpc.http_url,
            rpc.ws_url
        );
    }

    let mut stages = Stages {
        plan,
        run_dir: &run_dir,
        chain,
        proxy,
        mock,
        engine,
    };
    let checkpoints = options.checkpoint.and_then(|every| {
        let facts = stages.facts(started_at, started, None, None);
        Checkpoints::every(every, facts, run_dir.clone())
    });
    let result = stages
        .load_and_judge(cancel, options.end_early, checkpoints)
        .await;
    // An engine that exits during the run is the system under test failing:
    // a failed verdict (its bar is first), not an infrastructure error.
    let (engine_exit, ended_early) = match &result {
        Ok(judged) => (judged.engine_exit.clone(), judged.ended_early.clone()),
        Err(partial) => (partial.engine_exit.clone(), partial.ended_early.clone()),
    };
    let facts = stages.facts(started_at, started, engine_exit, ended_early);
    let truth = stages.mock.truth();
    stages.stop().await;
    // Written once the engine has stopped: no order arrives while the file is streamed.
    let orders = report::orders::write(&truth, &run_dir.join(report::orders::FILE))?;
    let Judged {
        delivery,
        series,
        mock_stats,
        failure,
        faults,
        ..
    } = match result {
        Ok(judged) => judged,
        Err(partial) => *partial,
    };
    let verdicts = bars::evaluate(&plan.bars, &series);
    let mut outcome = report::outcome(
        plan,
        &delivery,
        &series,
        verdicts,
        mock_stats,
        failure.as_ref().map(RunError::failure).as_ref(),
        facts,
    );
    outcome.faults = faults.into_iter().map(|acted| acted.record).collect();
    outcome.orders = Some(orders);
    report::write(&outcome, &run_dir, options.junit.as_deref())?;
    match failure {
        Some(error) => Err(error),
        None => Ok(Finished { outcome, run_dir }),
    }
}

/// What one run measured, and what stopped it early, if anything.
struct Judged {
    delivery: Delivery,
    series: Series,
    mock_stats: Option<report::MockSummary>,
    failure: Option<RunError>,
    /// How the engine exited when it died during the run.
    engine_exit: Option<String>,
    /// The bar that ended the load early.
    ended_early: Option<report::EndedEarly>,
    /// What each fault of the timeline did.
    faults: Vec<faults::Acted>,
}

/// The running stages of one run.
struct Stages<'a> {
    plan: &'a Plan,
    run_dir: &'a Path,
    chain: chain::Chain,
    /// The engine's way to the chain; stopped after the engine, before Anvil.
    proxy: chain::proxy::Proxy,
    mock: MockServer,
    engine: Option<Engine>,
}

impl Stages<'_> {
    /// The run's facts as of now.
    fn facts(
        &self,
        started_at: time::OffsetDateTime,
        started: Instant,
        engine_exit: Option<String>,
        ended_early: Option<report::EndedEarly>,
    ) -> RunFacts {
        RunFacts {
            started_at,
            started,
            duration: started.elapsed(),
            anvil_version: self.chain.anvil_version.clone(),
            engine_command: self.engine.as_ref().map(|e| e.command.clone()),
            chain_setup: self.chain.setup_time,
            engine_log_tail: self
                .engine
                .as_ref()
                .map(|e| e.log_tail(30))
                .unwrap_or_default(),
            engine_exit,
            chain_genesis_timestamp: self.chain.genesis_timestamp,
            run_dir: self.run_dir.to_owned(),
            origin: self.chain.origin.clone(),
            ended_early,
        }
    }

    /// Load with metrics after every block. Even on failure, returns what was
    /// measured so the outcome keeps it (nothing lost).
    async fn load_and_judge(
        &mut self,
        cancel: &Cancel,
        end_early: bool,
        checkpoints: Option<Checkpoints>,
    ) -> Result<Judged, Box<Judged>> {
        let load_cancel = cancel.child_token();
        let switches = faults::Switches {
            proxy: self.proxy.control(),
            mock: self.mock.control(),
        };
        let timeline = faults::Timeline::new(
            &self.plan.scenario.faults,
            self.plan.scenario.seed,
            switches,
        );
        let mut observer = match Observer::new(
            self.plan,
            self.run_dir,
            &self.mock,
            self.engine.as_mut(),
            load_cancel.clone(),
            timeline,
        ) {
            Ok(o) => o,
            Err(e) => {
                return Err(Box::new(Judged {
                    delivery: Delivery::default(),
                    series: Series::new(),
                    mock_stats: None,
                    failure: Some(e),
                    engine_exit: None,
                    ended_early: None,
                    faults: Vec::new(),
                }))
            }
        };
        observer.end_early = end_early;
        observer.checkpoints = checkpoints;
        observer.harness.head = self.chain.provider.get_block_number().await.ok();
        if self.plan.scenario.load.warmup_blocks == 0 {
            // No warm-up block precedes the load: a fault at its first block starts now.
            observer.faults.timeline.before_block(
                1,
                observer.harness.head,
                observer.engine.engine.as_deref_mut(),
            );
        }
        observer.scrape("start", None).await;
        let loaded = load::run(self.plan, &mut self.chain, &mut observer, &load_cancel).await;
        observer.display.finish();
        if let Some(checkpoints) = observer.checkpoints.as_mut() {
            checkpoints.settle().await;
        }
        // Events still waiting for an order when the run ends are lost.
        self.mock.truth().finish();
        observer.scrape("end", None).await;
        observer.series.close_unopened_window();
        let stats = Some(self.mock.truth().stats());
        let engine_exit = observer.engine.died.take().map(|died| died.to_string());
        let ended_early = observer.ended_early.take();
        let failure = match loaded.as_ref() {
            // The load stopped because the engine died: that is the verdict.
            Ok(_) if engine_exit.is_some() => None,
            // A bar failed for good and ended the load; a signal still wins.
            Ok(_) if ended_early.is_some() && !cancel.is_cancelled() => None,
            Ok(d) if d.interrupted => Some(RunError::Interrupted),
            Ok(_) | Err(_) => None,
        };
        let series = std::mem::take(&mut observer.series);
        let mut faults = observer.take_fault_records();
        let first_loaded = observer.first_loaded_block();
        faults::charge(&mut faults, first_loaded, |block| {
            series
                .at_block(block)
                .and_then(|point| engine::progress_at(self.plan, point))
        });
        faults::judge(&mut faults, &self.mock.truth());
        match loaded {
            Ok(delivery) => {
                let judged = Judged {
                    delivery,
                    series,
                    mock_stats: stats,
                    failure,
                    engine_exit,
                    ended_early,
                    faults,
                };
                match judged.failure {
                    None => Ok(judged),
                    Some(_) => Err(Box::new(judged)),
                }
            }
            Err(e) => Err(Box::new(Judged {
                delivery: observer.delivered_so_far(),
                series,
                mock_stats: stats,
                failure: Some(RunError::Load(e)),
                engine_exit,
                ended_early,
                faults,
            })),
        }
    }

    /// The engine goes first, while Anvil and the mock it talks to still
    /// answer; then the mock, letting answers in flight finish; Anvil last.
    async fn stop(mut self) {
        if let Some(engine) = self.engine.take() {
            engine.stop();
        }
        let Stages {
            chain, proxy, mock, ..
        } = self;
        mock.shutdown().await;
        drop(proxy);
        chain.stop();
    }
}

/// The bar every run must clear whether the scenario names it or not: all
/// requested events reached the chain. Without it, a run whose transactions all
/// reverted would pass every bar that only counts errors.
pub const DELIVERY_BAR: &str = "cowload_events_delivered_ratio == 1";

/// The bar every run with an engine must clear, first in the report: the
/// engine stayed up. An engine that crashes mid-run has failed, whatever the
/// other bars say about the blocks before the crash.
pub const ENGINE_UP_BAR: &str = "min(cowload_engine_up) == 1";

/// `plan` with the implicit bars: [`ENGINE_UP_BAR`] first when an engine
/// runs (unless the scenario reads `cowload_engine_up` itself), and
/// [`DELIVERY_BAR`] last when no bar of its own reads the delivered ratio.
fn with_implicit_bars(mut plan: Plan) -> Plan {
    let reads = |plan: &Plan, metric: &str| plan.bars.iter().any(|b| b.metric() == metric);
    if !reads(&plan, names::EVENTS_DELIVERED_RATIO) {
        plan.bars
            .push(bars::parse(DELIVERY_BAR).expect("the delivery bar parses"));
    }
    if plan.scenario.engine.enabled && !reads(&plan, names::ENGINE_UP) {
        let bar = bars::parse(ENGINE_UP_BAR).expect("the engine-up bar parses");
        plan.bars.insert(0, bar);
    }
    plan
}

/// Runs a start-up stage unless a signal comes first.
async fn until_cancelled<T>(
    cancel: &Cancel,
    stage: impl std::future::Future<Output = T>,
) -> Result<T, RunError> {
    crate::shutdown::or_cancelled(cancel, stage)
        .await
        .ok_or(RunError::Interrupted)
}

/// Refuses, before anything starts, a load the chain cannot hold.
fn preflight(plan: &Plan) -> Result<(), RunError> {
    let needed = load::required_gas_limit(plan);
    let limit = plan.scenario.chain.gas_limit;
    if needed > limit {
        return Err(RunError::Usage(format!(
            "{}: {} events per block need a block gas limit of at least {needed} ({} gas per transaction); chain.gas_limit is {limit}",
            plan.path.display(),
            needed / load::calldata::TX_GAS_LIMIT,
            load::calldata::TX_GAS_LIMIT
        )));
    }
    Ok(())
}

/// The run directory: `--out` (which must be new or empty, so two runs never mix
/// their files), else `runs/<name>-<timestamp>`, with `-2`, `-3`… when two runs
/// start within the same second.
pub(crate) fn make_run_dir(name: &str, out: Option<&Path>) -> Result<PathBuf, RunError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| RunError::RunDir { path, source }
    };
    if let Some(dir) = out {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let mut entries = std::fs::read_dir(dir).map_err(io(dir))?;
        if entries.next().is_some() {
            return Err(RunError::Usage(format!(
                "run directory {} is not empty; choose a new --out so runs never mix their files",
                dir.display()
            )));
        }
        return Ok(dir.to_owned());
    }
    let stamp = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year][month][day]-[hour][minute][second]"
        ))
        .unwrap_or_else(|_| "now".to_owned());
    let base = PathBuf::from("runs").join(format!("{name}-{stamp}"));
    std::fs::create_dir_all("runs").map_err(io(Path::new("runs")))?;
    for attempt in 1..1000 {
        let dir = match attempt {
            1 => base.clone(),
            n => PathBuf::from(format!("{}-{n}", base.display())),
        };
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(source) => return Err(RunError::RunDir { path: dir, source }),
        }
    }
    Err(RunError::Usage(format!(
        "too many runs named {} in this second",
        base.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::observer::push_chain_head;
    use super::*;
    use crate::metrics::{MetricType, Snapshot};

    fn plan_with_bars(bars: &str) -> Plan {
        plan_with("enabled: false", bars)
    }

    fn plan_with(engine: &str, bars: &str) -> Plan {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.yaml");
        let body = format!(
            "version: 1\nname: s\nload: {{ blocks: 1, per_block: {{ twap: 1 }} }}\nengine: {{ {engine} }}\nbars: {bars}\n"
        );
        std::fs::write(&path, body).unwrap();
        crate::scenario::load(&path).unwrap()
    }

    #[test]
    fn the_delivery_bar_is_added_only_when_missing() {
        let added = with_implicit_bars(plan_with_bars(
            "[increase(shepherd_module_errors_total) == 0]",
        ));
        let texts: Vec<&str> = added.bars.iter().map(|b| b.text()).collect();
        assert_eq!(
            texts,
            ["increase(shepherd_module_errors_total) == 0", DELIVERY_BAR]
        );
        let own = with_implicit_bars(plan_with_bars("[cowload_events_delivered_ratio >= 0.99]"));
        let texts: Vec<&str> = own.bars.iter().map(|b| b.text()).collect();
        assert_eq!(texts, ["cowload_events_delivered_ratio >= 0.99"]);
        let none = with_implicit_bars(plan_with_bars("[]"));
        assert_eq!(none.bars.len(), 1);
    }

    #[test]
    fn with_an_engine_the_engine_up_bar_comes_first() {
        let plan = with_implicit_bars(plan_with("", "[increase(x_total) == 0]"));
        let texts: Vec<&str> = plan.bars.iter().map(|b| b.text()).collect();
        assert_eq!(
            texts,
            [ENGINE_UP_BAR, "increase(x_total) == 0", DELIVERY_BAR]
        );
        let own = with_implicit_bars(plan_with("", "[last(cowload_engine_up) == 1]"));
        assert_eq!(own.bars[0].text(), "last(cowload_engine_up) == 1");
    }

    /// An engine's height can be held against the chain
    /// head the harness publishes at every scrape.
    #[test]
    fn the_chain_head_is_published_so_a_lag_bar_can_read_it() {
        let mut series = Series::new();
        for (label, head, engine) in [("start", 1, 1.0), ("block 2", 2, 2.0), ("block 3", 3, 2.0)] {
            let mut snapshot = Snapshot::parse(&format!("engine_height {engine}\n")).unwrap();
            push_chain_head(&mut snapshot, Some(head));
            series.push(label, snapshot);
        }
        let mut unknown = Snapshot::default();
        push_chain_head(&mut unknown, None);
        assert!(unknown.samples.is_empty());
        assert_eq!(
            series.type_of(names::CHAIN_HEAD_BLOCK),
            Some(MetricType::Gauge)
        );
        let bars: Vec<bars::Bar> = [
            "max(cowload_chain_head_block - engine_height) <= 0",
            "max(cowload_chain_head_block - engine_height) <= 1",
        ]
        .iter()
        .map(|t| bars::parse(t).unwrap())
        .collect();
        let verdicts = bars::evaluate(&bars, &series);
        assert_eq!(verdicts[0].observed, Some(1.0));
        assert_eq!(
            verdicts.iter().map(|v| v.holds).collect::<Vec<_>>(),
            [false, true]
        );
    }
}
