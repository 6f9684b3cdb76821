//! JUnit XML (`--junit FILE`): one test case per bar, so CI systems show each
//! bar as a passed or failed test. A run that stopped on an error adds one
//! errored test case carrying the error, so it never reads as green.

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::markdown::{observed, value};
use super::{Outcome, Status};

/// The XML for an outcome. No timestamps or durations: the same outcome
/// always renders the same bytes.
pub fn render(outcome: &Outcome) -> String {
    let mut report = Report::new("cowload");
    report.add_test_suite(test_suite(outcome));
    xml(&report)
}

/// The XML of a report, ending in a newline.
pub(crate) fn xml(report: &Report) -> String {
    report
        .to_string()
        .map(|mut xml| {
            if !xml.ends_with('\n') {
                xml.push('\n');
            }
            xml
        })
        .unwrap_or_else(|e| format!("<!-- cannot render JUnit XML: {e} -->\n"))
}

/// One test suite for an outcome: a test case per bar, and an errored one when the run
/// stopped on an error (or had no bars).
pub(crate) fn test_suite(outcome: &Outcome) -> TestSuite {
    let name = format!("cowload {}", outcome.scenario.name);
    let mut suite = TestSuite::new(name.as_str());
    for bar in &outcome.bars {
        let observed = match bar.observed {
            Some(_) => format!("observed {}", observed(bar)),
            None => observed(bar),
        };
        let limit = format!("{} {}", bar.op, value(bar.limit, bar.unit));
        let status = if bar.holds {
            TestCaseStatus::success()
        } else {
            let mut failed = TestCaseStatus::non_success(NonSuccessKind::Failure);
            failed
                .set_message(format!("{observed}, limit {limit}"))
                .set_type("bar");
            failed
        };
        let mut case = TestCase::new(bar.bar.as_str(), status);
        case.set_classname(name.as_str())
            .set_system_out(format!("{observed}; limit {limit}"));
        suite.add_test_case(case);
    }
    if matches!(outcome.status, Status::Error | Status::Interrupted) || outcome.bars.is_empty() {
        let message = match (&outcome.error, outcome.status) {
            (Some(error), _) => error.clone(),
            (None, Status::Interrupted) => "interrupted".to_owned(),
            (None, _) => "the scenario has no bars, so the run cannot pass".to_owned(),
        };
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
        status.set_message(message).set_type("run");
        let mut case = TestCase::new("run completes", status);
        case.set_classname(name.as_str());
        suite.add_test_case(case);
    }
    suite
}
