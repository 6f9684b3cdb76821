//! Turns the paths a scenario mentions (or leaves out) into absolute paths,
//! and fingerprints the scenario.
//!
//! Paths written in a scenario are relative to the scenario file, so a
//! scenario means the same thing from any working directory; only
//! `$COW_FIXTURES` follows the working directory. Left out, the contract
//! fixture and the reference engine's config template are the copies compiled
//! into the runner, so nothing outside the scenario's own directory is needed.

use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

use cowload_spec::scenario::parse::Format;
use cowload_spec::scenario::validate::key_problem;
use cowload_spec::scenario::{Problem, Scenario, Source};

/// Environment variable naming the contract fixture directory.
pub const FIXTURES_ENV: &str = "COW_FIXTURES";

/// The engine's config template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineTemplate {
    /// The reference engine's template compiled into the runner
    /// (`engine.load.toml` at the repository root).
    Reference,
    /// A template file named by `engine.config`, absolute.
    File(PathBuf),
}

/// What the resolver reads from the process: the environment and the working
/// directory. Tests pass their own.
pub(crate) struct Context<'a> {
    pub env: &'a dyn Fn(&str) -> Option<String>,
    pub cwd: PathBuf,
}

/// The absolute paths a plan needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Paths {
    /// `None`: the embedded fixture.
    pub fixtures_dir: Option<PathBuf>,
    /// `None` when the engine is disabled.
    pub engine_config: Option<EngineTemplate>,
    /// The scenario file's directory (`${SCENARIO_DIR}`, relative engine programs).
    pub scenario_dir: PathBuf,
    /// `chain.fixture`, made absolute; whether it exists is checked when the chain starts.
    pub chain_fixture: Option<PathBuf>,
}

/// Resolves the fixture directory and the engine config; a configured engine
/// config that does not exist is a problem.
pub(crate) fn paths(
    scenario: &Scenario,
    path: &Path,
    source: &Source,
    context: &Context<'_>,
) -> Result<Paths, Problem> {
    let dir = scenario_dir(path, &context.cwd);
    let fixtures_dir = match &scenario.chain.fixtures {
        Some(fixtures) => Some(dir.join(fixtures)),
        None => (context.env)(FIXTURES_ENV)
            .filter(|value| !value.is_empty())
            .map(|value| context.cwd.join(value)),
    };
    let engine_config = if scenario.engine.enabled {
        engine_config(scenario, path, &dir, source)?
    } else {
        None
    };
    Ok(Paths {
        fixtures_dir: fixtures_dir.as_deref().map(clean),
        engine_config,
        scenario_dir: dir.clone(),
        chain_fixture: scenario.chain.fixture.as_ref().map(|f| clean(&dir.join(f))),
    })
}

fn engine_config(
    scenario: &Scenario,
    path: &Path,
    dir: &Path,
    source: &Source,
) -> Result<Option<EngineTemplate>, Problem> {
    let Some(config) = &scenario.engine.config else {
        // The embedded template is shepherd's format, which the reference
        // engine reads; an engine configured by flags simply ignores it.
        return Ok(Some(EngineTemplate::Reference));
    };
    let config = clean(&dir.join(config));
    if config.is_file() {
        Ok(Some(EngineTemplate::File(config)))
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

/// Whether the file writes `chain.id` itself (fork and fixture runs take the
/// id from the chain and only check a written one). Read from the expanded
/// text as a plain document, since the typed scenario fills in the default.
pub(crate) fn chain_id_written(format: Format, source: &Source) -> bool {
    let text = &source.expanded;
    match format {
        Format::Yaml => serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text)
            .ok()
            .and_then(|doc| doc.get("chain")?.get("id").cloned())
            .is_some(),
        Format::Toml => toml::from_str::<toml::Table>(text)
            .ok()
            .and_then(|doc| doc.get("chain")?.get("id").cloned())
            .is_some(),
    }
}

/// SHA-256 (hex) of the scenario's canonical JSON after defaults, so the same
/// plan written in YAML or TOML, or with defaults spelled out, hashes equal.
/// A fork URL enters redacted: the same fork with another API key is the same
/// plan, and the hash never depends on a secret.
pub(crate) fn hash(scenario: &Scenario) -> String {
    let mut scenario = scenario.clone();
    if let Some(fork) = scenario.chain.fork.as_mut() {
        fork.url = cowload_spec::redact::url(&fork.url);
    }
    // Serialising plain structs, strings and numbers into a String cannot fail.
    let json = serde_json::to_string(&scenario).expect("a Scenario always serialises to JSON");
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
    fn the_hash_does_not_depend_on_the_fork_key() {
        let with_key = |key: &str| {
            let mut scenario: Scenario = serde_yaml_ng::from_str(
                "version: 1\nname: f\nload: { blocks: 1, per_block: { twap: 1 } }\n",
            )
            .unwrap();
            scenario.chain.fork = Some(crate::scenario::ForkSpec {
                url: format!("https://rpc.example.com/v2/{key}"),
                block: Some(5),
            });
            scenario
        };
        assert_eq!(hash(&with_key("KEYONE123")), hash(&with_key("KEYTWO456")));
        let mut other_block = with_key("KEYONE123");
        other_block.chain.fork.as_mut().unwrap().block = Some(6);
        assert_ne!(hash(&with_key("KEYONE123")), hash(&other_block));
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
