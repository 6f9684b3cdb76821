//! Comparisons of hand-built outcomes: the golden outcome against itself and
//! against a doctored head with a regression (`runner/tests/golden/`).

use std::collections::BTreeMap;

use cowload_spec::EventKind;

use super::*;
use crate::bars::Bucket;
use crate::report::golden;
use crate::report::tests::sample;
use crate::report::{MetricKind, MetricSummary, Source};

/// The golden outcome with a regression: the latency bar now fails, p99s
/// rose, a series is new and one is gone, and a lost event disappeared.
pub(crate) fn doctored() -> Outcome {
    let mut head = sample();
    head.bars[1].observed = Some(2.4);
    head.bars[1].holds = false;
    head.bars[0].observed = Some(0.9);
    let twap = &mut head.event_to_order_seconds[EventKind::Twap];
    twap.p99 = 2.4;
    twap.p50 = 0.41; // +2.5%: inside the band
    let mock = head.mock.as_mut().expect("the sample has mock stats");
    let ethflow = mock.events.get_mut("ethflow").expect("ethflow stats");
    ethflow.lost = 0;
    ethflow.matched = 19;
    head.metrics
        .remove("reference_block_backlog{chain_id=\"11155111\"}");
    head.metrics.insert(
        "shepherd_module_errors_total{error_kind=\"rpc_error\",module=\"twap\"}".to_owned(),
        MetricSummary {
            source: Source::Engine,
            kind: MetricKind::Counter,
            start: Some(0.0),
            end: Some(3.0),
            delta: Some(3.0),
            max: None,
            quantiles: BTreeMap::new(),
            quantiles_above: BTreeMap::new(),
            quantile_buckets: BTreeMap::new(),
        },
    );
    head.run.duration_seconds = 99.0; // wall clock: never compared
    head
}

fn find<'a>(c: &'a Comparison, metric: &str) -> &'a Row {
    c.rows
        .iter()
        .find(|r| r.metric == metric)
        .unwrap_or_else(|| panic!("no row {metric}"))
}

#[test]
fn an_outcome_against_itself_shows_no_change_in_two_lines() {
    let c = compare(
        &[sample()],
        &[sample()],
        Noise::default(),
        Design::Independent,
    );
    assert!(c.unchanged(), "{:#?}", c.rows);
    assert_eq!((c.regressions, c.improvements), (0, 0));
    let md = render(&c, Format::Md);
    assert_eq!(md.lines().count(), 2, "{md}");
    assert!(
        md.starts_with("## cowload diff: golden: no change\n"),
        "{md}"
    );
    let text = render(&c, Format::Text);
    assert!(text.contains("no change ("), "{text}");
}

#[test]
fn single_runs_judge_counts_and_bars_exactly_and_latencies_not_at_all() {
    let c = compare(
        &[sample()],
        &[doctored()],
        Noise::default(),
        Design::Independent,
    );
    let first = &c.rows[0];
    assert_eq!(
        first.metric,
        "bar: quantile(0.99, cowload_event_to_order_seconds) < 2s"
    );
    assert_eq!(
        (first.change, first.test),
        (Change::NowFails, Test::BarVerdict)
    );
    // +26 %: past the threshold, but one run per side cannot say it is more than noise.
    let p99 = find(&c, "event→order p99 (twap)");
    assert_eq!((p99.change, p99.test), (Change::NotEnoughData, Test::None));
    // +2.5 %: within the threshold, whatever the data.
    let p50 = find(&c, "event→order p50 (twap)");
    assert_eq!((p50.change, p50.test), (Change::Unchanged, Test::Threshold));
    let lost = find(&c, "events lost (ethflow)");
    assert_eq!((lost.change, lost.test), (Change::Better, Test::Exact));
    assert_eq!(
        find(&c, "reference_block_backlog{chain_id=\"11155111\"} max").change,
        Change::Removed
    );
    let new = find(
        &c,
        "shepherd_module_errors_total{error_kind=\"rpc_error\",module=\"twap\"} Δ",
    );
    assert_eq!((new.change, new.direction), (Change::New, Direction::Lower));
    // Events lost 1 → 0 and matched 18 → 19 (ethflow), counted exactly.
    assert_eq!((c.regressions, c.improvements), (1, 2));
    let md = render(&c, Format::Md);
    assert!(md.contains("without enough data to judge"), "{md}");
}

/// `runs` copies of the sample whose time readings are scaled by
/// `1 + u` (u uniform in ±`spread`, one draw per run: run-level noise that
/// moves every latency of a run together), latencies of orders times `shift`.
fn runs(seed: u64, n: usize, spread: f64, shift: f64) -> Vec<Outcome> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let factor = 1.0 + rng.random_range(-spread..=spread);
            let mut o = sample();
            for e in o.event_to_order_seconds.values_mut() {
                e.p50 *= factor * shift;
                e.p99 *= factor * shift;
            }
            for m in o.metrics.values_mut() {
                for v in m.quantiles.values_mut() {
                    *v *= factor * shift;
                }
            }
            for stage in &mut o.bottleneck.stages {
                stage.growth_seconds *= factor;
            }
            for bar in &mut o.bars {
                if bar.unit == crate::bars::Measure::Seconds {
                    bar.observed = bar.observed.map(|x| x * factor * shift);
                }
            }
            o
        })
        .collect()
}

fn flagged(c: &Comparison) -> Vec<&str> {
    c.rows
        .iter()
        .filter(|r| r.change.is_regression() || r.change.is_improvement())
        .map(|r| r.metric.as_str())
        .collect()
}

#[test]
fn run_to_run_noise_is_not_flagged() {
    // ±20 % per run moves every latency by up to 40 % between two runs: a
    // fixed band would shout; three repeats per side and the test do not.
    let noisy: Vec<u64> = (0..40)
        .filter(|seed| {
            let c = compare(
                &runs(2 * seed, 3, 0.2, 1.0),
                &runs(2 * seed + 1, 3, 0.2, 1.0),
                Noise::default(),
                Design::Independent,
            );
            !flagged(&c).is_empty()
        })
        .collect();
    // The false discovery rate bounds the share of noisy comparisons by 5 %.
    assert!(noisy.len() <= 2, "noisy comparisons: {noisy:?}");
}

#[test]
fn a_real_shift_is_flagged_and_named() {
    let mut caught = 0;
    for seed in 0..10 {
        let c = compare(
            &runs(2 * seed, 3, 0.03, 1.0),
            &runs(2 * seed + 1, 3, 0.03, 1.25),
            Noise::default(),
            Design::Independent,
        );
        let names = flagged(&c);
        if names.contains(&"event→order p50 (twap)") && c.regressions > 0 {
            caught += 1;
        }
        let row = find(&c, "event→order p50 (twap)");
        assert_eq!(row.base_runs.len(), 3);
        assert!(row.p_value.is_some() && row.interval.is_some(), "{row:?}");
    }
    assert!(caught >= 9, "caught {caught} of 10");
}

#[test]
fn the_same_inputs_give_the_same_diff() {
    let (base, head) = (runs(1, 3, 0.1, 1.0), runs(2, 3, 0.1, 1.2));
    let once = render(
        &compare(&base, &head, Noise::default(), Design::Independent),
        Format::Json,
    );
    let again = render(
        &compare(&base, &head, Noise::default(), Design::Independent),
        Format::Json,
    );
    assert_eq!(once, again);
}

#[test]
fn the_threshold_decides_what_can_count_as_moved() {
    // Constant runs: any difference is certain, so only the threshold decides.
    let base = vec![sample(), sample()];
    let mut head = sample();
    head.event_to_order_seconds[EventKind::Twap].p99 = 1.9 * 1.08;
    let head = vec![head.clone(), head];
    let row = |noise: f64| {
        let c = compare(&base, &head, Noise(noise), Design::Independent);
        let r = find(&c, "event→order p99 (twap)").clone();
        (r.change, r.test)
    };
    assert_eq!(row(5.0), (Change::Worse, Test::Welch));
    assert_eq!(row(10.0), (Change::Unchanged, Test::Threshold));

    // Below a millisecond, a time reading never moves, whatever the percentage.
    let mut head = sample();
    head.bottleneck.stages[3].growth_seconds = 0.0009;
    let c = compare(
        &base,
        &[head.clone(), head],
        Noise(5.0),
        Design::Independent,
    );
    assert_eq!(
        find(&c, "p99 growth: mock request latency").change,
        Change::Unchanged
    );
}

#[test]
fn exact_counts_compare_the_worst_repeat() {
    let base = vec![sample(), sample(), sample()];
    let mut lossy = sample();
    let mock = lossy.mock.as_mut().unwrap();
    mock.events.get_mut("twap").unwrap().lost = 2;
    let c = compare(
        &base,
        &[sample(), lossy, sample()],
        Noise::default(),
        Design::Independent,
    );
    let row = find(&c, "events lost (twap)");
    assert_eq!((row.base, row.head), (Some(0.0), Some(2.0)));
    assert_eq!((row.change, row.test), (Change::Worse, Test::Exact));
}

#[test]
fn noise_bands_parse_with_or_without_percent() {
    for (text, want) in [
        ("5%", Some(5.0)),
        ("2.5", Some(2.5)),
        (" 0% ", Some(0.0)),
        ("-1%", None),
        ("x", None),
    ] {
        assert_eq!(text.parse::<Noise>().ok().map(|n| n.0), want, "{text}");
    }
}

#[test]
fn directions_follow_names_and_labels() {
    let cases = [
        (
            "cowload_event_to_order_seconds{kind=\"twap\"}",
            Direction::Lower,
        ),
        (
            "shepherd_module_errors_total{module=\"twap\"}",
            Direction::Lower,
        ),
        (
            "shepherd_cow_api_submit_total{outcome=\"accepted\"}",
            Direction::Higher,
        ),
        (
            "shepherd_cow_api_submit_total{outcome=\"rejected\"}",
            Direction::Lower,
        ),
        (
            "shepherd_chain_request_total{method=\"eth_call\",outcome=\"ok\"}",
            Direction::Higher,
        ),
        (
            "shepherd_chain_request_total{method=\"eth_call\",outcome=\"revert\"}",
            Direction::Lower,
        ),
        ("reference_twap_active_orders", Direction::Neutral),
    ];
    for (series, want) in cases {
        assert_eq!(direction_of(series), want, "{series}");
    }
}

#[test]
fn run_refuses_other_scenarios_unless_forced_and_fails_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.json");
    let head = dir.path().join("head.json");
    std::fs::write(&base, sample().to_json()).unwrap();
    std::fs::write(&head, doctored().to_json()).unwrap();
    let mut request = Request {
        base: base.clone(),
        head: head.clone(),
        noise: Noise::default(),
        fail_on_regression: false,
        format: Format::Text,
        force: false,
        paired: false,
    };
    assert_eq!(run(&request).unwrap().exit_code, 0);
    request.fail_on_regression = true;
    assert_eq!(run(&request).unwrap().exit_code, 1);

    let mut other = doctored();
    other.scenario.hash = "ee".repeat(32);
    std::fs::write(&head, other.to_json()).unwrap();
    let err = run(&request).unwrap_err();
    assert_eq!(err.exit_code(), 4, "{err}");
    request.force = true;
    let answer = run(&request).unwrap();
    assert!(
        answer.text.contains("different scenarios compared"),
        "{}",
        answer.text
    );

    request.head = dir.path().join("missing.json");
    let err = run(&request).unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("missing.json"), "{err}");
    std::fs::write(&head, "{\"version\": 1}").unwrap();
    request.head = head;
    let err = run(&request).unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("not a cowload outcome"), "{err}");
}

#[test]
fn golden_diff_outputs() {
    golden::check("outcome.head.json", &doctored().to_json());
    let c = compare(
        &[sample()],
        &[doctored()],
        Noise::default(),
        Design::Independent,
    );
    golden::check("diff.md", &render(&c, Format::Md));
    golden::check("diff.txt", &render(&c, Format::Text));
    golden::check("diff.json", &render(&c, Format::Json));
    // Three repeats a side, head 25 % slower: the PR comment as a reviewer sees it.
    let c = compare(
        &runs(1, 3, 0.03, 1.0),
        &runs(2, 3, 0.03, 1.25),
        Noise::default(),
        Design::Independent,
    );
    golden::check("diff.repeats.md", &render(&c, Format::Md));
}

#[test]
fn run_reads_repeat_directories_and_combined_files() {
    let dir = tempfile::tempdir().unwrap();
    let (base, head) = (dir.path().join("base"), dir.path().join("head"));
    for (side, outcomes) in [
        (&base, runs(3, 3, 0.03, 1.0)),
        (&head, runs(4, 3, 0.03, 1.25)),
    ] {
        for (i, o) in outcomes.iter().enumerate() {
            let run = side.join((i + 1).to_string());
            std::fs::create_dir_all(&run).unwrap();
            std::fs::write(run.join("outcome.json"), o.to_json()).unwrap();
        }
    }
    let mut request = Request {
        base: base.clone(),
        head: head.clone(),
        noise: Noise::default(),
        fail_on_regression: true,
        format: Format::Json,
        force: false,
        paired: false,
    };
    let from_dirs = run(&request).unwrap();
    assert_eq!(from_dirs.exit_code, 1, "{}", from_dirs.text);
    // The combined outcome.json of `--repeat` says the same.
    let combined = crate::commands::repeat::combine(runs(4, 3, 0.03, 1.25));
    std::fs::write(head.join("outcome.json"), combined.to_json()).unwrap();
    assert_eq!(run(&request).unwrap().text, from_dirs.text);
    request.head = head.join("outcome.json");
    assert_eq!(run(&request).unwrap().text, from_dirs.text);
    // A directory without outcomes is refused with a hint.
    request.head = dir.path().to_owned();
    let err = run(&request).unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(
        err.to_string().contains("numbered repeat directories"),
        "{err}"
    );
}

#[test]
fn interrupted_repeats_are_left_out_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut outcomes = runs(5, 3, 0.03, 1.0);
    // A repeat stopped part-way: its few samples would look like a speed-up.
    outcomes[2].status = crate::report::Status::Interrupted;
    let mock = outcomes[2].mock.as_mut().unwrap();
    mock.events.get_mut("twap").unwrap().latency_seconds.p50 = 0.01;
    let head = dir.path().join("head.json");
    std::fs::write(&head, crate::commands::repeat::combine(outcomes).to_json()).unwrap();
    let base = dir.path().join("base.json");
    std::fs::write(
        &base,
        crate::commands::repeat::combine(runs(6, 2, 0.03, 1.0)).to_json(),
    )
    .unwrap();
    let answer = run(&Request {
        base,
        head,
        noise: Noise::default(),
        fail_on_regression: true,
        format: Format::Json,
        force: false,
        paired: false,
    })
    .unwrap();
    let json: serde_json::Value = serde_json::from_str(&answer.text).unwrap();
    assert_eq!(
        (
            json["head"]["runs"].as_u64(),
            json["head"]["left_out"].as_u64()
        ),
        (Some(2), Some(1))
    );
    assert_eq!(json["improvements"], 0, "{}", answer.text);
}

#[test]
fn event_to_order_latency_is_its_own_family() {
    let c = compare(
        &runs(7, 3, 0.05, 1.0),
        &runs(8, 3, 0.05, 1.0),
        Noise::default(),
        Design::Independent,
    );
    let primary: Vec<&Row> = c.rows.iter().filter(|r| r.primary).collect();
    let names: Vec<&str> = primary.iter().map(|r| r.metric.as_str()).collect();
    assert_eq!(
        names,
        [
            "event→order p50 (ethflow)",
            "event→order p50 (twap)",
            "event→order p99 (ethflow)",
            "event→order p99 (twap)"
        ]
    );
    assert!(primary.iter().all(|r| r.level == Some(FDR_PRIMARY)));
    let other = find(&c, "cowload_event_to_order_seconds{kind=\"twap\"} p99");
    assert_eq!((other.primary, other.level), (false, Some(FDR_SECONDARY)));
    assert!((FDR - 0.05).abs() < 1e-12);
}

#[test]
fn paired_runs_show_a_shift_that_drift_between_pairs_hides() {
    // Five pairs made side by side while the machine drifted by ±20 % (the
    // same factor for both runs of a pair); head 10 % slower in every pair.
    let base = runs(11, 5, 0.2, 1.0);
    let head = runs(11, 5, 0.2, 1.1);
    let primary = |c: &Comparison| {
        c.rows
            .iter()
            .find(|r| r.metric == "event→order p50 (ethflow)")
            .map(|r| (r.test, r.change))
            .unwrap()
    };
    let independent = compare(&base, &head, Noise::default(), Design::Independent);
    assert_eq!(primary(&independent), (Test::Welch, Change::NotSignificant));
    let paired = compare(&base, &head, Noise::default(), Design::Paired);
    assert_eq!(primary(&paired), (Test::Paired, Change::Worse));
    assert!(paired.paired);
    let md = render(&paired, Format::Md);
    assert!(md.contains("the paired t-test over run pairs"), "{md}");
    assert!(md.contains("paired t p"), "{md}");
}

#[test]
fn runs_that_cannot_be_paired_are_refused_with_exit_two() {
    let request = Request {
        base: "base".into(),
        head: "head".into(),
        noise: Noise::default(),
        fail_on_regression: false,
        format: Format::Text,
        force: false,
        paired: true,
    };
    let error = compare_files(&runs(1, 3, 0.1, 1.0), &runs(2, 2, 0.1, 1.0), &request)
        .expect_err("3 runs against 2 cannot be paired");
    assert_eq!(error.exit_code(), 2);
    assert!(
        error
            .to_string()
            .contains("base has 3 complete run(s), head 2"),
        "{error}"
    );
    assert!(compare_files(&runs(1, 3, 0.1, 1.0), &runs(2, 3, 0.1, 1.0), &request).is_ok());
}

/// `runs` with the engine histogram's p50 read inside a bucket: every run of a side lands on
/// the same interpolated value, so each side is constant only because it was quantized.
fn bucketed(n: usize, p50: f64, bucket: Bucket) -> Vec<Outcome> {
    const KEY: &str = "shepherd_event_latency_seconds_histogram{module=\"ethflow\"}";
    (0..n)
        .map(|_| {
            let mut o = sample();
            o.metrics.insert(
                KEY.to_owned(),
                MetricSummary {
                    source: Source::Engine,
                    kind: MetricKind::Histogram,
                    start: Some(0.0),
                    end: Some(20.0),
                    delta: Some(20.0),
                    max: None,
                    quantiles: BTreeMap::from([("p50".to_owned(), p50)]),
                    quantiles_above: BTreeMap::new(),
                    quantile_buckets: BTreeMap::from([("p50".to_owned(), bucket)]),
                },
            );
            o
        })
        .collect()
}

/// Interpolated readings constant within each side that differ by less than a
/// bucket are not a change, however many runs agree.
#[test]
fn bucketed_readings_closer_than_a_bucket_are_not_flagged() {
    let bucket = Bucket {
        lower: 0.25,
        upper: Some(0.5),
    };
    let c = compare(
        &bucketed(10, 0.30, bucket),
        &bucketed(10, 0.40, bucket),
        Noise::default(),
        Design::Independent,
    );
    let row = find(
        &c,
        "shepherd_event_latency_seconds_histogram{module=\"ethflow\"} p50",
    );
    assert_eq!((row.change, row.test), (Change::Unchanged, Test::Threshold));
    assert_eq!(row.bucket_width, Some(0.25));
    assert!(row.threshold.unwrap() >= 0.25, "{row:?}");
    let json = render(&c, Format::Json);
    assert!(json.contains("\"bucket_width\": 0.25"), "{json}");
}

/// Sides that are constant because they were quantized give no zero-width
/// interval and no extreme p-value; a large move two runs a side cannot settle is said to be
/// not significant, never unchanged.
#[test]
fn a_large_move_between_quantized_sides_is_not_significant_not_unchanged() {
    let (low, high) = (
        Bucket {
            lower: 0.05,
            upper: Some(0.1),
        },
        Bucket {
            lower: 0.25,
            upper: Some(0.5),
        },
    );
    let c = compare(
        &bucketed(2, 0.0818, low),
        &bucketed(2, 0.4062, high),
        Noise::default(),
        Design::Independent,
    );
    let row = find(
        &c,
        "shepherd_event_latency_seconds_histogram{module=\"ethflow\"} p50",
    );
    let [lo, hi] = row.interval.expect("tested");
    assert!(hi - lo > 0.1, "a bucket-wide interval, not zero: {row:?}");
    assert!(row.p_value.unwrap() > 1e-4, "{row:?}");
    assert_eq!(
        (row.change, row.test),
        (Change::NotSignificant, Test::Welch)
    );
    assert!(!row.change.moved() && row.change.undecided());
    let md = render(&c, Format::Md);
    assert!(md.contains("not significant at 2 vs 2 runs"), "{md}");
    assert!(!md.contains("| unchanged |"), "{md}");
}
