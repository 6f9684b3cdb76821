//! Stage 5, load: for each block, exactly the scenario's N TWAP creates and M
//! EthFlow createOrders, pre-signed with explicit nonces and sent in JSON-RPC
//! batches, then one mined block. Delivered means a log on chain: every sent
//! transaction must have its event in the block, found with one `eth_getLogs` by
//! block hash (per-receipt RPCs are quadratic in Anvil); any transaction without
//! one is reported with why.
//!
//! In: the plan and the running chain. Out: [`Delivery`], and an [`OnBlock`]
//! call after every mined block so later stages (mock truth, metrics, progress)
//! see the run as it happens without `load` depending on them.

pub mod accounts;
pub mod calldata;
mod reorg;
mod verify;

pub use reorg::Reorg;

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::time::{Duration, Instant};

use alloy::primitives::{Address, Bytes, B256};
use cowload_spec::{EventKind, PerKind};
use mock_orderbook::OrderKey;
use serde::Serialize;

use crate::chain::{Chain, ChainError, MinedBlock};
use crate::scenario::faults::{Fault, FaultSpec};
use crate::scenario::Plan;
use crate::shutdown::Cancel;
use accounts::Accounts;
use calldata::{Builder, Shape, SignedLoadTx, TX_GAS_LIMIT};

/// Raw transactions per JSON-RPC batch request.
const SEND_BATCH: usize = 250;

/// Errors that stop the load. All infrastructure (exit 3).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error("anvil died during the load ({status}); its last output:\n{tail}")]
    AnvilDied { status: String, tail: String },
}

/// Which part of the run a block belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Empty blocks before the load, while the engine settles.
    Warmup,
    /// Blocks carrying the scenario's events.
    Load,
    /// Empty blocks after the load, so the engine can finish.
    Drain,
}

/// Events per kind.
pub type Counts = PerKind<u64>;

/// A load transaction that did not emit its event, and why.
#[derive(Debug, Clone, Serialize)]
pub struct TxFailure {
    pub kind: &'static str,
    pub tx: B256,
    pub sender: Address,
    pub nonce: u64,
    pub reason: String,
}

/// An event found on chain: what the mock should expect an order for.
#[derive(Debug, Clone)]
pub struct DeliveredEvent {
    pub kind: EventKind,
    pub tx: B256,
    /// The event's log index in its block.
    pub log_index: u64,
    pub order: OrderKey,
    /// The exact order the event requires (a TWAP's: per part, but for `validTo`).
    pub exact: Option<mock_orderbook::ExactOrder>,
    /// A TWAP's parts (t0, n, t): each part is one order the engine must post.
    pub twap: Option<mock_orderbook::TwapSchedule>,
}

/// Where the time of one block went (wall clock; kept out of stable outputs).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct BlockTiming {
    pub build_ms: f64,
    pub send_ms: f64,
    pub verify_ms: f64,
    /// How much later than its slot the block was mined (harness overload).
    pub late_ms: f64,
}

/// One mined block and what it delivered.
#[derive(Debug, Clone)]
pub struct BlockDelivery {
    pub phase: Phase,
    pub block: MinedBlock,
    pub requested: Counts,
    pub delivered: Counts,
    pub failures: Vec<TxFailure>,
    /// TWAPs whose lifetime covers this block: what an engine polls per block.
    pub active_twaps: u64,
    pub events: Vec<DeliveredEvent>,
    pub timing: BlockTiming,
}

/// Everything the load did.
#[derive(Debug, Clone, Default)]
pub struct Delivery {
    pub blocks: Vec<BlockDelivery>,
    /// The run was cancelled before its last block.
    pub interrupted: bool,
    /// When the first loaded block was mined (for runner start → first load block).
    pub first_load_block_at: Option<Instant>,
}

impl Delivery {
    pub fn requested(&self) -> Counts {
        self.sum(|b| b.requested)
    }

    pub fn delivered(&self) -> Counts {
        self.sum(|b| b.delivered)
    }

    fn sum(&self, f: impl Fn(&BlockDelivery) -> Counts) -> Counts {
        self.blocks
            .iter()
            .map(f)
            .fold(Counts::default(), |mut sum, b| {
                sum.add(&b);
                sum
            })
    }
}

/// Called after every mined block, in order; later stages hang off this.
pub trait OnBlock {
    fn on_block(&mut self, block: &BlockDelivery) -> impl Future<Output = ()>;

    /// A `reorg` fault is about to replace blocks (the proxy holds what Anvil
    /// sends subscribers until [`OnBlock::on_reorg`]).
    fn before_reorg(&mut self) {}

    /// A `reorg` fault replaced blocks: what it did.
    fn on_reorg(&mut self, _reorg: &Reorg) -> impl Future<Output = ()> {
        async {}
    }
}

/// The gas limit a block of the scenario's load needs, for the pre-flight check.
pub fn required_gas_limit(plan: &Plan) -> u64 {
    plan.scenario
        .load
        .busiest_block()
        .total()
        .saturating_mul(TX_GAS_LIMIT)
}

/// Runs warm-up, load and drain blocks. Stops early (with `interrupted`) when
/// `cancel` fires; what was mined until then is kept.
pub async fn run(
    plan: &Plan,
    chain: &mut Chain,
    on_block: &mut impl OnBlock,
    cancel: &Cancel,
) -> Result<Delivery, LoadError> {
    let spec = &plan.scenario.load;
    let seed = plan.scenario.seed;
    let mut accounts: Accounts =
        PerKind::from_fn(|kind| accounts::derive(kind, seed, spec.accounts(kind)));
    accounts::prepare(
        &chain.provider,
        &chain.contracts,
        &mut accounts,
        spec.twap.owner,
    )
    .await?;
    let mut builder = Builder::new(Shape {
        seed,
        chain_id: chain.chain_id,
        contracts: chain.contracts,
        twap_parts: u64::from(spec.twap.parts),
        twap_part_seconds: spec.twap.part_duration.0.as_secs().max(1),
        ethflow_valid_seconds: spec.ethflow.valid_for.0.as_secs().max(1),
    });
    let twap_lifetime = u64::from(spec.twap.parts) * spec.twap.part_duration.0.as_secs().max(1);
    let mut active = ActiveTwaps::default();
    let mut clock = Clock::new(plan.scenario.chain.block_time.0);
    let mut delivery = Delivery::default();
    let reorgs = reorg::planned(&plan.scenario.faults);
    let pauses = chain_pauses(&plan.scenario.faults, plan.scenario.chain.block_time.0);
    let mut recent = reorg::RecentBlocks::new(reorg::deepest(&reorgs));
    // Loaded blocks so far (load and drain), the numbering faults use.
    let mut loaded = 0u32;
    let phases = [
        (Phase::Warmup, spec.warmup_blocks),
        (Phase::Load, spec.blocks),
        (Phase::Drain, spec.drain_blocks),
    ];
    for (phase, count) in phases {
        for _ in 0..count {
            if cancel.is_cancelled() {
                delivery.interrupted = true;
                return Ok(delivery);
            }
            let per_block = if phase == Phase::Load {
                spec.per_block_at(loaded + 1, plan.scenario.chain.block_time.0)
            } else {
                Default::default()
            };
            if let Some(&pause) = pauses.get(&(loaded + 1)).filter(|_| phase != Phase::Warmup) {
                clock.hold(pause);
                chain.pause_time(pause);
            }
            let mut block = BlockWork {
                chain: &mut *chain,
                builder: &mut builder,
                accounts: &mut accounts,
            };
            let Some((mut result, txs)) = block.run(&per_block, &mut clock, cancel).await? else {
                delivery.interrupted = true;
                return Ok(delivery);
            };
            result.phase = phase;
            result.active_twaps = active.update(&result, twap_lifetime);
            if phase == Phase::Load && delivery.first_load_block_at.is_none() {
                delivery.first_load_block_at = Some(result.block.mined_at);
            }
            on_block.on_block(&result).await;
            recent.push(&result.block, txs, &result.events);
            delivery.blocks.push(result);
            if phase == Phase::Warmup {
                continue;
            }
            loaded += 1;
            if let Some(due) = reorg::due(&reorgs, loaded) {
                // The reorg takes the next block slot, so the engine sees the
                // last replaced block for a whole block time first.
                if clock.wait(cancel).await.is_none() || cancel.is_cancelled() {
                    delivery.interrupted = true;
                    return Ok(delivery);
                }
                on_block.before_reorg();
                let done = reorg::run(due, chain, &mut recent, &mut accounts).await?;
                on_block.on_reorg(&done).await;
            }
        }
    }
    Ok(delivery)
}

/// The `chain_pause` faults: the loaded block each holds back (the first mined after it), and
/// for how long.
fn chain_pauses(faults: &[FaultSpec], block_time: Duration) -> BTreeMap<u32, Duration> {
    faults
        .iter()
        .filter(|f| matches!(f.fault, Fault::ChainPause {}))
        .map(|f| (f.at, f.lasts.duration(block_time)))
        .collect()
}

/// Block slots at a fixed cadence; a late block does not make the next one early.
struct Clock {
    interval: Duration,
    next: Instant,
}

impl Clock {
    fn new(interval: Duration) -> Self {
        Self {
            interval,
            next: Instant::now() + interval,
        }
    }

    /// Moves the next slot `pause` later: the chain mines nothing meanwhile, and the block
    /// after it is on time, not late.
    fn hold(&mut self, pause: Duration) {
        self.next += pause;
    }

    /// Waits for the next slot; returns how late we already are, or `None` when cancelled.
    async fn wait(&mut self, cancel: &Cancel) -> Option<Duration> {
        let now = Instant::now();
        let late = now.saturating_duration_since(self.next);
        if late.is_zero() {
            tokio::select! {
                _ = tokio::time::sleep_until(self.next.into()) => {}
                _ = cancel.cancelled() => return None,
            }
            self.next += self.interval;
        } else {
            self.next = now + self.interval;
        }
        Some(late)
    }
}

/// Expiry times of the TWAPs created so far.
#[derive(Default)]
struct ActiveTwaps {
    expiries: VecDeque<u64>,
}

impl ActiveTwaps {
    fn update(&mut self, block: &BlockDelivery, lifetime: u64) -> u64 {
        let now = block.block.timestamp;
        for _ in 0..block.delivered[EventKind::Twap] {
            self.expiries.push_back(now.saturating_sub(1) + lifetime);
        }
        while self.expiries.front().is_some_and(|&end| end <= now) {
            self.expiries.pop_front();
        }
        self.expiries.len() as u64
    }
}

/// The work of one block, borrowing what it needs.
struct BlockWork<'a> {
    chain: &'a mut Chain,
    builder: &'a mut Builder,
    accounts: &'a mut Accounts,
}

impl BlockWork<'_> {
    async fn run(
        &mut self,
        per_block: &PerKind<u32>,
        clock: &mut Clock,
        cancel: &Cancel,
    ) -> Result<Option<(BlockDelivery, Vec<SignedLoadTx>)>, LoadError> {
        let mut timing = BlockTiming::default();
        let t = Instant::now();
        let timestamp = self.chain.next_timestamp();
        let txs =
            tokio::task::block_in_place(|| self.builder.block(timestamp, per_block, self.accounts));
        timing.build_ms = ms(t.elapsed());
        let t = Instant::now();
        let rejected = send(self.chain, &txs).await?;
        timing.send_ms = ms(t.elapsed());
        let Some(late) = clock.wait(cancel).await else {
            return Ok(None);
        };
        timing.late_ms = ms(late);
        if let Some(status) = self.chain.anvil_exit() {
            return Err(LoadError::AnvilDied {
                status,
                tail: self.chain.anvil_log_tail(),
            });
        }
        let block = self.chain.mine().await?;
        let t = Instant::now();
        let checked = verify::block(self.chain, &block, &txs, rejected).await?;
        if checked.left_in_pool {
            let failures = &checked.failures;
            let failed = |sender: Address| failures.iter().any(|f| f.sender == sender);
            resync_nonces(self.chain, self.accounts, failed).await?;
        }
        timing.verify_ms = ms(t.elapsed());
        let mut requested = Counts::default();
        for tx in &txs {
            requested[tx.kind] += 1;
        }
        let mut delivered = Counts::default();
        for event in &checked.events {
            delivered[event.kind] += 1;
        }
        let delivery = BlockDelivery {
            phase: Phase::Load,
            block,
            requested,
            delivered,
            failures: checked.failures,
            active_twaps: 0,
            events: checked.events,
            timing,
        };
        Ok(Some((delivery, txs)))
    }
}

/// After transactions were left out of a block (or taken off the chain by a
/// reorg): empties the pool and takes the nonces of the senders `affected`
/// names back from the chain, so the next block is not poisoned by gaps.
async fn resync_nonces(
    chain: &Chain,
    accounts: &mut Accounts,
    affected: impl Fn(Address) -> bool,
) -> Result<(), LoadError> {
    crate::chain::rpc::<serde_json::Value>(
        &chain.provider,
        "anvil_dropAllTransactions",
        serde_json::json!([]),
    )
    .await?;
    for account in accounts.values_mut().flatten() {
        if affected(account.address) {
            account.nonce = verify::nonce(chain, account.address).await?;
        }
    }
    Ok(())
}

/// Sends raw transactions in batches, a few batches in flight at once; returns
/// the hashes the pool refused, with its answer.
async fn send(chain: &Chain, txs: &[SignedLoadTx]) -> Result<Vec<(B256, String)>, LoadError> {
    let batches = txs.chunks(SEND_BATCH).map(|chunk| send_batch(chain, chunk));
    let answers = futures_util::future::try_join_all(batches).await?;
    Ok(answers.into_iter().flatten().collect())
}

async fn send_batch(
    chain: &Chain,
    chunk: &[SignedLoadTx],
) -> Result<Vec<(B256, String)>, LoadError> {
    let rpc_error = |e| crate::chain::rpc_error("eth_sendRawTransaction", e);
    let mut batch =
        alloy::rpc::client::BatchRequest::new(alloy::providers::Provider::client(&chain.provider));
    let mut waiters = Vec::with_capacity(chunk.len());
    for tx in chunk {
        let waiter = batch
            .add_call::<_, B256>("eth_sendRawTransaction", &(tx.raw.clone(),))
            .map_err(rpc_error)?;
        waiters.push((tx.hash, waiter));
    }
    batch.send().await.map_err(rpc_error)?;
    let mut rejected = Vec::new();
    for (hash, waiter) in waiters {
        if let Err(e) = waiter.await {
            rejected.push((hash, e.to_string()));
        }
    }
    Ok(rejected)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The raw bytes of a transaction, for diagnosing a missing event.
pub(crate) fn raw_of(txs: &[SignedLoadTx], hash: B256) -> Option<&Bytes> {
    txs.iter().find(|t| t.hash == hash).map(|t| &t.raw)
}
