//! The scenario format: what a scenario file may say ([`model`]), how its text becomes a
//! [`Scenario`] with every syntax and type error placed at a line and column ([`parse`],
//! [`source`] for `${VAR}`), and the checks types cannot express ([`validate`], [`faults`]),
//! each problem placed at the key it is about.
//!
//! In: a file's bytes and the environment. Out: a [`Scenario`] and its parsed bars, or every
//! [`Problem`] at once. No file is read here: the runner reads the file and resolves the
//! paths it names.

pub mod error;
pub mod faults;
pub mod model;
pub mod parse;
pub mod source;
pub mod validate;

pub use error::{Problem, ScenarioError};
pub use model::*;
pub use source::{line_col, Source, RUNTIME_PLACEHOLDERS};
pub use validate::{
    progress_expression, FIXTURE_CHAIN_IDS, MAX_ACCOUNTS, MAX_BLOCKS, MAX_BLOCK_TIME,
    MAX_EVENTS_PER_BLOCK, MAX_ORDER_DURATION, MAX_STARTUP_TIMEOUT, MAX_TWAP_PARTS, MIN_BLOCK_TIME,
    MIN_GAS_LIMIT, MIN_STARTUP_TIMEOUT,
};

/// The JSON Schema of a scenario file (pretty JSON, trailing newline), as
/// committed in `schemas/scenario.schema.json` for editors.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(Scenario);
    // A schemars schema is a JSON value; serialising it cannot fail.
    let mut text = serde_json::to_string_pretty(&schema).expect("a JSON schema always serialises");
    text.push('\n');
    text
}
