//! Comparisons of hand-built outcomes: the golden outcome against itself and
//! against a doctored head with a regression (`runner/tests/golden/`).

use super::*;
use crate::report::golden;
use crate::report::tests::sample;
use crate::report::{MetricSummary, Source};

/// The golden outcome with a regression: the latency bar now fails, p99s
/// rose, a series is new and one is gone, and a lost event disappeared.
pub(crate) fn doctored() -> Outcome {
    let mut head = sample();
    head.bars[1].observed = Some(2.4);
    head.bars[1].holds = false;
    head.bars[0].observed = Some(0.9);
    let mock = head.mock.as_mut().expect("the sample has mock stats");
    let twap = mock.events.get_mut("twap").expect("twap stats");
    twap.latency_seconds.p99 = 2.4;
    twap.latency_seconds.p50 = 0.41; // +2.5%: inside the band
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
fn an_outcome_against_itself_shows_no_change() {
    let c = compare(&sample(), &sample(), Noise::default());
    assert!(c.unchanged(), "{:#?}", c.rows);
    assert_eq!(c.regressions, 0);
    let md = render(&c, Format::Md);
    assert!(
        md.contains("**No change** beyond the ±5% noise band"),
        "{md}"
    );
    let text = render(&c, Format::Text);
    assert!(
        text.contains("no change beyond the ±5% noise band"),
        "{text}"
    );
}

#[test]
fn a_doctored_regression_is_flagged_and_flipped_bars_come_first() {
    let c = compare(&sample(), &doctored(), Noise::default());
    assert!(c.regressions > 0);
    let first = &c.rows[0];
    assert_eq!(
        first.metric,
        "bar: quantile(0.99, cowload_event_to_order_seconds) < 2s"
    );
    assert_eq!(first.change, Change::NowFails);
    assert_eq!(find(&c, "event→order p99 (twap)").change, Change::Worse);
    assert_eq!(find(&c, "event→order p50 (twap)").change, Change::Unchanged);
    assert_eq!(find(&c, "events lost (ethflow)").change, Change::Better);
    assert_eq!(
        find(&c, "reference_block_backlog{chain_id=\"11155111\"} max").change,
        Change::Removed
    );
    let new = find(
        &c,
        "shepherd_module_errors_total{error_kind=\"rpc_error\",module=\"twap\"} Δ",
    );
    assert_eq!((new.change, new.direction), (Change::New, Direction::Lower));
    // The failing ratio bar moved the right way but still fails: no flip.
    let ratio = find(&c, "bar: cowload_events_delivered_ratio == 1");
    assert_eq!(ratio.change, Change::Changed);
}

#[test]
fn the_noise_band_decides_what_counts_as_moved() {
    let base = sample();
    let mut head = sample();
    let mock = head.mock.as_mut().unwrap();
    mock.events.get_mut("twap").unwrap().latency_seconds.p99 = 1.9 * 1.08;
    let row = |noise: f64| {
        find(
            &compare(&base, &head, Noise(noise)),
            "event→order p99 (twap)",
        )
        .change
    };
    assert_eq!(row(5.0), Change::Worse);
    assert_eq!(row(10.0), Change::Unchanged);

    // Below a millisecond, a time reading never moves, whatever the percentage.
    let mut head = sample();
    head.bottleneck.stages[3].growth_seconds = 0.0009;
    let c = compare(&base, &head, Noise(5.0));
    assert_eq!(
        find(&c, "p99 growth: mock request latency").change,
        Change::Unchanged
    );
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
    let c = compare(&sample(), &doctored(), Noise::default());
    golden::check("diff.md", &render(&c, Format::Md));
    golden::check("diff.txt", &render(&c, Format::Text));
    golden::check("diff.json", &render(&c, Format::Json));
}
