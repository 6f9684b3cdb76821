//! The search's checks of its arguments, its answer from a bracket, the
//! search.json layout and schema, and search.md.

use super::*;
use crate::report::{Kinds, Stage};
use crate::scenario::PerBlock;

fn plan(body: &str) -> Plan {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.yaml");
    std::fs::write(&path, body).unwrap();
    crate::scenario::load(&path).unwrap()
}

fn mixed_plan() -> Plan {
    plan("version: 1\nname: s\nload: { blocks: 4, per_block: { twap: 1, ethflow: 3 } }\nbars: [increase(cowload_events_lost_total) == 0]\n")
}

fn request() -> Request {
    Request {
        min: 10,
        max: Some(40),
        precision: Precision(10.0),
        max_probes: 8,
        budget: Budget(Duration::from_secs(1200)),
        out: None,
        anvil: None,
    }
}

#[test]
fn arguments_are_parsed_and_refused_with_a_reason() {
    assert_eq!("10%".parse::<Precision>(), Ok(Precision(10.0)));
    assert_eq!(" 2.5 ".parse::<Precision>(), Ok(Precision(2.5)));
    for bad in ["0%", "100%", "-5", "ten", ""] {
        let e = bad.parse::<Precision>().unwrap_err();
        assert!(e.contains("such as 10%"), "{bad}: {e}");
    }
    assert_eq!(
        "20m".parse::<Budget>(),
        Ok(Budget(Duration::from_secs(1200)))
    );
    for bad in ["0s", "25h", "soon"] {
        assert!(bad.parse::<Budget>().is_err(), "{bad}");
    }
}

#[test]
fn settings_check_the_range_against_the_scenario() {
    let plan = mixed_plan();
    let ok = settings(&plan, &request()).unwrap();
    assert_eq!((ok.min, ok.max, ok.growth), (10, 40, GROWTH));
    let refused = |r: Request| match settings(&plan, &r) {
        Err(e @ SearchError::Usage(_)) => {
            assert_eq!(e.exit_code(), 2);
            e.to_string()
        }
        other => panic!("{other:?}"),
    };
    assert!(refused(Request {
        min: 0,
        ..request()
    })
    .contains("--min"));
    assert!(refused(Request {
        min: 50,
        ..request()
    })
    .contains("below --min"));
    assert!(refused(Request {
        max_probes: 0,
        ..request()
    })
    .contains("--max-probes"));
    let gas = refused(Request {
        max: Some(MAX_EVENTS_PER_BLOCK),
        ..request()
    });
    assert!(gas.contains("chain.gas_limit"), "{gas}");
    // Without --max: what the gas limit allows, capped.
    let default = settings(
        &plan,
        &Request {
            max: None,
            ..request()
        },
    )
    .unwrap();
    let by_gas = plan.scenario.chain.gas_limit / TX_GAS_LIMIT;
    assert_eq!(
        u64::from(default.max),
        by_gas.min(u64::from(DEFAULT_MAX_CEILING))
    );
}

#[test]
fn a_scaled_plan_keeps_everything_but_the_load_and_rehashes() {
    let plan = mixed_plan();
    let scaled = plan.with_per_block(scale(plan.scenario.load.per_block, 20));
    assert_eq!(scaled.scenario.load.per_block, PerBlock::from([5, 15]));
    assert_eq!(scaled.scenario.seed, plan.scenario.seed);
    assert_eq!(scaled.scenario.chain, plan.scenario.chain);
    assert_eq!(scaled.bars.len(), plan.bars.len());
    assert_ne!(scaled.hash, plan.hash);
    let same = plan.with_per_block(plan.scenario.load.per_block);
    assert_eq!(same.hash, plan.hash);
}

fn probe(index: u32, events: u32, status: Status) -> Probe {
    let failed = status == Status::Fail;
    Probe {
        index,
        events_per_block: events,
        per_block: Kinds::from([0, u64::from(events)]),
        status,
        exit_code: if failed { 1 } else { 0 },
        decided_by: failed.then(|| DecidingBar {
            bar: "quantile(0.99, shepherd_event_latency_seconds) < 1s".to_owned(),
            observed: Some(f64::from(events) * 0.06),
            unit: crate::bars::Measure::Seconds,
            at: "block 7".to_owned(),
            block: Some(7),
        }),
        ended_early: None,
        grew_most: failed.then_some(Stage::EngineLatency),
        lost: Some(if failed { 3 } else { 0 }),
        bars: vec![ProbeBar {
            bar: "quantile(0.99, shepherd_event_latency_seconds) < 1s".to_owned(),
            observed: Some(f64::from(events) * 0.06),
            unit: crate::bars::Measure::Seconds,
            limit: 1.0,
            holds: !failed,
        }],
        error: None,
        run_dir: PathBuf::from(format!("/s/probe-{index:02}-{events}")),
        duration_seconds: 12.5,
    }
}

/// A finished search over a 20-events-per-block engine, probed by hand.
pub(crate) fn golden() -> Search {
    let plan = plan("version: 1\nname: known\nseed: 1\nload: { blocks: 4, per_block: { ethflow: 20 } }\nbars: [increase(cowload_events_lost_total) == 0]\n");
    let mut search = start(
        &plan,
        settings(&plan, &request()).unwrap(),
        PathBuf::from("/s"),
    );
    search.scenario.file = PathBuf::from("scenarios/known.yaml");
    let mut bracket = Bracket::default();
    for (i, (events, pass)) in [
        (10, true),
        (20, true),
        (40, false),
        (30, false),
        (25, false),
        (22, false),
    ]
    .into_iter()
    .enumerate()
    {
        let status = if pass { Status::Pass } else { Status::Fail };
        search.probes.push(probe(i as u32 + 1, events, status));
        bracket.record(events, pass);
    }
    conclude(&mut search, bracket, StopReason::Precision);
    search.duration_seconds = 75.0;
    search
}

#[test]
fn the_answer_is_the_bracket_and_what_broke_just_above_it() {
    let s = golden();
    assert_eq!((s.status, s.exit_code), (SearchStatus::Found, 0));
    assert_eq!((s.capacity, s.first_failing), (Some(20), Some(22)));
    let breaking = s.breaking.as_ref().unwrap();
    assert_eq!(breaking.events_per_block, 22);
    assert_eq!(breaking.bar.as_ref().unwrap().block, Some(7));
    assert_eq!(breaking.grew_most, Some(Stage::EngineLatency));
    // Round trip, and a foreign version refused.
    assert_eq!(Search::from_json(&s.to_json()).unwrap(), s);
    let other = s.to_json().replace("\"version\": 1", "\"version\": 9");
    assert!(Search::from_json(&other).unwrap_err().contains("version 9"));
}

#[test]
fn exit_codes_follow_the_status() {
    let mut s = golden();
    let only_fail = Bracket {
        pass: None,
        fail: Some(10),
    };
    conclude(&mut s, only_fail, StopReason::MinFailed);
    assert_eq!(
        (s.status, s.exit_code, s.capacity),
        (SearchStatus::BelowMin, 1, None)
    );
    conclude(
        &mut s,
        Bracket {
            pass: Some(20),
            fail: None,
        },
        StopReason::Interrupted,
    );
    assert_eq!((s.status, s.exit_code), (SearchStatus::Interrupted, 130));
    conclude(
        &mut s,
        Bracket {
            pass: Some(20),
            fail: None,
        },
        StopReason::Error,
    );
    assert_eq!((s.status, s.exit_code), (SearchStatus::Error, 3));
    conclude(
        &mut s,
        Bracket {
            pass: Some(40),
            fail: None,
        },
        StopReason::MaxPassed,
    );
    assert_eq!(
        (s.status, s.exit_code, s.capacity),
        (SearchStatus::Found, 0, Some(40))
    );
    assert!(s.breaking.is_none());
}

#[test]
fn the_probe_budget_and_the_time_budget_stop_the_search() {
    let mut s = golden();
    let now = Instant::now();
    assert_eq!(
        out_of_budget(&s, now, Duration::from_secs(3600)),
        None,
        "6 of 8 probes, time to spare"
    );
    // The next probe would take as long as the longest (12.5 s).
    assert_eq!(
        out_of_budget(&s, now, Duration::from_secs(10)),
        Some(StopReason::TimeBudget)
    );
    s.settings.max_probes = 6;
    assert_eq!(
        out_of_budget(&s, now, Duration::from_secs(3600)),
        Some(StopReason::ProbeBudget)
    );
}

#[test]
fn search_md_has_the_answer_and_one_row_per_probe() {
    let md = render_markdown(&golden());
    assert!(md.contains("**Capacity: 20 events per block**"), "{md}");
    // The terminal's line is the same answer, plain.
    let line = summary_line(&golden());
    assert!(
        line.starts_with("Capacity: 20 events per block: every bar held at 20"),
        "{line}"
    );
    assert!(!line.contains("**"), "{line}");
    assert!(md.contains("bracket 20–22, 10 %"), "{md}");
    assert!(
        md.contains("at 22 events per block, the first bar to fail was `quantile(0.99, shepherd_event_latency_seconds) < 1s` (observed 1.320 s) at block 7; the stage that grew most was engine event latency"),
        "{md}"
    );
    assert_eq!(md.matches("\n| ").count(), 1 + 6, "{md}");
    assert!(
        md.contains("| 2 | 20 | 0 + 20 | pass | every bar held | 0 | 12.5 s | probe-02-20 |"),
        "{md}"
    );
    let line = markdown::progress_line(&golden().probes[2], 8, Duration::from_secs(40));
    assert_eq!(
        line,
        "search: probe 3/8  40 events/block  FAIL  first failed: `quantile(0.99, shepherd_event_latency_seconds) < 1s` (observed 2.400 s) at block 7  12.5 s (total 40.0 s)"
    );
}

#[test]
fn committed_schema_is_up_to_date() {
    let committed = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../schemas/search.schema.json"
    ));
    assert!(
        committed == json_schema(),
        "schemas/search.schema.json is stale: run `runner schema --search > schemas/search.schema.json`"
    );
    let schema: serde_json::Value = serde_json::from_str(committed).unwrap();
    assert_eq!(schema["title"], "cowload search");
    let required: Vec<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for key in ["probes", "status", "exit_code"] {
        assert!(required.contains(&key), "{key} missing from {required:?}");
    }
    for key in ["capacity", "first_failing", "breaking"] {
        assert!(
            schema["properties"][key]["description"].is_string(),
            "{key} undescribed"
        );
    }
}

#[test]
fn a_probe_ended_early_says_by_which_bar_and_at_which_block() {
    let mut p = probe(3, 40, Status::Fail);
    p.ended_early = Some(crate::report::EndedEarly {
        bar: "increase(cowload_events_lost_total) == 0".to_owned(),
        block: 16,
    });
    let line = markdown::progress_line(&p, 8, Duration::from_secs(30));
    assert!(
        line.contains(
            "at block 7; ended early at block 16 by `increase(cowload_events_lost_total) == 0`"
        ),
        "{line}"
    );
}

#[test]
fn search_svg_plots_every_probe_against_the_breaking_bar_and_loss() {
    let s = golden();
    let svg = svg::render(&s);
    assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
    // Six probes in each of the two panels; one limit and two capacity lines.
    assert_eq!(svg.matches("class=\"probe\"").count(), 12, "{svg}");
    assert_eq!(svg.matches("class=\"limit\"").count(), 1, "{svg}");
    assert_eq!(svg.matches("class=\"capacity\"").count(), 2, "{svg}");
    assert_eq!(svg.matches("data-events=\"22\"").count(), 2, "{svg}");
    assert!(
        svg.contains("&lt; 1s (failed first above the capacity)"),
        "{svg}"
    );
    // Without a failing probe there is no bar to plot: the loss panel only.
    let mut passing = s.clone();
    passing.breaking = None;
    assert_eq!(svg::render(&passing).matches("class=\"probe\"").count(), 6);
}
