//! The load's [`OnBlock`]: what happens after every mined block, in order.
//!
//! In: each [`BlockDelivery`] the load mines. Out: the [`Series`] of scrapes
//! (each with the mock's exact samples of its interval), the faults' records and
//! what stopped the load early (the engine died, a bar failed for good).
//!
//! Why split: after a block, six different things happen, and each is its own
//! part with its own state: the mock learns the block's events
//! ([`register`]), the faults timeline moves on, the engine is checked
//! ([`EngineWatch`]), the engine and the mock are scraped ([`Scraper`]) with
//! the harness's own figures added ([`Harness`]), the progress line is drawn
//! from that scrape ([`report::BlockLine::new`]), and an early end is
//! considered. [`Observer`] only calls them in that order. After a `reorg`
//! fault (done by the load), the proxy announces the removed logs, the mock
//! takes dropped events back and the fault timeline records what happened.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use cowload_spec::EventKind;

use mock_orderbook::{ExpectedOrder, MockServer, Truth};

use crate::bars;
use crate::engine::{Engine, EngineError};
use crate::error::RunError;
use crate::faults;
use crate::load::{BlockDelivery, Counts, Delivery, OnBlock, Phase, Reorg};
use cowload_spec::names::{self, label};

use super::checkpoint::Checkpoints;
use crate::metrics::{self, MetricType, Series, Snapshot};
use crate::report;
use crate::resources::{self, Usage};
use crate::scenario::faults::ReorgEvents;
use crate::scenario::Plan;
use crate::shutdown::Cancel;
use cowload_spec::outcome::Checkpoint;

/// Longest the scrapes before and after the load may take.
const OUTSIDE_LOAD_SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest a scrape between two blocks may take. A scrape sits between two blocks, so a slow
/// `/metrics` (a saturated engine) must not push the next block out of its
/// slot: it gets at most a quarter of the block time.
fn scrape_timeout(block_time: Duration) -> Duration {
    (block_time / 4).clamp(Duration::from_millis(100), Duration::from_secs(2))
}

/// Tells the mock which events `block` carried, so it can judge the orders
/// that answer them, and moves its head (which opens TWAP parts).
fn register(truth: &Truth, block: &BlockDelivery) {
    truth.register(
        block
            .events
            .iter()
            .map(|e| ExpectedOrder {
                kind: e.kind,
                block: block.block.number,
                mined_at: block.block.mined_at,
                key: e.order.clone(),
                exact: e.exact.clone(),
                twap: e.twap,
                tx_hash: e.tx,
                log_index: e.log_index,
            })
            .collect(),
    );
    truth.set_head_at(block.block.number, block.block.timestamp);
}

/// The harness's own figures, published with every scrape: events asked
/// for and on chain per kind, the chain head, failed load transactions and
/// the block's own readings.
#[derive(Default)]
pub(super) struct Harness {
    requested: Counts,
    delivered: Counts,
    /// The newest block mined, for [`names::CHAIN_HEAD_BLOCK`]; `None` until known.
    pub(super) head: Option<u64>,
    /// Every block so far (kept for a partial outcome when the load fails).
    blocks: Vec<BlockDelivery>,
    /// When the first scrape was taken: the origin of [`names::RUN_ELAPSED_SECONDS`].
    started: Option<Instant>,
}

impl Harness {
    /// Counts `block` in.
    fn record(&mut self, block: &BlockDelivery) {
        self.head = Some(block.block.number);
        self.requested.add(&block.requested);
        for event in &block.events {
            self.delivered[event.kind] += 1;
        }
        self.blocks.push(block.clone());
    }

    /// Adds the harness's samples to `snapshot`; `engine_up` when an engine runs.
    fn push(
        &mut self,
        snapshot: &mut Snapshot,
        block: Option<&BlockDelivery>,
        engine_up: Option<bool>,
    ) {
        for kind in EventKind::ALL {
            let labels = [(label::KIND, kind.label())];
            let requested = self.requested[kind] as f64;
            snapshot.push(names::EVENTS_REQUESTED_TOTAL, &labels, requested);
            let delivered = self.delivered[kind] as f64;
            snapshot.push(names::EVENTS_DELIVERED_TOTAL, &labels, delivered);
        }
        if self.requested.total() > 0 {
            let ratio = self.delivered.total() as f64 / self.requested.total() as f64;
            snapshot.push(names::EVENTS_DELIVERED_RATIO, &[], ratio);
        }
        if let Some(up) = engine_up {
            snapshot.declare(names::ENGINE_UP, MetricType::Gauge);
            snapshot.push(names::ENGINE_UP, &[], if up { 1.0 } else { 0.0 });
        }
        push_chain_head(snapshot, self.head);
        let failed: usize = self.blocks.iter().map(|b| b.failures.len()).sum();
        snapshot.push(names::LOAD_TRANSACTIONS_FAILED_TOTAL, &[], failed as f64);
        if let Some(block) = block {
            snapshot.push(names::ACTIVE_TWAPS, &[], block.active_twaps as f64);
            let late = block.timing.late_ms / 1000.0;
            snapshot.push(names::BLOCK_LATE_SECONDS, &[], late);
            snapshot.push(names::BLOCK_NUMBER, &[], block.block.number as f64);
        }
        let started = *self.started.get_or_insert_with(Instant::now);
        snapshot.declare(names::RUN_ELAPSED_SECONDS, MetricType::Gauge);
        let elapsed = started.elapsed().as_secs_f64();
        snapshot.push(names::RUN_ELAPSED_SECONDS, &[], elapsed);
    }

    /// The blocks mined so far, as an interrupted delivery.
    fn delivered_so_far(&self) -> Delivery {
        Delivery {
            blocks: self.blocks.clone(),
            interrupted: true,
            first_load_block_at: None,
        }
    }
}

/// Publishes what the engine's process group and the runner hold (see [`resources`]); an
/// engine held down by a fault, or gone, publishes nothing for that scrape.
fn push_resources(snapshot: &mut Snapshot, engine: Option<(Usage, u64)>) {
    if let Some((usage, state_bytes)) = engine {
        let gauges = [
            (names::ENGINE_RSS_BYTES, usage.rss_bytes as f64),
            (names::ENGINE_OPEN_FDS, usage.open_fds as f64),
            (names::ENGINE_THREADS, usage.threads as f64),
            (names::ENGINE_STATE_BYTES, state_bytes as f64),
        ];
        for (name, value) in gauges {
            snapshot.declare(name, MetricType::Gauge);
            snapshot.push(name, &[], value);
        }
        snapshot.declare(names::ENGINE_CPU_SECONDS_TOTAL, MetricType::Counter);
        snapshot.push(names::ENGINE_CPU_SECONDS_TOTAL, &[], usage.cpu_seconds);
    }
    if let Some(runner) = resources::of_self() {
        snapshot.declare(names::RUNNER_RSS_BYTES, MetricType::Gauge);
        snapshot.push(names::RUNNER_RSS_BYTES, &[], runner.rss_bytes as f64);
        snapshot.declare(names::RUNNER_CPU_SECONDS_TOTAL, MetricType::Counter);
        snapshot.push(names::RUNNER_CPU_SECONDS_TOTAL, &[], runner.cpu_seconds);
    }
}

/// Publishes the chain head as [`names::CHAIN_HEAD_BLOCK`], a declared gauge; nothing
/// while the head is unknown.
pub(super) fn push_chain_head(snapshot: &mut Snapshot, head: Option<u64>) {
    if let Some(head) = head {
        snapshot.declare(names::CHAIN_HEAD_BLOCK, MetricType::Gauge);
        snapshot.push(names::CHAIN_HEAD_BLOCK, &[], head as f64);
    }
}

/// Fetches the engine's and the mock's `/metrics` and keeps every raw text
/// in `metrics/engine.prom` and `metrics/mock.prom` of the run directory.
struct Scraper {
    client: reqwest::Client,
    engine_raw: Option<File>,
    mock_raw: File,
    mock_url: String,
    /// The limit between two blocks (see [`scrape_timeout`]).
    between_blocks: Duration,
}

impl Scraper {
    fn new(plan: &Plan, run_dir: &Path, mock: &MockServer, engine: bool) -> Result<Self, RunError> {
        let dir = run_dir.join("metrics");
        std::fs::create_dir_all(&dir).map_err(|source| RunError::RunDir {
            path: dir.clone(),
            source,
        })?;
        let open = |name: &str| {
            let path = dir.join(name);
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|source| RunError::RunDir { path, source })
        };
        Ok(Self {
            client: reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("a plain HTTP client builds"),
            engine_raw: engine.then(|| open("engine.prom")).transpose()?,
            mock_raw: open("mock.prom")?,
            mock_url: format!("{}/metrics", mock.url()),
            between_blocks: scrape_timeout(plan.scenario.chain.block_time.0),
        })
    }

    /// The engine's samples (when `engine_url` is given) and the mock's, as
    /// one snapshot; a failed scrape is logged and leaves its part out.
    async fn scrape(&mut self, label: &str, engine_url: Option<&str>, in_load: bool) -> Snapshot {
        let timeout = if in_load {
            self.between_blocks
        } else {
            OUTSIDE_LOAD_SCRAPE_TIMEOUT
        };
        let mut snapshot = Snapshot::default();
        if let (Some(url), Some(raw_file)) = (engine_url, self.engine_raw.as_mut()) {
            match metrics::scrape(&self.client, url, timeout).await {
                Ok((raw, parsed)) => {
                    append_raw(raw_file, label, &raw);
                    snapshot.extend(parsed);
                }
                Err(e) => tracing::warn!("engine scrape at {label} failed: {e}"),
            }
        }
        match metrics::scrape(&self.client, &self.mock_url, timeout).await {
            Ok((raw, parsed)) => {
                append_raw(&mut self.mock_raw, label, &raw);
                snapshot.extend(parsed);
            }
            Err(e) => tracing::warn!("mock scrape at {label} failed: {e}"),
        }
        snapshot
    }
}

fn append_raw(file: &mut File, label: &str, raw: &str) {
    let _ = writeln!(file, "# cowload scrape: {label}\n{raw}");
}

/// The engine under test, checked after every block: once it has exited,
/// the load stops and the verdict fails.
pub(super) struct EngineWatch<'a> {
    pub(super) engine: Option<&'a mut Engine>,
    /// How it died, once it has.
    pub(super) died: Option<EngineError>,
}

impl EngineWatch<'_> {
    /// Whether it is alive; `None` without an engine.
    fn up(&self) -> Option<bool> {
        self.engine.as_ref().map(|_| self.died.is_none())
    }

    /// What its process group holds, while it runs.
    fn usage(&self) -> Option<(Usage, u64)> {
        self.engine.as_deref().and_then(Engine::usage)
    }

    /// Its metrics URL, unless a fault holds it down (nothing to scrape then).
    fn metrics_url(&self) -> Option<String> {
        self.engine
            .as_ref()
            .filter(|e| !e.is_down())
            .map(|e| e.metrics_url.clone())
    }

    /// Whether it has exited since the last check (its exit is kept in `died`).
    fn just_died(&mut self) -> bool {
        let Some(engine) = self.engine.as_mut() else {
            return false;
        };
        if self.died.is_some() {
            return false;
        }
        self.died = engine.check_alive().err();
        self.died.is_some()
    }
}

/// Moves the scenario's faults timeline on between blocks. Faults count
/// blocks from the first loaded one (1); the last warm-up block starts those
/// of block 1.
pub(super) struct FaultDriver {
    pub(super) timeline: faults::Timeline,
    warmup_blocks: u32,
    warmup_seen: u32,
    timeline_seen: u32,
}

impl FaultDriver {
    fn new(timeline: faults::Timeline, warmup_blocks: u32) -> Self {
        Self {
            timeline,
            warmup_blocks,
            warmup_seen: 0,
            timeline_seen: 0,
        }
    }

    /// Ends faults that have lasted long enough after `block`, then starts
    /// those whose first block comes next. An engine that cannot be started
    /// again after `engine_restart` has died: returned.
    fn after(
        &mut self,
        block: &BlockDelivery,
        mut engine: Option<&mut Engine>,
    ) -> Option<EngineError> {
        if self.timeline.is_empty() {
            return None;
        }
        let mut died = None;
        let next = match block.phase {
            Phase::Warmup => {
                self.warmup_seen += 1;
                (self.warmup_seen == self.warmup_blocks).then_some(1)
            }
            Phase::Load | Phase::Drain => {
                self.timeline_seen += 1;
                died = self
                    .timeline
                    .after_block(block.block.number, engine.as_deref_mut())
                    .err();
                Some(self.timeline_seen + 1)
            }
        };
        if let Some(next) = next {
            self.timeline
                .before_block(next, Some(block.block.number), engine);
        }
        died
    }

    /// The faults' records; the timeline ends what is still active.
    fn take_records(&mut self) -> Vec<faults::Acted> {
        let empty = faults::Timeline::new(&[], 0, self.timeline.switches());
        std::mem::replace(&mut self.timeline, empty).finish()
    }
}

/// Calls the parts above after every block, in order.
pub(super) struct Observer<'a> {
    plan: &'a Plan,
    mock: &'a MockServer,
    pub(super) engine: EngineWatch<'a>,
    scraper: Scraper,
    pub(super) harness: Harness,
    pub(super) faults: FaultDriver,
    pub(super) series: Series,
    pub(super) display: report::Progress,
    cancel_load: Cancel,
    load_blocks_seen: u32,
    /// Whether to end the load once a bar has failed for good.
    pub(super) end_early: bool,
    /// Where and how often to write the verdict so far; `None`: never.
    pub(super) checkpoints: Option<Checkpoints>,
    /// The bar that ended it, and after which block.
    pub(super) ended_early: Option<report::EndedEarly>,
}

impl<'a> Observer<'a> {
    pub(super) fn new(
        plan: &'a Plan,
        run_dir: &Path,
        mock: &'a MockServer,
        engine: Option<&'a mut Engine>,
        cancel_load: Cancel,
        timeline: faults::Timeline,
    ) -> Result<Self, RunError> {
        Ok(Self {
            scraper: Scraper::new(plan, run_dir, mock, engine.is_some())?,
            plan,
            mock,
            engine: EngineWatch { engine, died: None },
            harness: Harness::default(),
            faults: FaultDriver::new(timeline, plan.scenario.load.warmup_blocks),
            series: Series::new(),
            display: report::Progress::new(),
            cancel_load,
            load_blocks_seen: 0,
            end_early: false,
            checkpoints: None,
            ended_early: None,
        })
    }

    /// One point of the series: engine + mock + the harness's own figures.
    pub(super) async fn scrape(&mut self, label: &str, block: Option<&BlockDelivery>) {
        let engine_url = self.engine.metrics_url();
        let mut snapshot = self
            .scraper
            .scrape(label, engine_url.as_deref(), block.is_some())
            .await;
        self.harness.push(&mut snapshot, block, self.engine.up());
        push_resources(&mut snapshot, self.engine.usage());
        match block {
            Some(block) => self.series.push_block(block.block.number, snapshot),
            None => self.series.push(label, snapshot),
        }
        // Taken after the mock's scrape: what its histograms counted by now is in the
        // samples of this point or an earlier one.
        self.series
            .attach_exact(self.mock.truth().take_exact_samples());
    }

    /// The blocks mined so far, as an interrupted delivery.
    pub(super) fn delivered_so_far(&self) -> Delivery {
        self.harness.delivered_so_far()
    }

    /// The first block that carried the scenario's events, once mined.
    pub(super) fn first_loaded_block(&self) -> Option<u64> {
        self.harness
            .blocks
            .iter()
            .find(|b| b.phase == Phase::Load)
            .map(|b| b.block.number)
    }

    /// The faults' records; the timeline ends what is still active.
    pub(super) fn take_fault_records(&mut self) -> Vec<faults::Acted> {
        self.faults.take_records()
    }

    /// Stops the load because the engine is gone (its exit is already in
    /// `engine.died`); the verdict fails.
    fn stop_load(&mut self, why: &str) {
        self.display.finish();
        eprintln!("{why}");
        self.cancel_load.cancel();
    }

    /// Writes the verdict so far when a checkpoint is due (see [`super::checkpoint`]); one
    /// that cannot be written is reported and the run goes on.
    fn checkpoint(&mut self, block: u64) {
        let Some(checkpoints) = self.checkpoints.as_mut() else {
            return;
        };
        if !checkpoints.due() {
            return;
        }
        let engine_log_tail = self
            .engine
            .engine
            .as_deref()
            .map(|e| e.log_tail(30))
            .unwrap_or_default();
        let state = super::checkpoint::State {
            plan: self.plan.clone(),
            delivery: self.harness.delivered_so_far(),
            series: self.series.clone(),
            mock: self.mock.truth().stats(),
            facts: checkpoints.facts_now(engine_log_tail),
            mark: Checkpoint {
                block,
                load_blocks: (self.load_blocks_seen, self.plan.scenario.load.blocks),
            },
        };
        checkpoints.write_aside(state);
    }

    /// Ends the load when, on the window so far, a bar has failed in a way
    /// no later scrape can undo; the first such bar in scenario order is named.
    fn end_if_settled(&mut self, block: u64) {
        if !self.end_early || self.ended_early.is_some() || self.series.window_start.is_none() {
            return;
        }
        let bars = &self.plan.bars;
        let verdicts = bars::evaluate(bars, &self.series);
        let Some((bar, _)) = bars
            .iter()
            .zip(&verdicts)
            .find(|(bar, verdict)| bar.failed_for_good(verdict))
        else {
            return;
        };
        self.display.finish();
        eprintln!(
            "`{}` failed for good at block {block}; ending the load early, the verdict fails",
            bar.text()
        );
        self.ended_early = Some(report::EndedEarly {
            bar: bar.text().to_owned(),
            block,
        });
        self.cancel_load.cancel();
    }
}

impl OnBlock for Observer<'_> {
    async fn on_block(&mut self, block: &BlockDelivery) {
        let number = block.block.number;
        register(&self.mock.truth(), block);
        self.harness.record(block);
        if block.phase == Phase::Load {
            if self.load_blocks_seen == 0 {
                // The window's baseline: the last scrape before this block was mined.
                self.series.open_window();
            }
            self.load_blocks_seen += 1;
        }
        if let Some(died) = self.faults.after(block, self.engine.engine.as_deref_mut()) {
            let why =
                format!("the engine could not be started again after its restart fault: {died}");
            self.engine.died.get_or_insert(died);
            self.stop_load(&why);
        }
        if self.engine.just_died() {
            self.stop_load(&format!(
                "engine exited during the run (block {number}); stopping the load, the verdict fails"
            ));
        }
        self.scrape(&format!("block {number}"), Some(block)).await;
        let position = Some((self.load_blocks_seen, self.plan.scenario.load.blocks));
        let mut line = report::BlockLine::new(block, &self.series, position);
        line.engine_lag = self
            .series
            .points
            .last()
            .and_then(|point| crate::engine::progress_at(self.plan, point))
            .map(|read| number.saturating_sub(read));
        self.display.block(&line);
        self.end_if_settled(number);
        self.checkpoint(number);
    }

    fn before_reorg(&mut self) {
        self.faults.timeline.switches().proxy.hold_for_reorg();
    }

    async fn on_reorg(&mut self, reorg: &Reorg) {
        self.display.finish();
        self.faults
            .timeline
            .switches()
            .proxy
            .reorged(reorg.removed_logs.clone());
        if let (ReorgEvents::Drop, Some((first, last))) = (reorg.events, reorg.span()) {
            self.mock.truth().reorg_out(first, last);
        }
        self.faults.timeline.reorged(reorg.fault, reorg.describe());
    }
}
