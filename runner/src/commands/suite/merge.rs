//! `runner suite merge DIR... --out DIR`: the shards of one suite, combined.
//!
//! In: the directories `runner suite --shard I/N` wrote. Out: one suite directory with every
//! shard's run directories and the suite's `suite.json`, `suite.md` and `junit.xml`, as one
//! process running the whole suite would have written them (apart from timings and paths).
//!
//! Why: a suite too long for one machine runs as N CI jobs, and the verdict must still be one.
//! Shards of different suites, or a missing or doubled shard, are refused: a merged verdict
//! that silently lacks scenarios would pass what never ran.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::model::Suite;
use crate::error::RunError;
use crate::pipeline;
use crate::report::Outcome;

/// `runner suite merge` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct MergeRequest {
    /// The shard directories (each written by `runner suite --shard I/N`).
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// The merged suite directory (new or empty).
    #[arg(long)]
    pub out: PathBuf,
}

/// Reads, checks and combines the shards into `request.out`.
pub fn merge(request: &MergeRequest) -> Result<(Suite, PathBuf), RunError> {
    let shards = read_shards(&request.dirs)?;
    let dir = pipeline::make_run_dir("suite", Some(&request.out))?;
    let mut rows = Vec::new();
    let mut not_run = Vec::new();
    let mut took = Duration::ZERO;
    for (shard_dir, suite) in &shards {
        for row in &suite.scenarios {
            copy_dir(&shard_dir.join(&row.run_dir), &dir.join(&row.run_dir))?;
        }
        rows.extend(suite.scenarios.iter().cloned());
        not_run.extend(suite.not_run.iter().cloned());
        took = took.max(Duration::from_secs_f64(suite.duration_seconds));
    }
    rows.sort_by_key(|row| row.position);
    let first = &shards[0].1;
    let mut merged = super::judge(rows, not_run.into_iter(), took);
    merged.id = first.id.clone();
    merged.size = first.size;
    let outcomes: Vec<Option<Outcome>> = merged
        .scenarios
        .iter()
        .map(|row| {
            std::fs::read_to_string(dir.join(&row.run_dir).join("outcome.json"))
                .ok()
                .and_then(|text| Outcome::from_json(&text).ok())
        })
        .collect();
    super::write(&merged, &outcomes, &dir)?;
    Ok((merged, dir))
}

/// Every shard's suite, by shard number; refused unless they are shards 1..N of one suite,
/// each once.
fn read_shards(dirs: &[PathBuf]) -> Result<Vec<(PathBuf, Suite)>, RunError> {
    let mut by_index: BTreeMap<u32, (PathBuf, Suite)> = BTreeMap::new();
    let mut problems = Vec::new();
    for dir in dirs {
        let path = dir.join("suite.json");
        let suite: Suite = match std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|text| serde_json::from_str(&text).map_err(|e| e.to_string()))
        {
            Ok(suite) => suite,
            Err(e) => {
                problems.push(format!("{}: not a suite: {e}", path.display()));
                continue;
            }
        };
        let Some(shard) = suite.shard else {
            problems.push(format!(
                "{}: a whole suite, not a shard (run with --shard I/N)",
                dir.display()
            ));
            continue;
        };
        if let Some((other, _)) = by_index.get(&shard.index) {
            problems.push(format!(
                "{} and {} are both shard {}/{}",
                other.display(),
                dir.display(),
                shard.index,
                shard.count
            ));
            continue;
        }
        by_index.insert(shard.index, (dir.clone(), suite));
    }
    if let Some((_, (first_dir, first))) = by_index.iter().next() {
        let count = first.shard.map_or(0, |s| s.count);
        for (dir, suite) in by_index.values() {
            if suite.id != first.id || suite.shard.map(|s| s.count) != Some(count) {
                problems.push(format!(
                    "{} is shard {} of suite {} ({} shards), but {} is of suite {} ({count} shards): \
                     shards of different suites (other files, or another split)",
                    dir.display(),
                    suite.shard.map_or(0, |s| s.index),
                    suite.id,
                    suite.shard.map_or(0, |s| s.count),
                    first_dir.display(),
                    first.id
                ));
            }
        }
        let missing: Vec<String> = (1..=count)
            .filter(|i| !by_index.contains_key(i))
            .map(|i| format!("{i}/{count}"))
            .collect();
        if !missing.is_empty() {
            problems.push(format!("missing shards: {}", missing.join(", ")));
        }
    }
    if problems.is_empty() {
        Ok(by_index.into_values().collect())
    } else {
        Err(RunError::Usage(problems.join("\n")))
    }
}

/// Copies a run directory (files and subdirectories) into the merged suite.
fn copy_dir(from: &Path, to: &Path) -> Result<(), RunError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| RunError::RunDir { path, source }
    };
    std::fs::create_dir_all(to).map_err(io(to))?;
    for entry in std::fs::read_dir(from).map_err(io(from))? {
        let entry = entry.map_err(io(from))?;
        let target = to.join(entry.file_name());
        if entry.file_type().map_err(io(&entry.path()))?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target).map_err(io(&target))?;
        }
    }
    Ok(())
}
