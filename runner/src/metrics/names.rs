//! The name of every series the runner writes or reads, in one place.
//!
//! In: nothing. Out: `pub const` names: the harness's own series, the engine series the
//! report knows, and (re-exported) every series of the mock. Why: the pipeline publishes these
//! names, the report, timeline and bars read them, and the docs promise them to scenario
//! authors; a name typed in two places drifts, a constant cannot.

pub use mock_orderbook::names::*;

/// Harness counter by `kind`: events the scenario asked for so far.
pub const EVENTS_REQUESTED_TOTAL: &str = "cowload_events_requested_total";
/// Harness counter by `kind`: events found on chain so far.
pub const EVENTS_DELIVERED_TOTAL: &str = "cowload_events_delivered_total";
/// Harness gauge: delivered ÷ requested events, every kind together.
pub const EVENTS_DELIVERED_RATIO: &str = "cowload_events_delivered_ratio";
/// Harness counter: load transactions that did not emit their event.
pub const LOAD_TRANSACTIONS_FAILED_TOTAL: &str = "cowload_load_transactions_failed_total";
/// Harness gauge: TWAPs whose lifetime covers the last block (what an engine polls).
pub const ACTIVE_TWAPS: &str = "cowload_active_twaps";
/// Harness gauge: how much later than its slot the last block was mined.
pub const BLOCK_LATE_SECONDS: &str = "cowload_block_late_seconds";
/// Harness gauge: the number of the block just mined.
pub const BLOCK_NUMBER: &str = "cowload_block_number";
/// Harness gauge: the chain head's block number at every scrape, so a bar can hold an
/// engine's own height against it: `max(cowload_chain_head_block - engine_block_height) <= 2`.
pub const CHAIN_HEAD_BLOCK: &str = "cowload_chain_head_block";
/// Harness gauge: 1 while the engine process is alive, 0 once it has exited.
pub const ENGINE_UP: &str = "cowload_engine_up";

/// The engine's event latency: shepherd publishes a summary.
pub const ENGINE_LATENCY: &str = "shepherd_event_latency_seconds";
/// The reference engine's histogram twin of [`ENGINE_LATENCY`], preferred when present
/// because it can be read per block.
pub const ENGINE_LATENCY_HISTOGRAM: &str = "shepherd_event_latency_seconds_histogram";
