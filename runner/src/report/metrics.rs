//! The outcome's `metrics` map: every engine, mock and harness series of the
//! run, reduced to start, end, delta and quantiles over the run window.
//!
//! Why per series (`name{labels}`) and not per metric name: adding up
//! `outcome="accepted"` and `outcome="rejected"` would hide exactly what a
//! reviewer wants to see move. Histograms and summaries are folded into one
//! entry per label set (their `_bucket`, `_sum`, `_count` and `quantile`
//! samples), so `runner diff` compares p99 with p99, never bucket with bucket.

use std::collections::{BTreeMap, BTreeSet};

use cowload_spec::outcome::{round6, MetricKind, MetricSummary, Source};

use super::probe::{self, Labels};
use cowload_spec::names::{self, label};

use crate::metrics::{MetricType, Series, Snapshot};

/// Quantiles kept for histograms, as `(label, q)`.
const QUANTILES: [(&str, f64); 3] = [("p50", 0.5), ("p90", 0.9), ("p99", 0.99)];

/// Harness series that hold a per-block reading (already in the timeline),
/// or wall-clock: left out of the map so equal runs stay equal.
const PER_BLOCK_HARNESS: [&str; 4] = [
    names::CHAIN_HEAD_BLOCK,
    names::BLOCK_NUMBER,
    names::BLOCK_LATE_SECONDS,
    names::ACTIVE_TWAPS,
];

/// Series the harness itself publishes (the rest of `cowload_*` is the mock's).
const HARNESS: [&str; 4] = [
    names::EVENTS_REQUESTED_TOTAL,
    names::EVENTS_DELIVERED_TOTAL,
    names::EVENTS_DELIVERED_RATIO,
    names::LOAD_TRANSACTIONS_FAILED_TOTAL,
];

/// The name ending that marks an undeclared sample as a counter.
const COUNTER_SUFFIX: &str = "_total";

/// Process-level series that measure the machine, not the run.
const IGNORED_PREFIXES: [&str; 2] = ["process_", "go_"];

/// Mock routes the harness itself calls (scrapes, health checks): their
/// series measure the harness, not the engine.
const HARNESS_ROUTES: [&str; 3] = ["/metrics", "/healthz", "/_stats"];

/// Family names found in the series: histogram bases and summary names,
/// and every declared type (`# TYPE`).
struct Families {
    histograms: BTreeSet<String>,
    summaries: BTreeSet<String>,
    /// No samples, only the types declared by any scrape.
    declared: Snapshot,
}

impl Families {
    fn scan(series: &Series) -> Self {
        let mut histograms = BTreeSet::new();
        let mut summaries = BTreeSet::new();
        let mut declared = Snapshot::default();
        for point in &series.points {
            declared.merge_types(&point.snapshot);
        }
        for sample in series.points.iter().flat_map(|p| &p.snapshot.samples) {
            if sample.labels.contains_key(label::LE) {
                if let Some(base) = sample.name.strip_suffix("_bucket") {
                    histograms.insert(base.to_owned());
                }
            } else if sample.labels.contains_key(label::QUANTILE) {
                summaries.insert(sample.name.to_string());
            }
        }
        Self {
            histograms,
            summaries,
            declared,
        }
    }

    /// The family a sample belongs to, and its kind; `None` for `_bucket`
    /// and `_sum` parts (folded into their family entry elsewhere).
    fn classify(&self, name: &str, labels: &Labels) -> Option<(String, MetricKind)> {
        if labels.contains_key(label::LE) && name.ends_with("_bucket") {
            return None;
        }
        if labels.contains_key(label::QUANTILE) {
            return Some((name.to_owned(), MetricKind::Summary));
        }
        for suffix in ["_count", "_sum"] {
            if let Some(base) = name.strip_suffix(suffix) {
                if self.histograms.contains(base) {
                    return (suffix == "_count").then(|| (base.to_owned(), MetricKind::Histogram));
                }
                if self.summaries.contains(base) {
                    return (suffix == "_count").then(|| (base.to_owned(), MetricKind::Summary));
                }
            }
        }
        let kind = match self.declared.type_of(name) {
            Some(MetricType::Counter) => MetricKind::Counter,
            Some(MetricType::Gauge) => MetricKind::Gauge,
            _ if name.ends_with(COUNTER_SUFFIX) => MetricKind::Counter,
            _ => MetricKind::Gauge,
        };
        Some((name.to_owned(), kind))
    }
}

/// Who publishes `name`.
pub fn source_of(name: &str) -> Source {
    if HARNESS.contains(&name) {
        Source::Harness
    } else if name.starts_with("cowload_") {
        Source::Mock
    } else {
        Source::Engine
    }
}

/// Every series of the run, keyed `name{labels}` (labels sorted), in key order.
pub fn summarise(series: &Series) -> BTreeMap<String, MetricSummary> {
    let families = Families::scan(series);
    let mut found: BTreeMap<String, (String, Labels, MetricKind)> = BTreeMap::new();
    for sample in series.points.iter().flat_map(|p| &p.snapshot.samples) {
        let harness_route = sample
            .labels
            .get(label::ROUTE)
            .is_some_and(|r| HARNESS_ROUTES.contains(&r.as_str()));
        if harness_route
            || PER_BLOCK_HARNESS.contains(&&*sample.name)
            || IGNORED_PREFIXES.iter().any(|p| sample.name.starts_with(p))
        {
            continue;
        }
        let Some((family, kind)) = families.classify(&sample.name, &sample.labels) else {
            continue;
        };
        let mut labels = (*sample.labels).clone();
        labels.remove(label::QUANTILE);
        let key = probe::selector(&family, &labels);
        found.entry(key).or_insert((family, labels, kind));
    }
    found
        .into_iter()
        .map(|(key, (family, labels, kind))| {
            let summary = summarise_one(series, &family, &labels, kind);
            (key, summary)
        })
        .collect()
}

fn summarise_one(
    series: &Series,
    family: &str,
    labels: &Labels,
    kind: MetricKind,
) -> MetricSummary {
    let value_name = match kind {
        MetricKind::Counter | MetricKind::Gauge => family.to_owned(),
        MetricKind::Histogram | MetricKind::Summary => format!("{family}_count"),
    };
    let at = |index: usize| {
        series
            .points
            .get(index)
            .and_then(|p| value_of(&p.snapshot, &value_name, labels))
            .map(round6)
    };
    let start = at(0);
    let end = series.points.len().checked_sub(1).and_then(at);
    let value_selector = probe::selector(&value_name, labels);
    let delta = match kind {
        MetricKind::Gauge => start.zip(end).map(|(s, e)| round6(e - s)),
        _ => probe::observe(&format!("increase({value_selector})"), series).map(round6),
    };
    let max = (kind == MetricKind::Gauge)
        .then(|| probe::observe(&format!("max({value_selector})"), series))
        .flatten()
        .map(round6);
    let (quantiles, quantiles_above, quantile_buckets) = match kind {
        MetricKind::Histogram => histogram_quantiles(series, family, labels),
        MetricKind::Summary => (
            summary_quantiles(series, family, labels),
            BTreeMap::new(),
            BTreeMap::new(),
        ),
        _ => (BTreeMap::new(), BTreeMap::new(), BTreeMap::new()),
    };
    MetricSummary {
        source: source_of(family),
        kind,
        start,
        end,
        delta,
        max,
        quantiles,
        quantiles_above,
        quantile_buckets,
    }
}

/// Known quantiles, those only known to lie above the top finite bound, and
/// the buckets the known ones were interpolated in.
type SplitQuantiles = (
    BTreeMap<String, f64>,
    BTreeMap<String, f64>,
    BTreeMap<String, crate::bars::Bucket>,
);

fn histogram_quantiles(series: &Series, family: &str, labels: &Labels) -> SplitQuantiles {
    let selector = probe::selector(family, labels);
    let mut known = BTreeMap::new();
    let mut above = BTreeMap::new();
    let mut buckets = BTreeMap::new();
    for (name, q) in QUANTILES {
        let Some(verdict) = probe::observe_verdict(&format!("quantile({q}, {selector})"), series)
        else {
            continue;
        };
        let Some(value) = verdict.observed.filter(|x| x.is_finite()) else {
            continue;
        };
        match verdict.bucket {
            Some(bucket) if bucket.is_above_top() => {
                above.insert((*name).to_owned(), round6(value));
            }
            bucket => {
                known.insert((*name).to_owned(), round6(value));
                if let Some(bucket) = bucket {
                    buckets.insert((*name).to_owned(), bucket);
                }
            }
        }
    }
    (known, above, buckets)
}

/// The published quantiles at the last scrape, keyed `p50`, `p99`, `p99.9`.
fn summary_quantiles(series: &Series, family: &str, labels: &Labels) -> BTreeMap<String, f64> {
    let Some(last) = series.points.last() else {
        return BTreeMap::new();
    };
    last.snapshot
        .samples
        .iter()
        .filter(|s| *s.name == *family && s.value.is_finite())
        .filter_map(|s| {
            let q: f64 = s.labels.get(label::QUANTILE)?.parse().ok()?;
            let mut rest = (*s.labels).clone();
            rest.remove(label::QUANTILE);
            (&rest == labels).then(|| (quantile_key(q), round6(s.value)))
        })
        .collect()
}

/// The sum of the samples with exactly this name and label set.
fn value_of(snapshot: &Snapshot, name: &str, labels: &Labels) -> Option<f64> {
    let mut values = snapshot
        .samples
        .iter()
        .filter(|s| *s.name == *name && *s.labels == *labels)
        .map(|s| s.value)
        .peekable();
    values.peek()?;
    Some(values.sum())
}

/// `0.5` → `p50`, `0.99` → `p99`, `0.999` → `p99.9`.
pub fn quantile_key(q: f64) -> String {
    let percent = round6(q * 100.0);
    format!("p{percent}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sample written as (name, labels, value).
    type Raw<'a> = (&'a str, &'a [(&'a str, &'a str)], f64);

    fn series(points: &[&[Raw]]) -> Series {
        let mut s = Series::new();
        for (i, samples) in points.iter().enumerate() {
            let mut snapshot = Snapshot::default();
            for (name, labels, value) in samples.iter() {
                snapshot.push(*name, labels, *value);
            }
            s.push(format!("p{i}"), snapshot);
        }
        s
    }

    #[test]
    fn quantile_keys_read_like_percentiles() {
        for (q, want) in [(0.5, "p50"), (0.9, "p90"), (0.99, "p99"), (0.999, "p99.9")] {
            assert_eq!(quantile_key(q), want);
        }
    }

    #[test]
    fn sources_follow_the_name() {
        assert_eq!(source_of("cowload_events_delivered_total"), Source::Harness);
        assert_eq!(source_of("cowload_events_lost_total"), Source::Mock);
        assert_eq!(source_of("shepherd_module_errors_total"), Source::Engine);
    }

    #[test]
    fn counters_gauges_histograms_and_summaries_fold_into_one_entry_each() {
        let s = series(&[
            &[
                ("c_total", &[("outcome", "ok")], 2.0),
                ("g", &[], 5.0),
                ("h_bucket", &[("le", "1")], 0.0),
                ("h_bucket", &[("le", "+Inf")], 0.0),
                ("h_count", &[], 0.0),
                ("h_sum", &[], 0.0),
                ("s", &[("quantile", "0.5")], 0.1),
                ("s", &[("quantile", "0.99")], 0.2),
                ("s_count", &[], 1.0),
                ("cowload_block_number", &[], 7.0),
                ("process_cpu_seconds_total", &[], 1.0),
                ("cowload_mock_requests_total", &[("route", "/metrics")], 3.0),
            ],
            &[
                ("c_total", &[("outcome", "ok")], 9.0),
                ("g", &[], 8.0),
                ("h_bucket", &[("le", "1")], 4.0),
                ("h_bucket", &[("le", "+Inf")], 4.0),
                ("h_count", &[], 4.0),
                ("h_sum", &[], 2.0),
                ("s", &[("quantile", "0.5")], 0.3),
                ("s", &[("quantile", "0.99")], 0.4),
                ("s_count", &[], 6.0),
            ],
            &[
                ("c_total", &[("outcome", "ok")], 10.0),
                ("g", &[], 3.0),
                ("h_bucket", &[("le", "1")], 4.0),
                ("h_bucket", &[("le", "+Inf")], 4.0),
                ("h_count", &[], 4.0),
                ("h_sum", &[], 2.0),
                ("s", &[("quantile", "0.5")], 0.5),
                ("s", &[("quantile", "0.99")], 0.6),
                ("s_count", &[], 7.0),
            ],
        ]);
        let map = summarise(&s);
        let keys: Vec<&str> = map.keys().map(String::as_str).collect();
        assert_eq!(keys, ["c_total{outcome=\"ok\"}", "g", "h", "s"]);

        let c = &map["c_total{outcome=\"ok\"}"];
        assert_eq!(c.kind, MetricKind::Counter);
        assert_eq!(
            (c.start, c.end, c.delta),
            (Some(2.0), Some(10.0), Some(8.0))
        );

        let g = &map["g"];
        assert_eq!(g.kind, MetricKind::Gauge);
        assert_eq!((g.delta, g.max), (Some(-2.0), Some(8.0)));

        let h = &map["h"];
        assert_eq!(h.kind, MetricKind::Histogram);
        assert_eq!(h.delta, Some(4.0));
        assert_eq!(h.quantiles["p50"], 0.5);
        assert_eq!(h.quantiles["p99"], 0.99);

        let summary = &map["s"];
        assert_eq!(summary.kind, MetricKind::Summary);
        assert_eq!(summary.delta, Some(6.0));
        assert_eq!(summary.quantiles["p50"], 0.5);
        assert_eq!(summary.quantiles["p99"], 0.6);
    }

    /// A rank in the `+Inf` bucket is never reported as if known: the
    /// quantile moves to `quantiles_above`, "more than the top bound".
    #[test]
    fn quantiles_beyond_the_top_bucket_are_not_reported_as_known() {
        let point = |scale: f64| -> Vec<Raw> {
            vec![
                ("h_bucket", &[("le", "1")], 10.0 * scale),
                ("h_bucket", &[("le", "10")], 90.0 * scale),
                ("h_bucket", &[("le", "+Inf")], 100.0 * scale),
                ("h_count", &[], 100.0 * scale),
                ("h_sum", &[], 500.0 * scale),
            ]
        };
        // 100 observations: 10 up to 1, 80 in 1–10, 10 beyond the top bound.
        let (before, after) = (point(0.0), point(1.0));
        let s = series(&[&before, &after]);
        let h = &summarise(&s)["h"];
        assert!(!h.quantiles.contains_key("p99"), "{:?}", h.quantiles);
        assert_eq!(h.quantiles_above.get("p99"), Some(&10.0));
        // p50 is known only as far as its bucket: 1–10.
        let p50 = h.quantile_buckets["p50"];
        assert_eq!((p50.lower, p50.upper), (1.0, Some(10.0)));
    }

    /// The kind comes from `# TYPE`, not the name.
    #[test]
    fn the_declared_type_wins_over_the_name() {
        let text = |depth: u32, errors: u32| {
            format!(
                "# TYPE queue_total gauge\nqueue_total {depth}\n\
                 # TYPE errors counter\nerrors {errors}\nplain_total 1\n"
            )
        };
        let mut s = Series::new();
        s.push("before", Snapshot::parse(&text(9, 1)).unwrap());
        s.push("end", Snapshot::parse(&text(4, 3)).unwrap());
        let map = summarise(&s);
        let queue = &map["queue_total"];
        assert_eq!(queue.kind, MetricKind::Gauge);
        // A gauge's delta is end − start, never read as a counter reset.
        assert_eq!((queue.delta, queue.max), (Some(-5.0), Some(9.0)));
        assert_eq!(map["errors"].kind, MetricKind::Counter);
        assert_eq!(map["errors"].delta, Some(2.0));
        // Undeclared: the name is all there is to go on.
        assert_eq!(map["plain_total"].kind, MetricKind::Counter);
    }
}
