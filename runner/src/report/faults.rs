//! The fault table: one row per fault of the scenario's timeline, with the
//! truth around it (events emitted during it, lost, duplicates, recovery
//! time), for the terminal and report.md.
//!
//! In: the outcome's `faults`. Out: rows of text, or nothing without faults.
//! Why a table of its own: a run with faults is judged per fault. The bars
//! only say that something was lost; this table says during which fault.

use cowload_spec::outcome::FaultRecord;

/// Column headers, in order.
pub const HEADERS: [&str; 7] = [
    "fault",
    "chain blocks",
    "events charged",
    "lost",
    "duplicates",
    "recovery",
    "what the runner did",
];

/// One row per fault, cells as text.
pub fn rows(faults: &[FaultRecord]) -> Vec<[String; 7]> {
    faults.iter().map(row).collect()
}

fn row(fault: &FaultRecord) -> [String; 7] {
    let truth = fault.truth.as_ref();
    let count = |pick: fn(&cowload_spec::SpanTruth) -> u64| {
        truth.map_or_else(|| "–".to_owned(), |t| pick(t).to_string())
    };
    let span = |first: u64, last: u64| {
        if first == last {
            first.to_string()
        } else {
            format!("{first}–{last}")
        }
    };
    let blocks = match (fault.blocks, fault.charged_from) {
        (Some((first, last)), Some(from)) => format!(
            "{} (charged from {from}: {} not yet read when it began)",
            span(first, last),
            span(from, first - 1)
        ),
        (Some((first, last)), None) => span(first, last),
        (None, _) => "not started".to_owned(),
    };
    let recovery = match (fault.ended, truth.and_then(|t| t.recovery_seconds)) {
        (false, _) => "run ended during it".to_owned(),
        (true, Some(seconds)) => format!("{seconds:.3} s"),
        (true, None) => "no order after it".to_owned(),
    };
    [
        format!(
            "{} {} at load block {} for {}",
            fault.index,
            fault.kind.name(),
            fault.at,
            fault.lasts
        ),
        blocks,
        events(truth),
        count(|t| t.lost),
        count(|t| t.duplicates),
        recovery,
        fault.actions.join("; "),
    ]
}

/// Events charged to the fault; those of blocks before it began, those a reorg took away
/// (with the orders they got anyway, each one an engine's mistake) and those not yet due
/// at the end are named.
fn events(truth: Option<&cowload_spec::SpanTruth>) -> String {
    let Some(t) = truth else {
        return "–".to_owned();
    };
    let mut notes = Vec::new();
    if t.events_before_start > 0 {
        notes.push(format!("{} from before it began", t.events_before_start));
    }
    if t.reorged > 0 {
        notes.push(format!(
            "{} reorged away, {} order(s) for them",
            t.reorged, t.orders_for_reorged
        ));
    }
    if t.unjudged > 0 {
        notes.push(format!("{} unjudged", t.unjudged));
    }
    match notes.is_empty() {
        true => t.events.to_string(),
        false => format!("{} ({})", t.events, notes.join("; ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cowload_spec::SpanTruth;

    fn record(ended: bool, truth: Option<SpanTruth>) -> FaultRecord {
        FaultRecord {
            index: 1,
            kind: crate::scenario::faults::FaultKind::EngineRestart,
            at: 5,
            lasts: "2 blocks".to_owned(),
            blocks: Some((16, 17)),
            charged_from: None,
            seconds: Some(2.1),
            ended,
            actions: vec![
                "SIGKILL to pid 7".to_owned(),
                "engine started again as pid 9".to_owned(),
            ],
            truth,
        }
    }

    /// The plot bands a fault over the blocks it held, and only with faults.
    #[test]
    fn the_plot_bands_each_fault_over_its_blocks() {
        let mut outcome = crate::report::tests::sample();
        let plain = crate::report::svg::render(&outcome);
        assert!(!plain.contains("fault "), "no fault, no band");
        let numbers: Vec<u64> = outcome.blocks.iter().map(|b| b.number).collect();
        let mut fault = record(true, None);
        fault.blocks = Some((numbers[1], numbers[2]));
        outcome.faults = vec![fault];
        let banded = crate::report::svg::render(&outcome);
        assert!(banded.contains("fault 1: engine_restart"), "{banded}");
        assert!(
            banded.contains("fill=\"#9467bd\" fill-opacity=\"0.15\""),
            "{banded}"
        );
        assert!(
            !banded.contains("fill-opacity=\"0.06\""),
            "no charged blocks before it"
        );
        outcome.faults[0].charged_from = Some(numbers[0]);
        outcome.blocks[3].engine_lag_blocks = Some(2);
        let charged = crate::report::svg::render(&outcome);
        assert!(charged.contains("fill-opacity=\"0.06\""), "{charged}");
        assert!(
            charged.contains("engine lag behind the chain head"),
            "{charged}"
        );
        assert!(
            !banded.contains("engine lag"),
            "no lag panel without engine.progress"
        );
    }

    #[test]
    fn a_row_carries_the_truth_around_its_fault() {
        let truth = SpanTruth {
            events: 8,
            lost: 2,
            duplicates: 1,
            recovery_seconds: Some(1.25),
            ..SpanTruth::default()
        };
        assert_eq!(
            row(&record(true, Some(truth))),
            [
                "1 engine_restart at load block 5 for 2 blocks",
                "16–17",
                "8",
                "2",
                "1",
                "1.250 s",
                "SIGKILL to pid 7; engine started again as pid 9",
            ]
        );
        let reorged = SpanTruth {
            events: 6,
            reorged: 6,
            orders_for_reorged: 2,
            ..SpanTruth::default()
        };
        assert_eq!(
            events(Some(&reorged)),
            "6 (6 reorged away, 2 order(s) for them)"
        );
        let unended = row(&record(false, None));
        assert_eq!(unended[2], "–");
        assert_eq!(unended[5], "run ended during it");
    }

    /// A fault is charged with the blocks the engine had not read when it began,
    /// and the table says which.
    #[test]
    fn a_fault_is_charged_with_the_blocks_the_engine_had_not_read() {
        let mut faults = vec![crate::faults::Acted {
            record: record(true, None),
            started_at: None,
            ended_at: None,
            started_after_block: Some(15),
        }];
        // Without engine.progress: the block mined just before the fault (15).
        crate::faults::charge(&mut faults, None, |_| None);
        assert_eq!(faults[0].record.charged_from, Some(15));
        assert_eq!(
            row(&faults[0].record)[1],
            "16–17 (charged from 15: 15 not yet read when it began)"
        );
        // An engine three blocks behind at the last scrape before the fault (after block 14):
        // 12, 13, 14 and 15.
        crate::faults::charge(&mut faults, None, |after| (after == 14).then_some(11));
        assert_eq!(faults[0].record.charged_from, Some(12));
        assert_eq!(
            row(&faults[0].record)[1],
            "16–17 (charged from 12: 12–15 not yet read when it began)"
        );
        // An engine that had read block 14 by then: still the block mined just before.
        crate::faults::charge(&mut faults, None, |_| Some(14));
        assert_eq!(faults[0].record.charged_from, Some(15));
        // A reading past it (a metric that runs ahead) never charges less than that block.
        crate::faults::charge(&mut faults, None, |_| Some(99));
        assert_eq!(faults[0].record.charged_from, Some(15));
        // An engine that had read nothing yet owes nothing before the first loaded block.
        crate::faults::charge(&mut faults, Some(14), |_| Some(0));
        assert_eq!(faults[0].record.charged_from, Some(14));
        // A reorg replaces its own blocks; the blocks before it are none of its doing.
        faults[0].record.kind = crate::scenario::faults::FaultKind::Reorg;
        crate::faults::charge(&mut faults, None, |_| None);
        assert_eq!(faults[0].record.charged_from, None);
    }
}
