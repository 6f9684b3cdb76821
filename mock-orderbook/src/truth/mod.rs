//! Truth: which on-chain events became orders, how fast, and which were lost — measured by
//! the mock without knowing anything about the engine.
//!
//! In: the runner's [`Truth::register`] (every event it saw on chain, after each mined block)
//! and [`Truth::set_head`] (after each block), and every parsed `POST /api/v1/orders` from the
//! server. Out: [`Stats`] (served at `/_stats`) and the `cowload_*` Prometheus text (served at
//! `/metrics`).
//!
//! A POST is matched to an event by [`OrderKey`] (owner, tokens, receiver, amounts, appData
//! hash). Because an engine can see a block and post before the runner has registered that
//! block's events, a POST whose key is unknown waits as *pending*; registering the event later
//! still matches it, and only at the next `set_head` after the head at its receipt is it
//! finally counted as `unmatched`. Counters therefore only ever grow. The runner must call
//! `register` for a block before `set_head` for it.
//!
//! When the event fully determines the order (EthFlow: the contract emits it), the runner
//! also gives its exact UID; an accepted POST with the event's key but another UID (a wrong
//! `validTo`, fee, kind…) is counted as `mismatched`, never as the event's order.
//!
//! A TWAP yields one order per part (see [`TwapSchedule`]): the runner gives each TWAP event its
//! schedule and [`Truth::set_head_at`] each block's timestamp. A POST for a TWAP is attributed to
//! the part whose window holds its `validTo` (none: mismatched). Part 0 opens with the event's
//! block, part `i` at the first head whose timestamp reaches `t0 + i·t` (or earlier, when an
//! order for it arrives first). Each opened part must get one accepted order by `opening block +
//! order_deadline_blocks`: matched, else missing (and late if it comes after); a second accepted
//! order with another UID is a duplicate part. Parts that never open are not expected. The TWAP
//! *event* is matched, lost or late by its part 0 alone, so later parts never count as the first.
//!
//! Every lost event and missing part gets a reason ([`LossReason`]) from the last answer it
//! got — none, a permanent 400, a retryable 429/5xx/reset/timeout, a wrong order — or `late`
//! when its order came after the deadline. The reason is counted once it is final: `late` on
//! arrival, the others at [`Truth::finish`]; so the reason counters lag the lost counters
//! during the run and sum to them at the end.
//!
//! Per event the first accepted order counts: its latency (event block mined → POST received,
//! seconds) and its distance in blocks (head at receipt − event block) are recorded, along with
//! the number of POSTs the event took (retries; per part for TWAPs). An event with no accepted order once the head
//! is past `block + order_deadline_blocks` is lost; if it gets an order later it stays lost,
//! counts as late and its latency is still recorded. So `registered = matched + lost +
//! awaiting` always holds.
//!
//! A reorg that drops its blocks' transactions takes their events back ([`Truth::reorg_out`]):
//! no order is expected for them any more, and every accepted order for one, before or after
//! the reorg, counts as an order for a reorged event. Such an event leaves `matched`, `lost`
//! and `awaiting` for `reorged`, so `registered = matched + lost + reorged + awaiting`.
//!
//! The module tree follows the data: [`order`] is what the truth is told (events, parsed
//! POSTs), [`pending`] holds POSTs that came before their event, `ledger` judges every order,
//! `record` keeps each order's state and requests, `lines` writes them out, `counts` keeps the
//! per-kind tallies, `requests` the mock's own HTTP counters, and `exposition` renders all of
//! it as Prometheus text. What it says back ([`Stats`], [`OrderLine`], the label values) is
//! the shared vocabulary of the `cowload_spec` crate.

mod counts;
mod exposition;
mod ledger;
mod lines;
mod order;
mod pending;
mod record;
mod requests;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use alloy::primitives::{keccak256, B256};

use crate::prom::Exposition;
use cowload_spec::PerKind;

use ledger::Ledger;
use pending::PendingKey;
use requests::Requests;

pub use cowload_spec::{
    order_line_schema, EventStats, ExactHistogram, ExactSamples, FirstAccepted, LossReason,
    OrderLine, OrderOutcome, PartOutcome, PartWindow, RequestCount, RequestLine, Route, SpanTruth,
    Stats, Summary, UNMATCHED,
};
pub use order::{ExactOrder, ExpectedOrder, Observation, OrderKey, PostOutcome, TwapSchedule};

/// Hasher of the per-POST maps: foldhash (seeded per process) instead of SipHash, because
/// each POST hashes its ~200-byte key several times.
type FastHash = foldhash::fast::RandomState;

/// Shared handle on the mock's ground truth. Cheap to clone; every clone sees the same data.
#[derive(Clone)]
pub struct Truth {
    shared: Arc<Shared>,
}

struct Shared {
    ledger: Mutex<Ledger>,
    /// The ledger's head, readable without its lock: every POST reads it first.
    head: AtomicU64,
    /// Shared strings: every stored order holds the document of its hash.
    app_data: RwLock<HashMap<B256, Arc<str>>>,
    requests: Mutex<Requests>,
}

impl Truth {
    /// A fresh truth. `outcomes` are extra `outcome` label values (the configured errorTypes)
    /// whose counters exist from the first scrape.
    pub fn new(order_deadline_blocks: u64, outcomes: &[String]) -> Self {
        let mut app_data = HashMap::new();
        app_data.insert(
            cowprotocol::EMPTY_APP_DATA_HASH,
            Arc::from(cowprotocol::EMPTY_APP_DATA_JSON),
        );
        Self {
            shared: Arc::new(Shared {
                ledger: Mutex::new(Ledger::new(order_deadline_blocks, outcomes)),
                head: AtomicU64::new(0),
                app_data: RwLock::new(app_data),
                requests: Mutex::new(Requests::new()),
            }),
        }
    }

    /// Registers events found on chain. Call after each mined block, before
    /// [`Truth::set_head`] for that block. POSTs already received for these events are
    /// matched now.
    pub fn register(&self, events: Vec<ExpectedOrder>) {
        self.ledger().register(events);
    }

    /// Moves the head to `block`. Events with no accepted order whose
    /// `block + order_deadline_blocks` is now behind the head become lost, and POSTs received
    /// before this head that still match nothing are counted as unmatched.
    pub fn set_head(&self, block: u64) {
        self.move_head(block, None);
    }

    /// [`Truth::set_head`] with the head's timestamp (chain seconds): TWAP parts whose window
    /// starts at or before it open now, at `block`, and are expected to get an order by
    /// `block + order_deadline_blocks`. Without a timestamp only each TWAP's part 0 opens.
    pub fn set_head_at(&self, block: u64, timestamp: u64) {
        self.move_head(block, Some(timestamp));
    }

    /// Moves the ledger's head and its lock-free copy together (under the ledger's lock).
    fn move_head(&self, block: u64, timestamp: Option<u64>) {
        let mut ledger = self.ledger();
        ledger.set_head(block, timestamp);
        self.shared.head.store(ledger.head, Ordering::Release);
    }

    /// Closes the books at the end of a run, whose last block is the head: an order that was
    /// due by then and has none is lost, one whose deadline lies after the last block is
    /// unjudged (neither matched nor lost), every pending POST is unmatched, and every lost
    /// order gets its reason. POSTs that come later are traced, never judged.
    pub fn finish(&self) {
        self.ledger().close();
    }

    /// A reorg dropped the transactions of chain blocks `first..=last`: their events are
    /// taken back (see the module doc). Returns how many events it took back.
    pub fn reorg_out(&self, first: u64, last: u64) -> u64 {
        self.ledger().reorg_out(first, last)
    }

    /// The head block last set.
    pub fn head(&self) -> u64 {
        self.shared.head.load(Ordering::Acquire)
    }

    /// An orderbook outage began: no deadline passes until [`Truth::release_deadlines`], so
    /// nothing is judged lost for what the orderbook would not take.
    pub fn hold_deadlines(&self) {
        self.ledger().hold_deadlines();
    }

    /// The outage ended with chain block `last`: every event and TWAP part still awaiting its
    /// order gets `order_deadline_blocks` counted from `last`.
    pub fn release_deadlines(&self, last: u64) {
        self.ledger().release_deadlines(last);
    }

    /// What became of the events of chain blocks `first..=last` (a fault's
    /// blocks), the duplicates received from `since` until `until` (the next
    /// fault's start, or the end), and the recovery: from `ended` to the first
    /// accepted order received after it. Call after [`Truth::finish`], when
    /// every event is either matched or lost.
    pub fn span(
        &self,
        (first, last): (u64, u64),
        since: Instant,
        until: Option<Instant>,
        ended: Option<Instant>,
    ) -> SpanTruth {
        self.ledger().span((first, last), since, until, ended)
    }

    /// The exact observations of the [`ExactHistogram`]s, per kind, since the last call: the
    /// runner keeps them with each scrape, so bars and reports read quantiles from the
    /// samples themselves rather than from histogram buckets.
    pub fn take_exact_samples(&self) -> PerKind<ExactSamples> {
        let mut ledger = self.ledger();
        PerKind::from_fn(|kind| std::mem::take(&mut ledger.kinds[kind].recent))
    }

    /// Hands one [`OrderLine`] per owed order to `each` (every event, then its TWAP parts),
    /// with what became of it and the requests made for it. Call after [`Truth::finish`].
    pub fn each_order_line(&self, each: impl FnMut(OrderLine)) {
        self.ledger().each_line(each);
    }

    /// Makes an app-data document servable at `GET /api/v1/app_data/{keccak256(doc)}` and
    /// returns that hash.
    pub fn register_app_data(&self, doc: String) -> B256 {
        let hash = keccak256(doc.as_bytes());
        let mut docs = self
            .shared
            .app_data
            .write()
            .unwrap_or_else(|p| p.into_inner());
        docs.insert(hash, Arc::from(doc));
        hash
    }

    /// The app-data document with this hash, if known.
    pub fn app_data(&self, hash: &B256) -> Option<String> {
        self.app_data_shared(hash).map(|doc| doc.to_string())
    }

    /// [`Truth::app_data`] without a copy of the document (a POST keeps it with its order).
    pub(crate) fn app_data_shared(&self, hash: &B256) -> Option<Arc<str>> {
        let docs = self
            .shared
            .app_data
            .read()
            .unwrap_or_else(|p| p.into_inner());
        docs.get(hash).cloned()
    }

    /// A snapshot of every counter and distribution.
    pub fn stats(&self) -> Stats {
        let mut stats = self.ledger().stats();
        stats.requests = self.requests().stats();
        let docs = self
            .shared
            .app_data
            .read()
            .unwrap_or_else(|p| p.into_inner());
        stats.app_data_documents = docs.len() as u64;
        stats
    }

    /// The Prometheus text of `/metrics`.
    pub fn render_metrics(&self) -> String {
        let mut out = Exposition::default();
        self.ledger().render(&mut out);
        self.requests().render(&mut out);
        out.finish()
    }

    /// Counts one parsed POST (called by the server).
    pub(crate) fn observe(&self, observation: Observation) {
        let post = PendingKey::boxed(observation);
        self.ledger().observe(post);
    }

    /// Traces one `GET /api/v1/orders/{uid}` to the order that UID is owed for, if any
    /// (called by the server).
    pub(crate) fn observe_get(&self, uid: &cowprotocol::OrderUid, found: bool, at: Instant) {
        self.ledger().observe_get(uid, found, at);
    }

    /// Counts one POST that could not be parsed (called by the server).
    pub(crate) fn observe_invalid(&self) {
        let mut ledger = self.ledger();
        ledger.posts += 1;
        ledger.count_received(UNMATCHED, &PostOutcome::Invalid);
    }

    /// Counts one HTTP request (called by the server's middleware).
    pub(crate) fn observe_request(&self, route: &str, status: u16, elapsed: Duration) {
        self.requests().observe(route, status, elapsed);
    }

    fn ledger(&self) -> MutexGuard<'_, Ledger> {
        self.shared.ledger.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn requests(&self) -> MutexGuard<'_, Requests> {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests;
