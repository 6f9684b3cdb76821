//! What a fault may do to the engine's connections: the switches the fault timeline sets
//! and the counters of what they did, shared by the HTTP and WebSocket paths.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use cowload_spec::scenario::faults::{RpcErrorKind, RpcLimits};
use mock_orderbook::{Endpoint, LatencySampler};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;
use tokio::sync::watch;

use super::limits::Limiter;

/// What a fault may do to the engine's connections, and what happened to them.
#[derive(Debug)]
pub struct ProxyControl {
    /// While set, a new WebSocket connection is closed before its handshake.
    pub(super) refuse_ws: AtomicBool,
    /// Bumped to close every open WebSocket session at once.
    pub(super) cut: watch::Sender<u64>,
    /// WebSocket sessions opened through the proxy.
    pub ws_opened: AtomicU64,
    /// WebSocket connections refused while a fault held them off.
    pub ws_refused: AtomicU64,
    /// WebSocket sessions open now.
    pub(super) ws_open: AtomicU64,
    /// The JSON-RPC fault in force, if any (errors, latency, a stale head).
    pub(super) rpc: RwLock<Option<Arc<RpcFault>>>,
    /// While `true`, nothing is answered (requests and frames wait, sockets stay open).
    pub(super) hang: watch::Sender<bool>,
    /// Bumped whenever `rpc` changes, so WebSocket sessions release held heads.
    pub(super) rpc_changed: watch::Sender<u64>,
    /// Requests answered by a fault instead of Anvil, and requests delayed.
    pub rpc_errors_sent: AtomicU64,
    pub rpc_delayed: AtomicU64,
    /// A reorg in progress, and the logs the last one removed.
    pub(super) reorg: watch::Sender<ReorgNotice>,
    /// `removed: true` log notifications sent to subscribers.
    pub removed_logs_sent: AtomicU64,
    /// The provider limits in force (`chain.rpc_limits`, or an `rpc_limits` fault's).
    limits: RwLock<Option<Arc<Limiter>>>,
    /// The run's own limits (`chain.rpc_limits`), in force again when a fault's end.
    run_limits: Mutex<RpcLimits>,
    /// Requests, calls and answers refused by those limits.
    pub limits_refused: AtomicU64,
}

/// What WebSocket sessions learn of a reorg: while `holding`, what Anvil sends
/// waits; each finished reorg bumps `generation` with the logs it removed.
#[derive(Debug, Clone, Default)]
pub(super) struct ReorgNotice {
    pub(super) holding: bool,
    pub(super) generation: u64,
    pub(super) removed: Arc<Vec<Value>>,
}

/// A JSON-RPC fault the proxy applies to the engine's requests.
#[derive(Debug)]
pub enum RpcFault {
    /// A `fraction` of the requests for `methods` (every method when empty)
    /// is answered with `error` instead of being forwarded.
    Errors {
        methods: Vec<String>,
        fraction: f64,
        error: RpcErrorKind,
        rng: Box<Mutex<ChaCha8Rng>>,
    },
    /// Requests for `methods` (every method when empty) wait a drawn delay first.
    Latency {
        methods: Vec<String>,
        sampler: Box<LatencySampler>,
    },
    /// `eth_blockNumber` answers and `newHeads` notifications lag `behind` blocks.
    StaleHead { behind: u64 },
    /// State reads (`eth_call`, `eth_getCode`…) are answered by a node `behind` blocks below
    /// the head the logs and heads show.
    StateLag { behind: u64 },
}

impl RpcFault {
    fn applies_to(methods: &[String], method: &str) -> bool {
        methods.is_empty() || methods.iter().any(|m| m == method)
    }

    /// The error to answer a request for `method` with, when this fault draws one.
    pub(super) fn error_for(&self, method: &str) -> Option<RpcErrorKind> {
        let RpcFault::Errors {
            methods,
            fraction,
            error,
            rng,
        } = self
        else {
            return None;
        };
        if !Self::applies_to(methods, method) {
            return None;
        }
        let mut rng = rng.lock().unwrap_or_else(|p| p.into_inner());
        (rng.random::<f64>() < *fraction).then_some(*error)
    }

    /// How long a request for `method` waits first.
    pub(super) fn delay_for(&self, method: &str) -> Duration {
        match self {
            RpcFault::Latency { methods, sampler } if Self::applies_to(methods, method) => {
                sampler.draw(Endpoint::Get, Instant::now())
            }
            _ => Duration::ZERO,
        }
    }

    /// How far behind state reads are answered, under `state_lag`.
    pub(super) fn state_lag(&self) -> Option<u64> {
        match self {
            RpcFault::StateLag { behind } => Some(*behind),
            _ => None,
        }
    }

    pub(super) fn behind(&self) -> u64 {
        match self {
            RpcFault::StaleHead { behind } => *behind,
            _ => 0,
        }
    }
}

impl ProxyControl {
    pub(super) fn new() -> Self {
        Self {
            refuse_ws: AtomicBool::new(false),
            cut: watch::Sender::new(0),
            ws_opened: AtomicU64::new(0),
            ws_refused: AtomicU64::new(0),
            ws_open: AtomicU64::new(0),
            rpc: RwLock::new(None),
            hang: watch::Sender::new(false),
            rpc_changed: watch::Sender::new(0),
            rpc_errors_sent: AtomicU64::new(0),
            rpc_delayed: AtomicU64::new(0),
            reorg: watch::Sender::new(ReorgNotice::default()),
            removed_logs_sent: AtomicU64::new(0),
            limits: RwLock::new(None),
            run_limits: Mutex::new(RpcLimits::default()),
            limits_refused: AtomicU64::new(0),
        }
    }

    /// A reorg starts: what Anvil sends subscribers from now on waits until
    /// [`Self::reorged`], so the removed logs reach them first.
    pub fn hold_for_reorg(&self) {
        self.reorg.send_modify(|notice| notice.holding = true);
    }

    /// The reorg is done: every `logs` subscriber gets each of `removed` that
    /// its filter matches with `removed: true` (Anvil sends none), then what
    /// was held.
    pub fn reorged(&self, removed: Vec<Value>) {
        self.reorg.send_modify(|notice| {
            notice.holding = false;
            notice.generation += 1;
            notice.removed = Arc::new(removed);
        });
    }

    /// Puts `fault` in force (`None`: passes everything through again).
    pub fn set_rpc(&self, fault: Option<RpcFault>) {
        *self.rpc.write().unwrap_or_else(|p| p.into_inner()) = fault.map(Arc::new);
        self.rpc_changed.send_modify(|generation| *generation += 1);
    }

    /// The run's limits (`chain.rpc_limits`), in force from now on and after every
    /// `rpc_limits` fault.
    pub fn set_run_limits(&self, limits: RpcLimits) {
        *self.run_limits.lock().unwrap_or_else(|p| p.into_inner()) = limits;
        self.set_limits(limits);
    }

    /// A fault's limits, in place of the run's until [`Self::lift_limits`].
    pub fn impose_limits(&self, limits: RpcLimits) {
        self.set_limits(limits);
    }

    /// The fault's limits end: the run's are in force again.
    pub fn lift_limits(&self) {
        let run = *self.run_limits.lock().unwrap_or_else(|p| p.into_inner());
        self.set_limits(run);
    }

    /// Holds the engine's requests to `limits` from now on (none imposed: no limit).
    fn set_limits(&self, limits: RpcLimits) {
        let limiter = (!limits.is_none()).then(|| Arc::new(Limiter::new(limits)));
        *self.limits.write().unwrap_or_else(|p| p.into_inner()) = limiter;
    }

    pub(super) fn limits(&self) -> Option<Arc<Limiter>> {
        self.limits
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Stops (`true`) or resumes (`false`) answering anything.
    pub fn set_hang(&self, hang: bool) {
        self.hang.send_replace(hang);
    }

    pub(super) fn rpc(&self) -> Option<Arc<RpcFault>> {
        self.rpc.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Returns once no hang is in force.
    pub(super) async fn unhung(&self) {
        if !*self.hang.borrow() {
            return;
        }
        let mut hang = self.hang.subscribe();
        let _ = hang.wait_for(|hung| !hung).await;
    }

    /// WebSocket sessions open now.
    pub fn open_sessions(&self) -> u64 {
        self.ws_open.load(Ordering::SeqCst)
    }

    /// WebSocket connections refused so far.
    pub fn refused(&self) -> u64 {
        self.ws_refused.load(Ordering::Relaxed)
    }

    /// Closes every open WebSocket and refuses new ones until [`Self::allow_ws`].
    pub fn drop_ws(&self) {
        self.refuse_ws.store(true, Ordering::SeqCst);
        self.cut.send_modify(|generation| *generation += 1);
    }

    /// Accepts WebSocket connections again.
    pub fn allow_ws(&self) {
        self.refuse_ws.store(false, Ordering::SeqCst);
    }
}
