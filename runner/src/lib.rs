//! cowload's runner: turns a scenario file into Anvil set-up, calldata, a mock
//! orderbook, an engine run, scraped metrics and a verdict.
//!
//! The stages, in the order a run flows through them:
//! scenario → chain → mock → engine → load → metrics → bars → report.

mod bars;
pub mod chain;
pub mod cli;
pub mod commands;
mod engine;
pub mod error;
pub mod exit;
pub mod faults;
pub mod load;
mod metrics;
mod mock;
pub mod pipeline;
pub mod process;
pub mod report;
pub mod resources;
pub mod scenario;
pub mod shutdown;

/// The `/metrics` reader and its flat samples, for tests that watch an engine outside a run
/// (the reference engine's end-to-end tests read its metrics with the runner's own parser).
pub use metrics::{scrape, MetricsError, Snapshot};
