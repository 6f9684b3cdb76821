//! Scenarios built from typed data: the runner's own [`Scenario`] with the defaults its
//! deserialiser fills in, the fields a test sets through small chainable methods, and
//! `serde_yaml_ng` writing the file. No scenario text is assembled by hand, so a test cannot
//! misplace an indent or a brace, and a renamed field is a compile error here.
//!
//! Scenarios whose point is the text itself (line and column of an error, a spelling) stay
//! text: `runner/tests/bad/` and the tests that name them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use runner::scenario::faults::{Fault, FaultSpec, Span};
use runner::scenario::{
    DelaySpec, Dur, ForkSpec, LatencySpec, OwnerKind, PerBlock, Scenario, SCENARIO_VERSION,
};

/// A scenario under construction: `ScenarioBuilder::new("name")`, the fields the test
/// cares about, then [`ScenarioBuilder::write`] (or [`ScenarioBuilder::yaml`]).
#[derive(Debug, Clone)]
pub struct ScenarioBuilder {
    scenario: Scenario,
    /// `chain.id` is written only when a test set it: fork and fixture runs check a
    /// written id against the chain's own (the plan's `chain_id_written`), so the
    /// default must stay unwritten.
    chain_id_written: bool,
}

impl ScenarioBuilder {
    /// The scenario `name` with every default of the model: one loaded block, no events
    /// (set them with [`ScenarioBuilder::per_block`]), the reference engine, no bars.
    pub fn new(name: &str) -> Self {
        // The least a scenario must say; serde fills in every other field's default, so
        // the defaults are the model's own, never a copy of them.
        let least = serde_json::json!({
            "version": SCENARIO_VERSION,
            "name": name,
            "load": { "blocks": 1, "per_block": {} },
        });
        let scenario = serde_json::from_value(least).expect("the least scenario deserialises");
        Self {
            scenario,
            chain_id_written: false,
        }
    }

    /// A short, light run of the reference engine with its bundled config: 2 TWAP + 2
    /// EthFlow orders per 500 ms block, 2 warm-up, 4 loaded and 3 drain blocks. The common
    /// base of tests that check behaviour rather than capacity; add bars and the chain.
    pub fn short_light(name: &str) -> Self {
        Self::new(name)
            .seed(5)
            .block_time(std::time::Duration::from_millis(500))
            .warmup_blocks(2)
            .drain_blocks(3)
            .blocks(4)
            .per_block(2, 2)
            .reference_engine_config()
    }

    /// The typed scenario as built (defaults included).
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// Whether the written file says `chain.id`.
    pub fn writes_chain_id(&self) -> bool {
        self.chain_id_written
    }

    pub fn seed(mut self, seed: u64) -> Self {
        self.scenario.seed = seed;
        self
    }

    /// `chain.id`, written into the file.
    pub fn chain_id(mut self, id: u64) -> Self {
        self.scenario.chain.id = id;
        self.chain_id_written = true;
        self
    }

    pub fn block_time(mut self, block_time: Duration) -> Self {
        self.scenario.chain.block_time = Dur(block_time);
        self
    }

    pub fn gas_limit(mut self, gas_limit: u64) -> Self {
        self.scenario.chain.gas_limit = gas_limit;
        self
    }

    /// `chain.fixtures`: the directory holding `replay.<chainId>.json`.
    pub fn fixtures(mut self, dir: impl Into<PathBuf>) -> Self {
        self.scenario.chain.fixtures = Some(dir.into());
        self
    }

    /// `chain.fixture`: a recorded chain fixture (relative to the scenario file).
    pub fn fixture(mut self, file: impl Into<PathBuf>) -> Self {
        self.scenario.chain.fixture = Some(file.into());
        self
    }

    /// `chain.fork` at the latest block; `url` may be a `${VAR}`, expanded when the file is read.
    pub fn fork(mut self, url: &str) -> Self {
        self.scenario.chain.fork = Some(ForkSpec {
            url: url.to_owned(),
            block: None,
        });
        self
    }

    pub fn warmup_blocks(mut self, blocks: u32) -> Self {
        self.scenario.load.warmup_blocks = blocks;
        self
    }

    /// `load.blocks`: the blocks that carry events.
    pub fn blocks(mut self, blocks: u32) -> Self {
        self.scenario.load.blocks = blocks;
        self
    }

    pub fn drain_blocks(mut self, blocks: u32) -> Self {
        self.scenario.load.drain_blocks = blocks;
        self
    }

    /// `load.per_block`: TWAP creates and EthFlow orders per loaded block.
    pub fn per_block(mut self, twap: u32, ethflow: u32) -> Self {
        self.scenario.load.per_block = PerBlock::from([twap, ethflow]);
        self
    }

    /// Bursts of `twap` + `ethflow` events per block for the last `lasts` of every `every`.
    pub fn bursts(mut self, every: Span, lasts: Span, twap: u32, ethflow: u32) -> Self {
        self.scenario.load.bursts = Some(runner::scenario::BurstSpec {
            every,
            lasts,
            per_block: PerBlock::from([twap, ethflow]),
        });
        self
    }

    /// `load.twap.owner` and `load.twap.owners`.
    pub fn twap_owners(mut self, owner: OwnerKind, owners: u32) -> Self {
        self.scenario.load.twap.owner = owner;
        self.scenario.load.twap.owners = owners;
        self
    }

    /// `load.twap.parts` and `load.twap.part_duration`.
    pub fn twap_parts(mut self, parts: u32, part_duration: Duration) -> Self {
        self.scenario.load.twap.parts = parts;
        self.scenario.load.twap.part_duration = Dur(part_duration);
        self
    }

    /// `orderbook.latency`: the same fixed delay on every endpoint.
    pub fn orderbook_latency(mut self, latency: Duration) -> Self {
        self.scenario.orderbook.latency = LatencySpec::All(DelaySpec::Fixed(Dur(latency)));
        self
    }

    /// One entry of `orderbook.errors`: the fraction of posts answered with `error_type`.
    pub fn orderbook_error(mut self, error_type: &str, fraction: f64) -> Self {
        self.scenario
            .orderbook
            .errors
            .insert(error_type.to_owned(), fraction);
        self
    }

    pub fn order_deadline_blocks(mut self, blocks: u32) -> Self {
        self.scenario.orderbook.order_deadline_blocks = blocks;
        self
    }

    /// `engine.enabled: false`: chain, load and mock only.
    pub fn engine_disabled(mut self) -> Self {
        self.scenario.engine.enabled = false;
        self
    }

    /// `engine.command`: program and arguments.
    pub fn engine_command<S: Into<String>>(mut self, command: impl IntoIterator<Item = S>) -> Self {
        self.scenario.engine.command = Some(command.into_iter().map(Into::into).collect());
        self
    }

    /// `engine.config`: the engine's config template.
    pub fn engine_config(mut self, template: impl Into<PathBuf>) -> Self {
        self.scenario.engine.config = Some(template.into());
        self
    }

    /// `engine.config` naming the reference engine's template in the repository
    /// (`engine.load.toml`) rather than the copy compiled into the runner.
    pub fn reference_engine_config(self) -> Self {
        self.engine_config(crate::common::project_root().join("engine.load.toml"))
    }

    /// One entry of `engine.env`.
    pub fn engine_env(mut self, name: &str, value: &str) -> Self {
        self.scenario
            .engine
            .env
            .insert(name.to_owned(), value.to_owned());
        self
    }

    /// `engine.progress`: the engine's "last block processed" series.
    pub fn engine_progress(mut self, series: &str) -> Self {
        self.scenario.engine.progress = Some(series.to_owned());
        self
    }

    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.scenario.engine.startup_timeout = Dur(timeout);
        self
    }

    /// One more acceptance bar, as written.
    pub fn bar(mut self, bar: &str) -> Self {
        self.scenario.bars.push(bar.to_owned());
        self
    }

    /// Several more bars, in order.
    pub fn bars<S: AsRef<str>>(self, bars: impl IntoIterator<Item = S>) -> Self {
        bars.into_iter().fold(self, |b, bar| b.bar(bar.as_ref()))
    }

    /// One more fault of the timeline: `fault` at loaded block `at`, lasting `lasts`.
    pub fn fault(mut self, at: u32, lasts: Span, fault: Fault) -> Self {
        self.scenario.faults.push(FaultSpec {
            at,
            lasts,
            every: None,
            fault,
        });
        self
    }

    /// Repeats the fault added last every `every` (its `every:` field).
    pub fn every(mut self, every: Span) -> Self {
        let last = self.scenario.faults.last_mut().expect("a fault to repeat");
        last.every = Some(every);
        self
    }

    /// The scenario file's text.
    pub fn yaml(&self) -> String {
        let mut document =
            serde_yaml_ng::to_value(&self.scenario).expect("a Scenario always serialises");
        if !self.chain_id_written {
            document
                .get_mut("chain")
                .and_then(serde_yaml_ng::Value::as_mapping_mut)
                .expect("the chain section")
                .remove("id");
        }
        serde_yaml_ng::to_string(&document).expect("a YAML value always serialises")
    }

    /// Writes the scenario as `<dir>/<file_name>` (a `.yaml` name) and returns its path.
    pub fn write(&self, dir: &Path, file_name: &str) -> PathBuf {
        crate::common::scenario(dir, file_name, &self.yaml())
    }
}

/// A fault length of whole blocks (`3 blocks`).
pub fn blocks(n: u32) -> Span {
    Span::Blocks(n)
}

/// Milliseconds, for block times, latencies and timeouts.
pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Seconds, for block times, latencies and timeouts.
pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[cfg(test)]
mod tests {
    use runner::scenario::faults::{ReorgEvents, RpcErrorKind, StopSignal};

    use super::*;

    /// Builds, writes and loads `built` through the runner's own `scenario::load`; the plan
    /// must hold exactly the scenario built, and say `chain.id` only when it was set.
    fn round_trip(built: &ScenarioBuilder) -> runner::scenario::Plan {
        let dir = tempfile::tempdir().unwrap();
        let file = built.write(dir.path(), "built.yaml");
        let plan = runner::scenario::load(&file)
            .unwrap_or_else(|e| panic!("{e}\n--- the file:\n{}", built.yaml()));
        assert_eq!(&plan.scenario, built.scenario(), "{}", built.yaml());
        assert_eq!(
            plan.chain_id_written,
            built.writes_chain_id(),
            "{}",
            built.yaml()
        );
        plan
    }

    #[test]
    fn the_least_scenario_loads_back_with_the_model_defaults() {
        let built = ScenarioBuilder::new("least").per_block(1, 0);
        let plan = round_trip(&built);
        assert_eq!(plan.scenario.load.blocks, 1);
        assert_eq!(plan.scenario.chain.id, runner::scenario::DEFAULT_CHAIN_ID);
        assert!(!built.yaml().contains("id:"), "{}", built.yaml());
    }

    #[test]
    fn every_field_a_test_sets_loads_back_as_built() {
        let built = ScenarioBuilder::new("every-field")
            .seed(7)
            .chain_id(11_155_111)
            .block_time(ms(500))
            .gas_limit(100_000_000)
            .warmup_blocks(1)
            .blocks(10)
            .drain_blocks(6)
            .per_block(3, 2)
            .twap_owners(OwnerKind::RevertCode, 2)
            .twap_parts(30, secs(2))
            .orderbook_latency(ms(10))
            .orderbook_error("InvalidSignature", 0.25)
            .order_deadline_blocks(5)
            .engine_command(["python3", "engine.py", "${METRICS_ADDR}", "${RPC_HTTP_URL}"])
            .reference_engine_config()
            .engine_env("REFERENCE_PER_EVENT_COST", "150ms")
            .engine_progress("reference_head_block")
            .startup_timeout(secs(3))
            .bars([
                r#"increase(cowload_orders_received_total{outcome="duplicate"}) == 0"#,
                "quantile(0.99, crafted_slow_seconds) < 12s",
            ])
            .fault(1, blocks(1), Fault::WsDisconnect {})
            .fault(
                2,
                blocks(1),
                Fault::EngineRestart {
                    signal: StopSignal::Term,
                },
            )
            .fault(
                3,
                blocks(1),
                Fault::RpcLatency {
                    methods: vec!["eth_getLogs".to_owned()],
                    latency: DelaySpec::Fixed(Dur(ms(300))),
                },
            )
            .fault(
                4,
                blocks(2),
                Fault::RpcErrors {
                    methods: vec!["eth_getLogs".to_owned()],
                    fraction: 1.0,
                    error: RpcErrorKind::HeaderNotFound,
                },
            )
            .fault(
                7,
                blocks(2),
                Fault::Reorg {
                    events: ReorgEvents::Drop,
                },
            );
        let plan = round_trip(&built);
        assert_eq!(plan.bars.len(), 2);
        assert_eq!(plan.scenario.faults.len(), 5);
    }

    #[test]
    fn fork_and_recorded_fixture_scenarios_leave_the_chain_id_unwritten() {
        let built = ScenarioBuilder::new("fork")
            .fork("http://127.0.0.1:8545/")
            .per_block(2, 2)
            .engine_disabled();
        round_trip(&built);
        let recorded = ScenarioBuilder::new("fixture")
            .fixture("sepolia.fixture.json")
            .per_block(1, 1)
            .engine_disabled();
        round_trip(&recorded);
    }
}
