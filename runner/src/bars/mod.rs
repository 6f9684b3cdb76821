//! Stage 7, bars: every acceptance bar of the scenario judged over the load window.
//!
//! In: the bars as the scenario parsed them ([`Bar`], the grammar lives in `cowload_spec::bars`)
//! and the [`Series`](crate::metrics::Series) of scrapes. Out: one [`Verdict`] per bar
//! ([`evaluate`], pure, no I/O).

mod evaluate;

pub use cowload_spec::bars::*;
pub use evaluate::{evaluate, evaluate_over};
