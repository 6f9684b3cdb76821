//! The per-kind tallies behind [`super::Stats`] and the Prometheus histograms.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

use super::{EventStats, ExactHistogram, ExactSamples, LossReason, PartOutcome, Summary};
use crate::prom::{self, Buckets};

/// Distributions of one kind: hdrhistograms for quantiles in `/_stats`, fixed buckets for
/// the Prometheus histograms.
pub(super) struct KindStats {
    pub(super) registered: u64,
    pub(super) matched: u64,
    pub(super) lost: u64,
    pub(super) late: u64,
    /// Events still awaiting their order when the run ended before their deadline.
    pub(super) unjudged: u64,
    /// Events a reorg took back, and the accepted orders they got.
    pub(super) reorged: u64,
    pub(super) orders_for_reorged: u64,
    pub(super) parts: PartCounts,
    /// reason → lost events whose reason is final.
    pub(super) lost_reasons: BTreeMap<LossReason, u64>,
    /// reason → missing parts whose reason is final.
    pub(super) parts_missing_reasons: BTreeMap<LossReason, u64>,
    pub(super) latency_us: Histogram<u64>,
    pub(super) blocks: Histogram<u64>,
    pub(super) posts: Histogram<u64>,
    pub(super) latency_buckets: Buckets,
    pub(super) blocks_buckets: Buckets,
    pub(super) posts_buckets: Buckets,
    /// Exact observations of the three histograms not yet taken by the runner.
    pub(super) recent: ExactSamples,
}

/// One hour in microseconds: latencies above it are clamped.
const MAX_LATENCY_US: u64 = 3_600_000_000;

impl KindStats {
    pub(super) fn new() -> Self {
        Self {
            registered: 0,
            matched: 0,
            lost: 0,
            late: 0,
            unjudged: 0,
            reorged: 0,
            orders_for_reorged: 0,
            parts: PartCounts::default(),
            lost_reasons: LossReason::ALL.iter().map(|r| (*r, 0)).collect(),
            parts_missing_reasons: LossReason::ALL.iter().map(|r| (*r, 0)).collect(),
            latency_us: histogram(MAX_LATENCY_US),
            blocks: histogram(1_000_000),
            posts: histogram(1_000_000),
            latency_buckets: Buckets::new(prom::EVENT_TO_ORDER_SECONDS_BUCKETS),
            blocks_buckets: Buckets::new(prom::EVENT_TO_ORDER_BLOCKS_BUCKETS),
            posts_buckets: Buckets::new(prom::POSTS_PER_EVENT_BUCKETS),
            recent: ExactSamples::default(),
        }
    }

    pub(super) fn record_first_order(&mut self, latency: Duration, blocks: u64) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latency_us
            .saturating_record(micros.min(MAX_LATENCY_US));
        self.blocks.saturating_record(blocks);
        self.latency_buckets.observe(latency.as_secs_f64());
        self.blocks_buckets.observe(blocks as f64);
        self.recent
            .push(ExactHistogram::EventToOrderSeconds, latency.as_secs_f64());
        self.recent
            .push(ExactHistogram::EventToOrderBlocks, blocks as f64);
    }

    /// POSTs one order took (an event's, or a TWAP part's) up to its first acceptance.
    pub(super) fn record_posts(&mut self, posts: u64) {
        self.posts.saturating_record(posts);
        self.posts_buckets.observe(posts as f64);
        self.recent
            .push(ExactHistogram::OrderPostsPerEvent, posts as f64);
    }

    pub(super) fn stats(&self) -> EventStats {
        EventStats {
            registered: self.registered,
            matched: self.matched,
            lost: self.lost,
            late: self.late,
            unjudged: self.unjudged,
            awaiting: self.awaiting(),
            latency_seconds: summary(&self.latency_us, 1e-6),
            blocks: summary(&self.blocks, 1.0),
            posts_per_event: summary(&self.posts, 1.0),
            parts_expected: self.parts.expected,
            parts_matched: self.parts.matched,
            parts_missing: self.parts.missing,
            parts_late: self.parts.late,
            parts_duplicate: self.parts.duplicate,
            parts_unjudged: self.parts.unjudged,
            parts_awaiting: self.parts.awaiting(),
            lost_reasons: owned(&self.lost_reasons),
            parts_missing_reasons: owned(&self.parts_missing_reasons),
            reorged: self.reorged,
            orders_for_reorged: self.orders_for_reorged,
        }
    }

    pub(super) fn awaiting(&self) -> u64 {
        self.registered - self.matched - self.lost - self.reorged - self.unjudged
    }
}

fn owned(map: &BTreeMap<LossReason, u64>) -> BTreeMap<String, u64> {
    map.iter()
        .map(|(k, v)| (k.label().to_owned(), *v))
        .collect()
}

/// TWAP part accounting of one kind (all zero for EthFlow).
#[derive(Default)]
pub(super) struct PartCounts {
    pub(super) expected: u64,
    pub(super) matched: u64,
    pub(super) missing: u64,
    pub(super) late: u64,
    pub(super) duplicate: u64,
    /// Parts still awaiting their order when the run ended before their deadline.
    pub(super) unjudged: u64,
}

impl PartCounts {
    pub(super) fn awaiting(&self) -> u64 {
        self.expected - self.matched - self.missing - self.unjudged
    }

    /// The value of [`crate::names::TWAP_PARTS_TOTAL`] for `outcome`.
    pub(super) fn total(&self, outcome: PartOutcome) -> u64 {
        match outcome {
            PartOutcome::Expected => self.expected,
            PartOutcome::Matched => self.matched,
            PartOutcome::Missing => self.missing,
            PartOutcome::Late => self.late,
            PartOutcome::Duplicate => self.duplicate,
            PartOutcome::Unjudged => self.unjudged,
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
