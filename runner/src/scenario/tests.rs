//! Tests of the whole `load` path: committed scenarios, bad files, garbage
//! bytes, interpolation, path resolution, hashing and the committed schema.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the runner crate sits in the workspace")
        .to_path_buf()
}

fn no_env(_: &str) -> Option<String> {
    None
}

/// Loads `text` as if it were `<project>/scenarios/<name>` (the file need not exist).
fn load_text(
    name: &str,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Plan, ScenarioError> {
    let path = project_root().join("scenarios").join(name);
    let format = Format::of(&path).expect("test names end in .yaml or .toml");
    let context = Context {
        env,
        cwd: project_root(),
    };
    load_bytes(&path, format, text.as_bytes(), &context)
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| Format::of(path).is_some())
        .collect();
    files.sort();
    files
}

/// Splits `FILE:LINE:COL: message` into (line, col, message) for a known file.
fn place_of(line: &str, path: &Path) -> Option<(usize, usize, String)> {
    let rest = line
        .strip_prefix(&path.display().to_string())?
        .strip_prefix(':')?;
    let (line_no, rest) = rest.split_once(':')?;
    let (column, message) = rest.split_once(": ")?;
    Some((
        line_no.parse().ok()?,
        column.parse().ok()?,
        message.to_owned(),
    ))
}

const MINIMAL: &str = "version: 1\nname: t\nload:\n  blocks: 1\n  per_block:\n    twap: 1\n";

/// Scenario files under `dir` and its subdirectories, with their depth below `dir`.
fn scenario_files(dir: &Path, depth: usize, out: &mut Vec<(PathBuf, usize)>) {
    for path in files_in(dir) {
        out.push((path, depth));
    }
    let mut subdirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.is_dir())
        .collect();
    subdirs.sort();
    for subdir in subdirs {
        scenario_files(&subdir, depth + 1, out);
    }
}

#[test]
fn every_committed_scenario_loads() {
    let mut files = Vec::new();
    scenario_files(&project_root().join("scenarios"), 0, &mut files);
    assert!(
        files.len() >= 4,
        "expected the committed scenarios, found {files:?}"
    );
    for (path, depth) in files {
        let plan = load(&path).unwrap_or_else(|e| panic!("{e}"));
        let text = std::fs::read_to_string(&path).expect("readable");
        let schema_line = format!(
            "# yaml-language-server: $schema={}schemas/scenario.schema.json\n",
            "../".repeat(depth + 1)
        );
        assert!(
            text.starts_with(&schema_line),
            "{} must start with {schema_line:?}",
            path.display()
        );
        assert_eq!(
            plan.bars.len(),
            plan.scenario.bars.len(),
            "{}",
            path.display()
        );
        assert!(!plan.bars.is_empty(), "{} has no bars", path.display());
        // Bundled scenarios need nothing outside the binary: the embedded
        // fixture and, for the reference engine, the embedded template.
        let want_config = plan
            .scenario
            .engine
            .enabled
            .then_some(EngineTemplate::Reference);
        assert_eq!(plan.engine_config, want_config, "{}", path.display());
    }
}

#[test]
fn baseline_yaml_and_toml_are_twins() {
    let yaml =
        load(&project_root().join("scenarios/baseline.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let toml =
        load(&project_root().join("scenarios/baseline.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(yaml.scenario, toml.scenario);
    assert_eq!(yaml.hash, toml.hash);
    let s = &yaml.scenario;
    assert_eq!(s.load.per_block, PerBlock::from([5, 5]));
    assert_eq!(
        (s.load.warmup_blocks, s.load.blocks, s.load.drain_blocks),
        (2, 30, 3)
    );
    assert_eq!(s.chain.block_time, Dur(Duration::from_secs(1)));
    assert_eq!(
        s.orderbook.latency,
        LatencySpec::All(DelaySpec::Fixed(Dur(Duration::from_millis(10))))
    );
    assert!(s.orderbook.errors.is_empty());
    assert_eq!(s.orderbook.order_deadline_blocks, 3);
    assert_eq!(s.engine, EngineSpec::default());
    assert_eq!(s.bars.len(), 11);
}

/// Every problem of a `faults:` timeline comes at once, each at its entry's key.
#[test]
fn fault_timeline_problems_come_together_at_their_entries() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad/faults_overlap.yaml");
    let error = super::load(&path).unwrap_err();
    let got: Vec<(Option<usize>, Option<usize>, &str)> = error
        .problems
        .iter()
        .map(|p| (p.line, p.column, p.message.as_str()))
        .collect();
    assert_eq!(got.len(), 2, "{error}");
    assert_eq!((got[0].0, got[0].1), (Some(13), Some(5)));
    assert!(
        got[0]
            .2
            .starts_with("faults[0].behind: must be at least 1 block"),
        "{error}"
    );
    assert_eq!((got[1].0, got[1].1), (Some(17), Some(5)));
    assert!(
        got[1].2.contains("engine_restart at block 6 for 2s (blocks 6–7) overlaps faults[1], ws_disconnect at block 4 for 3 blocks (blocks 4–6)"),
        "{error}"
    );
}

#[test]
fn every_bad_file_fails_with_its_place() {
    // (file, line, column or 0 for "any", fragment of the message)
    let expected: &[(&str, usize, usize, &str)] = &[
        (
            "bad_bar.yaml",
            10,
            40,
            "bars[1]: at column 36: expected `)`",
        ),
        ("bad_duration.yaml", 5, 3, "bad duration \"fast\""),
        (
            "drain_shorter_than_deadline.yaml",
            6,
            3,
            "load.drain_blocks: 2 is less than orderbook.order_deadline_blocks (4)",
        ),
        ("empty_name.yaml", 3, 1, "name: must not be empty"),
        (
            "engine_progress_bad_selector.yaml",
            9,
            3,
            "engine.progress: not a series selector",
        ),
        (
            "engine_ready_bad_regex.yaml",
            11,
            5,
            "engine.ready.log: not a regular expression",
        ),
        ("error_mix_over_one.yaml", 9, 3, "add up to 1.2"),
        (
            "fault_field_of_another_kind.yaml",
            9,
            5,
            "faults[0]: unknown field `signal`, there are no fields",
        ),
        (
            "faults_overlap.yaml",
            13,
            5,
            "faults[0].behind: must be at least 1 block",
        ),
        (
            "fork_and_fixture.yaml",
            6,
            3,
            "chain.fixture: a scenario either forks (chain.fork) or loads a recorded fixture",
        ),
        (
            "fork_ws_url.toml",
            6,
            1,
            "chain.fork.url: wss://rpc.example.com/…: only http:// and https:// endpoints",
        ),
        (
            "invalid_syntax.yaml",
            3,
            14,
            "mapping values are not allowed in this context",
        ),
        (
            "negative_count.yaml",
            7,
            11,
            "load.per_block.twap: invalid type: integer `-5`, expected u32",
        ),
        (
            "no_events.yaml",
            6,
            3,
            "load.per_block: twap + ethflow must be at least 1",
        ),
        (
            "reorg_too_deep.yaml",
            12,
            5,
            "faults[0].for: a reorg 4 blocks deep is deeper than orderbook.order_deadline_blocks (3)",
        ),
        (
            "too_many_blocks.toml",
            6,
            1,
            "load.blocks: must be at most 100000, got 1000000",
        ),
        (
            "unknown_error_type.yaml",
            10,
            5,
            "unknown errorType \"NotARealError\"",
        ),
        ("unknown_field.toml", 6, 1, "unknown field `blocktime`"),
        ("unknown_field.yaml", 6, 3, "unknown field `burst`"),
        (
            "unset_variable.yaml",
            5,
            11,
            "environment variable COWLOAD_SURELY_UNSET_VARIABLE is not set",
        ),
        (
            "version_2.yaml",
            2,
            1,
            "this runner reads scenario version 1, the file says 2",
        ),
        ("wrong_type.yaml", 5, 11, "invalid type: string \"many\""),
    ];
    let files = files_in(&project_root().join("runner/tests/bad"));
    let names: Vec<String> = files
        .iter()
        .map(|p| {
            p.file_name()
                .expect("file name")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let listed: Vec<&str> = expected.iter().map(|(name, ..)| *name).collect();
    assert_eq!(names, listed, "every bad file needs an expectation here");
    for (path, &(name, line, column, fragment)) in files.iter().zip(expected) {
        let text = std::fs::read_to_string(path).expect("readable");
        assert!(
            text.starts_with("# BAD: "),
            "{name} must say what is wrong on line 1"
        );
        let error = load(path).expect_err(name);
        let display = error.to_string();
        assert!(display.contains(name), "{name}: {display}");
        let first = display.lines().next().expect("at least one problem");
        let (got_line, got_column, message) = place_of(first, path)
            .unwrap_or_else(|| panic!("{name}: no FILE:LINE:COL in {first:?}"));
        assert!(display.contains(&format!(":{got_line}:{got_column}:")));
        assert_eq!(got_line, line, "{name}: {display}");
        if column != 0 {
            assert_eq!(got_column, column, "{name}: {display}");
        }
        assert!(
            message.contains(fragment),
            "{name}: {message:?} lacks {fragment:?}"
        );
    }
}

/// Nasty inputs: none may panic, all must be refused.
#[test]
fn garbage_is_refused_without_panicking() {
    let mut inputs: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"\xEF\xBB\xBF".to_vec(),
        b"\xEF\xBB\xBF\xEF\xBB\xBFversion: 1\n".to_vec(),
        b"\x00\x01\x02\x03\xff\xfe\xfd binary".to_vec(),
        b"version: 1\nname: \xc3\x28\n".to_vec(),
        b"version: 1\nname: x\nload:\n\tblocks: 3\n\tper_block: {twap: 1}\n".to_vec(),
        b"\tversion = 1\n\t[load]\n".to_vec(),
        b"version: 99999999999999999999999999999999\n".to_vec(),
        b"version = 1e999\nname = \"x\"\n".to_vec(),
        b"version: 1\nname: x\nload:\n  blocks: 1e400\n  per_block: {twap: 1}\n".to_vec(),
        b"version: 1\nname: x\nseed: -1\nload: {blocks: 1, per_block: {twap: 1}}\n".to_vec(),
        b"version: 1\nname: x\nload: {blocks: 1, per_block: {twap: 4294967296}}\n".to_vec(),
        "[".repeat(100_000).into_bytes(),
        "{a: ".repeat(50_000).into_bytes(),
        "- ".repeat(50_000).into_bytes(),
        "a = [".repeat(50_000).into_bytes(),
        "x.".repeat(50_000).into_bytes(),
        b"a: &a [*a, *a]\nb: *a\n".to_vec(),
        b"a: &a [x, x]\nb: &b [*a, *a, *a, *a]\nc: &c [*b, *b, *b, *b]\nd: [*c, *c, *c, *c]\n".to_vec(),
        b"---\nversion: 1\n---\nversion: 1\n".to_vec(),
        b"${".to_vec(),
        b"$${".to_vec(),
        b"version: ${}\n".to_vec(),
        b"\r\r\r\n\r".to_vec(),
        b"~".to_vec(),
        b"null".to_vec(),
        b"[]".to_vec(),
        b"0".to_vec(),
        b"version: 1\nversion: 1\nname: x\nload: {blocks: 1, per_block: {twap: 1}}\n".to_vec(),
        b"version: !!binary aGVsbG8=\n".to_vec(),
        b"version: 1\nname: x\nload: {blocks: 1, per_block: {twap: 1}}\norderbook:\n  errors: {InsufficientFee: .nan}\n".to_vec(),
        b"version: 1\nname: x\nload: {blocks: 1, per_block: {twap: 1}}\norderbook:\n  errors: {InsufficientFee: .inf, WrongOwner: -.inf}\n".to_vec(),
        b"version: 1\nname: x\nload: {blocks: 1, per_block: {twap: 1}}\nchain: {block_time: 99999999999999999999999s}\n".to_vec(),
        vec![b'#'; parse::MAX_FILE_BYTES + 1],
        "\u{2028}\u{85}version: 1\u{2029}".to_owned().into_bytes(),
    ];
    // A fixed pseudo-random sequence of byte strings (xorshift; no dependency).
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..64 {
        let mut bytes = Vec::new();
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        for _ in 0..(state % 300) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            bytes.push((state >> 24) as u8);
        }
        inputs.push(bytes);
    }
    let context = Context {
        env: &no_env,
        cwd: project_root(),
    };
    for format in [Format::Yaml, Format::Toml] {
        let path = project_root().join(match format {
            Format::Yaml => "scenarios/garbage.yaml",
            Format::Toml => "scenarios/garbage.toml",
        });
        for input in &inputs {
            let shown = String::from_utf8_lossy(&input[..input.len().min(60)]).into_owned();
            let error = load_bytes(&path, format, input, &context)
                .err()
                .unwrap_or_else(|| panic!("{format:?} accepted {shown:?}"));
            assert!(!error.problems.is_empty(), "{shown:?}");
            assert!(
                error.to_string().starts_with(&path.display().to_string()),
                "{shown:?}"
            );
        }
    }
}

#[test]
fn every_meaning_problem_is_reported_at_once() {
    let text = "\
version: 7
name: \"bad name\"
chain:
  id: 5
  block_time: 50ms
  gas_limit: 10
load:
  blocks: 0
  per_block:
    twap: 0
  twap:
    owners: 0
    parts: 0
    part_duration: 0s
  ethflow:
    senders: 0
orderbook:
  errors:
    Bogus: 2.0
  order_deadline_blocks: 0
engine:
  command: []
  metrics: ftp://x
bars:
  - (((
";
    let error = load_text("many.yaml", text, &no_env).expect_err("many problems");
    let expected: &[(usize, &str)] = &[
        (
            1,
            "version: this runner reads scenario version 1, the file says 7",
        ),
        (2, "name: \"bad name\" holds ' '"),
        (
            4,
            "chain.id: the contract fixture covers chain ids 1 and 11155111, not 5",
        ),
        (
            5,
            "chain.block_time: must be between 100ms and 60s, got 50ms",
        ),
        (6, "chain.gas_limit: must be at least 1000000, got 10"),
        (8, "load.blocks: must be at least 1"),
        (9, "load.per_block: twap + ethflow must be at least 1"),
        (12, "load.twap.owners: must be at least 1"),
        (13, "load.twap.parts: must be at least 2"),
        (14, "load.twap.part_duration: must be longer than 0s"),
        (16, "load.ethflow.senders: must be at least 1"),
        (19, "orderbook.errors: unknown errorType \"Bogus\""),
        (
            19,
            "orderbook.errors.Bogus: must be a fraction between 0 and 1, got 2",
        ),
        (20, "orderbook.order_deadline_blocks: must be at least 1"),
        (22, "engine.command: must start with the program to run"),
        (23, "engine.metrics: must be an http:// URL"),
        (25, "bars[0]: "),
    ];
    let path = project_root().join("scenarios/many.yaml");
    let got: Vec<(usize, String)> = error
        .to_string()
        .lines()
        .map(|line| {
            let (line_no, _, message) =
                place_of(line, &path).unwrap_or_else(|| panic!("unplaced: {line}"));
            (line_no, message)
        })
        .collect();
    assert_eq!(got.len(), expected.len(), "{got:#?}");
    for ((got_line, message), (line, fragment)) in got.iter().zip(expected) {
        assert_eq!(got_line, line, "{message}");
        assert!(message.contains(fragment), "{message:?} lacks {fragment:?}");
    }
}

#[test]
fn edge_values_that_are_allowed() {
    let cases = [
        "chain: {block_time: 100ms, gas_limit: 1000000, id: 1}\n",
        "chain: {block_time: 60s}\n",
        "orderbook: {errors: {InsufficientFee: 0.1, InvalidQuote: 0.2, WrongOwner: 0.7}}\n",
        "orderbook: {errors: {InvalidEip1271Signature: 1.0}}\n",
        "engine: {command: [my-engine, --config, '${CONFIG_PATH}'], metrics: 'http://${METRICS_ADDR}/m'}\n",
        "engine: {enabled: false}\n",
        "name2: x\n",
    ];
    for extra in cases {
        let text = format!("{MINIMAL}{extra}");
        let result = load_text("edge.yaml", &text, &no_env);
        if extra.starts_with("name2") {
            assert!(result.is_err(), "unknown top-level field accepted");
        } else {
            result.unwrap_or_else(|e| panic!("{extra}: {e}"));
        }
    }
}

#[test]
fn environment_variables_are_expanded_before_parsing() {
    let env = |name: &str| match name {
        "BLOCKS" => Some("7".to_owned()),
        "WORD" => Some("many".to_owned()),
        "TAG" => Some("nightly".to_owned()),
        _ => None,
    };
    let text = "version: 1\nname: run-${TAG}\ndescription: costs $${HOME}\nload:\n  blocks: ${BLOCKS}\n  per_block: {twap: 1}\nengine:\n  command: [e, --config, \"${CONFIG_PATH}\"]\n  env: {A: \"${TAG}\"}\n";
    let plan = load_text("env.yaml", text, &env).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plan.scenario.name, "run-nightly");
    assert_eq!(plan.scenario.description, "costs ${HOME}");
    assert_eq!(plan.scenario.load.blocks, 7);
    let command = ["e", "--config", "${CONFIG_PATH}"].map(str::to_owned);
    assert_eq!(plan.scenario.engine.command.as_deref(), Some(&command[..]));
    assert_eq!(plan.scenario.engine.env["A"], "nightly");
    assert_eq!(
        plan.scenario.engine.metrics,
        "http://${METRICS_ADDR}/metrics"
    );

    // An escaped `$${X}` in an engine field would reach the engine stage, which fills
    // only the runtime placeholders: refused now, at the escape.
    let text = "version: 1\nname: x\nload: {blocks: 1, per_block: {twap: 1}}\nengine:\n  command: [e, \"$${HOME}\"]\n  env: {B: \"$${NOPE}\"}\n";
    let error = load_text("env.yaml", text, &env).expect_err("escaped variable in the engine");
    let got: Vec<_> = error
        .problems
        .iter()
        .map(|p| {
            (
                p.line,
                p.column,
                p.message.split(':').next().map(str::to_owned),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (Some(5), Some(17), Some("engine.command".to_owned())),
            (Some(6), Some(13), Some("engine.env.B".to_owned())),
        ],
        "{error}"
    );

    // A type error inside a substituted value points at the `${` in the file.
    let text = "version: 1\nname: x\nload:\n  blocks: 1\n  per_block: {twap: ${WORD}}\n";
    let error = load_text("env.yaml", text, &env).expect_err("a word is not a count");
    let problem = &error.problems[0];
    assert_eq!(
        (problem.line, problem.column),
        (Some(5), Some(21)),
        "{error}"
    );

    // Every unset variable is reported, each at its own place.
    let text = "version: 1\nname: ${A1}-${A2}\n# ${IN_COMMENT}\nload: {blocks: ${A3}, per_block: {twap: 1}}\n";
    let error = load_text("env.yaml", text, &env).expect_err("unset variables");
    let places: Vec<_> = error.problems.iter().map(|p| (p.line, p.column)).collect();
    assert_eq!(
        places,
        [(Some(2), Some(7)), (Some(2), Some(13)), (Some(4), Some(16))],
        "{error}"
    );
}

#[test]
fn toml_errors_are_placed_by_line_and_column() {
    let cases: &[(&str, usize, usize, &str)] = &[
        (
            "version = 1\nname = \"x\"\n[load]\nblocks = \"three\"\nper_block = { twap = 1 }\n",
            4,
            10,
            "invalid type",
        ),
        (
            "version = 1\nname = \"x\"\n[load]\nblocks = 1\nper_block = { twap = -1 }\n",
            5,
            22,
            "-1",
        ),
        (
            "version = 1\nname = \"x\"\n[load]\nblocks = 1\n",
            3,
            1,
            "missing field `per_block`",
        ),
        ("version = 1\nname = \"x\"\n[load\n", 3, 6, ""),
        (
            "version = 1\nname = \"é\" # é\n[chain]\nid = \"x\"\n",
            4,
            6,
            "invalid type",
        ),
    ];
    for &(text, line, column, fragment) in cases {
        let error = load_text("t.toml", text, &no_env).expect_err(text);
        let problem = &error.problems[0];
        assert_eq!(
            (problem.line, problem.column),
            (Some(line), Some(column)),
            "{text:?}: {error}"
        );
        assert!(problem.message.contains(fragment), "{error}");
    }
}

#[test]
fn paths_resolve_relative_to_the_scenario_file() {
    let root = tempfile::tempdir().expect("temp dir");
    let root_path = std::fs::canonicalize(root.path()).expect("canonical temp dir");
    let sub = root_path.join("sub");
    std::fs::create_dir(&sub).expect("mkdir");
    std::fs::write(sub.join("own.toml"), "").expect("write config");
    let scenario = sub.join("s.yaml");
    let cwd = PathBuf::from("/work-dir-for-test");
    let load_with = |extra: &str, env: &dyn Fn(&str) -> Option<String>| {
        let text = format!("{MINIMAL}{extra}");
        load_bytes(
            &scenario,
            Format::Yaml,
            text.as_bytes(),
            &Context {
                env,
                cwd: cwd.clone(),
            },
        )
    };
    let fixtures_env = |name: &str| (name == FIXTURES_ENV).then(|| "fx-from-env".to_owned());

    // Nothing named: the embedded fixture and the embedded reference template.
    let plan = load_with("", &no_env).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plan.engine_config, Some(EngineTemplate::Reference));
    assert_eq!(plan.fixtures_dir, None);
    assert_eq!(plan.scenario_dir, sub);

    let plan = load_with("", &fixtures_env).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        plan.fixtures_dir,
        Some(PathBuf::from("/work-dir-for-test/fx-from-env"))
    );

    // An engine of one's own with no template of its own gets shepherd's format.
    let plan =
        load_with("engine: {command: [./my-engine]}\n", &no_env).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plan.engine_config, Some(EngineTemplate::Reference));

    let plan = load_with(
        "chain: {fixtures: ./fx}\nengine: {config: own.toml}\n",
        &fixtures_env,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plan.fixtures_dir, Some(sub.join("fx")));
    assert_eq!(
        plan.engine_config,
        Some(EngineTemplate::File(sub.join("own.toml")))
    );

    let plan = load_with(
        "chain: {fixtures: /abs/fx}\nengine: {enabled: false, config: nope.toml}\n",
        &no_env,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plan.fixtures_dir, Some(PathBuf::from("/abs/fx")));
    assert_eq!(plan.engine_config, None);

    let error =
        load_with("engine:\n  config: missing.toml\n", &no_env).expect_err("missing config");
    let problem = &error.problems[0];
    assert_eq!(
        (problem.line, problem.column),
        (Some(8), Some(3)),
        "{error}"
    );
    assert!(problem.message.starts_with("engine.config: "), "{error}");
}

#[test]
fn hash_is_the_scenario_after_defaults() {
    let plain = load_text("h.yaml", MINIMAL, &no_env).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plain.hash.len(), 64);
    assert!(plain
        .hash
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));

    let spelled_out = format!(
        "{MINIMAL}seed: 1\ndescription: ''\nchain: {{id: 11155111, block_time: 1000ms, gas_limit: 30000000}}\norderbook: {{latency: 0s, errors: {{}}, order_deadline_blocks: 3}}\n"
    );
    let spelled = load_text("h.yaml", &spelled_out, &no_env).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plain.hash, spelled.hash);

    let toml = "version = 1\nname = \"t\"\n[load]\nblocks = 1\nper_block = { twap = 1 }\n";
    let toml = load_text("h.toml", toml, &no_env).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plain.hash, toml.hash);

    let other_seed = load_text("h.yaml", &format!("{MINIMAL}seed: 2\n"), &no_env)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(plain.hash, other_seed.hash);
}

#[test]
fn load_refuses_unreadable_and_unknown_files() {
    let cases = [
        (
            "scenarios/does-not-exist.yaml",
            "cannot read the scenario file",
        ),
        ("Cargo.toml", "unknown field"),
        ("README.json", "unknown scenario format"),
    ];
    for (relative, fragment) in cases {
        let path = project_root().join(relative);
        let error = load(&path).expect_err(relative);
        assert!(error.to_string().contains(fragment), "{relative}: {error}");
    }
}

#[test]
fn committed_schema_is_up_to_date() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../schemas/scenario.schema.json"
    );
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == json_schema(),
        "schemas/scenario.schema.json is stale: run `runner schema > schemas/scenario.schema.json`"
    );
}

#[test]
fn schema_describes_the_scenario() {
    let schema: serde_json::Value = serde_json::from_str(&json_schema()).expect("valid JSON");
    let required = schema["required"].as_array().expect("required list");
    let required: Vec<&str> = required.iter().filter_map(|v| v.as_str()).collect();
    assert_eq!(required, ["version", "name", "load"]);
    assert_eq!(
        schema["additionalProperties"],
        serde_json::Value::Bool(false)
    );
    assert!(json_schema().ends_with("}\n"));
}

#[test]
fn orderbook_latency_slow_response_and_rate_limit_are_checked_in_place() {
    let cases = [
        (
            "orderbook:\n  latency: {distribution: uniform, min: 9ms, max: 1ms}\n",
            8,
            "orderbook.latency: latency of post_orders: uniform min",
        ),
        (
            "orderbook:\n  latency:\n    get: {distribution: lognormal, p50: 0s, p99: 1s}\n",
            8,
            "lognormal needs 0 < p50",
        ),
        (
            "orderbook:\n  latency: {get: 1ms, spikes: {every: 1s, duration: 2s, extra: 1s}}\n",
            8,
            "longer than the period",
        ),
        (
            "orderbook:\n  slow_response: 0s\n",
            8,
            "orderbook.slow_response: must be above 0s",
        ),
        ("orderbook:\n  slow_response: 11m\n", 8, "at most 10m"),
        (
            "orderbook:\n  rate_limit:\n    per_second: 0\n",
            9,
            "orderbook.rate_limit.per_second: must be at least 1",
        ),
        (
            "orderbook:\n  rate_limit: {per_second: 5, burst: 0}\n",
            8,
            "orderbook.rate_limit.burst: must be at least 1",
        ),
    ];
    for (extra, line, fragment) in cases {
        let text = format!("{MINIMAL}{extra}");
        let error = load_text("ob.yaml", &text, &no_env).expect_err(extra);
        let problem = &error.problems[0];
        assert_eq!(error.problems.len(), 1, "{error}");
        assert!(problem.message.contains(fragment), "{extra}: {error}");
        assert_eq!(problem.line, Some(line), "{extra}: {error}");
    }

    let good = format!(
        "{MINIMAL}orderbook:\n  latency:\n    post_orders: {{distribution: lognormal, p50: 20ms, p99: 200ms}}\n    spikes: {{every: 60s, duration: 5s, extra: 1s}}\n  errors: {{SlowResponse: 0.01}}\n  slow_response: 30s\n  rate_limit: {{per_second: 100}}\n"
    );
    let plan = load_text("ob.yaml", &good, &no_env).unwrap_or_else(|e| panic!("{e}"));
    let config = crate::mock::config(&plan).unwrap_or_else(|e| panic!("{e}"));
    let settings = &config.orderbook;
    assert_eq!(settings.slow_response.0, Duration::from_secs(30));
    let limit = settings
        .rate_limit
        .and_then(|l| l.runtime())
        .expect("rate limit");
    assert_eq!((limit.per_second.get(), limit.burst.get()), (100, 100));
    let latency = settings.latency.runtime();
    assert_eq!(
        latency.get,
        cowload_spec::latency::Delay::Fixed(Duration::ZERO)
    );
    assert!(latency.spikes.is_some());
}

#[test]
fn values_above_their_bounds_are_refused_in_place() {
    // (extra lines after MINIMAL, or a whole text when it starts with "version",
    // line of the problem, fragment of its message)
    let load = |body: &str| format!("version: 1\nname: t\nload:\n{body}");
    let cases = [
        (
            load("  blocks: 100001\n  per_block: {twap: 1}\n"),
            4,
            "load.blocks: must be at most 100000, got 100001",
        ),
        (
            load("  blocks: 1\n  warmup_blocks: 100001\n  per_block: {twap: 1}\n"),
            5,
            "load.warmup_blocks: must be at most 100000",
        ),
        (
            load("  blocks: 1\n  drain_blocks: 100001\n  per_block: {twap: 1}\n"),
            5,
            "load.drain_blocks: must be at most 100000",
        ),
        (
            load("  blocks: 1\n  per_block:\n    twap: 100001\n"),
            6,
            "load.per_block.twap: must be at most 100000",
        ),
        (
            load("  blocks: 1\n  per_block:\n    ethflow: 100001\n"),
            6,
            "load.per_block.ethflow: must be at most 100000",
        ),
        (
            format!("{MINIMAL}  twap:\n    parts: 1000001\n"),
            8,
            "load.twap.parts: must be at most 1000000",
        ),
        (
            format!("{MINIMAL}  twap:\n    owners: 10001\n"),
            8,
            "load.twap.owners: must be at most 10000",
        ),
        (
            format!("{MINIMAL}  twap:\n    part_duration: 366days\n"),
            8,
            "load.twap.part_duration: must be at most 365days (the TWAP handler refuses a part longer than 365 days), got 366days",
        ),
        (
            format!("{MINIMAL}  ethflow:\n    senders: 10001\n"),
            8,
            "load.ethflow.senders: must be at most 10000",
        ),
        (
            format!("{MINIMAL}  ethflow:\n    valid_for: 366days\n"),
            8,
            "load.ethflow.valid_for: must be at most 365days, got 366days",
        ),
        (
            format!("{MINIMAL}engine:\n  startup_timeout: 500ms\n"),
            8,
            "engine.startup_timeout: must be between 1s and 10m, got 500ms",
        ),
        (
            format!("{MINIMAL}engine:\n  startup_timeout: 11m\n"),
            8,
            "engine.startup_timeout: must be between 1s and 10m, got 11m",
        ),
        (
            format!(
                "{MINIMAL}engine: {{enabled: false}}\norderbook:\n  order_deadline_blocks: 1001\n"
            ),
            9,
            "orderbook.order_deadline_blocks: must be at most 1000, got 1001",
        ),
        (
            format!("{MINIMAL}bars:\n  - x < 1e999\n"),
            8,
            "bars[0]: at column 5: expected a finite number",
        ),
    ];
    for (text, line, fragment) in cases {
        let error = load_text("bounds.yaml", &text, &no_env).expect_err(&text);
        assert_eq!(error.problems.len(), 1, "{text}\n{error}");
        let problem = &error.problems[0];
        assert!(problem.message.contains(fragment), "{text}\n{error}");
        assert_eq!(problem.line, Some(line), "{text}\n{error}");
    }

    // The bounds themselves are allowed.
    let text = "version: 1\nname: t\nload:\n  warmup_blocks: 100000\n  blocks: 100000\n  drain_blocks: 100000\n  per_block: {twap: 100000, ethflow: 100000}\n  twap: {owners: 10000, parts: 1000000, part_duration: 365days}\n  ethflow: {senders: 10000, valid_for: 365days}\norderbook: {order_deadline_blocks: 1000}\nengine: {startup_timeout: 10m}\n";
    load_text("bounds.yaml", text, &no_env).unwrap_or_else(|e| panic!("{e}"));
    let text = format!("{MINIMAL}engine: {{startup_timeout: 1s}}\n");
    load_text("bounds.yaml", &text, &no_env).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn the_drain_must_cover_the_order_deadline_when_the_engine_runs() {
    // (extra lines after MINIMAL, refused)
    let cases = [
        // No drain_blocks written (the default is 3): placed at `load:`.
        ("orderbook: {order_deadline_blocks: 5}\n", Some(3)),
        ("orderbook: {order_deadline_blocks: 4}\n", Some(3)),
        ("orderbook: {order_deadline_blocks: 3}\n", None),
        ("orderbook: {order_deadline_blocks: 1}\n", None),
        (
            "orderbook: {order_deadline_blocks: 5}\nengine: {enabled: false}\n",
            None,
        ),
        (
            "orderbook: {order_deadline_blocks: 6}\n  drain_blocks: 6\n",
            None,
        ),
        ("  drain_blocks: 2\n", Some(7)),
        ("  drain_blocks: 0\nengine: {enabled: false}\n", None),
    ];
    for (extra, refused_at) in cases {
        // Lines starting with two spaces continue MINIMAL's `load:` map.
        let (load_extra, rest): (String, String) = extra
            .lines()
            .map(|line| format!("{line}\n"))
            .partition(|line| line.starts_with("  "));
        let text = format!("{MINIMAL}{load_extra}{rest}");
        let result = load_text("drain.yaml", &text, &no_env);
        match refused_at {
            None => {
                result.unwrap_or_else(|e| panic!("{text}\n{e}"));
            }
            Some(line) => {
                let error = result.expect_err(&text);
                assert_eq!(error.problems.len(), 1, "{text}\n{error}");
                let problem = &error.problems[0];
                assert_eq!(problem.line, Some(line), "{text}\n{error}");
                assert!(
                    problem.message.starts_with("load.drain_blocks: ")
                        && problem
                            .message
                            .contains("is less than orderbook.order_deadline_blocks")
                        && problem
                            .message
                            .contains("raise drain_blocks or lower order_deadline_blocks"),
                    "{error}"
                );
            }
        }
    }
}

#[test]
fn load_reads_only_regular_files_and_at_most_the_cap() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = |name: &str| dir.path().join(name);

    std::fs::create_dir(path("dir.yaml")).expect("mkdir");
    std::os::unix::fs::symlink("/dev/zero", path("zero.yaml")).expect("symlink");
    let status = std::process::Command::new("mkfifo")
        .arg(path("fifo.yaml"))
        .status()
        .expect("mkfifo runs");
    assert!(status.success(), "mkfifo failed");
    // Twice the cap: only the cap plus one byte is read, and that is refused.
    std::fs::write(
        path("big.yaml"),
        vec![b'#'; 2 * super::parse::MAX_FILE_BYTES],
    )
    .expect("write");

    let cases = [
        (
            "dir.yaml",
            "the scenario is a directory, not a regular file",
        ),
        ("zero.yaml", "the scenario is a device, not a regular file"),
        ("fifo.yaml", "the scenario is a FIFO, not a regular file"),
        ("big.yaml", "the file is larger than 1048576 bytes"),
    ];
    for (name, fragment) in cases {
        let error = load(&path(name)).expect_err(name);
        assert_eq!(error.problems.len(), 1, "{name}: {error}");
        assert!(
            error.problems[0].message.contains(fragment),
            "{name}: {error}"
        );
    }
}

#[test]
fn substituted_values_never_appear_in_problems() {
    const SECRET: &str = "FAKEKEY0123456789";
    let env = |name: &str| match name {
        "RPC_URL_SEPOLIA_HTTP" => Some(format!("https://eth-sepolia.example.invalid/v2/{SECRET}")),
        "QUOTED" => Some(format!("a\"{SECRET}")),
        "KEY" => Some(SECRET.to_owned()),
        "METRIC" => Some("shepherd_orders_total".to_owned()),
        "WORD" => Some("abc".to_owned()),
        _ => None,
    };
    // (file name, text, what the message must say instead)
    let cases = [
        (
            "s.yaml",
            "version: 1\nname: x\nchain: { fork: \"${RPC_URL_SEPOLIA_HTTP}\" }\nload: {blocks: 1, per_block: {twap: 1}}\n",
            "invalid type: string \"${RPC_URL_SEPOLIA_HTTP}\"",
        ),
        (
            "s.toml",
            "version = 1\nname = \"x\"\n[chain]\nfork = \"${RPC_URL_SEPOLIA_HTTP}\"\n[load]\nblocks = 1\nper_block = { twap = 1 }\n",
            "invalid type: string \"${RPC_URL_SEPOLIA_HTTP}\"",
        ),
        (
            "s.yaml",
            "version: 1\nname: x\nload: {blocks: 1, per_block: {twap: 1}}\nbars: ['x < 1 ${RPC_URL_SEPOLIA_HTTP}']\n",
            "(in \"x < 1 ${RPC_URL_SEPOLIA_HTTP}\")",
        ),
        (
            "s.yaml",
            "version: 1\nname: x\nload: {blocks: 1, per_block: {twap: 1}}\nbars: ['x < 1 ${QUOTED}']\n",
            "(in \"x < 1 ${QUOTED}\")",
        ),
        (
            "s.yaml",
            "version: 1\nname: x\nload: {blocks: 1, per_block: {twap: 1}}\nbars: ['x < 1 ${KEY}']\n",
            // Read as an unknown unit, which the parser would quote.
            "bars[0]: at column 7: the bar does not parse where text substituted from a variable stands (not shown) (in \"x < 1 ${KEY}\")",
        ),
        (
            "s.yaml",
            "version: 1\nname: x\nload: {blocks: 1, per_block: {twap: 1}}\nbars: ['x ${KEY} < 1']\n",
            "bars[0]: at column 3: expected one of < <= > >= == !=, found text substituted from a variable (not shown)",
        ),
        (
            "s.toml",
            "version = 1\nname = \"${RPC_URL_SEPOLIA_HTTP}\"\n[load]\nblocks = 1\nper_block = { twap = 1 }\n",
            "name: \"${RPC_URL_SEPOLIA_HTTP}\" holds",
        ),
    ];
    for (name, text, want) in cases {
        let error = load_text(name, text, &env).expect_err(text);
        let shown = error.to_string();
        // Not even the part a parser would quote (up to 12 characters).
        assert!(!shown.contains(&SECRET[..4]), "{text}\n{shown}");
        assert!(shown.contains(want), "{text}\n{shown} lacks {want}");
    }

    // A bar whose error is before any substituted text keeps the parser's detail.
    let text = "version: 1\nname: x\nload: {blocks: 1, per_block: {twap: 1}}\nbars: ['increase(${METRIC}) < 1 2']\n";
    let error = load_text("s.yaml", text, &env).expect_err(text);
    assert!(
        error.to_string().contains(
            "bars[0]: at column 37: expected the end of the bar, found `2` (in \"increase(${METRIC}) < 1 2\")"
        ),
        "{error}"
    );

    // A value shorter than four characters is left alone.
    let text = "version: 1\nname: x\nload: {blocks: \"${WORD}\", per_block: {twap: 1}}\n";
    let error = load_text("s.yaml", text, &env).expect_err(text);
    assert!(
        error.to_string().contains("invalid type: string \"abc\""),
        "{error}"
    );
}

#[test]
fn a_pinned_genesis_is_checked() {
    let with = |chain: &str| load_text("g.yaml", &format!("{MINIMAL}chain: {chain}\n"), &no_env);
    let plan = with("{genesis_timestamp: 1800000000}").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plan.scenario.chain.genesis_timestamp, Some(1_800_000_000));
    let zero = with("{genesis_timestamp: 0}").unwrap_err().to_string();
    assert!(
        zero.contains("chain.genesis_timestamp: must be between 1"),
        "{zero}"
    );
    let fork = with("{genesis_timestamp: 5, fork: {url: 'http://127.0.0.1:1'}}")
        .unwrap_err()
        .to_string();
    assert!(
        fork.contains("a fork keeps the forked chain's time"),
        "{fork}"
    );
    // Left out, the plan hash does not depend on the run's clock.
    let plain = load_text("g.yaml", MINIMAL, &no_env).unwrap();
    assert_eq!(plain.scenario.chain.genesis_timestamp, None);
}

/// `load.duration` is that many block times of loaded blocks, rounded up; it replaces
/// `load.blocks`, and every other check (fault blocks, bounds) sees the blocks it gives.
#[test]
fn a_load_duration_becomes_loaded_blocks() {
    let load = |block_time: &str, load: &str| {
        format!("version: 1\nname: t\nchain: {{block_time: {block_time}}}\nload:\n{load}  per_block: {{twap: 1}}\n")
    };
    let blocks_of = |text: &str| {
        load_text("duration.yaml", text, &no_env)
            .unwrap_or_else(|e| panic!("{text}\n{e}"))
            .scenario
            .load
            .blocks
    };
    assert_eq!(blocks_of(&load("12s", "  duration: 1h\n")), 300);
    assert_eq!(
        blocks_of(&load("12s", "  duration: 30s\n")),
        3,
        "rounded up"
    );
    assert_eq!(blocks_of(&load("1s", "  duration: 90s\n")), 90);
    // The TOML form.
    let toml = "version = 1\nname = \"t\"\n[chain]\nblock_time = \"2s\"\n[load]\nduration = \"1m\"\nper_block = { twap = 1 }\n";
    let plan = load_text("duration.toml", toml, &no_env).unwrap();
    assert_eq!(plan.scenario.load.blocks, 30);

    // (load lines, line of the problem, start of its message)
    let refused = [
        (
            "  blocks: 10\n  duration: 1h\n",
            6,
            "load.duration: give load.blocks or load.duration, not both",
        ),
        (
            "  duration: 0s\n",
            5,
            "load.duration: must be at least one block time",
        ),
        (
            "  duration: 400000s\n",
            5,
            "load.duration: 4days 15h 6m 40s is 400000 blocks of 1s; at most 100000",
        ),
        (
            "  warmup_blocks: 1\n",
            4,
            "load.blocks: must be at least 1 (or give load.duration instead)",
        ),
    ];
    for (lines, line, message) in refused {
        let text = load("1s", lines);
        let error = load_text("duration.yaml", &text, &no_env).expect_err(&text);
        assert_eq!(error.problems.len(), 1, "{text}\n{error}");
        let problem = &error.problems[0];
        assert_eq!(problem.line, Some(line), "{text}\n{error}");
        assert!(problem.message.starts_with(message), "{error}");
    }
}

/// A fault with `every` runs as its repeats; its problems are placed at the entry's keys.
#[test]
fn a_repeated_fault_is_planned_as_its_repeats() {
    let text = "version: 1\nname: t\nload:\n  blocks: 20\n  drain_blocks: 4\n  per_block: {twap: 1}\nfaults:\n  - kind: engine_restart\n    at: 2\n    for: 2 blocks\n    every: 8 blocks\n";
    let plan = load_text("every.yaml", text, &no_env).unwrap();
    let starts: Vec<u32> = plan.scenario.faults.iter().map(|f| f.at).collect();
    assert_eq!(starts, [2, 10, 18]);
    assert!(plan.scenario.faults.iter().all(|f| f.every.is_none()));

    let tight = text.replace("every: 8 blocks", "every: 2 blocks");
    let error = load_text("every.yaml", &tight, &no_env).expect_err(&tight);
    assert_eq!(error.problems.len(), 1, "{error}");
    assert_eq!(error.problems[0].line, Some(11), "{error}");
    assert!(
        error.problems[0]
            .message
            .starts_with("faults[0].every: 2 blocks is 2 blocks"),
        "{error}"
    );
}

/// `load.bursts`: the last `for` blocks of every `every` carry the burst's events; the gas
/// pre-flight plans for the busiest block; bad cycles are refused in place.
#[test]
fn bursts_replace_the_steady_load_at_the_end_of_each_cycle() {
    let text = "version: 1\nname: t\nload:\n  blocks: 12\n  per_block: {twap: 1, ethflow: 1}\n  bursts: {every: 5 blocks, for: 2 blocks, per_block: {twap: 8}}\n";
    let plan = load_text("bursts.yaml", text, &no_env).unwrap();
    let load = &plan.scenario.load;
    let block_time = plan.scenario.chain.block_time.0;
    let totals: Vec<u64> = (1..=12)
        .map(|i| load.per_block_at(i, block_time).total())
        .collect();
    assert_eq!(totals, [2, 2, 2, 8, 8, 2, 2, 2, 8, 8, 2, 2]);
    assert_eq!(load.busiest_block().total(), 9, "twap 8 and ethflow 1");
    // A duration counts in block times (1 s by default): 5s is 5 blocks, 2s is 2.
    let timed = text.replace("every: 5 blocks, for: 2 blocks", "every: 5s, for: 2s");
    let plan = load_text("bursts.yaml", &timed, &no_env).unwrap();
    let again: Vec<u64> = (1..=12)
        .map(|i| plan.scenario.load.per_block_at(i, block_time).total())
        .collect();
    assert_eq!(again, totals);

    let refused = [
        (
            "every: 5 blocks, for: 5 blocks",
            "load.bursts.every: 5 blocks is 5 blocks and a burst 5",
        ),
        (
            "every: 5 blocks, for: 0 blocks",
            "load.bursts.for: must be at least 1 block",
        ),
        (
            "per_block: {twap: 8}",
            "load.bursts.per_block: a burst must carry at least 1 event",
        ),
    ];
    for (replace, message) in refused {
        let bad = match replace {
            r if r.starts_with("per_block") => {
                text.replace("per_block: {twap: 8}", "per_block: {twap: 0}")
            }
            r => text.replace("every: 5 blocks, for: 2 blocks", r),
        };
        let error = load_text("bursts.yaml", &bad, &no_env).expect_err(&bad);
        assert_eq!(error.problems.len(), 1, "{error}");
        assert_eq!(error.problems[0].line, Some(6), "{error}");
        assert!(error.problems[0].message.starts_with(message), "{error}");
    }
}
