//! The outcome layout, its schema and the golden renderings of a hand-built
//! outcome (`runner/tests/golden/`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use cowload_spec::bars::Bucket;
use cowload_spec::{EventKind, PerKind};

use super::build::{load_window, normalise_command};
use super::*;
use crate::load::Delivery;
use crate::metrics::Series;

fn kinds(twap: u64, ethflow: u64) -> Kinds {
    Kinds::from([twap, ethflow])
}

fn block(number: u64, phase: BlockPhase, n: u64, received: u64, p99: Option<f64>) -> BlockRow {
    BlockRow {
        number,
        phase,
        requested: kinds(n, n),
        delivered: kinds(n, n),
        active_twaps: number.saturating_sub(10) * n,
        metrics: BlockMetrics {
            orders_received: received,
            orders_accepted: received,
            events_lost: 0,
            event_to_order_p50_seconds: p99.map(|x| round6(x / 2.0)),
            event_to_order_p99_seconds: p99,
            engine_latency_p99_seconds: p99.map(|x| round6(x * 0.8)),
            mock_request_p99_seconds: p99.map(|_| 0.012),
            events_awaiting: n,
            engine_rss_bytes: None,
        },
        // Two samples whose nearest-rank p50 and p99 are the quantiles above.
        event_to_order_samples_seconds: p99.map(|x| vec![round6(x / 2.0), x]).unwrap_or_default(),
        engine_lag_blocks: None,
        failures: Vec::new(),
    }
}

fn metric(
    source: Source,
    kind: MetricKind,
    start: f64,
    end: f64,
    quantiles: &[(&str, f64)],
) -> MetricSummary {
    MetricSummary {
        source,
        kind,
        start: Some(start),
        end: Some(end),
        delta: Some(end - start),
        max: (kind == MetricKind::Gauge).then_some(end.max(start)),
        quantiles: quantiles
            .iter()
            .map(|(k, v)| ((*k).to_owned(), *v))
            .collect(),
        quantiles_above: BTreeMap::new(),
        quantile_buckets: BTreeMap::new(),
    }
}

/// What `orders.jsonl` said in short for the sample: one EthFlow event lost after two
/// 503s, one TWAP part rejected.
fn orders_summary() -> OrdersSummary {
    use cowload_spec::{
        LossReason, OrderLine, OrderOutcome, PartWindow, RequestCount, RequestLine, Route,
    };
    let post = |answer: &str, status, seconds_after_event| RequestLine {
        route: Route::PostOrder,
        answer: answer.to_owned(),
        status: Some(status),
        seconds_after_event,
        head_block: 14,
        uid: None,
    };
    let lost = OrderLine {
        kind: EventKind::EthFlow,
        part: None,
        tx: alloy::primitives::B256::repeat_byte(0xe1),
        block: 14,
        log_index: 3,
        owner: alloy::primitives::Address::repeat_byte(0x0e),
        window: None,
        opened_block: None,
        deadline_block: 17,
        uid: None,
        outcome: OrderOutcome::Lost,
        reason: Some(LossReason::GaveUpOnRetryable),
        first_accepted: None,
        requests: vec![post("Http503", 503, 0.2), post("Http503", 503, 1.2)],
        requests_total: 2,
        request_counts: vec![RequestCount {
            route: Route::PostOrder,
            status: Some(503),
            requests: 2,
        }],
    };
    let missing = OrderLine {
        kind: EventKind::Twap,
        part: Some(1),
        tx: alloy::primitives::B256::repeat_byte(0x7a),
        block: 12,
        log_index: 0,
        owner: alloy::primitives::Address::repeat_byte(0x0a),
        window: Some(PartWindow {
            start: 1_735_689_613,
            valid_to: 1_735_689_614,
        }),
        opened_block: Some(13),
        deadline_block: 16,
        outcome: OrderOutcome::Lost,
        reason: Some(LossReason::Rejected),
        requests: vec![post("InsufficientFee", 400, 1.7)],
        request_counts: vec![RequestCount {
            route: Route::PostOrder,
            status: Some(400),
            requests: 1,
        }],
        requests_total: 1,
        ..lost.clone()
    };
    OrdersSummary {
        lines: 66,
        by_outcome: BTreeMap::from([
            ("lost".to_owned(), 2),
            ("matched".to_owned(), 42),
            ("unjudged".to_owned(), 2),
        ]),
        failed: vec![missing, lost],
        failed_total: 2,
        requests_per_order: vec![
            PerOrderRequests {
                route: Route::PostOrder,
                status: Some(201),
                orders_with: 42,
                requests: 42,
                p50: 1.0,
                p99: 1.0,
                max: 1.0,
            },
            PerOrderRequests {
                route: Route::GetOrder,
                status: Some(404),
                orders_with: 38,
                requests: 76,
                p50: 2.0,
                p99: 2.0,
                max: 2.0,
            },
        ],
    }
}

fn distribution(count: u64, p50: f64, p99: f64) -> Distribution {
    Distribution {
        count,
        min: round6(p50 / 2.0),
        p50,
        p90: round6((p50 + p99) / 2.0),
        p99,
        max: round6(p99 * 1.1),
        mean: round6(p50 * 1.1),
    }
}

/// A failed run of 6 blocks, written by hand: the golden files render this.
pub(crate) fn sample() -> Outcome {
    let mut blocks = vec![
        block(10, BlockPhase::Warmup, 0, 0, None),
        block(11, BlockPhase::Load, 5, 4, Some(0.21)),
        block(12, BlockPhase::Load, 5, 10, Some(0.25)),
        block(13, BlockPhase::Load, 5, 10, Some(0.6)),
        block(14, BlockPhase::Load, 5, 9, Some(1.4)),
        block(15, BlockPhase::Drain, 0, 6, Some(1.9)),
    ];
    blocks[4].delivered = kinds(5, 4);
    blocks[4].failures.push(FailureRow {
        kind: "ethflow".to_owned(),
        tx: format!("0x{}", "ab".repeat(32)),
        sender: format!("0x{}", "12".repeat(20)),
        nonce: 7,
        reason: "reverted: OrderIsAlreadyOwned".to_owned(),
    });
    blocks[4].metrics.events_lost = 1;
    let mut metrics = BTreeMap::new();
    metrics.insert(
        "cowload_events_delivered_total{kind=\"ethflow\"}".to_owned(),
        metric(Source::Harness, MetricKind::Counter, 0.0, 19.0, &[]),
    );
    metrics.insert(
        "cowload_events_lost_total{kind=\"ethflow\"}".to_owned(),
        metric(Source::Mock, MetricKind::Counter, 0.0, 1.0, &[]),
    );
    metrics.insert(
        "cowload_event_to_order_seconds{kind=\"twap\"}".to_owned(),
        metric(
            Source::Mock,
            MetricKind::Histogram,
            0.0,
            20.0,
            &[("p50", 0.4), ("p90", 1.2), ("p99", 1.9)],
        ),
    );
    metrics.insert(
        "shepherd_cow_api_submit_total{chain_id=\"11155111\",outcome=\"accepted\"}".to_owned(),
        metric(Source::Engine, MetricKind::Counter, 0.0, 39.0, &[]),
    );
    metrics.insert(
        "shepherd_cow_api_submit_total{chain_id=\"11155111\",outcome=\"rejected\"}".to_owned(),
        metric(Source::Engine, MetricKind::Counter, 0.0, 0.0, &[]),
    );
    metrics.insert(
        "shepherd_event_latency_seconds{event_kind=\"conditional_order_created\",module=\"twap\"}"
            .to_owned(),
        metric(
            Source::Engine,
            MetricKind::Summary,
            0.0,
            20.0,
            &[("p50", 0.3), ("p99", 1.5)],
        ),
    );
    metrics.insert(
        "reference_block_backlog{chain_id=\"11155111\"}".to_owned(),
        metric(Source::Engine, MetricKind::Gauge, 0.0, 2.0, &[]),
    );
    let mut events = BTreeMap::new();
    events.insert(
        "ethflow".to_owned(),
        MockEvents {
            registered: 19,
            matched: 18,
            lost: 1,
            late: 0,
            awaiting: 0,
            latency_seconds: distribution(18, 0.3, 1.8),
            blocks: distribution(18, 1.0, 2.0),
            posts_per_event: distribution(18, 1.0, 1.0),
            lost_reasons: BTreeMap::from([
                ("gave_up_on_retryable".to_owned(), 1),
                ("never_posted".to_owned(), 0),
            ]),
            ..Default::default()
        },
    );
    events.insert(
        "twap".to_owned(),
        MockEvents {
            registered: 20,
            matched: 20,
            lost: 0,
            late: 0,
            awaiting: 0,
            latency_seconds: distribution(20, 0.4, 1.9),
            blocks: distribution(20, 1.0, 2.0),
            posts_per_event: distribution(24, 1.0, 2.0),
            parts_expected: 27,
            parts_matched: 24,
            parts_missing: 1,
            parts_unjudged: 2,
            parts_missing_reasons: BTreeMap::from([("rejected".to_owned(), 1)]),
            ..Default::default()
        },
    );
    let mut orders_received = BTreeMap::new();
    orders_received.insert(
        "ethflow".to_owned(),
        BTreeMap::from([
            ("accepted".to_owned(), 18),
            ("InsufficientFee".to_owned(), 0),
        ]),
    );
    orders_received.insert(
        "twap".to_owned(),
        BTreeMap::from([("accepted".to_owned(), 20), ("duplicate".to_owned(), 1)]),
    );
    Outcome {
        version: OUTCOME_VERSION,
        scenario: ScenarioInfo {
            name: "golden".to_owned(),
            file: PathBuf::from("scenarios/golden.yaml"),
            hash: "0f".repeat(32),
            seed: 7,
        },
        versions: Versions {
            runner: "0.1.0".to_owned(),
            anvil: "anvil/v1.7.1".to_owned(),
            engine_command: Some(vec![
                "reference-engine".to_owned(),
                "--config".to_owned(),
                "<run_dir>/engine-config.toml".to_owned(),
            ]),
        },
        chain: ChainInfo {
            mode: ChainMode::Local,
            chain_id: 11_155_111,
            fork_url: None,
            fork_block: None,
            fixture: None,
            block_time_seconds: 1.0,
            gas_limit: 30_000_000,
        },
        status: Status::Fail,
        exit_code: 1,
        error: None,
        ended_early: None,
        checkpoint: None,
        totals: Totals {
            requested: kinds(20, 20),
            delivered: kinds(20, 19),
            delivered_ratio: Some(0.975),
        },
        bars: vec![
            BarResult {
                bar: "cowload_events_delivered_ratio == 1".to_owned(),
                observed: Some(0.975),
                unit: crate::bars::Measure::Plain,
                op: crate::bars::Op::Eq,
                limit: 1.0,
                holds: false,
                reason: None,
                bucket: None,
            },
            BarResult {
                bar: "quantile(0.99, cowload_event_to_order_seconds) < 2s".to_owned(),
                observed: Some(1.9),
                unit: crate::bars::Measure::Seconds,
                op: crate::bars::Op::Lt,
                limit: 2.0,
                holds: true,
                reason: None,
                // The harness's own latency: read from its exact samples, no bucket.
                bucket: None,
            },
            BarResult {
                bar: "increase(shepherd_module_errors_total) == 0".to_owned(),
                observed: Some(0.0),
                unit: crate::bars::Measure::Plain,
                op: crate::bars::Op::Eq,
                limit: 0.0,
                holds: true,
                reason: None,
                bucket: None,
            },
            BarResult {
                bar: "max(engine_queue_depth) < 100".to_owned(),
                observed: None,
                unit: crate::bars::Measure::Plain,
                op: crate::bars::Op::Lt,
                limit: 100.0,
                holds: false,
                reason: Some("metric `engine_queue_depth` not found in any scrape".to_owned()),
                bucket: None,
            },
        ],
        window: Some(LoadWindow {
            from: "block 10".to_owned(),
            to: "end".to_owned(),
            scrapes: 7,
            first_block: Some(11),
            last_block: Some(15),
        }),
        event_to_order_seconds: PerKind::from([
            distribution(20, 0.4, 1.9),
            distribution(18, 0.3, 1.8),
        ]),
        bottleneck: Bottleneck {
            first_failed_bar: Some(FirstFailure {
                bar: "cowload_events_delivered_ratio == 1".to_owned(),
                at: "block 14".to_owned(),
                block: Some(14),
            }),
            stages: vec![
                StageGrowth {
                    stage: Stage::EventToOrder,
                    early_seconds: 0.23,
                    late_seconds: 1.0,
                    growth_seconds: 0.77,
                },
                StageGrowth {
                    stage: Stage::EngineLatency,
                    early_seconds: 0.184,
                    late_seconds: 0.8,
                    growth_seconds: 0.616,
                },
                StageGrowth {
                    stage: Stage::HarnessLateness,
                    early_seconds: 0.0,
                    late_seconds: 0.002,
                    growth_seconds: 0.002,
                },
                StageGrowth {
                    stage: Stage::MockRequest,
                    early_seconds: 0.012,
                    late_seconds: 0.012,
                    growth_seconds: 0.0,
                },
            ],
            grew_most: Some(Stage::EventToOrder),
            stalled: None,
        },
        blocks,
        mock: Some(MockSummary {
            head: 16,
            order_deadline_blocks: 3,
            posts: 39,
            orders_received,
            unmatched_orders: 0,
            pending_posts: 0,
            events,
            requests: BTreeMap::from([(
                "/api/v1/orders".to_owned(),
                BTreeMap::from([("201".to_owned(), 38), ("400".to_owned(), 1)]),
            )]),
            app_data_documents: 0,
        }),
        requests_per_order: vec![
            RouteRequests {
                route: "/api/v1/orders/{uid}".to_owned(),
                status: "404".to_owned(),
                requests: 76.0,
                per_accepted_order: Some(2.0),
            },
            RouteRequests {
                route: "/api/v1/orders".to_owned(),
                status: "201".to_owned(),
                requests: 38.0,
                per_accepted_order: Some(1.0),
            },
        ],
        metrics,
        orders: Some(orders_summary()),
        faults: Vec::new(),
        run: RunSection {
            started_at: "2025-01-01T00:00:00Z".to_owned(),
            duration_seconds: 12.5,
            chain_setup_seconds: 0.12,
            time_to_first_load_block_seconds: Some(3.2),
            run_dir: PathBuf::from("runs/golden"),
            chain_genesis_timestamp: Some(1_735_689_600),
            engine_log_tail: vec![
                "INFO engine: block 14 processed".to_owned(),
                "INFO engine: shutting down".to_owned(),
            ],
            blocks: (10..16)
                .map(|n| BlockTimingRow {
                    number: n,
                    build_ms: 1.5,
                    send_ms: 2.0,
                    verify_ms: 3.0,
                    late_ms: if n == 14 { 2.0 } else { 0.0 },
                })
                .collect(),
        },
        repeats: Vec::new(),
    }
}

#[test]
fn committed_schema_is_up_to_date() {
    let committed = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../schemas/outcome.schema.json"
    ));
    assert!(
        committed == json_schema(),
        "schemas/outcome.schema.json is stale: run `runner schema --outcome > schemas/outcome.schema.json`"
    );
    let orders = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../schemas/orders.schema.json"
    ));
    assert!(
        orders == cowload_spec::order_line_schema(),
        "schemas/orders.schema.json is stale: run `runner schema --orders > schemas/orders.schema.json`"
    );
}

#[test]
fn the_schema_requires_the_stable_sections_and_describes_them() {
    let schema: serde_json::Value = serde_json::from_str(&json_schema()).expect("valid JSON");
    let required: Vec<&str> = schema["required"]
        .as_array()
        .expect("required list")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    for key in [
        "version",
        "scenario",
        "versions",
        "chain",
        "status",
        "exit_code",
        "bars",
        "blocks",
        "metrics",
        "run",
    ] {
        assert!(required.contains(&key), "{key} missing from {required:?}");
    }
    assert_eq!(schema["title"], "cowload outcome");
}

#[test]
fn keys_come_in_a_fixed_order_with_wall_clock_last() {
    let json = sample().to_json();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let top: Vec<&String> = value.as_object().unwrap().keys().collect();
    let position = |k: &str| json.find(&format!("\n  \"{k}\":")).unwrap();
    let mut last = 0;
    for key in [
        "version",
        "scenario",
        "versions",
        "chain",
        "status",
        "exit_code",
        "error",
        "totals",
        "bars",
        "bottleneck",
        "blocks",
        "mock",
        "metrics",
        "run",
    ] {
        let at = position(key);
        assert!(at > last, "{key} out of order in {top:?}");
        last = at;
    }
    // Nothing outside `run` carries the start time or a duration.
    let (stable, _) = json.split_at(position("run"));
    for volatile in ["started_at", "duration", "_ms\"", "\"run_dir\""] {
        assert!(
            !stable.contains(volatile),
            "{volatile} outside the run section"
        );
    }
}

#[test]
fn an_outcome_reads_back_equal_and_other_versions_are_refused() {
    let outcome = sample();
    // Text → outcome → text is the identity for the rounded values outcomes hold.
    let json = outcome.to_json();
    assert_eq!(Outcome::from_json(&json).unwrap().to_json(), json);
    let mut value: serde_json::Value = serde_json::from_str(&outcome.to_json()).unwrap();
    value["version"] = 99.into();
    let err = Outcome::from_json(&value.to_string()).unwrap_err();
    assert!(err.contains("outcome version 99 is not supported"), "{err}");
    assert!(Outcome::from_json("{}")
        .unwrap_err()
        .contains("no `version`"));
    assert!(Outcome::from_json("nope")
        .unwrap_err()
        .starts_with("not JSON"));
}

#[test]
fn the_run_and_scenario_directories_are_taken_out_of_the_engine_command() {
    let command = [
        "python3",
        "/repo/load/engine.py",
        "--config",
        "/tmp/run-1/engine-config.json",
    ]
    .map(String::from);
    assert_eq!(
        normalise_command(
            &command,
            std::path::Path::new("/tmp/run-1"),
            std::path::Path::new("/repo/load")
        ),
        [
            "python3",
            "<scenario_dir>/engine.py",
            "--config",
            "<run_dir>/engine-config.json"
        ]
    );
}

#[test]
fn golden_outcome_json() {
    super::golden::check("outcome.json", &sample().to_json());
}

#[test]
fn golden_report_md() {
    let md = render_markdown(&sample());
    assert!(
        md.starts_with("# cowload: golden\n\n**❌ FAIL"),
        "verdict first:\n{md}"
    );
    super::golden::check("report.md", &md);
}

#[test]
fn golden_junit_xml() {
    let xml = render_junit(&sample());
    assert_eq!(xml.matches("<testcase ").count(), 4, "{xml}");
    assert_eq!(xml.matches("<failure").count(), 2, "{xml}");
    super::golden::check("junit.xml", &xml);
}

#[test]
fn golden_plot_svg() {
    let svg = render_svg(&sample());
    assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>\n"));
    assert_eq!(svg.matches("<polyline").count(), 1, "one latency line");
    super::golden::check("plot.svg", &svg);
}

#[test]
fn a_passing_outcome_reads_as_a_pass_everywhere() {
    let mut outcome = sample();
    outcome.bars.retain(|b| b.holds);
    outcome.status = Status::Pass;
    outcome.exit_code = 0;
    outcome.bottleneck.first_failed_bar = None;
    let md = render_markdown(&outcome);
    assert!(md.contains("**✅ PASS: every bar held** (exit 0)"), "{md}");
    assert!(!md.contains("First bar to fail"), "{md}");
    let xml = render_junit(&outcome);
    assert!(
        !xml.contains("<failure") && !xml.contains("<error"),
        "{xml}"
    );
    let table = summary_text(&outcome);
    assert!(table.contains("status Pass · exit 0"), "{table}");
}

#[test]
fn an_errored_run_is_an_errored_test_case() {
    let mut outcome = sample();
    outcome.status = Status::Error;
    outcome.exit_code = 3;
    outcome.error = Some("anvil died".to_owned());
    let xml = render_junit(&outcome);
    assert!(
        xml.contains("<error") && xml.contains("anvil died"),
        "{xml}"
    );
}

#[test]
fn writing_puts_every_file_in_the_run_directory() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let summary = dir.path().join("step-summary.md");
    std::fs::write(&summary, "earlier step\n").unwrap();
    write_to(&sample(), dir.path(), Some(&junit), Some(&summary)).unwrap();
    let appended = std::fs::read_to_string(&summary).unwrap();
    assert!(
        appended.starts_with("earlier step\n# cowload: golden"),
        "{appended}"
    );
    assert!(
        appended.contains("## Bars") && !appended.contains("## Files"),
        "{appended}"
    );
    for name in ["outcome.json", "report.md", "plot.svg", "junit.xml"] {
        let text = std::fs::read_to_string(dir.path().join(name)).unwrap();
        assert!(!text.is_empty(), "{name}");
    }
    let err = write_to(&sample(), &dir.path().join("missing"), None, None).unwrap_err();
    assert!(err.to_string().contains("outcome.json"), "{err}");
}

/// An interpolated quantile shows its bucket, and a
/// rank in the `+Inf` bucket prints as "> bound", never as the bound itself.
#[test]
fn observed_values_show_their_bucket_or_that_they_are_only_a_bound() {
    let bar = |observed: Option<f64>, bucket: Option<Bucket>, reason: Option<&str>| BarResult {
        bar: "quantile(0.99, x_seconds) < 12s".to_owned(),
        observed,
        unit: crate::bars::Measure::Seconds,
        op: crate::bars::Op::Lt,
        limit: 12.0,
        holds: false,
        reason: reason.map(str::to_owned),
        bucket,
    };
    let open = |lower| Some(Bucket { lower, upper: None });
    let closed = |lower, upper| {
        Some(Bucket {
            lower,
            upper: Some(upper),
        })
    };
    let cases = [
        (bar(Some(10.0), open(10.0), None), "> 10 s"),
        (bar(Some(0.25), open(0.25), None), "> 250 ms"),
        (
            bar(Some(55.2), closed(30.0, 60.0), None),
            "55.200 s (30–60 s bucket)",
        ),
        (
            bar(Some(0.2425), closed(0.1, 0.25), None),
            "242.5 ms (100–250 ms bucket)",
        ),
        (
            bar(Some(0.75), closed(0.5, 1.0), None),
            "750.0 ms (500 ms–1 s bucket)",
        ),
        (
            bar(Some(0.0025), closed(0.0, 0.005), None),
            "2.5 ms (0–5 ms bucket)",
        ),
        (bar(Some(1.5), None, None), "1.500 s"),
        (
            bar(Some(10.0), open(10.0), Some("cannot be decided")),
            "> 10 s; cannot be decided",
        ),
        (
            bar(None, None, Some("metric missing")),
            "no data: metric missing",
        ),
        (bar(None, None, None), "no data"),
    ];
    for (bar, want) in cases {
        assert_eq!(markdown::observed(&bar), want);
    }
    // Every report prints the bound, not the bound as if it were the value.
    let mut outcome = sample();
    outcome.bars[1].observed = Some(10.0);
    outcome.bars[1].bucket = open(10.0);
    outcome.bars[1].holds = false;
    for text in [
        markdown::render(&outcome),
        terminal::summary_text(&outcome),
        junit::render(&outcome),
    ] {
        // JUnit XML escapes `>`.
        assert!(
            text.contains("> 10 s") || text.contains("&gt; 10 s"),
            "{text}"
        );
        assert!(!text.contains("10.000 s"), "{text}");
    }
    let json = outcome.to_json();
    assert!(json.contains("\"upper\": null"), "{json}");
    assert_eq!(Outcome::from_json(&json).unwrap(), outcome);
}

/// The outcome and every report say which scrapes the bars judged.
#[test]
fn the_load_window_is_in_the_outcome_and_the_reports() {
    let outcome = sample();
    let want = "scrapes `block 10` → `end` (blocks 11–15, 7 scrapes)";
    assert!(markdown::render(&outcome).contains(want));
    assert!(terminal::summary_text(&outcome).contains(&want.replace('`', "")));
    let json = outcome.to_json();
    assert!(json.contains("\"first_block\": 11"), "{json}");
    let mut none = outcome.clone();
    none.window = None;
    assert!(markdown::render(&none).contains("No load window"));
    // Older outcomes without the field still read (as no window).
    let mut value: serde_json::Value = serde_json::from_str(&json).unwrap();
    value.as_object_mut().unwrap().remove("window");
    let back = Outcome::from_json(&value.to_string()).unwrap();
    assert_eq!(back.window, None);
}

/// The window the pipeline opens is the one the outcome reports.
#[test]
fn the_outcome_window_comes_from_the_series() {
    use crate::metrics::Snapshot;
    let mut series = Series::new();
    for label in ["start", "block 1", "block 2"] {
        series.push_labelled(label, Snapshot::default());
    }
    series.open_window();
    for label in ["block 3", "end"] {
        series.push_labelled(label, Snapshot::default());
    }
    let w = load_window(&series, &Delivery::default()).unwrap();
    assert_eq!(
        (w.from.as_str(), w.to.as_str(), w.scrapes),
        ("block 2", "end", 3)
    );
    series.window_start = Some(series.points.len());
    assert_eq!(load_window(&series, &Delivery::default()), None);
}

#[test]
fn the_report_says_what_block_time_does_to_the_engine_budget() {
    let fast = super::markdown::time_compression(11_155_111, 1.0).unwrap();
    assert!(fast.contains("12.0× tighter"), "{fast}");
    let slow = super::markdown::time_compression(1, 24.0).unwrap();
    assert!(slow.contains("2.0× more time"), "{slow}");
    let same = super::markdown::time_compression(1, 12.0).unwrap();
    assert!(same.contains("production cadence"), "{same}");
    assert_eq!(super::markdown::time_compression(31_337, 1.0), None);
}

#[test]
fn an_engine_that_posts_nothing_while_events_wait_is_named_stalled() {
    let metrics = |received: u64, awaiting: u64, lost: u64| BlockMetrics {
        orders_received: received,
        events_awaiting: awaiting,
        events_lost: lost,
        ..BlockMetrics::default()
    };
    let rows = [
        (10, metrics(5, 5, 0)),
        (11, metrics(0, 10, 0)),
        (12, metrics(0, 15, 0)),
        (13, metrics(0, 20, 0)),
        (14, metrics(0, 20, 5)),
        (15, metrics(3, 22, 0)),
    ];
    let view: Vec<(u64, &BlockMetrics)> = rows.iter().map(|(n, m)| (*n, m)).collect();
    assert_eq!(
        super::timeline::stall(&view),
        Some(Stall {
            from_block: 11,
            blocks: 4,
            events_waiting: 20,
            events_lost: 5
        })
    );
    // Two silent blocks are a hiccup; silence with nothing waiting is idleness.
    let short = [
        (1, metrics(0, 5, 1)),
        (2, metrics(0, 5, 1)),
        (3, metrics(1, 0, 0)),
    ];
    let idle = [
        (1, metrics(0, 0, 0)),
        (2, metrics(0, 0, 0)),
        (3, metrics(0, 0, 0)),
    ];
    // Events awaited and none overdue (an engine that waits for confirmations,
    // a capacity run's backlog without an engine) is no stall.
    let awaited = [
        (1, metrics(0, 5, 0)),
        (2, metrics(0, 10, 0)),
        (3, metrics(0, 15, 0)),
        (4, metrics(15, 0, 0)),
    ];
    for rows in [&short[..], &idle[..], &awaited[..]] {
        let view: Vec<(u64, &BlockMetrics)> = rows.iter().map(|(n, m)| (*n, m)).collect();
        assert_eq!(super::timeline::stall(&view), None);
    }
}

#[test]
fn per_block_latency_quantiles_are_exact_not_bucketed() {
    use cowload_spec::{ExactHistogram, ExactSamples};
    let mut series = Series::new();
    // Ten samples between 10 and 123.5 ms: a 100–250 ms bucket would interpolate
    // p99 towards 250 ms; the samples say 123.5 ms. Both kinds count.
    let samples = [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1235];
    let mut exact = PerKind::<ExactSamples>::default();
    for (i, x) in samples.iter().enumerate() {
        let kind = EventKind::ALL[i % 2];
        exact[kind].push(ExactHistogram::EventToOrderSeconds, *x);
    }
    series.push_block(12, crate::metrics::Snapshot::default());
    series.attach_exact(exact);
    series.push_block(13, crate::metrics::Snapshot::default());
    series.attach_exact(PerKind::default());
    assert_eq!(block_latency(&series, 12, 0.99), Some(0.1235));
    assert_eq!(block_latency(&series, 12, 0.5), Some(0.05));
    assert_eq!(block_latency(&series, 13, 0.99), None);
    assert_eq!(block_latency(&series, 14, 0.99), None);
}

#[test]
fn a_load_ended_early_is_named_in_the_report() {
    let mut outcome = sample();
    assert!(!markdown::render(&outcome).contains("ended early"));
    outcome.ended_early = Some(EndedEarly {
        bar: "increase(cowload_events_lost_total) == 0".to_owned(),
        block: 14,
    });
    let md = markdown::render(&outcome);
    assert!(
        md.contains(
            "The load ended early, after block 14: `increase(cowload_events_lost_total) == 0`"
        ),
        "{md}"
    );
    assert!(outcome.to_json().contains("\"ended_early\""));
    assert!(
        !sample().to_json().contains("ended_early"),
        "absent when the load ran to its end"
    );
}

/// With the engine's memory read per block, the plot gains its panel, scaled in bytes.
#[test]
fn the_plot_shows_the_engines_memory_when_it_was_read() {
    let mut outcome = sample();
    assert!(!svg::render(&outcome).contains("engine resident memory"));
    for (i, block) in outcome.blocks.iter_mut().enumerate() {
        block.metrics.engine_rss_bytes = Some(20e6 + i as f64 * 1e6);
    }
    let plot = svg::render(&outcome);
    assert!(plot.contains("engine resident memory"), "{plot}");
    assert!(plot.contains(" MB<"), "the axis reads in MB: {plot}");
}
