//! cowload's runner: turns a scenario file into Anvil set-up, calldata, a mock
//! orderbook, an engine run, scraped metrics and a verdict.
//!
//! The stages, in the order a run flows through them:
//! scenario → chain → mock → engine → load → metrics → bars → report.

pub mod bars;
pub mod chain;
pub mod cli;
pub mod diff;
pub mod engine;
pub mod error;
pub mod faults;
pub mod fixture;
pub mod load;
pub mod metrics;
pub mod mock;
pub mod pipeline;
pub mod process;
pub mod redact;
pub mod report;
pub mod scenario;
pub mod search;
pub mod shutdown;
