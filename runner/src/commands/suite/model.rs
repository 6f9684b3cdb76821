//! `suite.json`: one verdict for a list of scenarios, one row per scenario run.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::report::{Outcome, Status};

/// Layout version of `suite.json`.
pub const SUITE_VERSION: u32 = 1;

/// A suite's result; `suite.json` is this, serialised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "cowload suite")]
pub struct Suite {
    /// Layout version ([`SUITE_VERSION`]).
    pub version: u32,
    /// Which suite: a hash of its scenarios' plan hashes, in order. Shards of one suite
    /// share it; `runner suite merge` refuses shards whose ids differ.
    pub id: String,
    /// How many scenarios the whole suite has.
    pub size: usize,
    /// Present in a shard's `suite.json` only: which part of the suite it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    /// The suite's verdict: pass only when every scenario passed.
    pub status: Status,
    /// The runner's exit code for the suite: the most serious of its scenarios' (130 on an
    /// interrupt, then 3, then 1).
    pub exit_code: u8,
    /// The scenarios that ran, in order.
    pub scenarios: Vec<SuiteRow>,
    /// Scenario files that did not run: after `--fail-fast` stopped the suite, or an interrupt.
    pub not_run: Vec<PathBuf>,
    /// Wall-clock seconds for the whole suite.
    pub duration_seconds: f64,
}

/// The part of a suite one machine ran (`--shard I/N`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Shard {
    /// This shard, from 1.
    pub index: u32,
    /// How many shards the suite was split into.
    pub count: u32,
}

/// One scenario of a suite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SuiteRow {
    /// Its position in the whole suite, from 1 (shards run some positions each).
    pub position: usize,
    /// The scenario file, as given or found.
    pub file: PathBuf,
    /// The scenario's `name`.
    pub name: String,
    /// Its verdict.
    pub status: Status,
    /// Its exit code, as `runner run` would have given it.
    pub exit_code: u8,
    /// The first bar that failed, when one did.
    pub first_failed_bar: Option<String>,
    /// The error that stopped it, when one did.
    pub error: Option<String>,
    /// Bars that held, of all its bars.
    pub bars_held: usize,
    /// All its bars (the implicit ones included).
    pub bars: usize,
    /// Events found on chain.
    pub events_delivered: u64,
    /// Events lost (no accepted order by their deadline), when the mock could say.
    pub events_lost: Option<u64>,
    /// Event→order latency p99 over every kind, from the harness's exact samples.
    pub event_to_order_p99_seconds: Option<f64>,
    /// Wall-clock seconds it took.
    pub duration_seconds: f64,
    /// Its run directory, relative to the suite directory.
    pub run_dir: PathBuf,
}

impl SuiteRow {
    /// The row of a scenario whose run wrote `outcome`.
    pub fn of(
        position: usize,
        file: PathBuf,
        run_dir: PathBuf,
        outcome: &Outcome,
        seconds: f64,
    ) -> Self {
        SuiteRow {
            position,
            file,
            name: outcome.scenario.name.clone(),
            status: outcome.status,
            exit_code: outcome.exit_code,
            first_failed_bar: outcome
                .bottleneck
                .first_failed_bar
                .as_ref()
                .map(|f| f.bar.clone()),
            error: outcome.error.clone(),
            bars_held: outcome.bars.iter().filter(|b| b.holds).count(),
            bars: outcome.bars.len(),
            events_delivered: outcome.totals.delivered.total(),
            events_lost: outcome
                .mock
                .as_ref()
                .map(|m| m.events.values().map(|e| e.lost).sum()),
            event_to_order_p99_seconds: outcome
                .event_to_order_seconds
                .values()
                .filter(|d| d.count > 0)
                .map(|d| d.p99)
                .reduce(f64::max),
            duration_seconds: seconds,
            run_dir,
        }
    }
}

impl Suite {
    /// The pretty JSON written to `suite.json` (with a trailing newline).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a suite always serialises") + "\n"
    }
}

/// The JSON Schema of `suite.json`, as committed in `schemas/suite.schema.json`.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(Suite);
    serde_json::to_string_pretty(&schema).expect("a JSON schema always serialises") + "\n"
}
