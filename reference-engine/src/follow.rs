//! Which blocks the engine handles, in which order and when: the new-heads follower with its
//! three chain-fault defences.
//!
//! In: the [`Rpc`] of one chain, the [`Knobs`] from `[reference]`, and where a restarted engine
//! left off ([`Resume`], from `state.rs`). Out: [`Head`]s on a channel, each block number at most
//! once unless a reorg replaced it, in ascending order; metrics for every reconnect, backfilled,
//! skipped and re-handled block.
//!
//! Why each defence, and its switch:
//! - `reconnect_backfill`: the stream is re-subscribed with backoff whenever it ends (always).
//!   The blocks between the last head seen before the drop and the first head after it are
//!   fetched by number (at most [`MAX_BACKFILL`]). Off: they are skipped, so their events are
//!   lost (`reference_skipped_blocks_total`).
//! - `persist_cursor`: [`Resume`] says the last block fully handled before a restart; every
//!   block after it up to the first head is fetched by number. Off (no `Resume`): the engine
//!   starts at the first head it sees, as on a first start.
//! - `reorg_aware`: a block is handed out only once the head is `confirmations` blocks past it,
//!   and it is fetched by number at that point, so a reorg at most that deep never reaches a
//!   handler: its removed events never become orders. Each handed block's parent hash must be
//!   the hash of the block handed before it; if not (a reorg deeper than `confirmations`), the
//!   follower walks back to the fork point (at most [`KEPT_HASHES`] blocks) and hands out the
//!   new blocks again, so re-included events get their order (once: UIDs already posted are
//!   not posted again) and the block loop forgets retries and watches the removed events
//!   started; orders already posted for them cannot be taken back (`reference_reorgs_total`
//!   counts these reorgs). Off: every head is handed out the moment it arrives, including a head
//!   that replaces one already handled, and nothing is checked or forgotten.
//!   Waiting costs latency, `confirmations` block times on every event, so the default is 0
//!   (retract only): the bundled scenarios' latency bars and known answers assume an engine that
//!   acts in the event's own block. A reorg scenario sets `REFERENCE_CONFIRMATIONS` to its depth.
//!
//! Latency of a block starts when the engine could first know of it: when its header arrived,
//! or, for a block fetched because the stream missed it (a disconnect, a restart), when the first
//! later header arrived. Waiting for confirmations counts (the engine chose to wait); the time
//! the stream was down does not (the engine could not know). The outage itself is what the
//! harness measures as the fault's recovery time, not an engine-side latency.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use alloy::primitives::B256;
use tokio::sync::mpsc::UnboundedSender;

use crate::chain::{backoff, BlockRef, Head, Rpc, MAX_SUBSCRIBE_FAILURES};
use crate::telemetry::{self, STREAM_KIND_BLOCK, STREAM_RECONNECTS};

/// Largest run of missed blocks fetched by number (after a reconnect or a restart); a longer
/// gap is skipped and counted, so a follower far behind never stalls the engine for hours.
pub const MAX_BACKFILL: u64 = 1024;
/// Hashes of the last handed blocks kept for the parent check: the deepest reorg undone.
pub const KEPT_HASHES: usize = 64;
/// Attempts at fetching one block by number before waiting for the next head.
const FETCH_ATTEMPTS: u32 = 5;

/// The follower's share of `[reference]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Knobs {
    /// Fetch blocks missed while disconnected.
    pub backfill: bool,
    /// Wait for confirmations and check parent hashes.
    pub reorg_aware: bool,
    /// Depth a block must reach before a reorg-aware follower hands it out.
    pub confirmations: u64,
    /// Silence of the head stream that makes the follower look into it (zero: never).
    pub stall_timeout: Duration,
    /// Ask the node on silence (wait for a stalled chain, re-open a dead stream); off: exit.
    pub stall_check: bool,
}

/// Where a restarted engine left off: the last block it fully handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resume {
    /// Its number; the engine resumes at the next one.
    pub block: u64,
    /// Its hash, when known, to check that the next block still extends it.
    pub hash: Option<B256>,
}

/// A block waiting to be handed out.
#[derive(Clone, Copy, Debug)]
struct Pending {
    /// When the engine could first know of it (the start of its latency).
    known_at: Instant,
    /// Its header when it came from the subscription (a backfilled block has none).
    header: Option<BlockRef>,
    /// For a block the stream skipped: the head that revealed the gap.
    catch_up_to: Option<u64>,
}

/// What a head changed, for the metrics.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Noted {
    /// Blocks queued to be fetched by number because the stream skipped them.
    pub backfilled: u64,
    /// Blocks the stream skipped that will never be handled.
    pub skipped: u64,
    /// A head to hand out at once: a replacement of a block already seen, when not reorg-aware.
    pub immediate: Option<Head>,
    /// A handed block this head replaced: walk back from here to the fork point.
    pub reorg_at: Option<u64>,
}

/// What to do with the next due block.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// Hand this header out without asking the node again.
    Use(BlockRef),
    /// Fetch this number from the node, then [`Planner::accept`] it.
    Fetch(u64),
}

/// The follower's bookkeeping, free of I/O so every fault sequence can be tested.
#[derive(Debug)]
pub struct Planner {
    knobs: Knobs,
    /// The last block handed out (or the resumed one).
    cursor: Option<u64>,
    /// The highest head number received.
    last_seen: Option<u64>,
    /// Blocks after the cursor to hand out, by number.
    queue: BTreeMap<u64, Pending>,
    /// Hashes of the last [`KEPT_HASHES`] blocks handed out.
    handed: BTreeMap<u64, B256>,
}

impl Planner {
    /// A follower starting fresh (`resume` none) or after the block `resume` names.
    pub fn new(knobs: Knobs, resume: Option<Resume>) -> Self {
        let mut handed = BTreeMap::new();
        if let Some(Resume {
            block,
            hash: Some(hash),
        }) = resume
        {
            handed.insert(block, hash);
        }
        Self {
            knobs,
            cursor: resume.map(|r| r.block),
            last_seen: None,
            queue: BTreeMap::new(),
            handed,
        }
    }

    /// A head arrived at `at`.
    pub fn note_head(&mut self, head: BlockRef, at: Instant) -> Noted {
        let mut noted = Noted::default();
        let first = self.last_seen.is_none();
        let from = match (self.last_seen, self.cursor) {
            (Some(seen), _) => seen + 1,
            (None, Some(cursor)) => cursor + 1,
            (None, None) => head.number,
        };
        if head.number < from {
            self.replaced(head, at, &mut noted);
            return noted;
        }
        let missing = head.number - from;
        if missing > 0 {
            // The first head's gap is the restart's (persist_cursor); later gaps are the stream's.
            if missing > MAX_BACKFILL || !(first || self.knobs.backfill) {
                noted.skipped = missing;
            } else {
                noted.backfilled = missing;
                for number in from..head.number {
                    self.queue.insert(
                        number,
                        Pending {
                            known_at: at,
                            header: None,
                            catch_up_to: Some(head.number),
                        },
                    );
                }
            }
        }
        self.queue.insert(
            head.number,
            Pending {
                known_at: at,
                header: Some(head),
                catch_up_to: None,
            },
        );
        self.last_seen = Some(head.number);
        noted
    }

    /// A head at or below one seen before: a reorg's new block (or a repeat).
    fn replaced(&mut self, head: BlockRef, at: Instant, noted: &mut Noted) {
        if !self.knobs.reorg_aware {
            noted.immediate = Some(Head {
                number: head.number,
                hash: head.hash,
                timestamp: head.timestamp,
                received_at: at,
                catch_up_to: None,
            });
            return;
        }
        match self.handed.get(&head.number) {
            Some(hash) if *hash != head.hash => noted.reorg_at = Some(head.number),
            // Not handed out yet: it is fetched by number once confirmed, whatever it is then.
            _ => {}
        }
    }

    /// The next block that may be handed out now, if any.
    pub fn next(&self) -> Option<Next> {
        let seen = self.last_seen?;
        let depth = if self.knobs.reorg_aware {
            self.knobs.confirmations
        } else {
            0
        };
        let (&number, pending) = self.queue.first_key_value()?;
        if number + depth > seen {
            return None;
        }
        // A header seen at the head may have been replaced since unless the block is handed
        // out the moment it arrives.
        Some(match pending.header {
            Some(header) if depth == 0 => Next::Use(header),
            _ => Next::Fetch(number),
        })
    }

    /// Take `block` (the due one, from [`Next`]) as the next block to hand out. `Err(n)` when a
    /// reorg-aware follower finds it does not extend the block handed before it: walk back
    /// from `n`.
    pub fn accept(&mut self, block: BlockRef) -> Result<Head, u64> {
        if self.knobs.reorg_aware {
            let parent = block
                .number
                .checked_sub(1)
                .and_then(|p| self.handed.get(&p));
            if parent.is_some_and(|hash| *hash != block.parent_hash) {
                return Err(block.number - 1);
            }
        }
        let pending = self.queue.remove(&block.number);
        let known_at = pending.map_or_else(Instant::now, |p| p.known_at);
        let catch_up_to = pending.and_then(|p| p.catch_up_to);
        self.cursor = Some(block.number);
        self.handed.insert(block.number, block.hash);
        while self.handed.len() > KEPT_HASHES {
            self.handed.pop_first();
        }
        Ok(Head {
            number: block.number,
            hash: block.hash,
            timestamp: block.timestamp,
            received_at: known_at,
            catch_up_to,
        })
    }

    /// The highest head number received so far.
    pub fn last_seen(&self) -> Option<u64> {
        self.last_seen
    }

    /// The hash handed out at `number`, if still kept: the walk back compares against it.
    pub fn handed_hash(&self, number: u64) -> Option<B256> {
        self.handed.get(&number).copied()
    }

    /// The lowest block whose hash is still kept (the walk back stops there).
    pub fn oldest_kept(&self) -> Option<u64> {
        self.handed.first_key_value().map(|(n, _)| *n)
    }

    /// A reorg replaced handed blocks after `fork`: hand out every block after it again, up to
    /// `up_to` or the last handed one, whichever is higher (a reorg replaces the tip, and the
    /// node may announce only some of the new blocks), from `at` (when the engine learnt of the
    /// new blocks). Returns how many.
    pub fn rewind(&mut self, fork: u64, up_to: u64, at: Instant) -> u64 {
        let top = self.cursor.map_or(up_to, |cursor| cursor.max(up_to));
        self.handed.retain(|n, _| *n <= fork);
        self.cursor = Some(fork);
        for number in fork + 1..=top {
            self.queue.entry(number).or_insert(Pending {
                known_at: at,
                header: None,
                catch_up_to: None,
            });
        }
        top.saturating_sub(fork)
    }
}

/// Follow new heads until the receiver is gone (`Ok`) or subscribing kept failing (`Err`).
pub async fn follow_heads(
    rpc: Rpc,
    tx: UnboundedSender<Head>,
    knobs: Knobs,
    resume: Option<Resume>,
) -> anyhow::Result<()> {
    let chain = rpc.chain_id().to_string();
    let mut planner = Planner::new(knobs, resume);
    let mut failures = 0u32;
    loop {
        match subscribe_and_forward(&rpc, &tx, &mut planner, &mut failures).await {
            Forwarded::ReceiverGone => return Ok(()),
            Forwarded::StreamEnded(why) => {
                failures += 1;
                metrics::counter!(STREAM_RECONNECTS, "kind" => STREAM_KIND_BLOCK, "chain_id" => chain.clone())
                    .increment(1);
                if failures > MAX_SUBSCRIBE_FAILURES {
                    anyhow::bail!("new-heads subscription on chain {chain} failed {failures} times in a row: {why}");
                }
                tracing::warn!(chain_id = %chain, failures, %why, "new-heads stream ended; reconnecting");
                tokio::time::sleep(backoff(failures)).await;
                if let Err(err) = rpc.reopen().await {
                    tracing::warn!(chain_id = %chain, %err, "reopening the WebSocket failed");
                }
            }
        }
    }
}

enum Forwarded {
    ReceiverGone,
    StreamEnded(String),
}

async fn subscribe_and_forward(
    rpc: &Rpc,
    tx: &UnboundedSender<Head>,
    planner: &mut Planner,
    failures: &mut u32,
) -> Forwarded {
    let mut sub = match rpc.subscribe_heads().await {
        Ok(sub) => sub,
        Err(err) => return Forwarded::StreamEnded(err.to_string()),
    };
    tracing::info!(chain_id = rpc.chain_id(), "subscribed to new heads");
    let timeout = planner.knobs.stall_timeout;
    let mut heard_at = Instant::now();
    loop {
        let received = if timeout.is_zero() {
            sub.recv().await
        } else {
            tokio::select! {
                // The deadline is checked before the stream, as a watchdog timer is: after a
                // freeze it fires even when heads are already queued.
                biased;
                () = tokio::time::sleep_until((heard_at + timeout).into()) => {
                    match on_silence(rpc, planner, timeout).await {
                        Silence::Wait => {
                            heard_at = Instant::now();
                            continue;
                        }
                        Silence::StreamDead(why) => return Forwarded::StreamEnded(why),
                    }
                }
                received = sub.recv() => received,
            }
        };
        heard_at = Instant::now();
        let header = match received {
            Ok(header) => header,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(
                    chain_id = rpc.chain_id(),
                    missed = n,
                    "head subscription lagged"
                );
                continue;
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                return Forwarded::StreamEnded("subscription closed".to_owned())
            }
        };
        *failures = 0;
        let noted = planner.note_head(BlockRef::from_header(&header), Instant::now());
        if !apply_noted(rpc, tx, planner, noted).await || !hand_out_due(rpc, tx, planner).await {
            return Forwarded::ReceiverGone;
        }
    }
}

/// What a silent head stream means.
enum Silence {
    /// The chain has not moved (or the node cannot say): keep listening.
    Wait,
    /// The chain moved without the stream: re-open it.
    StreamDead(String),
}

/// The head stream has been silent for `timeout`: with `stall_check`, ask the node whether
/// the chain moved; without, exit as a naive watchdog does.
async fn on_silence(rpc: &Rpc, planner: &Planner, timeout: Duration) -> Silence {
    let chain = rpc.chain_id();
    if !planner.knobs.stall_check {
        tracing::error!(
            chain_id = chain,
            ?timeout,
            "no new head within the stall timeout; exiting (stall_check off)"
        );
        std::process::exit(3);
    }
    let seen = planner.last_seen().unwrap_or(0);
    let cause = match rpc.block_number().await {
        Ok(head) if head > seen => {
            tracing::warn!(
                chain_id = chain,
                ?timeout,
                seen,
                head,
                "head stream silent while the chain moved on; re-opening it"
            );
            metrics::counter!(telemetry::STREAM_SILENCES, "chain_id" => chain.to_string(), "cause" => "stream").increment(1);
            return Silence::StreamDead(format!(
                "silent for {timeout:?} while the chain moved from {seen} to {head}"
            ));
        }
        Ok(_) => "chain",
        Err(err) => {
            tracing::warn!(chain_id = chain, %err, "head stream silent and the node does not say its head; waiting");
            return Silence::Wait;
        }
    };
    tracing::info!(
        chain_id = chain,
        ?timeout,
        seen,
        "the chain has not moved; waiting for it"
    );
    metrics::counter!(telemetry::STREAM_SILENCES, "chain_id" => chain.to_string(), "cause" => cause).increment(1);
    Silence::Wait
}

/// Count what a head changed and act on a replaced head. False when the receiver is gone.
async fn apply_noted(
    rpc: &Rpc,
    tx: &UnboundedSender<Head>,
    planner: &mut Planner,
    noted: Noted,
) -> bool {
    let chain = rpc.chain_id();
    if noted.backfilled > 0 {
        tracing::info!(
            chain_id = chain,
            blocks = noted.backfilled,
            "backfilling missed blocks"
        );
        telemetry::follower_blocks(chain, telemetry::BACKFILLED_BLOCKS, noted.backfilled);
    }
    if noted.skipped > 0 {
        tracing::warn!(
            chain_id = chain,
            blocks = noted.skipped,
            backfill = planner.knobs.backfill,
            "missed blocks are not backfilled; their events are lost"
        );
        telemetry::follower_blocks(chain, telemetry::SKIPPED_BLOCKS, noted.skipped);
    }
    if let Some(head) = noted.immediate {
        tracing::warn!(chain_id = chain, number = head.number, hash = %head.hash,
            "head replaces a block already seen; handling it at once (reorg_aware off)");
        return tx.send(head).is_ok();
    }
    if let Some(at) = noted.reorg_at {
        walk_back(rpc, planner, at).await;
    }
    true
}

/// Hand out every block that is due. False when the receiver is gone.
async fn hand_out_due(rpc: &Rpc, tx: &UnboundedSender<Head>, planner: &mut Planner) -> bool {
    while let Some(next) = planner.next() {
        let block = match next {
            Next::Use(header) => header,
            Next::Fetch(number) => match fetch(rpc, number).await {
                Some(block) => block,
                // Left queued: tried again at the next head.
                None => return true,
            },
        };
        match planner.accept(block) {
            Ok(head) => {
                if tx.send(head).is_err() {
                    return false;
                }
            }
            Err(from) => walk_back(rpc, planner, from).await,
        }
    }
    true
}

/// A reorg replaced handed blocks up to `from`: find the newest handed block still canonical,
/// counting back from `from`, and queue everything after it (up to `from`) again.
async fn walk_back(rpc: &Rpc, planner: &mut Planner, from: u64) {
    let chain = rpc.chain_id();
    let oldest = planner.oldest_kept().unwrap_or(from);
    let mut fork = oldest.saturating_sub(1);
    for number in (oldest..=from).rev() {
        let Some(block) = fetch(rpc, number).await else {
            return; // The node is not answering; the next head retries the check.
        };
        if planner.handed_hash(number) == Some(block.hash) {
            fork = number;
            break;
        }
    }
    let again = planner.rewind(fork, from, Instant::now());
    tracing::error!(chain_id = chain, fork, blocks = again,
        "reorg below the handled cursor; handling the new blocks again (orders already posted for removed events stay posted)");
    metrics::counter!(telemetry::REORGS, "chain_id" => chain.to_string()).increment(1);
}

/// A block by number, retried a few times with a short pause.
async fn fetch(rpc: &Rpc, number: u64) -> Option<BlockRef> {
    for attempt in 1..=FETCH_ATTEMPTS {
        match rpc.block_by_number(number).await {
            Ok(block) => return Some(block),
            Err(err) => {
                tracing::warn!(chain_id = rpc.chain_id(), number, attempt, %err, "cannot fetch block");
                tokio::time::sleep(Duration::from_millis(100) * attempt).await;
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const AWARE: Knobs = Knobs {
        backfill: true,
        reorg_aware: true,
        confirmations: 1,
        stall_timeout: Duration::ZERO,
        stall_check: true,
    };

    /// Block `n` of chain `fork` (0 = the original chain).
    fn block(n: u64, fork: u8) -> BlockRef {
        let hash = |n: u64, fork: u8| {
            let mut h = [0u8; 32];
            h[..8].copy_from_slice(&n.to_be_bytes());
            h[31] = fork;
            B256::from(h)
        };
        BlockRef {
            number: n,
            hash: hash(n, fork),
            parent_hash: hash(n.wrapping_sub(1), fork),
            timestamp: 1_000 + n,
        }
    }

    /// Hand out every due block, answering fetches from `chain`; returns the numbers handed.
    fn drain(planner: &mut Planner, chain: &dyn Fn(u64) -> BlockRef) -> Vec<u64> {
        let mut out = Vec::new();
        for _ in 0..1_000 {
            let Some(next) = planner.next() else {
                return out;
            };
            let b = match next {
                Next::Use(header) => header,
                Next::Fetch(n) => chain(n),
            };
            match planner.accept(b) {
                Ok(head) => out.push(head.number),
                Err(from) => panic!("unexpected reorg at {from}"),
            }
        }
        panic!("drain did not end");
    }

    #[test]
    fn a_fresh_start_begins_at_the_first_head_and_waits_for_confirmations() {
        let mut p = Planner::new(AWARE, None);
        let t = Instant::now();
        assert_eq!(p.note_head(block(10, 0), t), Noted::default());
        assert_eq!(p.next(), None, "block 10 is not 1 deep yet");
        p.note_head(block(11, 0), t);
        assert_eq!(
            p.next(),
            Some(Next::Fetch(10)),
            "confirmed blocks are fetched again"
        );
        assert_eq!(drain(&mut p, &|n| block(n, 0)), vec![10]);

        let mut eager = Planner::new(
            Knobs {
                reorg_aware: false,
                ..AWARE
            },
            None,
        );
        eager.note_head(block(10, 0), t);
        assert_eq!(
            eager.next(),
            Some(Next::Use(block(10, 0))),
            "acted on at once"
        );
    }

    #[test]
    fn missed_blocks_are_backfilled_or_skipped_per_the_knob() {
        // (backfill knob, expected blocks handed after heads 5, 6 and, after a drop, 10)
        let cases = [(true, vec![5, 6, 7, 8, 9, 10]), (false, vec![5, 6, 10])];
        for (backfill, expected) in cases {
            let knobs = Knobs {
                backfill,
                reorg_aware: false,
                ..AWARE
            };
            let mut p = Planner::new(knobs, None);
            let (t0, t1) = (Instant::now(), Instant::now() + Duration::from_secs(3));
            let mut handed = Vec::new();
            for n in [5, 6] {
                p.note_head(block(n, 0), t0);
                handed.extend(drain(&mut p, &|n| block(n, 0)));
            }
            let noted = p.note_head(block(10, 0), t1);
            assert_eq!(
                (noted.backfilled, noted.skipped),
                if backfill { (3, 0) } else { (0, 3) }
            );
            // A backfilled block's latency starts at the head that revealed it, and it can be
            // read together with the blocks up to that head.
            if backfill {
                assert_eq!(p.queue.get(&7).map(|q| q.known_at), Some(t1));
                assert_eq!(p.queue.get(&7).and_then(|q| q.catch_up_to), Some(10));
                assert_eq!(p.queue.get(&10).and_then(|q| q.catch_up_to), None);
            }
            handed.extend(drain(&mut p, &|n| block(n, 0)));
            assert_eq!(handed, expected, "backfill = {backfill}");
        }
    }

    #[test]
    fn a_restart_resumes_after_the_cursor_and_checks_it_still_holds() {
        let resume = Resume {
            block: 20,
            hash: Some(block(20, 0).hash),
        };
        let mut p = Planner::new(AWARE, Some(resume));
        let noted = p.note_head(block(24, 0), Instant::now());
        assert_eq!(noted.backfilled, 3, "21..=23, backfill knob or not");
        assert_eq!(drain(&mut p, &|n| block(n, 0)), vec![21, 22, 23]);

        // The block after the cursor was replaced while the engine was down.
        let mut p = Planner::new(AWARE, Some(resume));
        p.note_head(block(23, 1), Instant::now());
        assert_eq!(p.next(), Some(Next::Fetch(21)));
        assert_eq!(p.accept(block(21, 1)), Err(20), "21 no longer extends 20");
    }

    #[test]
    fn a_reorg_within_the_confirmations_never_reaches_a_handler() {
        let mut p = Planner::new(AWARE, None);
        let t = Instant::now();
        p.note_head(block(10, 0), t);
        p.note_head(block(11, 0), t);
        assert_eq!(drain(&mut p, &|n| block(n, 0)), vec![10]);
        // Block 11 (not handed yet) is replaced; the new 11 and a 12 arrive.
        let noted = p.note_head(block(11, 1), t);
        assert_eq!(noted, Noted::default(), "nothing to undo");
        p.note_head(
            BlockRef {
                parent_hash: block(11, 1).hash,
                ..block(12, 1)
            },
            t,
        );
        let fork1 = |n: u64| {
            if n == 11 {
                BlockRef {
                    parent_hash: block(10, 0).hash,
                    ..block(11, 1)
                }
            } else {
                block(n, 1)
            }
        };
        assert_eq!(p.next(), Some(Next::Fetch(11)));
        let head = p.accept(fork1(11)).expect("extends 10");
        assert_eq!(
            head.hash,
            block(11, 1).hash,
            "the new block, not the removed one"
        );
    }

    #[test]
    fn a_reorg_below_the_cursor_is_rewound_when_aware_and_acted_on_when_not() {
        let t = Instant::now();
        let mut p = Planner::new(
            Knobs {
                confirmations: 0,
                ..AWARE
            },
            None,
        );
        for n in 10..=12 {
            p.note_head(block(n, 0), t);
            drain(&mut p, &|n| block(n, 0));
        }
        // A depth-2 reorg announced by its first new block only: 11 and 12 are replaced.
        let noted = p.note_head(block(11, 1), t);
        assert_eq!(noted.reorg_at, Some(11));
        assert_eq!(p.handed_hash(10), Some(block(10, 0).hash));
        assert_eq!(
            p.rewind(10, 11, t),
            2,
            "both 11 and 12 are handed out again"
        );
        assert_eq!(p.next(), Some(Next::Fetch(11)));
        let new11 = BlockRef {
            parent_hash: block(10, 0).hash,
            ..block(11, 1)
        };
        assert_eq!(p.accept(new11).map(|h| h.hash), Ok(block(11, 1).hash));
        assert_eq!(
            p.accept(block(12, 0)),
            Err(11),
            "an old 12 does not extend the new 11"
        );
        assert_eq!(p.next(), Some(Next::Fetch(12)));
        assert_eq!(
            p.accept(block(12, 1)).map(|h| h.hash),
            Ok(block(12, 1).hash)
        );

        let mut eager = Planner::new(
            Knobs {
                reorg_aware: false,
                ..AWARE
            },
            None,
        );
        for n in 10..=12 {
            eager.note_head(block(n, 0), t);
            drain(&mut eager, &|n| block(n, 0));
        }
        let noted = eager.note_head(block(12, 1), t);
        assert_eq!(noted.immediate.map(|h| h.hash), Some(block(12, 1).hash));
    }

    #[test]
    fn a_gap_beyond_the_bound_is_skipped_not_fetched() {
        let mut p = Planner::new(
            AWARE,
            Some(Resume {
                block: 1,
                hash: None,
            }),
        );
        let noted = p.note_head(block(MAX_BACKFILL + 3, 0), Instant::now());
        assert_eq!(noted.skipped, MAX_BACKFILL + 1);
        assert_eq!(p.queue.len(), 1);
    }

    #[test]
    fn only_the_last_hashes_are_kept() {
        let mut p = Planner::new(
            Knobs {
                confirmations: 0,
                ..AWARE
            },
            None,
        );
        for n in 0..(KEPT_HASHES as u64 + 10) {
            p.note_head(block(n, 0), Instant::now());
            drain(&mut p, &|n| block(n, 0));
        }
        assert_eq!(p.handed.len(), KEPT_HASHES);
        assert_eq!(p.oldest_kept(), Some(10));
    }
}
