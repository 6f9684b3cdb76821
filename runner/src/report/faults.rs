//! The fault table: one row per fault of the scenario's timeline, with the
//! truth around it (events emitted during it, lost, duplicates, recovery
//! time), for the terminal and report.md.
//!
//! In: the outcome's `faults`. Out: rows of text, or nothing without faults.
//! Why a table of its own: a run with faults is judged per fault. The bars
//! only say that something was lost; this table says during which fault.

use crate::faults::FaultRecord;

/// Column headers, in order.
pub const HEADERS: [&str; 7] = [
    "fault",
    "chain blocks",
    "events during",
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
    let count = |pick: fn(&mock_orderbook::SpanTruth) -> u64| {
        truth.map_or_else(|| "–".to_owned(), |t| pick(t).to_string())
    };
    let blocks = match fault.blocks {
        Some((first, last)) if first == last => first.to_string(),
        Some((first, last)) => format!("{first}–{last}"),
        None => "not started".to_owned(),
    };
    let recovery = match (fault.ended, truth.and_then(|t| t.recovery_seconds)) {
        (false, _) => "run ended during it".to_owned(),
        (true, Some(seconds)) => format!("{seconds:.3} s"),
        (true, None) => "no order after it".to_owned(),
    };
    [
        format!(
            "{} {} at load block {} for {}",
            fault.index, fault.kind, fault.at, fault.lasts
        ),
        blocks,
        events(truth),
        count(|t| t.lost),
        count(|t| t.duplicates),
        recovery,
        fault.actions.join("; "),
    ]
}

/// Events emitted in the fault's blocks; those a reorg took away are named,
/// with the orders they got anyway (each one an engine's mistake).
fn events(truth: Option<&mock_orderbook::SpanTruth>) -> String {
    match truth {
        None => "–".to_owned(),
        Some(t) if t.reorged == 0 => t.events.to_string(),
        Some(t) => format!(
            "{} ({} reorged away, {} order(s) for them)",
            t.events, t.reorged, t.orders_for_reorged
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mock_orderbook::SpanTruth;

    fn record(ended: bool, truth: Option<SpanTruth>) -> FaultRecord {
        FaultRecord {
            index: 1,
            kind: "engine_restart".to_owned(),
            at: 5,
            lasts: "2 blocks".to_owned(),
            blocks: Some((16, 17)),
            seconds: Some(2.1),
            ended,
            actions: vec![
                "SIGKILL to pid 7".to_owned(),
                "engine started again as pid 9".to_owned(),
            ],
            truth,
            started_at: None,
            ended_at: None,
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
}
