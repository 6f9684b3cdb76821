//! Scenario errors: every problem found in one file, each with its place.
//!
//! A scenario is checked as a whole so that the user fixes everything in one
//! round: syntax, types and meaning problems are collected into one
//! [`ScenarioError`] instead of stopping at the first one.

use std::fmt;
use std::path::{Path, PathBuf};

/// One thing wrong with a scenario file, at a place in it when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The scenario file, as given on the command line.
    pub path: PathBuf,
    /// 1-based line of the offending text, when it could be located.
    pub line: Option<usize>,
    /// 1-based column (in characters) of the offending text, when located.
    pub column: Option<usize>,
    /// What is wrong and, where possible, what to write instead.
    pub message: String,
}

impl Problem {
    /// A problem at a known place.
    pub fn at(path: &Path, place: Option<(usize, usize)>, message: impl Into<String>) -> Self {
        Self {
            path: path.to_path_buf(),
            line: place.map(|(line, _)| line),
            column: place.map(|(_, column)| column),
            message: message.into(),
        }
    }

    /// A problem about the file as a whole (unreadable, unknown format…).
    pub fn whole_file(path: &Path, message: impl Into<String>) -> Self {
        Self::at(path, None, message)
    }
}

impl fmt::Display for Problem {
    /// `FILE:LINE:COL: message`, or `FILE: message` when the place is unknown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        match (self.line, self.column) {
            (Some(line), Some(column)) => write!(f, ":{line}:{column}")?,
            (Some(line), None) => write!(f, ":{line}")?,
            _ => {}
        }
        write!(f, ": {}", self.message)
    }
}

/// Everything wrong with one scenario file; never empty.
///
/// Displays one problem per line, as `FILE:LINE:COL: message`, so editors and
/// CI annotations can jump to each one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", render(.problems))]
pub struct ScenarioError {
    /// The problems, in the order they were found (syntax first, then meaning).
    pub problems: Vec<Problem>,
}

impl ScenarioError {
    pub fn one(problem: Problem) -> Self {
        Self {
            problems: vec![problem],
        }
    }
}

fn render(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(Problem::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_prints_one_problem_per_line_with_its_place() {
        let path = Path::new("scenarios/x.yaml");
        let error = ScenarioError {
            problems: vec![
                Problem::at(path, Some((3, 7)), "load.blocks must be at least 1"),
                Problem::whole_file(path, "cannot read the file"),
                Problem {
                    path: path.to_path_buf(),
                    line: Some(4),
                    column: None,
                    message: "odd".into(),
                },
            ],
        };
        assert_eq!(
            error.to_string(),
            "scenarios/x.yaml:3:7: load.blocks must be at least 1\n\
             scenarios/x.yaml: cannot read the file\n\
             scenarios/x.yaml:4: odd"
        );
    }
}
