//! What the report's hint reads first: per block, what the metrics said of its interval, and
//! over the run, which bar failed first, which stage grew most, and where the engine stalled.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What the metrics say about one block's interval (its scrape minus the one before).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BlockMetrics {
    /// Order POSTs the mock received (every kind and outcome).
    pub orders_received: u64,
    /// Of those, accepted ones.
    pub orders_accepted: u64,
    /// Events declared lost in this interval.
    pub events_lost: u64,
    /// Event→order latency of the orders received in this interval.
    pub event_to_order_p50_seconds: Option<f64>,
    /// Event→order latency of the orders received in this interval.
    pub event_to_order_p99_seconds: Option<f64>,
    /// The engine's event latency p99 (per interval from a histogram, else
    /// the summary's value at this scrape).
    pub engine_latency_p99_seconds: Option<f64>,
    /// The mock's request latency p99 over this interval.
    pub mock_request_p99_seconds: Option<f64>,
    /// Events still waiting for their order at this block's scrape.
    #[serde(default)]
    pub events_awaiting: u64,
    /// The engine's resident memory at this block's scrape (`cowload_engine_rss_bytes`);
    /// absent without an engine process to read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_rss_bytes: Option<f64>,
}

/// The engine stopped posting: the first run of [`STALL_BLOCKS`] or more
/// blocks in which events waited for their order, the orderbook received no
/// POST at all, and orders came due unanswered (events were lost to their
/// deadline). Read from the harness's own data, so it names a stall in any
/// engine, whatever its metrics; events merely awaited (an engine that waits
/// for confirmations, a quiet stretch) are no stall.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Stall {
    /// The first silent block.
    pub from_block: u64,
    /// How many blocks in a row stayed silent.
    pub blocks: u64,
    /// Events waiting at the last silent block.
    pub events_waiting: u64,
    /// Events lost to their deadline during the silent blocks.
    #[serde(default)]
    pub events_lost: u64,
}

/// The first bar to fail during the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FirstFailure {
    /// The bar as written.
    pub bar: String,
    /// The scrape at which it first failed on the data so far (`block 23`,
    /// `end`); `end` also when it only failed for lack of data.
    pub at: String,
    /// The block of that scrape, when it was a block's.
    pub block: Option<u64>,
}

/// How much one stage's latency grew from the start of the load to its end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StageGrowth {
    /// Which stage.
    pub stage: Stage,
    /// Median of the per-block p99 over the first third of the loaded blocks.
    pub early_seconds: f64,
    /// Median of the per-block p99 over the last third of the loaded blocks.
    pub late_seconds: f64,
    /// `late − early`.
    pub growth_seconds: f64,
}

/// Where the time went and what saturated first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Bottleneck {
    /// The bar that failed earliest in the run, if any failed.
    pub first_failed_bar: Option<FirstFailure>,
    /// Every stage with data, largest growth first (ties by stage name).
    pub stages: Vec<StageGrowth>,
    /// The stage that grew most, when it grew by more than 1 ms and 10%.
    pub grew_most: Option<Stage>,
    /// Where the engine stopped posting while events waited, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stalled: Option<Stall>,
}

/// A stage whose latency the bottleneck hint follows over the load.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum Stage {
    /// How late the harness mined each block behind its slot.
    #[serde(rename = "harness block lateness")]
    HarnessLateness,
    /// The engine's own event latency (its histogram or summary).
    #[serde(rename = "engine event latency")]
    EngineLatency,
    /// Event block mined to first accepted order, at the mock.
    #[serde(rename = "event→order latency")]
    EventToOrder,
    /// The mock's own answer time for order POSTs.
    #[serde(rename = "mock request latency")]
    MockRequest,
}

impl Stage {
    /// As the report prints it.
    pub fn name(self) -> &'static str {
        match self {
            Stage::HarnessLateness => "harness block lateness",
            Stage::EngineLatency => "engine event latency",
            Stage::EventToOrder => "event→order latency",
            Stage::MockRequest => "mock request latency",
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
