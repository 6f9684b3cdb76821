//! `search.json`: the typed answer of `runner search`, one struct behind the
//! JSON, `search.md` and the progress lines. Written after every probe, so an
//! interrupted or crashed search still leaves what it had learnt.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::report::{EndedEarly, Kinds, Stage, Status};

/// Version of the search.json layout.
pub const SEARCH_VERSION: u32 = 1;

/// How the search ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SearchStatus {
    /// Still probing (a partial search.json written between probes).
    Running,
    /// A load in `min..=max` passed: `capacity` is the answer (exit 0).
    Found,
    /// Even `min` failed: the capacity is below the range (exit 1).
    BelowMin,
    /// A probe stopped on an infrastructure failure (exit 3).
    Error,
    /// Stopped by a signal; the probes so far are kept (exit 130).
    Interrupted,
}

/// Why no further probe ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The bracket is within `--precision` (or one event wide).
    Precision,
    /// `--max` passed: the capacity is at least `--max`.
    MaxPassed,
    /// `--min` failed.
    MinFailed,
    /// `--max-probes` probes ran.
    ProbeBudget,
    /// Another probe would likely have run past `--budget`.
    TimeBudget,
    /// A probe failed on infrastructure.
    Error,
    /// A signal arrived.
    Interrupted,
}

/// The search's settings, as given or defaulted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Settings {
    /// First load probed, events per block.
    pub min: u32,
    /// Largest load probed, events per block.
    pub max: u32,
    /// Bracket width at which the search stops, percent of the passing load.
    pub precision_percent: f64,
    /// Most probes run.
    pub max_probes: u32,
    /// Wall-clock budget of the whole search.
    pub budget_seconds: f64,
    /// Factor of the ramp between two passing probes.
    pub growth: u32,
}

/// The scenario searched, as the file has it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SearchedScenario {
    /// The scenario's name.
    pub name: String,
    /// The file as given on the command line.
    pub file: PathBuf,
    /// SHA-256 of the normalised scenario file (each probe's outcome has
    /// the hash of its own, scaled load).
    pub hash: String,
    /// The seed every probe keeps.
    pub seed: u64,
    /// The file's `load.per_block`: the mix every probe keeps.
    pub mix: Kinds,
    /// Loaded blocks per probe.
    pub load_blocks: u32,
    /// Seconds between two blocks.
    pub block_time_seconds: f64,
}

/// The bar that decided a failing probe: the one that failed earliest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DecidingBar {
    /// The bar as written.
    pub bar: String,
    /// Its final value over the probe's load window, in base units; `None` without data.
    pub observed: Option<f64>,
    /// What the value is measured in (`"s"` for seconds, else `""`).
    pub unit: crate::bars::Measure,
    /// The scrape at which it first failed (`block 7`, `end`).
    pub at: String,
    /// The block of that scrape, when it was a block's.
    pub block: Option<u64>,
}

/// One bar's final reading in one probe, so the margin below the
/// capacity can be read (and plotted) next to the failure above it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProbeBar {
    /// The bar as written.
    pub bar: String,
    /// Its value over the probe's load window; `None` without data.
    pub observed: Option<f64>,
    /// What the value is measured in (`"s"` for seconds, else `""`).
    pub unit: crate::bars::Measure,
    /// The limit in base units.
    pub limit: f64,
    /// Whether it held.
    pub holds: bool,
}

/// One probe: a full, fresh run at one load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Probe {
    /// 1, 2, … in the order run.
    pub index: u32,
    /// Events per loaded block.
    pub events_per_block: u32,
    /// The same, per kind, in the scenario's mix.
    pub per_block: Kinds,
    /// The run's verdict.
    pub status: Status,
    /// The run's exit code.
    pub exit_code: u8,
    /// For a failing run: the bar that failed first.
    pub decided_by: Option<DecidingBar>,
    /// The bar that ended the probe before its last block, having failed
    /// for good (an `increase()` or `max()` past its limit), and after which block.
    pub ended_early: Option<EndedEarly>,
    /// The stage whose latency grew most over the load, if one grew.
    pub grew_most: Option<Stage>,
    /// Events with no order within the deadline (the mock's count).
    pub lost: Option<u64>,
    /// Every bar's final reading, in scenario order (empty when the run
    /// stopped before judging).
    #[serde(default)]
    pub bars: Vec<ProbeBar>,
    /// The error that stopped the run, if any.
    pub error: Option<String>,
    /// The probe's own run directory.
    pub run_dir: PathBuf,
    /// Wall-clock time of the probe.
    pub duration_seconds: f64,
}

/// What broke first just above the capacity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Breaking {
    /// The lowest failing load, events per block.
    pub events_per_block: u32,
    /// The bar that failed first there, and at which block.
    pub bar: Option<DecidingBar>,
    /// The stage that grew most there.
    pub grew_most: Option<Stage>,
}

/// Everything `runner search` produced; `search.json` is this, serialised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "cowload search")]
pub struct Search {
    /// Layout version ([`SEARCH_VERSION`]).
    pub version: u32,
    /// The scenario searched.
    pub scenario: SearchedScenario,
    /// The search's settings.
    pub settings: Settings,
    /// How the search ended.
    pub status: SearchStatus,
    /// The runner's exit code for this search.
    pub exit_code: u8,
    /// Why no further probe ran; `None` while running.
    pub stopped: Option<StopReason>,
    /// The largest events per block at which every bar held; `None` when
    /// no probe passed.
    pub capacity: Option<u32>,
    /// The lowest events per block at which a bar failed; `None` when none
    /// failed (then the capacity is at least `capacity`).
    pub first_failing: Option<u32>,
    /// What broke at `first_failing`.
    pub breaking: Option<Breaking>,
    /// Every probe, in the order run.
    pub probes: Vec<Probe>,
    /// Wall-clock time of the whole search.
    pub duration_seconds: f64,
    /// The directory holding search.json, search.md and the probes.
    pub out_dir: PathBuf,
}

impl Search {
    /// The search as pretty JSON with a trailing newline.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a search always serialises") + "\n"
    }

    /// Reads a search back, refusing other layout versions.
    pub fn from_json(text: &str) -> Result<Search, String> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        match value.get("version").and_then(serde_json::Value::as_u64) {
            Some(v) if v == u64::from(SEARCH_VERSION) => {}
            Some(v) => {
                return Err(format!(
                "search version {v} is not supported (this runner reads version {SEARCH_VERSION})"
            ))
            }
            None => return Err("no `version` field: is this a cowload search.json?".to_owned()),
        }
        serde_json::from_value(value).map_err(|e| format!("not a cowload search: {e}"))
    }
}

/// The JSON Schema of `search.json` (pretty JSON, trailing newline), as
/// committed in `schemas/search.schema.json`.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(Search);
    serde_json::to_string_pretty(&schema).expect("a JSON schema always serialises") + "\n"
}
