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
//! Every lost event and missing part gets a reason ([`LOST_REASONS`]) from the last answer it
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

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::BuildHasher;

/// Hasher of the per-POST maps: foldhash (seeded per process) instead of SipHash, which a
/// profile of the POST path showed hashing each ~200-byte key several times per request.
type FastHash = foldhash::fast::RandomState;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use alloy::primitives::{keccak256, Address, B256, U256};
use cowprotocol::{DomainSeparator, OrderData, OrderUid};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

use crate::faults::Fault;
use crate::kind::{EventKind, PerKind};
use crate::names;
use crate::prom::{self, Buckets, Exposition};

/// The `kind` label of orders that match no registered event.
pub const UNMATCHED: &str = "unmatched";

/// `outcome` of [`names::TWAP_PARTS_TOTAL`]: a part's window opened (it is expected).
pub const PART_EXPECTED: &str = "expected";
/// `outcome`: a part's first accepted order arrived by its deadline.
pub const PART_MATCHED: &str = "matched";
/// `outcome`: a part had no accepted order by its deadline.
pub const PART_MISSING: &str = "missing";
/// `outcome`: a missing part got its first accepted order after its deadline.
pub const PART_LATE: &str = "late";
/// `outcome`: a second accepted order (another UID) for a part that already had one.
pub const PART_DUPLICATE: &str = "duplicate";
/// Every `outcome` of [`names::TWAP_PARTS_TOTAL`], in exposition order.
pub const PART_OUTCOMES: [&str; 5] = [
    PART_EXPECTED,
    PART_MATCHED,
    PART_MISSING,
    PART_LATE,
    PART_DUPLICATE,
];

/// Lost with no POST for it at all.
pub const LOST_NEVER_POSTED: &str = "never_posted";
/// Lost after a permanent rejection: the last answer was a 400 errorType (InsufficientFee,
/// InvalidSignature, DuplicatedOrder…) — giving up was right.
pub const LOST_REJECTED: &str = "rejected";
/// Lost after a retryable answer: the last was a 429, a 5xx, a reset or a timeout.
pub const LOST_GAVE_UP_ON_RETRYABLE: &str = "gave_up_on_retryable";
/// Lost because the last order posted was accepted but is not the one the event requires.
pub const LOST_MISMATCHED: &str = "mismatched";
/// Lost, then its order came after the deadline.
pub const LOST_LATE: &str = "late";
/// Every `reason` of [`names::EVENTS_LOST_REASON_TOTAL`], in exposition order.
pub const LOST_REASONS: [&str; 5] = [
    LOST_NEVER_POSTED,
    LOST_REJECTED,
    LOST_GAVE_UP_ON_RETRYABLE,
    LOST_MISMATCHED,
    LOST_LATE,
];

/// Why a lost event (or missing part) was lost, from the last answer it got before the books
/// closed: none, a permanent rejection, a retryable answer, or a wrong order.
fn loss_reason(last: Option<&PostOutcome>) -> &'static str {
    match last {
        None => LOST_NEVER_POSTED,
        Some(PostOutcome::RateLimited) => LOST_GAVE_UP_ON_RETRYABLE,
        Some(PostOutcome::Injected(fault)) if fault.is_retryable() => LOST_GAVE_UP_ON_RETRYABLE,
        Some(PostOutcome::Mismatched) => LOST_MISMATCHED,
        Some(_) => LOST_REJECTED,
    }
}

/// A TWAP's schedule as its static input fixes it (`t0`, `n`, `t`; chain seconds, `span` 0).
/// Part `i` is tradeable from `t0 + i·t` to `t0 + (i+1)·t − 1`, and that last second is the
/// part order's `validTo`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TwapSchedule {
    /// Start of part 0.
    pub t0: u64,
    /// Number of parts.
    pub n: u64,
    /// Seconds per part.
    pub t: u64,
}

impl TwapSchedule {
    /// When part `i`'s window opens.
    pub fn part_start(&self, i: u64) -> u64 {
        self.t0.saturating_add(i.saturating_mul(self.t))
    }

    /// The `validTo` of part `i`: the last second of its window.
    pub fn part_valid_to(&self, i: u64) -> u64 {
        self.part_start(i + 1).saturating_sub(1)
    }

    /// The part whose window holds `valid_to`, if any: a POST is attributed to it.
    pub fn part_of(&self, valid_to: u64) -> Option<u64> {
        if self.t == 0 || valid_to < self.t0 {
            return None;
        }
        let i = (valid_to - self.t0) / self.t;
        (i < self.n).then_some(i)
    }
}

/// The order fields that tie a posted order to the event that caused it. `validTo`, fees and
/// the signature are left out on purpose: TWAP parts differ only in `validTo`, and engines
/// choose fees and signatures.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OrderKey {
    /// The order's owner (`from`, or the recovered ECDSA signer).
    pub owner: Address,
    /// Token sold.
    pub sell_token: Address,
    /// Token bought.
    pub buy_token: Address,
    /// Receiver; an absent receiver is `Address::ZERO`, as in the signed struct.
    pub receiver: Address,
    /// Sell amount, atomic units.
    pub sell_amount: U256,
    /// Buy amount, atomic units.
    pub buy_amount: U256,
    /// keccak256 of the app-data document.
    pub app_data: B256,
}

/// One event the runner found on chain and expects to become an order.
#[derive(Clone, Debug)]
pub struct ExpectedOrder {
    /// What kind of event it was.
    pub kind: EventKind,
    /// The block that holds the event.
    pub block: u64,
    /// When that block was mined (latency starts here).
    pub mined_at: Instant,
    /// The order the event should turn into.
    pub key: OrderKey,
    /// The exact order the event requires, when it fully determines it
    /// (EthFlow: the order itself; TWAP: every part's, but for `validTo`).
    pub exact: Option<ExactOrder>,
    /// The TWAP's parts, for a TWAP event: each part opening before the end is expected to
    /// get its own order. `None` for EthFlow (one order per event).
    pub twap: Option<TwapSchedule>,
    /// The transaction that emitted the event (for reports and debugging).
    pub tx_hash: B256,
}

/// The order an event requires, as its UID is computed: for a TWAP, `order`
/// holds every field but `validTo`, which is its part's.
#[derive(Clone, Debug, PartialEq)]
pub struct ExactOrder {
    /// The signed fields (a TWAP's `valid_to` is replaced per part).
    pub order: OrderData,
    /// The order's owner (`from`).
    pub owner: Address,
    /// The settlement contract's EIP-712 domain.
    pub domain: DomainSeparator,
}

impl ExactOrder {
    /// The UID of the order, with `valid_to` when given (a TWAP part's).
    pub fn uid(&self, valid_to: Option<u32>) -> OrderUid {
        let mut order = self.order;
        if let Some(valid_to) = valid_to {
            order.valid_to = valid_to;
        }
        order.uid(&self.domain, self.owner)
    }
}

/// How one POST ended, as the truth counts it (the `outcome` label).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PostOutcome {
    /// 201, stored.
    Accepted,
    /// 400 `DuplicatedOrder` because the UID was already stored.
    Duplicate,
    /// An answer injected by the error mix (an errorType or a transport fault).
    Injected(Fault),
    /// 400 because the body could not be parsed.
    Invalid,
    /// 429 because the route's rate-limit bucket was empty.
    RateLimited,
    /// Accepted by the API, but not the order its event requires (another UID).
    Mismatched,
}

impl PostOutcome {
    /// The `outcome` label value.
    pub fn label(&self) -> &str {
        match self {
            PostOutcome::Accepted => "accepted",
            PostOutcome::Duplicate => "duplicate",
            PostOutcome::Injected(fault) => fault.name(),
            PostOutcome::Invalid => "invalid",
            PostOutcome::RateLimited => "rate_limited",
            PostOutcome::Mismatched => "mismatched",
        }
    }
}

/// A parsed POST as handed to the truth.
#[derive(Clone, Debug)]
pub struct Observation {
    /// The order's key.
    pub key: OrderKey,
    /// The order's UID as posted.
    pub uid: OrderUid,
    /// The order's `validTo` as posted (picks a TWAP's part).
    pub valid_to: u64,
    /// How the POST was answered.
    pub outcome: PostOutcome,
    /// When the request arrived.
    pub received_at: Instant,
    /// The head block at that moment.
    pub head: u64,
}

/// The POSTs whose key matched no event yet, by key, each key stored once with its first POST
/// beside it.
///
/// In a load test every POST may wait here until the next head (in a benchmark without events,
/// all of them, for the whole run), so the table grows by doubling while the ledger's lock is
/// held. Its slots hold only the key's hash and a pointer to the boxed entry: a doubling then
/// moves 16 bytes per key and hashes nothing again, where a map holding keys and POSTs inline
/// (about 300 bytes a slot) stalled both workers for the copy, a visible dip in the rounds of
/// `bench/mock-vs-bare-wrk.sh` whose orders crossed a power of two.
#[derive(Default)]
struct Pending {
    table: hashbrown::HashTable<(u64, Box<PendingKey>)>,
    hasher: FastHash,
}

/// One key's waiting POSTs, in receipt order (most keys wait for one POST: kept inline).
struct PendingKey {
    key: OrderKey,
    posts: SmallVec<[Waiting; 1]>,
}

impl PendingKey {
    /// `observation` as it would wait, boxed. [`Truth::observe`] builds it before it takes the
    /// ledger lock: the box's first write may fault in a fresh page (under wrk the mock's
    /// allocator takes 2 MiB huge pages, about 5 ms to zero on this VM's cold memory), and a
    /// fault under the lock stalls every other POST for that long.
    fn boxed(observation: Observation) -> Box<Self> {
        let (key, post) = Waiting::split(observation);
        let mut posts = SmallVec::new();
        posts.push(post);
        Box::new(PendingKey { key, posts })
    }

    /// The first POST waiting for this key (every entry holds at least one).
    fn first(&self) -> &Waiting {
        &self.posts[0]
    }

    /// The observation again (the one POST of a box from [`PendingKey::boxed`]).
    fn into_observation(self: Box<Self>) -> Observation {
        let PendingKey { key, posts } = *self;
        let post = posts
            .into_iter()
            .next()
            .expect("a boxed observation holds its POST");
        post.with_key(key)
    }
}

impl Pending {
    /// Queues `post` behind the earlier POSTs of its key (its box goes when the key already
    /// waits).
    fn push(&mut self, post: Box<PendingKey>) {
        let hash = self.hasher.hash_one(&post.key);
        let entry = self.table.entry(
            hash,
            |(h, waiting)| *h == hash && waiting.key == post.key,
            |(h, _)| *h,
        );
        match entry {
            hashbrown::hash_table::Entry::Occupied(mut slot) => {
                slot.get_mut().1.posts.extend(post.posts)
            }
            hashbrown::hash_table::Entry::Vacant(slot) => {
                slot.insert((hash, post));
            }
        }
    }

    /// Takes every POST waiting for `key`, in receipt order.
    fn remove(&mut self, key: &OrderKey) -> Option<SmallVec<[Waiting; 1]>> {
        let hash = self.hasher.hash_one(key);
        let found = self
            .table
            .find_entry(hash, |(h, waiting)| *h == hash && waiting.key == *key);
        found.ok().map(|slot| slot.remove().0 .1.posts)
    }

    /// Keeps the POSTs for which `keep` is true; keys left without POSTs go.
    fn retain(&mut self, mut keep: impl FnMut(&Waiting) -> bool) {
        self.table.retain(|(_, waiting)| {
            waiting.posts.retain(|post| keep(post));
            !waiting.posts.is_empty()
        });
    }

    /// The number of waiting POSTs.
    fn posts(&self) -> u64 {
        self.table
            .iter()
            .map(|(_, waiting)| waiting.posts.len() as u64)
            .sum()
    }
}

/// A pending POST ([`Pending`]): an [`Observation`] without its key, which the table holds
/// once.
#[derive(Clone, Debug)]
struct Waiting {
    uid: OrderUid,
    valid_to: u64,
    outcome: PostOutcome,
    received_at: Instant,
    head: u64,
}

impl Waiting {
    /// The key and the rest of `observation`.
    fn split(observation: Observation) -> (OrderKey, Waiting) {
        let Observation {
            key,
            uid,
            valid_to,
            outcome,
            received_at,
            head,
        } = observation;
        let post = Waiting {
            uid,
            valid_to,
            outcome,
            received_at,
            head,
        };
        (key, post)
    }

    /// The observation again, with its key.
    fn with_key(self, key: OrderKey) -> Observation {
        Observation {
            key,
            uid: self.uid,
            valid_to: self.valid_to,
            outcome: self.outcome,
            received_at: self.received_at,
            head: self.head,
        }
    }
}

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
    /// Events emitted in the fault's blocks.
    pub events: u64,
    /// Of those, events that never got their order in time (lost, late included).
    pub lost: u64,
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

/// Routes whose series exist from the first scrape.
const KNOWN_ROUTES: &[(&str, &str)] = &[
    ("/api/v1/orders", "201"),
    ("/api/v1/orders/{uid}", "200"),
    ("/api/v1/app_data/{hash}", "200"),
];

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

    /// Closes the books at the end of a run: every event still awaiting becomes lost and every
    /// pending POST unmatched. Equivalent to `set_head(u64::MAX)`.
    pub fn finish(&self) {
        let mut ledger = self.ledger();
        ledger.set_head(u64::MAX, None);
        self.shared.head.store(ledger.head, Ordering::Release);
        ledger.close_reasons();
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
        let ledger = self.ledger();
        let during = ledger
            .events
            .iter()
            .filter(|e| (first..=last).contains(&e.block));
        let (mut events, mut lost, mut reorged, mut orders_for_reorged) = (0, 0, 0, 0);
        for e in during {
            events += 1;
            if e.reorged {
                reorged += 1;
                orders_for_reorged += e.orders_for_reorged;
            } else {
                lost += u64::from(e.lost || !e.accepted);
            }
        }
        let in_window = |at: &&Instant| **at >= since && until.is_none_or(|u| **at < u);
        let duplicates = ledger.duplicate_at.iter().filter(in_window).count() as u64;
        let recovery_seconds = ended.and_then(|ended| {
            ledger
                .accepted_at
                .iter()
                .filter(|at| **at >= ended)
                .min()
                .map(|at| at.duration_since(ended).as_secs_f64())
        });
        SpanTruth {
            events,
            lost,
            duplicates,
            recovery_seconds,
            reorged,
            orders_for_reorged,
        }
    }

    /// The exact event→order latencies (seconds) of the first accepted orders
    /// since the last call, so the runner can report per-block quantiles from
    /// the samples themselves rather than from histogram buckets.
    pub fn take_first_order_latencies(&self) -> Vec<f64> {
        std::mem::take(&mut self.ledger().recent_latencies)
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

struct EventRecord {
    kind: EventKind,
    exact: Option<ExactOrder>,
    block: u64,
    mined_at: Instant,
    posts: u64,
    accepted: bool,
    lost: bool,
    /// The last answer to a POST for it (TWAP: for its part 0), for the loss reason.
    last: Option<PostOutcome>,
    /// Its loss reason has been counted.
    reason_counted: bool,
    /// The TWAP's schedule and its parts opened so far, in order (part `i` at index `i`).
    twap: Option<(TwapSchedule, Vec<PartRecord>)>,
    /// A reorg took it off the chain.
    reorged: bool,
    /// Accepted orders for it counted as orders for a reorged event.
    orders_for_reorged: u64,
}

/// One TWAP part whose window has opened.
struct PartRecord {
    /// The head when the mock learnt the window was open (the part's deadline counts from it).
    open_block: u64,
    /// POSTs attributed to this part.
    posts: u64,
    accepted: bool,
    lost: bool,
    /// The last answer to a POST for it, for the loss reason.
    last: Option<PostOutcome>,
    /// Its loss reason has been counted.
    reason_counted: bool,
}

/// Distributions of one kind: hdrhistograms for quantiles in `/_stats`, fixed buckets for
/// the Prometheus histograms.
struct KindStats {
    registered: u64,
    matched: u64,
    lost: u64,
    late: u64,
    /// Events a reorg took back, and the accepted orders they got.
    reorged: u64,
    orders_for_reorged: u64,
    parts: PartCounts,
    /// reason → lost events whose reason is final.
    lost_reasons: BTreeMap<&'static str, u64>,
    /// reason → missing parts whose reason is final.
    parts_missing_reasons: BTreeMap<&'static str, u64>,
    latency_us: Histogram<u64>,
    blocks: Histogram<u64>,
    posts: Histogram<u64>,
    latency_buckets: Buckets,
    blocks_buckets: Buckets,
    posts_buckets: Buckets,
}

/// One hour in microseconds: latencies above it are clamped.
const MAX_LATENCY_US: u64 = 3_600_000_000;

impl KindStats {
    fn new() -> Self {
        Self {
            registered: 0,
            matched: 0,
            lost: 0,
            late: 0,
            reorged: 0,
            orders_for_reorged: 0,
            parts: PartCounts::default(),
            lost_reasons: LOST_REASONS.iter().map(|r| (*r, 0)).collect(),
            parts_missing_reasons: LOST_REASONS.iter().map(|r| (*r, 0)).collect(),
            latency_us: histogram(MAX_LATENCY_US),
            blocks: histogram(1_000_000),
            posts: histogram(1_000_000),
            latency_buckets: Buckets::new(prom::EVENT_TO_ORDER_SECONDS_BUCKETS),
            blocks_buckets: Buckets::new(prom::EVENT_TO_ORDER_BLOCKS_BUCKETS),
            posts_buckets: Buckets::new(prom::POSTS_PER_EVENT_BUCKETS),
        }
    }

    fn record_first_order(&mut self, latency: Duration, blocks: u64) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latency_us
            .saturating_record(micros.min(MAX_LATENCY_US));
        self.blocks.saturating_record(blocks);
        self.latency_buckets.observe(latency.as_secs_f64());
        self.blocks_buckets.observe(blocks as f64);
    }

    /// POSTs one order took (an event's, or a TWAP part's) up to its first acceptance.
    fn record_posts(&mut self, posts: u64) {
        self.posts.saturating_record(posts);
        self.posts_buckets.observe(posts as f64);
    }

    fn stats(&self) -> EventStats {
        EventStats {
            registered: self.registered,
            matched: self.matched,
            lost: self.lost,
            late: self.late,
            awaiting: self.awaiting(),
            latency_seconds: summary(&self.latency_us, 1e-6),
            blocks: summary(&self.blocks, 1.0),
            posts_per_event: summary(&self.posts, 1.0),
            parts_expected: self.parts.expected,
            parts_matched: self.parts.matched,
            parts_missing: self.parts.missing,
            parts_late: self.parts.late,
            parts_duplicate: self.parts.duplicate,
            parts_awaiting: self.parts.awaiting(),
            lost_reasons: owned(&self.lost_reasons),
            parts_missing_reasons: owned(&self.parts_missing_reasons),
            reorged: self.reorged,
            orders_for_reorged: self.orders_for_reorged,
        }
    }

    fn awaiting(&self) -> u64 {
        self.registered - self.matched - self.lost - self.reorged
    }
}

fn owned(map: &BTreeMap<&'static str, u64>) -> BTreeMap<String, u64> {
    map.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

/// TWAP part accounting of one kind (all zero for EthFlow).
#[derive(Default)]
struct PartCounts {
    expected: u64,
    matched: u64,
    missing: u64,
    late: u64,
    duplicate: u64,
}

impl PartCounts {
    fn awaiting(&self) -> u64 {
        self.expected - self.matched - self.missing
    }

    /// The value of [`names::TWAP_PARTS_TOTAL`] for `outcome`.
    fn total(&self, outcome: &str) -> u64 {
        match outcome {
            PART_EXPECTED => self.expected,
            PART_MATCHED => self.matched,
            PART_MISSING => self.missing,
            PART_LATE => self.late,
            PART_DUPLICATE => self.duplicate,
            _ => 0,
        }
    }
}

fn histogram(max: u64) -> Histogram<u64> {
    Histogram::new_with_bounds(1, max, 3).expect("static histogram bounds are valid")
}

fn summary(h: &Histogram<u64>, scale: f64) -> Summary {
    if h.is_empty() {
        return Summary::default();
    }
    let at = |q: f64| h.value_at_quantile(q) as f64 * scale;
    Summary {
        count: h.len(),
        min: h.min() as f64 * scale,
        p50: at(0.5),
        p90: at(0.9),
        p99: at(0.99),
        max: h.max() as f64 * scale,
        mean: h.mean() * scale,
    }
}

/// (metric name, help, value of one kind) of a per-kind counter.
type KindCounter = (&'static str, &'static str, fn(&KindStats) -> u64);
/// (metric name, help, buckets of one kind) of a per-kind histogram.
type KindHistogram = (&'static str, &'static str, fn(&KindStats) -> &Buckets);

struct Ledger {
    deadline: u64,
    head: u64,
    /// Timestamp of the head, when the runner gave it (opens TWAP parts).
    head_time: Option<u64>,
    posts: u64,
    events: Vec<EventRecord>,
    by_key: HashMap<OrderKey, Vec<usize>, FastHash>,
    /// (block, event id) of events neither accepted nor lost.
    awaiting: BTreeSet<(u64, usize)>,
    /// (start time, TWAP event id) of each TWAP's next part whose window has not opened.
    unopened: BTreeSet<(u64, usize)>,
    /// (opening block, TWAP event id, part) of parts neither accepted nor missing.
    awaiting_parts: BTreeSet<(u64, usize, u64)>,
    /// POSTs whose key matched no event yet, in receipt order per key.
    pending: Pending,
    /// kind label → outcome label → POSTs; nested so that counting a POST looks both labels
    /// up by `&str` (no allocation once the pair exists).
    received: BTreeMap<String, BTreeMap<String, u64>>,
    unmatched_accepted: u64,
    kinds: PerKind<KindStats>,
    /// First-order latencies (seconds) not yet taken by the runner.
    recent_latencies: Vec<f64>,
    /// When each accepted order (the one its event requires) was received, for the
    /// recovery time after a fault.
    accepted_at: Vec<Instant>,
    /// When each duplicate was received (the same UID again, or another order for a TWAP
    /// part that had one), for the duplicates around a fault.
    duplicate_at: Vec<Instant>,
}

impl Ledger {
    fn new(deadline: u64, outcomes: &[String]) -> Self {
        let mut received: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        let base = ["accepted", "duplicate", "invalid", "mismatched"];
        let labels = base
            .iter()
            .map(|s| s.to_string())
            .chain(outcomes.iter().cloned());
        for outcome in labels {
            for kind in EventKind::LABELS.into_iter().chain([UNMATCHED]) {
                received
                    .entry(kind.to_owned())
                    .or_default()
                    .insert(outcome.clone(), 0);
            }
        }
        Self {
            deadline,
            head: 0,
            head_time: None,
            posts: 0,
            events: Vec::new(),
            by_key: HashMap::default(),
            awaiting: BTreeSet::new(),
            unopened: BTreeSet::new(),
            awaiting_parts: BTreeSet::new(),
            pending: Pending::default(),
            received,
            unmatched_accepted: 0,
            kinds: PerKind::from_fn(|_| KindStats::new()),
            recent_latencies: Vec::new(),
            accepted_at: Vec::new(),
            duplicate_at: Vec::new(),
        }
    }

    fn register(&mut self, events: Vec<ExpectedOrder>) {
        let mut keys = Vec::with_capacity(events.len());
        for event in events {
            let id = self.events.len();
            self.events.push(EventRecord {
                kind: event.kind,
                exact: event.exact,
                block: event.block,
                mined_at: event.mined_at,
                posts: 0,
                accepted: false,
                lost: false,
                last: None,
                reason_counted: false,
                twap: event.twap.map(|schedule| (schedule, Vec::new())),
                reorged: false,
                orders_for_reorged: 0,
            });
            self.kinds[event.kind].registered += 1;
            self.awaiting.insert((event.block, id));
            if let Some(schedule) = event.twap.filter(|s| s.n > 0) {
                // Part 0 opened at t0, before the block that created the TWAP.
                self.open_part(id, event.block);
                if schedule.n > 1 {
                    self.unopened.insert((schedule.part_start(1), id));
                }
            }
            self.by_key.entry(event.key.clone()).or_default().push(id);
            keys.push(event.key);
        }
        for key in keys {
            if let Some(waiting) = self.pending.remove(&key) {
                for post in waiting {
                    self.classify(post.with_key(key.clone()));
                }
            }
        }
    }

    /// Opens the next part of TWAP event `id` at `block`; returns its index.
    fn open_part(&mut self, id: usize, block: u64) -> u64 {
        let event = &mut self.events[id];
        let Some((_, parts)) = event.twap.as_mut() else {
            return 0;
        };
        let part = parts.len() as u64;
        parts.push(PartRecord {
            open_block: block,
            posts: 0,
            accepted: false,
            lost: false,
            last: None,
            reason_counted: false,
        });
        self.kinds[event.kind].parts.expected += 1;
        self.awaiting_parts.insert((block, id, part));
        part
    }

    /// Opens every part of TWAP event `id` up to `part` (an order for a part the runner has
    /// not yet told the mock about: the engine saw the block first).
    fn open_parts_through(&mut self, id: usize, part: u64, block: u64) {
        let Some((schedule, parts)) = self.events[id].twap.as_ref() else {
            return;
        };
        let (schedule, opened) = (*schedule, parts.len() as u64);
        if part < opened {
            return;
        }
        self.unopened.remove(&(schedule.part_start(opened), id));
        for _ in opened..=part {
            self.open_part(id, block);
        }
        if part + 1 < schedule.n {
            self.unopened.insert((schedule.part_start(part + 1), id));
        }
    }

    fn set_head(&mut self, head: u64, head_time: Option<u64>) {
        self.head = head;
        if let Some(time) = head_time {
            self.head_time = Some(time);
            while let Some(&(start, id)) = self.unopened.first() {
                if start > time {
                    break;
                }
                self.unopened.pop_first();
                let part = self.open_part(id, head);
                if let Some((schedule, _)) = self.events[id].twap {
                    if part + 1 < schedule.n {
                        self.unopened.insert((schedule.part_start(part + 1), id));
                    }
                }
            }
        }
        while let Some(&(block, id, part)) = self.awaiting_parts.first() {
            if block.saturating_add(self.deadline) >= head {
                break;
            }
            self.awaiting_parts.pop_first();
            let event = &mut self.events[id];
            if let Some((_, parts)) = event.twap.as_mut() {
                parts[part as usize].lost = true;
            }
            self.kinds[event.kind].parts.missing += 1;
        }
        let mut finalised = Vec::new();
        self.pending.retain(|post| {
            let old = post.head < head;
            if old {
                finalised.push(post.outcome.clone());
            }
            !old
        });
        for outcome in finalised {
            self.count_unmatched(&outcome);
        }
        while let Some(&(block, id)) = self.awaiting.first() {
            if block.saturating_add(self.deadline) >= head {
                break;
            }
            self.awaiting.pop_first();
            let event = &mut self.events[id];
            event.lost = true;
            self.kinds[event.kind].lost += 1;
        }
    }

    /// Counts one parsed POST: classified when an event has its key, else it waits.
    fn observe(&mut self, post: Box<PendingKey>) {
        self.posts += 1;
        if post.first().outcome == PostOutcome::Duplicate {
            self.duplicate_at.push(post.first().received_at);
        }
        if self.by_key.contains_key(&post.key) {
            self.classify(post.into_observation());
        } else {
            self.pending.push(post);
        }
    }

    /// Attributes a POST to an event with its key. EthFlow: the first event with no accepted
    /// order yet (or the last one when all have one: a resubmission). TWAP: the part whose
    /// window holds the order's `validTo`, of the first event whose part has no accepted order
    /// yet (or of the first event with such a part); a `validTo` in no part's window is not an
    /// order the TWAP can yield (mismatched).
    fn classify(&mut self, observation: Observation) {
        let Some(ids) = self.by_key.get(&observation.key) else {
            self.count_unmatched(&observation.outcome);
            return;
        };
        let valid_to = observation.valid_to;
        let part_of = |event: &EventRecord| {
            event
                .twap
                .as_ref()
                .and_then(|(schedule, _)| schedule.part_of(valid_to))
        };
        let part_free = |event: &EventRecord, part: u64| {
            event
                .twap
                .as_ref()
                .is_some_and(|(_, parts)| parts.get(part as usize).is_none_or(|p| !p.accepted))
        };
        let events = &self.events;
        let target = ids
            .iter()
            .copied()
            .find(|&id| {
                let e = &events[id];
                match e.twap {
                    None => !e.accepted,
                    Some(_) => part_of(e).is_some_and(|part| part_free(e, part)),
                }
            })
            .or_else(|| {
                ids.iter()
                    .copied()
                    .find(|&id| part_of(&events[id]).is_some())
            })
            .or_else(|| ids.last().copied());
        let Some(id) = target else {
            self.count_unmatched(&observation.outcome);
            return;
        };
        if self.events[id].reorged {
            self.count_for_reorged(id, &observation);
            return;
        }
        let kind = self.events[id].kind;
        let part = part_of(&self.events[id]);
        let mut observation = observation;
        let is_twap = self.events[id].twap.is_some();
        let exact = self.events[id].exact.as_ref();
        let wrong_order = match (is_twap, part) {
            // A TWAP POST outside every part's window is no part's order.
            (true, None) => true,
            (true, Some(part)) => {
                let schedule = self.events[id].twap.as_ref().map(|(s, _)| *s);
                let valid_to = schedule.and_then(|s| u32::try_from(s.part_valid_to(part)).ok());
                exact.is_some_and(|x| valid_to.is_none_or(|v| x.uid(Some(v)) != observation.uid))
            }
            (false, _) => exact.is_some_and(|x| x.uid(None) != observation.uid),
        };
        if observation.outcome == PostOutcome::Accepted && wrong_order {
            observation.outcome = PostOutcome::Mismatched;
        }
        self.events[id].posts += 1;
        if part.is_none_or(|p| p == 0) {
            self.events[id].last = Some(observation.outcome.clone());
        }
        let accepted = observation.outcome == PostOutcome::Accepted;
        if accepted {
            self.accepted_at.push(observation.received_at);
        }
        match part {
            Some(part) => self.count_part_post(id, part, &observation, accepted),
            None if accepted && !is_twap && !self.events[id].accepted => {
                self.first_acceptance(id, &observation);
                let posts = self.events[id].posts;
                self.kinds[kind].record_posts(posts);
            }
            None => {}
        }
        self.count_received(kind.label(), &observation.outcome);
    }

    /// Counts a POST attributed to TWAP event `id`'s `part`. The event itself is matched by
    /// its part 0 (its latency is part 0's); later parts never count as the event's order.
    fn count_part_post(&mut self, id: usize, part: u64, observation: &Observation, accepted: bool) {
        self.open_parts_through(id, part, observation.head);
        let kind = self.events[id].kind;
        let Some((_, parts)) = self.events[id].twap.as_mut() else {
            return;
        };
        let record = &mut parts[part as usize];
        record.posts += 1;
        record.last = Some(observation.outcome.clone());
        if !accepted {
            return;
        }
        let counts = &mut self.kinds[kind];
        if record.accepted {
            counts.parts.duplicate += 1;
            self.duplicate_at.push(observation.received_at);
            return;
        }
        record.accepted = true;
        let (posts, lost, open_block) = (record.posts, record.lost, record.open_block);
        counts.record_posts(posts);
        if lost {
            counts.parts.late += 1;
            record.reason_counted = true;
            *counts.parts_missing_reasons.entry(LOST_LATE).or_default() += 1;
        } else {
            counts.parts.matched += 1;
            self.awaiting_parts.remove(&(open_block, id, part));
        }
        if part == 0 && !self.events[id].accepted {
            self.first_acceptance(id, observation);
        }
    }

    /// The event's first accepted order: latency, blocks, matched or late.
    fn first_acceptance(&mut self, id: usize, observation: &Observation) {
        let event = &mut self.events[id];
        event.accepted = true;
        let latency = observation
            .received_at
            .saturating_duration_since(event.mined_at);
        let blocks = observation.head.saturating_sub(event.block);
        let (lost, block) = (event.lost, event.block);
        if lost {
            event.reason_counted = true;
        }
        let stats = &mut self.kinds[event.kind];
        stats.record_first_order(latency, blocks);
        self.recent_latencies.push(latency.as_secs_f64());
        if lost {
            stats.late += 1;
            *stats.lost_reasons.entry(LOST_LATE).or_default() += 1;
        } else {
            stats.matched += 1;
            self.awaiting.remove(&(block, id));
        }
    }

    /// Takes back the events of chain blocks `first..=last` (a reorg dropped them): each leaves
    /// matched, lost or awaiting for `reorged`, its open TWAP parts stop being expected, and
    /// the orders it already got count as orders for a reorged event.
    fn reorg_out(&mut self, first: u64, last: u64) -> u64 {
        let ids: Vec<usize> = (0..self.events.len())
            .filter(|&id| {
                let e = &self.events[id];
                !e.reorged && (first..=last).contains(&e.block)
            })
            .collect();
        for &id in &ids {
            let event = &mut self.events[id];
            event.reorged = true;
            let stats = &mut self.kinds[event.kind];
            stats.reorged += 1;
            match (event.accepted, event.lost) {
                (true, false) => stats.matched -= 1,
                (_, true) => stats.lost -= 1,
                (false, false) => {
                    self.awaiting.remove(&(event.block, id));
                }
            }
            let orders = match event.twap.as_mut() {
                None => u64::from(event.accepted),
                Some((_, parts)) => {
                    let mut orders = 0;
                    for (part, record) in parts.iter().enumerate() {
                        stats.parts.expected -= 1;
                        match (record.accepted, record.lost) {
                            (true, false) => stats.parts.matched -= 1,
                            (_, true) => stats.parts.missing -= 1,
                            (false, false) => {
                                self.awaiting_parts
                                    .remove(&(record.open_block, id, part as u64));
                            }
                        }
                        orders += u64::from(record.accepted);
                    }
                    parts.clear();
                    orders
                }
            };
            event.orders_for_reorged += orders;
            stats.orders_for_reorged += orders;
        }
        let reorged: BTreeSet<usize> = ids.iter().copied().collect();
        self.unopened.retain(|(_, id)| !reorged.contains(id));
        ids.len() as u64
    }

    /// A POST for an event a reorg took back: an accepted one is an order for a reorged event.
    fn count_for_reorged(&mut self, id: usize, observation: &Observation) {
        let event = &mut self.events[id];
        event.posts += 1;
        if observation.outcome == PostOutcome::Accepted {
            event.orders_for_reorged += 1;
            self.kinds[event.kind].orders_for_reorged += 1;
        }
        let kind = event.kind;
        self.count_received(kind.label(), &observation.outcome);
    }

    /// At the end of the run: every lost event and missing part without an order gets its
    /// reason from the last answer it got.
    fn close_reasons(&mut self) {
        for event in &mut self.events {
            let stats = &mut self.kinds[event.kind];
            if event.lost && !event.reason_counted {
                event.reason_counted = true;
                *stats
                    .lost_reasons
                    .entry(loss_reason(event.last.as_ref()))
                    .or_default() += 1;
            }
            if let Some((_, parts)) = event.twap.as_mut() {
                for part in parts.iter_mut().filter(|p| p.lost && !p.reason_counted) {
                    part.reason_counted = true;
                    *stats
                        .parts_missing_reasons
                        .entry(loss_reason(part.last.as_ref()))
                        .or_default() += 1;
                }
            }
        }
    }

    fn count_unmatched(&mut self, outcome: &PostOutcome) {
        if *outcome == PostOutcome::Accepted {
            self.unmatched_accepted += 1;
        }
        self.count_received(UNMATCHED, outcome);
    }

    fn count_received(&mut self, kind: &str, outcome: &PostOutcome) {
        let label = outcome.label();
        let known = self.received.get_mut(kind).and_then(|m| m.get_mut(label));
        if let Some(count) = known {
            *count += 1;
            return;
        }
        let by_outcome = self.received.entry(kind.to_owned()).or_default();
        *by_outcome.entry(label.to_owned()).or_default() += 1;
    }

    /// Every (kind, outcome, POSTs), in label order.
    fn received(&self) -> impl Iterator<Item = (&str, &str, u64)> {
        self.received.iter().flat_map(|(kind, by_outcome)| {
            by_outcome
                .iter()
                .map(move |(outcome, count)| (kind.as_str(), outcome.as_str(), *count))
        })
    }

    fn stats(&self) -> Stats {
        let orders_received = self.received.clone();
        let events = self
            .kinds
            .iter()
            .map(|(kind, stats)| (kind.label().to_owned(), stats.stats()))
            .collect();
        Stats {
            head: self.head,
            order_deadline_blocks: self.deadline,
            posts: self.posts,
            orders_received,
            unmatched_orders: self.unmatched_accepted,
            pending_posts: self.pending.posts(),
            events,
            requests: BTreeMap::new(),
            app_data_documents: 0,
        }
    }

    fn render(&self, out: &mut Exposition) {
        out.header(
            names::ORDERS_RECEIVED_TOTAL,
            "counter",
            "POST /api/v1/orders by matched event kind and outcome",
        );
        for (kind, outcome, count) in self.received() {
            out.sample(
                names::ORDERS_RECEIVED_TOTAL,
                &[("kind", kind), ("outcome", outcome)],
                count as f64,
            );
        }
        // One unlabelled total, so a bar can hold an engine's own "accepted"
        // counter (whatever its labels) against what the orderbook accepted.
        out.header(
            names::ORDERS_ACCEPTED_TOTAL,
            "counter",
            "POST /api/v1/orders answered 201, all kinds together",
        );
        let accepted: u64 = self
            .received()
            // A mismatched order was answered 201 too: the API accepted it.
            .filter(|(_, outcome, _)| {
                *outcome == PostOutcome::Accepted.label()
                    || *outcome == PostOutcome::Mismatched.label()
            })
            .map(|(_, _, count)| count)
            .sum();
        out.sample(names::ORDERS_ACCEPTED_TOTAL, &[], accepted as f64);
        out.header(
            names::ORDERS_MISMATCHED_TOTAL,
            "counter",
            "Accepted POSTs that are not the exact order their event requires",
        );
        for kind in EventKind::ALL {
            let count = self
                .received
                .get(kind.label())
                .and_then(|by_outcome| by_outcome.get(PostOutcome::Mismatched.label()))
                .copied()
                .unwrap_or(0);
            out.sample(
                names::ORDERS_MISMATCHED_TOTAL,
                &[("kind", kind.label())],
                count as f64,
            );
        }
        let counters: [KindCounter; 6] = [
            (
                names::EVENTS_REGISTERED_TOTAL,
                "Events the runner registered",
                |s| s.registered,
            ),
            (
                names::EVENTS_MATCHED_TOTAL,
                "Events whose first order was accepted in time",
                |s| s.matched,
            ),
            (
                names::EVENTS_LOST_TOTAL,
                "Events with no accepted order by their deadline",
                |s| s.lost,
            ),
            (
                names::EVENTS_LATE_TOTAL,
                "Lost events that got an accepted order later",
                |s| s.late,
            ),
            (
                names::EVENTS_REORGED_TOTAL,
                "Events a reorg took off the chain (no order expected)",
                |s| s.reorged,
            ),
            (
                names::ORDERS_FOR_REORGED_EVENTS_TOTAL,
                "Accepted orders for events a reorg took off the chain (TWAP: per part)",
                |s| s.orders_for_reorged,
            ),
        ];
        for (name, help, value) in counters {
            out.header(name, "counter", help);
            for kind in EventKind::ALL {
                let v = value(&self.kinds[kind]);
                out.sample(name, &[("kind", kind.label())], v as f64);
            }
        }
        out.header(
            names::TWAP_PARTS_TOTAL,
            "counter",
            "TWAP parts by outcome: expected (window opened), matched, missing, late, duplicate",
        );
        let parts = &self.kinds[EventKind::Twap].parts;
        for outcome in PART_OUTCOMES {
            out.sample(
                names::TWAP_PARTS_TOTAL,
                &[("outcome", outcome)],
                parts.total(outcome) as f64,
            );
        }
        out.header(
            names::TWAP_PARTS_MISSING_REASON_TOTAL,
            "counter",
            "Missing TWAP parts by reason, counted when final (late: on arrival; others: at the end)",
        );
        for (reason, count) in &self.kinds[EventKind::Twap].parts_missing_reasons {
            out.sample(
                names::TWAP_PARTS_MISSING_REASON_TOTAL,
                &[("reason", reason)],
                *count as f64,
            );
        }
        out.header(
            names::EVENTS_LOST_REASON_TOTAL,
            "counter",
            "Lost events by kind and reason, counted when final (late: on arrival; others: at the end)",
        );
        for kind in EventKind::ALL {
            for (reason, count) in &self.kinds[kind].lost_reasons {
                out.sample(
                    names::EVENTS_LOST_REASON_TOTAL,
                    &[("kind", kind.label()), ("reason", reason)],
                    *count as f64,
                );
            }
        }
        out.header(
            names::TWAP_PARTS_AWAITING,
            "gauge",
            "TWAP parts whose window opened, neither matched nor missing yet",
        );
        out.sample(names::TWAP_PARTS_AWAITING, &[], parts.awaiting() as f64);
        out.header(
            names::EVENTS_AWAITING_ORDER,
            "gauge",
            "Events neither matched nor lost yet",
        );
        for kind in EventKind::ALL {
            let v = self.kinds[kind].awaiting();
            out.sample(
                names::EVENTS_AWAITING_ORDER,
                &[("kind", kind.label())],
                v as f64,
            );
        }
        out.header(
            names::UNMATCHED_ORDERS_TOTAL,
            "counter",
            "Accepted orders that match no registered event",
        );
        out.sample(
            names::UNMATCHED_ORDERS_TOTAL,
            &[],
            self.unmatched_accepted as f64,
        );
        let histograms: [KindHistogram; 3] = [
            (
                names::EVENT_TO_ORDER_SECONDS,
                "Event block mined to first accepted order received",
                |s| &s.latency_buckets,
            ),
            (
                names::EVENT_TO_ORDER_BLOCKS,
                "Head at first accepted order minus event block",
                |s| &s.blocks_buckets,
            ),
            (
                names::ORDER_POSTS_PER_EVENT,
                "POSTs an order took up to its first acceptance (retries + 1): per event, per part for TWAPs",
                |s| &s.posts_buckets,
            ),
        ];
        for (name, help, buckets) in histograms {
            out.header(name, "histogram", help);
            for kind in EventKind::ALL {
                out.histogram(name, &[("kind", kind.label())], buckets(&self.kinds[kind]));
            }
        }
    }
}

/// HTTP request counters of the mock itself.
struct Requests {
    /// route → status → requests (nested so a request looks its route up by `&str`).
    counts: BTreeMap<String, BTreeMap<u16, u64>>,
    /// route → duration histogram (seconds, injected latency included).
    durations: BTreeMap<String, Buckets>,
}

impl Requests {
    fn new() -> Self {
        let mut counts = BTreeMap::new();
        let mut durations = BTreeMap::new();
        for (route, status) in KNOWN_ROUTES {
            let status: u16 = status.parse().expect("static status codes parse");
            counts
                .entry((*route).to_owned())
                .or_insert_with(BTreeMap::new)
                .insert(status, 0);
            durations.insert(
                (*route).to_owned(),
                Buckets::new(prom::REQUEST_SECONDS_BUCKETS),
            );
        }
        Self { counts, durations }
    }

    /// Looks the route up by `&str`: no allocation for a route seen before (every request).
    fn observe(&mut self, route: &str, status: u16, elapsed: Duration) {
        match self.counts.get_mut(route) {
            Some(by_status) => *by_status.entry(status).or_default() += 1,
            None => {
                self.counts
                    .insert(route.to_owned(), BTreeMap::from([(status, 1)]));
            }
        }
        match self.durations.get_mut(route) {
            Some(h) => h.observe(elapsed.as_secs_f64()),
            None => {
                let mut h = Buckets::new(prom::REQUEST_SECONDS_BUCKETS);
                h.observe(elapsed.as_secs_f64());
                self.durations.insert(route.to_owned(), h);
            }
        }
    }

    fn stats(&self) -> BTreeMap<String, BTreeMap<String, u64>> {
        let mut out: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        for (route, by_status) in &self.counts {
            let entry = out.entry(route.clone()).or_default();
            for (status, count) in by_status {
                entry.insert(status.to_string(), *count);
            }
        }
        out
    }

    fn render(&self, out: &mut Exposition) {
        out.header(
            names::MOCK_REQUESTS_TOTAL,
            "counter",
            "HTTP requests served by the mock orderbook",
        );
        for (route, by_status) in &self.counts {
            for (status, count) in by_status {
                let status = status.to_string();
                out.sample(
                    names::MOCK_REQUESTS_TOTAL,
                    &[("route", route), ("status", &status)],
                    *count as f64,
                );
            }
        }
        out.header(
            names::MOCK_REQUEST_DURATION_SECONDS,
            "histogram",
            "Time to answer a request, injected latency included",
        );
        for (route, h) in &self.durations {
            out.histogram(names::MOCK_REQUEST_DURATION_SECONDS, &[("route", route)], h);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> OrderKey {
        OrderKey {
            owner: Address::repeat_byte(n),
            sell_token: Address::repeat_byte(0xaa),
            buy_token: Address::repeat_byte(0xbb),
            receiver: Address::ZERO,
            sell_amount: U256::from(1000),
            buy_amount: U256::from(900),
            app_data: cowprotocol::EMPTY_APP_DATA_HASH,
        }
    }

    fn event(kind: EventKind, block: u64, mined_at: Instant, n: u8) -> ExpectedOrder {
        ExpectedOrder {
            kind,
            block,
            mined_at,
            key: key(n),
            exact: None,
            twap: None,
            tx_hash: B256::repeat_byte(n),
        }
    }

    fn post(truth: &Truth, n: u8, outcome: PostOutcome, received_at: Instant) {
        truth.observe(Observation {
            key: key(n),
            uid: OrderUid::repeat_byte(n),
            valid_to: 0,
            outcome,
            received_at,
            head: truth.head(),
        });
    }

    fn received(stats: &Stats, kind: &str, outcome: &str) -> u64 {
        stats.orders_received[kind][outcome]
    }

    fn invariant_holds(stats: &Stats) {
        for (kind, e) in &stats.events {
            assert_eq!(
                e.registered,
                e.matched + e.lost + e.reorged + e.awaiting,
                "{kind}: {e:?}"
            );
        }
    }

    #[test]
    fn a_reorg_takes_its_events_back_and_counts_every_order_for_them() {
        let truth = Truth::new(3, &[]);
        let t0 = Instant::now();
        truth.register(vec![
            event(EventKind::EthFlow, 10, t0, 1),
            event(EventKind::EthFlow, 11, t0, 2),
            event(EventKind::EthFlow, 12, t0, 3),
        ]);
        truth.set_head(11);
        // The engine acted at once: event 1 (block 10) has its order before the reorg.
        post(&truth, 1, PostOutcome::Accepted, t0);
        assert_eq!(
            truth.reorg_out(10, 11),
            2,
            "blocks 10 and 11 held two events"
        );
        let s = truth.stats();
        let e = &s.events["ethflow"];
        assert_eq!((e.matched, e.reorged, e.orders_for_reorged), (0, 2, 1));
        invariant_holds(&s);
        // An order for a reorged event after the reorg counts too; a rejected POST does not.
        post(&truth, 2, PostOutcome::Injected(Fault::Http503), t0);
        post(&truth, 2, PostOutcome::Accepted, t0);
        truth.set_head(30);
        truth.finish();
        let s = truth.stats();
        let e = &s.events["ethflow"];
        assert_eq!(
            (
                e.registered,
                e.matched,
                e.lost,
                e.reorged,
                e.orders_for_reorged
            ),
            (3, 0, 1, 2, 2),
            "only the event outside the reorg (block 12) is lost: {e:?}"
        );
        invariant_holds(&s);
        assert_eq!(received(&s, "ethflow", "accepted"), 2);
        let text = truth.render_metrics();
        assert!(text.contains(&format!(
            "{}{{kind=\"ethflow\"}} 2",
            names::ORDERS_FOR_REORGED_EVENTS_TOTAL
        )));
        assert!(text.contains(&format!(
            "{}{{kind=\"ethflow\"}} 2",
            names::EVENTS_REORGED_TOTAL
        )));
        // Taking the same blocks back twice changes nothing.
        assert_eq!(truth.reorg_out(10, 11), 0);
    }

    #[test]
    fn a_reorged_twap_expects_no_more_parts_and_counts_orders_per_part() {
        let truth = Truth::new(3, &[]);
        truth.register(vec![twap_event(Instant::now(), 7)]);
        truth.set_head_at(10, 99);
        post_part(&truth, 7, 1, 100, PostOutcome::Accepted);
        assert_eq!(truth.reorg_out(10, 10), 1);
        assert_eq!(parts(&truth.stats()), (0, 0, 0, 0, 0, 0));
        // Later windows open nothing; a part posted anyway is an order for a reorged event.
        truth.set_head_at(11, 101);
        post_part(&truth, 7, 2, 102, PostOutcome::Accepted);
        truth.set_head_at(20, 120);
        truth.finish();
        let s = truth.stats();
        assert_eq!(parts(&s), (0, 0, 0, 0, 0, 0));
        let t = &s.events["twap"];
        assert_eq!((t.reorged, t.orders_for_reorged, t.lost), (1, 2, 0));
        invariant_holds(&s);
    }

    #[test]
    fn a_span_counts_reorged_events_apart_from_lost_ones() {
        let truth = Truth::new(3, &[]);
        let t0 = Instant::now();
        truth.register(vec![
            event(EventKind::EthFlow, 10, t0, 1),
            event(EventKind::EthFlow, 10, t0, 2),
        ]);
        post(&truth, 1, PostOutcome::Accepted, t0);
        truth.reorg_out(10, 10);
        truth.finish();
        let span = truth.span((10, 10), t0, None, None);
        assert_eq!(
            (
                span.events,
                span.lost,
                span.reorged,
                span.orders_for_reorged
            ),
            (2, 0, 2, 1)
        );
    }

    /// A fault's span: its blocks' events (lost ones counted), the
    /// duplicates received in its window, the first acceptance after its end.
    #[test]
    fn a_span_reports_its_events_losses_duplicates_and_recovery() {
        let truth = Truth::new(2, &[]);
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        for (block, n) in [(10, 1), (11, 2), (12, 3)] {
            truth.register(vec![event(EventKind::EthFlow, block, t0, n)]);
            truth.set_head(block);
        }
        post(&truth, 1, PostOutcome::Accepted, at(500));
        post(&truth, 2, PostOutcome::Accepted, at(3000));
        post(&truth, 2, PostOutcome::Duplicate, at(4000));
        post(&truth, 1, PostOutcome::Duplicate, at(900));
        truth.finish();
        let span = truth.span((11, 12), at(1000), None, Some(at(2000)));
        assert_eq!(
            span,
            SpanTruth {
                events: 2,
                lost: 1,
                duplicates: 1,
                recovery_seconds: Some(1.0),
                ..SpanTruth::default()
            }
        );
        // The window ends where the next fault starts; no acceptance after the end: no recovery.
        let early = truth.span((10, 10), at(0), Some(at(1000)), Some(at(5000)));
        assert_eq!((early.events, early.lost, early.duplicates), (1, 0, 1));
        assert_eq!(early.recovery_seconds, None);
    }

    #[test]
    fn first_accepted_order_matches_and_records_latency_and_blocks() {
        let truth = Truth::new(2, &[]);
        let t0 = Instant::now();
        truth.register(vec![event(EventKind::Twap, 10, t0, 1)]);
        truth.set_head(10);
        truth.set_head(11);
        post(
            &truth,
            1,
            PostOutcome::Injected(Fault::parse("InsufficientFee").unwrap()),
            t0,
        );
        post(
            &truth,
            1,
            PostOutcome::Accepted,
            t0 + Duration::from_millis(1500),
        );
        let s = truth.stats();
        let twap = &s.events["twap"];
        assert_eq!(
            (twap.registered, twap.matched, twap.lost, twap.awaiting),
            (1, 1, 0, 0)
        );
        assert_eq!(twap.latency_seconds.count, 1);
        assert!(
            (twap.latency_seconds.p50 - 1.5).abs() < 0.01,
            "{:?}",
            twap.latency_seconds
        );
        assert_eq!(twap.blocks.max, 1.0);
        assert_eq!(twap.posts_per_event.max, 2.0);
        assert_eq!(received(&s, "twap", "accepted"), 1);
        assert_eq!(received(&s, "twap", "InsufficientFee"), 1);
        assert_eq!(s.posts, 2);
        invariant_holds(&s);
    }

    /// A TWAP created in block 10 (mined at time 100): t0 = 99, 3 parts of 2 s, so part i
    /// runs from 99 + 2i to 100 + 2i and carries validTo 100 + 2i.
    /// A complete order as an event could require it.
    fn exact_order() -> ExactOrder {
        ExactOrder {
            order: OrderData {
                sell_token: Address::repeat_byte(1),
                buy_token: Address::repeat_byte(2),
                receiver: Some(Address::repeat_byte(3)),
                sell_amount: U256::from(10u64),
                buy_amount: U256::from(1u64),
                valid_to: u32::MAX,
                app_data: B256::ZERO,
                fee_amount: U256::ZERO,
                kind: cowprotocol::OrderKind::Sell,
                partially_fillable: false,
                sell_token_balance: cowprotocol::SellTokenSource::Erc20,
                buy_token_balance: cowprotocol::BuyTokenDestination::Erc20,
            },
            owner: Address::repeat_byte(4),
            domain: cowprotocol::settlement_domain(11_155_111, cowprotocol::GPV2_SETTLEMENT),
        }
    }

    #[test]
    fn a_twap_part_must_be_the_exact_order_of_that_part() {
        let truth = Truth::new(3, &[]);
        let mut e = twap_event(Instant::now(), 1);
        let required = exact_order();
        let part_1 = required.uid(Some(102));
        e.exact = Some(required);
        truth.register(vec![e]);
        truth.set_head_at(10, 101);
        // Part 1's window, but not part 1's order (say a fee the handler never sets).
        truth.observe(Observation {
            key: key(1),
            uid: OrderUid::repeat_byte(9),
            valid_to: 102,
            outcome: PostOutcome::Accepted,
            received_at: Instant::now(),
            head: truth.head(),
        });
        truth.observe(Observation {
            key: key(1),
            uid: part_1,
            valid_to: 102,
            outcome: PostOutcome::Accepted,
            received_at: Instant::now(),
            head: truth.head(),
        });
        let s = truth.stats();
        assert_eq!(received(&s, "twap", "mismatched"), 1);
        assert_eq!(received(&s, "twap", "accepted"), 1);
    }

    fn twap_event(t0: Instant, n: u8) -> ExpectedOrder {
        let mut e = event(EventKind::Twap, 10, t0, n);
        e.twap = Some(TwapSchedule { t0: 99, n: 3, t: 2 });
        e
    }

    fn post_part(truth: &Truth, n: u8, uid: u8, valid_to: u64, outcome: PostOutcome) {
        truth.observe(Observation {
            key: key(n),
            uid: OrderUid::repeat_byte(uid),
            valid_to,
            outcome,
            received_at: Instant::now(),
            head: truth.head(),
        });
    }

    fn parts(s: &Stats) -> (u64, u64, u64, u64, u64, u64) {
        let t = &s.events["twap"];
        (
            t.parts_expected,
            t.parts_matched,
            t.parts_missing,
            t.parts_late,
            t.parts_duplicate,
            t.parts_awaiting,
        )
    }

    #[test]
    fn schedule_attributes_valid_to_to_its_part_window() {
        let s = TwapSchedule { t0: 99, n: 3, t: 2 };
        assert_eq!(
            (0..3).map(|i| s.part_valid_to(i)).collect::<Vec<_>>(),
            [100, 102, 104]
        );
        assert_eq!(s.part_of(98), None);
        assert_eq!(s.part_of(99), Some(0));
        assert_eq!(s.part_of(100), Some(0));
        assert_eq!(s.part_of(101), Some(1));
        assert_eq!(s.part_of(104), Some(2));
        assert_eq!(s.part_of(105), None, "after the last part");
    }

    #[test]
    fn every_twap_part_that_opens_needs_its_own_order() {
        let truth = Truth::new(1, &[]);
        let t0 = Instant::now();
        truth.register(vec![twap_event(t0, 1)]);
        truth.set_head_at(10, 100);
        assert_eq!(parts(&truth.stats()), (1, 0, 0, 0, 0, 1), "part 0 opens");
        post_part(&truth, 1, 0xa0, 100, PostOutcome::Accepted);
        truth.set_head_at(11, 101);
        // Part 1 (validTo 102): a rejected POST, then the accepted one.
        post_part(
            &truth,
            1,
            0xa1,
            102,
            PostOutcome::Injected(Fault::parse("Http500").unwrap()),
        );
        post_part(&truth, 1, 0xa1, 102, PostOutcome::Accepted);
        let s = truth.stats();
        assert_eq!(parts(&s), (2, 2, 0, 0, 0, 0));
        let twap = &s.events["twap"];
        assert_eq!(twap.matched, 1, "the event is matched once, by part 0");
        assert_eq!(
            twap.latency_seconds.count, 1,
            "later parts are not the first"
        );
        assert_eq!(twap.posts_per_event.count, 2, "posts are counted per part");
        assert_eq!(twap.posts_per_event.max, 2.0);
        // Part 2 opens at 103 and gets no order: missing once the head passes 12 + 1.
        truth.set_head_at(12, 102);
        truth.set_head_at(13, 103);
        assert_eq!(parts(&truth.stats()), (3, 2, 0, 0, 0, 1));
        truth.set_head_at(14, 104);
        assert_eq!(
            parts(&truth.stats()),
            (3, 2, 0, 0, 0, 1),
            "deadline not past"
        );
        truth.set_head_at(15, 105);
        assert_eq!(parts(&truth.stats()), (3, 2, 1, 0, 0, 0));
        // Its order after the deadline: late, still missing.
        post_part(&truth, 1, 0xa2, 104, PostOutcome::Accepted);
        let s = truth.stats();
        assert_eq!(parts(&s), (3, 2, 1, 1, 0, 0));
        assert_eq!(received(&s, "twap", "accepted"), 3);
        assert_eq!(s.events["twap"].lost, 0);
        let text = truth.render_metrics();
        for line in [
            "cowload_twap_parts_total{outcome=\"expected\"} 3",
            "cowload_twap_parts_total{outcome=\"matched\"} 2",
            "cowload_twap_parts_total{outcome=\"missing\"} 1",
            "cowload_twap_parts_total{outcome=\"late\"} 1",
            "cowload_twap_parts_total{outcome=\"duplicate\"} 0",
            "cowload_twap_parts_awaiting_order 0",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing `{line}` in\n{text}"
            );
        }
    }

    #[test]
    fn a_second_order_for_a_part_is_a_duplicate_part_and_the_same_uid_is_not() {
        let truth = Truth::new(5, &[]);
        let t0 = Instant::now();
        truth.register(vec![twap_event(t0, 1)]);
        truth.set_head_at(10, 100);
        post_part(&truth, 1, 0xa0, 100, PostOutcome::Accepted);
        // The same UID again is refused by the API (DuplicatedOrder): not a second order.
        post_part(&truth, 1, 0xa0, 100, PostOutcome::Duplicate);
        assert_eq!(parts(&truth.stats()), (1, 1, 0, 0, 0, 0));
        // Another UID in the same window (validTo − 1): a second order for part 0.
        post_part(&truth, 1, 0xb0, 99, PostOutcome::Accepted);
        let s = truth.stats();
        assert_eq!(parts(&s), (1, 1, 0, 0, 1, 0));
        assert_eq!(s.events["twap"].matched, 1);
        assert_eq!(received(&s, "twap", "accepted"), 2);
        assert_eq!(received(&s, "twap", "duplicate"), 1);
    }

    #[test]
    fn a_twap_order_outside_every_part_window_is_mismatched() {
        let truth = Truth::new(1, &[]);
        let t0 = Instant::now();
        truth.register(vec![twap_event(t0, 1)]);
        truth.set_head_at(10, 100);
        post_part(&truth, 1, 0xa0, 105, PostOutcome::Accepted);
        post_part(&truth, 1, 0xa1, 98, PostOutcome::Accepted);
        truth.set_head_at(12, 102);
        let s = truth.stats();
        assert_eq!(received(&s, "twap", "mismatched"), 2);
        assert_eq!(received(&s, "twap", "accepted"), 0);
        assert_eq!(s.events["twap"].lost, 1);
        // Part 0 missing; part 1 opened at head 12.
        assert_eq!(parts(&s), (2, 0, 1, 0, 0, 1));
    }

    #[test]
    fn an_order_for_a_part_the_mock_has_not_opened_yet_opens_it() {
        let truth = Truth::new(1, &[]);
        let t0 = Instant::now();
        truth.register(vec![twap_event(t0, 1)]);
        truth.set_head_at(10, 100);
        // The engine saw block 11 (time 101) before the runner told the mock.
        post_part(&truth, 1, 0xa1, 102, PostOutcome::Accepted);
        assert_eq!(parts(&truth.stats()), (2, 1, 0, 0, 0, 1));
        truth.set_head_at(11, 101);
        truth.set_head_at(13, 103);
        // Part 1 is not opened twice; part 2 opened at 13; part 0 missed its deadline.
        assert_eq!(parts(&truth.stats()), (3, 1, 1, 0, 0, 1));
        truth.finish();
        let s = truth.stats();
        assert_eq!(
            parts(&s),
            (3, 1, 2, 0, 0, 0),
            "finish closes awaiting parts"
        );
        assert_eq!(s.events["twap"].lost, 1, "part 0 is the event's order");
    }

    #[test]
    fn parts_opening_after_the_run_are_not_expected() {
        let truth = Truth::new(1, &[]);
        let t0 = Instant::now();
        let mut e = twap_event(t0, 1);
        e.twap = Some(TwapSchedule {
            t0: 99,
            n: 10,
            t: 60,
        });
        truth.register(vec![e]);
        truth.set_head_at(10, 100);
        post_part(&truth, 1, 0xa0, 158, PostOutcome::Accepted);
        truth.set_head_at(11, 101);
        truth.finish();
        assert_eq!(parts(&truth.stats()), (1, 1, 0, 0, 0, 0));
    }

    #[test]
    fn identical_twap_keys_share_parts_in_registration_order() {
        let truth = Truth::new(5, &[]);
        let t0 = Instant::now();
        truth.register(vec![twap_event(t0, 1), twap_event(t0, 1)]);
        truth.set_head_at(10, 100);
        post_part(&truth, 1, 0xa0, 100, PostOutcome::Accepted);
        post_part(&truth, 1, 0xa1, 100, PostOutcome::Accepted);
        let s = truth.stats();
        assert_eq!(s.events["twap"].matched, 2);
        assert_eq!(parts(&s), (2, 2, 0, 0, 0, 0));
        post_part(&truth, 1, 0xa2, 100, PostOutcome::Accepted);
        assert_eq!(parts(&truth.stats()), (2, 2, 0, 0, 1, 0));
    }

    #[test]
    fn every_lost_event_and_missing_part_gets_its_reason_when_final() {
        let truth = Truth::new(0, &["InsufficientFee".to_owned()]);
        let t0 = Instant::now();
        truth.register(vec![
            event(EventKind::EthFlow, 1, t0, 1), // never posted
            event(EventKind::EthFlow, 1, t0, 2), // 5xx, then gave up
            event(EventKind::EthFlow, 1, t0, 3), // retried a 429 into a permanent rejection
            event(EventKind::EthFlow, 1, t0, 4), // rate-limited, gave up
            event(EventKind::EthFlow, 1, t0, 5), // order after the deadline
            twap_event(t0, 6),                   // part 0 rejected; parts 1, 2 never posted
        ]);
        truth.set_head_at(1, 100);
        post(
            &truth,
            2,
            PostOutcome::Injected(Fault::parse("Http500").unwrap()),
            t0,
        );
        post(
            &truth,
            3,
            PostOutcome::Injected(Fault::parse("Http429").unwrap()),
            t0,
        );
        post(
            &truth,
            3,
            PostOutcome::Injected(Fault::parse("InsufficientFee").unwrap()),
            t0,
        );
        post(&truth, 4, PostOutcome::RateLimited, t0);
        post_part(
            &truth,
            6,
            0xc0,
            100,
            PostOutcome::Injected(Fault::parse("InvalidSignature").unwrap()),
        );
        truth.set_head_at(3, 104);
        let s = truth.stats();
        assert_eq!(s.events["ethflow"].lost, 5);
        assert_eq!(
            s.events["ethflow"].lost_reasons.values().sum::<u64>(),
            0,
            "reasons are final only at arrival or at the end"
        );
        post(&truth, 5, PostOutcome::Accepted, t0);
        assert_eq!(truth.stats().events["ethflow"].lost_reasons["late"], 1);
        truth.finish();
        let s = truth.stats();
        let reasons = &s.events["ethflow"].lost_reasons;
        for (reason, count) in [
            ("never_posted", 1),
            ("gave_up_on_retryable", 2),
            ("rejected", 1),
            ("mismatched", 0),
            ("late", 1),
        ] {
            assert_eq!(reasons[reason], count, "{reason}: {reasons:?}");
        }
        assert_eq!(reasons.values().sum::<u64>(), s.events["ethflow"].lost);
        let twap = &s.events["twap"];
        assert_eq!(twap.lost_reasons["rejected"], 1, "{twap:?}");
        assert_eq!(twap.parts_missing, 3);
        assert_eq!(twap.parts_missing_reasons["rejected"], 1);
        assert_eq!(twap.parts_missing_reasons["never_posted"], 2);
        let text = truth.render_metrics();
        for line in [
            "cowload_events_lost_reason_total{kind=\"ethflow\",reason=\"gave_up_on_retryable\"} 2",
            "cowload_events_lost_reason_total{kind=\"ethflow\",reason=\"late\"} 1",
            "cowload_events_lost_reason_total{kind=\"twap\",reason=\"rejected\"} 1",
            "cowload_twap_parts_missing_reason_total{reason=\"never_posted\"} 2",
            "cowload_events_lost_total{kind=\"ethflow\"} 5",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing `{line}` in\n{text}"
            );
        }
    }

    #[test]
    fn events_without_orders_are_lost_after_the_deadline_and_late_orders_still_count() {
        let truth = Truth::new(2, &[]);
        let t0 = Instant::now();
        truth.register(vec![
            event(EventKind::EthFlow, 5, t0, 1),
            event(EventKind::EthFlow, 5, t0, 2),
        ]);
        truth.set_head(5);
        truth.set_head(7); // 5 + 2 is not yet behind the head
        assert_eq!(truth.stats().events["ethflow"].lost, 0);
        post(
            &truth,
            1,
            PostOutcome::Accepted,
            t0 + Duration::from_secs(2),
        );
        truth.set_head(8);
        let s = truth.stats();
        let e = &s.events["ethflow"];
        assert_eq!(
            (e.registered, e.matched, e.lost, e.awaiting, e.late),
            (2, 1, 1, 0, 0)
        );
        post(
            &truth,
            2,
            PostOutcome::Accepted,
            t0 + Duration::from_secs(9),
        );
        let s = truth.stats();
        let e = &s.events["ethflow"];
        assert_eq!((e.matched, e.lost, e.late), (1, 1, 1));
        assert_eq!(e.latency_seconds.count, 2, "late latency is recorded");
        assert_eq!(e.blocks.max, 3.0);
        invariant_holds(&s);
    }

    #[test]
    fn posts_before_registration_match_when_the_event_arrives() {
        let truth = Truth::new(3, &[]);
        let t0 = Instant::now();
        truth.set_head(9);
        // The engine saw block 10 before the runner registered it.
        post(
            &truth,
            1,
            PostOutcome::Accepted,
            t0 + Duration::from_millis(5),
        );
        assert_eq!(truth.stats().pending_posts, 1);
        truth.register(vec![event(EventKind::Twap, 10, t0, 1)]);
        truth.set_head(10);
        let s = truth.stats();
        assert_eq!(s.pending_posts, 0);
        assert_eq!(s.unmatched_orders, 0);
        assert_eq!(s.events["twap"].matched, 1);
        assert_eq!(s.events["twap"].blocks.max, 0.0);
        assert_eq!(received(&s, "twap", "accepted"), 1);
    }

    #[test]
    fn posts_waiting_on_one_key_are_classified_in_receipt_order() {
        let truth = Truth::new(3, &[]);
        let t0 = Instant::now();
        truth.set_head(9);
        let at = |ms| t0 + Duration::from_millis(ms);
        post(&truth, 1, PostOutcome::Injected(Fault::Http500), at(5));
        post(&truth, 1, PostOutcome::Injected(Fault::Http503), at(6));
        post(&truth, 1, PostOutcome::Accepted, at(7));
        assert_eq!(truth.stats().pending_posts, 3);
        truth.register(vec![event(EventKind::EthFlow, 10, t0, 1)]);
        truth.set_head(10);
        let s = truth.stats();
        assert_eq!(s.pending_posts, 0);
        assert_eq!(s.events["ethflow"].matched, 1);
        // Taken in receipt order, the accepted POST is the third the event took, 7 ms after
        // the block was mined.
        assert_eq!(s.events["ethflow"].posts_per_event.max, 3.0);
        let latency = s.events["ethflow"].latency_seconds.max;
        assert!((latency - 0.007).abs() < 1e-4, "{latency}");
        for outcome in ["Http500", "Http503", "accepted"] {
            assert_eq!(received(&s, "ethflow", outcome), 1, "{outcome}");
        }
        invariant_holds(&s);
    }

    #[test]
    fn posts_matching_nothing_become_unmatched_at_the_next_head() {
        let truth = Truth::new(3, &[]);
        let t0 = Instant::now();
        truth.set_head(4);
        post(&truth, 9, PostOutcome::Accepted, t0);
        post(
            &truth,
            9,
            PostOutcome::Injected(Fault::parse("WrongOwner").unwrap()),
            t0,
        );
        truth.observe_invalid();
        let s = truth.stats();
        assert_eq!(s.unmatched_orders, 0, "still pending");
        assert_eq!(received(&s, UNMATCHED, "invalid"), 1);
        truth.set_head(5);
        let s = truth.stats();
        assert_eq!(s.unmatched_orders, 1);
        assert_eq!(s.pending_posts, 0);
        assert_eq!(received(&s, UNMATCHED, "accepted"), 1);
        assert_eq!(received(&s, UNMATCHED, "WrongOwner"), 1);
        assert_eq!(s.posts, 3);
    }

    #[test]
    fn identical_keys_match_events_in_registration_order() {
        let truth = Truth::new(10, &[]);
        let t0 = Instant::now();
        truth.register(vec![
            event(EventKind::Twap, 1, t0, 1),
            event(EventKind::Twap, 1, t0, 1),
        ]);
        truth.set_head(1);
        post(&truth, 1, PostOutcome::Accepted, t0);
        assert_eq!(truth.stats().events["twap"].matched, 1);
        post(&truth, 1, PostOutcome::Accepted, t0);
        let s = truth.stats();
        assert_eq!(s.events["twap"].matched, 2);
        assert_eq!(s.events["twap"].awaiting, 0);
    }

    #[test]
    fn finish_closes_the_books() {
        let truth = Truth::new(100, &[]);
        let t0 = Instant::now();
        truth.register(vec![event(EventKind::Twap, 1, t0, 1)]);
        truth.set_head(1);
        post(&truth, 2, PostOutcome::Accepted, t0);
        truth.finish();
        let s = truth.stats();
        assert_eq!(s.events["twap"].lost, 1);
        assert_eq!(s.unmatched_orders, 1);
        invariant_holds(&s);
    }

    #[test]
    fn app_data_registry_serves_empty_and_registered_documents() {
        let truth = Truth::new(1, &[]);
        assert_eq!(
            truth.app_data(&cowprotocol::EMPTY_APP_DATA_HASH).as_deref(),
            Some("{}")
        );
        let doc = r#"{"appCode":"cowload"}"#.to_owned();
        let hash = truth.register_app_data(doc.clone());
        assert_eq!(hash, keccak256(doc.as_bytes()));
        assert_eq!(truth.app_data(&hash), Some(doc));
        assert_eq!(truth.app_data(&B256::repeat_byte(7)), None);
    }

    #[test]
    fn an_accepted_post_of_the_wrong_order_is_mismatched_never_matched() {
        let truth = Truth::new(1, &[]);
        let t0 = Instant::now();
        let mut exact = event(EventKind::EthFlow, 3, t0, 1);
        let required = exact_order();
        let uid = required.uid(None);
        exact.exact = Some(required);
        truth.register(vec![exact]);
        truth.set_head(3);
        // Same key, another UID (say validTo off by one): accepted by the API, not the order.
        post(&truth, 1, PostOutcome::Accepted, t0);
        truth.set_head(5);
        let s = truth.stats();
        assert_eq!(received(&s, "ethflow", "mismatched"), 1);
        assert_eq!(received(&s, "ethflow", "accepted"), 0);
        assert_eq!(s.events["ethflow"].matched, 0);
        assert_eq!(s.events["ethflow"].lost, 1);
        let text = truth.render_metrics();
        assert!(
            text.lines()
                .any(|l| l == "cowload_orders_mismatched_total{kind=\"ethflow\"} 1"),
            "{text}"
        );
        // The exact order still counts, late.
        truth.observe(Observation {
            key: key(1),
            uid,
            valid_to: 0,
            outcome: PostOutcome::Accepted,
            received_at: t0,
            head: truth.head(),
        });
        let s = truth.stats();
        assert_eq!(received(&s, "ethflow", "accepted"), 1);
        assert_eq!(s.events["ethflow"].late, 1);
        invariant_holds(&s);
    }

    #[test]
    fn metrics_exist_for_both_kinds_before_any_event() {
        let truth = Truth::new(1, &["InsufficientFee".to_owned()]);
        let text = truth.render_metrics();
        for line in [
            "cowload_orders_received_total{kind=\"twap\",outcome=\"accepted\"} 0",
            "cowload_orders_received_total{kind=\"ethflow\",outcome=\"InsufficientFee\"} 0",
            "cowload_orders_received_total{kind=\"unmatched\",outcome=\"invalid\"} 0",
            "cowload_orders_accepted_total 0",
            "cowload_events_registered_total{kind=\"twap\"} 0",
            "cowload_events_matched_total{kind=\"ethflow\"} 0",
            "cowload_events_lost_total{kind=\"twap\"} 0",
            "cowload_events_awaiting_order{kind=\"ethflow\"} 0",
            "cowload_event_to_order_seconds_bucket{kind=\"twap\",le=\"0.005\"} 0",
            "cowload_event_to_order_blocks_bucket{kind=\"ethflow\",le=\"50\"} 0",
            "cowload_order_posts_per_event_count{kind=\"twap\"} 0",
            "cowload_mock_requests_total{route=\"/api/v1/orders\",status=\"201\"} 0",
            "cowload_mock_request_duration_seconds_count{route=\"/api/v1/orders\"} 0",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing `{line}` in\n{text}"
            );
        }
    }

    /// A truth with a TWAP (key 1) and an EthFlow (key 2) event in block 3, head at 3.
    fn two_events_in_block_3(deadline: u64) -> (Truth, Instant) {
        let truth = Truth::new(deadline, &[]);
        let t0 = Instant::now();
        truth.register(vec![
            event(EventKind::Twap, 3, t0, 1),
            event(EventKind::EthFlow, 3, t0, 2),
        ]);
        truth.set_head(3);
        (truth, t0)
    }

    #[test]
    fn first_order_latencies_are_handed_over_exactly_once() {
        let (truth, t0) = two_events_in_block_3(3);
        post(
            &truth,
            1,
            PostOutcome::Accepted,
            t0 + Duration::from_millis(123),
        );
        post(
            &truth,
            1,
            PostOutcome::Duplicate,
            t0 + Duration::from_millis(500),
        );
        post(
            &truth,
            2,
            PostOutcome::Accepted,
            t0 + Duration::from_millis(40),
        );
        assert_eq!(truth.take_first_order_latencies(), vec![0.123, 0.04]);
        assert!(truth.take_first_order_latencies().is_empty());
    }

    #[test]
    fn metrics_follow_the_accounting() {
        let (truth, t0) = two_events_in_block_3(0);
        post(
            &truth,
            1,
            PostOutcome::Accepted,
            t0 + Duration::from_millis(300),
        );
        post(&truth, 9, PostOutcome::Accepted, t0);
        post(&truth, 1, PostOutcome::Duplicate, t0);
        truth.set_head(4);
        let text = truth.render_metrics();
        for line in [
            // Both accepted posts (one matches no event), not the duplicate.
            "cowload_orders_accepted_total 2",
            "cowload_events_registered_total{kind=\"twap\"} 1",
            "cowload_events_matched_total{kind=\"twap\"} 1",
            "cowload_events_lost_total{kind=\"ethflow\"} 1",
            "cowload_event_to_order_seconds_bucket{kind=\"twap\",le=\"0.25\"} 0",
            "cowload_event_to_order_seconds_bucket{kind=\"twap\",le=\"0.5\"} 1",
            "cowload_event_to_order_blocks_bucket{kind=\"twap\",le=\"0\"} 1",
            "cowload_order_posts_per_event_bucket{kind=\"twap\",le=\"1\"} 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing `{line}` in\n{text}"
            );
        }
    }
}
