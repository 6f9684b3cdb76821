//! Every owed order as one line: the run directory's `orders.jsonl`.
//!
//! In: the ledger once its books are closed. Out: one [`OrderLine`] per event and per TWAP
//! part whose window opened, in registration order (an event's line, then its parts'), each
//! with the transaction that emitted it, the order it requires, what became of it and why,
//! and the requests the engine made for it. Why: a lost event is a transaction hash and a
//! story ("three 429s, then nothing"), not only a count.

use std::time::Instant;

use alloy::primitives::{Address, B256};
use cowprotocol::OrderUid;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::ledger::{EventRecord, Ledger};
use super::record::{Answer, Owed, Request};
use super::{LossReason, OrderOutcome};
use crate::kind::EventKind;

/// One owed order of a run: a line of `orders.jsonl` (`runner schema --orders`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OrderLine {
    /// The event's kind.
    pub kind: EventKind,
    /// The TWAP part this line is for; absent on an event's line. A TWAP event's own line is
    /// judged by its part 0, as the event counters are, and its parts follow as lines of
    /// their own (each part is one order).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<u64>,
    /// The transaction that emitted the event.
    #[schemars(with = "String")]
    pub tx: B256,
    /// The block that holds it.
    pub block: u64,
    /// The event's log index in that block.
    pub log_index: u64,
    /// The order's owner.
    #[schemars(with = "String")]
    pub owner: Address,
    /// A part's window in chain seconds (`validTo` is its last second); parts only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<PartWindow>,
    /// The head at which the mock saw a part's window open (its deadline counts from it);
    /// parts only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opened_block: Option<u64>,
    /// The last head at which its order was still in time: the event's (or the part's
    /// opening) block plus `order_deadline_blocks`.
    pub deadline_block: u64,
    /// The UID of the order it requires, when the event fixes the order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub uid: Option<OrderUid>,
    /// What became of it.
    pub outcome: OrderOutcome,
    /// Why it was lost (from the last answer before giving up), or `late`; absent when it was
    /// not lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<LossReason>,
    /// Its first accepted order; absent when none came.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_accepted: Option<FirstAccepted>,
    /// The requests the engine made for it, oldest first (at most 32; see `requests_total`).
    pub requests: Vec<RequestLine>,
    /// Every request made for it, also those not listed.
    pub requests_total: u64,
    /// Every request made for it by route and status, complete even where `requests` is cut.
    pub request_counts: Vec<RequestCount>,
}

/// How many requests of one route got one status, for one order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RequestCount {
    /// Which route.
    pub route: Route,
    /// The HTTP status; absent for a reset connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// How many.
    pub requests: u64,
}

impl OrderLine {
    /// True for a line that is one order: an EthFlow event, a TWAP part. A TWAP event's own
    /// line repeats its part 0 and is not counted twice.
    pub fn is_order(&self) -> bool {
        self.part.is_some() || self.kind != EventKind::Twap
    }
}

/// A TWAP part's window, chain seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PartWindow {
    /// When it opens.
    pub start: u64,
    /// Its last second: the part order's `validTo`.
    pub valid_to: u64,
}

/// The first accepted order of a line.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FirstAccepted {
    /// The head block when it arrived.
    pub head_block: u64,
    /// Seconds from the event's block being mined to its arrival (the event→order latency,
    /// for an event's line).
    pub seconds_after_event: f64,
}

/// The routes a request for one order can take.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub enum Route {
    /// Posting the order.
    #[serde(rename = "POST /api/v1/orders")]
    PostOrder,
    /// Looking it up by UID.
    #[serde(rename = "GET /api/v1/orders/{uid}")]
    GetOrder,
}

impl Route {
    /// As the line writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Route::PostOrder => "POST /api/v1/orders",
            Route::GetOrder => "GET /api/v1/orders/{uid}",
        }
    }
}

/// One request made for an order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RequestLine {
    /// Which route.
    pub route: Route,
    /// How the mock answered: for a POST `accepted`, `duplicate`, `rate_limited`,
    /// `mismatched` (accepted, but not the order owed) or an injected fault (`Http503`,
    /// `ConnectionReset`, `InsufficientFee`…); for a GET `found` or `not_found`.
    pub answer: String,
    /// The HTTP status; absent for a reset connection, which never gets one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Seconds from the event's block being mined to the request's arrival.
    pub seconds_after_event: f64,
    /// The head block when it arrived.
    pub head_block: u64,
    /// The UID posted, when it is not the one owed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub uid: Option<OrderUid>,
}

/// The JSON Schema of one `orders.jsonl` line, pretty, with a trailing newline.
pub fn order_line_schema() -> String {
    let schema = schemars::schema_for!(OrderLine);
    serde_json::to_string_pretty(&schema).expect("a JSON schema always serialises") + "\n"
}

impl Ledger {
    /// Hands every owed order's line to `each`, in registration order.
    pub(super) fn each_line(&self, mut each: impl FnMut(OrderLine)) {
        for event in &self.events {
            each(self.event_line(event));
            let Some((schedule, parts)) = event.twap.as_ref() else {
                continue;
            };
            for (index, part) in parts.iter().enumerate() {
                let index = index as u64;
                let mut line = self.line(event, &part.owed, &[&part.owed], part.uid);
                line.part = Some(index);
                line.window = Some(PartWindow {
                    start: schedule.part_start(index),
                    valid_to: schedule.part_valid_to(index),
                });
                line.opened_block = Some(part.open_block);
                line.deadline_block = part.open_block.saturating_add(self.deadline);
                each(line);
            }
        }
    }

    /// An event's line: a TWAP's is judged by its part 0 and lists its part 0's requests
    /// beside those no part's window holds.
    fn event_line(&self, event: &EventRecord) -> OrderLine {
        let part0 = event.twap.as_ref().and_then(|(_, parts)| parts.first());
        let traces: Vec<&Owed> = std::iter::once(&event.owed)
            .chain(part0.map(|p| &p.owed))
            .collect();
        let uid = event.uid.or(part0.and_then(|p| p.uid));
        self.line(event, &event.owed, &traces, uid)
    }

    /// The line of one owed order judged by `owed`, with the requests of `traces`.
    fn line(
        &self,
        event: &EventRecord,
        owed: &Owed,
        traces: &[&Owed],
        uid: Option<OrderUid>,
    ) -> OrderLine {
        let since = |at: Instant| signed_seconds(event.mined_at, at);
        let (outcome, reason) = judged(owed, event.reorged);
        let mut requests: Vec<(&Request, RequestLine)> = traces
            .iter()
            .flat_map(|o| o.trace.requests.iter())
            .map(|r| (r, request_line(r, since(r.at))))
            .collect();
        requests.sort_by_key(|(r, _)| r.at);
        OrderLine {
            kind: event.kind,
            part: None,
            tx: event.tx,
            block: event.block,
            log_index: event.log_index,
            owner: event.owner,
            window: None,
            opened_block: None,
            deadline_block: event.block.saturating_add(self.deadline),
            uid,
            outcome,
            reason,
            first_accepted: owed.first.map(|first| FirstAccepted {
                head_block: first.head,
                seconds_after_event: since(first.at),
            }),
            requests: requests.into_iter().map(|(_, line)| line).collect(),
            requests_total: traces.iter().map(|o| o.trace.total).sum(),
            request_counts: request_counts(traces),
        }
    }
}

/// What became of an owed order, and why when it was lost.
fn judged(owed: &Owed, reorged: bool) -> (OrderOutcome, Option<LossReason>) {
    if reorged {
        return (OrderOutcome::Reorged, None);
    }
    match (owed.accepted, owed.lost) {
        (true, false) => (OrderOutcome::Matched, None),
        (true, true) => (OrderOutcome::Late, Some(LossReason::Late)),
        (false, true) => {
            let reason = LossReason::from_last(owed.last.as_ref());
            let outcome = if reason == LossReason::Mismatched {
                OrderOutcome::Mismatched
            } else {
                OrderOutcome::Lost
            };
            (outcome, Some(reason))
        }
        // Unjudged, or a line written before the books closed: not due yet either way.
        (false, false) => (OrderOutcome::Unjudged, None),
    }
}

/// The requests of `traces` by route and status, in route then status order.
fn request_counts(traces: &[&Owed]) -> Vec<RequestCount> {
    let mut counts: Vec<RequestCount> = Vec::new();
    for (route, status, requests) in traces.iter().flat_map(|o| o.trace.counts.iter()) {
        match counts
            .iter_mut()
            .find(|c| (c.route, c.status) == (*route, *status))
        {
            Some(count) => count.requests += requests,
            None => counts.push(RequestCount {
                route: *route,
                status: *status,
                requests: *requests,
            }),
        }
    }
    counts.sort_by_key(|c| (c.route, c.status));
    counts
}

fn request_line(request: &Request, seconds_after_event: f64) -> RequestLine {
    let (route, answer, status, uid) = match &request.answer {
        Answer::Post { outcome, other_uid } => (
            Route::PostOrder,
            outcome.label().to_owned(),
            outcome.status(),
            other_uid.as_deref().copied(),
        ),
        Answer::Get { found } => (
            Route::GetOrder,
            if *found { "found" } else { "not_found" }.to_owned(),
            Some(if *found { 200 } else { 404 }),
            None,
        ),
    };
    RequestLine {
        route,
        answer,
        status,
        seconds_after_event,
        head_block: request.head,
        uid,
    }
}

/// Seconds from `from` to `to`, negative when `to` came first (an engine that saw the block
/// before the runner stamped it), rounded to the microsecond.
fn signed_seconds(from: Instant, to: Instant) -> f64 {
    let seconds = match to.checked_duration_since(from) {
        Some(after) => after.as_secs_f64(),
        None => -from.duration_since(to).as_secs_f64(),
    };
    (seconds * 1e6).round() / 1e6
}
