//! Metrics (shepherd's names, types and labels) and logs.
//!
//! In: the metrics bind address and the chain ids. Out: a Prometheus recorder installed
//! globally, every counter and gauge registered at zero, and `/metrics` served before the engine
//! touches the chain, so the runner's readiness probe doubles as "the engine is up".
//!
//! `shepherd_event_latency_seconds` is a summary (quantiles 0, .5, .9, .95, .99, .999, 1: the
//! exporter's default set, which is shepherd's), and `shepherd_event_latency_seconds_histogram`
//! is its histogram twin (same samples, fixed buckets) so bars can exercise both quantile paths.
//! The exporter's summaries are rolling windows (20 s × 3 by default, i.e. a minute): a long run
//! would lose its early samples, so the window here is one bucket of [`SUMMARY_WINDOW`], which
//! covers any run the harness makes.
//!
//! A latency sample starts when the engine could first know of the event's block (its header
//! arrived, or for a block the stream skipped, the first later header: see `follow.rs`) and
//! ends when the event's handling ends, so waiting for confirmations counts and an outage does
//! not. The `reference_*` follower metrics say what the chain-fault defences did.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use anyhow::Context as _;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Summary of per-event latency (shepherd's metric).
pub const EVENT_LATENCY: &str = "shepherd_event_latency_seconds";
/// Histogram twin of [`EVENT_LATENCY`].
pub const EVENT_LATENCY_HISTOGRAM: &str = "shepherd_event_latency_seconds_histogram";
/// Errors a module hit, by kind.
pub const MODULE_ERRORS: &str = "shepherd_module_errors_total";
/// Orderbook submissions by outcome.
pub const COW_API_SUBMIT: &str = "shepherd_cow_api_submit_total";
/// Chain RPC requests by method and outcome.
pub const CHAIN_REQUEST: &str = "shepherd_chain_request_total";
/// 1 when a module has been quarantined after repeated panics.
pub const MODULE_POISONED: &str = "shepherd_module_poisoned";
/// Head-subscription reconnects.
pub const STREAM_RECONNECTS: &str = "shepherd_stream_reconnects_total";
/// Reference-only: blocks received but not yet handled (the sequential backlog).
pub const BLOCK_BACKLOG: &str = "reference_block_backlog";
/// Reference-only: blocks fully handled.
pub const BLOCKS_PROCESSED: &str = "reference_blocks_processed_total";
/// Reference-only: the number of the last block fully handled (for lag bars against the chain).
pub const HEAD_BLOCK: &str = "reference_head_block";
/// Reference-only: conditional orders the TWAP module is polling.
pub const TWAP_ACTIVE: &str = "reference_twap_active_orders";
/// Reference-only: blocks the head stream skipped (a disconnect, a restart) that were fetched by
/// number and handled.
pub const BACKFILLED_BLOCKS: &str = "reference_backfilled_blocks_total";
/// Reference-only: blocks the head stream skipped that were never handled (backfill off, or a
/// gap beyond the bound): their events are lost.
pub const SKIPPED_BLOCKS: &str = "reference_skipped_blocks_total";
/// Reference-only: times the head stream was silent for `stall_timeout`, by what the chain said
/// then (`cause`: `chain`, it had not moved; `stream`, it had, so the stream was re-opened).
pub const STREAM_SILENCES: &str = "reference_stream_silences_total";
/// Reference-only: reorgs found below the handled cursor (deeper than `confirmations`).
pub const REORGS: &str = "reference_reorgs_total";
/// Reference-only: the block a restarted engine resumed at (cursor + 1); 0 after a fresh start.
pub const RESUMED_FROM: &str = "reference_resumed_from_block";
/// Reference-only: orders the engine did not post again after a restart because its journal
/// says they were posted (or dropped) before.
pub const RESTORED_UIDS: &str = "reference_restored_uids";

/// How long a summary keeps samples: longer than any run, so quantiles cover the whole run.
pub const SUMMARY_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

/// Bucket bounds (seconds) of the histogram twin: 1 ms to 64 s, dense around one block time.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0,
    8.0, 12.0, 16.0, 32.0, 64.0,
];

/// The two modules.
pub const MODULES: [&str; 2] = [Module::Twap.as_str(), Module::EthFlow.as_str()];

/// `error_kind` values this engine emits itself (orderbook rejections add their `errorType`).
pub const ERROR_KINDS: [&str; 6] = [
    ErrorKind::PollReverted.as_str(),
    ErrorKind::RpcError.as_str(),
    ErrorKind::DecodeError.as_str(),
    ErrorKind::AppDataUnavailable.as_str(),
    ErrorKind::InvalidOrder.as_str(),
    ErrorKind::Trap.as_str(),
];

/// `outcome` values of [`COW_API_SUBMIT`].
pub const SUBMIT_OUTCOMES: [&str; 4] = ["accepted", "duplicate", "retry", "rejected"];

/// `method` values of [`CHAIN_REQUEST`].
pub const CHAIN_METHODS: [&str; 5] = [
    "eth_subscribe",
    "eth_getLogs",
    "eth_call",
    "eth_getBlockByNumber",
    "eth_blockNumber",
];

/// `outcome` values of [`CHAIN_REQUEST`]: `revert` is an `eth_call` the node answered with a
/// revert (a normal poll answer for a TWAP that is not tradeable yet), `err` is everything else
/// that failed.
pub const CHAIN_OUTCOMES: [&str; 3] = ["ok", "revert", "err"];

/// `kind` of [`STREAM_RECONNECTS`] for the new-heads subscription (shepherd's "block").
pub const STREAM_KIND_BLOCK: &str = "block";

/// A module label value.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Hash)]
pub enum Module {
    /// ComposableCoW conditional orders.
    Twap,
    /// CoWSwapEthFlow on-chain orders.
    EthFlow,
}

impl Module {
    /// The `module` label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Twap => "twap",
            Self::EthFlow => "ethflow",
        }
    }
}

/// An `event_kind` label value.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum EventKind {
    /// `ComposableCoW.ConditionalOrderCreated` (handling includes the first poll).
    ConditionalOrderCreated,
    /// `CoWSwapEthFlow.OrderPlacement`.
    OrderPlacement,
    /// One `getTradeableOrderWithSignature` poll of an active conditional order.
    Poll,
}

impl EventKind {
    /// The `event_kind` label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ConditionalOrderCreated => "conditional_order_created",
            Self::OrderPlacement => "order_placement",
            Self::Poll => "poll",
        }
    }
}

/// An `error_kind` label value produced by the engine itself.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum ErrorKind {
    /// `getTradeableOrderWithSignature` reverted without a known poll signal (e.g. EOA owner).
    PollReverted,
    /// An RPC a module needed failed (not a revert).
    RpcError,
    /// Logs or return data did not decode.
    DecodeError,
    /// The order's appData document could not be fetched from the orderbook.
    AppDataUnavailable,
    /// The order could not be assembled into a valid submission.
    InvalidOrder,
    /// The handler panicked (shepherd's word for a module crash).
    Trap,
}

impl ErrorKind {
    /// The `error_kind` label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::PollReverted => "poll_reverted",
            Self::RpcError => "rpc_error",
            Self::DecodeError => "decode_error",
            Self::AppDataUnavailable => "app_data_unavailable",
            Self::InvalidOrder => "invalid_order",
            Self::Trap => "trap",
        }
    }
}

/// Build the recorder with shepherd's summary and the histogram twin, and install it globally.
pub fn install_recorder() -> anyhow::Result<PrometheusHandle> {
    builder()?
        .install_recorder()
        .context("installing the Prometheus recorder")
}

fn builder() -> anyhow::Result<PrometheusBuilder> {
    let bucket_count = NonZeroU32::new(1).context("bucket count is non-zero")?;
    Ok(PrometheusBuilder::new()
        .set_bucket_duration(SUMMARY_WINDOW)?
        .set_bucket_count(bucket_count)
        .set_buckets_for_metric(
            Matcher::Full(EVENT_LATENCY_HISTOGRAM.to_owned()),
            LATENCY_BUCKETS,
        )?)
}

/// Describe every metric and register counters and gauges at zero for every label value the
/// engine can emit, so `increase(x) == 0` bars have a series from the first scrape.
pub fn register(chain_ids: &[u64]) {
    describe();
    for module in MODULES {
        for kind in ERROR_KINDS {
            metrics::counter!(MODULE_ERRORS, "module" => module, "error_kind" => kind).absolute(0);
        }
        metrics::gauge!(MODULE_POISONED, "module" => module).set(0.0);
    }
    for chain in chain_ids {
        let chain = chain.to_string();
        for outcome in SUBMIT_OUTCOMES {
            metrics::counter!(COW_API_SUBMIT, "chain_id" => chain.clone(), "outcome" => outcome)
                .absolute(0);
        }
        for method in CHAIN_METHODS {
            for outcome in CHAIN_OUTCOMES {
                metrics::counter!(
                    CHAIN_REQUEST,
                    "chain_id" => chain.clone(),
                    "method" => method,
                    "outcome" => outcome
                )
                .absolute(0);
            }
        }
        metrics::counter!(STREAM_RECONNECTS, "kind" => STREAM_KIND_BLOCK, "chain_id" => chain.clone())
            .absolute(0);
        metrics::gauge!(BLOCK_BACKLOG, "chain_id" => chain.clone()).set(0.0);
        metrics::counter!(BLOCKS_PROCESSED, "chain_id" => chain.clone()).absolute(0);
        metrics::gauge!(HEAD_BLOCK, "chain_id" => chain.clone()).set(0.0);
        metrics::gauge!(TWAP_ACTIVE, "chain_id" => chain.clone()).set(0.0);
        for name in [BACKFILLED_BLOCKS, SKIPPED_BLOCKS, REORGS] {
            metrics::counter!(name, "chain_id" => chain.clone()).absolute(0);
        }
        metrics::gauge!(RESUMED_FROM, "chain_id" => chain.clone()).set(0.0);
        metrics::gauge!(RESTORED_UIDS, "chain_id" => chain).set(0.0);
    }
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_histogram!(
        EVENT_LATENCY,
        Unit::Seconds,
        "time from receiving the block header to finishing an event's handling"
    );
    describe_histogram!(
        EVENT_LATENCY_HISTOGRAM,
        Unit::Seconds,
        "histogram twin of shepherd_event_latency_seconds"
    );
    describe_counter!(MODULE_ERRORS, "errors a module hit, by kind");
    describe_counter!(COW_API_SUBMIT, "orderbook order submissions by outcome");
    describe_counter!(CHAIN_REQUEST, "chain RPC requests by method and outcome");
    describe_gauge!(
        MODULE_POISONED,
        "1 when the module is quarantined after repeated traps"
    );
    describe_counter!(STREAM_RECONNECTS, "subscription stream reconnects");
    describe_gauge!(
        BLOCK_BACKLOG,
        "reference engine: blocks received but not yet handled"
    );
    describe_counter!(BLOCKS_PROCESSED, "reference engine: blocks fully handled");
    describe_gauge!(
        HEAD_BLOCK,
        "reference engine: number of the last block fully handled"
    );
    describe_gauge!(
        TWAP_ACTIVE,
        "reference engine: conditional orders being polled"
    );
    describe_counter!(
        BACKFILLED_BLOCKS,
        "reference engine: missed blocks fetched by number and handled"
    );
    describe_counter!(
        SKIPPED_BLOCKS,
        "reference engine: missed blocks never handled (their events are lost)"
    );
    describe_counter!(
        REORGS,
        "reference engine: reorgs found below the handled cursor"
    );
    describe_gauge!(
        RESUMED_FROM,
        "reference engine: block a restart resumed at (0: fresh start)"
    );
    describe_gauge!(
        RESTORED_UIDS,
        "reference engine: posted or dropped order UIDs restored from the journal at start"
    );
}

/// Count blocks of a follower counter ([`BACKFILLED_BLOCKS`] or [`SKIPPED_BLOCKS`]).
pub fn follower_blocks(chain_id: u64, name: &'static str, blocks: u64) {
    metrics::counter!(name, "chain_id" => chain_id.to_string()).increment(blocks);
}

/// Record one event's latency in the summary and its histogram twin.
pub fn record_latency(module: Module, kind: EventKind, latency: Duration) {
    let secs = latency.as_secs_f64();
    let (m, k) = (module.as_str(), kind.as_str());
    metrics::histogram!(EVENT_LATENCY, "module" => m, "event_kind" => k).record(secs);
    metrics::histogram!(EVENT_LATENCY_HISTOGRAM, "module" => m, "event_kind" => k).record(secs);
}

/// Count one module error.
pub fn module_error(module: Module, kind: &str) {
    metrics::counter!(MODULE_ERRORS, "module" => module.as_str(), "error_kind" => kind.to_owned())
        .increment(1);
}

/// Count one chain request.
pub fn chain_request(chain_id: u64, method: &'static str, outcome: &'static str) {
    metrics::counter!(
        CHAIN_REQUEST,
        "chain_id" => chain_id.to_string(),
        "method" => method,
        "outcome" => outcome
    )
    .increment(1);
}

/// Count one orderbook submission.
pub fn submit(chain_id: u64, outcome: &'static str) {
    let lie = outcome == "accepted"
        && crate::mutant::active() == Some(crate::mutant::Mutant::LieAccepted);
    metrics::counter!(COW_API_SUBMIT, "chain_id" => chain_id.to_string(), "outcome" => outcome)
        .increment(if lie { 2 } else { 1 });
}

/// Bind `addr` and serve `GET /metrics` until the process ends. Binding happens before this
/// returns, so a port clash is reported at start.
pub async fn serve(
    addr: SocketAddr,
    handle: PrometheusHandle,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the metrics server to {addr}"))?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            upkeep.run_upkeep();
        }
    });
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let handle = handle.clone();
            async move { handle.render() }
        }),
    );
    Ok(tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, app).await {
            tracing::error!(%err, "metrics server stopped");
        }
    }))
}

/// Log to stderr at `level` (a `tracing` filter; checked when the config was parsed).
pub fn init_logs(level: &str) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(level).context("log_level")?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init()
        .map_err(|e| anyhow::anyhow!("initialising logs: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Render what a scrape would see after `register` and two latency samples.
    fn scrape() -> String {
        let recorder = builder().expect("valid builder").build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            register(&[11_155_111]);
            record_latency(Module::Twap, EventKind::Poll, Duration::from_millis(30));
            record_latency(Module::Twap, EventKind::Poll, Duration::from_millis(700));
        });
        handle.render()
    }

    #[test]
    fn latency_is_a_summary_with_shepherds_quantiles_and_a_histogram_twin() {
        let text = scrape();
        assert!(
            text.contains("# TYPE shepherd_event_latency_seconds summary"),
            "{text}"
        );
        for q in ["0", "0.5", "0.9", "0.95", "0.99", "0.999", "1"] {
            let line = format!("shepherd_event_latency_seconds{{module=\"twap\",event_kind=\"poll\",quantile=\"{q}\"}}");
            assert!(text.contains(&line), "missing {line}");
        }
        assert!(
            text.contains(
                "shepherd_event_latency_seconds_count{module=\"twap\",event_kind=\"poll\"} 2"
            ),
            "{text}"
        );
        assert!(
            text.contains("# TYPE shepherd_event_latency_seconds_histogram histogram"),
            "{text}"
        );
        assert!(
            text.contains("shepherd_event_latency_seconds_histogram_bucket{module=\"twap\",event_kind=\"poll\",le=\"0.05\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("shepherd_event_latency_seconds_histogram_bucket{module=\"twap\",event_kind=\"poll\",le=\"0.75\"} 2"),
            "{text}"
        );
    }

    #[test]
    fn counters_and_gauges_exist_at_zero_before_anything_happens() {
        let text = scrape();
        let expected = [
            "shepherd_module_errors_total{module=\"twap\",error_kind=\"poll_reverted\"} 0",
            "shepherd_module_errors_total{module=\"ethflow\",error_kind=\"trap\"} 0",
            "shepherd_cow_api_submit_total{chain_id=\"11155111\",outcome=\"accepted\"} 0",
            "shepherd_cow_api_submit_total{chain_id=\"11155111\",outcome=\"retry\"} 0",
            "shepherd_chain_request_total{chain_id=\"11155111\",method=\"eth_call\",outcome=\"revert\"} 0",
            "shepherd_chain_request_total{chain_id=\"11155111\",method=\"eth_getLogs\",outcome=\"ok\"} 0",
            "shepherd_module_poisoned{module=\"twap\"} 0",
            "shepherd_module_poisoned{module=\"ethflow\"} 0",
            "shepherd_stream_reconnects_total{kind=\"block\",chain_id=\"11155111\"} 0",
            "reference_block_backlog{chain_id=\"11155111\"} 0",
            "reference_backfilled_blocks_total{chain_id=\"11155111\"} 0",
            "reference_skipped_blocks_total{chain_id=\"11155111\"} 0",
            "reference_reorgs_total{chain_id=\"11155111\"} 0",
            "reference_resumed_from_block{chain_id=\"11155111\"} 0",
        ];
        for line in expected {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
        assert!(
            text.contains("# TYPE shepherd_module_poisoned gauge"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE shepherd_module_errors_total counter"),
            "{text}"
        );
    }
}
