//! Every owed order as one line: the run directory's `orders.jsonl`.
//!
//! In: the ledger once its books are closed. Out: one [`OrderLine`] per event and per TWAP
//! part whose window opened, in registration order (an event's line, then its parts'), each
//! with the transaction that emitted it, the order it requires, what became of it and why,
//! and the requests the engine made for it. Why: a lost event is a transaction hash and a
//! story ("three 429s, then nothing"), not only a count.

use std::time::Instant;

use cowload_spec::{
    FirstAccepted, LossReason, OrderLine, OrderOutcome, OrderUid, PartWindow, RequestCount,
    RequestLine, Route,
};

use super::ledger::{EventRecord, Ledger};
use super::order::loss_reason;
use super::record::{Answer, Owed, Request};

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
                line.deadline_block = part.deadline_from.saturating_add(self.deadline);
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
            deadline_block: event.deadline_from.saturating_add(self.deadline),
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
            let reason = loss_reason(owed.last.as_ref());
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
