//! The block loop: heads in, events and polls dispatched to the modules, latency out.
//!
//! In: one chain's settings and the `[reference]` knobs. Out: nothing but side effects (orders
//! posted, metrics). Blocks are handled one after another in the order they arrived; a block
//! that takes longer than the block time leaves the next ones waiting in the channel, which is
//! the backlog the harness is meant to find. Within a block:
//!
//! 1. one `eth_getLogs` by block hash for both contracts and both events;
//! 2. each event, in log order, after the deterministic `per_event_cost` sleep: a
//!    `ConditionalOrderCreated` starts a watch and polls it at once (first poll in the creation
//!    block), an `OrderPlacement` posts its order;
//! 3. one poll of every conditional order from earlier blocks that is due;
//! 4. EthFlow orders the orderbook asked to retry in an earlier block.
//!
//! `sequential` runs each step's jobs one at a time; `concurrent` runs up to `concurrency` of
//! them at once (steps still follow each other). Each job's latency is measured from the
//! instant the engine could first know of the block (its header arrived, or for a block fetched
//! after a disconnect or restart, the first later header; see `follow.rs`) to the instant the
//! job finished, so waiting for confirmations is part of it.
//!
//! Which blocks arrive, and when, is the follower's (`follow.rs`). With `persist_cursor` the
//! loop saves a [`Snapshot`] after every block and starts from the last one (`state.rs`).

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::{Address, B256};
use alloy::rpc::types::Log;
use alloy::sol_types::SolEvent;
use cowprotocol::{CoWSwapOnchainOrders, ComposableCoW, COMPOSABLE_COW, ETH_FLOW_PRODUCTION};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};
use tokio::sync::Semaphore;
use tokio::task::JoinError;

use crate::chain::{Head, Rpc};
use crate::config::{ChainSettings, Dispatch, ReferenceSettings};
use crate::ethflow::{self, Placement};
use crate::follow::{self, follow_heads, Resume};
use crate::mutant;
use crate::orderbook::Orderbook;
use crate::schedule::Schedule;
use crate::state::{Restored, SavedWatch, Snapshot, Store};
use crate::submit::{Ctx, Uids};
use crate::telemetry::{self, ErrorKind, EventKind, Module};
use crate::twap::{self, Watch, WatchKey};

/// Attempts at a block's `eth_getLogs` before its events are given up on. A block given up
/// is every event in it lost, so the attempts outlast a dropped WebSocket and the reconnect's
/// backoff (about 30 s in all with [`GET_LOGS_MAX_PAUSE`]), not just a flaky answer.
const GET_LOGS_ATTEMPTS: u32 = 20;
/// Longest pause between two `eth_getLogs` attempts (they start at 200 ms and grow by 200 ms).
const GET_LOGS_MAX_PAUSE: Duration = Duration::from_secs(2);
/// Panics of one module after which it is quarantined (shepherd's poison threshold).
const POISON_AFTER_TRAPS: u32 = 5;

/// Watch `chain` until its head stream fails for good. `state_dir` holds the cursor when
/// `persist_cursor` is on.
pub async fn run_chain(
    chain: ChainSettings,
    knobs: ReferenceSettings,
    state_dir: Option<&Path>,
) -> anyhow::Result<()> {
    let (store, restored) = open_state(chain.chain_id, &knobs, state_dir)?;
    let rpc = Rpc::connect(chain.chain_id, &chain.rpc_url)
        .await?
        .pinning_calls(knobs.pin_calls);
    let orderbook = Orderbook::new(&chain.orderbook_url, knobs.retry_recoverable)?;
    let uids = match &store {
        Some(store) => Uids::journaled(Arc::clone(store), restored.uids),
        None => Uids::default(),
    };
    let ctx = Arc::new(Ctx::new(chain.chain_id, rpc.clone(), orderbook, uids));
    let resume = restored.snapshot.as_ref().map(|s| {
        let (block, hash) = s.resume_after();
        Resume { block, hash }
    });
    let (tx, rx) = unbounded_channel();
    let follow_knobs = follow::Knobs {
        backfill: knobs.reconnect_backfill,
        reorg_aware: knobs.reorg_aware,
        confirmations: knobs.confirmations,
        stall_timeout: knobs.stall_timeout,
        stall_check: knobs.stall_check,
    };
    let heads = tokio::spawn(follow_heads(rpc, tx, follow_knobs, resume));
    tracing::info!(chain_id = chain.chain_id, dispatch = ?knobs.dispatch, per_event_cost = ?knobs.per_event_cost,
        concurrency = knobs.concurrency, reconnect_backfill = knobs.reconnect_backfill,
        persist_cursor = knobs.persist_cursor, reorg_aware = knobs.reorg_aware,
        confirmations = knobs.confirmations, stall_timeout = ?knobs.stall_timeout,
        stall_check = knobs.stall_check, pin_calls = knobs.pin_calls, retry_recoverable = knobs.retry_recoverable,
        split_log_ranges = knobs.split_log_ranges, resume_after = ?resume.map(|r| r.block), "engine ready");
    let mut processor = Processor::new(ctx, knobs, store);
    if let Some(snapshot) = restored.snapshot {
        processor.restore(snapshot);
    }
    processor.run(rx).await;
    heads.await??;
    Ok(())
}

/// The chain's store and what it held, when `persist_cursor` is on and there is a `state_dir`.
fn open_state(
    chain_id: u64,
    knobs: &ReferenceSettings,
    state_dir: Option<&Path>,
) -> anyhow::Result<(Option<Arc<Store>>, Restored)> {
    let Some(dir) = state_dir.filter(|_| knobs.persist_cursor) else {
        if knobs.persist_cursor {
            tracing::warn!(
                chain_id,
                "persist_cursor is on but there is no state_dir; nothing survives a restart"
            );
        }
        return Ok((None, Restored::default()));
    };
    let (store, restored) = Store::open(dir, chain_id)?;
    let chain = chain_id.to_string();
    metrics::gauge!(telemetry::RESTORED_UIDS, "chain_id" => chain.clone())
        .set(restored.uids.len() as f64);
    if let Some(snapshot) = &restored.snapshot {
        let (after, _) = snapshot.resume_after();
        metrics::gauge!(telemetry::RESUMED_FROM, "chain_id" => chain).set((after + 1) as f64);
        tracing::info!(
            chain_id,
            resume_at = after + 1,
            watches = snapshot.watches.len(),
            known_uids = restored.uids.len(),
            "resuming from the cursor in state_dir"
        );
    }
    Ok((Some(Arc::new(store)), restored))
}

/// One decoded event of a block.
enum Event {
    Created(Watch),
    Placed(Placement),
}

/// The result of one job, applied to the processor's state after its step.
enum Done {
    Created(Option<Watch>),
    Polled(WatchKey, Option<Schedule>),
    Placed(Option<Placement>),
}

/// Per-module trap counts and quarantine.
#[derive(Default)]
struct Poison {
    traps: BTreeMap<&'static str, u32>,
}

impl Poison {
    fn is_poisoned(&self, module: Module) -> bool {
        self.traps
            .get(module.as_str())
            .is_some_and(|n| *n >= POISON_AFTER_TRAPS)
    }

    fn trap(&mut self, module: Module, err: &JoinError) {
        tracing::error!(module = module.as_str(), %err, "handler panicked");
        telemetry::module_error(module, ErrorKind::Trap.as_str());
        let traps = self.traps.entry(module.as_str()).or_default();
        *traps += 1;
        if *traps == POISON_AFTER_TRAPS {
            tracing::error!(
                module = module.as_str(),
                "module poisoned; no more events dispatched to it"
            );
            metrics::gauge!(telemetry::MODULE_POISONED, "module" => module.as_str()).set(1.0);
        }
    }
}

struct Processor {
    ctx: Arc<Ctx>,
    knobs: ReferenceSettings,
    watches: BTreeMap<WatchKey, Watch>,
    retries: Vec<Placement>,
    poison: Poison,
    store: Option<Arc<Store>>,
    /// Logs read ahead by range while catching up, by block number: the block's hash as its
    /// logs give it (`None` for a block without logs) and its logs.
    prefetched: BTreeMap<u64, (Option<B256>, Vec<Log>)>,
    /// What `leak_per_event` keeps: never read, never freed.
    leaked: Vec<Box<[u8]>>,
}

impl Processor {
    fn new(ctx: Arc<Ctx>, knobs: ReferenceSettings, store: Option<Arc<Store>>) -> Self {
        Self {
            ctx,
            knobs,
            watches: BTreeMap::new(),
            retries: Vec::new(),
            poison: Poison::default(),
            store,
            prefetched: BTreeMap::new(),
            leaked: Vec::new(),
        }
    }

    /// The `leak_per_event` bug: keep that many bytes for good. Written, not only allocated,
    /// so the pages count in the process's resident memory.
    fn leak(&mut self) {
        if self.knobs.leak_per_event > 0 {
            let bytes = usize::try_from(self.knobs.leak_per_event).unwrap_or(usize::MAX);
            self.leaked.push(vec![1u8; bytes].into_boxed_slice());
        }
    }

    /// Take back the watches a previous run saved.
    fn restore(&mut self, snapshot: Snapshot) {
        for saved in snapshot.watches {
            let watch = Watch::from(saved);
            self.watches.insert(watch.key(), watch);
        }
    }

    /// A block at or below one already handled arrived: a reorg replaced blocks from `number`
    /// on. Retries and watches that came from the removed blocks stop here (the new blocks'
    /// events, re-included or not, are handled as they arrive); orders already posted for them
    /// cannot be taken back.
    fn forget_from(&mut self, number: u64) {
        let (retries, watches) = (self.retries.len(), self.watches.len());
        self.retries.retain(|p| p.origin_block < number);
        self.watches.retain(|_, w| w.created_block < number);
        tracing::warn!(
            from = number,
            retries = retries - self.retries.len(),
            watches = watches - self.watches.len(),
            "blocks replaced by a reorg; forgetting what their events started"
        );
    }

    /// Save the cursor after `head` was fully handled (a failure is logged: the engine keeps
    /// working, only a restart would lose ground).
    fn save(&self, head: &Head) {
        let Some(store) = &self.store else { return };
        let snapshot = Snapshot {
            block: head.number,
            hash: head.hash,
            retry_from: self.retries.iter().map(|p| p.origin_block).min(),
            watches: self.watches.values().map(SavedWatch::from).collect(),
        };
        if let Err(err) = store.save(&snapshot) {
            tracing::error!(
                number = head.number,
                err = format!("{err:#}"),
                "cannot save the cursor"
            );
        }
    }

    async fn run(mut self, mut rx: UnboundedReceiver<Head>) {
        let chain = self.ctx.chain_id.to_string();
        let mut handled = 0u64;
        let mut last: Option<u64> = None;
        while let Some(head) = rx.recv().await {
            if self.knobs.reorg_aware && last.is_some_and(|l| head.number <= l) {
                self.forget_from(head.number);
            }
            last = Some(head.number);
            metrics::gauge!(telemetry::BLOCK_BACKLOG, "chain_id" => chain.clone())
                .set(rx.len() as f64);
            let number = head.number;
            self.block(head).await;
            self.save(&head);
            metrics::counter!(telemetry::BLOCKS_PROCESSED, "chain_id" => chain.clone())
                .increment(1);
            metrics::gauge!(telemetry::HEAD_BLOCK, "chain_id" => chain.clone()).set(number as f64);
            metrics::gauge!(telemetry::TWAP_ACTIVE, "chain_id" => chain.clone())
                .set(self.watches.len() as f64);
            handled += 1;
            match mutant::after_block(handled) {
                mutant::Flow::Continue => {}
                mutant::Flow::Crash => std::process::exit(101),
                mutant::Flow::Stall => {
                    // Up, serving metrics, receiving heads, handling none of them.
                    while rx.recv().await.is_some() {}
                    return;
                }
            }
        }
    }

    async fn block(&mut self, head: Head) {
        tracing::debug!(number = head.number, hash = %head.hash, "block");
        // Orders that asked for a retry in this block wait for the next one.
        let earlier_retries = std::mem::take(&mut self.retries);
        let events = self.events(&head).await;
        let (fresh, new_retries) = self.dispatch_events(events, head).await;
        self.poll_due(head).await;
        for watch in fresh {
            self.watches.entry(watch.key()).or_insert(watch);
        }
        self.retries = self.retry_placements(earlier_retries, head).await;
        self.retries.extend(new_retries);
    }

    /// Fetch and decode this block's events; undecodable logs are counted and skipped.
    async fn events(&mut self, head: &Head) -> Vec<Event> {
        let logs = self.block_logs(head).await;
        let mut events = Vec::with_capacity(logs.len());
        for log in &logs {
            if mutant::drops_next_event() {
                tracing::warn!(tx = ?log.transaction_hash, "MUTANT drop-every: ignoring this event");
                continue;
            }
            match decode(log) {
                Ok(Event::Placed(mut placement)) => {
                    placement.origin_block = head.number;
                    events.push(Event::Placed(placement));
                }
                Ok(Event::Created(mut watch)) => {
                    watch.created_block = head.number;
                    events.push(Event::Created(watch));
                }
                Err(module) => {
                    tracing::warn!(module = module.as_str(), tx = ?log.transaction_hash, "undecodable log");
                    telemetry::module_error(module, ErrorKind::DecodeError.as_str());
                }
            }
        }
        events
    }

    /// The block's logs: read ahead with the blocks after it when the stream skipped it (one
    /// `eth_getLogs` by range for the whole gap), else by its hash.
    async fn block_logs(&mut self, head: &Head) -> Vec<Log> {
        if let Some(to) = head.catch_up_to.filter(|to| *to > head.number) {
            if !self.prefetched.contains_key(&head.number) {
                self.prefetch(head.number, to).await;
            }
        }
        match self.prefetched.remove(&head.number) {
            Some((hash, logs)) if hash.is_none_or(|h| h == head.hash) => logs,
            _ => self.logs(head.hash).await,
        }
    }

    /// Reads the logs of blocks `from..=to` ahead. A range the node refuses is split in halves
    /// down to single blocks (`split_log_ranges`), and a block that still fails is left to its
    /// own fetch by hash; without splitting, a refused range is skipped for good.
    async fn prefetch(&mut self, from: u64, to: u64) {
        let logs = match self.logs_in_range(from, to).await {
            Ok(logs) => logs,
            Err(err) if self.knobs.split_log_ranges => {
                tracing::warn!(from, to, %err, "cannot read these blocks' logs by range; reading them one by one");
                return;
            }
            Err(err) => {
                tracing::error!(from, to, %err, "log range refused; skipping these blocks (split_log_ranges off)");
                telemetry::follower_blocks(
                    self.ctx.chain_id,
                    telemetry::SKIPPED_BLOCKS,
                    to - from + 1,
                );
                Vec::new()
            }
        };
        for number in from..=to {
            self.prefetched.insert(number, (None, Vec::new()));
        }
        for log in logs {
            let Some(number) = log.block_number else {
                continue;
            };
            if let Some((hash, block)) = self.prefetched.get_mut(&number) {
                *hash = log.block_hash;
                block.push(log);
            }
        }
    }

    /// The logs of blocks `from..=to` in one `eth_getLogs`; with `split_log_ranges`, a range
    /// the node refuses is asked again in halves.
    fn logs_in_range(
        &self,
        from: u64,
        to: u64,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Vec<Log>, String>> + Send + '_>>
    {
        Box::pin(async move {
            let addresses = vec![COMPOSABLE_COW, ETH_FLOW_PRODUCTION];
            let topics = vec![
                ComposableCoW::ConditionalOrderCreated::SIGNATURE_HASH,
                CoWSwapOnchainOrders::OrderPlacement::SIGNATURE_HASH,
            ];
            match self
                .ctx
                .rpc
                .get_logs_range((from, to), addresses, topics)
                .await
            {
                Ok(logs) => Ok(logs),
                Err(err) if self.knobs.split_log_ranges && to > from => {
                    let mid = from + (to - from) / 2;
                    tracing::info!(from, to, %err, "log range refused; splitting it");
                    let mut logs = self.logs_in_range(from, mid).await?;
                    logs.extend(self.logs_in_range(mid + 1, to).await?);
                    Ok(logs)
                }
                Err(err) => Err(err.to_string()),
            }
        })
    }

    async fn logs(&self, block: B256) -> Vec<Log> {
        let addresses = vec![COMPOSABLE_COW, ETH_FLOW_PRODUCTION];
        let topics = vec![
            ComposableCoW::ConditionalOrderCreated::SIGNATURE_HASH,
            CoWSwapOnchainOrders::OrderPlacement::SIGNATURE_HASH,
        ];
        for attempt in 1..=mutant::get_logs_attempts(GET_LOGS_ATTEMPTS) {
            match self
                .ctx
                .rpc
                .get_logs(block, addresses.clone(), topics.clone())
                .await
            {
                Ok(logs) => return logs,
                Err(err) => {
                    tracing::warn!(%block, attempt, %err, "eth_getLogs failed");
                    let pause = (Duration::from_millis(200) * attempt).min(GET_LOGS_MAX_PAUSE);
                    tokio::time::sleep(pause).await;
                }
            }
        }
        tracing::error!(%block, "giving up on this block's logs");
        Vec::new()
    }

    /// Handle the block's events; returns the watches that survived their first poll and the
    /// EthFlow orders to retry next block.
    async fn dispatch_events(
        &mut self,
        events: Vec<Event>,
        head: Head,
    ) -> (Vec<Watch>, Vec<Placement>) {
        let cost = self.knobs.per_event_cost;
        let mut jobs = Vec::with_capacity(events.len());
        for event in events {
            self.leak();
            let module = match event {
                Event::Created(_) => Module::Twap,
                Event::Placed(_) => Module::EthFlow,
            };
            if self.poison.is_poisoned(module) {
                continue;
            }
            let ctx = Arc::clone(&self.ctx);
            jobs.push((module, async move {
                spend(cost).await;
                match event {
                    Event::Created(mut watch) => {
                        let next = twap::poll(&ctx, &watch, &head).await;
                        telemetry::record_latency(
                            Module::Twap,
                            EventKind::ConditionalOrderCreated,
                            head.received_at.elapsed(),
                        );
                        Done::Created(next.map(|next| {
                            watch.next = next;
                            watch
                        }))
                    }
                    Event::Placed(placement) => {
                        let retry = ethflow::place(&ctx, placement, &head).await;
                        telemetry::record_latency(
                            Module::EthFlow,
                            EventKind::OrderPlacement,
                            head.received_at.elapsed(),
                        );
                        Done::Placed(retry)
                    }
                }
            }));
        }
        let (mut fresh, mut retries) = (Vec::new(), Vec::new());
        for done in self.run_jobs(jobs).await {
            match done {
                Done::Created(Some(watch)) => fresh.push(watch),
                Done::Placed(Some(retry)) => retries.push(retry),
                Done::Created(None) | Done::Placed(None) | Done::Polled(..) => {}
            }
        }
        (fresh, retries)
    }

    /// Poll every due watch from earlier blocks and apply the new schedules.
    async fn poll_due(&mut self, head: Head) {
        if self.poison.is_poisoned(Module::Twap) {
            return;
        }
        let due: Vec<Watch> = self
            .watches
            .values()
            .filter(|w| w.next.is_due(&head))
            .cloned()
            .collect();
        let jobs = due
            .into_iter()
            .map(|watch| {
                let ctx = Arc::clone(&self.ctx);
                (Module::Twap, async move {
                    let next = twap::poll(&ctx, &watch, &head).await;
                    telemetry::record_latency(
                        Module::Twap,
                        EventKind::Poll,
                        head.received_at.elapsed(),
                    );
                    Done::Polled(watch.key(), next)
                })
            })
            .collect();
        for done in self.run_jobs(jobs).await {
            if let Done::Polled(key, next) = done {
                match next {
                    Some(schedule) => {
                        if let Some(watch) = self.watches.get_mut(&key) {
                            watch.next = schedule;
                        }
                    }
                    None => {
                        self.watches.remove(&key);
                    }
                }
            }
        }
    }

    /// Post again the EthFlow orders from earlier blocks; returns those to retry once more.
    async fn retry_placements(&mut self, retries: Vec<Placement>, head: Head) -> Vec<Placement> {
        if retries.is_empty() || self.poison.is_poisoned(Module::EthFlow) {
            return retries;
        }
        let jobs = retries
            .into_iter()
            .map(|placement| {
                let ctx = Arc::clone(&self.ctx);
                (Module::EthFlow, async move {
                    Done::Placed(ethflow::place(&ctx, placement, &head).await)
                })
            })
            .collect();
        let mut again = Vec::new();
        for done in self.run_jobs(jobs).await {
            if let Done::Placed(Some(retry)) = done {
                again.push(retry);
            }
        }
        again
    }

    /// Run jobs per the dispatch mode and return their results in job order; a job that
    /// panicked counts as a trap of its module and yields nothing.
    async fn run_jobs<F>(&mut self, jobs: Vec<(Module, F)>) -> Vec<Done>
    where
        F: Future<Output = Done> + Send + 'static,
    {
        let mut out = Vec::with_capacity(jobs.len());
        match self.knobs.dispatch {
            Dispatch::Sequential => {
                for (module, job) in jobs {
                    match tokio::spawn(job).await {
                        Ok(done) => out.push(done),
                        Err(err) => self.poison.trap(module, &err),
                    }
                }
            }
            Dispatch::Concurrent => {
                let permits = Arc::new(Semaphore::new(self.knobs.concurrency));
                let handles: Vec<_> = jobs
                    .into_iter()
                    .map(|(module, job)| {
                        let permits = Arc::clone(&permits);
                        let handle = tokio::spawn(async move {
                            let _permit = permits.acquire_owned().await;
                            job.await
                        });
                        (module, handle)
                    })
                    .collect();
                for (module, handle) in handles {
                    match handle.await {
                        Ok(done) => out.push(done),
                        Err(err) => self.poison.trap(module, &err),
                    }
                }
            }
        }
        out
    }
}

/// The per-event cost: a thread sleep on the blocking pool, which the OS times to tens of
/// microseconds, where tokio's timer would round every sleep up to the next millisecond.
async fn spend(cost: Duration) {
    if cost.is_zero() {
        return;
    }
    if tokio::task::spawn_blocking(move || std::thread::sleep(cost))
        .await
        .is_err()
    {
        tokio::time::sleep(cost).await;
    }
}

/// Decode a log of either contract; the error names the module it belonged to.
fn decode(log: &Log) -> Result<Event, Module> {
    let address: Address = log.address();
    let topic0 = log.topic0().copied();
    if address == COMPOSABLE_COW
        && topic0 == Some(ComposableCoW::ConditionalOrderCreated::SIGNATURE_HASH)
    {
        let created = log
            .log_decode::<ComposableCoW::ConditionalOrderCreated>()
            .map_err(|_| Module::Twap)?;
        let event = created.inner.data;
        return Ok(Event::Created(Watch::new(event.owner, event.params)));
    }
    if topic0 == Some(CoWSwapOnchainOrders::OrderPlacement::SIGNATURE_HASH) {
        let placed = log
            .log_decode::<CoWSwapOnchainOrders::OrderPlacement>()
            .map_err(|_| Module::EthFlow)?;
        return ethflow::placement_from_event(address, &placed.inner.data)
            .map(Event::Placed)
            .map_err(|err| {
                tracing::warn!(%err, "OrderPlacement cannot become an order");
                Module::EthFlow
            });
    }
    Err(
        if topic0 == Some(ComposableCoW::ConditionalOrderCreated::SIGNATURE_HASH) {
            Module::Twap
        } else {
            Module::EthFlow
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::{Bytes, LogData};
    use cowprotocol::ConditionalOrderParams;

    fn rpc_log(address: Address, data: LogData) -> Log {
        Log {
            inner: alloy::primitives::Log { address, data },
            ..Log::default()
        }
    }

    #[test]
    fn logs_decode_into_module_events() {
        let params = ConditionalOrderParams {
            handler: Address::repeat_byte(0x6c),
            salt: B256::repeat_byte(0x11),
            staticInput: Bytes::from(vec![7; 64]),
        };
        let owner = Address::repeat_byte(0x3c);
        let created = ComposableCoW::ConditionalOrderCreated {
            owner,
            params: params.clone(),
        };
        let log = rpc_log(COMPOSABLE_COW, created.encode_log_data());
        match decode(&log) {
            Ok(Event::Created(watch)) => {
                assert_eq!(watch.owner, owner);
                assert_eq!(watch.params, params);
            }
            _ => panic!("expected a ConditionalOrderCreated"),
        }

        // Right topic, truncated body: counted against the module that owns the event.
        let mut broken = created.encode_log_data();
        broken = LogData::new_unchecked(broken.topics().to_vec(), Bytes::from(vec![0; 10]));
        assert!(matches!(
            decode(&rpc_log(COMPOSABLE_COW, broken)),
            Err(Module::Twap)
        ));

        // A ConditionalOrderCreated topic from another address is not ours.
        let stray = rpc_log(Address::repeat_byte(1), created.encode_log_data());
        assert!(matches!(decode(&stray), Err(Module::Twap)));
    }

    #[test]
    fn poison_trips_at_the_threshold() {
        let mut poison = Poison::default();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let err = rt.block_on(async {
            tokio::spawn(async { panic!("boom") })
                .await
                .expect_err("panics")
        });
        for _ in 1..POISON_AFTER_TRAPS {
            poison.trap(Module::Twap, &err);
        }
        assert!(!poison.is_poisoned(Module::Twap));
        poison.trap(Module::Twap, &err);
        assert!(poison.is_poisoned(Module::Twap));
        assert!(!poison.is_poisoned(Module::EthFlow));
    }
}
