//! Stage 1 of a run: a scenario file in, a checked [`Plan`] out.
//!
//! `load` reads YAML or TOML (picked by extension), expands `${VAR}` from the
//! environment on the raw text, deserialises into the typed [`Scenario`]
//! (unknown fields and wrong types are refused), checks what types cannot say,
//! parses the bars and resolves paths. Every problem found is reported at
//! once, each as `FILE:LINE:COL: message`, so a bad scenario costs one edit
//! round, not one per mistake. The [`Plan`] is the only thing later stages
//! read from the file.
//!
//! Only a regular file is read, and at most 1 MiB of it, so a FIFO or
//! `/dev/zero` named by mistake fails at once instead of hanging. A problem
//! never shows what a `${VAR}` held (often an RPC URL with a key): every
//! substituted value is scrubbed back to its `${NAME}` before it is returned.
//!
//! The YAML parser is `serde_yaml_ng`, chosen over the archived `serde_yaml`
//! because it is a maintained drop-in replacement whose errors carry a line
//! and column.

mod resolve;

use std::io::Read;
use std::path::{Path, PathBuf};

pub use cowload_spec::scenario::{faults, json_schema, model::*};
pub use cowload_spec::scenario::{
    progress_expression, Problem, ScenarioError, FIXTURE_CHAIN_IDS, MAX_ACCOUNTS, MAX_BLOCKS,
    MAX_BLOCK_TIME, MAX_EVENTS_PER_BLOCK, MAX_ORDER_DURATION, MAX_STARTUP_TIMEOUT, MAX_TWAP_PARTS,
    MIN_BLOCK_TIME, MIN_GAS_LIMIT, MIN_STARTUP_TIMEOUT, RUNTIME_PLACEHOLDERS,
};
pub use resolve::{EngineTemplate, FIXTURES_ENV};

use cowload_spec::scenario::parse::{self, Format};
use cowload_spec::scenario::{line_col, validate, Source};
use resolve::Context;

/// A checked scenario with its bars parsed and its paths resolved.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The scenario file, as given.
    pub path: PathBuf,
    /// The scenario with defaults filled in and `${VAR}` expanded (runtime
    /// placeholders such as `${CONFIG_PATH}` are still in place).
    pub scenario: Scenario,
    /// `scenario.bars`, parsed, in the same order.
    pub bars: Vec<crate::bars::Bar>,
    /// Absolute directory holding `replay.<chainId>.json`; `None`: the
    /// fixture compiled into the runner.
    pub fixtures_dir: Option<PathBuf>,
    /// The engine config template; `None` when the engine is disabled.
    pub engine_config: Option<EngineTemplate>,
    /// The scenario file's directory, absolute.
    pub scenario_dir: PathBuf,
    /// Absolute path of `chain.fixture` (a recorded chain fixture), when set.
    pub chain_fixture: Option<PathBuf>,
    /// The file writes `chain.id` (rather than taking the default): fork and
    /// fixture runs then check it against the chain's own id.
    pub chain_id_written: bool,
    /// SHA-256 (hex) of the scenario after defaults: equal for equal plans,
    /// whichever format or spelling the file used.
    pub hash: String,
}

/// Reads, expands, checks and resolves one scenario file.
///
/// The format follows the extension (`.yaml`/`.yml` or `.toml`). Every
/// problem found is in the error, each with the file's line and column when
/// it could be placed.
pub fn load(path: &Path) -> Result<Plan, ScenarioError> {
    let whole = |message: String| ScenarioError::one(Problem::whole_file(path, message));
    let format = Format::of(path).ok_or_else(|| {
        whole("unknown scenario format: name the file .yaml, .yml or .toml".to_owned())
    })?;
    let bytes = read_capped(path).map_err(whole)?;
    let cwd = std::env::current_dir()
        .map_err(|e| whole(format!("cannot read the working directory: {e}")))?;
    let env = |name: &str| std::env::var(name).ok();
    load_bytes(path, format, &bytes, &Context { env: &env, cwd })
}

/// The file's bytes, at most one more than [`parse::MAX_FILE_BYTES`] (so the
/// size check can still refuse it) and only from a regular file: a FIFO, a
/// device such as `/dev/zero` or a directory is refused before it is opened,
/// since reading one could block or never end.
fn read_capped(path: &Path) -> Result<Vec<u8>, String> {
    let cannot = |e: std::io::Error| format!("cannot read the scenario file: {e}");
    not_a_regular_file(&std::fs::metadata(path).map_err(cannot)?)?;
    let file = std::fs::File::open(path).map_err(cannot)?;
    // Checked again on the open handle, in case the path changed in between.
    not_a_regular_file(&file.metadata().map_err(cannot)?)?;
    let mut bytes = Vec::new();
    let cap = u64::try_from(parse::MAX_FILE_BYTES).unwrap_or(u64::MAX);
    file.take(cap.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    Ok(bytes)
}

/// Why a file is not a regular file (the scenario must be one), if it is not.
fn not_a_regular_file(metadata: &std::fs::Metadata) -> Result<(), String> {
    use std::os::unix::fs::FileTypeExt;
    let kind = metadata.file_type();
    let what = if kind.is_file() {
        return Ok(());
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "a special file"
    };
    Err(format!(
        "the scenario is {what}, not a regular file; give the path of a .yaml or .toml scenario file"
    ))
}

/// [`load`] on bytes already read, with an explicit environment and working directory.
fn load_bytes(
    path: &Path,
    format: Format,
    bytes: &[u8],
    context: &Context<'_>,
) -> Result<Plan, ScenarioError> {
    let text = parse::decode(path, bytes).map_err(ScenarioError::one)?;
    if parse::is_blank(&text) {
        return Err(ScenarioError::one(Problem::at(
            path,
            Some((1, 1)),
            "the file holds no scenario; write at least version, name and load",
        )));
    }
    let source = Source::expand(text.clone(), context.env).map_err(|errors| ScenarioError {
        problems: errors
            .into_iter()
            .map(|error| Problem::at(path, Some(line_col(&text, error.offset)), error.message))
            .collect(),
    })?;
    plan(path, format, &source, context).map_err(|error| ScenarioError {
        problems: error
            .problems
            .into_iter()
            .map(|problem| Problem {
                message: source.scrub(&problem.message),
                ..problem
            })
            .collect(),
    })
}

/// Deserialises, checks and resolves the expanded text. Its messages may
/// quote substituted values; [`load_bytes`] scrubs them.
fn plan(
    path: &Path,
    format: Format,
    source: &Source,
    context: &Context<'_>,
) -> Result<Plan, ScenarioError> {
    let scenario = parse::deserialize(format, source, path).map_err(ScenarioError::one)?;
    let (mut problems, bars) = validate::Checker::new(source, path).check(&scenario);
    let paths =
        resolve::paths(&scenario, path, source, context).map_err(|problem| problems.push(problem));
    match paths {
        Ok(paths) if problems.is_empty() => Ok(Plan {
            path: path.to_path_buf(),
            hash: resolve::hash(&scenario),
            scenario: with_repeats_expanded(scenario),
            bars,
            fixtures_dir: paths.fixtures_dir,
            engine_config: paths.engine_config,
            scenario_dir: paths.scenario_dir,
            chain_fixture: paths.chain_fixture,
            chain_id_written: resolve::chain_id_written(format, source),
        }),
        _ => Err(ScenarioError { problems }),
    }
}

/// The scenario as it runs: each fault with `every` written out as its repeats (the hash
/// stays the one of the file as written).
fn with_repeats_expanded(mut scenario: Scenario) -> Scenario {
    let frame = faults::Frame::of(&scenario);
    scenario.faults = faults::expand(&scenario.faults, &frame)
        .into_iter()
        .map(|(_, fault)| fault)
        .collect();
    scenario
}

impl Plan {
    /// This plan with `chain.id` set to the id the running chain reported (fork
    /// and fixture runs learn it only when the chain starts); the hash stays
    /// the file's.
    pub fn with_chain_id(&self, chain_id: u64) -> Plan {
        let mut plan = self.clone();
        plan.scenario.chain.id = chain_id;
        plan
    }

    /// This plan with `load.per_block` replaced, as one probe of `runner
    /// search` runs it. The hash is the new load's: a probe's outcome is
    /// comparable with another run of the same load, not with the file's.
    pub fn with_per_block(&self, per_block: PerBlock) -> Plan {
        let mut plan = self.clone();
        plan.scenario.load.per_block = per_block;
        plan.hash = resolve::hash(&plan.scenario);
        plan
    }
}

#[cfg(test)]
mod tests;
