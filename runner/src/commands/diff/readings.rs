//! Every comparable reading of one run, with how it is judged: which way is good, the
//! smallest move that counts, and whether it is compared exactly or measured over runs.

use std::collections::BTreeMap;

use cowload_spec::{EventKind, PostResult};

use super::Direction;
use crate::bars::Measure;
use crate::report::{MetricKind, Outcome};

/// The smallest move of a reading that can count, besides the percentage.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Unit {
    /// Seconds: 1 ms.
    Seconds,
    /// Events, orders, requests: 1.
    Count,
    /// Ratios and anything else: no floor.
    Plain,
    /// A bar's value in bytes or per second: no floor, shown in its own unit.
    Other(Measure),
}

impl Unit {
    pub(super) fn floor(self) -> f64 {
        match self {
            Unit::Seconds => TIME_FLOOR_SECONDS,
            Unit::Count => COUNT_FLOOR,
            Unit::Plain | Unit::Other(_) => 0.0,
        }
    }

    /// How the row's values are shown.
    pub(super) fn measure(self) -> Measure {
        match self {
            Unit::Seconds => Measure::Seconds,
            Unit::Count | Unit::Plain => Measure::Plain,
            Unit::Other(measure) => measure,
        }
    }
}

/// How a reading is judged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Class {
    /// Exactly, on the worst run of each side.
    Exact,
    /// Threshold and Welch's test over runs.
    Measured,
    /// One result per side against the noise band (searches).
    Banded,
}

/// One reading of one run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Reading {
    pub(super) value: Option<f64>,
    pub(super) direction: Direction,
    pub(super) unit: Unit,
    pub(super) class: Class,
    /// `Some(holds)` for bars.
    pub(super) holds: Option<bool>,
    /// One of the primary readings (event→order latency per kind).
    pub(super) primary: bool,
    /// The width of the histogram bucket the value was interpolated in (see
    /// [`super::Row::bucket_width`]).
    pub(super) bucket: Option<f64>,
}

impl Reading {
    /// A reading that is no bar, not primary and not interpolated in a bucket.
    pub(super) fn new(value: Option<f64>, direction: Direction, unit: Unit, class: Class) -> Self {
        Reading {
            value,
            direction,
            unit,
            class,
            holds: None,
            primary: false,
            bucket: None,
        }
    }
}

/// Where a reading's row sits in the comparison (flipped bars are moved first afterwards).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Section {
    /// Bars' observed values and verdicts.
    Bars,
    /// Events on chain and the delivered ratio.
    Totals,
    /// The mock's accounting and the event→order latency.
    Mock,
    /// Stage growth.
    Stages,
    /// Every engine, mock and harness series.
    Metrics,
    /// A search's capacity, first failing load, probes and time.
    Search,
}

/// Every reading of one run, keyed by (section, name).
pub(super) type Readings = BTreeMap<(Section, String), Reading>;

/// Time readings closer than this are unchanged whatever the percentage:
/// a 0.3 ms → 0.4 ms move is +33% and still noise.
pub const TIME_FLOOR_SECONDS: f64 = 0.001;

/// Count readings (events, orders, requests) must move by more than one.
pub const COUNT_FLOOR: f64 = 1.0;

/// Summary quantiles left out of the diff: min and max are single
/// observations, noise by nature (they stay in outcome.json).
const NOISY_QUANTILES: [&str; 2] = ["p0", "p100"];

/// Every comparable reading of an outcome, keyed by (section, name).
pub(super) fn readings(o: &Outcome) -> Readings {
    let mut out = BTreeMap::new();
    let exact = (Unit::Count, Class::Exact);
    put(
        &mut out,
        Section::Totals,
        "delivered ratio".to_owned(),
        o.totals.delivered_ratio,
        Direction::Higher,
        (Unit::Plain, Class::Exact),
    );
    for (kind, &n) in o.totals.delivered.iter() {
        put(
            &mut out,
            Section::Totals,
            format!("events on chain ({kind})"),
            Some(n as f64),
            Direction::Higher,
            exact,
        );
    }
    if let Some(mock) = &o.mock {
        for (kind, e) in &mock.events {
            put(
                &mut out,
                Section::Mock,
                format!("events matched ({kind})"),
                Some(e.matched as f64),
                Direction::Higher,
                exact,
            );
            put(
                &mut out,
                Section::Mock,
                format!("events lost ({kind})"),
                Some(e.lost as f64),
                Direction::Lower,
                exact,
            );
        }
        // What cowload measures first: the exact event→order latency per kind over the load
        // window (outcomes written before it was kept fall back to the mock's summary).
        for kind in EventKind::ALL {
            let window = &o.event_to_order_seconds[kind];
            let latency = match mock.events.get(kind.label()) {
                Some(e) if window.count == 0 => &e.latency_seconds,
                _ => window,
            };
            if latency.count == 0 {
                continue;
            }
            for (q, v) in [("p50", latency.p50), ("p99", latency.p99)] {
                let reading = put(
                    &mut out,
                    Section::Mock,
                    format!("event→order {q} ({kind})"),
                    Some(v),
                    Direction::Lower,
                    (Unit::Seconds, Class::Measured),
                );
                reading.primary = true;
            }
        }
        for (kind, outcomes) in &mock.orders_received {
            for (result, n) in outcomes {
                let result = PostResult::of_label(result);
                let direction = match result {
                    PostResult::Accepted => Direction::Higher,
                    _ => Direction::Lower,
                };
                // Duplicates are a bug, counted exactly; retries and rejections
                // depend on timing and are measured like any other count.
                let class = match result {
                    PostResult::Duplicate => Class::Exact,
                    _ => Class::Measured,
                };
                put(
                    &mut out,
                    Section::Mock,
                    format!("order POSTs ({kind}, {})", result.label()),
                    Some(*n as f64),
                    direction,
                    (Unit::Count, class),
                );
            }
        }
        put(
            &mut out,
            Section::Mock,
            "unmatched orders".to_owned(),
            Some(mock.unmatched_orders as f64),
            Direction::Lower,
            exact,
        );
    }
    for stage in &o.bottleneck.stages {
        put(
            &mut out,
            Section::Stages,
            format!("p99 growth: {}", stage.stage),
            Some(stage.growth_seconds),
            Direction::Lower,
            (Unit::Seconds, Class::Measured),
        );
    }
    for (key, m) in &o.metrics {
        let seconds = key
            .split('{')
            .next()
            .is_some_and(|n| n.contains("_seconds"));
        let direction = direction_of(key);
        let measured = |unit: Unit| (unit, Class::Measured);
        let timed = if seconds { Unit::Seconds } else { Unit::Count };
        match m.kind {
            MetricKind::Counter => {
                put(
                    &mut out,
                    Section::Metrics,
                    format!("{key} Δ"),
                    m.delta,
                    direction,
                    measured(timed),
                );
            }
            MetricKind::Gauge => {
                put(
                    &mut out,
                    Section::Metrics,
                    format!("{key} max"),
                    m.max.or(m.end),
                    direction,
                    measured(timed),
                );
            }
            MetricKind::Histogram | MetricKind::Summary => {
                for (q, v) in m
                    .quantiles
                    .iter()
                    .filter(|(q, _)| !NOISY_QUANTILES.contains(&q.as_str()))
                {
                    let unit = if seconds { Unit::Seconds } else { Unit::Plain };
                    let bucket = m.quantile_buckets.get(q).and_then(|b| b.width());
                    put(
                        &mut out,
                        Section::Metrics,
                        format!("{key} {q}"),
                        Some(*v),
                        Direction::Lower,
                        measured(unit),
                    )
                    .bucket = bucket;
                }
                if m.delta.is_some() {
                    put(
                        &mut out,
                        Section::Metrics,
                        format!("{key} count Δ"),
                        m.delta,
                        Direction::Neutral,
                        measured(Unit::Count),
                    );
                }
            }
        }
    }
    for bar in &o.bars {
        let direction = match bar.op.lower_is_better() {
            Some(true) => Direction::Lower,
            Some(false) => Direction::Higher,
            None => Direction::Neutral,
        };
        let unit = match bar.unit {
            Measure::Seconds => Unit::Seconds,
            Measure::Plain => Unit::Plain,
            other @ (Measure::Bytes | Measure::PerSecond | Measure::BytesPerSecond) => {
                Unit::Other(other)
            }
        };
        // A value above the top bucket is only a bound: no value to compare.
        let known = bar.bucket.is_none_or(|b| !b.is_above_top());
        let reading = put(
            &mut out,
            Section::Bars,
            format!("bar: {}", bar.bar),
            bar.observed.filter(|_| known),
            direction,
            (unit, Class::Measured),
        );
        reading.holds = Some(bar.holds);
        reading.bucket = bar.bucket.and_then(|b| b.width());
    }
    out
}

/// Records one reading of a run and hands it back for what only some readings carry.
fn put(
    out: &mut Readings,
    section: Section,
    name: String,
    value: Option<f64>,
    direction: Direction,
    (unit, class): (Unit, Class),
) -> &mut Reading {
    let reading = Reading::new(value, direction, unit, class);
    let slot = out.entry((section, name)).or_insert(reading);
    *slot = reading;
    slot
}

/// Words that say which way is good, checked against the name and labels.
const WORSE_WHEN_UP: [&str; 14] = [
    "error",
    "lost",
    "late",
    "fail",
    "retry",
    "reject",
    "reconnect",
    "backlog",
    "poison",
    "duplicate",
    "unmatched",
    "awaiting",
    "revert",
    "timeout",
];
const BETTER_WHEN_UP: [&str; 5] = [
    "accepted",
    "matched",
    "delivered",
    "processed",
    "outcome=\"ok\"",
];

/// Lower is better for latencies and anything that names a problem; higher
/// for anything that names success; otherwise neutral.
pub fn direction_of(series: &str) -> Direction {
    let text = series.to_ascii_lowercase();
    let name = text.split('{').next().unwrap_or_default();
    if name.contains("_seconds") || name.contains("latency") || name.contains("duration") {
        return Direction::Lower;
    }
    if WORSE_WHEN_UP.iter().any(|w| text.contains(w)) {
        Direction::Lower
    } else if BETTER_WHEN_UP.iter().any(|w| text.contains(w)) {
        Direction::Higher
    } else {
        Direction::Neutral
    }
}
