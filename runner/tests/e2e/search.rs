//! `runner search` (issue 11): the known answer found by the search, a
//! search interrupted mid-probe, and bad arguments refused before anything starts.

use std::time::{Duration, Instant};

use runner::commands::search::{Search, SearchStatus, StopReason};

use crate::common::*;

const SCENARIO: &str = "scenarios/known-answer/search.yaml";

/// The search directory's `search.json`, typed.
fn search_json(dir: &std::path::Path) -> Search {
    let text = std::fs::read_to_string(dir.join("search.json")).expect("search.json written");
    Search::from_json(&text).unwrap_or_else(|e| panic!("{}/search.json: {e}", dir.display()))
}

/// The reference engine at 50 ms per event, sequential, 1-second blocks keeps
/// up with 20 events per block; the search must say 18–22 in at most 8 probes.
#[test]
fn search_finds_the_known_capacity_of_twenty_events_per_block() {
    require_anvil();
    let _machine = exclusive();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("search");
    let started = Instant::now();
    let output = runner()
        .args([
            "search",
            SCENARIO,
            "--min",
            "10",
            "--max",
            "40",
            "--max-probes",
            "8",
        ])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{err}");
    let search = search_json(&out);
    let capacity = search.capacity.unwrap();
    assert!((18..=22).contains(&capacity), "capacity {capacity}:\n{err}");
    let probes = &search.probes;
    assert!(probes.len() <= 8, "{} probes", probes.len());
    assert_eq!(search.status, SearchStatus::Found);
    assert_eq!(search.stopped, Some(StopReason::Precision));
    // The bracket is within 10 % and its upper end is a failing probe that
    // names the bar that broke first and its block.
    let failing = search.first_failing.unwrap();
    assert!(
        failing > capacity && (failing - capacity) * 10 <= capacity,
        "{capacity}..{failing}"
    );
    let breaking = search.breaking.as_ref().unwrap();
    assert_eq!(breaking.events_per_block, failing);
    let deciding = breaking
        .bar
        .as_ref()
        .unwrap_or_else(|| panic!("{breaking:?}"));
    assert!(
        deciding.bar.contains("shepherd_event_latency_seconds"),
        "{breaking:?}"
    );
    assert!(deciding.block.is_some(), "{breaking:?}");
    // Every probe kept the mix (EthFlow only), wrote its own run, and said so on one line.
    for probe in probes {
        let events = u64::from(probe.events_per_block);
        assert_eq!(probe.per_block[EventKind::Twap], 0);
        assert_eq!(probe.per_block[EventKind::EthFlow], events);
        let outcome = outcome(&probe.run_dir);
        assert_eq!(outcome.status, probe.status);
        // A probe ended early (only on a bar that failed for good) stops at
        // the block it names, and still fails; the others ran every block.
        let blocks = &outcome.blocks;
        match &probe.ended_early {
            Some(end) => {
                assert_eq!(probe.status, Status::Fail);
                assert_eq!(
                    outcome.ended_early.as_ref().map(|e| e.block),
                    Some(end.block)
                );
                assert_eq!(blocks.last().unwrap().number, end.block);
                assert!(blocks.len() < 10, "{} blocks", blocks.len());
            }
            None => {
                assert_eq!(blocks.len(), 10, "2 warm-up + 5 load + 3 drain");
                assert_eq!(outcome.totals.requested[EventKind::EthFlow], events * 5);
            }
        }
    }
    // At double the capacity, events are lost before the drain ends: the
    // lost-events bar can only grow, so it ends that probe early. The ramp
    // reaches 40 only when 20 passes, and 20 is the capacity to the event (50 ms
    // × 20 = the 1 s block), so on a busy machine it may fail and the search
    // bisects below it instead: then no probe ran at double the capacity.
    if let Some(double) = probes.iter().find(|p| p.events_per_block == 40) {
        assert_eq!(
            double.ended_early.as_ref().map(|e| e.bar.as_str()),
            Some("increase(cowload_events_lost_total) == 0"),
            "{double:?}"
        );
        assert!(err.contains("ended early at block"), "{err}");
    } else {
        let twenty = probes.iter().find(|p| p.events_per_block == 20);
        assert_eq!(
            twenty.map(|p| p.status),
            Some(Status::Fail),
            "without a probe at 40, the ramp stopped at a failing 20: {probes:?}"
        );
    }
    let lines = err
        .lines()
        .filter(|l| l.starts_with("search: probe") && l.contains("events/block"))
        .count();
    assert_eq!(lines, probes.len(), "{err}");
    let svg = std::fs::read_to_string(out.join("search.svg")).unwrap();
    assert_eq!(
        svg.matches("class=\"probe\"").count(),
        2 * probes.len(),
        "{svg}"
    );
    let md = std::fs::read_to_string(out.join("search.md")).unwrap();
    assert!(
        md.contains(&format!("**Capacity: {capacity} events per block**")),
        "{md}"
    );
    assert_all_gone(&printed_pids(&err));
    eprintln!(
        "search: capacity {capacity}, bracket {capacity}..{failing}, {} probes in {:.0} s",
        probes.len(),
        started.elapsed().as_secs_f64()
    );
}

/// The second known answer: 4 events at a time make the capacity 80.
#[test]
fn search_finds_the_known_capacity_with_concurrent_dispatch() {
    require_anvil();
    let _machine = exclusive();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("search");
    let output = runner()
        .args(["search", "scenarios/known-answer/search-concurrent.yaml"])
        .args(["--min", "40", "--max", "160"])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{err}");
    let search = search_json(&out);
    let capacity = search.capacity.unwrap();
    assert!((72..=88).contains(&capacity), "capacity {capacity}:\n{err}");
    assert!(search.probes.len() <= 8);
    assert_all_gone(&printed_pids(&err));
}

#[test]
fn an_interrupted_search_writes_its_partial_answer_and_exits_130() {
    require_anvil();
    let _machine = exclusive();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("search");
    let mut command = runner();
    command
        .args(["search", SCENARIO, "--min", "10", "--max", "40"])
        .arg("--out")
        .arg(&out);
    let mut second_probe = false;
    let running = start_and_follow(
        command,
        |line| {
            second_probe |= line.starts_with("search: probe 2:");
            second_probe && line.contains("load") && line.contains("1/5")
        },
        Duration::from_secs(90),
        "second probe",
    );
    let (code, seen) = running.interrupt();
    assert_eq!(code, Some(130), "{seen}");
    let search = search_json(&out);
    assert_eq!(search.status, SearchStatus::Interrupted);
    assert_eq!(search.exit_code, 130);
    let probes = &search.probes;
    assert_eq!(probes.len(), 2, "{search:#?}");
    assert_eq!(probes[0].status, Status::Pass);
    assert_eq!(probes[1].status, Status::Interrupted);
    assert_eq!(search.capacity, Some(10), "the first probe's pass is kept");
    assert_all_gone(&printed_pids(&seen));
}

#[test]
fn bad_search_arguments_exit_2_with_one_message_and_start_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for (args, expected) in [
        (
            &["--min", "30", "--max", "20"][..],
            "--max (20) is below --min (30)",
        ),
        (&["--max", "100000"][..], "chain.gas_limit"),
        (&["--precision", "0%"][..], "such as 10%"),
        (&["--budget", "soon"][..], "such as 20m"),
        (&["--max-probes", "0"][..], "--max-probes"),
    ] {
        let out = dir.path().join("never");
        let output = runner()
            .args(["search", SCENARIO])
            .args(args)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.matches(expected).count(), 1, "{args:?}: {err}");
        assert!(!out.exists(), "{args:?} created {}", out.display());
    }
}

#[test]
fn a_search_whose_min_already_fails_exits_1_after_one_probe() {
    require_anvil();
    let _machine = exclusive();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("search");
    let output = runner()
        .args(["search", SCENARIO, "--min", "40", "--max", "80"])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    let search = search_json(&out);
    assert_eq!(search.status, SearchStatus::BelowMin);
    assert_eq!(search.stopped, Some(StopReason::MinFailed));
    assert_eq!(search.capacity, None);
    assert_eq!(search.first_failing, Some(40));
    assert_eq!(search.probes.len(), 1);
    assert!(
        err.contains("No capacity in range: even 40 events per block failed"),
        "{err}"
    );
    assert_all_gone(&printed_pids(&err));
}

#[test]
fn a_probe_that_cannot_start_its_chain_stops_the_search_with_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("search");
    let output = runner()
        .args(["search", SCENARIO, "--min", "10", "--max", "40"])
        .args(["--anvil", "/nonexistent/anvil"])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(3), "{err}");
    let search = search_json(&out);
    assert_eq!((search.status, search.exit_code), (SearchStatus::Error, 3));
    let probes = &search.probes;
    assert_eq!(probes.len(), 1, "no probe after an infrastructure failure");
    assert!(
        probes[0]
            .error
            .as_deref()
            .unwrap()
            .contains("anvil not found"),
        "{search:#?}"
    );
    assert_eq!(err.matches("anvil not found").count(), 1, "{err}");
}
