//! One side of `runner diff`, as given on the command line.
//!
//! In: a path: an `outcome.json` (one run, or the combined file of
//! `runner SCENARIO --repeat N` with every repeat inside), a `search.json`, a
//! run directory, or a repeat directory without a combined file
//! (`DIR/1/outcome.json`, `DIR/2/outcome.json`, …). Out: the runs of that
//! side, or a search.
//!
//! Why directories too: CI keeps whole run directories as artifacts; pointing
//! the diff at them saves knowing which file inside holds what.

use std::path::{Path, PathBuf};

use super::{search, DiffError};
use crate::commands::search::Search;
use crate::report::Outcome;

/// What a path held.
pub(super) enum Loaded {
    /// A capacity search.
    Search(Box<Search>),
    /// One run or more of one scenario, in run order.
    Runs(Vec<Outcome>),
    /// A suite directory (`runner suite`): its `suite.json`, and the directory.
    Suite(Box<crate::commands::suite::Suite>, PathBuf),
}

/// Reads `path` as a file or a directory.
pub(super) fn load(path: &Path) -> Result<Loaded, DiffError> {
    if !path.is_dir() {
        return load_file(path);
    }
    let suite_file = path.join("suite.json");
    if suite_file.is_file() {
        let text = std::fs::read_to_string(&suite_file).map_err(|source| DiffError::Read {
            path: suite_file.clone(),
            source,
        })?;
        let suite = serde_json::from_str(&text).map_err(|e| DiffError::Parse {
            path: suite_file.clone(),
            reason: format!("not a cowload suite: {e}"),
        })?;
        return Ok(Loaded::Suite(Box::new(suite), path.to_owned()));
    }
    for name in ["outcome.json", "search.json"] {
        let file = path.join(name);
        if file.is_file() {
            return load_file(&file);
        }
    }
    let repeats = numbered(path)?;
    if repeats.is_empty() {
        return Err(DiffError::Parse {
            path: path.to_owned(),
            reason: "no outcome.json, search.json or numbered repeat directories (1/outcome.json, 2/outcome.json, …) in this directory; \
                     pass a run directory, a repeat directory or an outcome.json"
                .to_owned(),
        });
    }
    let runs = repeats
        .iter()
        .map(|file| read_outcome(file))
        .collect::<Result<Vec<_>, _>>()?;
    same_scenario(path, &runs)?;
    Ok(Loaded::Runs(runs))
}

fn load_file(path: &Path) -> Result<Loaded, DiffError> {
    if let Some(found) = search::read(path)? {
        return Ok(Loaded::Search(Box::new(found)));
    }
    let mut outcome = read_outcome(path)?;
    if outcome.repeats.is_empty() {
        return Ok(Loaded::Runs(vec![outcome]));
    }
    let runs = std::mem::take(&mut outcome.repeats);
    same_scenario(path, &runs)?;
    Ok(Loaded::Runs(runs))
}

/// `DIR/N/outcome.json` for every numbered subdirectory, by number.
fn numbered(dir: &Path) -> Result<Vec<PathBuf>, DiffError> {
    let entries = std::fs::read_dir(dir).map_err(|source| DiffError::Read {
        path: dir.to_owned(),
        source,
    })?;
    let mut found: Vec<(u64, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let n = e.file_name().to_str()?.parse::<u64>().ok()?;
            let file = e.path().join("outcome.json");
            file.is_file().then_some((n, file))
        })
        .collect();
    found.sort();
    Ok(found.into_iter().map(|(_, file)| file).collect())
}

/// Repeats of one side must come from one scenario.
fn same_scenario(path: &Path, runs: &[Outcome]) -> Result<(), DiffError> {
    let first = &runs[0].scenario;
    match runs
        .iter()
        .enumerate()
        .find(|(_, o)| o.scenario.hash != first.hash)
    {
        Some((i, other)) => Err(DiffError::Parse {
            path: path.to_owned(),
            reason: format!(
                "repeat {} ran scenario `{}` (hash {}), repeat 1 ran `{}` (hash {}); the repeats of one side must run one scenario",
                i + 1,
                other.scenario.name,
                other.scenario.hash,
                first.name,
                first.hash
            ),
        }),
        None => Ok(()),
    }
}

fn read_outcome(path: &Path) -> Result<Outcome, DiffError> {
    let text = std::fs::read_to_string(path).map_err(|source| DiffError::Read {
        path: path.to_owned(),
        source,
    })?;
    Outcome::from_json(&text).map_err(|reason| DiffError::Parse {
        path: path.to_owned(),
        reason,
    })
}
