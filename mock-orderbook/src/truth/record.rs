//! What the ledger keeps about one owed order (an event's, or a TWAP part's): how it stands,
//! and every request the engine made for it, in the order they came.
//!
//! Why a trace per order: totals say that 145 events were lost; the trace says which, and
//! what the engine asked the orderbook for each (three 429s, then nothing). It is bounded
//! ([`MAX_TRACE`] requests an order, the rest only counted), so an engine that hammers the
//! API costs the mock a counter, not memory.

use std::time::Instant;

use cowprotocol::OrderUid;

use super::{PostOutcome, Route};

/// Requests kept per order; later ones are counted, not kept.
pub(super) const MAX_TRACE: usize = 32;

/// How one owed order stands.
#[derive(Debug, Default)]
pub(super) struct Owed {
    /// POSTs attributed to it.
    pub(super) posts: u64,
    /// It has had its first accepted order (the one it requires).
    pub(super) accepted: bool,
    /// Its deadline passed without an accepted order (it stays lost when one comes later).
    pub(super) lost: bool,
    /// The run ended before its deadline: neither matched nor lost.
    pub(super) unjudged: bool,
    /// The last answer to a POST for it, for the loss reason.
    pub(super) last: Option<PostOutcome>,
    /// Its loss reason has been counted.
    pub(super) reason_counted: bool,
    /// When its first accepted order came, and the head then.
    pub(super) first: Option<Accepted>,
    /// The requests made for it.
    pub(super) trace: Trace,
}

/// The first accepted order of an owed order.
#[derive(Clone, Copy, Debug)]
pub(super) struct Accepted {
    /// When the POST arrived.
    pub(super) at: Instant,
    /// The head block then.
    pub(super) head: u64,
}

/// The requests made for one order: the first [`MAX_TRACE`] of them, and every one counted
/// by route and status.
#[derive(Debug, Default)]
pub(super) struct Trace {
    pub(super) requests: Vec<Request>,
    /// (route, status, requests), in order of first use: complete even when `requests` is not.
    pub(super) counts: Vec<(Route, Option<u16>, u64)>,
    /// Every request made for it, kept or not.
    pub(super) total: u64,
}

impl Trace {
    /// Keeps `request` while there is room, and counts it.
    pub(super) fn push(&mut self, request: Request) {
        self.total += 1;
        let (route, status) = request.answer.route_status();
        match self
            .counts
            .iter_mut()
            .find(|(r, s, _)| (*r, *s) == (route, status))
        {
            Some((_, _, n)) => *n += 1,
            None => self.counts.push((route, status, 1)),
        }
        if self.requests.len() < MAX_TRACE {
            self.requests.push(request);
        }
    }
}

/// One request made for an order.
#[derive(Clone, Debug)]
pub(super) struct Request {
    /// When it arrived.
    pub(super) at: Instant,
    /// The head block then.
    pub(super) head: u64,
    /// What it was and how it was answered.
    pub(super) answer: Answer,
}

/// What a request was, and how the mock answered it.
#[derive(Clone, Debug)]
pub(super) enum Answer {
    /// `POST /api/v1/orders`; `other_uid` when the posted order was not the one owed.
    Post {
        outcome: PostOutcome,
        other_uid: Option<Box<OrderUid>>,
    },
    /// `GET /api/v1/orders/{uid}` of the owed UID: found or not.
    Get { found: bool },
}

impl Answer {
    /// The route it took and the HTTP status it got (`None`: a reset connection).
    pub(super) fn route_status(&self) -> (Route, Option<u16>) {
        match self {
            Answer::Post { outcome, .. } => (Route::PostOrder, outcome.status()),
            Answer::Get { found } => (Route::GetOrder, Some(if *found { 200 } else { 404 })),
        }
    }
}
