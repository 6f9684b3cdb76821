//! What a suite writes besides `suite.json`: `suite.md` (a row per scenario) and `junit.xml`
//! (a test suite per scenario, a test case per bar).

use std::fmt::Write as _;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::model::Suite;
use crate::bars::Measure;
use crate::report::{format_value, junit, Outcome, Status};

/// `suite.md`: the verdict, then one row per scenario linking to its report.
pub fn markdown(suite: &Suite) -> String {
    let mut md = String::new();
    let passed = suite
        .scenarios
        .iter()
        .filter(|r| r.status == Status::Pass)
        .count();
    let _ = writeln!(
        md,
        "# cowload suite: {}\n\n**{passed} of {} scenarios passed** (exit {}, {})\n",
        verdict(suite.status),
        suite.scenarios.len() + suite.not_run.len(),
        suite.exit_code,
        super::short(std::time::Duration::from_secs_f64(suite.duration_seconds))
    );
    md.push_str(
        "| | scenario | verdict | first failed bar | bars held | events | lost | event→order p99 | time | report |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    for row in &suite.scenarios {
        let mark = if row.status == Status::Pass {
            "✓"
        } else {
            "✗"
        };
        let failed = match (&row.first_failed_bar, &row.error) {
            (Some(bar), _) => format!("`{}`", bar.replace('|', "\\|")),
            (None, Some(error)) if row.status != Status::Pass => {
                error.lines().next().unwrap_or_default().replace('|', "\\|")
            }
            _ => "–".to_owned(),
        };
        let _ = writeln!(
            md,
            "| {mark} | `{}` ({}) | {} | {failed} | {}/{} | {} | {} | {} | {} s | [report]({}/report.md) |",
            row.file.display(),
            row.name,
            verdict(row.status),
            row.bars_held,
            row.bars,
            row.events_delivered,
            row.events_lost.map_or("–".to_owned(), |n| n.to_string()),
            row.event_to_order_p99_seconds
                .map_or("–".to_owned(), |x| format_value(x, Measure::Seconds)),
            row.duration_seconds.round(),
            row.run_dir.display()
        );
    }
    for file in &suite.not_run {
        let _ = writeln!(md, "| – | `{}` | not run | | | | | | | |", file.display());
    }
    md
}

/// A verdict in capitals, as the page shows it: `PASS`, `FAIL`.
fn verdict(status: Status) -> String {
    status.label().to_ascii_uppercase()
}

/// `junit.xml`: each scenario's own test suite (a test case per bar); a scenario that could
/// not write an outcome is one errored test case, and one not run is a skipped one.
pub fn junit(suite: &Suite, outcomes: &[Option<Outcome>]) -> String {
    let mut report = Report::new("cowload suite");
    for (row, outcome) in suite.scenarios.iter().zip(outcomes) {
        let test_suite = match outcome {
            Some(outcome) => junit::test_suite(outcome),
            None => {
                let name = format!("cowload {}", row.name);
                let mut test_suite = TestSuite::new(name.as_str());
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
                status
                    .set_message(row.error.clone().unwrap_or_default())
                    .set_type("run");
                let mut case = TestCase::new("run completes", status);
                case.set_classname(name.as_str());
                test_suite.add_test_case(case);
                test_suite
            }
        };
        report.add_test_suite(test_suite);
    }
    for file in &suite.not_run {
        let name = format!("cowload {}", file.display());
        let mut test_suite = TestSuite::new(name.as_str());
        let mut case = TestCase::new("run completes", TestCaseStatus::skipped());
        case.set_classname(name.as_str());
        test_suite.add_test_case(case);
        report.add_test_suite(test_suite);
    }
    junit::xml(&report)
}
