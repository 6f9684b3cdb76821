//! Reading numbers out of a [`Series`] for the outcome: per-block deltas,
//! window quantiles and per-series start/end values.
//!
//! Why through the bars engine: a quantile over a window must use exactly the
//! PromQL bucket interpolation and reset handling the bars use, or the report
//! would disagree with the verdict. So every window value here is an
//! expression (`quantile(0.99, x{kind="twap"})`, `increase(x)`) evaluated by
//! [`bars::evaluate`] over the points of that window.

use std::collections::BTreeMap;

use crate::bars;
use crate::metrics::{Point, Series};

/// Labels of one series.
pub type Labels = BTreeMap<String, String>;

/// `name{k="v",…}` as the bar grammar reads it (values quoted and escaped).
pub fn selector(name: &str, labels: &Labels) -> String {
    if labels.is_empty() {
        return name.to_owned();
    }
    let inner: Vec<String> = labels
        .iter()
        .map(|(k, v)| {
            let escaped = v.replace('\\', "\\\\").replace('"', "\\\"");
            format!("{k}=\"{escaped}\"")
        })
        .collect();
    format!("{name}{{{}}}", inner.join(","))
}

/// The observed value of `expr` over the whole `series` (first point to
/// last), or `None` when the expression does not parse or has no finite
/// value in that window.
pub fn observe(expr: &str, series: &Series) -> Option<f64> {
    observe_verdict(expr, series)
        .and_then(|v| v.observed)
        .filter(|x| x.is_finite())
}

/// `expr` evaluated as a bar over `series`, with what the bar knows about
/// its value (for a histogram quantile: the bucket it fell in).
pub fn observe_verdict(expr: &str, series: &Series) -> Option<bars::Verdict> {
    let bar = bars::parse(&format!("{expr} >= 0")).ok()?;
    bars::evaluate_over(std::slice::from_ref(&bar), &series.points).pop()
}

/// The value of `expr` between two consecutive points (`before` → `after`).
pub fn between(expr: &str, before: &Point, after: &Point) -> Option<f64> {
    let mut window = Series::new();
    window.points = vec![before.clone(), after.clone()];
    observe(expr, &window)
}

/// The sum of all samples named `name` in one point (0 when there are none).
pub fn sum(point: &Point, name: &str) -> f64 {
    point
        .snapshot
        .samples
        .iter()
        .filter(|s| *s.name == *name && !s.value.is_nan())
        .map(|s| s.value)
        .sum::<f64>()
        + 0.0
}

/// The sum of the samples named `name` whose label `label` equals `value`.
pub fn sum_where(point: &Point, name: &str, label: &str, value: &str) -> f64 {
    point
        .snapshot
        .samples
        .iter()
        .filter(|s| {
            *s.name == *name
                && !s.value.is_nan()
                && s.labels.get(label).map(String::as_str) == Some(value)
        })
        .map(|s| s.value)
        .sum::<f64>()
        + 0.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Snapshot;

    /// A sample written as (name, labels, value).
    type Raw<'a> = (&'a str, &'a [(&'a str, &'a str)], f64);

    fn point(label: &str, samples: &[Raw]) -> Point {
        let mut snapshot = Snapshot::default();
        for (name, labels, value) in samples {
            snapshot.push(*name, labels, *value);
        }
        Point {
            label: label.to_owned(),
            block: label.strip_prefix("block ").and_then(|n| n.parse().ok()),
            snapshot,
            exact: None,
        }
    }

    #[test]
    fn selectors_quote_and_escape_label_values() {
        let cases: [(&[(&str, &str)], &str); 3] = [
            (&[], "m"),
            (&[("kind", "twap")], "m{kind=\"twap\"}"),
            (
                &[("route", "/a/{uid}"), ("x", "q\"\\")],
                "m{route=\"/a/{uid}\",x=\"q\\\"\\\\\"}",
            ),
        ];
        for (labels, want) in cases {
            let labels: Labels = labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            let text = selector("m", &labels);
            assert_eq!(text, want);
            assert!(bars::parse(&format!("{text} > 0")).is_ok(), "{text}");
        }
    }

    #[test]
    fn window_values_come_from_the_bars_engine() {
        let h = "lat_seconds_bucket";
        let a = point(
            "a",
            &[
                (h, &[("le", "0.1")], 0.0),
                (h, &[("le", "1")], 0.0),
                (h, &[("le", "+Inf")], 0.0),
                ("c_total", &[("kind", "x")], 5.0),
            ],
        );
        let b = point(
            "b",
            &[
                (h, &[("le", "0.1")], 10.0),
                (h, &[("le", "1")], 20.0),
                (h, &[("le", "+Inf")], 20.0),
                ("c_total", &[("kind", "x")], 9.0),
            ],
        );
        assert_eq!(between("increase(c_total)", &a, &b), Some(4.0));
        // Rank 10 of 20 falls at the top of the first bucket.
        assert_eq!(between("quantile(0.5, lat_seconds)", &a, &b), Some(0.1));
        // No observations in a window: no value rather than zero.
        assert_eq!(between("quantile(0.5, lat_seconds)", &b, &b), None);
        assert_eq!(between("increase(missing_total)", &a, &b), None);
        assert_eq!(sum(&b, "c_total"), 9.0);
        assert_eq!(sum_where(&b, "c_total", "kind", "y"), 0.0);
    }
}
