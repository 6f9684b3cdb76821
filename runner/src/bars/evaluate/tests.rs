//! Evaluation tests: every expected number below is computed by hand in the
//! comment next to it, following PromQL's definitions.

use super::*;
use crate::bars::parse;
use crate::metrics::{Series, Snapshot};

/// A series from `(label, text format)` pairs, oldest first.
fn series(points: &[(&str, &str)]) -> Series {
    let mut series = Series::new();
    for (label, text) in points {
        let snapshot = Snapshot::parse(text).unwrap_or_else(|e| panic!("{label}: {e}"));
        series.push(*label, snapshot);
    }
    series
}

/// What a bar should give.
#[derive(Debug)]
enum Want {
    /// Data, the observed value, and whether the bar holds.
    Value(f64, bool),
    /// No data; the reason contains this text.
    NoData(&'static str),
    /// A histogram quantile in the `+Inf` bucket: only known to be above
    /// this bound; whether the bar holds, and the text of the reason when
    /// the bound cannot decide it.
    Above(f64, bool, Option<&'static str>),
}

fn check(cases: &[(&str, Want)], series: &Series) {
    for (text, want) in cases {
        let bar = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let verdicts = evaluate(std::slice::from_ref(&bar), series);
        let [v] = verdicts.as_slice() else {
            panic!("{text}: one bar must give one verdict")
        };
        assert_eq!(v.bar, *text);
        match want {
            Want::Value(value, holds) => {
                let observed = v
                    .observed
                    .unwrap_or_else(|| panic!("{text}: no data: {:?}", v.reason));
                assert!(
                    (observed - value).abs() < 1e-9,
                    "{text}: observed {observed}, want {value}"
                );
                assert_eq!(v.holds, *holds, "{text}: holds");
                assert_eq!(v.reason, None, "{text}");
                assert!(
                    v.bucket.is_none_or(|b| !b.is_above_top()),
                    "{text}: a known value is not above the top bucket"
                );
            }
            Want::Above(bound, holds, reason) => {
                assert_eq!(v.observed, Some(*bound), "{text}");
                assert_eq!(
                    v.bucket,
                    Some(Bucket {
                        lower: *bound,
                        upper: None
                    }),
                    "{text}"
                );
                assert_eq!(v.holds, *holds, "{text}: holds");
                match reason {
                    Some(want) => {
                        let got = v.reason.as_deref().unwrap_or("");
                        assert!(got.contains(want), "{text}: reason {got:?} lacks {want:?}");
                    }
                    None => assert_eq!(v.reason, None, "{text}"),
                }
            }
            Want::NoData(reason) => {
                assert_eq!(v.observed, None, "{text}");
                assert!(!v.holds, "{text}: a bar without data must fail");
                let got = v.reason.as_deref().unwrap_or("");
                assert!(
                    got.contains(reason),
                    "{text}: reason {got:?} lacks {reason:?}"
                );
            }
        }
    }
}

const BEFORE: &str = "\
cowload_events_total{kind=\"twap\"} 10
restarted_total 100
other 1
";
const MIDDLE: &str = "\
cowload_events_total{kind=\"twap\"} 18
cowload_events_total{kind=\"ethflow\"} 3
restarted_total 120
g 9
";
const END: &str = "\
cowload_events_total{kind=\"twap\"} 25
cowload_events_total{kind=\"ethflow\"} 7
cowload_events_total 1
restarted_total 30
g 4
nan_gauge NaN
";

#[test]
fn counters_gauges_and_label_matchers() {
    let s = series(&[("before", BEFORE), ("block 1", MIDDLE), ("end", END)]);
    check(
        &[
            // twap 25−10 = 15, ethflow absent at start: 7−0 = 7, unlabelled 1 → 23.
            (
                "increase(cowload_events_total) == 23",
                Want::Value(23.0, true),
            ),
            (
                "increase(cowload_events_total{kind=\"twap\"}) >= 15",
                Want::Value(15.0, true),
            ),
            (
                "increase(cowload_events_total{kind=\"twap\"}) > 15",
                Want::Value(15.0, false),
            ),
            // != keeps ethflow and the series without a kind label.
            (
                "increase(cowload_events_total{kind!=\"twap\"}) == 8",
                Want::Value(8.0, true),
            ),
            // ="" matches the series that has no kind label at all.
            (
                "increase(cowload_events_total{kind=\"\"}) == 1",
                Want::Value(1.0, true),
            ),
            // 100 → 120 (+20) → 30 is a reset: +30; total 50. Never 30 − 100.
            ("increase(restarted_total) == 50", Want::Value(50.0, true)),
            // last: 25 + 7 + 1 at the last scrape; a bare selector is last().
            ("last(cowload_events_total) == 33", Want::Value(33.0, true)),
            (
                "cowload_events_total{kind=\"ethflow\"} < 7",
                Want::Value(7.0, false),
            ),
            // max/min over per-scrape sums; g is absent from the first scrape.
            ("max(g) <= 9", Want::Value(9.0, true)),
            ("min(g) == 4", Want::Value(4.0, true)),
            ("max(cowload_events_total) == 33", Want::Value(33.0, true)),
            ("min(cowload_events_total) == 10", Want::Value(10.0, true)),
            ("max(g) != 9", Want::Value(9.0, false)),
        ],
        &s,
    );
}

#[test]
fn counter_reset_between_two_scrapes_counts_the_end_value() {
    let s = series(&[("before", "c_total 100\n"), ("end", "c_total 30\n")]);
    check(&[("increase(c_total) == 30", Want::Value(30.0, true))], &s);
    let s = series(&[("before", "c_total 100\n"), ("end", "c_total 130\n")]);
    check(&[("increase(c_total) == 30", Want::Value(30.0, true))], &s);
    // One scrape: no interval, so no data (never a silent 0).
    let s = series(&[("before", "c_total 100\n")]);
    check(
        &[(
            "increase(c_total) == 0",
            Want::NoData("the window holds a single scrape (before)"),
        )],
        &s,
    );
}

#[test]
fn missing_or_unusable_data_fails() {
    let s = series(&[("before", BEFORE), ("block 1", MIDDLE), ("end", END)]);
    check(
        &[
            (
                "increase(nope_total) >= 0",
                Want::NoData("metric `nope_total` not found in any scrape"),
            ),
            (
                "last(nope) < 1",
                Want::NoData("metric `nope` not found in any scrape"),
            ),
            (
                "max(nope) < 1",
                Want::NoData("metric `nope` not found in any scrape"),
            ),
            (
                "increase(cowload_events_total{kind=\"cow\"}) >= 0",
                Want::NoData("no `cowload_events_total` series matches"),
            ),
            (
                "last(other) >= 0",
                Want::NoData("none in the last one (end)"),
            ),
            ("last(nan_gauge) >= 0", Want::NoData("NaN")),
            ("max(nan_gauge) >= 0", Want::NoData("NaN in every scrape")),
            (
                "quantile(0.5, nope_seconds) < 1s",
                Want::NoData("not found in any scrape"),
            ),
            ("quantile(0.5, g) < 1", Want::NoData("neither a histogram")),
        ],
        &s,
    );
    let empty = Series::new();
    check(
        &[(
            "increase(cowload_events_total) >= 0",
            Want::NoData("no scrapes were taken"),
        )],
        &empty,
    );
}

/// Two label sets of one histogram. Bucket growth over the run, per `le`:
///
/// | le   | twap (start → end) | ethflow (absent → end) | sum |
/// |------|--------------------|------------------------|-----|
/// | 0.1  | 10 → 12 = 2        | 0                      | 2   |
/// | 0.5  | 20 → 40 = 20       | 0                      | 20  |
/// | 1    | 30 → 70 = 40       | 0                      | 40  |
/// | +Inf | 30 → 80 = 50       | 20                     | 70  |
const HIST_BEFORE: &str = "\
# TYPE lat_seconds histogram
lat_seconds_bucket{kind=\"twap\",le=\"0.1\"} 10
lat_seconds_bucket{kind=\"twap\",le=\"0.5\"} 20
lat_seconds_bucket{kind=\"twap\",le=\"1\"} 30
lat_seconds_bucket{kind=\"twap\",le=\"+Inf\"} 30
lat_seconds_sum{kind=\"twap\"} 12
lat_seconds_count{kind=\"twap\"} 30
";
const HIST_END: &str = "\
# TYPE lat_seconds histogram
lat_seconds_bucket{kind=\"twap\",le=\"0.1\"} 12
lat_seconds_bucket{kind=\"twap\",le=\"0.5\"} 40
lat_seconds_bucket{kind=\"twap\",le=\"1\"} 70
lat_seconds_bucket{kind=\"twap\",le=\"+Inf\"} 80
lat_seconds_sum{kind=\"twap\"} 60
lat_seconds_count{kind=\"twap\"} 80
lat_seconds_bucket{kind=\"ethflow\",le=\"0.1\"} 0
lat_seconds_bucket{kind=\"ethflow\",le=\"0.5\"} 0
lat_seconds_bucket{kind=\"ethflow\",le=\"1\"} 0
lat_seconds_bucket{kind=\"ethflow\",le=\"+Inf\"} 20
lat_seconds_sum{kind=\"ethflow\"} 100
lat_seconds_count{kind=\"ethflow\"} 20
";

#[test]
fn histogram_quantiles_interpolate_bucket_increases() {
    let s = series(&[("before", HIST_BEFORE), ("end", HIST_END)]);
    check(
        &[
            // twap only: total 50. q=0.5 → rank 25 falls in (0.5, 1] holding 20..40:
            // 0.5 + 0.5 × (25 − 20) / (40 − 20) = 0.625. (Absolute end counts
            // would give 0.5 here, so this also proves the start is subtracted.)
            (
                "quantile(0.5, lat_seconds{kind=\"twap\"}) < 2s",
                Want::Value(0.625, true),
            ),
            (
                "quantile(0.5, lat_seconds{kind=\"twap\"}) < 500ms",
                Want::Value(0.625, false),
            ),
            // q=0.02 → rank 1 in the lowest bucket, lower bound 0: 0.1 × 1/2 = 0.05.
            (
                "quantile(0.02, lat_seconds{kind=\"twap\"}) <= 50ms",
                Want::Value(0.05, true),
            ),
            // q=0.4 → rank 20 reaches exactly the top of (0.1, 0.5]:
            // 0.1 + 0.4 × (20 − 2) / (20 − 2) = 0.5.
            (
                "quantile(0.4, lat_seconds{kind=\"twap\"}) == 0.5",
                Want::Value(0.5, true),
            ),
            // q=0.99 → rank 49.5 is past the le=1 bucket (40): the +Inf
            // bucket only says "above 1", the highest finite bound.
            (
                "quantile(0.99, lat_seconds{kind=\"twap\"}) < 1s",
                Want::Above(1.0, false, None),
            ),
            // Both label sets summed per le (total 70): rank 35 in (0.5, 1]:
            // 0.5 + 0.5 × (35 − 20) / (40 − 20) = 0.875.
            ("quantile(0.5, lat_seconds) < 1", Want::Value(0.875, true)),
            // ethflow alone: everything in +Inf → above 1, so == is undecided.
            (
                "quantile(0.5, lat_seconds{kind!=\"twap\"}) == 1",
                Want::Above(1.0, false, Some("cannot be decided")),
            ),
            // _count and _sum are plain counters.
            ("increase(lat_seconds_count) == 70", Want::Value(70.0, true)),
            ("increase(lat_seconds_sum) == 148", Want::Value(148.0, true)),
            // The base name has no plain samples: say how to read it.
            (
                "increase(lat_seconds) > 0",
                Want::NoData("is a histogram or summary"),
            ),
            (
                "quantile(0.5, lat_seconds{kind=\"cow\"}) < 1",
                Want::NoData("no `lat_seconds_bucket` series matches"),
            ),
        ],
        &s,
    );
}

#[test]
fn histogram_edge_cases() {
    // Nothing observed during the window: no data, not 0.
    let s = series(&[("before", HIST_BEFORE), ("end", HIST_BEFORE)]);
    check(
        &[(
            "quantile(0.5, lat_seconds) < 1",
            Want::NoData("no observations during the load window"),
        )],
        &s,
    );

    // Negative lowest bound: a rank there answers that bound; above it,
    // interpolation starts at the previous bound. Growth: -1:5 0:5 1:10 +Inf:10.
    let negative = "\
h_bucket{le=\"-1\"} 5
h_bucket{le=\"0\"} 5
h_bucket{le=\"1\"} 10
h_bucket{le=\"+Inf\"} 10
";
    let s = series(&[("before", ""), ("end", negative)]);
    check(
        &[
            // rank 1 in the lowest bucket, bound −1 ≤ 0 → −1.
            ("quantile(0.1, h) == -1", Want::Value(-1.0, true)),
            // rank 6 in (0, 1] holding 5..10: 0 + 1 × (6 − 5) / 5 = 0.2.
            ("quantile(0.6, h) < 0.3", Want::Value(0.2, true)),
        ],
        &s,
    );

    let no_inf = "h_bucket{le=\"1\"} 3\n";
    let s = series(&[("before", ""), ("end", no_inf)]);
    check(
        &[(
            "quantile(0.5, h) < 1",
            Want::NoData("no le=\"+Inf\" bucket"),
        )],
        &s,
    );

    // Bucket counters reset (the engine restarted): growth is the end value.
    // 1: 3, +Inf: 4 → rank 2 in [0, 1]: 1 × 2/3.
    let s = series(&[
        (
            "before",
            "h_bucket{le=\"1\"} 100\nh_bucket{le=\"+Inf\"} 100\n",
        ),
        ("end", "h_bucket{le=\"1\"} 3\nh_bucket{le=\"+Inf\"} 4\n"),
    ]);
    check(
        &[("quantile(0.5, h) < 1", Want::Value(2.0 / 3.0, true))],
        &s,
    );
}

#[test]
fn summary_quantiles_are_read_at_the_end_never_subtracted() {
    let before = "\
# TYPE rpc_seconds summary
rpc_seconds{kind=\"twap\",quantile=\"0.5\"} 0.1
rpc_seconds{kind=\"twap\",quantile=\"0.99\"} 5
rpc_seconds_count{kind=\"twap\"} 10
nan_seconds_count 0
idle_seconds{quantile=\"0.99\"} 0
idle_seconds_count 7
";
    let end = "\
# TYPE rpc_seconds summary
rpc_seconds{kind=\"twap\",quantile=\"0.5\"} 0.2
rpc_seconds{kind=\"twap\",quantile=\"0.99\"} 1.5
rpc_seconds{kind=\"ethflow\",quantile=\"0.990\"} 2.5
rpc_seconds_count{kind=\"twap\"} 40
nan_seconds{quantile=\"0.99\"} NaN
nan_seconds_count 3
idle_seconds{quantile=\"0.99\"} 0
idle_seconds_count 7
untied_seconds{quantile=\"0.99\"} 0.1
";
    let s = series(&[("before", before), ("end", end)]);
    check(
        &[
            // Worst label set at the end: max(1.5, 2.5); "0.990" is 0.99.
            ("quantile(0.99, rpc_seconds) < 2s", Want::Value(2.5, false)),
            (
                "quantile(0.99, rpc_seconds{kind=\"twap\"}) < 2s",
                Want::Value(1.5, true),
            ),
            (
                "quantile(0.5, rpc_seconds) <= 200ms",
                Want::Value(0.2, true),
            ),
            (
                "quantile(0.9, rpc_seconds) < 1",
                Want::NoData("no quantile 0.9; available: 0.5, 0.99"),
            ),
            ("quantile(0.99, nan_seconds) < 1", Want::NoData("NaN")),
            // An idle summary publishes 0: that is no data, not a pass.
            (
                "quantile(0.99, idle_seconds) < 1",
                Want::NoData(
                    "observed nothing during the load window (idle_seconds_count did not grow)",
                ),
            ),
            (
                "quantile(0.99, untied_seconds) < 1",
                Want::NoData("publishes no untied_seconds_count"),
            ),
            (
                "quantile(0.99, rpc_seconds{kind=\"cow\"}) < 1",
                Want::NoData("no `rpc_seconds` series matches"),
            ),
            // Summing different quantiles is refused; one quantile is fine.
            ("last(rpc_seconds) < 1", Want::NoData("several quantiles")),
            (
                "max(rpc_seconds{kind=\"twap\",quantile=\"0.99\"}) == 5",
                Want::Value(5.0, true),
            ),
            ("increase(rpc_seconds_count) == 30", Want::Value(30.0, true)),
        ],
        &s,
    );
}

#[test]
fn verdict_fields_carry_units_and_limits() {
    let s = series(&[
        ("before", "ratio 1\nlat_seconds 0.2\nn 5\n"),
        ("end", "ratio 0.99\nlat_seconds 0.3\nn 5\n"),
    ]);
    let bars: Vec<Bar> = [
        "ratio >= 100%",
        "lat_seconds < 500ms",
        "n < 2s",
        "n == 5",
        "ratio > 98.5%",
    ]
    .iter()
    .map(|t| parse(t).unwrap())
    .collect();
    let got: Vec<(f64, String, Measure, bool)> = evaluate(&bars, &s)
        .into_iter()
        .map(|v| (v.limit, v.op.to_string(), v.unit, v.holds))
        .collect();
    let want = [
        (1.0, ">=", Measure::Plain, false),
        (0.5, "<", Measure::Seconds, true),
        (2.0, "<", Measure::Seconds, false),
        (5.0, "==", Measure::Plain, true),
        (0.985, ">", Measure::Plain, true),
    ]
    .map(|(l, o, u, h)| (l, o.to_owned(), u, h));
    assert_eq!(got, want);
    // The verdict serialises with the fields the report reads.
    let json = serde_json::to_value(&evaluate(&bars[..1], &s)[0]).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "bar": "ratio >= 100%", "observed": 0.99, "limit": 1.0, "op": ">=",
            "unit": "", "holds": false, "reason": null
        })
    );
}

#[test]
fn bucket_quantile_matches_promql_on_the_textbook_example() {
    // Cumulative buckets 0.05:24054 0.1:33444 0.2:100392 0.5:129389 1:133988
    // +Inf:144320. q=0.9 → rank 129888 lies in (0.5, 1]:
    // 0.5 + 0.5 × (129888 − 129389) / (133988 − 129389) = 0.55425092411…
    let buckets = vec![
        (f64::INFINITY, 144320.0),
        (0.05, 24054.0),
        (1.0, 133988.0),
        (0.1, 33444.0),
        (0.5, 129389.0),
        (0.2, 100392.0),
    ];
    let got = bucket_quantile(0.9, buckets).unwrap();
    assert_eq!(
        got.bucket,
        Some(Bucket {
            lower: 0.5,
            upper: Some(1.0)
        })
    );
    let got = got.value;
    let want = 0.5 + 0.5 * (129888.0 - 129389.0) / (133988.0 - 129389.0);
    assert!((got - want).abs() < 1e-12, "{got}");
    assert!((got - 0.554_250_924).abs() < 1e-9, "{got}");
    // Non-monotonic counts are flattened to their running maximum and equal
    // bounds merged: 1:4 (2+2), 2:3→4, +Inf:8; q=0.5 → rank 4 reaches the
    // top of the first bucket → 1.
    let got = bucket_quantile(
        0.5,
        vec![(1.0, 2.0), (1.0, 2.0), (2.0, 3.0), (f64::INFINITY, 8.0)],
    );
    assert_eq!(got.map(|r| r.value), Ok(1.0));
    assert!(bucket_quantile(0.5, vec![(f64::INFINITY, 8.0)]).is_err());
}

/// P99 beyond the top finite bound (10 s) is "> 10 s", never
/// 10 s. Growth 5:90 10:97 +Inf:100; q=0.99 → rank 99 is past le=10 (97).
#[test]
fn a_rank_in_the_inf_bucket_is_only_a_lower_bound() {
    let end = "\
slow_seconds_bucket{le=\"5\"} 90
slow_seconds_bucket{le=\"10\"} 97
slow_seconds_bucket{le=\"+Inf\"} 100
";
    let s = series(&[("before", ""), ("end", end)]);
    check(
        &[
            // The true value may be 11 s or 11 minutes: < and <= fail.
            (
                "quantile(0.99, slow_seconds) < 12s",
                Want::Above(10.0, false, None),
            ),
            (
                "quantile(0.99, slow_seconds) <= 1h",
                Want::Above(10.0, false, None),
            ),
            // Above 10 s is above any limit at or below 10 s.
            (
                "quantile(0.99, slow_seconds) > 5s",
                Want::Above(10.0, true, None),
            ),
            (
                "quantile(0.99, slow_seconds) >= 10s",
                Want::Above(10.0, true, None),
            ),
            // Above the bound, the answer depends on the unknown value.
            (
                "quantile(0.99, slow_seconds) > 12s",
                Want::Above(10.0, false, Some("above the top finite bound 10")),
            ),
            (
                "quantile(0.99, slow_seconds) == 10s",
                Want::Above(10.0, false, Some("`== 10` cannot be decided")),
            ),
            (
                "quantile(0.99, slow_seconds) != 3s",
                Want::Above(10.0, false, Some("cannot be decided")),
            ),
            // q=0.45 → rank 45 in (0, 5] holding 0..90: 5 × 45/90 = 2.5.
            ("quantile(0.45, slow_seconds) < 12s", Want::Value(2.5, true)),
        ],
        &s,
    );
    let bar = parse("quantile(0.45, slow_seconds) < 12s").unwrap();
    let v = evaluate(std::slice::from_ref(&bar), &s).remove(0);
    assert_eq!(
        v.bucket,
        Some(Bucket {
            lower: 0.0,
            upper: Some(5.0)
        })
    );
    // Only histogram quantiles carry a bucket; it is left out of the JSON otherwise.
    let json = serde_json::to_value(&v).unwrap();
    assert_eq!(
        json["bucket"],
        serde_json::json!({"lower": 0.0, "upper": 5.0})
    );
    let json = serde_json::to_value(
        evaluate(&[parse("quantile(0.99, slow_seconds) < 1").unwrap()], &s).remove(0),
    )
    .unwrap();
    assert_eq!(
        json["bucket"],
        serde_json::json!({"lower": 10.0, "upper": null})
    );
}

/// A counter declared by `# TYPE` but never incremented
/// (client libraries print only its `# HELP`/`# TYPE` lines) is 0, while a
/// name never seen is still no data; `or 0` says "absent counts as 0".
#[test]
fn declared_empty_counters_read_zero_and_unknown_names_still_fail() {
    let scrape = "\
# HELP x_errors_total errors
# TYPE x_errors_total counter
# TYPE y_errors counter
# TYPE queue_total gauge
# TYPE labelled_total counter
labelled_total{kind=\"a\"} 3
";
    let s = series(&[("before", scrape), ("end", scrape)]);
    check(
        &[
            ("increase(x_errors_total) == 0", Want::Value(0.0, true)),
            ("last(x_errors_total) == 0", Want::Value(0.0, true)),
            ("max(x_errors_total) == 0", Want::Value(0.0, true)),
            ("x_errors_total{kind=\"b\"} == 0", Want::Value(0.0, true)),
            // OpenMetrics names the family without `_total`.
            ("increase(y_errors_total) == 0", Want::Value(0.0, true)),
            // A typo never passes.
            (
                "increase(x_erors_total) == 0",
                Want::NoData("metric `x_erors_total` not found in any scrape"),
            ),
            // Only counters: a declared gauge without samples has no value.
            (
                "max(queue_total) == 0",
                Want::NoData("metric `queue_total` not found"),
            ),
            // The family has samples, just not this label set: still no data…
            (
                "increase(labelled_total{kind=\"b\"}) == 0",
                Want::NoData("no `labelled_total` series matches"),
            ),
            // …unless the bar says that absent counts as 0.
            (
                "increase(labelled_total{kind=\"b\"} or 0) == 0",
                Want::Value(0.0, true),
            ),
            (
                "increase(labelled_total{kind=\"a\"} or 0) == 0",
                Want::Value(0.0, true),
            ),
        ],
        &s,
    );
}

/// Engines that print nothing until the first increment: `or 0` is the
/// explicit fallback, and without it the same bar fails.
#[test]
fn or_zero_reads_absent_as_zero_and_only_when_written() {
    let s = series(&[("before", BEFORE), ("block 1", MIDDLE), ("end", END)]);
    check(
        &[
            ("increase(x_errors_total or 0) == 0", Want::Value(0.0, true)),
            (
                "increase(x_errors_total) == 0",
                Want::NoData("metric `x_errors_total` not found in any scrape"),
            ),
            ("last(x_errors_total or 0) < 1", Want::Value(0.0, true)),
            ("x_errors_total or 0 < 1", Want::Value(0.0, true)),
            (
                "x_errors_total < 1",
                Want::NoData("metric `x_errors_total` not found"),
            ),
            // Where the metric exists, `or 0` changes nothing…
            (
                "increase(cowload_events_total{kind=\"twap\"} or 0) == 15",
                Want::Value(15.0, true),
            ),
            ("max(g or 0) == 9", Want::Value(9.0, true)),
            // …except that a scrape without it reads 0 (g is absent before).
            ("min(g or 0) == 0", Want::Value(0.0, true)),
            ("min(g) == 4", Want::Value(4.0, true)),
        ],
        &s,
    );
}

/// `!=` matchers, PromQL's way: an absent label reads as "", so `!=` keeps
/// series without the label, and `!=""` keeps only series that have it.
#[test]
fn not_equal_matchers_exclude_one_value_and_keep_series_without_the_label() {
    let end = "\
lost_total{kind=\"twap\",reason=\"never_posted\"} 2
lost_total{kind=\"twap\",reason=\"rejected\"} 5
lost_total{kind=\"ethflow\",reason=\"gave_up_on_retryable\"} 7
lost_total 11
";
    let s = series(&[("before", ""), ("end", end)]);
    check(
        &[
            // Allow rejections, forbid the rest: 2 + 7 + 11 (no reason label).
            (
                "increase(lost_total{reason!=\"rejected\"}) == 20",
                Want::Value(20.0, true),
            ),
            // Only series that have a reason at all: 2 + 5 + 7.
            (
                "increase(lost_total{reason!=\"\"}) == 14",
                Want::Value(14.0, true),
            ),
            // Two != matchers combine: twap's never_posted only.
            (
                "increase(lost_total{reason!=\"rejected\", kind!=\"ethflow\", reason!=\"\"}) == 2",
                Want::Value(2.0, true),
            ),
            // = and != on one label: nothing left.
            (
                "increase(lost_total{reason=\"rejected\", reason!=\"rejected\"}) == 0",
                Want::NoData("no `lost_total` series matches"),
            ),
        ],
        &s,
    );
}

const ARITH_BEFORE: &str = "\
head 10
height{engine=\"a\"} 10
height{engine=\"b\"} 9
req_total{route=\"/x\"} 100
req_total{route=\"/y\"} 50
err_total{route=\"/x\"} 1
err_total{route=\"/y\"} 0
wait_seconds 3
";
const ARITH_MIDDLE: &str = "\
head 11
height{engine=\"a\"} 11
height{engine=\"b\"} 9
req_total{route=\"/x\"} 150
req_total{route=\"/y\"} 50
err_total{route=\"/x\"} 2
err_total{route=\"/y\"} 0
wait_seconds 3
";
const ARITH_END: &str = "\
head 12
height{engine=\"a\"} 12
height{engine=\"b\"} 8
req_total{route=\"/x\"} 200
req_total{route=\"/y\"} 50
err_total{route=\"/x\"} 3
err_total{route=\"/y\"} 0
wait_seconds 6
";

/// Arithmetic between two selectors, paired per series.
#[test]
fn arithmetic_pairs_series_per_scrape_or_over_the_window() {
    let s = series(&[
        ("before", ARITH_BEFORE),
        ("block 11", ARITH_MIDDLE),
        ("end", ARITH_END),
    ]);
    check(
        &[
            // head has no labels: it pairs with both engines. Lags per scrape:
            // a 0 0 0, b 1 2 4 → the worst is 4 (at the end).
            ("max(head - height) <= 2", Want::Value(4.0, false)),
            (
                "max(head - height{engine=\"a\"}) <= 2",
                Want::Value(0.0, true),
            ),
            ("min(head - height) == 0", Want::Value(0.0, true)),
            (
                "last(head - height{engine=\"b\"}) == 4",
                Want::Value(4.0, true),
            ),
            // Per scrape, not max(head) − min(height): 12 − 8 at one scrape.
            ("max(height - head) == 0", Want::Value(0.0, true)),
            (
                "last(head - height) == 4",
                Want::NoData("gives 2 series at the last scrape (end)"),
            ),
            // Over the window: /x 2 errors in 100 requests; /y 0 / 0 has no value.
            (
                "max(increase(err_total) / increase(req_total)) < 0.01",
                Want::Value(0.02, false),
            ),
            (
                "max(increase(err_total) / increase(req_total)) < 3%",
                Want::Value(0.02, true),
            ),
            (
                "max(increase(err_total{route=\"/y\"}) / increase(req_total{route=\"/y\"})) < 1",
                Want::NoData("division by zero"),
            ),
            // Per scrape: /x 1/100, 2/150, 3/200 → 0.015; /y 0/50 = 0.
            (
                "max(err_total / req_total) < 0.02",
                Want::Value(0.015, true),
            ),
            ("min(err_total / req_total) == 0", Want::Value(0.0, true)),
            // `or 0`: an absent error counter pairs as 0 with every route.
            (
                "max(increase(x_errors_total or 0) / increase(req_total)) == 0",
                Want::Value(0.0, true),
            ),
            // A side never seen is no data, as everywhere else.
            (
                "max(increase(typo_total) / increase(req_total)) < 1",
                Want::NoData("metric `typo_total` not found in any scrape"),
            ),
            (
                "max(head - typo) < 1",
                Want::NoData("metric `typo` not found in any scrape"),
            ),
            // Label sets that never pair give no value.
            (
                "max(height - req_total) < 1",
                Want::NoData("no series of the two sides paired"),
            ),
            // A difference of seconds is seconds; a ratio is not.
            ("max(wait_seconds - head) < 0", Want::Value(-6.0, true)),
        ],
        &s,
    );
    let units: Vec<Measure> = [
        "max(wait_seconds - head) < 0",
        "max(wait_seconds / head) < 1",
    ]
    .iter()
    .map(|t| evaluate(&[parse(t).unwrap()], &s).remove(0).unit)
    .collect();
    assert_eq!(units, [Measure::Seconds, Measure::Plain]);
}

/// An engine that handled only the warm-up blocks must not
/// pass a latency bar on its warm-up observations. The window opens at the
/// last warm-up scrape (`block 2`); everything before is left out.
#[test]
fn bars_judge_the_load_window_only() {
    let warm = "\
lat_seconds_bucket{le=\"0.01\"} 5
lat_seconds_bucket{le=\"1\"} 5
lat_seconds_bucket{le=\"+Inf\"} 5
handled_total 5
spike 100
";
    let idle = "\
lat_seconds_bucket{le=\"0.01\"} 5
lat_seconds_bucket{le=\"1\"} 5
lat_seconds_bucket{le=\"+Inf\"} 5
handled_total 5
spike 1
";
    let mut s = series(&[("start", ""), ("block 1", warm), ("block 2", idle)]);
    // Over everything, the warm-up observations would pass.
    check(
        &[(
            "quantile(0.99, lat_seconds) < 1s",
            Want::Value(0.0099, true),
        )],
        &s,
    );
    s.open_window();
    s.push("block 3", Snapshot::parse(idle).unwrap());
    s.push("end", Snapshot::parse(idle).unwrap());
    check(
        &[
            (
                "quantile(0.99, lat_seconds) < 1s",
                Want::NoData("no observations during the load window"),
            ),
            ("increase(handled_total) > 0", Want::Value(0.0, false)),
            ("max(spike) < 50", Want::Value(1.0, true)),
        ],
        &s,
    );
    // A window that never opened holds nothing: every bar fails.
    let mut never = series(&[("start", warm), ("end", warm)]);
    never.close_unopened_window();
    check(
        &[(
            "max(spike) < 1000",
            Want::NoData("the run never mined a loaded block"),
        )],
        &never,
    );
    // evaluate_over reads exactly the points given, whatever the window.
    let bar = parse("increase(handled_total) == 5").unwrap();
    assert!(evaluate_over(std::slice::from_ref(&bar), &s.points)[0].holds);
}

/// `deriv()` fits a line through the window's scrapes against the run's clock and judges the
/// steepest series; its verdict is shown per hour in the series' unit.
#[test]
fn deriv_judges_the_steepest_growth_per_hour() {
    // Three series over 0, 60, 120 s: rss grows 1 MB a minute (60 MB/h); fds are flat with
    // noise; a labelled pair where only one series grows.
    let scrape = |t: f64, rss: f64, fds: f64, a: f64, b: f64| {
        format!(
            "cowload_run_elapsed_seconds {t}\nrss_bytes {rss}\nfds {fds}\n\
             g{{s=\"a\"}} {a}\ng{{s=\"b\"}} {b}\n"
        )
    };
    let points = [
        ("before", scrape(0.0, 100e6, 10.0, 5.0, 5.0)),
        ("block 1", scrape(60.0, 101e6, 11.0, 5.0, 6.0)),
        ("block 2", scrape(120.0, 102e6, 10.0, 5.0, 7.0)),
    ];
    let texts: Vec<(&str, &str)> = points.iter().map(|(l, t)| (*l, t.as_str())).collect();
    let s = series(&texts);
    check(
        &[
            ("deriv(rss_bytes) < 70MB/h", Want::Value(1e6 / 60.0, true)),
            ("deriv(rss_bytes) < 50MiB/h", Want::Value(1e6 / 60.0, false)),
            ("deriv(fds) < 1/h", Want::Value(0.0, true)),
            ("deriv(g) < 30/h", Want::Value(1.0 / 60.0, false)),
            ("deriv(g{s=\"a\"}) <= 0/h", Want::Value(0.0, true)),
            ("deriv(nothing) < 1/h", Want::NoData("nothing")),
            ("deriv(nothing or 0) < 1/h", Want::Value(0.0, true)),
        ],
        &s,
    );
    let shown: Vec<Measure> = [
        "deriv(rss_bytes) < 1MB/h",
        "deriv(fds) < 1/h",
        "deriv(rss_bytes) < 1/h",
    ]
    .iter()
    .map(|t| evaluate(&[parse(t).unwrap()], &s).remove(0).unit)
    .collect();
    assert_eq!(
        shown,
        [
            Measure::BytesPerSecond,
            Measure::PerSecond,
            Measure::BytesPerSecond
        ]
    );
    // Two scrapes always fit a line: no trend can be told from them.
    let short = series(&texts[..2]);
    check(
        &[(
            "deriv(rss_bytes) < 1GB/h",
            Want::NoData("fewer than 3 scrapes"),
        )],
        &short,
    );
    // Scrapes without the clock (a series read back from text) give no slope either.
    let clockless = series(&[("a", "x 1\n"), ("b", "x 2\n"), ("c", "x 3\n")]);
    check(&[("deriv(x) < 1/h", Want::NoData("x"))], &clockless);
}
