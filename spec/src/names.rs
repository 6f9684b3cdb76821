//! The name of every metric cowload writes or reads, in one place: the mock's `cowload_*`
//! series, the harness's own, and the engine series the report knows.
//!
//! In: nothing. Out: `pub const` names. Why: the mock and the runner write these series, the
//! runner's report, timeline and bars read them, and the docs promise them to scenario
//! authors; a name typed twice drifts, a constant used twice cannot. Label values are enums
//! in [`crate::labels`].

/// Counter of `POST /api/v1/orders` by matched event `kind` (or `unmatched`) and `outcome`.
pub const ORDERS_RECEIVED_TOTAL: &str = "cowload_orders_received_total";

/// Counter of POSTs answered 201, every kind together (no labels): what an engine's own accepted counter is held against.
pub const ORDERS_ACCEPTED_TOTAL: &str = "cowload_orders_accepted_total";

/// Counter by `kind` of accepted POSTs that are not the exact order their event requires.
pub const ORDERS_MISMATCHED_TOTAL: &str = "cowload_orders_mismatched_total";

/// Counter by `kind` of events the runner registered.
pub const EVENTS_REGISTERED_TOTAL: &str = "cowload_events_registered_total";

/// Counter by `kind` of events whose first order was accepted in time.
pub const EVENTS_MATCHED_TOTAL: &str = "cowload_events_matched_total";

/// Counter by `kind` of events with no accepted order by their deadline.
pub const EVENTS_LOST_TOTAL: &str = "cowload_events_lost_total";

/// Counter by `kind` of lost events that got an accepted order later.
pub const EVENTS_LATE_TOTAL: &str = "cowload_events_late_total";

/// Counter by `kind` of events whose deadline lay after the run's last block and that had no order by then: not due yet, never lost (counted when the books close).
pub const EVENTS_UNJUDGED_TOTAL: &str = "cowload_events_unjudged_total";

/// Counter by `kind` of events a reorg took off the chain: no order is expected for them.
pub const EVENTS_REORGED_TOTAL: &str = "cowload_events_reorged_total";

/// Counter by `kind` of accepted orders for events a reorg took off the chain (TWAP: per part), whether they came before or after the reorg.
pub const ORDERS_FOR_REORGED_EVENTS_TOTAL: &str = "cowload_orders_for_reorged_events_total";

/// Counter of lost events by `kind` and `reason` (`LOST_REASONS`), counted when the reason is final: `late` when the order arrives after the deadline, any other when the books close.
pub const EVENTS_LOST_REASON_TOTAL: &str = "cowload_events_lost_reason_total";

/// Gauge by `kind` of events neither matched nor lost yet.
pub const EVENTS_AWAITING_ORDER: &str = "cowload_events_awaiting_order";

/// Counter of accepted orders that match no registered event.
pub const UNMATCHED_ORDERS_TOTAL: &str = "cowload_unmatched_orders_total";

/// Histogram by `kind`: seconds from the event's block being mined to its first accepted order.
pub const EVENT_TO_ORDER_SECONDS: &str = "cowload_event_to_order_seconds";

/// Histogram by `kind`: blocks from the event's block to the head when its first order was accepted.
pub const EVENT_TO_ORDER_BLOCKS: &str = "cowload_event_to_order_blocks";

/// Histogram by `kind`: POSTs one order took up to its first acceptance.
pub const ORDER_POSTS_PER_EVENT: &str = "cowload_order_posts_per_event";

/// Counter of TWAP parts by `outcome` (`PART_OUTCOMES`).
pub const TWAP_PARTS_TOTAL: &str = "cowload_twap_parts_total";

/// Gauge of TWAP parts whose window opened and that have neither an order nor a verdict yet.
pub const TWAP_PARTS_AWAITING: &str = "cowload_twap_parts_awaiting_order";

/// Counter of missing TWAP parts by `reason` (`LOST_REASONS`), counted as for events.
pub const TWAP_PARTS_MISSING_REASON_TOTAL: &str = "cowload_twap_parts_missing_reason_total";

/// Counter of every HTTP request to the mock by `route` and `status`.
pub const MOCK_REQUESTS_TOTAL: &str = "cowload_mock_requests_total";

/// Histogram by `route` of the time the mock took to answer.
pub const MOCK_REQUEST_DURATION_SECONDS: &str = "cowload_mock_request_duration_seconds";

// The harness's own series, published by the runner with every scrape.

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
/// Harness gauge: seconds of wall-clock time since the run started; the time axis of
/// `deriv()`.
pub const RUN_ELAPSED_SECONDS: &str = "cowload_run_elapsed_seconds";

// The engine's process group and the runner itself, read from /proc with every scrape.

/// Harness gauge: resident memory of the engine's process group.
pub const ENGINE_RSS_BYTES: &str = "cowload_engine_rss_bytes";
/// Harness counter: CPU seconds (user + system) the engine's process group has used.
pub const ENGINE_CPU_SECONDS_TOTAL: &str = "cowload_engine_cpu_seconds_total";
/// Harness gauge: open file descriptors (sockets included) of the engine's process group.
pub const ENGINE_OPEN_FDS: &str = "cowload_engine_open_fds";
/// Harness gauge: threads of the engine's process group.
pub const ENGINE_THREADS: &str = "cowload_engine_threads";
/// Harness gauge: bytes of the files in the engine's state directory (`${STATE_DIR}`).
pub const ENGINE_STATE_BYTES: &str = "cowload_engine_state_bytes";
/// Harness gauge: the runner's own resident memory.
pub const RUNNER_RSS_BYTES: &str = "cowload_runner_rss_bytes";
/// Harness counter: CPU seconds the runner itself has used (the mock and proxies run inside it).
pub const RUNNER_CPU_SECONDS_TOTAL: &str = "cowload_runner_cpu_seconds_total";

/// The engine's event latency: shepherd publishes a summary.
pub const ENGINE_LATENCY: &str = "shepherd_event_latency_seconds";
/// The reference engine's histogram twin of [`ENGINE_LATENCY`], preferred when present
/// because it can be read per block.
pub const ENGINE_LATENCY_HISTOGRAM: &str = "shepherd_event_latency_seconds_histogram";

/// The label names of the series above, and the two Prometheus itself gives buckets and
/// summary quantiles.
pub mod label {
    /// The event kind (`twap`, `ethflow`) or [`crate::UNMATCHED`].
    pub const KIND: &str = "kind";
    /// How a POST ended ([`crate::PostResult`]) or what became of a part ([`crate::PartOutcome`]).
    pub const OUTCOME: &str = "outcome";
    /// Why an event was lost ([`crate::LossReason`]).
    pub const REASON: &str = "reason";
    /// The mock's route of a request.
    pub const ROUTE: &str = "route";
    /// The HTTP status of a request.
    pub const STATUS: &str = "status";
    /// A histogram bucket's upper bound.
    pub const LE: &str = "le";
    /// A summary's quantile.
    pub const QUANTILE: &str = "quantile";
}
