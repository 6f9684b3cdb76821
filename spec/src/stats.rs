//! What the truth says back: [`Stats`] (served at `/_stats`) and the truth around a fault.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::names;

/// Summary of one latency-like distribution.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct Summary {
    /// Number of observations.
    pub count: u64,
    /// Smallest observation.
    pub min: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest observation.
    pub max: f64,
    /// Arithmetic mean.
    pub mean: f64,
}

/// Per-kind event accounting.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct EventStats {
    /// Events registered by the runner.
    pub registered: u64,
    /// Events whose first accepted order arrived within the deadline.
    pub matched: u64,
    /// Events with no accepted order by `block + order_deadline_blocks`.
    pub lost: u64,
    /// Lost events that got an accepted order after their deadline.
    pub late: u64,
    /// Events whose deadline lay after the run's last block and that had no order by the
    /// end: not due yet, so neither matched nor lost (and no failure).
    pub unjudged: u64,
    /// Events neither matched nor lost yet.
    pub awaiting: u64,
    /// Event block mined → first accepted POST received.
    pub latency_seconds: Summary,
    /// Head at receipt of the first accepted POST − event block.
    pub blocks: Summary,
    /// POSTs an event took up to and including its first accepted one; for TWAPs, POSTs
    /// per part (each part is one order).
    pub posts_per_event: Summary,
    /// TWAP parts whose window opened before the end of the run (0 for EthFlow).
    pub parts_expected: u64,
    /// Parts whose first accepted order arrived by the part's deadline.
    pub parts_matched: u64,
    /// Parts with no accepted order by `opening block + order_deadline_blocks`.
    pub parts_missing: u64,
    /// Missing parts that got an accepted order after their deadline.
    pub parts_late: u64,
    /// Accepted orders (another UID) for a part that already had one.
    pub parts_duplicate: u64,
    /// Parts whose deadline lay after the run's last block and that had no order by the end.
    pub parts_unjudged: u64,
    /// Parts neither matched nor missing yet.
    pub parts_awaiting: u64,
    /// Lost events by reason (`never_posted`, `rejected`, `gave_up_on_retryable`,
    /// `mismatched`, `late`); complete once the run has ended.
    pub lost_reasons: BTreeMap<String, u64>,
    /// Missing TWAP parts by reason, as `lost_reasons`.
    pub parts_missing_reasons: BTreeMap<String, u64>,
    /// Events a reorg took off the chain: no order is expected for them.
    #[serde(skip_serializing_if = "is_zero")]
    pub reorged: u64,
    /// Accepted orders for reorged events (TWAP: per part), before or after the reorg.
    #[serde(skip_serializing_if = "is_zero")]
    pub orders_for_reorged: u64,
}

/// The truth around one fault: see [`Truth::span`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SpanTruth {
    /// Events emitted in the blocks the fault is charged with.
    pub events: u64,
    /// Of those, events of blocks mined before it began that the engine had not read yet.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub events_before_start: u64,
    /// Of those, events that never got their order in time (lost, late included).
    pub lost: u64,
    /// Of those, events whose deadline lay after the run's end and that had no order yet.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unjudged: u64,
    /// Duplicates received from the fault's start until the next fault's (or the end):
    /// the same UID posted again, or a second order for a TWAP part.
    pub duplicates: u64,
    /// Seconds from the fault's end to the first accepted order received after it;
    /// `None` when none came.
    pub recovery_seconds: Option<f64>,
    /// Of the events, those a reorg took off the chain (no order expected).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reorged: u64,
    /// Accepted orders for those reorged events, received before or after the reorg.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub orders_for_reorged: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Everything the mock measured, as served at `/_stats`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct Stats {
    /// Last head set by the runner.
    pub head: u64,
    /// Deadline used to declare events lost.
    pub order_deadline_blocks: u64,
    /// `POST /api/v1/orders` requests handled (injected latency included, all outcomes).
    pub posts: u64,
    /// kind (`twap`, `ethflow`, `unmatched`) → outcome → POSTs.
    pub orders_received: BTreeMap<String, BTreeMap<String, u64>>,
    /// Accepted orders that match no registered event.
    pub unmatched_orders: u64,
    /// POSTs whose event may still be registered (not yet counted anywhere else).
    pub pending_posts: u64,
    /// kind (`twap`, `ethflow`) → event accounting.
    pub events: BTreeMap<String, EventStats>,
    /// route → status → requests.
    pub requests: BTreeMap<String, BTreeMap<String, u64>>,
    /// App-data documents the mock can serve.
    pub app_data_documents: u64,
}

/// One of the `cowload_*` histograms whose every observation the truth also keeps exactly,
/// so that bars and reports read the samples themselves, never a bucket interpolation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ExactHistogram {
    /// [`names::EVENT_TO_ORDER_SECONDS`].
    EventToOrderSeconds,
    /// [`names::EVENT_TO_ORDER_BLOCKS`].
    EventToOrderBlocks,
    /// [`names::ORDER_POSTS_PER_EVENT`].
    OrderPostsPerEvent,
}

impl ExactHistogram {
    /// Every one, in name order.
    pub const ALL: [ExactHistogram; 3] = [
        ExactHistogram::EventToOrderBlocks,
        ExactHistogram::EventToOrderSeconds,
        ExactHistogram::OrderPostsPerEvent,
    ];

    /// The histogram's metric name.
    pub fn name(self) -> &'static str {
        match self {
            ExactHistogram::EventToOrderSeconds => names::EVENT_TO_ORDER_SECONDS,
            ExactHistogram::EventToOrderBlocks => names::EVENT_TO_ORDER_BLOCKS,
            ExactHistogram::OrderPostsPerEvent => names::ORDER_POSTS_PER_EVENT,
        }
    }

    /// The histogram named `name`, if it is one of these.
    pub fn from_name(name: &str) -> Option<ExactHistogram> {
        Self::ALL.into_iter().find(|h| h.name() == name)
    }

    fn index(self) -> usize {
        match self {
            ExactHistogram::EventToOrderSeconds => 0,
            ExactHistogram::EventToOrderBlocks => 1,
            ExactHistogram::OrderPostsPerEvent => 2,
        }
    }
}

/// Exact observations of each [`ExactHistogram`] (of one kind, over one interval), in arrival
/// order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExactSamples([Vec<f64>; 3]);

impl ExactSamples {
    /// The observations of `histogram`.
    pub fn get(&self, histogram: ExactHistogram) -> &[f64] {
        &self.0[histogram.index()]
    }

    /// Adds one observation.
    pub fn push(&mut self, histogram: ExactHistogram, value: f64) {
        self.0[histogram.index()].push(value);
    }

    /// True when it holds no observation at all.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(Vec::is_empty)
    }
}
