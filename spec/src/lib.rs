//! The vocabulary every cowload crate shares, with no I/O in it: the kinds of event an engine
//! turns into orders ([`EventKind`], [`PerKind`]), the name of every metric ([`names`]), the
//! label values the truth counts by ([`labels`]), how the mock orderbook is told to behave
//! ([`orderbook::OrderbookSpec`], [`latency`]), and the types it reports in ([`Stats`],
//! [`OrderLine`]).
//!
//! Why a crate of its own: the mock orderbook, the runner and anyone reading cowload's outputs
//! speak these words. Kept apart from the code that acts on them, a new event kind or label
//! value is one change here that the compiler then walks through every crate.

pub mod bars;
pub mod kind;
pub mod labels;
pub mod latency;
pub mod names;
pub mod orderbook;
pub mod orders;
pub mod outcome;
pub mod redact;
pub mod scenario;
pub mod stats;

pub use kind::{EventKind, PerKind};
pub use labels::{LossReason, OrderOutcome, PartOutcome, PostResult, UNMATCHED};
pub use orders::{
    order_line_schema, FirstAccepted, OrderLine, OrderUid, PartWindow, RequestCount, RequestLine,
    Route,
};
pub use stats::{EventStats, ExactHistogram, ExactSamples, SpanTruth, Stats, Summary};
