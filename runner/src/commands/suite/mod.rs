//! `runner suite PATH…`: many scenarios, one after another, judged as one.
//!
//! In: scenario files and directories (searched recursively for `*.yaml`, `*.yml` and
//! `*.toml`, in name order). Out: a suite directory holding each scenario's run directory,
//! `suite.json` ([`model::Suite`]), `suite.md` and `junit.xml` (a test suite per scenario, a
//! test case per bar), and the suite's exit code.
//!
//! Why: a release gate is baseline, load, every fault and field scenario together, and CI
//! wants one verdict and one page for them. Every file is read and checked before anything
//! runs, so a typo in the last scenario does not surface an hour in; a failed scenario does
//! not stop the others unless `--fail-fast`.

mod merge;
pub mod model;
mod render;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Exit, RunError};
use crate::pipeline::{self, Options};
use crate::report::{self, Status};
use crate::scenario::{self, Plan, ScenarioError};
use crate::shutdown::Cancel;

pub use merge::{merge, MergeRequest};
pub use model::{json_schema, Shard, Suite, SuiteRow};

/// Time a run spends besides its blocks (Anvil, the fixture, the engine's start, the
/// report), for the estimate of what is left.
const STARTUP_ESTIMATE: Duration = Duration::from_secs(10);

/// How often a scenario of the suite writes its verdict so far (`runner run`'s default).
const DEFAULT_CHECKPOINT: Duration = Duration::from_secs(300);

/// `runner suite` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct Request {
    /// Scenario files and directories (searched recursively for .yaml, .yml and .toml).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Suite directory (default: runs/suite-<timestamp>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Stop after the first scenario that does not pass.
    #[arg(long)]
    pub fail_fast: bool,
    /// Anvil binary (default: $ANVIL, PATH, ~/.foundry/bin, ./node_modules).
    #[arg(long)]
    pub anvil: Option<PathBuf>,
    /// Run only part I of N of the suite (`--shard 2/4`): the same split on every machine
    /// given the same files, balanced by each scenario's estimated length. Combine the
    /// shards' directories with `runner suite merge`.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    pub shard: Option<Shard>,
}

/// `--shard I/N` with 1 ≤ I ≤ N ≤ 1000.
fn parse_shard(text: &str) -> Result<Shard, String> {
    let bad = || format!("`{text}`: write the shard as I/N, such as 2/4 (1 ≤ I ≤ N)");
    let (index, count) = text.trim().split_once('/').ok_or_else(bad)?;
    let index: u32 = index.trim().parse().map_err(|_| bad())?;
    let count: u32 = count.trim().parse().map_err(|_| bad())?;
    if index == 0 || index > count || count > 1000 {
        return Err(bad());
    }
    Ok(Shard { index, count })
}

/// The suite's identity: a hash of its scenarios' plan hashes, in order.
pub fn id(plans: &[(PathBuf, Plan)]) -> String {
    let joined: String = plans.iter().map(|(_, p)| format!("{}\n", p.hash)).collect();
    let hash = alloy::primitives::keccak256(joined.as_bytes());
    hash.to_string()[2..14].to_owned()
}

/// Which positions (from 1) each of `count` shards runs: longest estimate first, each to
/// the shard with the least estimated time so far (the lowest-numbered on a tie), then each
/// shard's in suite order. The same on every machine given the same files.
pub fn partition(plans: &[(PathBuf, Plan)], count: u32) -> Vec<Vec<usize>> {
    let mut order: Vec<(usize, Duration)> = plans
        .iter()
        .enumerate()
        .map(|(i, (_, plan))| (i + 1, estimate(plan)))
        .collect();
    order.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut shards = vec![(Duration::ZERO, Vec::new()); count as usize];
    for (position, length) in order {
        let lightest = (0..shards.len())
            .min_by_key(|&s| (shards[s].0, s))
            .expect("at least one shard");
        shards[lightest].0 += length;
        shards[lightest].1.push(position);
    }
    shards
        .into_iter()
        .map(|(_, mut positions)| {
            positions.sort_unstable();
            positions
        })
        .collect()
}

/// Every scenario file under `paths`, in the order given, each directory's in name order; a
/// `.suite` file is a list of such paths, one per line (`#` starts a comment), relative to it.
pub fn files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    files_within(paths, 0)
}

/// Suite files listing suite files: at most this deep, so a file that lists itself ends.
const MAX_SUITE_NESTING: usize = 8;

fn files_within(paths: &[PathBuf], depth: usize) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for path in paths {
        if path.extension().is_some_and(|e| e == "suite") {
            if depth >= MAX_SUITE_NESTING {
                return Err(format!(
                    "{}: suite files nest more than {MAX_SUITE_NESTING} deep; does one list itself?",
                    path.display()
                ));
            }
            out.extend(files_within(&listed(path)?, depth + 1)?);
        } else if path.is_dir() {
            collect(path, &mut out).map_err(|e| format!("{}: {e}", path.display()))?;
        } else if path.is_file() {
            out.push(path.clone());
        } else {
            return Err(format!("{}: no such file or directory", path.display()));
        }
    }
    if out.is_empty() {
        return Err("no scenario file (.yaml, .yml, .toml) in the given paths".to_owned());
    }
    Ok(out)
}

/// The paths a `.suite` file lists, relative to its own directory.
fn listed(file: &Path) -> Result<Vec<PathBuf>, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let base = file.parent().unwrap_or(Path::new("."));
    let paths: Vec<PathBuf> = text
        .lines()
        .map(|line| line.split('#').next().unwrap_or_default().trim())
        .filter(|line| !line.is_empty())
        .map(|line| base.join(line))
        .collect();
    if paths.is_empty() {
        return Err(format!("{}: lists no scenario", file.display()));
    }
    Ok(paths)
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect(&path, out)?;
        } else if cowload_spec::scenario::parse::Format::of(&path).is_some() {
            out.push(path);
        }
    }
    Ok(())
}

/// Reads and checks every file; all problems of all files at once when any has one.
pub fn plans(files: &[PathBuf]) -> Result<Vec<(PathBuf, Plan)>, Vec<ScenarioError>> {
    let mut plans = Vec::new();
    let mut errors = Vec::new();
    for file in files {
        match scenario::load(file) {
            Ok(plan) => plans.push((file.clone(), plan)),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(plans)
    } else {
        Err(errors)
    }
}

/// How long `plan` should take: its blocks at its block time, plus start-up.
fn estimate(plan: &Plan) -> Duration {
    let load = &plan.scenario.load;
    let blocks = load.warmup_blocks + load.blocks + load.drain_blocks;
    plan.scenario.chain.block_time.0.saturating_mul(blocks) + STARTUP_ESTIMATE
}

/// Runs the plans one after another into the suite directory and writes its files.
pub async fn run(
    plans: &[(PathBuf, Plan)],
    request: &Request,
    cancel: &Cancel,
) -> Result<(Suite, PathBuf), RunError> {
    let dir = pipeline::make_run_dir("suite", request.out.as_deref())?;
    let dir = std::path::absolute(&dir).map_err(|source| RunError::RunDir {
        path: dir.clone(),
        source,
    })?;
    let started = Instant::now();
    let positions: Vec<usize> = match request.shard {
        Some(shard) => partition(plans, shard.count)[shard.index as usize - 1].clone(),
        None => (1..=plans.len()).collect(),
    };
    if let Some(shard) = request.shard {
        eprintln!(
            "suite: shard {}/{} runs {} of {} scenarios: positions {positions:?}",
            shard.index,
            shard.count,
            positions.len(),
            plans.len()
        );
    }
    let mut rows = Vec::new();
    let mut outcomes = Vec::new();
    let mut stopped_at = positions.len();
    for (index, &position) in positions.iter().enumerate() {
        let (file, plan) = &plans[position - 1];
        let left: Duration = positions[index..]
            .iter()
            .map(|p| estimate(&plans[p - 1].1))
            .sum();
        eprintln!(
            "suite [{}/{}] {}: about {}; {} so far, about {} left",
            index + 1,
            positions.len(),
            file.display(),
            short(estimate(plan)),
            short(started.elapsed()),
            short(left)
        );
        let run_dir = PathBuf::from(format!("{position:02}-{}", plan.scenario.name));
        let options = Options {
            out: Some(dir.join(&run_dir)),
            anvil: request.anvil.clone(),
            // As `runner run` does by default: a long scenario that dies leaves its verdict.
            checkpoint: Some(DEFAULT_CHECKPOINT),
            ..Options::default()
        };
        let begun = Instant::now();
        let result = pipeline::run(plan, &options, cancel).await;
        let seconds = begun.elapsed().as_secs_f64();
        let row = match &result {
            Ok(finished) => {
                report::print_summary(&finished.outcome);
                outcomes.push(Some(finished.outcome.clone()));
                SuiteRow::of(position, file.clone(), run_dir, &finished.outcome, seconds)
            }
            Err(error) => {
                eprintln!("{}", crate::error::report(error));
                let written = report::Outcome::from_json(
                    &std::fs::read_to_string(dir.join(&run_dir).join("outcome.json"))
                        .unwrap_or_default(),
                )
                .ok();
                let row = match &written {
                    Some(outcome) => {
                        SuiteRow::of(position, file.clone(), run_dir, outcome, seconds)
                    }
                    None => errored_row(position, file, plan, run_dir, error, seconds),
                };
                outcomes.push(written);
                row
            }
        };
        eprintln!(
            "suite [{}/{}] {}: {:?} in {}",
            index + 1,
            positions.len(),
            file.display(),
            row.status,
            short(Duration::from_secs_f64(seconds))
        );
        let stop = cancel.is_cancelled()
            || row.status == Status::Interrupted
            || (request.fail_fast && row.status != Status::Pass);
        rows.push(row);
        if stop {
            stopped_at = index + 1;
            break;
        }
    }
    let not_run = positions[stopped_at..]
        .iter()
        .map(|p| plans[p - 1].0.clone());
    let mut suite = judge(rows, not_run, started.elapsed());
    if positions.is_empty() {
        // More shards than scenarios: this one had nothing to run, which fails nothing.
        suite.status = Status::Pass;
        suite.exit_code = Exit::Pass.code();
    }
    suite.id = id(plans);
    suite.size = plans.len();
    suite.shard = request.shard;
    write(&suite, &outcomes, &dir)?;
    Ok((suite, dir))
}

/// A scenario that stopped before it could write an outcome.
fn errored_row(
    position: usize,
    file: &Path,
    plan: &Plan,
    run_dir: PathBuf,
    error: &RunError,
    seconds: f64,
) -> SuiteRow {
    let exit = error.exit();
    SuiteRow {
        position,
        file: file.to_owned(),
        name: plan.scenario.name.clone(),
        status: if exit == Exit::Interrupted {
            Status::Interrupted
        } else {
            Status::Error
        },
        exit_code: exit.code(),
        first_failed_bar: None,
        error: Some(error.to_string()),
        bars_held: 0,
        bars: plan.bars.len(),
        events_delivered: 0,
        events_lost: None,
        event_to_order_p99_seconds: None,
        duration_seconds: seconds,
        run_dir,
    }
}

/// The suite's verdict: pass only when every scenario ran and passed; otherwise the most
/// serious: interrupted, then an infrastructure error, then a failed bar.
pub fn judge(rows: Vec<SuiteRow>, not_run: impl Iterator<Item = PathBuf>, took: Duration) -> Suite {
    let rank = |status: Status| match status {
        Status::Pass => 0,
        Status::Fail => 1,
        Status::Error => 2,
        Status::Interrupted => 3,
    };
    let status = rows
        .iter()
        .map(|r| r.status)
        .max_by_key(|s| rank(*s))
        .unwrap_or(Status::Error);
    let exit = match status {
        Status::Pass => Exit::Pass,
        Status::Fail => Exit::Fail,
        Status::Error => Exit::Infrastructure,
        Status::Interrupted => Exit::Interrupted,
    };
    Suite {
        version: model::SUITE_VERSION,
        id: String::new(),
        size: rows.len(),
        shard: None,
        status,
        exit_code: exit.code(),
        scenarios: rows,
        not_run: not_run.collect(),
        duration_seconds: (took.as_secs_f64() * 1000.0).round() / 1000.0,
    }
}

/// `suite.json`, `suite.md`, `junit.xml`, and the GitHub step summary when there is one.
pub(super) fn write(
    suite: &Suite,
    outcomes: &[Option<report::Outcome>],
    dir: &Path,
) -> Result<(), RunError> {
    let page = render::markdown(suite);
    report::write_file(&dir.join("suite.json"), &suite.to_json())?;
    report::write_file(&dir.join("suite.md"), &page)?;
    report::write_file(&dir.join("junit.xml"), &render::junit(suite, outcomes))?;
    report::append_step_summary(&page);
    Ok(())
}

/// `1m 5s`, `42s`: whole seconds.
fn short(duration: Duration) -> String {
    humantime::format_duration(Duration::from_secs(duration.as_secs())).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, status: Status) -> SuiteRow {
        SuiteRow {
            position: 1,
            file: PathBuf::from(format!("{name}.yaml")),
            name: name.to_owned(),
            status,
            exit_code: 0,
            first_failed_bar: None,
            error: None,
            bars_held: 1,
            bars: 1,
            events_delivered: 10,
            events_lost: Some(0),
            event_to_order_p99_seconds: Some(0.25),
            duration_seconds: 12.0,
            run_dir: PathBuf::from(format!("01-{name}")),
        }
    }

    #[test]
    fn the_verdict_is_the_most_serious_scenario_and_pass_only_when_all_passed() {
        let cases = [
            (vec![Status::Pass, Status::Pass], Status::Pass, 0),
            (vec![Status::Pass, Status::Fail], Status::Fail, 1),
            (vec![Status::Error, Status::Fail], Status::Error, 3),
            (
                vec![Status::Fail, Status::Interrupted, Status::Error],
                Status::Interrupted,
                130,
            ),
            (vec![], Status::Error, 3),
        ];
        for (statuses, want, code) in cases {
            let rows = statuses.iter().map(|s| row("a", *s)).collect();
            let suite = judge(rows, std::iter::empty(), Duration::ZERO);
            assert_eq!(
                (suite.status, suite.exit_code),
                (want, code),
                "{statuses:?}"
            );
        }
    }

    #[test]
    fn directories_are_searched_recursively_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.yaml", "a.toml", "sub/c.yml", "notes.md", "sub/z/d.yaml"] {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "").unwrap();
        }
        let found = files(&[dir.path().to_owned()]).unwrap();
        let names: Vec<String> = found
            .iter()
            .map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["a.toml", "b.yaml", "sub/c.yml", "sub/z/d.yaml"]);
        // A .suite file lists paths relative to itself, with comments.
        let list = dir.path().join("gate.suite");
        std::fs::write(&list, "# the gate\nb.yaml\nsub  # all of it\n\n").unwrap();
        let listed: Vec<String> = files(&[list])
            .unwrap()
            .iter()
            .map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string())
            .collect();
        assert_eq!(listed, ["b.yaml", "sub/c.yml", "sub/z/d.yaml"]);
        let looping = dir.path().join("loop.suite");
        std::fs::write(&looping, "loop.suite\n").unwrap();
        assert!(files(&[looping])
            .unwrap_err()
            .contains("does one list itself?"));
        let missing = files(&[dir.path().join("nope")]).unwrap_err();
        assert!(
            missing.ends_with("nope: no such file or directory"),
            "{missing}"
        );
        let empty = tempfile::tempdir().unwrap();
        assert!(files(&[empty.path().to_owned()]).is_err());
    }

    #[test]
    fn the_page_has_a_row_per_scenario_and_names_what_did_not_run() {
        let mut failed = row("load", Status::Fail);
        failed.first_failed_bar = Some("increase(cowload_events_lost_total) == 0".to_owned());
        let suite = judge(
            vec![row("baseline", Status::Pass), failed],
            [PathBuf::from("later.yaml")].into_iter(),
            Duration::ZERO,
        );
        let md = render::markdown(&suite);
        assert!(md.contains("**1 of 3 scenarios passed** (exit 1"), "{md}");
        assert!(
            md.contains("| ✓ | `baseline.yaml` (baseline) | PASS |"),
            "{md}"
        );
        assert!(
            md.contains(
                "| ✗ | `load.yaml` (load) | FAIL | `increase(cowload_events_lost_total) == 0` |"
            ),
            "{md}"
        );
        assert!(md.contains("[report](01-load/report.md)"), "{md}");
        assert!(md.contains("| – | `later.yaml` | not run |"), "{md}");
        let xml = render::junit(&suite, &[None, None]);
        assert_eq!(xml.matches("<testsuite ").count(), 3, "{xml}");
        assert!(xml.contains("<skipped"), "{xml}");
    }

    #[test]
    fn shards_split_the_longest_first_onto_the_least_loaded_the_same_every_time() {
        let plan = |name: &str, blocks: u32| {
            let text = format!(
                "version: 1\nname: {name}\nload:\n  blocks: {blocks}\n  per_block: {{twap: 1}}\n"
            );
            let path = std::env::temp_dir().join(format!("cowload-suite-{name}.yaml"));
            std::fs::write(&path, text).unwrap();
            let plan = crate::scenario::load(&path).unwrap();
            (path, plan)
        };
        // Estimates: blocks + 5 (warm-up and drain) seconds, plus 10 s of start-up.
        let plans = vec![
            plan("a", 100),
            plan("b", 10),
            plan("c", 60),
            plan("d", 40),
            plan("e", 5),
        ];
        let two = partition(&plans, 2);
        // a 115 s, c 75, d 55, b 25, e 20: a | c, d (130) | b to a (140) | e to c, d (150).
        assert_eq!(two, [vec![1, 2], vec![3, 4, 5]]);
        assert_eq!(partition(&plans, 2), two, "deterministic");
        let every: Vec<usize> = {
            let mut all: Vec<usize> = partition(&plans, 3).concat();
            all.sort_unstable();
            all
        };
        assert_eq!(every, [1, 2, 3, 4, 5], "each position once");
        assert_eq!(
            partition(&plans, 7).iter().filter(|s| s.is_empty()).count(),
            2
        );
        assert_eq!(id(&plans), id(&plans.clone()));
        assert_ne!(id(&plans), id(&plans[1..]));

        assert_eq!(parse_shard("2/4"), Ok(Shard { index: 2, count: 4 }));
        for bad in ["0/2", "3/2", "2", "a/b", "1/1001"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn committed_schema_is_up_to_date() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../schemas/suite.schema.json");
        let committed = std::fs::read_to_string(path).unwrap();
        assert!(
            committed == json_schema(),
            "schemas/suite.schema.json is stale: run `runner schema --suite > schemas/suite.schema.json`"
        );
    }
}
