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
//! The YAML parser is `serde_yaml_ng`, chosen over the archived `serde_yaml`
//! because it is a maintained drop-in replacement whose errors carry a line
//! and column.

mod error;
pub mod model;
mod parse;
mod resolve;
mod source;
mod validate;

use std::path::{Path, PathBuf};

pub use error::{Problem, ScenarioError};
pub use model::*;
pub use resolve::{DEFAULT_FIXTURES_DIR, ENGINE_CONFIG_FILE, FIXTURES_ENV};
pub use source::RUNTIME_PLACEHOLDERS;
pub use validate::{FIXTURE_CHAIN_IDS, MAX_BLOCK_TIME, MIN_BLOCK_TIME, MIN_GAS_LIMIT};

use parse::Format;
use resolve::Context;
use source::{line_col, Source};

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
    /// Absolute directory holding `replay.<chainId>.json`.
    pub fixtures_dir: PathBuf,
    /// Absolute path of the engine config template; `None` when the engine is disabled.
    pub engine_config: Option<PathBuf>,
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
    let bytes =
        std::fs::read(path).map_err(|e| whole(format!("cannot read the scenario file: {e}")))?;
    let cwd = std::env::current_dir()
        .map_err(|e| whole(format!("cannot read the working directory: {e}")))?;
    let env = |name: &str| std::env::var(name).ok();
    load_bytes(path, format, &bytes, &Context { env: &env, cwd })
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
    let scenario = parse::deserialize(format, &source, path).map_err(ScenarioError::one)?;
    let (mut problems, bars) = validate::Checker::new(&source, path).check(&scenario);
    let paths =
        resolve::paths(&scenario, path, &source, context).map_err(|problem| problems.push(problem));
    match paths {
        Ok(paths) if problems.is_empty() => Ok(Plan {
            path: path.to_path_buf(),
            hash: resolve::hash(&scenario),
            scenario,
            bars,
            fixtures_dir: paths.fixtures_dir,
            engine_config: paths.engine_config,
            chain_fixture: paths.chain_fixture,
            chain_id_written: resolve::chain_id_written(format, &source),
        }),
        _ => Err(ScenarioError { problems }),
    }
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
}

/// The JSON Schema of a scenario file (pretty JSON, trailing newline), as
/// committed in `schemas/scenario.schema.json` for editors.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(Scenario);
    // A schemars schema is a JSON value; serialising it cannot fail.
    let mut text = serde_json::to_string_pretty(&schema).expect("a JSON schema always serialises");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests;
