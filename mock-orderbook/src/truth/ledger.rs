//! The ledger: every registered event and TWAP part, and the rules that judge the POSTs
//! made for them (see the module doc of [`super`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

use alloy::primitives::{Address, B256};
use cowprotocol::OrderUid;

use super::counts::KindStats;
use super::order::loss_reason;
use super::pending::{Pending, PendingKey};
use super::record::{Accepted, Answer, Owed, Request};
use super::{
    ExactOrder, ExpectedOrder, FastHash, LossReason, Observation, OrderKey, PostOutcome, SpanTruth,
    Stats, TwapSchedule, UNMATCHED,
};
use cowload_spec::{EventKind, PerKind, PostResult};

/// One registered event.
pub(super) struct EventRecord {
    pub(super) kind: EventKind,
    pub(super) exact: Option<ExactOrder>,
    pub(super) block: u64,
    /// The block its deadline counts from: its own, or the last block of an orderbook outage
    /// it was still awaiting its order at the end of.
    pub(super) deadline_from: u64,
    pub(super) mined_at: Instant,
    /// The transaction that emitted it, and the log's index in its block.
    pub(super) tx: B256,
    pub(super) log_index: u64,
    /// The order's owner.
    pub(super) owner: Address,
    /// The UID it requires, when the event fixes it and has no parts (EthFlow).
    pub(super) uid: Option<OrderUid>,
    /// Its own order (TWAP: judged by part 0, the one the event counters count); its trace
    /// holds the POSTs no part's window holds (TWAP) or every request for it (EthFlow).
    pub(super) owed: Owed,
    /// The TWAP's schedule and its parts opened so far, in order (part `i` at index `i`).
    pub(super) twap: Option<(TwapSchedule, Vec<PartRecord>)>,
    /// A reorg took it off the chain.
    pub(super) reorged: bool,
    /// Accepted orders for it counted as orders for a reorged event.
    pub(super) orders_for_reorged: u64,
}

/// One TWAP part whose window has opened.
pub(super) struct PartRecord {
    /// The head when the mock learnt the window was open (the part's deadline counts from it).
    pub(super) open_block: u64,
    /// The block its deadline counts from: `open_block`, or the last block of an outage it was
    /// still awaiting its order at the end of.
    pub(super) deadline_from: u64,
    /// The UID the part requires, when the event fixes it.
    pub(super) uid: Option<OrderUid>,
    pub(super) owed: Owed,
}

pub(super) struct Ledger {
    pub(super) deadline: u64,
    pub(super) head: u64,
    /// Timestamp of the head, when the runner gave it (opens TWAP parts).
    pub(super) head_time: Option<u64>,
    pub(super) posts: u64,
    pub(super) events: Vec<EventRecord>,
    pub(super) by_key: HashMap<OrderKey, Vec<usize>, FastHash>,
    /// (block its deadline counts from, event id) of events neither accepted nor lost.
    pub(super) awaiting: BTreeSet<(u64, usize)>,
    /// (start time, TWAP event id) of each TWAP's next part whose window has not opened.
    pub(super) unopened: BTreeSet<(u64, usize)>,
    /// (block its deadline counts from, TWAP event id, part) of parts neither accepted nor
    /// missing.
    pub(super) awaiting_parts: BTreeSet<(u64, usize, u64)>,
    /// An orderbook outage holds every deadline: nothing is judged until it ends.
    pub(super) deadlines_held: bool,
    /// POSTs whose key matched no event yet, in receipt order per key.
    pub(super) pending: Pending,
    /// kind label → outcome label → POSTs; nested so that counting a POST looks both labels
    /// up by `&str` (no allocation once the pair exists).
    pub(super) received: BTreeMap<String, BTreeMap<String, u64>>,
    pub(super) unmatched_accepted: u64,
    pub(super) kinds: PerKind<KindStats>,
    /// The UID each owed order requires → (event id, part), so that a `GET` of it joins its
    /// trace.
    pub(super) owed_uids: HashMap<OrderUid, (usize, Option<u64>), FastHash>,
    /// The books are closed ([`Ledger::close`]): later POSTs are traced, never judged.
    pub(super) closed: bool,
    /// When each accepted order (the one its event requires) was received, for the
    /// recovery time after a fault.
    pub(super) accepted_at: Vec<Instant>,
    /// When each duplicate was received (the same UID again, or another order for a TWAP
    /// part that had one), for the duplicates around a fault.
    pub(super) duplicate_at: Vec<Instant>,
}

impl Ledger {
    pub(super) fn new(deadline: u64, outcomes: &[String]) -> Self {
        let mut received: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        let labels = PostResult::ALWAYS_COUNTED
            .iter()
            .map(|r| r.label().to_owned())
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
            deadlines_held: false,
            pending: Pending::default(),
            received,
            unmatched_accepted: 0,
            kinds: PerKind::from_fn(|_| KindStats::new()),
            owed_uids: HashMap::default(),
            closed: false,
            accepted_at: Vec::new(),
            duplicate_at: Vec::new(),
        }
    }

    pub(super) fn register(&mut self, events: Vec<ExpectedOrder>) {
        let mut keys = Vec::with_capacity(events.len());
        for event in events {
            let id = self.events.len();
            // An order without parts is owed by UID as soon as it is known (a GET can find it).
            let uid = match (&event.exact, event.twap) {
                (Some(exact), None) => Some(exact.uid(None)),
                _ => None,
            };
            if let Some(uid) = uid {
                self.owed_uids.insert(uid, (id, None));
            }
            self.events.push(EventRecord {
                kind: event.kind,
                exact: event.exact,
                block: event.block,
                deadline_from: event.block,
                mined_at: event.mined_at,
                tx: event.tx_hash,
                log_index: event.log_index,
                owner: event.key.owner,
                uid,
                owed: Owed::default(),
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
        let Some((schedule, parts)) = event.twap.as_mut() else {
            return 0;
        };
        let part = parts.len() as u64;
        let uid = part_uid(event.exact.as_ref(), schedule, part);
        parts.push(PartRecord {
            open_block: block,
            deadline_from: block,
            uid,
            owed: Owed::default(),
        });
        if let Some(uid) = uid {
            self.owed_uids.insert(uid, (id, Some(part)));
        }
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

    pub(super) fn set_head(&mut self, head: u64, head_time: Option<u64>) {
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
        self.finalise_pending(head);
        if !self.deadlines_held {
            self.judge_due(head);
        }
    }

    /// POSTs whose key matched no event by the head after theirs are unmatched for good.
    fn finalise_pending(&mut self, head: u64) {
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
    }

    /// Every part and event whose deadline lies behind `head` without its order: missing, lost.
    fn judge_due(&mut self, head: u64) {
        while let Some(&(from, id, part)) = self.awaiting_parts.first() {
            if from.saturating_add(self.deadline) >= head {
                break;
            }
            self.awaiting_parts.pop_first();
            let event = &mut self.events[id];
            if let Some((_, parts)) = event.twap.as_mut() {
                parts[part as usize].owed.lost = true;
            }
            self.kinds[event.kind].parts.missing += 1;
        }
        while let Some(&(from, id)) = self.awaiting.first() {
            if from.saturating_add(self.deadline) >= head {
                break;
            }
            self.awaiting.pop_first();
            let event = &mut self.events[id];
            event.owed.lost = true;
            self.kinds[event.kind].lost += 1;
        }
    }

    /// An orderbook outage began: no deadline passes until [`Ledger::release_deadlines`].
    pub(super) fn hold_deadlines(&mut self) {
        self.deadlines_held = true;
    }

    /// The outage ended with block `last`: every event and part still awaiting its order has
    /// its deadline counted again from `last` (one that counts from later keeps its own), then
    /// what is due at the head is judged.
    pub(super) fn release_deadlines(&mut self, last: u64) {
        self.deadlines_held = false;
        let late: Vec<(u64, usize)> = self.awaiting.range(..(last, 0)).copied().collect();
        for (from, id) in late {
            self.awaiting.remove(&(from, id));
            self.awaiting.insert((last, id));
            self.events[id].deadline_from = last;
        }
        let late: Vec<(u64, usize, u64)> =
            self.awaiting_parts.range(..(last, 0, 0)).copied().collect();
        for (from, id, part) in late {
            self.awaiting_parts.remove(&(from, id, part));
            self.awaiting_parts.insert((last, id, part));
            if let Some((_, parts)) = self.events[id].twap.as_mut() {
                parts[part as usize].deadline_from = last;
            }
        }
        self.judge_due(self.head);
    }

    /// Closes the books at the end of a run whose last block is the head. What was due by
    /// then is judged as if the next head had come: an order still missing whose deadline
    /// was the last block is lost, every POST still pending is unmatched. What was not due
    /// yet (a deadline after the last block) is unjudged: neither matched nor lost. Then
    /// every lost order gets its reason. Later POSTs are still traced, never judged.
    pub(super) fn close(&mut self) {
        let last = self.head;
        self.set_head(last.saturating_add(1), None);
        self.head = last;
        for (_, id) in std::mem::take(&mut self.awaiting) {
            let event = &mut self.events[id];
            event.owed.unjudged = true;
            self.kinds[event.kind].unjudged += 1;
        }
        for (_, id, part) in std::mem::take(&mut self.awaiting_parts) {
            let event = &mut self.events[id];
            if let Some((_, parts)) = event.twap.as_mut() {
                parts[part as usize].owed.unjudged = true;
            }
            self.kinds[event.kind].parts.unjudged += 1;
        }
        self.unopened.clear();
        self.closed = true;
        self.close_reasons();
    }

    /// Counts one parsed POST: classified when an event has its key, else it waits.
    pub(super) fn observe(&mut self, post: Box<PendingKey>) {
        self.posts += 1;
        if post.first().outcome == PostOutcome::Duplicate {
            self.duplicate_at.push(post.first().received_at);
        }
        if self.by_key.contains_key(&post.key) {
            self.classify(post.into_observation());
        } else if self.closed {
            let observation = post.into_observation();
            self.count_unmatched(&observation.outcome);
        } else {
            self.pending.push(post);
        }
    }

    /// A `GET /api/v1/orders/{uid}`: joins the trace of the order that UID is owed for.
    pub(super) fn observe_get(&mut self, uid: &OrderUid, found: bool, at: Instant) {
        let Some(&(id, part)) = self.owed_uids.get(uid) else {
            return;
        };
        let request = Request {
            at,
            head: self.head,
            answer: Answer::Get { found },
        };
        if let Some(owed) = self.owed_mut(id, part) {
            owed.trace.push(request);
        }
    }

    /// The record of event `id`'s own order (`part` none) or of its opened `part`.
    fn owed_mut(&mut self, id: usize, part: Option<u64>) -> Option<&mut Owed> {
        let event = &mut self.events[id];
        match part {
            None => Some(&mut event.owed),
            Some(part) => {
                let (_, parts) = event.twap.as_mut()?;
                parts.get_mut(part as usize).map(|p| &mut p.owed)
            }
        }
    }

    /// The event a POST with this key is for. EthFlow: the first event with no accepted order
    /// yet (or the last one when all have one: a resubmission). TWAP: the part whose window
    /// holds the order's `validTo`, of the first event whose part has no accepted order yet
    /// (or of the first event with such a part).
    fn target(&self, observation: &Observation) -> Option<usize> {
        let ids = self.by_key.get(&observation.key)?;
        let valid_to = observation.valid_to;
        let events = &self.events;
        let part_free = |event: &EventRecord, part: u64| {
            event
                .twap
                .as_ref()
                .is_some_and(|(_, parts)| parts.get(part as usize).is_none_or(|p| !p.owed.accepted))
        };
        ids.iter()
            .copied()
            .find(|&id| {
                let e = &events[id];
                match e.twap {
                    None => !e.owed.accepted,
                    Some(_) => part_of(e, valid_to).is_some_and(|part| part_free(e, part)),
                }
            })
            .or_else(|| {
                ids.iter()
                    .copied()
                    .find(|&id| part_of(&events[id], valid_to).is_some())
            })
            .or_else(|| ids.last().copied())
    }

    /// Attributes a POST to its event ([`Ledger::target`]) and, for a TWAP, to the part whose
    /// window holds its `validTo`; a `validTo` in no part's window is not an order the TWAP
    /// can yield (mismatched), nor is an accepted order whose UID is not the one owed.
    fn classify(&mut self, observation: Observation) {
        let Some(id) = self.target(&observation) else {
            self.count_unmatched(&observation.outcome);
            return;
        };
        if self.events[id].reorged {
            self.count_for_reorged(id, &observation);
            return;
        }
        let kind = self.events[id].kind;
        let is_twap = self.events[id].twap.is_some();
        let part = part_of(&self.events[id], observation.valid_to);
        let required = self.required_uid(id, part);
        let mut observation = observation;
        // A TWAP POST outside every part's window is no part's order.
        let wrong_order =
            (is_twap && part.is_none()) || required.is_some_and(|uid| uid != observation.uid);
        if observation.outcome == PostOutcome::Accepted && wrong_order {
            observation.outcome = PostOutcome::Mismatched;
        }
        let request = Request {
            at: observation.received_at,
            head: observation.head,
            answer: Answer::Post {
                outcome: observation.outcome.clone(),
                other_uid: wrong_order.then(|| Box::new(observation.uid)),
            },
        };
        let event = &mut self.events[id];
        event.owed.posts += 1;
        if part.is_none_or(|p| p == 0) {
            event.owed.last = Some(observation.outcome.clone());
        }
        let accepted = observation.outcome == PostOutcome::Accepted;
        if self.closed {
            if let Some(owed) = self.owed_mut(id, part) {
                owed.trace.push(request);
            }
        } else {
            if accepted {
                self.accepted_at.push(observation.received_at);
            }
            match part {
                Some(part) => self.count_part_post(id, part, &observation, request),
                None => {
                    let event = &mut self.events[id];
                    event.owed.trace.push(request);
                    if accepted && !is_twap && !event.owed.accepted {
                        self.first_acceptance(id, &observation);
                        let posts = self.events[id].owed.posts;
                        self.kinds[kind].record_posts(posts);
                    }
                }
            }
        }
        self.count_received(kind.label(), &observation.outcome);
    }

    /// The UID event `id` requires for `part` (or for itself), when the event fixes it.
    fn required_uid(&self, id: usize, part: Option<u64>) -> Option<OrderUid> {
        let event = &self.events[id];
        match (&event.twap, part) {
            (None, _) => event.uid,
            (Some((schedule, parts)), Some(part)) => match parts.get(part as usize) {
                Some(opened) => opened.uid,
                None => part_uid(event.exact.as_ref(), schedule, part),
            },
            (Some(_), None) => None,
        }
    }

    /// Counts a POST attributed to TWAP event `id`'s `part`. The event itself is matched by
    /// its part 0 (its latency is part 0's); later parts never count as the event's order.
    fn count_part_post(
        &mut self,
        id: usize,
        part: u64,
        observation: &Observation,
        request: Request,
    ) {
        self.open_parts_through(id, part, observation.head);
        let accepted = observation.outcome == PostOutcome::Accepted;
        let kind = self.events[id].kind;
        let Some((_, parts)) = self.events[id].twap.as_mut() else {
            return;
        };
        let record = &mut parts[part as usize];
        let owed = &mut record.owed;
        owed.posts += 1;
        owed.last = Some(observation.outcome.clone());
        owed.trace.push(request);
        if !accepted {
            return;
        }
        let counts = &mut self.kinds[kind];
        if owed.accepted {
            counts.parts.duplicate += 1;
            self.duplicate_at.push(observation.received_at);
            return;
        }
        owed.accepted = true;
        owed.first = Some(Accepted {
            at: observation.received_at,
            head: observation.head,
        });
        counts.record_posts(owed.posts);
        if owed.lost {
            counts.parts.late += 1;
            owed.reason_counted = true;
            *counts
                .parts_missing_reasons
                .entry(LossReason::Late)
                .or_default() += 1;
        } else {
            counts.parts.matched += 1;
            self.awaiting_parts
                .remove(&(record.deadline_from, id, part));
        }
        if part == 0 && !self.events[id].owed.accepted {
            self.first_acceptance(id, observation);
        }
    }

    /// The event's first accepted order: latency, blocks, matched or late.
    fn first_acceptance(&mut self, id: usize, observation: &Observation) {
        let event = &mut self.events[id];
        event.owed.accepted = true;
        event.owed.first = Some(Accepted {
            at: observation.received_at,
            head: observation.head,
        });
        let latency = observation
            .received_at
            .saturating_duration_since(event.mined_at);
        let blocks = observation.head.saturating_sub(event.block);
        let (lost, from) = (event.owed.lost, event.deadline_from);
        if lost {
            event.owed.reason_counted = true;
        }
        let stats = &mut self.kinds[event.kind];
        stats.record_first_order(latency, blocks);
        if lost {
            stats.late += 1;
            *stats.lost_reasons.entry(LossReason::Late).or_default() += 1;
        } else {
            stats.matched += 1;
            self.awaiting.remove(&(from, id));
        }
    }

    /// Takes back the events of chain blocks `first..=last` (a reorg dropped them): each leaves
    /// matched, lost or awaiting for `reorged`, its open TWAP parts stop being expected, and
    /// the orders it already got count as orders for a reorged event.
    pub(super) fn reorg_out(&mut self, first: u64, last: u64) -> u64 {
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
            match (event.owed.accepted, event.owed.lost) {
                (true, false) => stats.matched -= 1,
                (_, true) => stats.lost -= 1,
                (false, false) => {
                    self.awaiting.remove(&(event.deadline_from, id));
                }
            }
            let orders = match event.twap.as_mut() {
                None => u64::from(event.owed.accepted),
                Some((_, parts)) => {
                    let mut orders = 0;
                    for (part, record) in parts.iter().enumerate() {
                        stats.parts.expected -= 1;
                        match (record.owed.accepted, record.owed.lost) {
                            (true, false) => stats.parts.matched -= 1,
                            (_, true) => stats.parts.missing -= 1,
                            (false, false) => {
                                self.awaiting_parts.remove(&(
                                    record.deadline_from,
                                    id,
                                    part as u64,
                                ));
                            }
                        }
                        orders += u64::from(record.owed.accepted);
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
        event.owed.posts += 1;
        event.owed.trace.push(Request {
            at: observation.received_at,
            head: observation.head,
            answer: Answer::Post {
                outcome: observation.outcome.clone(),
                other_uid: None,
            },
        });
        if observation.outcome == PostOutcome::Accepted {
            event.orders_for_reorged += 1;
            self.kinds[event.kind].orders_for_reorged += 1;
        }
        let kind = event.kind;
        self.count_received(kind.label(), &observation.outcome);
    }

    /// Every lost event and missing part without an order gets its reason from the last
    /// answer it got.
    fn close_reasons(&mut self) {
        for event in &mut self.events {
            let stats = &mut self.kinds[event.kind];
            let count = |owed: &mut Owed, reasons: &mut BTreeMap<LossReason, u64>| {
                if owed.lost && !owed.reason_counted {
                    owed.reason_counted = true;
                    *reasons.entry(loss_reason(owed.last.as_ref())).or_default() += 1;
                }
            };
            count(&mut event.owed, &mut stats.lost_reasons);
            if let Some((_, parts)) = event.twap.as_mut() {
                for part in parts.iter_mut() {
                    count(&mut part.owed, &mut stats.parts_missing_reasons);
                }
            }
        }
    }

    pub(super) fn count_unmatched(&mut self, outcome: &PostOutcome) {
        if *outcome == PostOutcome::Accepted {
            self.unmatched_accepted += 1;
        }
        self.count_received(UNMATCHED, outcome);
    }

    pub(super) fn count_received(&mut self, kind: &str, outcome: &PostOutcome) {
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
    pub(super) fn received(&self) -> impl Iterator<Item = (&str, &str, u64)> {
        self.received.iter().flat_map(|(kind, by_outcome)| {
            by_outcome
                .iter()
                .map(move |(outcome, count)| (kind.as_str(), outcome.as_str(), *count))
        })
    }

    pub(super) fn stats(&self) -> Stats {
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

    /// What became of the events of chain blocks `first..=last`, the duplicates received
    /// from `since` until `until`, and the recovery from `ended` (see [`super::Truth::span`]).
    pub(super) fn span(
        &self,
        (first, last): (u64, u64),
        since: Instant,
        until: Option<Instant>,
        ended: Option<Instant>,
    ) -> SpanTruth {
        let during = self
            .events
            .iter()
            .filter(|e| (first..=last).contains(&e.block));
        let mut span = SpanTruth::default();
        for e in during {
            span.events += 1;
            if e.reorged {
                span.reorged += 1;
                span.orders_for_reorged += e.orders_for_reorged;
            } else {
                span.lost += u64::from(e.owed.lost);
                span.unjudged += u64::from(e.owed.unjudged);
            }
        }
        let in_window = |at: &&Instant| **at >= since && until.is_none_or(|u| **at < u);
        span.duplicates = self.duplicate_at.iter().filter(in_window).count() as u64;
        span.recovery_seconds = ended.and_then(|ended| {
            self.accepted_at
                .iter()
                .filter(|at| **at >= ended)
                .min()
                .map(|at| at.duration_since(ended).as_secs_f64())
        });
        span
    }
}

/// The part of TWAP event `event` whose window holds `valid_to`, if any.
fn part_of(event: &EventRecord, valid_to: u64) -> Option<u64> {
    event
        .twap
        .as_ref()
        .and_then(|(schedule, _)| schedule.part_of(valid_to))
}

/// The UID part `part` of a TWAP requires, when the event fixes the order.
fn part_uid(exact: Option<&ExactOrder>, schedule: &TwapSchedule, part: u64) -> Option<OrderUid> {
    let valid_to = u32::try_from(schedule.part_valid_to(part)).ok()?;
    exact.map(|x| x.uid(Some(valid_to)))
}
