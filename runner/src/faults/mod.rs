//! Acts out the scenario's `faults:` timeline during the load: starts each
//! fault before its first block is mined and ends it after its last one.
//!
//! In: the plan's faults, the RPC proxy's control, the engine (for
//! `engine_restart`), and one call before and after each block of the load and
//! drain. Out: a [`FaultRecord`] per fault: the chain blocks it covered and
//! what was done, for the truth under faults and the report.
//!
//! Why block-driven: the truth judges events by the block that emitted them,
//! so a fault is a span of blocks. A fault written as a duration ends at the
//! first block mined once the duration has passed.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use cowload_spec::outcome::FaultRecord;
use mock_orderbook::Truth;
use nix::sys::signal::Signal;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::chain::proxy::{ProxyControl, RpcFault};
use crate::engine::{Engine, EngineError};
use crate::scenario::faults::{
    Fault, FaultKind, FaultSpec, ReorgEvents, RpcLimits, Span, StopSignal,
};
use mock_orderbook::MockControl;

/// One fault of the run as it was acted out: its record for the outcome, and what its truth
/// is judged by but is never written out (wall-clock instants, the block mined before it).
#[derive(Debug, Clone)]
pub struct Acted {
    /// What the outcome keeps.
    pub record: FaultRecord,
    /// When it started.
    pub started_at: Option<Instant>,
    /// When it ended (for a reorg: when the reorg was done), for the recovery time.
    pub ended_at: Option<Instant>,
    /// The last block mined before it began.
    pub started_after_block: Option<u64>,
}

/// Sets each started fault's [`FaultRecord::charged_from`]: the blocks before it that the
/// engine had not read when it began. `progress_after(b)` is the engine's last processed
/// block as read at the scrape after block `b` (`None` without `engine.progress`). A fault
/// begins right after a block is mined, before any scrape of it, so the last reading before
/// it is the scrape after the block before that one: every block after what the engine had
/// read then is charged (a block it read in between, or despite the fault, only adds its
/// events to the count, never a loss the fault did not cause). Without a reading, the block
/// mined just before the fault is charged: no engine can have read it yet.
///
/// Nothing before `first_loaded` (the first block carrying the scenario's events) is charged:
/// an engine that had read nothing yet owed nothing for the blocks before the load.
pub fn charge(
    faults: &mut [Acted],
    first_loaded: Option<u64>,
    progress_after: impl Fn(u64) -> Option<u64>,
) {
    for acted in faults.iter_mut() {
        let record = &mut acted.record;
        record.charged_from = None;
        let (Some((first, _)), Some(before)) = (record.blocks, acted.started_after_block) else {
            continue;
        };
        if !record.kind.hinders_reading() {
            continue;
        }
        let read = before.checked_sub(1).and_then(&progress_after);
        let unread = read
            .map_or(before, |read| read.saturating_add(1).min(before))
            .max(first_loaded.unwrap_or(0));
        record.charged_from = (unread < first).then_some(unread);
    }
}

/// Fills each started fault's [`FaultRecord::truth`] from the mock's truth,
/// once the books are closed ([`mock_orderbook::Truth::finish`]): the events of
/// every block it is charged with ([`charge`]), from its start to its end.
pub fn judge(faults: &mut [Acted], truth: &Truth) {
    let starts: Vec<Option<Instant>> = faults.iter().map(|a| a.started_at).collect();
    for (index, acted) in faults.iter_mut().enumerate() {
        let (Some(blocks), Some(since)) = (acted.record.blocks, acted.started_at) else {
            continue;
        };
        // Duplicates count until the next fault starts, so each is charged to one fault
        // (whatever the order of the list: a repeated fault's repeats follow its entry).
        let until = starts
            .iter()
            .enumerate()
            .filter(|(other, _)| *other != index)
            .filter_map(|(_, start)| *start)
            .filter(|next| *next > since)
            .min();
        let from = acted.record.charged_from.unwrap_or(blocks.0);
        let mut span = truth.span((from, blocks.1), since, until, acted.ended_at);
        if from < blocks.0 {
            span.events_before_start = truth.span((from, blocks.0 - 1), since, until, None).events;
        }
        acted.record.truth = Some(span);
    }
}

enum State {
    Pending,
    Active { since: Instant, blocks: u64 },
    Done,
}

/// What the faults act on besides the engine: the engine's RPC proxy and the mock orderbook.
#[derive(Clone)]
pub struct Switches {
    pub proxy: Arc<ProxyControl>,
    pub mock: MockControl,
}

/// The faults of one run and where each stands.
pub struct Timeline {
    specs: Vec<FaultSpec>,
    states: Vec<State>,
    acted: Vec<Acted>,
    switches: Switches,
    seed: u64,
}

impl Timeline {
    /// The timeline of `specs`; `seed` (the scenario's) seeds the draws of
    /// `rpc_errors`, `rpc_latency` and `orderbook_outage`, one stream per fault.
    pub fn new(specs: &[FaultSpec], seed: u64, switches: Switches) -> Self {
        let acted = specs
            .iter()
            .enumerate()
            .map(|(index, spec)| Acted {
                record: FaultRecord {
                    index,
                    kind: spec.kind(),
                    at: spec.at,
                    lasts: spec.lasts.to_string(),
                    blocks: None,
                    charged_from: None,
                    seconds: None,
                    ended: false,
                    actions: Vec::new(),
                    truth: None,
                },
                started_at: None,
                ended_at: None,
                started_after_block: None,
            })
            .collect();
        Self {
            states: specs.iter().map(|_| State::Pending).collect(),
            specs: specs.to_vec(),
            acted,
            switches,
            seed,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    /// Starts every fault whose first block is `next` (load numbering), before it is mined;
    /// `last_mined` is the chain block mined just before.
    pub fn before_block(
        &mut self,
        next: u32,
        last_mined: Option<u64>,
        mut engine: Option<&mut Engine>,
    ) {
        for index in 0..self.specs.len() {
            if matches!(self.states[index], State::Pending) && self.specs[index].at == next {
                self.states[index] = State::Active {
                    since: Instant::now(),
                    blocks: 0,
                };
                self.acted[index].started_at = Some(Instant::now());
                self.acted[index].started_after_block = last_mined;
                let action = self.start(index, engine.as_deref_mut());
                eprintln!(
                    "fault {index} ({}) starts before load block {next}: {action}",
                    self.specs[index].kind().name()
                );
                self.acted[index].record.actions.push(action);
            }
        }
    }

    /// Counts the block just mined (chain number `chain_block`) for every
    /// active fault and ends those that have lasted long enough. An engine
    /// that cannot be started again is the error.
    pub fn after_block(
        &mut self,
        chain_block: u64,
        mut engine: Option<&mut Engine>,
    ) -> Result<(), EngineError> {
        let mut failed = Ok(());
        for index in 0..self.specs.len() {
            let State::Active { since, blocks } = &mut self.states[index] else {
                continue;
            };
            *blocks += 1;
            let (since, blocks) = (*since, *blocks);
            let record = &mut self.acted[index].record;
            let first = record.blocks.map_or(chain_block, |(first, _)| first);
            record.blocks = Some((first, chain_block));
            let spec = &self.specs[index];
            let over = match (&spec.fault, spec.lasts) {
                // The pause was the wait before this block: it is over once one is mined.
                (Fault::ChainPause {}, _) => true,
                (_, Span::Blocks(n)) => blocks >= u64::from(n),
                (_, Span::Time(t)) => since.elapsed() >= t,
            };
            if over {
                let result = self.end(index, chain_block, engine.as_deref_mut());
                let acted = &mut self.acted[index];
                acted.ended_at = Some(Instant::now());
                let record = &mut acted.record;
                record.seconds = Some(since.elapsed().as_secs_f64());
                record.ended = true;
                self.states[index] = State::Done;
                match result {
                    Ok(action) => {
                        eprintln!(
                            "fault {index} ({}) ends after chain block {chain_block}: {action}",
                            self.specs[index].kind().name()
                        );
                        record.actions.push(action);
                    }
                    Err(e) => {
                        record.actions.push(format!("could not end it: {e}"));
                        failed = Err(e);
                    }
                }
            }
        }
        failed
    }

    /// Ends what is still active when the load stops (the WebSocket is let
    /// through again; an engine held down stays down, the run is over).
    pub fn finish(mut self) -> Vec<Acted> {
        for index in 0..self.specs.len() {
            if let State::Active { since, .. } = self.states[index] {
                let record = &mut self.acted[index].record;
                record.seconds = Some(since.elapsed().as_secs_f64());
                if self.specs[index].kind() == FaultKind::WsDisconnect {
                    self.switches.proxy.allow_ws();
                }
                record
                    .actions
                    .push("the run ended during the fault".to_owned());
            }
        }
        self.acted
    }

    /// Records what the reorg of entry `fault` did (the load did it, in the
    /// slot after the fault's blocks); its recovery time counts from now.
    pub fn reorged(&mut self, fault: usize, action: String) {
        let Some(acted) = self.acted.get_mut(fault) else {
            return;
        };
        eprintln!("fault {fault} (reorg): {action}");
        acted.record.actions.push(action);
        acted.ended_at = Some(Instant::now());
    }

    /// What the timeline acts on.
    pub fn switches(&self) -> Switches {
        self.switches.clone()
    }

    fn start(&mut self, index: usize, engine: Option<&mut Engine>) -> String {
        let spec = &self.specs[index];
        match &spec.fault {
            Fault::WsDisconnect {} => {
                let before = self.switches.proxy.open_sessions();
                self.switches.proxy.drop_ws();
                format!("closed {before} WebSocket session(s); refusing new ones")
            }
            Fault::EngineRestart { signal } => {
                let Some(engine) = engine else {
                    return "no engine to stop".to_owned();
                };
                let signal = match signal {
                    StopSignal::Kill => Signal::SIGKILL,
                    StopSignal::Term => Signal::SIGTERM,
                };
                let pid = engine.pid();
                let exit = engine
                    .kill(signal)
                    .unwrap_or_else(|| "not reaped".to_owned());
                format!("{signal} to pid {pid}: {exit}")
            }
            Fault::RpcHang {} => {
                self.switches.proxy.set_hang(true);
                "the RPC proxy answers nothing (HTTP and WebSocket)".to_owned()
            }
            Fault::RpcErrors {
                methods,
                fraction,
                error,
            } => {
                let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
                rng.set_stream(FAULT_STREAMS + index as u64);
                let text = format!(
                    "answering {:.0} % of {} with {error:?}",
                    fraction * 100.0,
                    shown_methods(methods)
                );
                self.switches.proxy.set_rpc(Some(RpcFault::Errors {
                    methods: methods.clone(),
                    fraction: *fraction,
                    error: *error,
                    rng: Box::new(Mutex::new(rng)),
                }));
                text
            }
            Fault::RpcLatency { methods, latency } => {
                let runtime = cowload_spec::latency::Latency::same(latency.runtime());
                let sampler = mock_orderbook::LatencySampler::new(
                    &runtime,
                    self.seed.wrapping_add(index as u64),
                );
                let shown = serde_json::to_string(latency).unwrap_or_default();
                let text = format!(
                    "delaying {} by {}",
                    shown_methods(methods),
                    shown.trim_matches('"')
                );
                self.switches.proxy.set_rpc(Some(RpcFault::Latency {
                    methods: methods.clone(),
                    sampler: Box::new(sampler),
                }));
                text
            }
            Fault::StaleHead { behind } => {
                let behind = u64::from(*behind);
                self.switches
                    .proxy
                    .set_rpc(Some(RpcFault::StaleHead { behind }));
                format!("serving eth_blockNumber and newHeads {behind} block(s) behind")
            }
            Fault::StateLag { behind } => {
                let behind = u64::from(*behind);
                self.switches
                    .proxy
                    .set_rpc(Some(RpcFault::StateLag { behind }));
                format!(
                    "answering state reads (eth_call, eth_getCode…) from a node {behind} block(s) behind"
                )
            }
            Fault::RpcLimits { limits } => {
                self.switches.proxy.impose_limits(*limits);
                format!("holding the engine's requests to {}", shown_limits(limits))
            }
            Fault::EnginePause {} => match engine {
                Some(engine) => engine.pause(),
                None => "no engine to pause".to_owned(),
            },
            Fault::ChainPause {} => format!(
                "no block for {} (load block {} is the first after it)",
                spec.lasts, spec.at
            ),
            Fault::OrderbookOutage { answer, fraction } => {
                let seed = self.seed.wrapping_add(FAULT_STREAMS + index as u64);
                match self.switches.mock.start_outage(answer, *fraction, seed) {
                    Ok(()) => format!(
                        "the mock answers {:.0} % of order POSTs with {answer}; no deadline passes meanwhile",
                        fraction * 100.0
                    ),
                    Err(e) => format!("could not start the outage: {e}"),
                }
            }
            Fault::Reorg { events } => format!(
                "mining {} that a reorg replaces in the next slot ({})",
                spec.lasts,
                match events {
                    ReorgEvents::Reinclude => "their transactions mined again",
                    ReorgEvents::Drop => "their transactions dropped",
                }
            ),
        }
    }

    /// Ends fault `index` after chain block `chain_block` was mined.
    fn end(
        &mut self,
        index: usize,
        chain_block: u64,
        engine: Option<&mut Engine>,
    ) -> Result<String, EngineError> {
        match &self.specs[index].fault {
            Fault::WsDisconnect {} => {
                self.switches.proxy.allow_ws();
                let refused = self.switches.proxy.refused();
                Ok(format!(
                    "accepting WebSockets again ({refused} connection(s) refused so far)"
                ))
            }
            Fault::EngineRestart { .. } => match engine {
                Some(engine) => {
                    let pid = engine.respawn()?;
                    Ok(format!("engine started again as pid {pid}"))
                }
                None => Ok("no engine to start".to_owned()),
            },
            Fault::RpcHang {} => {
                self.switches.proxy.set_hang(false);
                Ok("the RPC proxy answers again".to_owned())
            }
            Fault::Reorg { .. } => Ok("the reorg follows in the next block slot".to_owned()),
            Fault::EnginePause {} => Ok(match engine {
                Some(engine) => engine.resume(),
                None => "no engine to continue".to_owned(),
            }),
            Fault::ChainPause {} => Ok("mining goes on at the block time".to_owned()),
            Fault::RpcLimits { .. } => {
                self.switches.proxy.lift_limits();
                let refused = self.switches.proxy.limits_refused.load(Ordering::Relaxed);
                Ok(format!(
                    "the run's own limits apply again ({refused} request(s) refused by limits so far)"
                ))
            }
            Fault::OrderbookOutage { .. } => {
                self.switches.mock.end_outage(chain_block);
                Ok(format!(
                    "the mock answers as configured again; orders still awaited have their deadline from block {chain_block}"
                ))
            }
            Fault::RpcErrors { .. }
            | Fault::RpcLatency { .. }
            | Fault::StaleHead { .. }
            | Fault::StateLag { .. } => {
                let errors = self.switches.proxy.rpc_errors_sent.load(Ordering::Relaxed);
                let delayed = self.switches.proxy.rpc_delayed.load(Ordering::Relaxed);
                self.switches.proxy.set_rpc(None);
                Ok(format!(
                    "the RPC proxy passes everything through again ({errors} error answer(s), {delayed} delayed request(s) so far)"
                ))
            }
        }
    }
}

/// A provider's limits, as an action line says them.
fn shown_limits(limits: &RpcLimits) -> String {
    let mut shown = Vec::new();
    if let Some(n) = limits.max_block_range {
        shown.push(format!("eth_getLogs over at most {n} blocks"));
    }
    if let Some(n) = limits.requests_per_second {
        shown.push(format!("{n} requests per second"));
    }
    if let Some(n) = limits.max_response_bytes {
        shown.push(format!("answers of at most {n} bytes"));
    }
    shown.join(", ")
}

/// The methods a fault hits, as its action line says them.
fn shown_methods(methods: &[String]) -> String {
    if methods.is_empty() {
        "every method".to_owned()
    } else {
        methods.join(", ")
    }
}

/// First ChaCha stream of the faults' draws, clear of the mock's.
const FAULT_STREAMS: u64 = 100;
