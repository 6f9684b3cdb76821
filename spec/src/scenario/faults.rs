//! The scenario's `faults:` timeline: chain-side faults the runner injects
//! while the load runs, each starting at a loaded block and lasting a number
//! of blocks or a duration.
//!
//! In: the `faults` list as written. Out: [`FaultSpec`]s, and the problems of
//! the list (each placed at its entry's key, all of them at once, overlapping
//! entries explained). The runner acts them out in its `faults` stage.
//!
//! Why one fault at a time: every fault gets its own verdict (events during
//! it, lost, duplicates, recovery time). Two faults on the same blocks would
//! share their events, and neither verdict would say which fault lost them.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::orderbook::DelaySpec;

/// The error answers `rpc_errors` can give; each as a provider returns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RpcErrorKind {
    /// JSON-RPC error `-32005` "limit exceeded" (a provider's rate limit).
    LimitExceeded,
    /// JSON-RPC error `-32000` "header not found" (a node behind its peers).
    HeaderNotFound,
    /// HTTP 429 Too Many Requests (on a WebSocket: JSON-RPC error `-32005`).
    Http429,
    /// HTTP 503 Service Unavailable (on a WebSocket: JSON-RPC error `-32603`).
    Http503,
    /// JSON-RPC error `-32005` "query returned more than 10000 results" (an
    /// `eth_getLogs` range too large).
    RangeTooLarge,
}

impl RpcErrorKind {
    /// The HTTP status this error comes with, when it is not a JSON-RPC error.
    pub fn http_status(self) -> Option<u16> {
        match self {
            RpcErrorKind::Http429 => Some(429),
            RpcErrorKind::Http503 => Some(503),
            RpcErrorKind::LimitExceeded
            | RpcErrorKind::HeaderNotFound
            | RpcErrorKind::RangeTooLarge => None,
        }
    }

    /// The JSON-RPC error's code and message (also the WebSocket form of the HTTP ones).
    pub fn json_rpc_error(self) -> (i64, &'static str) {
        match self {
            RpcErrorKind::LimitExceeded => (-32005, "limit exceeded"),
            RpcErrorKind::HeaderNotFound => (-32000, "header not found"),
            RpcErrorKind::Http429 => (-32005, "429 Too Many Requests"),
            RpcErrorKind::Http503 => (-32603, "503 Service Unavailable"),
            RpcErrorKind::RangeTooLarge => (-32005, "query returned more than 10000 results"),
        }
    }
}

/// What a hosted RPC provider refuses, each limit left out when not imposed. The engine's
/// requests through the proxy are held to them: for the whole run (`chain.rpc_limits`), or
/// for a fault's span (`rpc_limits`, in place of the run's).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RpcLimits {
    /// `eth_getLogs` over more blocks than this (`fromBlock`..`toBlock`, `latest` being the
    /// head) is refused with JSON-RPC `-32005`, as providers cap a log query's range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_block_range: Option<u64>,
    /// Requests beyond this many per second (all methods, HTTP and WebSocket together) are
    /// refused: HTTP 429, or JSON-RPC `-32005` on a WebSocket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_second: Option<u32>,
    /// An answer larger than this many bytes is replaced by JSON-RPC `-32005` "response size
    /// exceeded" (subscription notifications are not answers and pass).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_response_bytes: Option<u64>,
}

impl RpcLimits {
    /// No limit imposed.
    pub fn is_none(&self) -> bool {
        *self == Self::default()
    }

    /// Each limit that is set but zero, by its key.
    pub fn zeros(&self) -> Vec<&'static str> {
        let mut zeros = Vec::new();
        if self.max_block_range == Some(0) {
            zeros.push("max_block_range");
        }
        if self.requests_per_second == Some(0) {
            zeros.push("requests_per_second");
        }
        if self.max_response_bytes == Some(0) {
            zeros.push("max_response_bytes");
        }
        zeros
    }
}

/// One chain-side fault on the load's block timeline: when, how long, and what goes wrong.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FaultSpec {
    /// The loaded block (1 = the first block of the load, at most
    /// `load.blocks`) the fault starts at: before it is mined, so its events
    /// are emitted during the fault.
    pub at: u32,
    /// How long it lasts: `3 blocks` (block slots of the run), or a duration
    /// such as `5s`, which ends the fault at the first block mined after it.
    /// For `engine_restart`: how long the engine stays down. For `reorg`: its
    /// depth, in blocks only: the blocks it covers are the blocks replaced.
    #[serde(rename = "for")]
    pub lasts: Span,
    /// Repeat it: again every `every` (blocks, or a duration in block times) after `at`,
    /// as long as a repeat still ends before the run does (see [`expand`]). Each repeat is a
    /// fault of its own, judged on its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<Span>,
    /// What goes wrong (`kind`) and the fields that kind takes.
    #[serde(flatten)]
    pub fault: Fault,
}

impl FaultSpec {
    /// Its kind, by name.
    pub fn kind(&self) -> FaultKind {
        self.fault.kind()
    }
}

/// What goes wrong: the `kind` of a fault entry, with the fields that kind takes and no
/// other (a field of another kind is refused when the scenario is read).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// The RPC proxy closes every WebSocket of the engine and refuses new
    /// ones for the fault's length; HTTP JSON-RPC keeps answering.
    WsDisconnect {},
    /// The engine is stopped (`signal`), stays down for the fault's length
    /// and is started again with the same command and state directory.
    EngineRestart {
        /// `kill` (SIGKILL, a crash; the default) or `term` (SIGTERM, an orderly stop;
        /// SIGKILL after 3 s).
        #[serde(default)]
        signal: StopSignal,
    },
    /// A `fraction` of the requests for `methods` is answered with `error`.
    RpcErrors {
        /// The JSON-RPC methods it hits (`eth_getLogs`, `eth_call`…); left out, every method.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        methods: Vec<String>,
        /// The fraction of those requests answered with `error` (0 to 1).
        fraction: f64,
        /// The answer given instead of Anvil's.
        error: RpcErrorKind,
    },
    /// Requests for `methods` wait `latency` before they are forwarded.
    RpcLatency {
        /// The JSON-RPC methods it hits; left out, every method.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        methods: Vec<String>,
        /// The delay before each request is forwarded, as the orderbook's latency (`200ms`,
        /// or a distribution).
        latency: DelaySpec,
    },
    /// Sockets stay open and nothing is answered, over HTTP and WebSocket.
    RpcHang {},
    /// `eth_blockNumber` and `newHeads` are served `behind` blocks behind.
    StaleHead {
        /// How many blocks behind (at least 1).
        behind: u32,
    },
    /// State reads (`eth_call`, `eth_getCode`, `eth_getStorageAt`, `eth_getBalance`…) are
    /// answered by a node `behind` blocks below the head the logs and heads show, as behind a
    /// load balancer whose nodes disagree: `latest` is its head, and a block it does not have
    /// yet is `header not found`.
    StateLag {
        /// How many blocks behind (at least 1).
        behind: u32,
    },
    /// The fault's blocks are mined as usual; in the slot after its last one, Anvil replaces
    /// them by as many new blocks holding the same transactions, or none (`events`).
    /// Subscribers to `logs` through the proxy get the replaced blocks' logs again with
    /// `removed: true`, before the new blocks' logs.
    Reorg {
        /// What becomes of the replaced blocks' transactions (`reinclude`, the default, or
        /// `drop`).
        #[serde(default)]
        events: ReorgEvents,
    },
    /// The engine's process group is stopped (SIGSTOP) for the fault's length and continued
    /// (SIGCONT) after: a frozen process (a long GC pause, a suspended VM) that keeps its
    /// memory and its sockets, unlike a restart. Its metrics are not scraped meanwhile.
    EnginePause {},
    /// No block is mined for the fault's length (a duration, or `N blocks`: that many block
    /// times), as when a sequencer halts or L1 stalls. The load's block `at` is the first block
    /// after the pause, and mining goes on at the block time from there.
    ChainPause {},
    /// The engine's requests are held to a provider's limits for the fault's length (in place
    /// of `chain.rpc_limits`, which apply again after).
    RpcLimits {
        #[serde(flatten)]
        limits: RpcLimits,
    },
    /// The mock orderbook answers a `fraction` of order POSTs with `answer` for the fault's
    /// length, then recovers. No order is judged meanwhile, and every event or TWAP part still
    /// awaiting its order when the outage ends has its deadline counted again from the
    /// outage's last block.
    OrderbookOutage {
        /// An orderbook errorType (`InsufficientBalance`, `QuoteNotFound`…) or a transport
        /// fault (`Http503`, `Http429`, `Http500`, `ConnectionReset`, `SlowResponse`), as the
        /// keys of `orderbook.errors`.
        answer: String,
        /// The share of order POSTs answered so (0 to 1; every one by default).
        #[serde(default = "every_request")]
        fraction: f64,
    },
}

fn every_request() -> f64 {
    1.0
}

impl Fault {
    /// Its kind, by name.
    pub fn kind(&self) -> FaultKind {
        match self {
            Fault::WsDisconnect {} => FaultKind::WsDisconnect,
            Fault::EngineRestart { .. } => FaultKind::EngineRestart,
            Fault::RpcErrors { .. } => FaultKind::RpcErrors,
            Fault::RpcLatency { .. } => FaultKind::RpcLatency,
            Fault::RpcHang {} => FaultKind::RpcHang,
            Fault::StaleHead { .. } => FaultKind::StaleHead,
            Fault::StateLag { .. } => FaultKind::StateLag,
            Fault::Reorg { .. } => FaultKind::Reorg,
            Fault::EnginePause {} => FaultKind::EnginePause,
            Fault::ChainPause {} => FaultKind::ChainPause,
            Fault::OrderbookOutage { .. } => FaultKind::OrderbookOutage,
            Fault::RpcLimits { .. } => FaultKind::RpcLimits,
        }
    }
}

/// The faults the runner can inject, by name: what a fault record and the report call one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// [`Fault::WsDisconnect`].
    WsDisconnect,
    /// [`Fault::EngineRestart`].
    EngineRestart,
    /// [`Fault::RpcErrors`].
    RpcErrors,
    /// [`Fault::RpcLatency`].
    RpcLatency,
    /// [`Fault::RpcHang`].
    RpcHang,
    /// [`Fault::StaleHead`].
    StaleHead,
    /// [`Fault::StateLag`].
    StateLag,
    /// [`Fault::Reorg`].
    Reorg,
    /// [`Fault::EnginePause`].
    EnginePause,
    /// [`Fault::ChainPause`].
    ChainPause,
    /// [`Fault::OrderbookOutage`].
    OrderbookOutage,
    /// [`Fault::RpcLimits`].
    RpcLimits,
}

/// What a `reorg` does with the transactions of the blocks it replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReorgEvents {
    /// Each transaction is mined again, at the same height: every event
    /// still needs exactly one order.
    #[default]
    Reinclude,
    /// The transactions are gone: their events need no order, and an order
    /// for one counts in `cowload_orders_for_reorged_events_total`.
    Drop,
}

impl FaultKind {
    /// Whether it can keep the engine from reading a block mined just before it began (an
    /// RPC fault, a dropped socket, a stopped engine): such a fault is charged with the
    /// blocks the engine had not read yet. A reorg replaces its own blocks and nothing else;
    /// a chain that pauses, or an orderbook that fails, leaves the blocks before it as
    /// readable as ever (an outage holds every awaiting order's deadline instead).
    pub fn hinders_reading(self) -> bool {
        match self {
            FaultKind::WsDisconnect
            | FaultKind::EngineRestart
            | FaultKind::RpcErrors
            | FaultKind::RpcLatency
            | FaultKind::RpcHang
            | FaultKind::StaleHead
            | FaultKind::StateLag
            | FaultKind::RpcLimits
            | FaultKind::EnginePause => true,
            FaultKind::Reorg | FaultKind::ChainPause | FaultKind::OrderbookOutage => false,
        }
    }

    /// The name a scenario writes.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::WsDisconnect => "ws_disconnect",
            FaultKind::EngineRestart => "engine_restart",
            FaultKind::RpcErrors => "rpc_errors",
            FaultKind::RpcLatency => "rpc_latency",
            FaultKind::RpcHang => "rpc_hang",
            FaultKind::StaleHead => "stale_head",
            FaultKind::StateLag => "state_lag",
            FaultKind::Reorg => "reorg",
            FaultKind::EnginePause => "engine_pause",
            FaultKind::ChainPause => "chain_pause",
            FaultKind::OrderbookOutage => "orderbook_outage",
            FaultKind::RpcLimits => "rpc_limits",
        }
    }
}

/// How `engine_restart` stops the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StopSignal {
    /// SIGKILL: the engine gets no chance to save anything.
    #[default]
    Kill,
    /// SIGTERM: an orderly stop (SIGKILL after the grace period).
    Term,
}

/// A fault's length: whole blocks, or a duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    Blocks(u32),
    Time(Duration),
}

impl Span {
    /// How long it lasts at `block_time`: a duration as written, `N blocks` as that many
    /// block times.
    pub fn duration(self, block_time: Duration) -> Duration {
        match self {
            Span::Blocks(n) => block_time.saturating_mul(n),
            Span::Time(t) => t,
        }
    }

    /// The block slots it covers at `block_time`: a duration rounds up,
    /// since the fault ends at the first block mined after it.
    pub fn blocks(self, block_time: Duration) -> u64 {
        match self {
            Span::Blocks(n) => u64::from(n),
            Span::Time(t) => {
                let slot = block_time.as_nanos().max(1);
                t.as_nanos().div_ceil(slot).max(1) as u64
            }
        }
    }
}

impl std::fmt::Display for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Span::Blocks(1) => write!(f, "1 block"),
            Span::Blocks(n) => write!(f, "{n} blocks"),
            Span::Time(t) => write!(f, "{}", humantime::format_duration(*t)),
        }
    }
}

impl Serialize for Span {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        parse_span(&text).map_err(serde::de::Error::custom)
    }
}

/// `N block(s)` or a duration with a unit.
fn parse_span(text: &str) -> Result<Span, String> {
    let trimmed = text.trim();
    let blocks = trimmed
        .strip_suffix("blocks")
        .or_else(|| trimmed.strip_suffix("block"));
    if let Some(count) = blocks {
        return count
            .trim()
            .parse::<u32>()
            .map(Span::Blocks)
            .map_err(|_| format!("bad fault length {text:?}: write e.g. `3 blocks` or `5s`"));
    }
    humantime::parse_duration(trimmed)
        .map(Span::Time)
        .map_err(|e| format!("bad fault length {text:?}: {e} (write e.g. `3 blocks` or `5s`)"))
}

impl JsonSchema for Span {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "FaultLength".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "Whole blocks (`3 blocks`, `1 block`) or a duration with a unit (`5s`, `500ms`)",
            "pattern": "^\\s*([0-9]+\\s*blocks?|[0-9]+(\\.[0-9]+)?\\s*(ns|us|µs|ms|s|sec|m|min|h)(\\s*[0-9]+\\s*(ns|us|µs|ms|s|m|h))*)\\s*$"
        })
    }
}

/// Longest a fault may last, in blocks: a typo's guard, as for the load.
pub const MAX_FAULT_BLOCKS: u64 = 10_000;

/// Longest a `chain_pause` may hold the chain: minutes are what halts last in practice, and
/// every wait of a run is bounded.
pub const MAX_CHAIN_PAUSE: Duration = Duration::from_secs(600);

/// Deepest reorg: the deepest an engine must be ready to undo in practice is a
/// few blocks (Ethereum finalises after two epochs); 64 leaves room.
pub const MAX_REORG_DEPTH: u32 = 64;

/// One problem of the `faults` list: the entry, the key within it, the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultProblem {
    pub index: usize,
    pub key: &'static str,
    pub message: String,
}

/// What the timeline needs from the rest of the scenario.
pub struct Frame {
    pub load_blocks: u32,
    pub drain_blocks: u32,
    pub block_time: Duration,
    pub engine_enabled: bool,
    /// `orderbook.order_deadline_blocks`: a reorg may not be deeper (an event
    /// it removes must still be awaiting its order, not already lost).
    pub order_deadline_blocks: u64,
}

impl Frame {
    /// The frame of `scenario`'s timeline.
    pub fn of(scenario: &super::Scenario) -> Frame {
        Frame {
            load_blocks: scenario.load.blocks,
            drain_blocks: scenario.load.drain_blocks,
            block_time: scenario.chain.block_time.0,
            engine_enabled: scenario.engine.enabled,
            order_deadline_blocks: scenario.orderbook.order_deadline_blocks.into(),
        }
    }
}

/// The loaded blocks (1-based, load numbering) a fault covers: its start and last block. A
/// chain pause covers the one block mined after it; every other fault its `for`.
pub fn covered(fault: &FaultSpec, block_time: Duration) -> (u64, u64) {
    let start = u64::from(fault.at);
    let blocks = match fault.fault {
        Fault::ChainPause {} => 1,
        _ => fault.lasts.blocks(block_time).max(1),
    };
    (start, start + blocks - 1)
}

/// The timeline as it runs: every entry at its `at`, and an entry with `every` again at each
/// repeat whose blocks end before the last block of the run (a repeat that would outlast the
/// run is left out: nothing could measure its recovery). Each comes with the index of the
/// entry it repeats; no repeat carries `every` itself.
pub fn expand(faults: &[FaultSpec], frame: &Frame) -> Vec<(usize, FaultSpec)> {
    let last_block = u64::from(frame.load_blocks) + u64::from(frame.drain_blocks);
    let mut out = Vec::new();
    for (index, fault) in faults.iter().enumerate() {
        let once = FaultSpec {
            every: None,
            ..fault.clone()
        };
        let step = fault
            .every
            .map_or(0, |every| every.blocks(frame.block_time));
        if step == 0 {
            out.push((index, once));
            continue;
        }
        let starts = (u64::from(fault.at)..=u64::from(frame.load_blocks)).step_by(step as usize);
        for at in starts {
            let repeat = FaultSpec {
                at: at as u32,
                ..once.clone()
            };
            let (_, end) = covered(&repeat, frame.block_time);
            // The first one stays, for `check` to refuse when it does not fit.
            if end < last_block || at == u64::from(fault.at) {
                out.push((index, repeat));
            }
        }
    }
    out
}

/// Every problem of the list, in entry order, then the overlaps (repeats included).
pub fn check(faults: &[FaultSpec], frame: &Frame) -> Vec<FaultProblem> {
    let mut problems = Vec::new();
    let mut fail = |index, key, message: String| {
        problems.push(FaultProblem {
            index,
            key,
            message: format!("faults[{index}].{key}: {message}"),
        })
    };
    let last_block = u64::from(frame.load_blocks) + u64::from(frame.drain_blocks);
    for (index, fault) in faults.iter().enumerate() {
        let kind = fault.kind().name();
        if !frame.engine_enabled {
            fail(index, "kind", format!("{kind} acts on the engine, and engine.enabled is false; enable the engine or remove the fault"));
        }
        if fault.at < 1 || fault.at > frame.load_blocks {
            fail(
                index,
                "at",
                format!(
                    "must be a loaded block between 1 and load.blocks ({}), got {}",
                    frame.load_blocks, fault.at
                ),
            );
        }
        let length = fault.lasts.blocks(frame.block_time);
        if matches!(fault.lasts, Span::Blocks(0))
            || matches!(fault.lasts, Span::Time(t) if t.is_zero())
        {
            fail(
                index,
                "for",
                "must be at least 1 block (or a duration above 0s)".to_owned(),
            );
        } else if length > MAX_FAULT_BLOCKS {
            fail(
                index,
                "for",
                format!("must be at most {MAX_FAULT_BLOCKS} blocks, got {length}"),
            );
        } else if fault.at >= 1 {
            let (start, end) = covered(fault, frame.block_time);
            // The fault must end while blocks are still mined, or nothing
            // would ever measure the engine's recovery.
            if end >= last_block {
                fail(index, "for", format!(
                    "{kind} at block {start} for {} ends after block {end}, but the run mines {last_block} blocks after the warm-up (load.blocks + load.drain_blocks); shorten it or add drain blocks so at least one block follows it",
                    fault.lasts
                ));
            }
        }
        kind_fields(index, fault, frame, &mut fail);
        repeats(index, fault, frame, &mut fail);
    }
    overlaps(&expand(faults, frame), frame, &mut problems);
    problems
}

/// `every` must leave a gap between one repeat's end and the next start, and a reorg (which
/// rewrites blocks) is not repeated.
fn repeats(
    index: usize,
    fault: &FaultSpec,
    frame: &Frame,
    fail: &mut impl FnMut(usize, &'static str, String),
) {
    let Some(every) = fault.every else {
        return;
    };
    if matches!(fault.fault, Fault::Reorg { .. }) {
        fail(
            index,
            "every",
            "a reorg is not repeated; write one entry per reorg".to_owned(),
        );
        return;
    }
    let step = every.blocks(frame.block_time);
    let (start, end) = covered(fault, frame.block_time);
    let length = end - start + 1;
    if step <= length {
        fail(
            index,
            "every",
            format!(
                "{every} is {step} blocks, and each repeat covers {length}: repeats would run into each other; repeat at least every {} blocks",
                length + 1
            ),
        );
    }
}

/// The ranges of a kind's own fields (which fields a kind takes, serde has checked).
fn kind_fields(
    index: usize,
    fault: &FaultSpec,
    frame: &Frame,
    fail: &mut impl FnMut(usize, &'static str, String),
) {
    let kind = fault.kind().name();
    let methods = match &fault.fault {
        Fault::RpcErrors {
            fraction, methods, ..
        } => {
            if !(0.0..=1.0).contains(fraction) {
                fail(
                    index,
                    "fraction",
                    format!("must be between 0 and 1, got {fraction}"),
                );
            }
            &methods[..]
        }
        Fault::RpcLatency { latency, methods } => {
            let latency = crate::latency::Latency::same(latency.runtime());
            if let Err(e) = latency.validate() {
                fail(index, "latency", e.to_string());
            }
            &methods[..]
        }
        Fault::StaleHead { behind } | Fault::StateLag { behind } => {
            if *behind == 0 {
                fail(index, "behind", "must be at least 1 block".to_owned());
            }
            &[]
        }
        Fault::Reorg { .. } => {
            reorg_depth(index, fault.lasts, frame, fail);
            &[]
        }
        Fault::ChainPause {} => {
            let pause = fault.lasts.duration(frame.block_time);
            if pause > MAX_CHAIN_PAUSE {
                fail(
                    index,
                    "for",
                    format!(
                        "a chain may pause at most {}, got {}",
                        humantime::format_duration(MAX_CHAIN_PAUSE),
                        humantime::format_duration(pause)
                    ),
                );
            }
            &[]
        }
        Fault::RpcLimits { limits } => {
            if limits.is_none() {
                fail(
                    index,
                    "kind",
                    "rpc_limits imposes no limit; set max_block_range, requests_per_second or max_response_bytes".to_owned(),
                );
            }
            for key in limits.zeros() {
                fail(index, key, "must be at least 1".to_owned());
            }
            &[]
        }
        Fault::OrderbookOutage { answer, fraction } => {
            if !crate::orderbook::is_known_fault(answer) {
                fail(
                    index,
                    "answer",
                    format!(
                        "unknown answer {answer:?}; an errorType ({}) or a transport fault ({})",
                        crate::orderbook::KNOWN_ERROR_TYPES.join(", "),
                        crate::orderbook::TRANSPORT_FAULTS.join(", ")
                    ),
                );
            }
            if !(*fraction > 0.0 && *fraction <= 1.0) {
                fail(
                    index,
                    "fraction",
                    format!("must be above 0 and at most 1, got {fraction}"),
                );
            }
            &[]
        }
        Fault::WsDisconnect {}
        | Fault::EngineRestart { .. }
        | Fault::RpcHang {}
        | Fault::EnginePause {} => &[],
    };
    for (i, method) in methods.iter().enumerate() {
        if method.trim().is_empty() {
            fail(
                index,
                "methods",
                format!(
                    "{kind}: methods[{i}] is empty; name a JSON-RPC method such as eth_getLogs"
                ),
            );
        }
    }
}

/// A reorg's `for` is its depth: whole blocks, at most [`MAX_REORG_DEPTH`] and no deeper than
/// the order deadline.
fn reorg_depth(
    index: usize,
    lasts: Span,
    frame: &Frame,
    fail: &mut impl FnMut(usize, &'static str, String),
) {
    match lasts {
        Span::Time(_) => fail(
            index,
            "for",
            "a reorg's `for` is its depth in blocks, e.g. `for: 2 blocks`, not a duration"
                .to_owned(),
        ),
        Span::Blocks(depth) if depth > MAX_REORG_DEPTH => fail(
            index,
            "for",
            format!("a reorg may be at most {MAX_REORG_DEPTH} blocks deep, got {depth}"),
        ),
        Span::Blocks(depth) if u64::from(depth) > frame.order_deadline_blocks => fail(
            index,
            "for",
            format!(
                "a reorg {depth} blocks deep is deeper than orderbook.order_deadline_blocks ({}): its first block's events would count as lost before the reorg removes them; raise the deadline to {depth} or more",
                frame.order_deadline_blocks
            ),
        ),
        Span::Blocks(_) => {}
    }
}

/// Each entry that shares a block with an earlier one, with both spans;
/// entries whose own start is wrong are left to their own problem.
/// Faults that cover a common block, over the expanded timeline (each entry with the index
/// of the entry it repeats; one problem per entry at most).
fn overlaps(faults: &[(usize, FaultSpec)], frame: &Frame, problems: &mut Vec<FaultProblem>) {
    let placed = |f: &FaultSpec| (1..=frame.load_blocks).contains(&f.at);
    let spans: Vec<_> = faults
        .iter()
        .map(|(_, f)| covered(f, frame.block_time))
        .collect();
    let mut reported = std::collections::BTreeSet::new();
    for (position, (index, fault)) in faults.iter().enumerate().filter(|(_, (_, f))| placed(f)) {
        let index = *index;
        let (start, end) = spans[position];
        let earlier = faults[..position]
            .iter()
            .zip(&spans)
            .find(|((o, f), (s, e))| *o != index && placed(f) && *s <= end && start <= *e);
        if let Some(((other, other_fault), (s, e))) = earlier {
            if !reported.insert(index) {
                continue;
            }
            problems.push(FaultProblem {
                index,
                key: "at",
                message: format!(
                    "faults[{index}].at: {} at block {start} for {} (blocks {start}–{end}) overlaps faults[{other}], {} at block {s} for {} (blocks {s}–{e}); faults run one at a time so each has its own verdict: start it at block {} or later",
                    fault.kind().name(),
                    fault.lasts,
                    other_fault.kind().name(),
                    other_fault.lasts,
                    e + 1
                ),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(fault: Fault, at: u32, lasts: Span) -> FaultSpec {
        FaultSpec {
            at,
            lasts,
            every: None,
            fault,
        }
    }

    fn ws(at: u32, lasts: Span) -> FaultSpec {
        fault(Fault::WsDisconnect {}, at, lasts)
    }

    fn restart(at: u32, lasts: Span) -> FaultSpec {
        fault(
            Fault::EngineRestart {
                signal: StopSignal::Kill,
            },
            at,
            lasts,
        )
    }

    #[test]
    fn each_kind_checks_the_ranges_of_its_own_fields() {
        let errors = Fault::RpcErrors {
            methods: vec!["eth_getLogs".to_owned(), " ".to_owned()],
            fraction: 1.5,
            error: RpcErrorKind::Http429,
        };
        let latency = Fault::RpcLatency {
            methods: Vec::new(),
            latency: DelaySpec::Uniform {
                min: crate::orderbook::Dur(Duration::from_millis(9)),
                max: crate::orderbook::Dur(Duration::from_millis(1)),
            },
        };
        let stale = Fault::StaleHead { behind: 0 };
        let good = Fault::RpcErrors {
            methods: vec!["eth_getLogs".to_owned()],
            fraction: 0.5,
            error: RpcErrorKind::Http429,
        };
        let faults = [
            fault(errors, 2, Span::Blocks(2)),
            fault(latency, 5, Span::Blocks(2)),
            fault(stale, 8, Span::Blocks(2)),
            fault(good, 11, Span::Blocks(2)),
        ];
        let problems = check(&faults, &frame());
        let got: Vec<String> = problems.iter().map(|p| p.message.clone()).collect();
        assert_eq!(
            got,
            [
                "faults[0].fraction: must be between 0 and 1, got 1.5",
                "faults[0].methods: rpc_errors: methods[1] is empty; name a JSON-RPC method such as eth_getLogs",
                "faults[1].latency: latency of post_orders: uniform min 9ms is above max 1ms; swap them",
                "faults[2].behind: must be at least 1 block",
            ]
        );
    }

    /// A field of another kind, or a kind without its own, is refused when the file is read,
    /// with the entry's place (serde's internally tagged enum).
    #[test]
    fn a_kind_takes_its_own_fields_and_no_other() {
        #[derive(Debug, Deserialize)]
        struct List {
            #[allow(dead_code)]
            faults: Vec<FaultSpec>,
        }
        let cases = [
            (
                "faults:\n  - kind: ws_disconnect\n    at: 3\n    for: 2 blocks\n    signal: term\n",
                "faults[0]: unknown field `signal`",
            ),
            (
                "faults:\n  - kind: rpc_errors\n    at: 3\n    for: 2 blocks\n    fraction: 0.5\n",
                "faults[0]: missing field `error`",
            ),
            (
                "faults:\n  - kind: rpc_errorz\n    at: 3\n    for: 2 blocks\n",
                "unknown variant `rpc_errorz`",
            ),
        ];
        for (text, want) in cases {
            let error = serde_yaml_ng::from_str::<List>(text).expect_err(text);
            assert!(error.to_string().contains(want), "{error}");
            assert_eq!(error.location().map(|l| l.line()), Some(2), "{error}");
        }
        let read: List =
            serde_yaml_ng::from_str("faults:\n  - kind: engine_restart\n    at: 3\n    for: 2s\n")
                .unwrap();
        assert_eq!(
            read.faults[0].fault,
            Fault::EngineRestart {
                signal: StopSignal::Kill
            }
        );
    }

    /// A chain pause holds the one block after it, whatever its length, so a fault right
    /// after it does not overlap; its length is bounded.
    #[test]
    fn a_chain_pause_covers_the_block_after_it_and_is_bounded() {
        let pause = |at, lasts| fault(Fault::ChainPause {}, at, lasts);
        let long = pause(3, Span::Time(Duration::from_secs(30)));
        assert_eq!(covered(&long, Duration::from_secs(1)), (3, 3));
        assert_eq!(
            Span::Blocks(4).duration(Duration::from_millis(500)),
            Duration::from_secs(2)
        );
        let faults = [long, ws(4, Span::Blocks(2))];
        assert_eq!(check(&faults, &frame()), []);
        let problems = check(&[pause(3, Span::Time(Duration::from_secs(601)))], &frame());
        let got: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(
            got,
            ["faults[0].for: a chain may pause at most 10m, got 10m 1s"]
        );
    }

    #[test]
    fn an_outage_answers_with_what_the_error_mix_knows() {
        let outage = |answer: &str, fraction| Fault::OrderbookOutage {
            answer: answer.to_owned(),
            fraction,
        };
        let faults = [
            fault(outage("Http503", 1.0), 2, Span::Blocks(2)),
            fault(outage("QuoteNotFound", 0.5), 5, Span::Blocks(2)),
            fault(outage("Http504", 1.0), 8, Span::Blocks(2)),
            fault(outage("Http429", 0.0), 11, Span::Blocks(2)),
        ];
        let problems = check(&faults, &frame());
        let got: Vec<(usize, &str)> = problems.iter().map(|p| (p.index, p.key)).collect();
        assert_eq!(got, [(2, "answer"), (3, "fraction")], "{problems:?}");
        assert!(problems[0].message.contains("unknown answer \"Http504\""));
        let read: Fault =
            serde_yaml_ng::from_str("kind: orderbook_outage\nanswer: Http503\n").unwrap();
        assert_eq!(read, outage("Http503", 1.0), "every request by default");
    }

    #[test]
    fn rpc_limits_read_their_own_fields_and_impose_at_least_one() {
        #[derive(Debug, Deserialize)]
        struct List {
            faults: Vec<FaultSpec>,
        }
        let read: List = serde_yaml_ng::from_str(
            "faults:\n  - kind: rpc_limits\n    at: 3\n    for: 2 blocks\n    max_block_range: 2\n    requests_per_second: 20\n",
        )
        .unwrap();
        let Fault::RpcLimits { limits } = read.faults[0].fault else {
            panic!("{:?}", read.faults[0]);
        };
        assert_eq!(limits.max_block_range, Some(2));
        assert_eq!(limits.requests_per_second, Some(20));
        assert_eq!(limits.max_response_bytes, None);
        let typo = serde_yaml_ng::from_str::<List>(
            "faults:\n  - kind: rpc_limits\n    at: 3\n    for: 2 blocks\n    max_blok_range: 2\n",
        );
        assert!(typo.is_err(), "{typo:?}");
        let none = fault(
            Fault::RpcLimits {
                limits: RpcLimits::default(),
            },
            2,
            Span::Blocks(2),
        );
        let zero = fault(
            Fault::RpcLimits {
                limits: RpcLimits {
                    max_response_bytes: Some(0),
                    ..RpcLimits::default()
                },
            },
            5,
            Span::Blocks(2),
        );
        let problems = check(&[none, zero], &frame());
        let got: Vec<(usize, &str)> = problems.iter().map(|p| (p.index, p.key)).collect();
        assert_eq!(
            got,
            [(0, "kind"), (1, "max_response_bytes")],
            "{problems:?}"
        );
    }

    fn frame() -> Frame {
        Frame {
            load_blocks: 20,
            drain_blocks: 5,
            block_time: Duration::from_secs(1),
            engine_enabled: true,
            order_deadline_blocks: 3,
        }
    }

    #[test]
    fn a_repeated_fault_runs_again_every_step_while_a_repeat_ends_before_the_run() {
        // 20 loaded + 5 drain blocks; a 2-block restart from block 3, every 6 blocks: 3, 9, 15
        // and 21 would start in the load, but 21 is past load.blocks; all end by block 25.
        let mut every = restart(3, Span::Blocks(2));
        every.every = Some(Span::Blocks(6));
        let expanded = expand(&[ws(1, Span::Blocks(1)), every.clone()], &frame());
        let starts: Vec<(usize, u32)> = expanded.iter().map(|(i, f)| (*i, f.at)).collect();
        assert_eq!(starts, [(0, 1), (1, 3), (1, 9), (1, 15)]);
        assert!(expanded.iter().all(|(_, f)| f.every.is_none()));
        assert!(check(&[every.clone()], &frame()).is_empty());
        // A duration counts in block times: 6 s at 1 s blocks is the same.
        every.every = Some(Span::Time(Duration::from_secs(6)));
        assert_eq!(expand(&[every.clone()], &frame()).len(), 3);
        // A repeat that would not end before the run is left out: 4 blocks from 19 would
        // end at 22, which fits; 5 drain blocks leave room; 10 blocks from 17 would not.
        let mut long = restart(1, Span::Blocks(10));
        long.every = Some(Span::Blocks(16));
        let starts: Vec<u32> = expand(&[long], &frame())
            .iter()
            .map(|(_, f)| f.at)
            .collect();
        assert_eq!(starts, [1], "17 + 10 blocks ends after block 25");
    }

    #[test]
    fn repeats_that_run_into_each_other_or_into_another_fault_are_refused() {
        let mut tight = restart(3, Span::Blocks(3));
        tight.every = Some(Span::Blocks(3));
        let problems = check(&[tight], &frame());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].key, "every");
        assert!(
            problems[0]
                .message
                .contains("repeat at least every 4 blocks"),
            "{problems:?}"
        );

        // The third repeat (block 13) meets a later entry at block 14.
        let mut every = restart(3, Span::Blocks(2));
        every.every = Some(Span::Blocks(5));
        let problems = check(&[every, ws(14, Span::Blocks(1))], &frame());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!((problems[0].index, problems[0].key), (1, "at"));
        assert!(
            problems[0].message.contains("overlaps faults[0]"),
            "{problems:?}"
        );

        let mut reorg = fault(
            Fault::Reorg {
                events: ReorgEvents::Drop,
            },
            3,
            Span::Blocks(1),
        );
        reorg.every = Some(Span::Blocks(5));
        let problems = check(&[reorg], &frame());
        assert!(problems.iter().any(|p| p.key == "every"), "{problems:?}");
    }

    #[test]
    fn lengths_parse_as_blocks_or_durations() {
        assert_eq!(parse_span("3 blocks"), Ok(Span::Blocks(3)));
        assert_eq!(parse_span(" 1 block"), Ok(Span::Blocks(1)));
        assert_eq!(parse_span("2blocks"), Ok(Span::Blocks(2)));
        assert_eq!(
            parse_span("1500ms"),
            Ok(Span::Time(Duration::from_millis(1500)))
        );
        assert!(parse_span("x blocks").unwrap_err().contains("3 blocks"));
        assert!(parse_span("soon").unwrap_err().contains("5s"));
        // A duration covers the block slots up to the first block mined after it.
        assert_eq!(
            Span::Time(Duration::from_millis(1500)).blocks(Duration::from_secs(1)),
            2
        );
        assert_eq!(
            Span::Time(Duration::from_secs(2)).blocks(Duration::from_secs(1)),
            2
        );
        assert_eq!(Span::Blocks(4).blocks(Duration::from_secs(1)), 4);
    }

    #[test]
    fn a_good_timeline_has_no_problem() {
        let faults = [
            ws(3, Span::Blocks(3)),
            restart(6, Span::Time(Duration::from_secs(2))),
        ];
        assert_eq!(check(&faults, &frame()), []);
        assert_eq!(covered(&faults[1], Duration::from_secs(1)), (6, 7));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let faults = [
            ws(0, Span::Blocks(0)),
            restart(21, Span::Blocks(1)),
            ws(15, Span::Blocks(11)),
        ];
        let problems = check(&faults, &frame());
        let got: Vec<(usize, &str)> = problems.iter().map(|p| (p.index, p.key)).collect();
        assert_eq!(got, [(0, "at"), (0, "for"), (1, "at"), (2, "for")]);
        assert!(
            problems[3].message.contains("mines 25 blocks"),
            "{}",
            problems[3].message
        );
    }

    #[test]
    fn overlapping_faults_are_explained() {
        let faults = [ws(4, Span::Blocks(3)), restart(6, Span::Blocks(1))];
        let problems = check(&faults, &frame());
        assert_eq!(problems.len(), 1);
        assert_eq!(
            problems[0].message,
            "faults[1].at: engine_restart at block 6 for 1 block (blocks 6–6) overlaps faults[0], ws_disconnect at block 4 for 3 blocks (blocks 4–6); faults run one at a time so each has its own verdict: start it at block 7 or later"
        );
    }

    #[test]
    fn a_reorg_is_blocks_deep_no_deeper_than_the_deadline() {
        let reorg = |events| Fault::Reorg { events };
        let faults = [
            fault(reorg(ReorgEvents::Drop), 2, Span::Blocks(2)),
            fault(Fault::StaleHead { behind: 1 }, 5, Span::Blocks(1)),
            fault(
                reorg(ReorgEvents::Reinclude),
                8,
                Span::Time(Duration::from_secs(2)),
            ),
            fault(reorg(ReorgEvents::Drop), 12, Span::Blocks(4)),
        ];
        let messages: Vec<String> = check(&faults, &frame())
            .into_iter()
            .map(|p| p.message)
            .collect();
        assert_eq!(
            messages,
            [
                "faults[2].for: a reorg's `for` is its depth in blocks, e.g. `for: 2 blocks`, not a duration",
                "faults[3].for: a reorg 4 blocks deep is deeper than orderbook.order_deadline_blocks (3): its first block's events would count as lost before the reorg removes them; raise the deadline to 4 or more",
            ]
        );
    }

    #[test]
    fn faults_need_an_engine() {
        let faults = [restart(2, Span::Blocks(1))];
        let frame = Frame {
            engine_enabled: false,
            ..frame()
        };
        let problems = check(&faults, &frame);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].message.contains("engine.enabled is false"));
    }
}
