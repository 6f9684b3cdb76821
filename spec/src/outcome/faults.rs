//! One fault of the scenario's timeline as the outcome keeps it: when it held, what the runner
//! did, and what the mock's truth says about it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::scenario::faults::FaultKind;
use crate::stats::SpanTruth;

/// What happened to one fault of the timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FaultRecord {
    /// Its position in the scenario's `faults` list.
    pub index: usize,
    /// What went wrong (`ws_disconnect`, `engine_restart`…).
    pub kind: FaultKind,
    /// The loaded block it started at (1 = the first block of the load).
    pub at: u32,
    /// Its length as written.
    #[serde(rename = "for")]
    pub lasts: String,
    /// The chain block numbers mined while it held, first and last; `None`
    /// when the run ended before it started.
    pub blocks: Option<(u64, u64)>,
    /// The first block the fault is charged with, when before `blocks`: blocks mined
    /// before it began that the engine had not read yet (its `engine.progress` then), or
    /// at least the one mined just before it began. Its truth counts their events too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charged_from: Option<u64>,
    /// Wall-clock seconds from its start to its end.
    pub seconds: Option<f64>,
    /// It ended before the run did (else the run stopped during it).
    pub ended: bool,
    /// What the runner did, in order (`closed 1 WebSocket`, `SIGKILL pid 42: signal: 9`…).
    pub actions: Vec<String>,
    /// What the mock's truth says about it (after the run): the events it is charged with,
    /// how many were lost, duplicates received from its start until the next fault's, and
    /// the recovery time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truth: Option<SpanTruth>,
}
