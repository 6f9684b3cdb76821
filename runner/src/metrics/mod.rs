//! Prometheus scrapes, flattened: what the engine, the mock and the harness
//! itself measured, as plain `name{labels} value` samples.
//!
//! In: the Prometheus text format, either fetched from a `/metrics` URL
//! ([`scrape`]) or built by the harness ([`Snapshot::push`]). Out: a
//! [`Snapshot`] per scrape and a [`Series`] of snapshots in time order, from
//! before the load to the end of the run, which the bars read.
//!
//! Why flat: a bar reads a histogram through its `_bucket`/`_sum`/`_count`
//! samples and a summary through its `{quantile=…}` samples, exactly the names
//! a user sees in the text format, so one model serves the engine's metrics,
//! the mock's and the harness's own. That flat model is exactly the text
//! format's line model, so parsing goes line by line, with label values read
//! with proper quoting. (`prometheus-parse` was tried first: it ends a label
//! block at the first `}` and splits values on `,` and `=`, which breaks on
//! labels like `route="/api/v1/orders/{uid}"`, and its grouped histogram and
//! summary values would only have to be flattened again.) A line that is
//! neither a comment nor a sample is an error naming its line number, so an
//! HTML error page never passes for an empty scrape. The label block ends at
//! the first `}` outside quotes, so a label value may hold `}`, `,` and `=`.
//!
//! `# TYPE` lines are kept per snapshot (family name → [`MetricType`]): a
//! metric's kind comes from what the exporter declared, never from its name
//! (a gauge named `*_total` is a gauge), and a counter declared but without
//! samples (client libraries print a labelled counter only after its first
//! increment) is known to exist, so bars can read it as 0 where a name never
//! seen stays no data.

pub mod exact;

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::collections::HashSet;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use cowload_spec::names::label;

/// Everything that can go wrong reading metrics.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// A line of a scrape is not in the Prometheus text format.
    #[error("line {line}: {reason}: `{text}`")]
    Format {
        /// 1-based line number in the scraped text.
        line: usize,
        /// The offending line, trimmed.
        text: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The endpoint did not answer at all (refused, reset, bad URL).
    #[error("scrape {url}: request failed; is the endpoint up and listening?")]
    Request {
        /// The scraped URL.
        url: String,
        /// The HTTP client's error.
        #[source]
        source: reqwest::Error,
    },
    /// The endpoint did not answer within the deadline.
    #[error("scrape {url}: no answer within {timeout:?}; the process may be stuck or overloaded")]
    Timeout {
        /// The scraped URL.
        url: String,
        /// The deadline that passed.
        timeout: Duration,
    },
    /// The endpoint answered with a non-2xx status.
    #[error("scrape {url}: http status {status}; is this the metrics address?")]
    Status {
        /// The scraped URL.
        url: String,
        /// The HTTP status code.
        status: u16,
    },
    /// The endpoint answered 2xx but its body is not the Prometheus text format.
    #[error("scrape {url}: the response is not in the Prometheus text format")]
    Body {
        /// The scraped URL.
        url: String,
        /// The [`MetricsError::Format`] (or body read error) describing why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// A sample's labels, by name.
pub type Labels = BTreeMap<String, String>;

/// One flat sample: a histogram bucket is `<m>_bucket{le="…"}`, a summary
/// quantile is `<m>{quantile="…"}`, and `_sum`/`_count` are samples of their own.
///
/// Name and labels are shared: a [`Series`] keeps one copy of each series' identity for
/// all its scrapes (see [`Series::push`]), so a long run grows by a value per sample per
/// scrape, not by a label map (a map of one label costs over 500 bytes on its own).
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Metric name as it appears in the text format.
    pub name: Arc<str>,
    /// All labels, including `le` and `quantile` where present.
    pub labels: Arc<Labels>,
    /// The value; may be NaN or ±infinity.
    pub value: f64,
}

/// A family's type as its `# TYPE` line declares it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricType {
    /// `counter`: only grows, except on a restart.
    Counter,
    /// `gauge`: goes up and down.
    Gauge,
    /// `histogram`: `_bucket{le}`, `_sum` and `_count` samples.
    Histogram,
    /// `summary`: `{quantile}`, `_sum` and `_count` samples.
    Summary,
    /// `untyped`, `unknown` or any type this reader does not model.
    Untyped,
}

impl MetricType {
    /// The type named on a `# TYPE` line; anything unmodelled is untyped.
    fn from_word(word: &str) -> Self {
        match word {
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "histogram" => MetricType::Histogram,
            "summary" => MetricType::Summary,
            _ => MetricType::Untyped,
        }
    }
}

/// The suffix OpenMetrics adds to a counter family's name on its samples
/// (`# TYPE requests counter` then `requests_total 3`).
const COUNTER_SUFFIX: &str = "_total";

/// All samples from one scrape (or from several merged with [`Snapshot::extend`]).
#[derive(Default, Clone, Debug)]
pub struct Snapshot {
    /// The samples; [`Snapshot::parse`] returns them in [`Snapshot::to_text`] order.
    pub samples: Vec<Sample>,
    /// Family name → type, from the `# TYPE` lines (and [`Snapshot::declare`]); shared
    /// between the points of a [`Series`] while it does not change.
    pub types: Arc<BTreeMap<String, MetricType>>,
}

impl Snapshot {
    /// Parses the Prometheus text format. Comments, `# HELP` and `# TYPE`
    /// lines and blank lines are accepted; timestamps are ignored. Fails on
    /// the first line that is neither a comment nor a sample with a numeric
    /// value, naming its line number.
    pub fn parse(text: &str) -> Result<Snapshot, MetricsError> {
        let mut snapshot = Snapshot::default();
        for (index, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if let Some((name, kind)) = type_line(line) {
                snapshot.declare(name, kind);
            }
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let sample = parse_line(line).map_err(|reason| MetricsError::Format {
                line: index + 1,
                text: raw.trim().to_owned(),
                reason,
            })?;
            snapshot.samples.push(sample);
        }
        snapshot.samples.sort_by(sample_order);
        Ok(snapshot)
    }

    /// Appends all of `other`'s samples (for example the harness's own
    /// samples to an engine scrape), keeping both orders, and its types.
    pub fn extend(&mut self, other: Snapshot) {
        self.merge_types(&other);
        self.samples.extend(other.samples);
    }

    /// Adds `other`'s declared types to this snapshot's.
    pub fn merge_types(&mut self, other: &Snapshot) {
        if other.types.is_empty() {
            return;
        }
        let types = Arc::make_mut(&mut self.types);
        types.extend(other.types.iter().map(|(k, v)| (k.clone(), *v)));
    }

    /// Records a family's type, as a `# TYPE` line does.
    pub fn declare(&mut self, family: impl Into<String>, kind: MetricType) {
        Arc::make_mut(&mut self.types).insert(family.into(), kind);
    }

    /// The declared type of the family a sample named `name` belongs to:
    /// the name itself, or for `<f>_total` a counter family `<f>`
    /// (OpenMetrics), or for `<f>_bucket`/`_count`/`_sum` a histogram or
    /// summary family `<f>`. `None` when nothing was declared.
    pub fn type_of(&self, name: &str) -> Option<MetricType> {
        if let Some(kind) = self.types.get(name) {
            return Some(*kind);
        }
        let family = |suffix: &str| {
            name.strip_suffix(suffix)
                .and_then(|base| self.types.get(base))
                .copied()
        };
        if family(COUNTER_SUFFIX) == Some(MetricType::Counter) {
            return Some(MetricType::Counter);
        }
        ["_bucket", "_count", "_sum"]
            .iter()
            .filter_map(|suffix| family(suffix))
            .find(|kind| matches!(kind, MetricType::Histogram | MetricType::Summary))
    }

    /// Appends one sample; how the harness publishes its own measurements.
    pub fn push(&mut self, name: impl Into<String>, labels: &[(&str, &str)], value: f64) {
        let labels = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.samples.push(Sample {
            name: Arc::from(name.into()),
            labels: Arc::new(labels),
            value,
        });
    }

    /// The value of the first sample with exactly this name and label set, if any.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples
            .iter()
            .find(|s| {
                *s.name == *name
                    && s.labels.len() == labels.len()
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.value)
    }

    /// Renders the samples in the Prometheus text format, one per line, in a
    /// stable order (by name, then labels, with `le`/`quantile` numerically),
    /// without `# TYPE` lines: [`Snapshot::parse`] reads the result back to
    /// the same flat samples.
    pub fn to_text(&self) -> String {
        let mut sorted: Vec<&Sample> = self.samples.iter().collect();
        sorted.sort_by(|a, b| sample_order(a, b));
        let mut out = String::new();
        for sample in sorted {
            out.push_str(&sample.name);
            if !sample.labels.is_empty() {
                out.push('{');
                for (i, (k, v)) in sample.labels.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "{k}=\"{}\"", escape(v));
                }
                out.push('}');
            }
            let _ = writeln!(out, " {}", format_value(sample.value));
        }
        out
    }
}

/// `# TYPE <family> <type>` → the family and its type.
fn type_line(line: &str) -> Option<(&str, MetricType)> {
    let mut words = line.strip_prefix('#')?.split_whitespace();
    if words.next()? != "TYPE" {
        return None;
    }
    let family = words.next()?;
    Some((family, MetricType::from_word(words.next()?)))
}

/// One scrape in a [`Series`], named for where in the run it was taken.
#[derive(Clone, Debug)]
pub struct Point {
    /// Where in the run: for example `before`, `block 12`, `end`.
    pub label: String,
    /// The block this point was scraped after, for points taken after a block.
    pub block: Option<u64>,
    /// What was scraped (and pushed) at that moment.
    pub snapshot: Snapshot,
    /// The mock's exact samples of its `cowload_*` histograms since the point before (see
    /// [`exact`]); `None` where the harness had none to give (a series built from text).
    pub exact: Option<exact::ExactByKind>,
}

/// Scrapes in time order: the first point is taken before the load starts and
/// the last at the end of the run. Bars judge the load window
/// ([`Series::window`]): from the point that opened it to the last.
#[derive(Default, Clone, Debug)]
pub struct Series {
    /// The points, oldest first.
    pub points: Vec<Point>,
    /// Index of the point that opens the load window: the last scrape taken
    /// before the first loaded block was mined. `None`: the whole series.
    pub window_start: Option<usize>,
    /// The one copy of every name, label set and type table the points share.
    interned: Interned,
}

/// What the points of a [`Series`] share: scrapes repeat the same series, so each name,
/// label set and `# TYPE` table is kept once and every point holds a reference to it.
#[derive(Default, Clone, Debug)]
struct Interned {
    names: HashSet<Arc<str>>,
    labels: HashSet<Arc<Labels>>,
    types: Option<Arc<BTreeMap<String, MetricType>>>,
}

impl Interned {
    fn intern(&mut self, snapshot: &mut Snapshot) {
        for sample in &mut snapshot.samples {
            sample.name = share(&mut self.names, &sample.name);
            sample.labels = share(&mut self.labels, &sample.labels);
        }
        match &self.types {
            Some(types) if **types == *snapshot.types => snapshot.types = Arc::clone(types),
            _ => self.types = Some(Arc::clone(&snapshot.types)),
        }
    }
}

/// The set's copy of `value`, which is added when the set has none.
fn share<T: ?Sized + Eq + std::hash::Hash>(set: &mut HashSet<Arc<T>>, value: &Arc<T>) -> Arc<T> {
    match set.get(value) {
        Some(kept) => Arc::clone(kept),
        None => {
            set.insert(Arc::clone(value));
            Arc::clone(value)
        }
    }
}

impl Series {
    /// An empty series.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the newest point. Its samples' names and label sets are swapped for the
    /// copies earlier points hold, so each series' identity is kept once.
    pub fn push(&mut self, label: impl Into<String>, mut snapshot: Snapshot) {
        self.interned.intern(&mut snapshot);
        self.points.push(Point {
            label: label.into(),
            block: None,
            snapshot,
            exact: None,
        });
    }

    /// Test set-up: a point labelled as the pipeline labels them (`block N` for blocks).
    #[cfg(test)]
    pub(crate) fn push_labelled(&mut self, label: &str, snapshot: Snapshot) {
        match label.strip_prefix("block ").and_then(|n| n.parse().ok()) {
            Some(number) => self.push_block(number, snapshot),
            None => self.push(label, snapshot),
        }
    }

    /// Appends the point scraped after block `number` (labelled `block N`), interned as
    /// [`Series::push`] does.
    pub fn push_block(&mut self, number: u64, mut snapshot: Snapshot) {
        self.interned.intern(&mut snapshot);
        self.points.push(Point {
            label: format!("block {number}"),
            block: Some(number),
            snapshot,
            exact: None,
        });
    }

    /// Gives the newest point the exact samples taken with its scrape.
    pub fn attach_exact(&mut self, exact: exact::ExactByKind) {
        if let Some(point) = self.points.last_mut() {
            point.exact = Some(exact);
        }
    }

    /// The point scraped after block `number`.
    pub fn at_block(&self, number: u64) -> Option<&Point> {
        self.points.iter().find(|p| p.block == Some(number))
    }

    /// The type any scrape declared for the family of `name` (see
    /// [`Snapshot::type_of`]); the newest declaration wins.
    pub fn type_of(&self, name: &str) -> Option<MetricType> {
        type_of(&self.points, name)
    }

    /// Opens the load window at the newest point: called when the first
    /// loaded block has been mined, before its own scrape, so the window's
    /// baseline is the state just before the load and nothing observed
    /// during warm-up counts.
    pub fn open_window(&mut self) {
        self.window_start = Some(self.points.len().saturating_sub(1));
    }

    /// Marks the window empty (no loaded block was ever mined) unless it was opened.
    pub fn close_unopened_window(&mut self) {
        if self.window_start.is_none() {
            self.window_start = Some(self.points.len());
        }
    }

    /// The points bars judge: the load window, or every point when no
    /// window was set.
    pub fn window(&self) -> &[Point] {
        let start = self.window_start.unwrap_or(0).min(self.points.len());
        &self.points[start..]
    }
}

/// The type any of `points` declared for the family of `name`; the newest wins.
pub fn type_of(points: &[Point], name: &str) -> Option<MetricType> {
    points.iter().rev().find_map(|p| p.snapshot.type_of(name))
}

/// GETs `url` within `timeout` and returns the raw body (to keep as a file)
/// and its parsed snapshot. Any non-2xx status or unparseable body is an
/// error naming the URL. `client` should be built with `.no_proxy()`: the
/// scraped endpoints are loopback.
pub async fn scrape(
    client: &reqwest::Client,
    url: &str,
    timeout: Duration,
) -> Result<(String, Snapshot), MetricsError> {
    let failed = |source: reqwest::Error| {
        if source.is_timeout() {
            MetricsError::Timeout {
                url: url.to_owned(),
                timeout,
            }
        } else {
            MetricsError::Request {
                url: url.to_owned(),
                source,
            }
        }
    };
    let response = client
        .get(url)
        .timeout(timeout)
        .send()
        .await
        .map_err(failed)?;
    let status = response.status();
    if !status.is_success() {
        return Err(MetricsError::Status {
            url: url.to_owned(),
            status: status.as_u16(),
        });
    }
    let body = response.text().await.map_err(|source| {
        if source.is_timeout() {
            failed(source)
        } else {
            MetricsError::Body {
                url: url.to_owned(),
                source: Box::new(source),
            }
        }
    })?;
    let snapshot = Snapshot::parse(&body).map_err(|source| MetricsError::Body {
        url: url.to_owned(),
        source: Box::new(source),
    })?;
    Ok((body, snapshot))
}

/// Why a line is rejected.
const NOT_A_SAMPLE: &str = "expected `name{labels} value`";
const NOT_A_NUMBER: &str = "the value is not a number";
const BAD_LABELS: &str = "expected labels as name=\"value\" pairs";

/// Reads one sample line, `name{labels} value [timestamp]`, into a flat
/// [`Sample`]. Hand-written on purpose: the `prometheus-parse` crate ends the
/// label block at the first `}` and splits on every `,` and `=`, so label
/// values such as `route="/api/v1/orders/{uid}"` (which the mock and many
/// engines publish) break it.
fn parse_line(line: &str) -> Result<Sample, &'static str> {
    let name_end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(line.len());
    let name = &line[..name_end];
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(NOT_A_SAMPLE);
    }
    let rest = &line[name_end..];
    let (labels, rest) = match rest.strip_prefix('{') {
        Some(inner) => {
            let close = label_block_end(inner).ok_or(BAD_LABELS)?;
            (
                parse_labels(&inner[..close]).ok_or(BAD_LABELS)?,
                &inner[close + 1..],
            )
        }
        None => (BTreeMap::new(), rest),
    };
    if !rest.starts_with([' ', '\t']) {
        return Err(NOT_A_SAMPLE);
    }
    let mut fields = rest.split_whitespace();
    let value = parse_value(fields.next().ok_or(NOT_A_SAMPLE)?).ok_or(NOT_A_NUMBER)?;
    let timestamp_ok = fields.next().is_none_or(|t| t.parse::<i64>().is_ok());
    if !timestamp_ok || fields.next().is_some() {
        return Err(NOT_A_SAMPLE);
    }
    Ok(Sample {
        name: Arc::from(name),
        labels: Arc::new(labels),
        value,
    })
}

/// Index of the `}` that closes a label block, skipping quoted values.
fn label_block_end(inner: &str) -> Option<usize> {
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, c) in inner.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            '}' if !in_quotes => return Some(i),
            _ => {}
        }
    }
    None
}

/// A sample value as the text format writes it (Go float syntax).
pub(crate) fn parse_value(text: &str) -> Option<f64> {
    match text {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => text.parse().ok(),
    }
}

/// A float as the text format writes it.
fn format_value(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value == f64::INFINITY {
        "+Inf".to_owned()
    } else if value == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else {
        value.to_string()
    }
}

/// The text between `{` and `}`: `name="value"` pairs separated by commas
/// (a trailing comma is allowed), values with `\\`, `\"` and `\n` escapes.
/// `None` when it does not have that shape.
fn parse_labels(text: &str) -> Option<BTreeMap<String, String>> {
    let mut labels = BTreeMap::new();
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        let (name, after) = rest.split_once('=')?;
        let name = name.trim();
        let valid_name = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_name {
            return None;
        }
        let (value, after) = quoted(after.trim_start())?;
        labels.insert(name.to_owned(), value);
        let after = after.trim_start();
        rest = match after.strip_prefix(',') {
            Some(more) => more.trim_start(),
            None if after.is_empty() => after,
            None => return None,
        };
    }
    Some(labels)
}

/// Splits a leading `"…"` string off `text`, undoing escapes.
fn quoted(text: &str) -> Option<(String, &str)> {
    let body = text.strip_prefix('"')?;
    let mut value = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((value, &body[i + 1..])),
            '\\' => match chars.next()?.1 {
                'n' => value.push('\n'),
                other => value.push(other),
            },
            _ => value.push(c),
        }
    }
    None
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Name, then labels other than `le`/`quantile`, then `le`, then `quantile`
/// (both compared as numbers so `+Inf` sorts last).
fn sample_order(a: &Sample, b: &Sample) -> Ordering {
    let plain = |s: &Sample| {
        s.labels
            .iter()
            .filter(|(k, _)| *k != label::LE && *k != label::QUANTILE)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<Vec<_>>()
    };
    let bound = |s: &Sample, key: &str| s.labels.get(key).and_then(|v| parse_value(v));
    let numeric = |x: Option<f64>, y: Option<f64>| match (x, y) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        (x, y) => x.is_some().cmp(&y.is_some()),
    };
    a.name
        .cmp(&b.name)
        .then_with(|| plain(a).cmp(&plain(b)))
        .then_with(|| numeric(bound(a, label::LE), bound(b, label::LE)))
        .then_with(|| numeric(bound(a, label::QUANTILE), bound(b, label::QUANTILE)))
        .then_with(|| a.labels.cmp(&b.labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn sample(name: &str, pairs: &[(&str, &str)], value: f64) -> Sample {
        Sample {
            name: Arc::from(name),
            labels: Arc::new(labels(pairs)),
            value,
        }
    }

    const HISTOGRAM: &str = "\
# HELP lat_seconds latency
# TYPE lat_seconds histogram
lat_seconds_bucket{kind=\"twap\",le=\"0.1\"} 2
lat_seconds_bucket{kind=\"twap\",le=\"1\"} 5
lat_seconds_bucket{kind=\"twap\",le=\"+Inf\"} 6
lat_seconds_sum{kind=\"twap\"} 3.5
lat_seconds_count{kind=\"twap\"} 6
";

    /// A flat sample written as (name, labels, value).
    type Flat<'a> = (&'a str, &'a [(&'a str, &'a str)], f64);

    const HISTOGRAM_FLAT: &[Flat] = &[
        (
            "lat_seconds_bucket",
            &[("kind", "twap"), ("le", "0.1")],
            2.0,
        ),
        ("lat_seconds_bucket", &[("kind", "twap"), ("le", "1")], 5.0),
        (
            "lat_seconds_bucket",
            &[("kind", "twap"), ("le", "+Inf")],
            6.0,
        ),
        ("lat_seconds_count", &[("kind", "twap")], 6.0),
        ("lat_seconds_sum", &[("kind", "twap")], 3.5),
    ];

    #[test]
    fn a_series_keeps_one_copy_of_each_name_and_label_set() {
        let text = "# TYPE up gauge\nup{job=\"a\"} 1\nup{job=\"b\"} 0\n";
        let mut series = Series::new();
        series.push("before", Snapshot::parse(text).unwrap());
        series.push_block(1, Snapshot::parse(&text.replace(" 0\n", " 1\n")).unwrap());
        let [first, second] = [&series.points[0].snapshot, &series.points[1].snapshot];
        for (a, b) in first.samples.iter().zip(&second.samples) {
            assert!(Arc::ptr_eq(&a.name, &b.name) && Arc::ptr_eq(&a.labels, &b.labels));
        }
        assert!(Arc::ptr_eq(&first.types, &second.types));
        // Shared, not merged: each point keeps its own values.
        assert_eq!(first.value("up", &[("job", "b")]), Some(0.0));
        assert_eq!(second.value("up", &[("job", "b")]), Some(1.0));
        // A new label set is kept as it comes.
        let mut other = Snapshot::parse("up{job=\"c\"} 1\n").unwrap();
        other.declare("up", MetricType::Gauge);
        series.push_block(2, other);
        assert_eq!(
            series.points[2].snapshot.value("up", &[("job", "c")]),
            Some(1.0)
        );
    }

    #[test]
    fn parse_flattens_every_metric_type() {
        let untyped_histogram = HISTOGRAM
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n");
        type Case<'a> = (
            &'a str,
            String,
            Vec<(&'a str, &'a [(&'a str, &'a str)], f64)>,
        );
        let cases: Vec<Case> =
            vec![
            (
                "counter with labels and timestamp",
                "# TYPE c_total counter\nc_total{kind=\"twap\",outcome=\"ok\"} 7 1700000000000\n"
                    .into(),
                vec![("c_total", &[("kind", "twap"), ("outcome", "ok")], 7.0)],
            ),
            (
                "gauge, untyped, no labels, exponent",
                "# TYPE g gauge\ng 1.5e3\nu -2\n".into(),
                vec![("g", &[], 1500.0), ("u", &[], -2.0)],
            ),
            (
                "space after comma and empty braces",
                "c{a=\"1\", b=\"2\"} 3\nd{} 4\n".into(),
                vec![("c", &[("a", "1"), ("b", "2")], 3.0), ("d", &[], 4.0)],
            ),
            (
                "escaped label value",
                "c{path=\"C:\\\\x\",msg=\"say \\\"hi\\\"\"} 1\n".into(),
                vec![("c", &[("msg", "say \"hi\""), ("path", "C:\\x")], 1.0)],
            ),
            ("typed histogram", HISTOGRAM.into(), HISTOGRAM_FLAT.to_vec()),
            ("untyped histogram", untyped_histogram, HISTOGRAM_FLAT.to_vec()),
            (
                "summary",
                "# TYPE s_seconds summary\n\
                 s_seconds{kind=\"twap\",quantile=\"0.99\"} 1.2\n\
                 s_seconds{kind=\"twap\",quantile=\"0.5\"} 0.3\n\
                 s_seconds_sum{kind=\"twap\"} 9\n\
                 s_seconds_count{kind=\"twap\"} 20\n"
                    .into(),
                vec![
                    ("s_seconds", &[("kind", "twap"), ("quantile", "0.5")], 0.3),
                    ("s_seconds", &[("kind", "twap"), ("quantile", "0.99")], 1.2),
                    ("s_seconds_count", &[("kind", "twap")], 20.0),
                    ("s_seconds_sum", &[("kind", "twap")], 9.0),
                ],
            ),
            (
                "comma, equals sign and trailing comma in labels",
                "c{q=\"a,b=c\",k=\"v\",} 1\n".into(),
                vec![("c", &[("k", "v"), ("q", "a,b=c")], 1.0)],
            ),
            (
                "infinities",
                "a +Inf\nb -Inf\n".into(),
                vec![("a", &[], f64::INFINITY), ("b", &[], f64::NEG_INFINITY)],
            ),
            ("empty", "\n# just a comment\n".into(), vec![]),
        ];
        for (name, text, want) in cases {
            let got = Snapshot::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            let want: Vec<Sample> = want.iter().map(|(n, l, v)| sample(n, l, *v)).collect();
            assert_eq!(got.samples, want, "{name}");
        }
    }

    #[test]
    fn parse_accepts_braces_commas_and_equals_inside_label_values() {
        let text =
            "req_total{route=\"/api/v1/orders/{uid}\",q=\"a,b=c\"} 3\nreq_total{} 4 1700000000\n";
        let snapshot = Snapshot::parse(text).unwrap();
        assert_eq!(
            snapshot.value(
                "req_total",
                &[("route", "/api/v1/orders/{uid}"), ("q", "a,b=c")]
            ),
            Some(3.0)
        );
        assert_eq!(snapshot.value("req_total", &[]), Some(4.0));
    }

    #[test]
    fn type_lines_are_kept_per_family_and_kind_never_comes_from_the_name() {
        let text = "\
# HELP errors_total errors
# TYPE errors_total counter
# TYPE queue_total gauge
queue_total 4
# TYPE requests counter
requests_total 3
# TYPE lat_seconds histogram
lat_seconds_bucket{le=\"+Inf\"} 1
# TYPE odd info
#TYPE tight gauge
";
        let s = Snapshot::parse(text).unwrap();
        // Declared without samples: known, and a counter.
        assert_eq!(s.type_of("errors_total"), Some(MetricType::Counter));
        assert!(s.samples.iter().all(|x| &*x.name != "errors_total"));
        // A gauge named *_total is a gauge.
        assert_eq!(s.type_of("queue_total"), Some(MetricType::Gauge));
        // OpenMetrics: the family is `requests`, the samples `requests_total`.
        assert_eq!(s.type_of("requests_total"), Some(MetricType::Counter));
        assert_eq!(s.type_of("lat_seconds_bucket"), Some(MetricType::Histogram));
        assert_eq!(s.type_of("lat_seconds_count"), Some(MetricType::Histogram));
        assert_eq!(s.type_of("odd"), Some(MetricType::Untyped));
        assert_eq!(s.type_of("tight"), Some(MetricType::Gauge));
        assert_eq!(s.type_of("never_declared_total"), None);
        // A gauge family `queue` does not make `queue_total` a counter.
        let g = Snapshot::parse("# TYPE queue gauge\nqueue_total 1\n").unwrap();
        assert_eq!(g.type_of("queue_total"), None);
        // Types survive a merge and are found across a series.
        let mut merged = Snapshot::default();
        merged.extend(s);
        let mut series = Series::new();
        series.push("before", merged);
        series.push("end", Snapshot::default());
        assert_eq!(series.type_of("queue_total"), Some(MetricType::Gauge));
        assert_eq!(series.type_of("errors_total"), Some(MetricType::Counter));
    }

    #[test]
    fn parse_keeps_nan() {
        let got = Snapshot::parse("# TYPE s summary\ns{quantile=\"0.9\"} NaN\n").unwrap();
        assert_eq!(got.samples.len(), 1);
        assert_eq!(*got.samples[0].labels, labels(&[("quantile", "0.9")]));
        assert!(got.samples[0].value.is_nan());
    }

    #[test]
    fn parse_rejects_lines_that_are_not_samples() {
        let cases = [
            ("<html>\n", 1, "<html>"),
            ("a 1\n{\"json\": true}\n", 2, "{\"json\": true}"),
            ("a 1\n\nb one\n", 3, "b one"),
            ("just_a_name\n", 1, "just_a_name"),
            ("c{kind=twap} 1\n", 1, "c{kind=twap} 1"),
            (
                "c{kind=\"twap\" x=\"y\"} 1\n",
                1,
                "c{kind=\"twap\" x=\"y\"} 1",
            ),
            ("c{kind=\"twap} 1\n", 1, "c{kind=\"twap} 1"),
            ("c{1a=\"x\"} 1\n", 1, "c{1a=\"x\"} 1"),
        ];
        for (text, want_line, want_text) in cases {
            match Snapshot::parse(text) {
                Err(MetricsError::Format { line, text, .. }) => {
                    assert_eq!((line, text.as_str()), (want_line, want_text), "{text}");
                }
                other => panic!("{text:?}: expected a format error, got {other:?}"),
            }
        }
        let message = Snapshot::parse("x\n").unwrap_err().to_string();
        assert!(message.starts_with("line 1: "), "{message}");
    }

    #[test]
    fn to_text_is_sorted_and_parses_back_to_the_same_samples() {
        let mut snapshot = Snapshot::default();
        snapshot.push("z_total", &[], 1.0);
        snapshot.push("h_bucket", &[("le", "+Inf")], 9.0);
        snapshot.push("h_bucket", &[("le", "10")], 8.0);
        snapshot.push("h_bucket", &[("le", "2.5")], 3.0);
        snapshot.push("q", &[("quantile", "0.99"), ("k", "b")], 4.0);
        snapshot.push("q", &[("quantile", "0.5"), ("k", "a")], 2.0);
        snapshot.push("e", &[("msg", "a \"b\"\\c\nd")], 0.25);
        let text = snapshot.to_text();
        assert_eq!(
            text,
            "e{msg=\"a \\\"b\\\"\\\\c\\nd\"} 0.25\n\
             h_bucket{le=\"2.5\"} 3\n\
             h_bucket{le=\"10\"} 8\n\
             h_bucket{le=\"+Inf\"} 9\n\
             q{k=\"a\",quantile=\"0.5\"} 2\n\
             q{k=\"b\",quantile=\"0.99\"} 4\n\
             z_total 1\n"
        );
        let back = Snapshot::parse(&text).unwrap();
        let mut want = snapshot.samples.clone();
        want.sort_by(sample_order);
        assert_eq!(back.samples, want);
        assert_eq!(Snapshot::parse(&back.to_text()).unwrap().to_text(), text);
    }

    #[test]
    fn to_text_writes_special_values_in_go_syntax() {
        let mut snapshot = Snapshot::default();
        snapshot.push("a", &[], f64::NAN);
        snapshot.push("b", &[], f64::INFINITY);
        snapshot.push("c", &[], f64::NEG_INFINITY);
        assert_eq!(snapshot.to_text(), "a NaN\nb +Inf\nc -Inf\n");
    }

    #[test]
    fn push_extend_and_value() {
        let mut a = Snapshot::default();
        a.push("x_total", &[("kind", "twap")], 3.0);
        let mut b = Snapshot::default();
        b.push("x_total", &[("kind", "ethflow")], 4.0);
        b.push("y", &[], 5.0);
        a.extend(b);
        assert_eq!(a.samples.len(), 3);
        assert_eq!(a.value("x_total", &[("kind", "ethflow")]), Some(4.0));
        assert_eq!(a.value("x_total", &[("kind", "twap")]), Some(3.0));
        assert_eq!(a.value("x_total", &[]), None);
        assert_eq!(a.value("y", &[]), Some(5.0));
        assert_eq!(a.value("y", &[("kind", "twap")]), None);
    }

    #[test]
    fn the_window_opens_at_the_newest_point_and_runs_to_the_end() {
        let mut series = Series::new();
        for label in ["start", "block 1", "block 2"] {
            series.push(label, Snapshot::default());
        }
        let labels =
            |s: &Series| -> Vec<String> { s.window().iter().map(|p| p.label.clone()).collect() };
        assert_eq!(labels(&series), ["start", "block 1", "block 2"]);
        series.open_window();
        series.push("block 3", Snapshot::default());
        series.push("end", Snapshot::default());
        series.close_unopened_window();
        assert_eq!(labels(&series), ["block 2", "block 3", "end"]);
        let mut never = Series::new();
        never.push("start", Snapshot::default());
        never.close_unopened_window();
        assert!(never.window().is_empty());
    }

    #[test]
    fn series_keeps_time_order() {
        let mut series = Series::new();
        series.push("before", Snapshot::default());
        series.push("end", Snapshot::default());
        let labels: Vec<&str> = series.points.iter().map(|p| p.label.as_str()).collect();
        assert_eq!(labels, ["before", "end"]);
    }

    /// Serves one canned HTTP response on 127.0.0.1 and returns its URL.
    async fn serve_once(response: String) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf).await;
            if !response.is_empty() {
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            } else {
                // Never answer: hold the connection until the client gives up.
                let _ = stream.read(&mut buf).await;
            }
        });
        format!("http://{addr}/metrics")
    }

    fn http(status: &str, body: &str) -> String {
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\
             connection: close\r\n\r\n{body}",
            body.len()
        )
    }

    fn client() -> reqwest::Client {
        reqwest::Client::builder().no_proxy().build().unwrap()
    }

    #[tokio::test]
    async fn scrape_returns_raw_body_and_snapshot() {
        let url = serve_once(http("200 OK", HISTOGRAM)).await;
        let (raw, snapshot) = scrape(&client(), &url, Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(raw, HISTOGRAM);
        assert_eq!(
            snapshot.value("lat_seconds_count", &[("kind", "twap")]),
            Some(6.0)
        );
        assert_eq!(
            snapshot.value("lat_seconds_bucket", &[("kind", "twap"), ("le", "+Inf")]),
            Some(6.0)
        );
    }

    #[tokio::test]
    async fn scrape_errors_name_the_url() {
        let url = serve_once(http("503 Service Unavailable", "down")).await;
        let err = scrape(&client(), &url, Duration::from_secs(10))
            .await
            .unwrap_err();
        assert!(
            matches!(err, MetricsError::Status { status: 503, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains(&url), "{err}");

        let url = serve_once(http("200 OK", "<html>oops</html>")).await;
        let err = scrape(&client(), &url, Duration::from_secs(10))
            .await
            .unwrap_err();
        assert!(matches!(err, MetricsError::Body { .. }), "{err:?}");
        assert!(err.to_string().contains(&url), "{err}");
        let cause = std::error::Error::source(&err).map(ToString::to_string);
        assert_eq!(
            cause.as_deref(),
            Some("line 1: expected `name{labels} value`: `<html>oops</html>`")
        );

        let url = serve_once(String::new()).await;
        let err = scrape(&client(), &url, Duration::from_millis(200))
            .await
            .unwrap_err();
        assert!(matches!(err, MetricsError::Timeout { .. }), "{err:?}");
        assert!(err.to_string().contains(&url), "{err}");
    }

    #[tokio::test]
    async fn scrape_of_a_closed_port_is_a_request_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/metrics", listener.local_addr().unwrap());
        drop(listener);
        let err = scrape(&client(), &url, Duration::from_secs(10))
            .await
            .unwrap_err();
        assert!(matches!(err, MetricsError::Request { .. }), "{err:?}");
        assert!(err.to_string().contains(&url), "{err}");
    }
}
