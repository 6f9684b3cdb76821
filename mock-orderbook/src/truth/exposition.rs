//! The `cowload_*` Prometheus text of `/metrics`: the ledger's counters and histograms,
//! then the mock's own HTTP request counters.

use super::counts::KindStats;
use super::ledger::Ledger;
use super::requests::Requests;
use super::{PartOutcome, PostOutcome};
use crate::prom::{Buckets, Exposition};
use cowload_spec::names::{self, label};
use cowload_spec::EventKind;

/// (metric name, help, value of one kind) of a per-kind counter.
type KindCounter = (&'static str, &'static str, fn(&KindStats) -> u64);
/// (metric name, help, buckets of one kind) of a per-kind histogram.
type KindHistogram = (&'static str, &'static str, fn(&KindStats) -> &Buckets);

impl Ledger {
    pub(super) fn render(&self, out: &mut Exposition) {
        out.header(
            names::ORDERS_RECEIVED_TOTAL,
            "counter",
            "POST /api/v1/orders by matched event kind and outcome",
        );
        for (kind, outcome, count) in self.received() {
            out.sample(
                names::ORDERS_RECEIVED_TOTAL,
                &[(label::KIND, kind), (label::OUTCOME, outcome)],
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
                &[(label::KIND, kind.label())],
                count as f64,
            );
        }
        let counters: [KindCounter; 7] = [
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
                names::EVENTS_UNJUDGED_TOTAL,
                "Events still within their deadline when the run ended (not due: never lost)",
                |s| s.unjudged,
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
                out.sample(name, &[(label::KIND, kind.label())], v as f64);
            }
        }
        out.header(
            names::TWAP_PARTS_TOTAL,
            "counter",
            "TWAP parts by outcome: expected (window opened), matched, missing, late, duplicate, unjudged (deadline after the run)",
        );
        let parts = &self.kinds[EventKind::Twap].parts;
        for outcome in PartOutcome::ALL {
            out.sample(
                names::TWAP_PARTS_TOTAL,
                &[(label::OUTCOME, outcome.label())],
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
                &[(label::REASON, reason.label())],
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
                    &[(label::KIND, kind.label()), (label::REASON, reason.label())],
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
                &[(label::KIND, kind.label())],
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
                out.histogram(
                    name,
                    &[(label::KIND, kind.label())],
                    buckets(&self.kinds[kind]),
                );
            }
        }
    }
}

impl Requests {
    pub(super) fn render(&self, out: &mut Exposition) {
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
                    &[(label::ROUTE, route), (label::STATUS, &status)],
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
            out.histogram(
                names::MOCK_REQUEST_DURATION_SECONDS,
                &[(label::ROUTE, route)],
                h,
            );
        }
    }
}
