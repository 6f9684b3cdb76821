//! The ledger: every registered event and TWAP part, and the rules that judge the POSTs
//! made for them (see the module doc of [`super`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

use super::counts::KindStats;
use super::pending::{Pending, PendingKey};
use super::{
    ExactOrder, ExpectedOrder, FastHash, LossReason, Observation, OrderKey, PostOutcome, SpanTruth,
    Stats, TwapSchedule, UNMATCHED,
};
use crate::kind::{EventKind, PerKind};

pub(super) struct EventRecord {
    pub(super) kind: EventKind,
    pub(super) exact: Option<ExactOrder>,
    pub(super) block: u64,
    pub(super) mined_at: Instant,
    pub(super) posts: u64,
    pub(super) accepted: bool,
    pub(super) lost: bool,
    /// The last answer to a POST for it (TWAP: for its part 0), for the loss reason.
    pub(super) last: Option<PostOutcome>,
    /// Its loss reason has been counted.
    pub(super) reason_counted: bool,
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
    /// POSTs attributed to this part.
    pub(super) posts: u64,
    pub(super) accepted: bool,
    pub(super) lost: bool,
    /// The last answer to a POST for it, for the loss reason.
    pub(super) last: Option<PostOutcome>,
    /// Its loss reason has been counted.
    pub(super) reason_counted: bool,
}

pub(super) struct Ledger {
    pub(super) deadline: u64,
    pub(super) head: u64,
    /// Timestamp of the head, when the runner gave it (opens TWAP parts).
    pub(super) head_time: Option<u64>,
    pub(super) posts: u64,
    pub(super) events: Vec<EventRecord>,
    pub(super) by_key: HashMap<OrderKey, Vec<usize>, FastHash>,
    /// (block, event id) of events neither accepted nor lost.
    pub(super) awaiting: BTreeSet<(u64, usize)>,
    /// (start time, TWAP event id) of each TWAP's next part whose window has not opened.
    pub(super) unopened: BTreeSet<(u64, usize)>,
    /// (opening block, TWAP event id, part) of parts neither accepted nor missing.
    pub(super) awaiting_parts: BTreeSet<(u64, usize, u64)>,
    /// POSTs whose key matched no event yet, in receipt order per key.
    pub(super) pending: Pending,
    /// kind label → outcome label → POSTs; nested so that counting a POST looks both labels
    /// up by `&str` (no allocation once the pair exists).
    pub(super) received: BTreeMap<String, BTreeMap<String, u64>>,
    pub(super) unmatched_accepted: u64,
    pub(super) kinds: PerKind<KindStats>,
    /// First-order latencies (seconds) not yet taken by the runner.
    pub(super) recent_latencies: Vec<f64>,
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

    pub(super) fn register(&mut self, events: Vec<ExpectedOrder>) {
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
    pub(super) fn observe(&mut self, post: Box<PendingKey>) {
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
            *counts
                .parts_missing_reasons
                .entry(LossReason::Late)
                .or_default() += 1;
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
            *stats.lost_reasons.entry(LossReason::Late).or_default() += 1;
        } else {
            stats.matched += 1;
            self.awaiting.remove(&(block, id));
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
    pub(super) fn close_reasons(&mut self) {
        for event in &mut self.events {
            let stats = &mut self.kinds[event.kind];
            if event.lost && !event.reason_counted {
                event.reason_counted = true;
                *stats
                    .lost_reasons
                    .entry(LossReason::from_last(event.last.as_ref()))
                    .or_default() += 1;
            }
            if let Some((_, parts)) = event.twap.as_mut() {
                for part in parts.iter_mut().filter(|p| p.lost && !p.reason_counted) {
                    part.reason_counted = true;
                    *stats
                        .parts_missing_reasons
                        .entry(LossReason::from_last(part.last.as_ref()))
                        .or_default() += 1;
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
        let duplicates = self.duplicate_at.iter().filter(in_window).count() as u64;
        let recovery_seconds = ended.and_then(|ended| {
            self.accepted_at
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
}
