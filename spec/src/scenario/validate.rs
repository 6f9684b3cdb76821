//! Meaning checks on a deserialised [`Scenario`]: what serde's types cannot
//! say (counts of at least one, ranges, known error types, parsable bars).
//!
//! Every check that fails adds one [`Problem`]; nothing stops at the first.
//! Problems are placed by finding the offending key (or bar text) in the
//! expanded source, then mapping that back to the file as written.

use std::path::Path;
use std::time::Duration;

use super::error::Problem;
use super::faults::Span;
use super::model::{EngineSpec, LoadSpec, Scenario, SCENARIO_VERSION};
use super::source::{Source, RUNTIME_PLACEHOLDERS};
use crate::bars::{self, Bar, BarError};
use crate::EventKind;

/// Chain ids the contract fixture replays (`replay.<chainId>.json`).
pub const FIXTURE_CHAIN_IDS: &[u64] = &[1, 11_155_111];
/// Shortest block time the runner can keep up with.
pub const MIN_BLOCK_TIME: Duration = Duration::from_millis(100);
/// Latest pinned genesis: leaves a year of chain time below `u32::MAX`, the
/// largest `validTo` an order can carry.
pub const MAX_GENESIS_TIMESTAMP: u64 = u32::MAX as u64 - 366 * 24 * 60 * 60;
/// Longest block time; longer runs are better written as more blocks.
pub const MAX_BLOCK_TIME: Duration = Duration::from_secs(60);
/// Below this a block cannot hold even a handful of contract calls.
pub const MIN_GAS_LIMIT: u64 = 1_000_000;
/// Run directories are `runs/<name>-<timestamp>`; keep them short.
pub const MAX_NAME_LEN: usize = 100;
/// Most events of one kind per block; far above what a block's gas can hold.
pub const MAX_EVENTS_PER_BLOCK: u32 = 100_000;
/// Most blocks in each phase (warm-up, load, drain).
pub const MAX_BLOCKS: u32 = 100_000;
/// Most parts of one TWAP.
pub const MAX_TWAP_PARTS: u32 = 1_000_000;
/// Longest TWAP part and EthFlow validity (the TWAP handler refuses t > 365 days).
pub const MAX_ORDER_DURATION: Duration = Duration::from_secs(365 * 24 * 60 * 60);
/// Most TWAP owners or EthFlow senders (each is an account funded at start-up).
pub const MAX_ACCOUNTS: u32 = 10_000;
/// Shortest time the engine may be given to start.
pub const MIN_STARTUP_TIMEOUT: Duration = Duration::from_secs(1);
/// Longest time the engine may be given to start.
pub const MAX_STARTUP_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// Collects the problems of a scenario and parses its bars, in file order.
pub struct Checker<'a> {
    source: &'a Source,
    path: &'a Path,
    problems: Vec<Problem>,
}

impl<'a> Checker<'a> {
    pub fn new(source: &'a Source, path: &'a Path) -> Self {
        Self {
            source,
            path,
            problems: Vec::new(),
        }
    }

    /// Runs every check; returns the problems found and the bars that parsed.
    pub fn check(mut self, scenario: &Scenario) -> (Vec<Problem>, Vec<Bar>) {
        self.header(scenario);
        self.chain(scenario);
        self.load(scenario);
        self.orderbook(scenario);
        self.engine(scenario);
        self.faults(scenario);
        let bars = self.bars(&scenario.bars);
        (self.problems, bars)
    }

    /// The `faults` timeline; each problem placed at its entry's key.
    fn faults(&mut self, scenario: &Scenario) {
        let frame = super::faults::Frame::of(scenario);
        for problem in super::faults::check(&scenario.faults, &frame) {
            let at = locate_entry_key(
                &self.source.expanded,
                "faults",
                "kind",
                problem.index,
                problem.key,
            );
            let place = at.map(|at| self.source.place_of_expanded(at));
            self.problems
                .push(Problem::at(self.path, place, problem.message));
        }
    }

    /// Adds a problem placed at the deepest key of `keys` found in the file.
    fn fail(&mut self, keys: &[&str], message: impl Into<String>) {
        let problem = key_problem(self.source, self.path, keys, message);
        self.problems.push(problem);
    }

    /// Adds a problem placed at `needle` after the key path `anchor`, else at the key.
    fn fail_at_text(&mut self, anchor: &[&str], needle: &str, message: impl Into<String>) {
        let expanded = &self.source.expanded;
        let key = locate_key(expanded, anchor);
        let at = find_from(expanded, key.unwrap_or(0), needle).or(key);
        let place = at.map(|at| self.source.place_of_expanded(at));
        self.problems.push(Problem::at(self.path, place, message));
    }

    fn header(&mut self, scenario: &Scenario) {
        if scenario.version != SCENARIO_VERSION {
            self.fail(
                &["version"],
                format!(
                    "version: this runner reads scenario version {SCENARIO_VERSION}, the file says {}; write `version: {SCENARIO_VERSION}`",
                    scenario.version
                ),
            );
        }
        if let Some(message) = name_problem(&scenario.name) {
            self.fail(&["name"], format!("name: {message}"));
        }
    }

    fn chain(&mut self, scenario: &Scenario) {
        let chain = &scenario.chain;
        match (&chain.fork, &chain.fixture) {
            (Some(_), Some(_)) => self.fail(
                &["chain", "fixture"],
                "chain.fixture: a scenario either forks (chain.fork) or loads a recorded fixture (chain.fixture), not both; remove one",
            ),
            (Some(fork), None) => {
                if let Some(message) = fork_url_problem(&fork.url) {
                    self.fail(&["chain", "fork", "url"], format!("chain.fork.url: {message}"));
                }
            }
            (None, Some(_)) => {}
            (None, None) => {
                let id = chain.id;
                if !FIXTURE_CHAIN_IDS.contains(&id) {
                    self.fail(
                        &["chain", "id"],
                        format!(
                            "chain.id: the contract fixture covers chain ids 1 and 11155111, not {id}; pick one of those (or fork a chain with chain.fork)"
                        ),
                    );
                }
            }
        }
        if let Some(genesis) = chain.genesis_timestamp {
            if chain.fork.is_some() {
                self.fail(
                    &["chain", "genesis_timestamp"],
                    "chain.genesis_timestamp: a fork keeps the forked chain's time; remove it, or drop chain.fork",
                );
            } else if !(1..=MAX_GENESIS_TIMESTAMP).contains(&genesis) {
                self.fail(
                    &["chain", "genesis_timestamp"],
                    format!("chain.genesis_timestamp: must be between 1 and {MAX_GENESIS_TIMESTAMP} (Unix seconds; order validTo is 32 bits), got {genesis}"),
                );
            }
        }
        let block_time = chain.block_time.0;
        if !(MIN_BLOCK_TIME..=MAX_BLOCK_TIME).contains(&block_time) {
            self.fail(
                &["chain", "block_time"],
                format!(
                    "chain.block_time: must be between 100ms and 60s, got {}",
                    humantime::format_duration(block_time)
                ),
            );
        }
        for key in chain.rpc_limits.zeros() {
            self.fail(
                &["chain", "rpc_limits", key],
                format!("chain.rpc_limits.{key}: must be at least 1"),
            );
        }
        if chain.gas_limit < MIN_GAS_LIMIT {
            self.fail(
                &["chain", "gas_limit"],
                format!(
                    "chain.gas_limit: must be at least {MIN_GAS_LIMIT}, got {}",
                    chain.gas_limit
                ),
            );
        }
    }

    /// Adds a problem when a count is above its bound.
    fn at_most(&mut self, keys: &[&str], value: u32, max: u32) {
        if value > max {
            let field = keys.join(".");
            self.fail(keys, format!("{field}: must be at most {max}, got {value}"));
        }
    }

    /// Adds a problem when a duration is above its bound.
    fn duration_at_most(&mut self, keys: &[&str], value: Duration, max: Duration, why: &str) {
        if value > max {
            let field = keys.join(".");
            self.fail(
                keys,
                format!(
                    "{field}: must be at most {}{why}, got {}",
                    show_duration(max),
                    show_duration(value)
                ),
            );
        }
    }

    fn load(&mut self, scenario: &Scenario) {
        let load = &scenario.load;
        match load.duration {
            Some(duration) => {
                let derived = LoadSpec::blocks_for(duration.0, scenario.chain.block_time.0);
                if u64::from(load.blocks) != derived {
                    self.fail(
                        &["load", "duration"],
                        "load.duration: give load.blocks or load.duration, not both",
                    );
                } else if derived < 1 {
                    self.fail(
                        &["load", "duration"],
                        "load.duration: must be at least one block time",
                    );
                }
            }
            None if load.blocks < 1 => self.fail(
                &["load", "blocks"],
                "load.blocks: must be at least 1 (or give load.duration instead)",
            ),
            None => {}
        }
        self.load_bounds(scenario);
        if scenario.engine.enabled {
            self.drain_covers_deadline(scenario);
        }
        if load.per_block.total() < 1 {
            self.fail(
                &["load", "per_block"],
                format!(
                    "load.per_block: {} must be at least 1 event per block",
                    EventKind::LABELS.join(" + ")
                ),
            );
        }
        self.bursts(scenario);
        if load.twap.owners < 1 {
            self.fail(
                &["load", "twap", "owners"],
                "load.twap.owners: must be at least 1",
            );
        }
        if load.twap.parts < 2 {
            self.fail(
                &["load", "twap", "parts"],
                "load.twap.parts: must be at least 2 (the TWAP handler refuses n <= 1)",
            );
        }
        if load.twap.part_duration.0.is_zero() {
            self.fail(
                &["load", "twap", "part_duration"],
                "load.twap.part_duration: must be longer than 0s",
            );
        }
        if load.ethflow.senders < 1 {
            self.fail(
                &["load", "ethflow", "senders"],
                "load.ethflow.senders: must be at least 1",
            );
        }
    }

    /// `load.bursts`: a burst shorter than its cycle, with events, within the per-block bound.
    fn bursts(&mut self, scenario: &Scenario) {
        let Some(bursts) = &scenario.load.bursts else {
            return;
        };
        let block_time = scenario.chain.block_time.0;
        let zero =
            |span: Span| matches!(span, Span::Blocks(0)) || span.duration(block_time).is_zero();
        let (cycle, burst) = (
            bursts.every.blocks(block_time),
            bursts.lasts.blocks(block_time),
        );
        if zero(bursts.lasts) {
            self.fail(
                &["load", "bursts", "for"],
                "load.bursts.for: must be at least 1 block",
            );
        } else if zero(bursts.every) || burst >= cycle {
            self.fail(
                &["load", "bursts", "every"],
                format!(
                    "load.bursts.every: {} is {cycle} blocks and a burst {burst}: the cycle must be longer than its burst",
                    bursts.every
                ),
            );
        }
        if bursts.per_block.total() < 1 {
            self.fail(
                &["load", "bursts", "per_block"],
                "load.bursts.per_block: a burst must carry at least 1 event per block",
            );
        }
        for (kind, &count) in bursts.per_block.iter() {
            self.at_most(
                &["load", "bursts", "per_block", kind.label()],
                count,
                MAX_EVENTS_PER_BLOCK,
            );
        }
    }

    /// Upper bounds: they keep a typo (an extra zero or three) from asking
    /// for hours of blocks, millions of accounts or orders no handler accepts.
    fn load_bounds(&mut self, scenario: &Scenario) {
        let load = &scenario.load;
        if load.blocks > MAX_BLOCKS {
            let message = match load.duration {
                Some(duration) => format!(
                    "load.duration: {} is {} blocks of {}; at most {MAX_BLOCKS} loaded blocks \
                     (shorten it, or lengthen chain.block_time)",
                    show_duration(duration.0),
                    load.blocks,
                    show_duration(scenario.chain.block_time.0)
                ),
                None => format!(
                    "load.blocks: must be at most {MAX_BLOCKS}, got {}",
                    load.blocks
                ),
            };
            let field = if load.duration.is_some() {
                "duration"
            } else {
                "blocks"
            };
            self.fail(&["load", field], message);
        }
        for (kind, &count) in load.per_block.iter() {
            self.at_most(
                &["load", "per_block", kind.label()],
                count,
                MAX_EVENTS_PER_BLOCK,
            );
        }
        let counts = [
            (
                &["load", "warmup_blocks"][..],
                load.warmup_blocks,
                MAX_BLOCKS,
            ),
            (&["load", "drain_blocks"][..], load.drain_blocks, MAX_BLOCKS),
            (
                &["load", "twap", "owners"][..],
                load.twap.owners,
                MAX_ACCOUNTS,
            ),
            (
                &["load", "twap", "parts"][..],
                load.twap.parts,
                MAX_TWAP_PARTS,
            ),
            (
                &["load", "ethflow", "senders"][..],
                load.ethflow.senders,
                MAX_ACCOUNTS,
            ),
        ];
        for (keys, value, max) in counts {
            self.at_most(keys, value, max);
        }
        self.duration_at_most(
            &["load", "twap", "part_duration"],
            load.twap.part_duration.0,
            MAX_ORDER_DURATION,
            " (the TWAP handler refuses a part longer than 365 days)",
        );
        self.duration_at_most(
            &["load", "ethflow", "valid_for"],
            load.ethflow.valid_for.0,
            MAX_ORDER_DURATION,
            "",
        );
    }

    /// The mock's own checks, placed at their field (`orderbook.errors.X`).
    fn orderbook(&mut self, scenario: &Scenario) {
        for problem in scenario.orderbook.problems() {
            let mut keys = vec!["orderbook"];
            keys.extend(problem.path.iter().map(String::as_str));
            self.fail(&keys, problem.message);
        }
    }

    fn engine(&mut self, scenario: &Scenario) {
        let engine = &scenario.engine;
        let timeout = engine.startup_timeout.0;
        if !(MIN_STARTUP_TIMEOUT..=MAX_STARTUP_TIMEOUT).contains(&timeout) {
            self.fail(
                &["engine", "startup_timeout"],
                format!(
                    "engine.startup_timeout: must be between {} and {}, got {}",
                    humantime::format_duration(MIN_STARTUP_TIMEOUT),
                    humantime::format_duration(MAX_STARTUP_TIMEOUT),
                    humantime::format_duration(timeout)
                ),
            );
        }
        if let Some(command) = &engine.command {
            if command
                .first()
                .is_none_or(|program| program.trim().is_empty())
            {
                self.fail(
                    &["engine", "command"],
                    "engine.command: must start with the program to run, e.g. [\"shepherd\", \"--config\", \"${CONFIG_PATH}\"]; leave it out for the reference engine",
                );
            }
        }
        self.engine_placeholders(engine);
        self.engine_ready(engine);
        if let Some(progress) = &engine.progress {
            if let Err(error) = bars::parse(&progress_expression(progress)) {
                let why = error.to_string();
                let why = why.split_once(": ").map_or(why.as_str(), |(_, why)| why);
                self.fail(
                    &["engine", "progress"],
                    format!(
                        "engine.progress: not a series selector such as watch_tower_block_height or reference_head_block{{chain_id=\"1\"}}: {why}"
                    ),
                );
            }
        }
        if !engine.metrics.starts_with("http://") {
            self.fail(
                &["engine", "metrics"],
                format!(
                    "engine.metrics: must be an http:// URL such as http://${{METRICS_ADDR}}/metrics, got {:?}",
                    engine.metrics
                ),
            );
        }
    }

    /// `engine.ready`: an http:// URL and a regular expression that compiles.
    fn engine_ready(&mut self, engine: &EngineSpec) {
        if let Some(url) = &engine.ready.http {
            if !url.starts_with("http://") {
                self.fail(
                    &["engine", "ready", "http"],
                    format!("engine.ready.http: must be an http:// URL such as http://${{METRICS_ADDR}}/health, got {url:?}"),
                );
            }
        }
        if let Some(pattern) = &engine.ready.log {
            if let Err(error) = regex::Regex::new(pattern) {
                let reason = error
                    .to_string()
                    .lines()
                    .last()
                    .unwrap_or_default()
                    .to_owned();
                self.fail(
                    &["engine", "ready", "log"],
                    format!("engine.ready.log: not a regular expression: {reason}"),
                );
            }
        }
    }

    /// An event counts as lost when no order came within
    /// `order_deadline_blocks`; the drain must be at least that long, or the
    /// last loaded blocks' events would be judged before their deadline.
    fn drain_covers_deadline(&mut self, scenario: &Scenario) {
        let drain = scenario.load.drain_blocks;
        let deadline = scenario.orderbook.order_deadline_blocks;
        if drain < deadline {
            self.fail(
                &["load", "drain_blocks"],
                format!(
                    "load.drain_blocks: {drain} is less than orderbook.order_deadline_blocks ({deadline}); every event, including the last loaded block's, must get the full deadline before the run ends; raise drain_blocks or lower order_deadline_blocks"
                ),
            );
        }
    }

    /// Engine fields may only hold runtime placeholders; any other `${NAME}`
    /// came from a `$${NAME}` escape and nothing would fill it.
    fn engine_placeholders(&mut self, engine: &EngineSpec) {
        let command = engine
            .command
            .iter()
            .flatten()
            .map(|arg| ("engine.command".to_owned(), arg));
        let env = engine
            .env
            .iter()
            .map(|(key, value)| (format!("engine.env.{key}"), value));
        let metrics = std::iter::once(("engine.metrics".to_owned(), &engine.metrics));
        let ready = engine
            .ready
            .http
            .iter()
            .map(|url| ("engine.ready.http".to_owned(), url));
        for (field, value) in command.chain(env).chain(metrics).chain(ready) {
            for name in foreign_placeholders(value) {
                let needle = format!("${{{name}}}");
                self.fail_at_text(
                    &["engine"],
                    &needle,
                    format!(
                        "{field}: `{needle}` is not filled per run; only {} are (an environment variable is written `${{NAME}}` without the escape)",
                        RUNTIME_PLACEHOLDERS.join(", ")
                    ),
                );
            }
        }
    }

    fn bars(&mut self, texts: &[String]) -> Vec<Bar> {
        let expanded = &self.source.expanded;
        let bars_key = locate_key(expanded, &["bars"]);
        let mut cursor = bars_key.unwrap_or(0);
        let mut parsed = Vec::with_capacity(texts.len());
        for (index, text) in texts.iter().enumerate() {
            let found = find_from(expanded, cursor, text);
            if let Some(at) = found {
                cursor = at + text.len();
            }
            match bars::parse(text) {
                Ok(bar) => parsed.push(bar),
                Err(error) => {
                    let at = found
                        .map(|at| at + char_offset(text, error.column()))
                        .or(bars_key);
                    // The parser quotes a piece of the text after the error; if a
                    // variable's value stands there, that piece could be part of
                    // a secret that scrubbing (whole values only) would miss.
                    let hidden = match (found, at) {
                        (Some(start), Some(at)) => {
                            self.source.holds_hidden_value(at..start + text.len())
                        }
                        _ => self.source.scrub(text) != *text,
                    };
                    let place = at.map(|at| self.source.place_of_expanded(at));
                    self.problems.push(Problem::at(
                        self.path,
                        place,
                        format!(
                            "bars[{index}]: {} (in {text:?})",
                            bar_message(&error, hidden)
                        ),
                    ));
                }
            }
        }
        parsed
    }
}

/// The expression that reads the engine's progress series at one scrape, as a bar would.
pub fn progress_expression(selector: &str) -> String {
    format!("last({selector}) >= 0")
}

/// The bar parser's message, without the text it quotes when that text may
/// hold a substituted value.
fn bar_message(error: &BarError, hidden: bool) -> String {
    match error {
        _ if !hidden => error.to_string(),
        BarError::Expected {
            column, expected, ..
        } => format!(
            "at column {column}: expected {expected}, found text substituted from a variable (not shown)"
        ),
        other => format!(
            "at column {}: the bar does not parse where text substituted from a variable stands (not shown)",
            other.column()
        ),
    }
}

/// Why a fork URL cannot be used, if it cannot. The message never quotes the
/// URL itself (it may carry a key), only its redacted form.
fn fork_url_problem(url: &str) -> Option<String> {
    let shown = crate::redact::url(url);
    let Some((scheme, rest)) = url.split_once("://") else {
        return Some(format!(
            "{shown} is not a URL; write an http:// or https:// JSON-RPC URL, e.g. ${{RPC_URL_SEPOLIA_HTTP}}"
        ));
    };
    if !matches!(scheme, "http" | "https") {
        return Some(format!(
            "{shown}: only http:// and https:// endpoints can be forked; use your provider's HTTP URL"
        ));
    }
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    if host.is_empty() {
        return Some(format!("{shown} has no host"));
    }
    None
}

/// Names in `${NAME}` references of an engine field that the engine stage
/// will not fill (they can only come from a `$${NAME}` escape).
fn foreign_placeholders(value: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        let name = &after[..end];
        if !RUNTIME_PLACEHOLDERS.contains(&name) {
            names.push(name);
        }
        rest = &after[end + 1..];
    }
    names
}

/// A duration as a scenario would write it: whole days as `365days`
/// (humantime would say `11months 30days 3h 50m 24s`), else humantime's form.
fn show_duration(duration: Duration) -> String {
    const DAY: u64 = 24 * 60 * 60;
    let seconds = duration.as_secs();
    if duration.subsec_nanos() == 0 && seconds >= DAY && seconds.is_multiple_of(DAY) {
        let days = seconds / DAY;
        format!("{days}{}", if days == 1 { "day" } else { "days" })
    } else {
        humantime::format_duration(duration).to_string()
    }
}

/// Byte offset of the 1-based character `column` in `text`, clamped to its end.
fn char_offset(text: &str, column: usize) -> usize {
    text.char_indices()
        .nth(column.saturating_sub(1))
        .map_or(text.len(), |(at, _)| at)
}

/// A problem placed at the deepest key of `keys` found in the file, or at the
/// file alone when not even the first key is written.
pub fn key_problem(
    source: &Source,
    path: &Path,
    keys: &[&str],
    message: impl Into<String>,
) -> Problem {
    let place = locate_key(&source.expanded, keys).map(|at| source.place_of_expanded(at));
    Problem::at(path, place, message)
}

/// Why a name is not a safe file name, if it is not.
fn name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("must not be empty; it names the run directory".into());
    }
    if name.chars().count() > MAX_NAME_LEN {
        return Some(format!("must be at most {MAX_NAME_LEN} characters"));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Some(format!(
            "{name:?} holds {bad:?}; use only letters, digits, '-', '_' and '.' (it names the run directory)"
        ));
    }
    None
}

/// Byte offset of the deepest key of a path (`["load", "per_block", "twap"]`)
/// found by searching each key after the previous one, outside comment lines.
///
/// This is a locator for messages, not a parser: it finds `key:` (YAML),
/// `key =`, `[key]`, `[a.key]` and `a.key =` (TOML) and is right for the shapes
/// scenario files take. `None` when even the first key is absent.
pub fn locate_key(text: &str, keys: &[&str]) -> Option<usize> {
    let mut found = None;
    let mut from = 0;
    for key in keys {
        match find_key(text, from, key) {
            Some(at) => {
                found = Some(at);
                from = at + key.len();
            }
            None => break,
        }
    }
    found
}

fn find_key(text: &str, from: usize, key: &str) -> Option<usize> {
    let mut start = from;
    while let Some(at) = find_from(text, start, key) {
        let end = at + key.len();
        let bytes = text.as_bytes();
        let word_start = at == 0 || !is_key_byte(bytes[at - 1]);
        let word_end = end == text.len() || !is_key_byte(bytes[end]);
        if word_start && word_end && !in_comment_line(text, at) && followed_by_key_end(&text[end..])
        {
            return Some(at);
        }
        start = end;
    }
    None
}

/// Byte offset of `key` in entry `index` of the list under `list`, each of
/// whose entries writes `marker` (YAML `- kind: …` or TOML `[[faults]]`
/// tables); the entry's marker when the key is not written, the list's key
/// when even the entry is not found. Like [`locate_key`], a locator for
/// messages, not a parser.
pub fn locate_entry_key(
    text: &str,
    list: &str,
    marker: &str,
    index: usize,
    key: &str,
) -> Option<usize> {
    let list_at = find_key(text, 0, list)?;
    let mut markers = Vec::new();
    let mut from = list_at + list.len();
    while let Some(at) = find_key(text, from, marker) {
        markers.push(at);
        from = at + marker.len();
    }
    let Some(&entry) = markers.get(index) else {
        return Some(list_at);
    };
    // An entry starts at its own `- ` (YAML) or `[[` (TOML) line at or
    // above its marker, after the previous marker; it ends where the next starts.
    let line_start = |at: usize| text[..at].rfind('\n').map_or(0, |nl| nl + 1);
    let entry_start = |i: usize| {
        let floor = match i {
            0 => list_at + list.len(),
            _ => markers[i - 1] + marker.len(),
        };
        let mut line = line_start(markers[i]);
        while line > floor {
            let trimmed = text[line..].trim_start_matches([' ', '\t']);
            if trimmed.starts_with('-') || trimmed.starts_with("[[") {
                return line;
            }
            line = line_start(line - 1);
        }
        line_start(markers[i])
    };
    let region_start = entry_start(index);
    let next = if index + 1 < markers.len() {
        entry_start(index + 1)
    } else {
        text.len()
    };
    find_key(&text[..next], region_start, key).or(Some(entry))
}

/// Byte offset of `needle` in `text` at or after `from`.
fn find_from(text: &str, from: usize, needle: &str) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    text.get(from..)?.find(needle).map(|at| from + at)
}

fn is_key_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-'
}

fn in_comment_line(text: &str, at: usize) -> bool {
    let line_start = text[..at].rfind('\n').map_or(0, |nl| nl + 1);
    text[line_start..at].trim_start().starts_with('#')
}

/// After a key come (optional quotes and spaces, then) `:`, `=`, `.` or `]`.
fn followed_by_key_end(rest: &str) -> bool {
    let rest = rest
        .trim_start_matches(['"', '\''])
        .trim_start_matches([' ', '\t']);
    rest.starts_with([':', '=', '.', ']'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_key_follows_the_path_in_yaml_and_toml() {
        let yaml = "# name: in a comment\nname: x\nload:\n  blocks: 3\n  per_block:\n    twap: 0 # twap: no\n  twap:\n    owners: 0\n";
        let toml = "name = \"x\"\n[load]\nblocks = 3\n[load.per_block]\ntwap = 0\n[load.twap]\nowners = 0\n";
        let inline = "[load]\nper_block = { twap = 0, ethflow = 0 }\nwarmup_blocks = 1\n";
        let cases: [(&str, &[&str], Option<&str>); 10] = [
            (yaml, &["name"], Some("name: x")),
            (yaml, &["load", "per_block", "twap"], Some("twap: 0 #")),
            (yaml, &["load", "twap", "owners"], Some("owners: 0")),
            (yaml, &["load", "blocks"], Some("blocks: 3")),
            (yaml, &["chain", "id"], None),
            (yaml, &["load", "drain_blocks"], Some("load:")),
            (toml, &["load", "per_block", "twap"], Some("twap = 0")),
            (toml, &["load", "twap", "owners"], Some("owners = 0")),
            (
                inline,
                &["load", "per_block", "ethflow"],
                Some("ethflow = 0"),
            ),
            (inline, &["load", "blocks"], Some("load]")),
        ];
        for (text, keys, want) in cases {
            let got = locate_key(text, keys);
            let want = want.map(|needle| text.find(needle).expect("needle in text"));
            assert_eq!(got, want, "{keys:?} in {text:?}");
        }
    }

    #[test]
    fn locate_entry_key_finds_a_key_in_the_nth_list_entry() {
        let yaml = "faults:\n  - kind: a\n    at: 3\n  - at: 6\n    kind: b\n  - kind: c\n";
        let toml = "[[faults]]\nkind = \"a\"\nat = 3\n\n[[faults]]\nat = 6\nkind = \"b\"\n";
        let cases: [(&str, usize, &str, &str); 6] = [
            (yaml, 0, "at", "at: 3"),
            (yaml, 1, "at", "at: 6"),
            (yaml, 1, "kind", "kind: b"),
            (yaml, 2, "at", "kind: c"),
            (toml, 0, "at", "at = 3"),
            (toml, 1, "at", "at = 6"),
        ];
        for (text, index, key, want) in cases {
            let got = locate_entry_key(text, "faults", "kind", index, key);
            assert_eq!(got, text.find(want), "{index}.{key} in {text:?}");
        }
        assert_eq!(locate_entry_key(yaml, "faults", "kind", 5, "at"), Some(0));
        assert_eq!(
            locate_entry_key("load: 1\n", "faults", "kind", 0, "at"),
            None
        );
    }

    #[test]
    fn only_runtime_placeholders_may_reach_the_engine() {
        let cases: [(&str, &[&str]); 5] = [
            ("http://${METRICS_ADDR}/metrics", &[]),
            ("--config=${CONFIG_PATH}", &[]),
            ("${HOME}/x ${CHAIN_ID} ${A}", &["HOME", "A"]),
            ("${unclosed", &[]),
            ("plain", &[]),
        ];
        for (value, want) in cases {
            assert_eq!(foreign_placeholders(value), want, "{value}");
        }
    }

    #[test]
    fn durations_show_whole_days_as_days() {
        let cases = [
            (Duration::from_secs(365 * 86_400), "365days"),
            (Duration::from_secs(86_400), "1day"),
            (Duration::from_secs(86_401), "1day 1s"),
            (Duration::from_millis(500), "500ms"),
            (Duration::ZERO, "0s"),
        ];
        for (duration, want) in cases {
            let shown = show_duration(duration);
            assert_eq!(shown, want, "{duration:?}");
            assert_eq!(humantime::parse_duration(&shown).ok(), Some(duration));
        }
    }

    #[test]
    fn char_offset_counts_characters() {
        let cases = [
            ("abc", 1, 0),
            ("abc", 3, 2),
            ("abc", 9, 3),
            ("µs x", 2, 2),
            ("", 1, 0),
            ("a", 0, 0),
        ];
        for (text, column, want) in cases {
            assert_eq!(char_offset(text, column), want, "{text:?} column {column}");
        }
    }

    #[test]
    fn names_must_be_safe_file_names() {
        let cases = [
            ("baseline", true),
            ("sat-50.v2_b", true),
            ("", false),
            ("a b", false),
            ("../x", false),
            ("a/b", false),
            ("ünï", false),
            (&"x".repeat(MAX_NAME_LEN + 1), false),
        ];
        for (name, ok) in cases {
            assert_eq!(name_problem(name).is_none(), ok, "{name:?}");
        }
    }

    #[test]
    fn fork_urls_must_be_http_and_are_never_quoted() {
        let cases = [
            ("https://eth-sepolia.example.com/v2/SECRETKEY123", true),
            (
                "http://user:SECRETKEY123@127.0.0.1:8545/?k=SECRETKEY123",
                true,
            ),
            ("wss://rpc.example.com/SECRETKEY123", false),
            ("SECRETKEY123", false),
            ("https:///SECRETKEY123", false),
        ];
        for (url, ok) in cases {
            let problem = fork_url_problem(url);
            assert_eq!(problem.is_none(), ok, "{url}: {problem:?}");
            if let Some(message) = problem {
                assert!(!message.contains("SECRETKEY123"), "{message}");
            }
        }
    }
}
