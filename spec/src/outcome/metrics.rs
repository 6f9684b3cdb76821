//! Every scraped series in short: who published it, its kind, its start, end, change and
//! quantiles over the run.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::bars::Bucket;

/// Who published a series.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The engine under test (its `/metrics`).
    Engine,
    /// The mock orderbook (`cowload_*` it publishes).
    Mock,
    /// The runner's own load accounting.
    Harness,
}

/// The Prometheus type: as the `# TYPE` line declares it, else inferred
/// from the samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    /// Declared `counter`, or undeclared with a name ending in `_total`;
    /// `delta` is the increase with resets handled.
    Counter,
    /// Declared `gauge` (whatever its name), or any other plain sample;
    /// `delta` is end − start.
    Gauge,
    /// `_bucket{le=…}` samples; start/end/delta are `_count`, quantiles are
    /// over the run window (bucket increases, PromQL interpolation).
    Histogram,
    /// `{quantile=…}` samples; start/end/delta are `_count` when published,
    /// quantiles are as published at the end of the run (never subtracted).
    Summary,
}

/// One series over the run window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MetricSummary {
    /// Who published it.
    pub source: Source,
    /// Its inferred type.
    pub kind: MetricKind,
    /// Value at the first scrape (before the load), when present.
    pub start: Option<f64>,
    /// Value at the last scrape (end of the run), when present.
    pub end: Option<f64>,
    /// Change over the run (see [`MetricKind`] for how it is computed).
    pub delta: Option<f64>,
    /// Largest value seen at any scrape (gauges only).
    pub max: Option<f64>,
    /// `p50`, `p90`, `p99`… in the metric's unit (histograms and summaries).
    /// A histogram quantile whose rank falls in the `+Inf` bucket is not
    /// known and is left out here (see `quantiles_above`).
    pub quantiles: BTreeMap<String, f64>,
    /// Histogram quantiles known only to lie above the top finite bucket
    /// bound: `p99 → 10` reads "p99 > 10".
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub quantiles_above: BTreeMap<String, f64>,
    /// For each histogram quantile in `quantiles`, the bucket it was
    /// interpolated in: the true value only lies somewhere inside (all-ones
    /// data reads "p50 0.5" in a 0–1 bucket).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub quantile_buckets: BTreeMap<String, Bucket>,
}
