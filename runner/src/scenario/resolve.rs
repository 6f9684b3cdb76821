//! Turns the paths a scenario mentions (or leaves out) into absolute paths,
//! and fingerprints the scenario.
//!
//! Paths written in a scenario are relative to the scenario file, so a
//! scenario means the same thing from any working directory; only the
//! fallbacks (`$COW_FIXTURES`, the default fixture location) follow the
//! working directory, as the design asks.

use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

use super::error::Problem;
use super::model::Scenario;
use super::source::Source;
use super::validate::key_problem;

/// Name of the engine config template looked for at the project root.
pub const ENGINE_CONFIG_FILE: &str = "engine.load.toml";
/// Environment variable naming the contract fixture directory.
pub const FIXTURES_ENV: &str = "COW_FIXTURES";
/// Fixture directory used when neither the scenario nor the environment names one.
pub const DEFAULT_FIXTURES_DIR: &str = "../shared/fixtures/cow-contracts";

/// What the resolver reads from the process: the environment and the working
/// directory. Tests pass their own.
pub(crate) struct Context<'a> {
    pub env: &'a dyn Fn(&str) -> Option<String>,
    pub cwd: PathBuf,
}

/// The absolute paths a plan needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Paths {
    pub fixtures_dir: PathBuf,
    pub engine_config: Option<PathBuf>,
}

/// Resolves the fixture directory and the engine config; a configured engine
/// config that does not exist, or a default one that cannot be found, is a problem.
pub(crate) fn paths(
    scenario: &Scenario,
    path: &Path,
    source: &Source,
    context: &Context<'_>,
) -> Result<Paths, Problem> {
    let dir = scenario_dir(path, &context.cwd);
    let fixtures_dir = match &scenario.chain.fixtures {
        Some(fixtures) => dir.join(fixtures),
        None => match (context.env)(FIXTURES_ENV).filter(|value| !value.is_empty()) {
            Some(value) => context.cwd.join(value),
            None => context.cwd.join(DEFAULT_FIXTURES_DIR),
        },
    };
    let engine_config = if scenario.engine.enabled {
        Some(engine_config(scenario, path, &dir, source)?)
    } else {
        None
    };
    Ok(Paths {
        fixtures_dir: clean(&fixtures_dir),
        engine_config,
    })
}

fn engine_config(
    scenario: &Scenario,
    path: &Path,
    dir: &Path,
    source: &Source,
) -> Result<PathBuf, Problem> {
    match &scenario.engine.config {
        Some(config) => {
            let config = clean(&dir.join(config));
            if config.is_file() {
                Ok(config)
            } else {
                Err(key_problem(
                    source,
                    path,
                    &["engine", "config"],
                    format!(
                        "engine.config: {} is not a file (the path is relative to the scenario file)",
                        config.display()
                    ),
                ))
            }
        }
        None => dir
            .ancestors()
            .map(|ancestor| ancestor.join(ENGINE_CONFIG_FILE))
            .find(|candidate| candidate.is_file())
            .ok_or_else(|| {
                key_problem(
                    source,
                    path,
                    &["engine"],
                    format!(
                        "engine.config: no {ENGINE_CONFIG_FILE} in {} or any directory above it; set engine.config, or engine.enabled: false",
                        dir.display()
                    ),
                )
            }),
    }
}

/// The scenario file's directory, absolute, with symlinks resolved when possible.
fn scenario_dir(path: &Path, cwd: &Path) -> PathBuf {
    let parent = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let absolute = cwd.join(parent);
    std::fs::canonicalize(&absolute).unwrap_or_else(|_| clean(&absolute))
}

/// Drops `.` components (lexically; `..` is kept since symlinks make it unsafe to fold).
fn clean(path: &Path) -> PathBuf {
    path.components()
        .filter(|component| !matches!(component, Component::CurDir))
        .collect()
}

/// SHA-256 (hex) of the scenario's canonical JSON after defaults, so the same
/// plan written in YAML or TOML, or with defaults spelled out, hashes equal.
pub(crate) fn hash(scenario: &Scenario) -> String {
    // Serialising plain structs, strings and numbers into a String cannot fail.
    let json = serde_json::to_string(scenario).expect("a Scenario always serialises to JSON");
    Sha256::digest(json.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_drops_only_current_dir_components() {
        let cases = [
            ("/a/./b/c", "/a/b/c"),
            ("/a/b/../c", "/a/b/../c"),
            ("./x", "x"),
            ("/a/b/", "/a/b"),
        ];
        for (input, want) in cases {
            assert_eq!(clean(Path::new(input)), PathBuf::from(want), "{input}");
        }
    }

    #[test]
    fn scenario_dir_is_absolute_for_relative_and_bare_paths() {
        let cwd = Path::new("/nonexistent-cowload-cwd");
        assert_eq!(
            scenario_dir(Path::new("x.yaml"), cwd),
            PathBuf::from("/nonexistent-cowload-cwd")
        );
        assert_eq!(
            scenario_dir(Path::new("./s/x.yaml"), cwd),
            PathBuf::from("/nonexistent-cowload-cwd/s")
        );
        assert_eq!(
            scenario_dir(Path::new("/elsewhere-cowload/x.yaml"), cwd),
            PathBuf::from("/elsewhere-cowload")
        );
    }
}
