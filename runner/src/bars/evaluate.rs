//! Evaluating bars over the load window. Every path either produces a finite
//! (or infinite) observed value or a reason why there is no data; NaN never
//! reaches a comparison.

use std::collections::{BTreeMap, BTreeSet};

use cowload_spec::bars::{Arith, Bar, Bucket, Func, Measure, Selector, Unit, Verdict};
use cowload_spec::names::label;
use cowload_spec::{EventKind, ExactHistogram};

use crate::metrics::{self, exact, parse_value, MetricType, Point, Sample, Series, Snapshot};

type Labels = BTreeMap<String, String>;

/// Why a bar has no data, for [`Verdict::reason`].
type NoData = String;

/// What a bar read: a value, and for a histogram quantile the bucket it was
/// interpolated in.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Reading {
    value: f64,
    bucket: Option<Bucket>,
}

impl From<f64> for Reading {
    fn from(value: f64) -> Self {
        Reading {
            value,
            bucket: None,
        }
    }
}

/// Evaluates each bar over the load window of `series` ([`Series::window`]:
/// from the last scrape before the first loaded block was mined to the end
/// of drain), in order. A bar with no data — no scrape in the window, metric
/// missing, no matching label set, NaN, no observations in the window —
/// fails with `observed: None` and a reason.
pub fn evaluate(bars: &[Bar], series: &Series) -> Vec<Verdict> {
    let window = series.window();
    if window.is_empty() && !series.points.is_empty() {
        let why = "no scrape falls in the load window: the run never mined a loaded block";
        return bars
            .iter()
            .map(|bar| no_data(bar, why.to_owned()))
            .collect();
    }
    evaluate_over(bars, window)
}

/// Evaluates each bar over exactly `points` (oldest first), whatever window
/// their series has: for readings of a chosen interval, such as one block's.
pub fn evaluate_over(bars: &[Bar], points: &[Point]) -> Vec<Verdict> {
    bars.iter().map(|bar| verdict(bar, points)).collect()
}

fn no_data(bar: &Bar, reason: String) -> Verdict {
    let mut verdict = verdict(bar, &[]);
    verdict.reason = Some(reason);
    verdict
}

fn verdict(bar: &Bar, series: &[Point]) -> Verdict {
    let mut verdict = Verdict {
        bar: bar.text.clone(),
        observed: None,
        limit: bar.limit,
        op: bar.op,
        unit: measure(bar),
        holds: false,
        reason: None,
        bucket: None,
    };
    match observe(bar, series) {
        Ok(reading) if reading.value.is_nan() => {
            verdict.reason = Some(format!("{} is NaN", bar.selector));
        }
        Ok(reading) => {
            let (holds, undecided) = judge(bar, reading);
            verdict.observed = Some(reading.value);
            verdict.bucket = reading.bucket;
            verdict.holds = holds;
            verdict.reason = undecided;
        }
        Err(reason) => verdict.reason = Some(reason),
    }
    verdict
}

/// What the bar's value is measured in, for display: from the unit written after the limit,
/// else from the metric's name (`_seconds`, `_bytes`); a ratio of two series has no unit.
fn measure(bar: &Bar) -> Measure {
    let ratio = bar.binary.as_ref().is_some_and(|b| b.op == Arith::Div);
    let name = &bar.selector.name;
    let named = |suffix: &str| !ratio && name.ends_with(suffix);
    match bar.unit {
        Unit::ByteRate => Measure::BytesPerSecond,
        Unit::Rate if named("_bytes") => Measure::BytesPerSecond,
        Unit::Rate => Measure::PerSecond,
        Unit::Bytes => Measure::Bytes,
        Unit::Time => Measure::Seconds,
        Unit::None | Unit::Percent if named("_seconds") => Measure::Seconds,
        Unit::None | Unit::Percent if named("_bytes") => Measure::Bytes,
        Unit::None | Unit::Percent => Measure::Plain,
    }
}

/// Whether the bar holds on `reading`, and why not when the reading is only
/// a bound ("above the top bucket") that cannot decide it.
fn judge(bar: &Bar, reading: Reading) -> (bool, Option<String>) {
    let Some(bucket) = reading.bucket.filter(Bucket::is_above_top) else {
        return (bar.op.holds(reading.value, bar.limit), None);
    };
    match bar.op.holds_above(bucket.lower, bar.limit) {
        Some(holds) => (holds, None),
        None => (
            false,
            Some(format!(
                "the quantile lies in the +Inf bucket, above the top finite bound {}, so its \
                 value is unknown and `{} {}` cannot be decided",
                bucket.lower,
                bar.op.symbol(),
                bar.limit
            )),
        ),
    }
}

fn observe(bar: &Bar, series: &[Point]) -> Result<Reading, NoData> {
    if series.is_empty() {
        return Err("no scrapes were taken, so there is nothing to evaluate".to_owned());
    }
    let over_window = match (&bar.func, &bar.binary) {
        (Func::Increase | Func::Quantile(_) | Func::Deriv, _) => true,
        (_, Some(binary)) => binary.over_window,
        _ => false,
    };
    if over_window && series.len() < 2 {
        return Err(format!(
            "the window holds a single scrape ({}), so nothing can have been observed within it",
            series[0].label
        ));
    }
    if let Some(binary) = &bar.binary {
        return binary::observe(bar, binary, series).map(Reading::from);
    }
    let sel = &bar.selector;
    match bar.func {
        Func::Last => last(sel, series).map(Reading::from),
        Func::Max => extreme(sel, series, f64::max).map(Reading::from),
        Func::Min => extreme(sel, series, f64::min).map(Reading::from),
        Func::Increase => Ok(Reading::from(increases(sel, series)?.values().sum::<f64>())),
        Func::Quantile(q) => quantile(q, sel, series),
        Func::Deriv => deriv::observe(sel, series).map(Reading::from),
    }
}

/// How a selector reads a scrape: the samples it selects.
trait Select {
    /// True when `sample` is named as the selector says and every matcher holds.
    fn matches(&self, sample: &Sample) -> bool;
    /// The samples of `snapshot` it selects.
    fn select<'a>(&'a self, snapshot: &'a Snapshot) -> impl Iterator<Item = &'a Sample> + 'a;
}

impl Select for Selector {
    fn matches(&self, sample: &Sample) -> bool {
        *sample.name == *self.name && self.matchers.iter().all(|m| m.matches(&sample.labels))
    }

    fn select<'a>(&'a self, snapshot: &'a Snapshot) -> impl Iterator<Item = &'a Sample> + 'a {
        snapshot.samples.iter().filter(|s| Select::matches(self, s))
    }
}

/// The sum of the selected samples in one snapshot, or `None` when none is
/// selected (0 for a selector written with `or 0`).
fn sum_at(sel: &Selector, snapshot: &Snapshot) -> Result<Option<f64>, NoData> {
    let selected: Vec<&Sample> = sel.select(snapshot).collect();
    if selected.is_empty() {
        return Ok(sel.absent_is_zero.then_some(0.0));
    }
    refuse_mixed_quantiles(sel, &selected)?;
    Ok(Some(selected.iter().map(|s| s.value).sum()))
}

/// Adding up a summary's different quantiles is meaningless; say how to pick one.
fn refuse_mixed_quantiles(sel: &Selector, selected: &[&Sample]) -> Result<(), NoData> {
    let quantiles: BTreeSet<&str> = selected
        .iter()
        .filter_map(|s| s.labels.get(label::QUANTILE).map(String::as_str))
        .collect();
    if quantiles.len() > 1 {
        return Err(format!(
            "{sel} selects several quantiles of a summary; pick one with {{quantile=\"0.99\"}} \
             or use quantile(0.99, {})",
            sel.name
        ));
    }
    Ok(())
}

fn last(sel: &Selector, series: &[Point]) -> Result<f64, NoData> {
    let point = series
        .last()
        .expect("observe checked the series is not empty");
    match sum_at(sel, &point.snapshot)? {
        Some(sum) if sum.is_nan() => {
            Err(format!("{sel} is NaN in the last scrape ({})", point.label))
        }
        Some(sum) => Ok(sum),
        None if seen_anywhere(sel, series) => Err(format!(
            "{sel} has samples in earlier scrapes but none in the last one ({})",
            point.label
        )),
        None => absent(sel, series),
    }
}

/// The largest (or smallest) per-scrape sum; scrapes without the metric and
/// NaN sums are skipped.
fn extreme(sel: &Selector, series: &[Point], pick: fn(f64, f64) -> f64) -> Result<f64, NoData> {
    let mut best: Option<f64> = None;
    let mut seen = false;
    for point in series {
        let Some(sum) = sum_at(sel, &point.snapshot)? else {
            continue;
        };
        seen = true;
        if !sum.is_nan() {
            best = Some(best.map_or(sum, |b| pick(b, sum)));
        }
    }
    match best {
        Some(value) => Ok(value),
        None if seen => Err(format!("{sel} is NaN in every scrape")),
        None => absent(sel, series),
    }
}

/// Per matching label set, how much the counter grew over the window: the
/// sum of the rises between consecutive scrapes where the series is present,
/// a drop counting as a reset (the new value is all growth since the
/// restart), and a series absent from the first scrape starting from 0.
/// With two scrapes this is `end − start`, or `end` after a reset.
fn increases(sel: &Selector, series: &[Point]) -> Result<BTreeMap<Labels, f64>, NoData> {
    let mut per_point: Vec<BTreeMap<&Labels, f64>> = Vec::with_capacity(series.len());
    for point in series {
        let selected: Vec<&Sample> = sel.select(&point.snapshot).collect();
        refuse_mixed_quantiles(sel, &selected)?;
        let mut values = BTreeMap::new();
        for sample in selected {
            if sample.value.is_nan() {
                return Err(format!(
                    "{}{} is NaN in scrape {}",
                    sel.name,
                    braces(&sample.labels),
                    point.label
                ));
            }
            *values.entry(&*sample.labels).or_insert(0.0) += sample.value;
        }
        per_point.push(values);
    }
    let ids: BTreeSet<&Labels> = per_point.iter().flat_map(|p| p.keys().copied()).collect();
    if ids.is_empty() {
        let zero = absent(sel, series)?;
        return Ok(BTreeMap::from([(Labels::new(), zero)]));
    }
    let mut out = BTreeMap::new();
    for id in ids {
        let mut previous = per_point[0].get(id).copied().unwrap_or(0.0);
        let mut growth = 0.0;
        for value in per_point[1..].iter().filter_map(|p| p.get(id).copied()) {
            growth += if value >= previous {
                value - previous
            } else {
                value
            };
            previous = value;
        }
        out.insert(id.clone(), growth);
    }
    Ok(out)
}

fn quantile(q: f64, sel: &Selector, series: &[Point]) -> Result<Reading, NoData> {
    if let Some(reading) = exact_quantile(q, sel, series) {
        return reading;
    }
    let buckets = sel.renamed(format!("{}_bucket", sel.name));
    let named = |name: &str| -> bool {
        series
            .iter()
            .any(|p| p.snapshot.samples.iter().any(|s| *s.name == *name))
    };
    if named(&buckets.name) {
        return histogram_quantile(q, sel, &buckets, series);
    }
    let is_summary = series.iter().any(|p| {
        p.snapshot
            .samples
            .iter()
            .any(|s| *s.name == *sel.name && s.labels.contains_key(label::QUANTILE))
    });
    if is_summary {
        return summary_quantile(q, sel, series).map(Reading::from);
    }
    let name = &sel.name;
    if named(name) {
        Err(format!(
            "metric `{name}` is neither a histogram (no `{name}_bucket` samples) nor a summary \
             (no `quantile` label), so it has no quantiles"
        ))
    } else {
        Err(format!(
            "metric `{name}` not found in any scrape (looked for a histogram `{name}_bucket` \
             and a summary `{name}{{quantile=…}}`)"
        ))
    }
}

/// A quantile of one of the harness's own histograms, read from its exact samples over the
/// window (nearest rank, [`exact::quantile`]): the figure the report prints, never a bucket
/// interpolation. `None` when the histogram is not one of those or the points carry no exact
/// samples (a series read from text), so the bucket path decides.
fn exact_quantile(q: f64, sel: &Selector, series: &[Point]) -> Option<Result<Reading, NoData>> {
    let histogram = ExactHistogram::from_name(&sel.name)?;
    let kind_matches = |kind: EventKind| {
        let labels = Labels::from([(label::KIND.to_owned(), kind.label().to_owned())]);
        sel.matchers.iter().all(|m| m.matches(&labels))
    };
    let samples = exact::samples(series, histogram, kind_matches)?;
    Some(match exact::quantile(&samples, q) {
        Some(value) => Ok(Reading::from(value)),
        None => Err(format!(
            "{sel}: no observations during the load window (the harness's exact samples are empty)"
        )),
    })
}

/// PromQL's `histogram_quantile(q, sum by (le) (increase(<m>_bucket[run])))`.
fn histogram_quantile(
    q: f64,
    sel: &Selector,
    buckets: &Selector,
    series: &[Point],
) -> Result<Reading, NoData> {
    let mut by_bound: Vec<(f64, f64)> = Vec::new();
    for (labels, growth) in increases(buckets, series)? {
        let Some(le) = labels.get(label::LE) else {
            continue;
        };
        match parse_value(le) {
            Some(bound) if !bound.is_nan() => by_bound.push((bound, growth)),
            _ => {
                return Err(format!(
                    "{} has an unreadable le=\"{le}\" label",
                    buckets.name
                ))
            }
        }
    }
    if by_bound.is_empty() {
        return Err(format!("{buckets} has no samples with an `le` label"));
    }
    bucket_quantile(q, by_bound).map_err(|why| format!("{sel}: {why}"))
}

/// Linear interpolation inside the bucket holding rank `q × total`, as
/// PromQL's classic `histogram_quantile` does: the lowest bucket starts at 0
/// when its upper bound is positive. Unlike PromQL, a rank in the `+Inf`
/// bucket is not read as the highest finite bound: the reading carries that
/// bound with an open bucket (`upper: None`), meaning "above it".
fn bucket_quantile(q: f64, mut buckets: Vec<(f64, f64)>) -> Result<Reading, NoData> {
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    if buckets.last().map(|b| b.0) != Some(f64::INFINITY) {
        return Err("the histogram has no le=\"+Inf\" bucket".to_owned());
    }
    // Equal bounds (after parsing "1" and "1.0") are one bucket.
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
    for (bound, count) in buckets {
        match merged.last_mut() {
            Some(last) if last.0 == bound => last.1 += count,
            _ => merged.push((bound, count)),
        }
    }
    // Cumulative counts can only grow with the bound; flatten any dip.
    let mut ceiling = f64::NEG_INFINITY;
    for bucket in &mut merged {
        ceiling = ceiling.max(bucket.1);
        bucket.1 = ceiling;
    }
    if merged.len() < 2 {
        return Err("the histogram has only the +Inf bucket".to_owned());
    }
    let total = merged[merged.len() - 1].1;
    if total == 0.0 {
        return Err("no observations during the load window (every bucket grew by 0)".to_owned());
    }
    let rank = q * total;
    let finite = merged.len() - 1;
    let b = merged[..finite]
        .iter()
        .position(|&(_, count)| count >= rank)
        .unwrap_or(finite);
    if b == finite {
        let top = merged[finite - 1].0;
        return Ok(Reading {
            value: top,
            bucket: Some(Bucket {
                lower: top,
                upper: None,
            }),
        });
    }
    let (upper, count_to_here) = merged[b];
    if b == 0 && upper <= 0.0 {
        return Ok(Reading::from(upper));
    }
    let (lower, count_below) = if b == 0 { (0.0, 0.0) } else { merged[b - 1] };
    let value = lower + (upper - lower) * ((rank - count_below) / (count_to_here - count_below));
    if value.is_nan() {
        return Err(format!(
            "quantile {q} is undefined: the bucket it falls in is empty"
        ));
    }
    Ok(Reading {
        value,
        bucket: Some(Bucket {
            lower,
            upper: Some(upper),
        }),
    })
}

/// A summary's quantile as published at the end of the run; over several
/// label sets, the worst (largest). Never a difference of two scrapes:
/// summary quantiles cover the process's whole life (or a sliding window)
/// and do not subtract.
fn summary_quantile(q: f64, sel: &Selector, series: &[Point]) -> Result<f64, NoData> {
    let point = series
        .last()
        .expect("observe checked the series is not empty");
    let available: Vec<&Sample> = sel
        .select(&point.snapshot)
        .filter(|s| s.labels.contains_key(label::QUANTILE))
        .collect();
    if available.is_empty() {
        return Err(if seen_anywhere(sel, series) {
            format!(
                "summary {sel} has samples in earlier scrapes but none in the last one ({})",
                point.label
            )
        } else {
            missing(sel, series)
        });
    }
    let quantile_of = |s: &Sample| s.labels.get(label::QUANTILE).and_then(|v| parse_value(v));
    let hits: Vec<f64> = available
        .iter()
        .filter(|s| quantile_of(s) == Some(q))
        .map(|s| s.value)
        .collect();
    if hits.is_empty() {
        let mut listed: Vec<f64> = available.iter().filter_map(|s| quantile_of(s)).collect();
        listed.sort_by(f64::total_cmp);
        listed.dedup();
        let listed: Vec<String> = listed.iter().map(f64::to_string).collect();
        return Err(format!(
            "summary {sel} publishes no quantile {q}; available: {}",
            listed.join(", ")
        ));
    }
    let worst = hits
        .into_iter()
        .filter(|v| !v.is_nan())
        .reduce(f64::max)
        .ok_or_else(|| format!("summary {sel} quantile {q} is NaN (no observations?)"))?;
    observed_during_run(sel, series)?;
    Ok(worst)
}

/// A summary's quantiles say nothing about the run unless it observed
/// something during it: exporters publish 0 (or the value of an older window)
/// for an idle summary. Checked on `<name>_count`.
fn observed_during_run(sel: &Selector, series: &[Point]) -> Result<(), NoData> {
    let count = Selector {
        absent_is_zero: false,
        name: format!("{}_count", sel.name),
        matchers: sel
            .matchers
            .iter()
            .filter(|m| m.label != label::QUANTILE)
            .cloned()
            .collect(),
    };
    let grew: f64 = increases(&count, series)
        .map_err(|_| {
            format!(
                "summary {sel} publishes no {}, so its quantiles cannot be tied to the run",
                count.name
            )
        })?
        .values()
        .sum();
    if grew > 0.0 {
        Ok(())
    } else {
        Err(format!(
            "summary {sel} observed nothing during the load window ({} did not grow)",
            count.name
        ))
    }
}

/// What a selector that matched nothing in any scrape reads: 0 when it was
/// written with `or 0`, or when its family is a counter declared by `# TYPE`
/// without a single sample (an error counter before its first increment);
/// otherwise no data, so a misspelt name never passes.
fn absent(sel: &Selector, series: &[Point]) -> Result<f64, NoData> {
    if sel.absent_is_zero || declared_empty_counter(&sel.name, series) {
        Ok(0.0)
    } else {
        Err(missing(sel, series))
    }
}

/// A `# TYPE … counter` was seen for `name`'s family and no scrape holds a
/// sample named `name`.
fn declared_empty_counter(name: &str, series: &[Point]) -> bool {
    metrics::type_of(series, name) == Some(MetricType::Counter)
        && !series
            .iter()
            .any(|p| p.snapshot.samples.iter().any(|s| *s.name == *name))
}

fn seen_anywhere(sel: &Selector, series: &[Point]) -> bool {
    series
        .iter()
        .any(|p| sel.select(&p.snapshot).next().is_some())
}

/// Why nothing matched: the name is unknown, or its label sets do not match.
fn missing(sel: &Selector, series: &[Point]) -> NoData {
    let name = &sel.name;
    let label_sets: BTreeSet<&Labels> = series
        .iter()
        .flat_map(|p| p.snapshot.samples.iter())
        .filter(|s| *s.name == **name)
        .map(|s| &*s.labels)
        .collect();
    if label_sets.is_empty() {
        let grouped = ["_bucket", "_count"].iter().any(|suffix| {
            let family = format!("{name}{suffix}");
            series
                .iter()
                .any(|p| p.snapshot.samples.iter().any(|s| *s.name == *family))
        });
        let hint = if grouped {
            format!(
                "; `{name}` is a histogram or summary: use `{name}_count`, `{name}_sum` or \
                 quantile(0.99, {name})"
            )
        } else {
            String::new()
        };
        return format!("metric `{name}` not found in any scrape{hint}");
    }
    const SHOWN: usize = 5;
    let mut seen: Vec<String> = label_sets.iter().take(SHOWN).map(|l| braces(l)).collect();
    if label_sets.len() > SHOWN {
        seen.push(format!("… {} more", label_sets.len() - SHOWN));
    }
    format!(
        "no `{name}` series matches {sel}; label sets seen: {}",
        seen.join(" ")
    )
}

fn braces(labels: &Labels) -> String {
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(","))
}

mod binary;
mod deriv;
#[cfg(test)]
mod tests;
