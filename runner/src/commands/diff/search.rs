//! `runner diff` on two `search.json`: did the capacity move? The capacity
//! and the lowest failing load are readings where higher is better, so
//! "capacity moved from 180 to 150 events per block" is a regression past
//! the noise band, and `--fail-on-regression` exits 1 on it.

use std::collections::BTreeMap;
use std::path::Path;

use super::compare::compare_readings;
use super::readings::{Class, Reading, Readings, Section, Unit};
use super::{check_same_scenario, Comparison, DiffError, Direction, Request, Side};
use crate::commands::search::{Search, SearchStatus};
use crate::report::Status;

/// The file as a search when it is one (`None`: read it as an outcome).
pub(super) fn read(path: &Path) -> Result<Option<Search>, DiffError> {
    let text = std::fs::read_to_string(path).map_err(|source| DiffError::Read {
        path: path.to_owned(),
        source,
    })?;
    let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) else {
        return Ok(None);
    };
    if value.get("probes").is_none() || value.get("settings").is_none() {
        return Ok(None);
    }
    Search::from_json(&text)
        .map(Some)
        .map_err(|reason| DiffError::Parse {
            path: path.to_owned(),
            reason,
        })
}

/// Two searches of the same scenario file, compared.
pub(super) fn compare_files(
    base: &Search,
    head: &Search,
    request: &Request,
) -> Result<Comparison, DiffError> {
    check_same_scenario(
        &base.scenario.name,
        &base.scenario.hash,
        &head.scenario.name,
        &head.scenario.hash,
        request.force,
    )?;
    Ok(compare(base, head, request.noise))
}

/// Compares `head` against `base`: capacity, first failing load, probes, time.
pub fn compare(base: &Search, head: &Search, noise: super::Noise) -> Comparison {
    compare_readings(
        side(base),
        side(head),
        &[readings(base)],
        &[readings(head)],
        noise,
        super::Design::Independent,
    )
}

fn side(s: &Search) -> Side {
    Side {
        scenario: s.scenario.name.clone(),
        hash: s.scenario.hash.clone(),
        status: match s.status {
            SearchStatus::Found => Status::Pass,
            SearchStatus::BelowMin => Status::Fail,
            SearchStatus::Running | SearchStatus::Interrupted => Status::Interrupted,
            SearchStatus::Error => Status::Error,
        },
        runs: 1,
        left_out: 0,
    }
}

/// One result per side: judged against the noise band (a search has no
/// repeats to test against).
fn readings(s: &Search) -> Readings {
    let events = |n: Option<u32>| n.map(f64::from);
    let reading = |value: Option<f64>, direction: Direction, seconds: bool| {
        let unit = if seconds { Unit::Seconds } else { Unit::Count };
        Reading::new(value, direction, unit, Class::Banded)
    };
    BTreeMap::from([
        (
            (Section::Search, "capacity (events/block)".to_owned()),
            reading(events(s.capacity), Direction::Higher, false),
        ),
        (
            (Section::Search, "first failing (events/block)".to_owned()),
            reading(events(s.first_failing), Direction::Higher, false),
        ),
        (
            (Section::Search, "probes".to_owned()),
            reading(Some(s.probes.len() as f64), Direction::Neutral, false),
        ),
        (
            (Section::Search, "search time".to_owned()),
            reading(Some(s.duration_seconds), Direction::Neutral, true),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::super::{run, Change, Format, Noise, Request};
    use crate::commands::search::Search;

    fn with_capacity(capacity: u32, failing: u32) -> Search {
        let mut s = crate::commands::search::tests::golden();
        s.capacity = Some(capacity);
        s.first_failing = Some(failing);
        s
    }

    fn request(dir: &std::path::Path, base: &Search, head: &str) -> Request {
        let path = dir.join("base.json");
        std::fs::write(&path, base.to_json()).unwrap();
        Request {
            base: path,
            head: dir.join(head),
            noise: Noise(5.0),
            fail_on_regression: true,
            format: Format::Md,
            force: false,
            paired: false,
        }
    }

    #[test]
    fn a_capacity_that_moved_down_is_a_regression() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("head.json"),
            with_capacity(150, 160).to_json(),
        )
        .unwrap();
        let answer = run(&request(dir.path(), &with_capacity(180, 190), "head.json")).unwrap();
        assert_eq!(answer.exit_code, 1, "{}", answer.text);
        let line = answer
            .text
            .lines()
            .find(|l| l.contains("capacity (events/block)"))
            .unwrap_or_else(|| panic!("{}", answer.text));
        assert!(line.contains("180") && line.contains("150"), "{line}");
        let comparison = super::compare(
            &with_capacity(180, 190),
            &with_capacity(150, 160),
            Noise(5.0),
        );
        assert_eq!(comparison.rows[0].change, Change::Worse);
        assert_eq!(comparison.regressions, 2);
        // Unchanged within the band; up is better.
        let same = super::compare(
            &with_capacity(180, 190),
            &with_capacity(184, 190),
            Noise(5.0),
        );
        assert_eq!(same.regressions, 0);
        let up = super::compare(
            &with_capacity(150, 160),
            &with_capacity(180, 190),
            Noise(5.0),
        );
        assert_eq!(up.rows[0].change, Change::Better);
    }

    #[test]
    fn a_search_and_an_outcome_are_not_compared() {
        let dir = tempfile::tempdir().unwrap();
        let outcome = crate::report::tests::sample();
        std::fs::write(dir.path().join("outcome.json"), outcome.to_json()).unwrap();
        let e = run(&request(
            dir.path(),
            &with_capacity(180, 190),
            "outcome.json",
        ))
        .unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(
            e.to_string()
                .contains("cannot be compared with a search.json"),
            "{e}"
        );
    }
}
